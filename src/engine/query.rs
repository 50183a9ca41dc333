//! Read-only questions about projects, answered from the runtime's state the way docker compose
//! answers them from dockerd: the projects under the state root (`ls`), the container `port` and
//! `exec` pick for a service, a container's published ports, the images behind a project's
//! containers (`images`) and the project's volumes (`volumes`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use super::Engine;
use super::error::{EngineError, Result};
use super::observe::ProjectContainer;
use super::project::ProjectContext;
use crate::runtime::container::MountKind;
use crate::runtime::image::{LocalImage, Reference};
use crate::runtime::network::Protocol;

/// A project as `ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    /// `exited(1), running(2)`: container states counted, in alphabetical order.
    pub status: String,
    /// The config files of its containers, comma-separated, each once.
    pub config_files: String,
}

/// One published port of a running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedPort {
    pub protocol: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

/// The image a container was created from (`images`).
#[derive(Debug, Clone)]
pub struct ContainerImage {
    pub container: String,
    /// `sha256:<hex>`.
    pub id: String,
    /// Familiar repository (`lab/busybox`), empty when the image has no reference.
    pub repository: String,
    pub tag: String,
    /// `os/architecture[/variant]`.
    pub platform: String,
    pub size: u64,
    /// When the image was last tagged here, else its creation time.
    pub last_tag_time: Option<SystemTime>,
}

/// A volume of the project (`volumes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSummary {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub mountpoint: PathBuf,
}

/// `exited(1), running(2)`: docker compose's `combinedStatus`.
pub fn combined_status<'a>(states: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in states {
        *counts.entry(s).or_default() += 1;
    }
    counts
        .iter()
        .map(|(s, n)| format!("{s}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The union of the containers' config files, in first-seen order.
fn combined_config_files(containers: &[ProjectContainer]) -> String {
    let mut files: Vec<String> = Vec::new();
    for c in containers {
        for f in &c.labels.config_files {
            let f = f.display().to_string();
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    files.join(",")
}

/// Repository and tag as docker shows them for `reference` (`lab/busybox`, `1`).
pub fn repository_and_tag(reference: &Reference) -> (String, String) {
    let familiar = reference.familiar();
    let repo = familiar.split('@').next().unwrap_or(&familiar);
    let tag = reference.tag().unwrap_or_default();
    let repo = repo
        .strip_suffix(&format!(":{tag}"))
        .filter(|_| !tag.is_empty())
        .unwrap_or(repo);
    (repo.to_string(), tag.to_string())
}

fn platform_of(image: &LocalImage) -> String {
    let c = &image.config;
    let mut p = format!("{}/{}", c.os(), c.architecture());
    if let Some(v) = c.variant().as_deref().filter(|v| !v.is_empty()) {
        p.push('/');
        p.push_str(v);
    }
    p
}

impl Engine {
    /// The projects that have containers under this root; with `all` false only running
    /// containers count (and projects without one are left out), as `docker compose ls`.
    pub fn stacks(&self, all: bool) -> Result<Vec<Stack>> {
        Ok(self
            .projects()?
            .into_iter()
            .filter_map(|(name, containers)| {
                let shown: Vec<ProjectContainer> = containers
                    .into_iter()
                    .filter(|c| all || c.is_running())
                    .collect();
                (!shown.is_empty()).then(|| Stack {
                    name,
                    status: combined_status(shown.iter().map(|c| c.status().as_str())),
                    config_files: combined_config_files(&shown),
                })
            })
            .collect())
    }

    /// The running container of `service` that `port` and friends act on: number `index` when
    /// given (> 0), else the lowest number, one-off containers last (docker compose's
    /// `getSpecifiedContainer`).
    pub fn specified_container(
        &self,
        project: &str,
        service: &str,
        index: u32,
    ) -> Result<ProjectContainer> {
        let mut found: Vec<ProjectContainer> = self
            .project_containers(project, true)?
            .into_iter()
            .filter(|c| c.service() == service && c.is_running())
            .filter(|c| index == 0 || c.labels.number == Some(index))
            .collect();
        found.sort_by_key(|c| (c.labels.oneoff, c.labels.number.unwrap_or(0)));
        found.into_iter().next().ok_or_else(|| {
            EngineError::Other(match index {
                0 => format!("service {service:?} is not running"),
                i => format!("service {service:?} is not running container #{i}"),
            })
        })
    }

    /// The ports `container` publishes now (none while it is stopped).
    pub fn published_ports(&self, container: &str) -> Result<Vec<PublishedPort>> {
        Ok(self
            .network
            .state()?
            .ports
            .iter()
            .filter(|p| p.owner == container)
            .map(|p| PublishedPort {
                protocol: p.protocol,
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_port: p.container_port,
            })
            .collect())
    }

    /// The image of every container of the project (one-offs and stopped ones included) of
    /// `services` (all when empty), by container name.
    pub fn container_images(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<Vec<ContainerImage>> {
        let mut out = Vec::new();
        for c in self.project_containers(&ctx.name, true)? {
            if !services.is_empty() && !services.iter().any(|s| s == c.service()) {
                continue;
            }
            let Some(id) = c.labels.image_id.as_deref() else {
                continue;
            };
            let image = self.images.resolve(id)?.ok_or_else(|| {
                EngineError::Other(format!("no such image: {id} (container {})", c.name()))
            })?;
            out.push(self.container_image(ctx, &c, &image));
        }
        out.sort_by(|a, b| a.container.cmp(&b.container));
        Ok(out)
    }

    fn container_image(
        &self,
        ctx: &ProjectContext,
        c: &ProjectContainer,
        image: &LocalImage,
    ) -> ContainerImage {
        // The reference the container was created with: the service's image when it still
        // names this image, else the image's first reference.
        let declared = ctx
            .service(c.service())
            .and_then(|s| Reference::parse(&s.image).ok())
            .filter(|r| image.references.contains(r));
        let (repository, tag) = declared
            .as_ref()
            .or(image.references.first())
            .map(repository_and_tag)
            .unwrap_or_default();
        let created = image
            .created
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(SystemTime::from);
        ContainerImage {
            container: c.name().to_string(),
            id: image.id.to_string(),
            repository,
            tag,
            platform: platform_of(image),
            size: image.size,
            last_tag_time: image.last_tagged.or(created),
        }
    }

    /// The project's volumes that exist; with `services`, only those mounted by their running
    /// containers (docker compose's `volumes SERVICE...`).
    pub fn project_volumes(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<Vec<VolumeSummary>> {
        let layout = self.containers.layout().clone();
        let mounted: Vec<String> = self
            .project_containers(&ctx.name, true)?
            .iter()
            .filter(|c| services.iter().any(|s| s == c.service()) && c.is_running())
            .flat_map(|c| {
                let named = c.info.spec.mounts.iter().filter_map(|m| match &m.kind {
                    MountKind::Volume { name, .. } => Some(name.clone()),
                    _ => None,
                });
                named
                    .chain(c.info.anonymous_volumes.iter().cloned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut out: Vec<VolumeSummary> = ctx
            .volumes
            .iter()
            .filter(|v| !v.external && layout.volume_data(&v.name).is_dir())
            .filter(|v| services.is_empty() || mounted.contains(&v.name))
            .map(|v| VolumeSummary {
                name: v.name.clone(),
                labels: v.labels.clone(),
                mountpoint: layout.volume_data(&v.name),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_states_alphabetically() {
        assert_eq!(
            combined_status(["running", "exited", "running", "created"]),
            "created(1), exited(1), running(2)"
        );
        assert_eq!(combined_status([]), "");
    }

    #[test]
    fn repository_and_tag_are_familiar() {
        let r = |s: &str| repository_and_tag(&Reference::parse(s).unwrap());
        assert_eq!(r("lab/busybox:1"), ("lab/busybox".into(), "1".into()));
        assert_eq!(r("nginx"), ("nginx".into(), "latest".into()));
        assert_eq!(
            r("localhost:5000/app:v2"),
            ("localhost:5000/app".into(), "v2".into())
        );
    }
}
