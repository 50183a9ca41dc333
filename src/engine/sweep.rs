//! Reclaims what a command killed mid-way left without an owner. A service container's
//! per-container resources (network namespace, network endpoints, published ports, injected
//! files) are made before the runtime container exists and removed after it is gone, and its
//! image hold is taken just after it is created: a `kill -9` in between leaves them behind. The
//! sweep puts them back in line with the containers that exist: it removes namespaces, endpoints,
//! ports and file directories of containers that do not exist, drops holds of removed containers,
//! takes the missing hold of an existing one, and removes image temp files of dead writers and
//! name index entries of containers that do not exist. What killed builds left (their step
//! containers, the build network) goes too.
//!
//! Creations in flight (of any project on this state root, and build steps) hold the creation
//! lock shared ([`CreationLock`]); the sweep runs only when it gets the lock exclusively at once,
//! so it never takes a namespace a create is about to give its container. A skipped sweep costs
//! nothing: the next `up` or `down` sweeps.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use super::Engine;
use super::error::{EngineError, Result};
use super::labels;
use crate::runtime::build::buildnet;
use crate::runtime::build::sandbox::Sandbox;
use crate::runtime::container::{CreationLock, Runtime};
use crate::runtime::image::ImageId;
use crate::runtime::network::netns;

/// What a sweep reclaimed (all empty when there was nothing to do or the sweep was skipped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub netns: Vec<String>,
    pub endpoints: Vec<String>,
    pub ports: Vec<String>,
    pub holds_released: Vec<String>,
    pub holds_taken: Vec<String>,
    pub files: Vec<PathBuf>,
    /// Image store temp files of dead writers.
    pub image_tmp: usize,
    /// Name index entries of containers that do not exist.
    pub names: Vec<String>,
}

impl Engine {
    /// The shared creation lock ([`CreationLock`]): hold it from a container's namespace to its
    /// image hold.
    pub fn creating(&self) -> Result<CreationLock> {
        Ok(CreationLock::shared(&self.run_root)?)
    }

    /// Reclaim orphaned per-container resources unless a creation is in flight (then `None`).
    pub fn sweep_orphans(&self) -> Result<Option<Swept>> {
        let Some(_exclusive) = CreationLock::try_exclusive(&self.run_root)? else {
            return Ok(None);
        };
        // Steps of builds whose process is gone: their containers, endpoints and namespaces.
        let sandbox = Sandbox {
            containers: &self.containers,
            netns_dir: self.run_root.join("netns"),
        };
        sandbox
            .sweep(Some(&self.network))
            .map_err(build_leftovers)?;
        // Holds first: a hold is taken after its container exists, so every hold read here whose
        // container is alive shows up in the listing that follows.
        let holds = self.images.all_holds()?;
        let containers = self.containers.list()?;
        let names: BTreeSet<&str> = containers.iter().map(|c| c.state.name.as_str()).collect();
        let mut swept = Swept::default();
        self.sweep_netns(&names, &mut swept)?;
        self.sweep_network(&names, &mut swept)?;
        self.sweep_files(&names, &mut swept)?;
        let held: BTreeSet<(&ImageId, &str)> = holds.iter().map(|(i, h)| (i, h.as_str())).collect();
        let ids: BTreeSet<&str> = containers.iter().map(|c| c.state.id.as_str()).collect();
        for (image, holder) in &holds {
            if is_container_id(holder) && !ids.contains(holder.as_str()) {
                self.images.release(image, holder)?;
                swept.holds_released.push(holder.clone());
            }
        }
        for c in &containers {
            let image = c
                .spec
                .labels
                .get(labels::IMAGE)
                .and_then(|i| i.parse().ok());
            if let Some(image) = image
                && !held.contains(&(&image, c.state.id.as_str()))
                && self.images.resolve(&image.to_string())?.is_some()
            {
                self.images.hold(&image, &c.state.id)?;
                swept.holds_taken.push(c.state.name.clone());
            }
        }
        swept.image_tmp = self.images.clean_tmp()?;
        swept.names = self.containers.prune_names()?;
        buildnet::reclaim(&self.network, &self.run_root).map_err(build_leftovers)?;
        Ok(Some(swept))
    }

    fn sweep_netns(&self, names: &BTreeSet<&str>, swept: &mut Swept) -> Result<()> {
        let dir = self.run_root.join("netns");
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !names.contains(name.as_str()) {
                netns::remove(&e.path())?;
                swept.netns.push(name);
            }
        }
        Ok(())
    }

    fn sweep_network(&self, names: &BTreeSet<&str>, swept: &mut Swept) -> Result<()> {
        let st = self.network.state()?;
        let stale = |c: &String| !names.contains(c.as_str());
        let endpoints: BTreeSet<String> = st
            .networks
            .values()
            .flat_map(|n| n.endpoints.keys())
            .filter(|c| stale(c))
            .cloned()
            .collect();
        for c in endpoints {
            self.network.detach(&c, None)?;
            swept.endpoints.push(c);
        }
        let owners: BTreeSet<String> = st
            .ports
            .iter()
            .map(|p| &p.owner)
            .filter(|c| stale(c))
            .cloned()
            .collect();
        for o in owners {
            self.network.unpublish(&o)?;
            swept.ports.push(o);
        }
        Ok(())
    }

    /// `<state_root>/projects/<project>/files/<container>` of containers that do not exist.
    fn sweep_files(&self, names: &BTreeSet<&str>, swept: &mut Swept) -> Result<()> {
        let projects = self.state_root.join("projects");
        for p in fs::read_dir(&projects).into_iter().flatten().flatten() {
            let files = p.path().join("files");
            for c in fs::read_dir(&files).into_iter().flatten().flatten() {
                if !names.contains(c.file_name().to_string_lossy().as_ref()) {
                    let path = c.path();
                    fs::remove_dir_all(&path)
                        .map_err(|e| EngineError::io(format!("remove {}", path.display()), e))?;
                    swept.files.push(path);
                }
            }
            // Only succeed when empty: a project without containers keeps no directory.
            let _ = fs::remove_dir(&files);
            let _ = fs::remove_dir(p.path());
        }
        Ok(())
    }
}

fn build_leftovers(e: crate::runtime::build::BuildError) -> EngineError {
    EngineError::Other(format!("reclaiming what a killed build left: {e}"))
}

/// Holders the engine creates are container ids (64 hex digits); others are left alone.
fn is_container_id(holder: &str) -> bool {
    holder.len() == 64 && holder.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_container_ids_count_as_engine_holders() {
        assert!(is_container_id(&"ab".repeat(32)));
        assert!(!is_container_id("builder-1"));
        assert!(!is_container_id(&"xy".repeat(32)));
    }
}
