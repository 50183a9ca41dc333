//! Compose builds: a service's `build:` section as a [`BuildRequest`] for the bundled builder,
//! `rcompose build [SERVICE...]`, and the builds `up` does before it creates containers (all of
//! them with `--build`, the missing ones otherwise, those with `pull_policy: build` always).
//! Different services build in parallel; a built image is named `image:` or, without one,
//! `<project>-<service>`, plus `build.tags`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::Engine;
use super::error::{EngineError, Result};
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use crate::compose::model::{BuildConfig, ServiceConfig};
use crate::runtime::build::{
    BuildError, BuildProgress, BuildRequest, Builder, DockerfileSource, QuietProgress, Reporter,
    StepNetwork,
};
use crate::runtime::image::{ImageId, Reference};

/// Options of `rcompose build` (and `up --build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// `--build-arg KEY[=VALUE]`: added to (and overriding) every service's `build.args`; a key
    /// without a value takes it from the environment, or is dropped.
    pub args: Vec<(String, Option<String>)>,
}

/// When `up` builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Build images that are not there yet (and `pull_policy: build` services).
    #[default]
    Missing,
    /// `--build`: build every service that has a `build` section.
    Always,
    /// `--no-build`.
    Never,
}

/// Where build progress goes (a renderer made by the CLI).
#[derive(Clone)]
pub struct BuildOutput(pub Arc<dyn BuildProgress>);

impl std::fmt::Debug for BuildOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildOutput")
    }
}

/// What `up` is told about building.
#[derive(Debug, Clone, Default)]
pub struct UpBuild {
    pub policy: BuildPolicy,
    pub options: BuildOptions,
    /// `None`: builds are silent.
    pub output: Option<BuildOutput>,
}

/// The name of a service's image: `image:`, else `<project>-<service>` (docker compose's).
pub fn image_name(project: &str, service: &ServiceConfig) -> String {
    if service.image.is_empty() {
        format!("{project}-{}", service.name)
    } else {
        service.image.clone()
    }
}

fn invalid(service: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Other(format!("service {service:?}: build.{what}: {e}"))
}

/// `extra_hosts` as the builder takes them (`host-gateway` → `None`).
fn extra_hosts(service: &str, b: &BuildConfig) -> Result<Vec<(String, Option<IpAddr>)>> {
    let mut out = Vec::new();
    for (host, ips) in &b.extra_hosts.0 {
        for ip in ips {
            let addr = if ip == "host-gateway" {
                None
            } else {
                Some(
                    ip.parse::<IpAddr>()
                        .map_err(|e| invalid(service, "extra_hosts", format!("{ip:?}: {e}")))?,
                )
            };
            out.push((host.clone(), addr));
        }
    }
    Ok(out)
}

/// The builder's request for `service` (which has a `build` section).
pub fn build_request(
    project: &str,
    service: &ServiceConfig,
    opts: &BuildOptions,
) -> Result<BuildRequest> {
    let b = service.build.as_ref().ok_or_else(|| EngineError::NoImage {
        service: service.name.clone(),
    })?;
    let name = &service.name;
    let mut req = BuildRequest::new(&b.context);
    req.dockerfile = if b.dockerfile_inline.is_empty() {
        DockerfileSource::Path(b.dockerfile.clone().into())
    } else {
        DockerfileSource::Inline(b.dockerfile_inline.clone())
    };
    for (k, v) in &b.args.0 {
        if let Some(v) = v {
            req.args.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &opts.args {
        match v.clone().or_else(|| std::env::var(k).ok()) {
            Some(v) => req.args.insert(k.clone(), v),
            None => req.args.remove(k),
        };
    }
    req.target = Some(b.target.clone()).filter(|t| !t.is_empty());
    req.labels = b.labels.0.clone();
    let main =
        Reference::parse(&image_name(project, service)).map_err(|e| invalid(name, "image", e))?;
    req.tags.push(main);
    for t in &b.tags.0 {
        let r = Reference::parse(t).map_err(|e| invalid(name, "tags", e))?;
        if !req.tags.contains(&r) {
            req.tags.push(r);
        }
    }
    req.no_cache = b.no_cache || opts.no_cache;
    req.pull = b.pull || opts.pull;
    req.network = b
        .network
        .parse::<StepNetwork>()
        .map_err(|e| invalid(name, "network", e))?;
    req.extra_hosts = extra_hosts(name, b)?;
    req.shm_size = u64::try_from(b.shm_size.0).ok().filter(|s| *s > 0);
    req.additional_contexts = b.additional_contexts.0.clone();
    req.name = Some(service.name.clone());
    Ok(req)
}

impl Engine {
    /// The bundled builder on this engine's runtime.
    pub fn builder(&self) -> Builder {
        Builder {
            store: self.images.clone(),
            containers: self.containers.clone(),
            network: self.network.clone(),
            state_root: self.state_root.clone(),
            run_root: self.run_root.clone(),
            pull: super::images::pull_options(),
        }
    }

    /// Build `services` (those with a `build` section; others are skipped), in parallel.
    /// Returns the image ID of each service built.
    pub fn build_services(
        &self,
        ctx: &ProjectContext,
        services: &[&ServiceConfig],
        opts: &BuildOptions,
        output: Option<&BuildOutput>,
    ) -> Result<BTreeMap<String, ImageId>> {
        let sink: Arc<dyn BuildProgress> = match output {
            Some(o) => o.0.clone(),
            None => Arc::new(QuietProgress),
        };
        let reporter = Reporter::new(sink);
        let builder = self.builder();
        let buildable: Vec<&ServiceConfig> = services
            .iter()
            .copied()
            .filter(|s| s.build.is_some())
            .collect();
        let built = std::sync::Mutex::new(BTreeMap::new());
        self.each(&buildable, |s| {
            let req = build_request(&ctx.name, s, opts)?;
            let image = image_name(&ctx.name, s);
            self.emit(Event::new(ResourceKind::Image, &image, Status::Building));
            match builder.build(&req, &reporter, &self.cancelled) {
                Ok(id) => {
                    self.emit(Event::new(ResourceKind::Image, &image, Status::Built));
                    if let Ok(mut m) = built.lock() {
                        m.insert(s.name.clone(), id);
                    }
                    Ok(())
                }
                Err(BuildError::Interrupted) => Err(EngineError::Interrupted),
                Err(e) => {
                    self.emit(
                        Event::new(ResourceKind::Image, &image, Status::Error)
                            .with_detail(e.to_string().lines().next().unwrap_or_default()),
                    );
                    Err(EngineError::Build {
                        service: s.name.clone(),
                        error: Box::new(e),
                    })
                }
            }
        })?;
        Ok(built.into_inner().unwrap_or_default())
    }

    /// The builds `up` does first: which services need one under `build.policy`.
    pub fn build_for_up(
        &self,
        ctx: &ProjectContext,
        services: &[&ServiceConfig],
        build: &UpBuild,
    ) -> Result<()> {
        let mut wanted = Vec::new();
        for s in services.iter().copied().filter(|s| s.build.is_some()) {
            let needed = match build.policy {
                BuildPolicy::Never => false,
                BuildPolicy::Always => true,
                // docker compose would first try to pull a missing `image:` of a buildable
                // service and build when that fails; we build at once.
                BuildPolicy::Missing => {
                    s.pull_policy == "build"
                        || self.images.resolve(&image_name(&ctx.name, s))?.is_none()
                }
            };
            if needed {
                wanted.push(s);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        self.build_services(ctx, &wanted, &build.options, build.output.as_ref())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml_build: BuildConfig) -> ServiceConfig {
        let mut s: ServiceConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        s.name = "web".into();
        s.build = Some(yaml_build);
        s
    }

    #[test]
    fn requests_map_the_build_section() {
        let mut b = BuildConfig::from_context("/ctx");
        b.dockerfile = "web.Dockerfile".into();
        b.args.0.insert("A".into(), Some("1".into()));
        b.args.0.insert("DROPPED".into(), None);
        b.target = "prod".into();
        b.tags.0.push("registry.local/web:v1".into());
        b.network = "host".into();
        b.extra_hosts
            .0
            .insert("gw".into(), vec!["host-gateway".into()]);
        b.extra_hosts.0.insert("h".into(), vec!["10.0.0.1".into()]);
        let s = service(b);
        let opts = BuildOptions {
            no_cache: true,
            pull: false,
            args: vec![
                ("B".into(), Some("2".into())),
                ("A".into(), Some("3".into())),
            ],
        };
        let r = build_request("proj", &s, &opts).unwrap();
        assert_eq!(r.context, std::path::PathBuf::from("/ctx"));
        assert_eq!(
            r.dockerfile,
            DockerfileSource::Path("web.Dockerfile".into())
        );
        assert_eq!(r.args.get("A").map(String::as_str), Some("3"));
        assert_eq!(r.args.get("B").map(String::as_str), Some("2"));
        assert!(!r.args.contains_key("DROPPED"));
        assert_eq!(r.target.as_deref(), Some("prod"));
        assert_eq!(
            r.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            ["docker.io/library/proj-web:latest", "registry.local/web:v1"]
        );
        assert!(r.no_cache);
        assert_eq!(r.network, StepNetwork::Host);
        assert_eq!(
            r.extra_hosts,
            vec![
                ("gw".to_string(), None),
                ("h".to_string(), Some("10.0.0.1".parse().unwrap()))
            ]
        );
        assert_eq!(r.name.as_deref(), Some("web"));
    }

    #[test]
    fn image_names() {
        let mut s = service(BuildConfig::default());
        assert_eq!(image_name("p", &s), "p-web");
        s.image = "repo/web:2".into();
        assert_eq!(image_name("p", &s), "repo/web:2");
    }
}
