//! The lifecycle commands on existing containers: `start`, `stop`, `restart`, `kill`, `pause`,
//! `unpause`, `rm`. Each works on the selected services' containers (all when none are named),
//! in dependency order where order matters, one level at a time in parallel.

use std::time::Duration;

use super::Engine;
use super::error::{EngineError, Result};
use super::observe::ProjectContainer;
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use crate::plan::graph::ServiceGraph;
use crate::runtime::container::{Runtime, Status as CStatus};

impl Engine {
    /// The containers of `services` (all services when empty), one-offs excluded.
    pub fn containers_of(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<Vec<ProjectContainer>> {
        for s in services {
            if ctx.service(s).is_none() {
                return Err(EngineError::NoSuchService(s.clone()));
            }
        }
        Ok(self
            .project_containers(&ctx.name, false)?
            .into_iter()
            .filter(|c| services.is_empty() || services.iter().any(|s| s == c.service()))
            .collect())
    }

    /// Group containers by the graph's levels (start order, or stop order when `reverse`).
    fn in_levels(
        &self,
        ctx: &ProjectContext,
        containers: Vec<ProjectContainer>,
        reverse: bool,
    ) -> Result<Vec<Vec<ProjectContainer>>> {
        let graph = ServiceGraph::new(&ctx.project)?;
        let levels = if reverse {
            graph.stop_levels()
        } else {
            graph.start_levels()
        };
        let mut out = Vec::new();
        let mut rest = containers;
        for level in levels {
            let (now, later): (Vec<_>, Vec<_>) = rest
                .into_iter()
                .partition(|c| level.iter().any(|s| s == c.service()));
            rest = later;
            if !now.is_empty() {
                out.push(now);
            }
        }
        if !rest.is_empty() {
            out.push(rest);
        }
        Ok(out)
    }

    pub fn start_services(&self, ctx: &ProjectContext, services: &[String]) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let all = self.containers_of(ctx, services)?;
        for level in self.in_levels(ctx, all, false)? {
            self.each(&level, |c| match c.status() {
                CStatus::Created | CStatus::Exited => self.start_container(c.name()),
                _ => Ok(()),
            })?;
        }
        Ok(())
    }

    pub fn stop_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        timeout: Option<Duration>,
    ) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let all = self.containers_of(ctx, services)?;
        for level in self.in_levels(ctx, all, true)? {
            self.each(&level, |c| {
                if c.is_running() {
                    self.stop_container(c.name(), timeout)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    pub fn restart_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        timeout: Option<Duration>,
    ) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let all = self.containers_of(ctx, services)?;
        for level in self.in_levels(ctx, all, false)? {
            self.each(&level, |c| {
                self.emit(Event::new(
                    ResourceKind::Container,
                    c.name(),
                    Status::Restarting,
                ));
                self.containers.restart(c.name(), timeout)?;
                self.emit(Event::new(
                    ResourceKind::Container,
                    c.name(),
                    Status::Restarted,
                ));
                Ok(())
            })?;
        }
        Ok(())
    }

    pub fn kill_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        signal: &str,
    ) -> Result<()> {
        let all = self.containers_of(ctx, services)?;
        let running: Vec<_> = all.into_iter().filter(|c| c.is_running()).collect();
        self.each(&running, |c| {
            self.emit(Event::new(
                ResourceKind::Container,
                c.name(),
                Status::Killing,
            ));
            self.containers.kill(c.name(), signal)?;
            self.emit(Event::new(
                ResourceKind::Container,
                c.name(),
                Status::Killed,
            ));
            Ok(())
        })
    }

    pub fn pause_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        pause: bool,
    ) -> Result<()> {
        let all = self.containers_of(ctx, services)?;
        let want = if pause {
            CStatus::Running
        } else {
            CStatus::Paused
        };
        let targets: Vec<_> = all.into_iter().filter(|c| c.status() == want).collect();
        self.each(&targets, |c| {
            let (doing, done) = match pause {
                true => (Status::Pausing, Status::Paused),
                false => (Status::Unpausing, Status::Unpaused),
            };
            self.emit(Event::new(ResourceKind::Container, c.name(), doing));
            match pause {
                true => self.containers.pause(c.name())?,
                false => self.containers.unpause(c.name())?,
            }
            self.emit(Event::new(ResourceKind::Container, c.name(), done));
            Ok(())
        })
    }

    /// `rm`: remove stopped containers (with `stop_first`, stop running ones before).
    pub fn remove_services(
        &self,
        ctx: &ProjectContext,
        containers: &[ProjectContainer],
        stop_first: bool,
        volumes: bool,
    ) -> Result<()> {
        let _lock = self.lock(&ctx.name)?;
        let targets: Vec<&ProjectContainer> = containers
            .iter()
            .filter(|c| stop_first || !c.is_running())
            .collect();
        self.each(&targets, |c| {
            if c.is_running() {
                self.stop_container(c.name(), None)?;
            }
            self.remove_container(c.name(), volumes)
        })
    }
}
