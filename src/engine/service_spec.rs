//! One Compose service container → what the runtime needs to create it: a [`ContainerSpec`] plus
//! the networking the engine sets up around it (mode, attachments, ports, resolv.conf, hosts) and
//! the files it writes into it. Pure: no I/O, no containers; the engine calls [`container_plan`]
//! once per container it creates.
//!
//! The mapping follows docker compose v2.40.3's `getCreateConfigs` (`pkg/compose/create.go`) and
//! dockerd's merge with the image config. Every key the runtime cannot honour is a [`SpecError`]
//! naming the service and the key, raised only when the key is set. Keys handled elsewhere are
//! ignored here: `build`, `pull_policy`, `scale`/`deploy.replicas`, `depends_on` (labels only),
//! `links` (DNS aliases on the *linked* service: the engine's), `post_start`/`pre_stop` (run by the
//! engine through exec), `develop`, `attach`, `profiles`, `expose` (metadata only in docker).
//!
//! Sub-modules: [`mounts`] (volumes, tmpfs, secrets, configs), [`net`] (network mode, attachments,
//! ports, DNS, hosts), [`health`], [`limits`] (resources, ulimits, restart, logging, security
//! options) and [`unsupported`].

mod health;
mod limits;
mod mounts;
mod net;
mod unsupported;

#[cfg(test)]
pub(crate) mod test_support;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use super::labels::{self, ProjectLabels, Role};
use super::resources::{ProjectNetwork, ProjectVolume};
use crate::compose::environment::Environment;
use crate::compose::model::{Project, ServiceConfig};
use crate::runtime::container::ContainerSpec;
use crate::runtime::image::LocalImage;
use crate::runtime::network::{Attachment, HostsFile, NetworkMode, Protocol, ResolvConf};

/// What a service's containers share: the project and its resources.
#[derive(Debug, Clone, Copy)]
pub struct SpecContext<'a> {
    pub project: &'a Project,
    pub project_name: &'a str,
    /// Absolute project directory (relative paths left by the loader are taken from here).
    pub working_dir: &'a Path,
    pub config_files: &'a [PathBuf],
    /// `--env-file` files (absolute), for the `environment_file` label; empty without the flag.
    pub env_files: &'a [PathBuf],
    /// The interpolation environment: secrets and configs declared `environment: VAR` read it.
    pub environment: &'a Environment,
    /// From [`super::resources::networks`].
    pub networks: &'a [ProjectNetwork],
    /// From [`super::resources::volumes`].
    pub volumes: &'a [ProjectVolume],
    /// Set for a `run` container.
    pub oneoff: Option<&'a OneOff>,
}

/// A `run` container: the service with `run`'s changes already applied (command, user, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    /// 64 hex characters ([`labels::new_slug`]).
    pub slug: String,
    /// `run --use-aliases`: answer to the service name and aliases, not only the container name.
    pub use_aliases: bool,
}

/// One published port as requested; the engine expands it with `PortBinding::expand_range` once
/// the container's address is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    pub protocol: Protocol,
    pub host_ip: Option<IpAddr>,
    /// `None`: any free port.
    pub host: Option<(u16, u16)>,
    pub container: (u16, u16),
}

/// A file docker compose copies into the container after creating it: a secret or config whose
/// content is inline (`content:`) or comes from an environment variable (`environment:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFile {
    /// Absolute path in the container.
    pub target: String,
    pub content: String,
    /// Default `0o444`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Everything the engine needs to create one service container.
#[derive(Debug, Clone)]
pub struct ServiceContainer {
    pub name: String,
    /// `spec.network` is left `Private`: the engine sets it from `network_mode`.
    pub spec: ContainerSpec,
    pub network_mode: NetworkMode,
    /// One per service network, primary first (`priority` descending, then name).
    pub attachments: Vec<Attachment>,
    pub ports: Vec<PortRequest>,
    /// `gateway` is left `None`: the engine fills it.
    pub resolv: ResolvConf,
    /// `addresses` are left empty (the engine fills them); `hostname` is empty when the service
    /// sets none (the runtime's default hostname then applies).
    pub hosts: HostsFile,
    /// `extra_hosts` names mapped to `host-gateway`: the engine adds them with the host's address.
    pub host_gateway_hosts: Vec<String>,
    /// Secrets and configs to write into the container before it starts.
    pub files: Vec<InjectedFile>,
    /// The service's `tty` and `stdin_open` (also set in `spec`).
    pub tty: bool,
    pub stdin_open: bool,
    /// What docker compose (or dockerd) warns about and ignores.
    pub warnings: Vec<String>,
}

/// A service the runtime cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("service {service:?}: `{key}` is not supported: {reason}")]
    Unsupported {
        service: String,
        key: String,
        reason: String,
    },
    #[error("service {service:?}: invalid `{key}` {value:?}: {reason}")]
    Invalid {
        service: String,
        key: String,
        value: String,
        reason: String,
    },
    #[error("service {service:?} refers to undefined {kind} {name:?}")]
    Undefined {
        service: String,
        kind: &'static str,
        name: String,
    },
}

impl SpecError {
    pub(crate) fn unsupported(service: &str, key: &str, reason: impl Into<String>) -> Self {
        SpecError::Unsupported {
            service: service.to_string(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(
        service: &str,
        key: &str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        SpecError::Invalid {
            service: service.to_string(),
            key: key.to_string(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn undefined(service: &str, kind: &'static str, name: &str) -> Self {
        SpecError::Undefined {
            service: service.to_string(),
            kind,
            name: name.to_string(),
        }
    }
}

/// The plan of container `number` (1-based; ignored for one-offs) of `service`, run from `image`.
/// `raw_image_config` is the image's config JSON (`ImageStore::config_json`), read for the
/// image's `Healthcheck`, which the OCI config type drops.
pub fn container_plan(
    ctx: &SpecContext,
    service: &ServiceConfig,
    number: u32,
    image: &LocalImage,
    raw_image_config: Option<&serde_json::Value>,
) -> Result<ServiceContainer, SpecError> {
    let service = effective_service(ctx, service);
    let s = service.as_ref();
    unsupported::check(s)?;
    check_platform(s, image)?;
    let name = container_name(ctx, s, number)?;
    let mut spec = ContainerSpec::new(name.clone(), image.config.clone(), image.layer_dirs.clone());
    apply_process(&mut spec, s, image)?;
    spec.tty = s.tty;
    spec.stdin_open = s.stdin_open;
    let mounts = mounts::plan(ctx, s)?;
    spec.mounts = mounts.mounts;
    limits::apply(&mut spec, s, ctx.working_dir)?;
    spec.healthcheck = health::healthcheck(s, raw_image_config)?;
    spec.labels = labels::container_labels(
        &project_labels(ctx),
        s,
        role(ctx, number),
        image.id.as_str(),
    );
    let net = net::plan(ctx, s, &name)?;
    let mut warnings = mounts.warnings;
    warnings.extend(net.warnings);
    Ok(ServiceContainer {
        name,
        spec,
        network_mode: net.mode,
        attachments: net.attachments,
        ports: net.ports,
        resolv: net.resolv,
        hosts: net.hosts,
        host_gateway_hosts: net.host_gateway_hosts,
        files: mounts.files,
        tty: s.tty,
        stdin_open: s.stdin_open,
        warnings,
    })
}

/// A one-off runs the service with its generated name and without restart policy, as `run`
/// does before hashing it.
fn effective_service<'s>(ctx: &SpecContext, service: &'s ServiceConfig) -> Cow<'s, ServiceConfig> {
    let Some(oneoff) = ctx.oneoff else {
        return Cow::Borrowed(service);
    };
    let mut s = service.clone();
    if s.container_name.is_empty() {
        s.container_name = labels::oneoff_name(ctx.project_name, &s.name, &oneoff.slug);
    }
    s.scale = Some(1);
    s.restart.clear();
    if let Some(deploy) = s.deploy.as_mut() {
        deploy.restart_policy = None;
    }
    Cow::Owned(s)
}

fn project_labels<'a>(ctx: &SpecContext<'a>) -> ProjectLabels<'a> {
    ProjectLabels {
        project: ctx.project_name,
        working_dir: ctx.working_dir,
        config_files: ctx.config_files,
        env_files: ctx.env_files,
    }
}

fn role<'a>(ctx: &SpecContext<'a>, number: u32) -> Role<'a> {
    match ctx.oneoff {
        Some(o) => Role::OneOff { slug: &o.slug },
        None => Role::Replica(number),
    }
}

fn container_name(ctx: &SpecContext, s: &ServiceConfig, number: u32) -> Result<String, SpecError> {
    if s.container_name.is_empty() {
        return Ok(labels::container_name(ctx.project_name, &s.name, number));
    }
    if number > 1 && ctx.oneoff.is_none() {
        return Err(SpecError::invalid(
            &s.name,
            "container_name",
            &s.container_name,
            "a container name must be unique: it cannot be set on a service with more than one replica",
        ));
    }
    Ok(s.container_name.clone())
}

/// `platform:` must match the image's OS and architecture (the store holds one per reference).
fn check_platform(s: &ServiceConfig, image: &LocalImage) -> Result<(), SpecError> {
    if s.platform.is_empty() {
        return Ok(());
    }
    let mut parts = s.platform.split('/');
    let os = parts.next().unwrap_or_default();
    let arch = normalize_arch(parts.next().unwrap_or_default());
    let image_os = image.config.os().to_string();
    let image_arch = image.config.architecture().to_string();
    if os == image_os && arch == normalize_arch(&image_arch) {
        return Ok(());
    }
    Err(SpecError::invalid(
        &s.name,
        "platform",
        &s.platform,
        format!("the image is {image_os}/{image_arch}"),
    ))
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Command, environment, identity and process settings.
fn apply_process(
    spec: &mut ContainerSpec,
    s: &ServiceConfig,
    image: &LocalImage,
) -> Result<(), SpecError> {
    let image_cmd = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.cmd().clone())
        .unwrap_or_default();
    (spec.entrypoint, spec.command) = argv(s, image_cmd);
    spec.env = environment(s);
    let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
    spec.working_dir = non_empty(&s.working_dir);
    spec.user = non_empty(&s.user);
    spec.group_add = s.group_add.0.clone();
    spec.hostname = non_empty(&s.hostname);
    spec.domainname = non_empty(&s.domainname);
    spec.init = s.init.unwrap_or(false);
    spec.stop_signal = non_empty(&s.stop_signal);
    spec.stop_grace_period = s
        .stop_grace_period
        .map(|d| duration(&s.name, "stop_grace_period", d.as_nanos()))
        .transpose()?;
    Ok(())
}

/// Entrypoint and command as dockerd merges them with the image: an empty `command` keeps the
/// image's Cmd; an empty `entrypoint` drops the image's Entrypoint but keeps its Cmd unless
/// `command` is set; a non-empty `entrypoint` drops the image's Cmd.
fn argv(s: &ServiceConfig, image_cmd: Vec<String>) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let command = s
        .command
        .as_ref()
        .map(|c| c.0.clone())
        .filter(|c| !c.is_empty());
    match &s.entrypoint {
        None => (None, command),
        Some(ep) if ep.0.is_empty() => (Some(Vec::new()), Some(command.unwrap_or(image_cmd))),
        Some(ep) => (Some(ep.0.clone()), command),
    }
}

/// `environment`, minus the keys left without a value (dockerd unsets those).
fn environment(s: &ServiceConfig) -> IndexMap<String, String> {
    s.environment
        .0
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect()
}

/// A Compose duration (nanoseconds) as a std duration; negative ones are invalid.
pub(crate) fn duration(service: &str, key: &str, nanos: i64) -> Result<Duration, SpecError> {
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| SpecError::invalid(service, key, format!("{nanos}ns"), "must not be negative"))
}

#[cfg(test)]
mod tests;
