//! `down`: stop and remove the project's containers (dependents first, each level in parallel),
//! then its networks, and with `-v` its volumes, with `--rmi` its images.

use std::time::Duration;

use super::Engine;
use super::error::Result;
use super::observe::ProjectContainer;
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use crate::plan::graph::ServiceGraph;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Only images without a custom tag (the ones rcompose would build: `<project>-<service>`).
    Local,
    All,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub remove_orphans: bool,
    /// `-v`: named volumes declared by the project, and anonymous volumes.
    pub volumes: bool,
    pub rmi: Option<RemoveImages>,
    pub timeout: Option<Duration>,
}

impl Engine {
    pub fn down(&self, ctx: &ProjectContext, opts: &DownOptions) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let containers = self.project_containers(&ctx.name, true)?;
        let (ours, orphans): (Vec<ProjectContainer>, Vec<ProjectContainer>) = containers
            .into_iter()
            .partition(|c| ctx.service(c.service()).is_some() || c.labels.oneoff);
        if !orphans.is_empty() && !opts.remove_orphans {
            let names: Vec<&str> = orphans.iter().map(|c| c.name()).collect();
            self.emit(
                Event::new(ResourceKind::Container, names.join(", "), Status::Warning).with_detail(
                    format!(
                        "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                        names.join(" ")
                    ),
                ),
            );
        }
        let mut doomed = ours;
        if opts.remove_orphans {
            doomed.extend(orphans);
        }
        self.remove_in_order(ctx, &doomed, opts, false)?;
        let external: Vec<String> = ctx
            .networks
            .iter()
            .filter(|n| n.external)
            .map(|n| n.name.clone())
            .collect();
        if !external.is_empty() {
            for c in &doomed {
                self.network.detach(c.name(), Some(&external))?;
            }
        }
        for n in ctx.networks.iter().rev().filter(|n| !n.external) {
            if self.network.network(&n.name)?.is_some() {
                self.emit(Event::new(ResourceKind::Network, &n.name, Status::Removing));
                self.network.remove_network(&n.name)?;
                self.emit(Event::new(ResourceKind::Network, &n.name, Status::Removed));
            }
        }
        // After the networks, whose removal takes the endpoints of removed containers along.
        self.sweep();
        self.network.resync()?;
        if opts.volumes {
            self.remove_volumes(ctx)?;
        }
        if let Some(which) = opts.rmi {
            self.remove_images(ctx, which)?;
        }
        Ok(())
    }

    /// `down SERVICE...`: only those services' containers (networks and volumes stay).
    pub fn down_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        opts: &DownOptions,
    ) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let doomed = self.containers_of(ctx, services)?;
        self.remove_in_order(ctx, &doomed, opts, true)
    }

    /// Stop dependents before their dependencies; containers of unknown services go first.
    fn remove_in_order(
        &self,
        ctx: &ProjectContext,
        doomed: &[ProjectContainer],
        opts: &DownOptions,
        detach: bool,
    ) -> Result<()> {
        let graph = ServiceGraph::new(&ctx.project)?;
        let mut levels: Vec<Vec<String>> = vec![
            doomed
                .iter()
                .filter(|c| ctx.service(c.service()).is_none() || c.labels.oneoff)
                .map(|c| c.service().to_string())
                .collect(),
        ];
        levels.extend(graph.stop_levels());
        let mut seen = std::collections::BTreeSet::new();
        for level in levels {
            let batch: Vec<&ProjectContainer> = doomed
                .iter()
                .filter(|c| level.iter().any(|s| s == c.service()))
                .filter(|c| seen.insert(c.name().to_string()))
                .collect();
            self.each(&batch, |c| {
                if c.is_running() {
                    self.stop_container(c.name(), opts.timeout)?;
                }
                self.remove_container_with(c.name(), opts.volumes, detach)
            })?;
        }
        Ok(())
    }

    fn remove_volumes(&self, ctx: &ProjectContext) -> Result<()> {
        let layout = self.containers.layout().clone();
        for v in ctx.volumes.iter().filter(|v| !v.external) {
            // The volume's directory, with or without `_data` (a kill mid-create).
            if layout.volumes_dir().join(&v.name).is_dir() {
                self.emit(Event::new(ResourceKind::Volume, &v.name, Status::Removing));
                self.containers.remove_volume(&v.name)?;
                self.emit(Event::new(ResourceKind::Volume, &v.name, Status::Removed));
            }
        }
        Ok(())
    }

    fn remove_images(&self, ctx: &ProjectContext, which: RemoveImages) -> Result<()> {
        for s in ctx.project.services.values() {
            let built = format!("{}-{}", ctx.name, s.name);
            let image = match (which, s.image.is_empty()) {
                (_, true) => built,
                (RemoveImages::Local, false) if s.build.is_none() => continue,
                (_, false) => s.image.clone(),
            };
            if self.images.resolve(&image)?.is_none() {
                continue;
            }
            self.emit(Event::new(ResourceKind::Image, &image, Status::Removing));
            match self.images.remove(&image, false) {
                Ok(_) => self.emit(Event::new(ResourceKind::Image, &image, Status::Removed)),
                Err(e) => self.emit(
                    Event::new(ResourceKind::Image, &image, Status::Warning)
                        .with_detail(e.to_string()),
                ),
            }
        }
        Ok(())
    }
}
