//! `run`: a one-off container of a service. Its dependencies are brought up first (unless
//! `--no-deps`), then the service is adjusted the way `docker compose run` does (command,
//! entrypoint, env, user, workdir, name, ports only with `--service-ports`, extra `-p`/`-v`)
//! and created with one-off labels and name (`<project>-<service>-run-<slug>`).

use super::Engine;
use super::error::{EngineError, Result};
use super::labels;
use super::project::ProjectContext;
use super::service_spec::OneOff;
use super::up::UpOptions;
use crate::compose::model::{ServiceConfig, ShellCommand, parse_port_spec, parse_volume_spec};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub service: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub name: Option<String>,
    /// `-p`: extra published ports (short syntax).
    pub publish: Vec<String>,
    /// `--service-ports`: publish the service's own ports.
    pub service_ports: bool,
    /// `-v`: extra volumes (short syntax).
    pub volumes: Vec<String>,
    pub no_deps: bool,
    pub use_aliases: bool,
    /// `--build`: build the image first (else only when it is missing).
    pub build: super::build::UpBuild,
}

fn invalid(service: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Other(format!("run {service}: invalid {what}: {e}"))
}

/// The service as `run` changes it.
pub fn adjust(service: &ServiceConfig, opts: &RunOptions) -> Result<ServiceConfig> {
    let mut s = service.clone();
    if let Some(c) = &opts.command {
        s.command = Some(ShellCommand(c.clone()));
    }
    if let Some(e) = &opts.entrypoint {
        s.entrypoint = Some(ShellCommand(e.clone()));
    }
    for (k, v) in &opts.env {
        s.environment.0.insert(k.clone(), Some(v.clone()));
    }
    for (k, v) in &opts.labels {
        s.labels.0.insert(k.clone(), v.clone());
    }
    if let Some(u) = &opts.user {
        s.user = u.clone();
    }
    if let Some(w) = &opts.workdir {
        s.working_dir = w.clone();
    }
    if let Some(n) = &opts.name {
        s.container_name = n.clone();
    }
    if !opts.service_ports {
        s.ports.clear();
    }
    for p in &opts.publish {
        s.ports
            .extend(parse_port_spec(p).map_err(|e| invalid(&s.name, "port", e))?);
    }
    for v in &opts.volumes {
        s.volumes
            .push(parse_volume_spec(v).map_err(|e| invalid(&s.name, "volume", e))?);
    }
    Ok(s)
}

impl Engine {
    /// Create and start the one-off container; its name.
    pub fn run_oneoff(&self, ctx: &ProjectContext, opts: &RunOptions) -> Result<String> {
        let service = ctx
            .service(&opts.service)
            .ok_or_else(|| EngineError::NoSuchService(opts.service.clone()))?;
        let deps: Vec<String> = service.depends_on.keys().cloned().collect();
        if !opts.no_deps && !deps.is_empty() {
            let up = UpOptions {
                services: deps
                    .into_iter()
                    .filter(|d| ctx.service(d).is_some())
                    .collect(),
                ..UpOptions::default()
            };
            self.up(ctx, &up)?;
        }
        let adjusted = adjust(service, opts)?;
        self.build_for_up(ctx, &[service], &opts.build)?;
        let images = self.resolve_images(&ctx.name, [service], None)?;
        let image = images
            .get(&service.name)
            .ok_or_else(|| EngineError::NoSuchService(service.name.clone()))?;
        let oneoff = OneOff {
            slug: labels::new_slug().map_err(|e| EngineError::io("generate a slug", e))?,
            use_aliases: opts.use_aliases,
        };
        let _lock = self.lock(&ctx.name)?;
        self.ensure_networks(ctx)?;
        self.ensure_volumes(ctx)?;
        let name =
            self.create_container(ctx, &adjusted, 1, image, Some(&oneoff), Default::default())?;
        self.start_container(&name)?;
        Ok(name)
    }
}
