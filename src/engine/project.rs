//! A loaded project as the engine uses it: the model plus the names and specs of its networks
//! and volumes, resolved once.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::error::Result;
use super::resources::{self, ProjectNetwork, ProjectVolume};
use super::service_spec::{OneOff, SpecContext};
use crate::compose::Loaded;
use crate::compose::environment::Environment;
use crate::compose::model::{Project, ServiceConfig};

#[derive(Debug, Clone)]
pub struct ProjectContext {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// `--env-file` files (absolute), recorded in a label.
    pub env_files: Vec<PathBuf>,
    /// The interpolation environment (secrets/configs declared `environment:` read it).
    pub environment: Environment,
    pub project: Project,
    pub networks: Vec<ProjectNetwork>,
    pub volumes: Vec<ProjectVolume>,
    /// Every service the Compose file declares, also those left out by profiles or by the
    /// services named on the command line: containers of the others are orphans.
    pub declared_services: BTreeSet<String>,
}

impl ProjectContext {
    /// `env_files` are the `--env-file` arguments, made absolute.
    pub fn new(loaded: &Loaded, env_files: Vec<PathBuf>) -> Result<Self> {
        let project = loaded.project.clone();
        Ok(ProjectContext {
            name: loaded.name.clone(),
            working_dir: loaded.working_dir.clone(),
            config_files: loaded.config_files.clone(),
            env_files,
            environment: loaded.environment.clone(),
            networks: resources::networks(&project, &loaded.name)?,
            volumes: resources::volumes(&project, &loaded.name)?,
            declared_services: project
                .services
                .keys()
                .cloned()
                .chain(loaded.disabled.keys().map(|k| k.to_string()))
                .collect(),
            project,
        })
    }

    /// What the service-to-container mapping needs of the project.
    pub fn spec_context<'a>(&'a self, oneoff: Option<&'a OneOff>) -> SpecContext<'a> {
        SpecContext {
            project: &self.project,
            project_name: &self.name,
            working_dir: &self.working_dir,
            config_files: &self.config_files,
            env_files: &self.env_files,
            environment: &self.environment,
            networks: &self.networks,
            volumes: &self.volumes,
            oneoff,
        }
    }

    /// Whether the Compose file declares `service` (enabled or not).
    pub fn declares(&self, service: &str) -> bool {
        self.declared_services.contains(service)
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
