//! Where a RUN step executes: a container of the bundled runtime (the same monitor, namespaces,
//! capabilities and cgroups as a service container) on the stage's layers, its output streamed
//! back line by line, and its overlay upper dir taken as the step's diff.
//!
//! The runtime creates mount points it needs (`/etc/hosts`, `/etc/resolv.conf`,
//! `/etc/hostname`, `/proc`, ...) in the upper dir when the image lacks them; those stubs are
//! removed again ([`remove_mount_stubs`]) so they do not end up in the layer, as BuildKit does.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::buildnet::BuildNetwork;
use super::error::{BuildError, IoContext, Result};
use crate::runtime::container::{
    ContainerRuntime, ContainerSpec, CreationLock, LogOptions, NetworkMode, RemoveOptions, Runtime,
};
use crate::runtime::network::{Attachment, HostsFile, hosts_file, netns};

/// Label on build containers (so they can be told apart and swept).
pub const BUILD_LABEL: &str = "io.rcompose.build";
/// The pid of the build that runs the container (a dead one left it behind).
pub const BUILD_PID_LABEL: &str = "io.rcompose.build.pid";

/// Paths the runtime mounts over, which it creates in the rootfs when missing.
const MOUNT_POINTS: &[&str] = &[
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "proc",
    "sys",
    "dev",
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "sys/fs/cgroup",
];

/// The network of a RUN step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepNetwork {
    /// The NATed build network ([`super::buildnet`]).
    #[default]
    Default,
    Host,
    /// Only loopback.
    None,
}

impl std::str::FromStr for StepNetwork {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" | "default" | "bridge" => Ok(StepNetwork::Default),
            "host" => Ok(StepNetwork::Host),
            "none" => Ok(StepNetwork::None),
            other => Err(format!(
                "network mode {other:?} is not supported for builds (use default, host or none)"
            )),
        }
    }
}

/// What one RUN step runs with.
pub struct StepSpec {
    pub argv: Vec<String>,
    /// Build args, then the image's Env on top.
    pub env: IndexMap<String, String>,
    pub user: String,
    pub working_dir: String,
    pub network: StepNetwork,
    /// `name → address`; `None` means `host-gateway`.
    pub extra_hosts: Vec<(String, Option<IpAddr>)>,
    pub shm_size: Option<u64>,
    /// The stage's layer dirs, bottom first (at least one).
    pub lower_dirs: Vec<PathBuf>,
    /// Extra mounts (`RUN --mount`).
    pub mounts: Vec<crate::runtime::container::MountSpec>,
}

/// What a finished step left.
pub struct StepResult {
    pub exit_code: i32,
    /// The overlay upper dir, moved to the path the caller gave.
    pub upper: PathBuf,
}

/// Runs RUN steps in containers of one runtime.
pub struct Sandbox<'a> {
    pub containers: &'a ContainerRuntime,
    /// `<run root>/netns`: persistent namespaces of the steps live here while they run.
    pub netns_dir: PathBuf,
}

impl Sandbox<'_> {
    /// Run a step; each output line goes to `on_line`; the upper dir is moved to `upper_dest`.
    pub fn run(
        &self,
        spec: &StepSpec,
        network: Option<&BuildNetwork>,
        upper_dest: &Path,
        cancelled: &(dyn Fn() -> bool + Sync),
        on_line: &mut dyn FnMut(&str),
    ) -> Result<StepResult> {
        let name = format!("rcompose-build-{}", random_suffix()?);
        let ns_path = self.netns_dir.join(&name);
        // Until the container exists, its namespace and endpoint have no owner a sweep could
        // see (see `CreationLock`).
        let creating = CreationLock::shared(&self.containers.layout().run_root)?;
        let mut cleanup = Cleanup {
            containers: self.containers,
            id: None,
            netns: None,
            network,
            name: name.clone(),
        };
        let (mode, gateway) = match spec.network {
            StepNetwork::Host => (NetworkMode::Host, None),
            StepNetwork::None => {
                let ns = netns::create(&ns_path)?;
                cleanup.netns = Some(ns_path.clone());
                (NetworkMode::Path(ns.path()), None)
            }
            StepNetwork::Default => {
                let net = network.ok_or_else(|| {
                    BuildError::sys("RUN", std::io::Error::other("no build network"))
                })?;
                let ns = netns::create(&ns_path)?;
                cleanup.netns = Some(ns_path.clone());
                let eps = net.manager().attach(
                    &name,
                    &ns,
                    &[Attachment {
                        network: super::buildnet::BUILD_NETWORK.into(),
                        ..Attachment::default()
                    }],
                )?;
                (NetworkMode::Path(ns.path()), eps.first().map(|e| e.gateway))
            }
        };
        let container = self.container_spec(spec, &name, mode, gateway);
        let id = self.containers.create(&container)?;
        cleanup.id = Some(id.clone());
        drop(creating);
        self.containers.start(&id)?;
        let exit_code = self.follow(&id, cancelled, on_line)?;
        if cancelled() {
            return Err(BuildError::Interrupted);
        }
        let upper = self.containers.layout().container(&id).upper();
        fs::rename(&upper, upper_dest).at(upper_dest)?;
        drop(cleanup);
        remove_mount_stubs(upper_dest, &spec.lower_dirs)?;
        Ok(StepResult {
            exit_code,
            upper: upper_dest.to_path_buf(),
        })
    }

    /// Stream the step's output until it exits; its exit code. A watcher kills the step as
    /// soon as the build is cancelled (Ctrl-C), so a long RUN does not hold the build up.
    fn follow(
        &self,
        id: &str,
        cancelled: &(dyn Fn() -> bool + Sync),
        on_line: &mut dyn FnMut(&str),
    ) -> Result<i32> {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if cancelled() {
                        let _ = self.containers.kill(id, "SIGKILL");
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let result = (|| {
                let logs = self.containers.logs(
                    id,
                    &LogOptions {
                        follow: true,
                        ..LogOptions::default()
                    },
                )?;
                for entry in logs {
                    on_line(entry.log.strip_suffix('\n').unwrap_or(&entry.log));
                }
                Ok(self.containers.wait(id)?)
            })();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        })
    }

    fn container_spec(
        &self,
        spec: &StepSpec,
        name: &str,
        network: NetworkMode,
        gateway: Option<std::net::Ipv4Addr>,
    ) -> ContainerSpec {
        let mut c = ContainerSpec::new(
            name,
            oci_spec::image::ImageConfiguration::default(),
            spec.lower_dirs.clone(),
        );
        c.entrypoint = Some(Vec::new());
        c.command = Some(spec.argv.clone());
        c.env = spec.env.clone();
        c.user = Some(spec.user.clone()).filter(|u| !u.is_empty());
        c.working_dir = Some(spec.working_dir.clone()).filter(|w| !w.is_empty());
        c.hostname = Some("buildkitsandbox".into());
        c.shm_size = spec.shm_size;
        c.network = network.clone();
        c.mounts = spec.mounts.clone();
        c.labels.insert(BUILD_LABEL.into(), "1".into());
        c.labels
            .insert(BUILD_PID_LABEL.into(), std::process::id().to_string());
        let extra_hosts = spec
            .extra_hosts
            .iter()
            .filter_map(|(n, ip)| Some((n.clone(), ip.or(gateway.map(IpAddr::V4))?)))
            .collect();
        if network != NetworkMode::Host {
            c.etc_hosts = Some(hosts_file(&HostsFile {
                hostname: "buildkitsandbox".into(),
                domainname: None,
                addresses: Vec::new(),
                extra_hosts,
            }));
        }
        c.resolv_conf = Some(build_resolv_conf(
            &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        ));
        c
    }
}

impl Sandbox<'_> {
    /// Remove what killed builds left: their step containers, endpoints and namespaces.
    pub fn sweep(&self, network: Option<&crate::runtime::network::NetworkManager>) -> Result<()> {
        for info in self.containers.list()? {
            let labels = &info.spec.labels;
            if !labels.contains_key(BUILD_LABEL) {
                continue;
            }
            let alive = labels
                .get(BUILD_PID_LABEL)
                .is_some_and(|p| Path::new("/proc").join(p).exists());
            if alive {
                continue;
            }
            let name = info.spec.name.clone();
            let _ = self.containers.remove(
                &info.state.id,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
            if let Some(n) = network {
                let _ = n.detach(&name, None);
            }
            let _ = netns::remove(&self.netns_dir.join(&name));
        }
        Ok(())
    }
}

/// Undoes a step's container, network endpoint and namespace, also on early returns.
struct Cleanup<'a> {
    containers: &'a ContainerRuntime,
    id: Option<String>,
    netns: Option<PathBuf>,
    network: Option<&'a BuildNetwork>,
    name: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(id) = &self.id {
            let _ = self.containers.remove(
                id,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
        if let Some(net) = self.network {
            let _ = net.manager().detach(&self.name, None);
        }
        if let Some(p) = &self.netns {
            let _ = netns::remove(p);
        }
    }
}

fn random_suffix() -> Result<String> {
    let mut buf = [0u8; 6];
    use std::io::Read;
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .at("/dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The host's resolv.conf without loopback nameservers (unreachable from the step's namespace);
/// docker's public fallbacks when none is left.
pub fn build_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let ip: Option<IpAddr> = words.next().and_then(|w| w.parse().ok());
            match ip {
                Some(ip) if !ip.is_loopback() => servers += 1,
                _ => continue,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Where `rel` stands in a stack of layer dirs (bottom first): its metadata in the top-most
/// layer that has it, unless a whiteout or an opaque directory hides it.
fn lookup_in_layers(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    for layer in lowers.iter().rev() {
        let mut hidden = false;
        let mut prefix = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            prefix.push(c);
            let Ok(md) = fs::symlink_metadata(layer.join(&prefix)) else {
                break;
            };
            if md.file_type().is_char_device() && md.rdev() == 0 {
                hidden = true;
                break;
            }
            if i + 1 == comps.len() {
                return Some(md);
            }
            if md.is_dir() && is_opaque(&layer.join(&prefix)) {
                // Nothing below an opaque dir comes from lower layers; this one lacks `rel`.
                hidden = true;
                break;
            }
        }
        if hidden {
            return None;
        }
    }
    None
}

fn is_opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .filter_map(|n| std::ffi::CString::new(*n).ok())
        .any(|n| super::fsops::get_xattr(dir, &n).is_ok_and(|v| v == b"y"))
}

/// Remove from `upper` the empty mount-point stubs the runtime created (absent from the
/// lower layers), and directories copied up only to hold them (empty, same owner and mode as
/// below).
pub fn remove_mount_stubs(upper: &Path, lowers: &[PathBuf]) -> Result<()> {
    let mut parents: Vec<PathBuf> = Vec::new();
    for rel in MOUNT_POINTS.iter().rev() {
        let rel = Path::new(rel);
        let abs = upper.join(rel);
        let Ok(md) = fs::symlink_metadata(&abs) else {
            continue;
        };
        if lookup_in_layers(lowers, rel).is_some() {
            continue;
        }
        let empty_file = md.is_file() && md.len() == 0;
        let empty_dir = md.is_dir() && fs::read_dir(&abs).at(&abs)?.next().is_none();
        if empty_file {
            fs::remove_file(&abs).at(&abs)?;
        } else if empty_dir {
            fs::remove_dir(&abs).at(&abs)?;
        } else {
            continue;
        }
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            parents.push(p.to_path_buf());
        }
    }
    parents.sort();
    parents.dedup();
    for rel in parents.iter().rev() {
        let abs = upper.join(rel);
        let Ok(md) = fs::symlink_metadata(&abs) else {
            continue;
        };
        let Some(below) = lookup_in_layers(lowers, rel) else {
            continue;
        };
        let unchanged = md.is_dir()
            && below.is_dir()
            && md.mode() == below.mode()
            && md.uid() == below.uid()
            && md.gid() == below.gid()
            && !is_opaque(&abs)
            && fs::read_dir(&abs).at(&abs)?.next().is_none();
        if unchanged {
            fs::remove_dir(&abs).at(&abs)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nameservers_are_dropped() {
        assert_eq!(
            build_resolv_conf("nameserver 127.0.0.53\noptions edns0\n"),
            "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            build_resolv_conf("search x\nnameserver 10.0.0.2\n"),
            "search x\nnameserver 10.0.0.2\n"
        );
    }

    #[test]
    fn networks_parse() {
        assert_eq!("host".parse(), Ok(StepNetwork::Host));
        assert_eq!("".parse(), Ok(StepNetwork::Default));
        assert!("container:x".parse::<StepNetwork>().is_err());
    }

    #[test]
    fn stubs_go_real_changes_stay() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(lower.join("proc")).unwrap();
        fs::write(lower.join("etc/hosts"), "real").unwrap();
        let upper = dir.path().join("upper");
        // The runtime's stubs: /etc/resolv.conf (absent below) and /etc copied up to hold it.
        fs::create_dir_all(upper.join("etc")).unwrap();
        let mode = fs::metadata(lower.join("etc")).unwrap().mode();
        fs::set_permissions(
            upper.join("etc"),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
        fs::write(upper.join("etc/resolv.conf"), "").unwrap();
        // /sys: absent below, created empty; /dev/shm: absent, but the step wrote into it.
        fs::create_dir_all(upper.join("sys")).unwrap();
        fs::create_dir_all(upper.join("dev/shm")).unwrap();
        fs::write(upper.join("dev/shm/kept"), "x").unwrap();
        remove_mount_stubs(&upper, std::slice::from_ref(&lower)).unwrap();
        assert!(!upper.join("etc").exists());
        assert!(!upper.join("sys").exists());
        assert!(upper.join("dev/shm/kept").exists());
    }
}
