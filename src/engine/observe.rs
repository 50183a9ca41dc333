//! The project's containers as the runtime has them, read from their `com.docker.compose.*`
//! labels and state: the observed side of the plan's diff.

use super::Engine;
use super::error::Result;
use super::labels::ContainerLabels;
use crate::plan::diff::Observed;
use crate::runtime::container::{ContainerInfo, Runtime, Status};

/// A container of the project.
#[derive(Debug, Clone)]
pub struct ProjectContainer {
    pub info: ContainerInfo,
    pub labels: ContainerLabels,
}

impl ProjectContainer {
    pub fn name(&self) -> &str {
        &self.info.state.name
    }

    pub fn id(&self) -> &str {
        &self.info.state.id
    }

    pub fn service(&self) -> &str {
        &self.labels.service
    }

    pub fn status(&self) -> Status {
        self.info.state.status
    }

    /// Running or paused: it holds its process (docker compose's "running" for the diff).
    pub fn is_running(&self) -> bool {
        matches!(
            self.status(),
            Status::Running | Status::Paused | Status::Restarting
        )
    }

    pub fn observed(&self) -> Observed {
        Observed {
            name: self.name().to_string(),
            service: self.labels.service.clone(),
            number: self.labels.number.unwrap_or(0),
            config_hash: self.labels.config_hash.clone(),
            image_id: self.labels.image_id.clone().unwrap_or_default(),
            running: self.is_running(),
        }
    }
}

impl Engine {
    /// The containers labelled with `project`, one-off (`run`) containers only if asked, sorted
    /// by service then number.
    pub fn project_containers(&self, project: &str, oneoff: bool) -> Result<Vec<ProjectContainer>> {
        let mut out: Vec<ProjectContainer> = self
            .containers
            .list()?
            .into_iter()
            .filter_map(|info| {
                let labels = ContainerLabels::parse(&info.spec.labels)?;
                (labels.project == project && (oneoff || !labels.oneoff))
                    .then_some(ProjectContainer { info, labels })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.labels.service.as_str(), a.labels.number, a.name()).cmp(&(
                b.labels.service.as_str(),
                b.labels.number,
                b.name(),
            ))
        });
        Ok(out)
    }

    /// Wait for the project's containers that are being stopped (by a command that may have
    /// been killed since) to be down, so a plan sees them stopped rather than running.
    pub fn await_stops(&self, project: &str) -> Result<()> {
        let stopping: Vec<ProjectContainer> = self
            .project_containers(project, true)?
            .into_iter()
            .filter(|c| c.is_running() && c.info.state.stopped_by_user)
            .collect();
        self.each(&stopping, |c| {
            self.containers.wait(c.id())?;
            Ok(())
        })
    }

    /// The names of all projects that have containers under this root (for `ls`).
    pub fn projects(&self) -> Result<Vec<(String, Vec<ProjectContainer>)>> {
        let mut by: std::collections::BTreeMap<String, Vec<ProjectContainer>> = Default::default();
        for info in self.containers.list()? {
            if let Some(labels) = ContainerLabels::parse(&info.spec.labels) {
                by.entry(labels.project.clone())
                    .or_default()
                    .push(ProjectContainer { info, labels });
            }
        }
        Ok(by.into_iter().collect())
    }
}
