//! A loaded project as the engine uses it: the model plus the names and specs of its networks
//! and volumes, resolved once.

use std::path::PathBuf;

use super::error::Result;
use super::resources::{self, ProjectNetwork, ProjectVolume};
use crate::compose::Loaded;
use crate::compose::model::{Project, ServiceConfig};

#[derive(Debug, Clone)]
pub struct ProjectContext {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub project: Project,
    pub networks: Vec<ProjectNetwork>,
    pub volumes: Vec<ProjectVolume>,
}

impl ProjectContext {
    pub fn new(loaded: &Loaded) -> Result<Self> {
        let project = loaded.project.clone();
        Ok(ProjectContext {
            name: loaded.name.clone(),
            working_dir: loaded.working_dir.clone(),
            config_files: loaded.config_files.clone(),
            networks: resources::networks(&project, &loaded.name)?,
            volumes: resources::volumes(&project, &loaded.name)?,
            project,
        })
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.project.services.get(name)
    }

    /// How many containers a service wants: `--scale`, else `scale`, else `deploy.replicas`, else 1.
    pub fn replicas(&self, service: &ServiceConfig, overrides: &[(String, u32)]) -> u32 {
        if let Some((_, n)) = overrides.iter().find(|(s, _)| *s == service.name) {
            return *n;
        }
        let declared = service
            .scale
            .or_else(|| service.deploy.as_ref().and_then(|d| d.replicas));
        declared.map_or(1, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }
}
