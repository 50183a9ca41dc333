//! `ContainerSpec`: the runtime-level description of one container (no Compose types).
//!
//! The engine maps a Compose service onto this; the runtime turns it into an OCI runtime spec
//! (see [`super::oci`]). Everything here is plain data and serializes to the container's
//! `spec.json`, so the monitor can rebuild the container on restart without the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::error::{ContainerError, Result};
use super::seccomp::SeccompProfile;

/// Everything needed to create a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Human name, unique within one runtime (state root). Generated from the id when empty.
    pub name: String,
    /// The image configuration (Env, Cmd, Entrypoint, WorkingDir, User, StopSignal, Volumes).
    pub image: ImageConfiguration,
    /// Read-only unpacked layer directories, bottom layer first.
    pub lower_dirs: Vec<PathBuf>,
    /// Overrides the image entrypoint; when set, the image Cmd is dropped unless `command` is set.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image Cmd.
    pub command: Option<Vec<String>>,
    /// Environment added on top of the image's `Env` (same key wins here).
    pub env: IndexMap<String, String>,
    pub working_dir: Option<String>,
    /// `name`, `uid`, `uid:gid`, `name:group`: resolved from the rootfs `/etc/passwd` and `/etc/group`.
    pub user: Option<String>,
    /// Extra supplementary groups (names or gids).
    pub group_add: Vec<String>,
    /// Defaults to the first 12 characters of the id.
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<MountSpec>,
    pub read_only: bool,
    /// Size of `/dev/shm` in bytes (docker default 64 MiB).
    pub shm_size: Option<u64>,
    /// Capability names, with or without `CAP_`, or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    /// The seccomp filter (docker's default unless `security_opt` says otherwise); a
    /// `spec.json` written before the field existed gets the default.
    #[serde(default)]
    pub seccomp: SeccompProfile,
    pub ulimits: Vec<Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub resources: Resources,
    /// Run a tiny reaping init as PID 1 (see [`crate::runtime::monitor::init`]).
    pub init: bool,
    /// Signal name (`SIGTERM`, `TERM`) or number; defaults to the image's StopSignal, then SIGTERM.
    pub stop_signal: Option<String>,
    /// Defaults to 10 s.
    pub stop_grace_period: Option<Duration>,
    pub restart: RestartPolicy,
    pub healthcheck: Option<Healthcheck>,
    pub log: LogConfig,
    pub network: NetworkMode,
    pub labels: BTreeMap<String, String>,
    /// Anonymous volumes taken over from a replaced container, by target path: the anonymous
    /// mount (or image-declared volume) at that target uses this volume instead of a new one,
    /// so data survives recreation (docker compose's rule unless `up -V`).
    #[serde(default)]
    pub inherit_volumes: BTreeMap<String, String>,
    /// Full content of the container's `/etc/hosts` (the engine renders it with the container's
    /// addresses and `extra_hosts`); `None`: localhost plus the hostname.
    #[serde(default)]
    pub etc_hosts: Option<String>,
    /// Full content of the container's `/etc/resolv.conf` (embedded DNS, `dns`, `dns_search`);
    /// `None`: a copy of the host's.
    #[serde(default)]
    pub resolv_conf: Option<String>,
}

impl ContainerSpec {
    /// A spec with docker's defaults for everything but the image.
    pub fn new(
        name: impl Into<String>,
        image: ImageConfiguration,
        lower_dirs: Vec<PathBuf>,
    ) -> Self {
        ContainerSpec {
            name: name.into(),
            image,
            lower_dirs,
            entrypoint: None,
            command: None,
            env: IndexMap::new(),
            working_dir: None,
            user: None,
            group_add: Vec::new(),
            hostname: None,
            domainname: None,
            mounts: Vec::new(),
            read_only: false,
            shm_size: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            no_new_privileges: false,
            seccomp: SeccompProfile::Default,
            ulimits: Vec::new(),
            sysctls: BTreeMap::new(),
            resources: Resources::default(),
            init: false,
            stop_signal: None,
            stop_grace_period: None,
            restart: RestartPolicy::No,
            healthcheck: None,
            log: LogConfig::default(),
            network: NetworkMode::default(),
            labels: BTreeMap::new(),
            inherit_volumes: BTreeMap::new(),
            etc_hosts: None,
            resolv_conf: None,
        }
    }

    /// The effective argv after applying Compose's override rules to the image config.
    pub fn effective_args(&self) -> Vec<String> {
        let cfg = self.image.config().as_ref();
        let image_ep = cfg.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
        let image_cmd = cfg.and_then(|c| c.cmd().clone()).unwrap_or_default();
        let (ep, cmd) = match (&self.entrypoint, &self.command) {
            (Some(ep), Some(cmd)) => (ep.clone(), cmd.clone()),
            (Some(ep), None) => (ep.clone(), Vec::new()),
            (None, Some(cmd)) => (image_ep, cmd.clone()),
            (None, None) => (image_ep, image_cmd),
        };
        ep.into_iter().chain(cmd).collect()
    }

    /// The effective environment: image `Env`, then `env` on top (order kept, same key replaced).
    pub fn effective_env(&self) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        if let Some(env) = self.image.config().as_ref().and_then(|c| c.env().clone()) {
            for kv in env {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                out.insert(k.to_string(), v.to_string());
            }
        }
        for (k, v) in &self.env {
            out.insert(k.clone(), v.clone());
        }
        out
    }

    /// The stop signal name: the spec's, else the image's, else `SIGTERM`.
    pub fn effective_stop_signal(&self) -> String {
        self.stop_signal
            .clone()
            .or_else(|| {
                self.image
                    .config()
                    .as_ref()
                    .and_then(|c| c.stop_signal().clone())
            })
            .unwrap_or_else(|| "SIGTERM".to_string())
    }

    pub fn effective_stop_grace(&self) -> Duration {
        self.stop_grace_period.unwrap_or(Duration::from_secs(10))
    }
}

/// One mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub target: String,
    pub kind: MountKind,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MountKind {
    /// A host path (already absolute: the caller resolves relative paths).
    Bind {
        source: PathBuf,
        /// Create the host directory when missing (Compose short syntax does).
        create_host_path: bool,
        propagation: Option<Propagation>,
    },
    /// A named volume under `<state_root>/volumes/<name>/_data`, created on first use.
    Volume {
        name: String,
        /// Do not populate a new volume from the image's content at the target.
        nocopy: bool,
    },
    /// An anonymous volume: a named volume with a generated name, owned by the container.
    Anonymous { nocopy: bool },
    Tmpfs {
        size: Option<u64>,
        /// Octal permission bits, e.g. 0o1777.
        mode: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Private,
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }
}

/// A resource limit (`nofile`, `nproc`, `core`, ... with or without `RLIMIT_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// cgroup limits (v1 here, v2 where the host has it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Number of CPUs (`cpus: 1.5`): turned into a CFS quota over a 100 ms period.
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Bytes.
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// Memory + swap in bytes; -1 for unlimited.
    pub memory_swap: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// When the monitor restarts an exited container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// Restart on a non-zero exit, at most `max_retries` times when set.
    OnFailure {
        max_retries: Option<u32>,
    },
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "no" | "" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => n
                    .parse()
                    .map(|n| RestartPolicy::OnFailure {
                        max_retries: Some(n),
                    })
                    .map_err(|_| format!("invalid restart policy {s:?}: bad retry count")),
                None => Err(format!("invalid restart policy {s:?}")),
            },
        }
    }
}

/// A healthcheck, with docker's defaults (interval 30 s, timeout 30 s, retries 3, start interval 5 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    pub test: HealthTest,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub start_interval: Duration,
    /// Extra, uncounted probes while the health is `starting`, so a healthy container is
    /// reported as soon as it is ready (see [`crate::runtime::monitor::health`]). On by default,
    /// also for a `spec.json` written before the field existed.
    #[serde(default = "default_fast_start")]
    pub fast_start: bool,
}

fn default_fast_start() -> bool {
    true
}

impl Healthcheck {
    pub fn new(test: HealthTest) -> Self {
        Healthcheck {
            test,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            retries: 3,
            start_period: Duration::ZERO,
            start_interval: Duration::from_secs(5),
            fast_start: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args")]
pub enum HealthTest {
    /// `NONE`: disables a healthcheck.
    None,
    /// `CMD`: argv executed directly.
    Cmd(Vec<String>),
    /// `CMD-SHELL`: run with `/bin/sh -c`.
    CmdShell(String),
}

/// json-file log rotation (docker's `max-size` / `max-file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// Rotate when the current file would exceed this many bytes; `None` = never.
    pub max_size: Option<u64>,
    /// Number of files kept, including the current one (at least 1).
    pub max_file: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: None,
            max_file: 1,
        }
    }
}

/// Network namespace of the container (the network layer attaches interfaces later).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "path", rename_all = "snake_case")]
pub enum NetworkMode {
    /// A new network namespace with only `lo`.
    #[default]
    Private,
    /// The host's network namespace.
    Host,
    /// An existing namespace (e.g. `/proc/<pid>/ns/net` or a bind-mounted netns file).
    Path(PathBuf),
}

/// A command to run inside a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// Added on top of the container's environment.
    pub env: IndexMap<String, String>,
    pub working_dir: Option<String>,
    /// Same syntax as [`ContainerSpec::user`]; defaults to the container's user.
    pub user: Option<String>,
    /// The stdin given is a terminal to make the process's controlling terminal (`exec -t`):
    /// it starts a new session and takes the terminal, so job control and Ctrl-C work.
    #[serde(default)]
    pub tty: bool,
}

impl ExecSpec {
    pub fn new<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Self {
        ExecSpec {
            args: args.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// Current `spec.json` format version.
pub const STORED_SPEC_VERSION: u32 = 1;

/// What `create` stores in `spec.json`: the spec plus what was decided at create time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSpec {
    pub version: u32,
    pub id: String,
    pub spec: ContainerSpec,
    /// cgroup path is `/<cgroup_parent>/<id>`.
    pub cgroup_parent: String,
    /// Generated volume names of the `Anonymous` mounts, by index in `spec.mounts`.
    pub anonymous_volumes: BTreeMap<usize, String>,
    /// Image-declared volumes not covered by a mount: (target, generated volume name).
    pub image_volumes: Vec<(String, String)>,
}

impl StoredSpec {
    /// Reads `spec.json`; a missing file is [`ContainerError::NotFound`] of `id`.
    pub fn load(path: &Path, id: &str) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ContainerError::NotFound(id.to_string()),
            _ => ContainerError::io("read container spec", path, e),
        })?;
        super::state::parse_versioned(path, &data, STORED_SPEC_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_parses() {
        assert_eq!("no".parse(), Ok(RestartPolicy::No));
        assert_eq!("always".parse(), Ok(RestartPolicy::Always));
        assert_eq!("unless-stopped".parse(), Ok(RestartPolicy::UnlessStopped));
        assert_eq!(
            "on-failure".parse(),
            Ok(RestartPolicy::OnFailure { max_retries: None })
        );
        assert_eq!(
            "on-failure:2".parse(),
            Ok(RestartPolicy::OnFailure {
                max_retries: Some(2)
            })
        );
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
        assert!("sometimes".parse::<RestartPolicy>().is_err());
    }

    #[test]
    fn specs_written_before_the_new_fields_still_load() {
        let spec = ContainerSpec::new("x", ImageConfiguration::default(), Vec::new());
        let mut json = serde_json::to_value(&spec).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("etc_hosts");
        obj.remove("resolv_conf");
        let mut hc = serde_json::to_value(Healthcheck::new(HealthTest::None)).unwrap();
        hc.as_object_mut().unwrap().remove("fast_start");
        obj.insert("healthcheck".into(), hc);
        let back: ContainerSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back.etc_hosts, None);
        assert_eq!(back.resolv_conf, None);
        assert!(back.healthcheck.unwrap().fast_start);
    }
}
