//! Builds the OCI runtime spec (`config.json`) of a container from its [`ContainerSpec`].
//!
//! The spec is assembled as OCI JSON and parsed into [`oci_spec::runtime::Spec`], which checks
//! every field's type; docker's defaults are applied here: capability set, masked and read-only
//! paths, seccomp filter (see [`super::seccomp`]), `/dev/shm` size, hostname, cgroup path
//! `/<cgroup_parent>/<id>`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::error::{ContainerError, Result};
use super::seccomp;
use super::spec::{ContainerSpec, MountKind, NetworkMode, Propagation};
use super::user::ResolvedUser;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability with its number (what `privileged` and `cap_add: [ALL]` grant, within the
/// bounding set rcompose itself runs with).
pub const ALL_CAPS: &[(&str, u32)] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// This process's capability bounding set (`CapBnd` of `/proc/self/status`).
pub fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn cap_number(name: &str) -> Option<u32> {
    ALL_CAPS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// All capabilities rcompose can grant (those in its own bounding set).
pub(crate) fn grantable_caps() -> Vec<String> {
    let bnd = bounding_set();
    ALL_CAPS
        .iter()
        .filter(|(_, b)| bnd & (1u64 << b) != 0)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalizes a capability name: `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`.
pub fn normalize_cap(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The effective capability set: docker's defaults (or all when privileged) + add − drop.
pub fn effective_caps(spec: &ContainerSpec) -> Result<Vec<String>> {
    let mut caps: Vec<String> = if spec.privileged {
        grantable_caps()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    let check = |c: &str| -> Result<()> {
        if c == "ALL" || cap_number(c).is_some() {
            Ok(())
        } else {
            Err(ContainerError::InvalidSpec(format!(
                "unknown capability {c:?}"
            )))
        }
    };
    let drops: Vec<String> = spec.cap_drop.iter().map(|c| normalize_cap(c)).collect();
    for d in &drops {
        check(d)?;
    }
    if drops.iter().any(|d| d == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drops.contains(c));
    }
    for a in spec.cap_add.iter().map(|c| normalize_cap(c)) {
        check(&a)?;
        if a == "ALL" {
            caps = grantable_caps();
        } else if !caps.contains(&a) {
            let bit = cap_number(&a).unwrap_or(0);
            if bounding_set() & (1u64 << bit) == 0 {
                return Err(ContainerError::InvalidSpec(format!(
                    "capability {a} is not in rcompose's own bounding set, it cannot be granted"
                )));
            }
            caps.push(a);
        }
    }
    Ok(caps)
}

/// Maps a ulimit name (`nofile`, `RLIMIT_NOFILE`) to its OCI type and libc resource.
pub fn rlimit_kind(name: &str) -> Option<(&'static str, libc::__rlimit_resource_t)> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("rlimit_").unwrap_or(&n);
    Some(match n {
        "as" => ("RLIMIT_AS", libc::RLIMIT_AS),
        "core" => ("RLIMIT_CORE", libc::RLIMIT_CORE),
        "cpu" => ("RLIMIT_CPU", libc::RLIMIT_CPU),
        "data" => ("RLIMIT_DATA", libc::RLIMIT_DATA),
        "fsize" => ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        "locks" => ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        "memlock" => ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        "msgqueue" => ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        "nice" => ("RLIMIT_NICE", libc::RLIMIT_NICE),
        "nofile" => ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        "nproc" => ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        "rss" => ("RLIMIT_RSS", libc::RLIMIT_RSS),
        "rtprio" => ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        "rttime" => ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
        "sigpending" => ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        "stack" => ("RLIMIT_STACK", libc::RLIMIT_STACK),
        _ => return None,
    })
}

/// Checks every ulimit: known name, soft ≤ hard, hard within this process's hard limit (we have
/// no CAP_SYS_RESOURCE to raise it).
pub fn check_ulimits(spec: &ContainerSpec) -> Result<()> {
    for u in &spec.ulimits {
        let (_, res) = rlimit_kind(&u.name)
            .ok_or_else(|| ContainerError::InvalidSpec(format!("unknown ulimit {:?}", u.name)))?;
        if u.soft > u.hard {
            return Err(ContainerError::InvalidSpec(format!(
                "ulimit {}: soft limit {} is above the hard limit {}",
                u.name, u.soft, u.hard
            )));
        }
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            return Err(ContainerError::sys(
                format!("getrlimit({})", u.name),
                nix::Error::last(),
            ));
        }
        if cur.rlim_max != libc::RLIM_INFINITY && u.hard > cur.rlim_max {
            return Err(ContainerError::UlimitAboveHostHard {
                name: u.name.clone(),
                requested: u.hard,
                host_hard: cur.rlim_max,
            });
        }
    }
    Ok(())
}

/// Parses a signal given as `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| ContainerError::InvalidSignal(s.to_string()));
    }
    let up = t.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map_err(|_| ContainerError::InvalidSignal(s.to_string()))
}

/// Host-side inputs resolved by the monitor before building the spec.
#[derive(Debug, Clone)]
pub struct OciInputs<'a> {
    pub id: &'a str,
    pub rootfs: &'a Path,
    pub user: &'a ResolvedUser,
    /// Host source of each `spec.mounts[i]` that is a volume (named or anonymous).
    pub volume_sources: &'a [Option<PathBuf>],
    /// Host files bind-mounted over `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`.
    pub etc_files: &'a [(String, PathBuf)],
    pub cgroup_parent: &'a str,
    /// Image-declared volumes without an explicit mount: anonymous volume sources.
    pub image_volumes: &'a [(String, PathBuf)],
}

/// The default hostname: the first 12 characters of the id.
pub fn default_hostname(id: &str) -> String {
    id.chars().take(12).collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

/// The working directory: the spec's, else the image's, else `/`; it must be absolute.
pub fn working_dir(spec: &ContainerSpec) -> Result<String> {
    let cwd = spec
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| {
            spec.image
                .config()
                .as_ref()
                .and_then(|c| c.working_dir().clone())
                .filter(|w| !w.is_empty())
        })
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(ContainerError::InvalidSpec(format!(
            "working_dir {cwd:?} must be absolute"
        )));
    }
    Ok(cwd)
}

/// Builds the OCI spec.
pub fn build_spec(spec: &ContainerSpec, inp: &OciInputs<'_>) -> Result<Spec> {
    let args = spec.effective_args();
    if args.is_empty() {
        return Err(ContainerError::InvalidSpec(
            "no command: the image has no Entrypoint/Cmd and none was given".into(),
        ));
    }
    let mut env = spec.effective_env();
    if !env.contains_key("PATH") {
        env.insert(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !env.contains_key("HOME") {
        env.insert("HOME".into(), inp.user.home.clone());
    }
    let hostname = spec
        .hostname
        .clone()
        .unwrap_or_else(|| default_hostname(inp.id));
    env.entry("HOSTNAME".into()).or_insert(hostname.clone());
    // dockerd's default for a container with a terminal; the user's own TERM wins.
    if spec.tty {
        env.entry("TERM".into()).or_insert_with(|| "xterm".into());
    }
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cwd = working_dir(spec)?;

    let caps = effective_caps(spec)?;
    let mut rlimits = Vec::new();
    for u in &spec.ulimits {
        let (typ, _) = rlimit_kind(&u.name)
            .ok_or_else(|| ContainerError::InvalidSpec(format!("unknown ulimit {:?}", u.name)))?;
        rlimits.push(json!({"type": typ, "hard": u.hard, "soft": u.soft}));
    }

    let mut process = json!({
        "terminal": false,
        "user": {
            "uid": inp.user.uid,
            "gid": inp.user.gid,
            "additionalGids": inp.user.additional_gids,
        },
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": rlimits,
    });
    // Only when set: libcontainer loads the seccomp filter after dropping capabilities (needing
    // no_new_privs) whenever the field is present, even `false`; absent, it loads the filter
    // while it still has CAP_SYS_ADMIN, as runc does for containers without no-new-privileges.
    if spec.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }

    // Mounts: the runtime's defaults, then /etc files, then the user's mounts (parents first).
    let shm = format!("size={}", spec.shm_size.unwrap_or(64 * 1024 * 1024));
    let sys_opts: &[&str] = if spec.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ];
    let user_targets: Vec<&str> = spec.mounts.iter().map(|m| m.target.as_str()).collect();
    for (dest, src) in inp.etc_files {
        if user_targets.contains(&dest.as_str()) {
            continue;
        }
        let src = src.to_string_lossy();
        mounts.push(mount(dest, "bind", &src, &["rbind", "rprivate"]));
    }
    let mut user_mounts: Vec<(usize, Value)> = Vec::new();
    let mut shared = false;
    for (i, m) in spec.mounts.iter().enumerate() {
        if !m.target.starts_with('/') {
            return Err(ContainerError::InvalidSpec(format!(
                "mount target {:?} must be absolute",
                m.target
            )));
        }
        let ro = if m.read_only { "ro" } else { "rw" };
        let v = match &m.kind {
            MountKind::Bind {
                source,
                propagation,
                ..
            } => {
                let p = propagation.unwrap_or(Propagation::Rprivate);
                shared |= matches!(
                    p,
                    Propagation::Shared
                        | Propagation::Rshared
                        | Propagation::Slave
                        | Propagation::Rslave
                );
                mount(
                    &m.target,
                    "bind",
                    &source.to_string_lossy(),
                    &["rbind", ro, p.as_str()],
                )
            }
            MountKind::Volume { .. } | MountKind::Anonymous { .. } => {
                let src = inp
                    .volume_sources
                    .get(i)
                    .and_then(|s| s.as_ref())
                    .ok_or_else(|| {
                        ContainerError::InvalidSpec(format!(
                            "volume for {:?} was not prepared",
                            m.target
                        ))
                    })?;
                mount(
                    &m.target,
                    "bind",
                    &src.to_string_lossy(),
                    &["rbind", ro, "rprivate"],
                )
            }
            MountKind::Tmpfs { size, mode } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), ro.to_string()];
                if let Some(s) = size {
                    opts.push(format!("size={s}"));
                }
                if let Some(md) = mode {
                    opts.push(format!("mode={md:o}"));
                }
                json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
        };
        user_mounts.push((m.target.trim_end_matches('/').matches('/').count(), v));
    }
    for (target, src) in inp.image_volumes {
        user_mounts.push((
            target.trim_end_matches('/').matches('/').count(),
            mount(
                target,
                "bind",
                &src.to_string_lossy(),
                &["rbind", "rw", "rprivate"],
            ),
        ));
    }
    user_mounts.sort_by_key(|(depth, _)| *depth);
    mounts.extend(user_mounts.into_iter().map(|(_, v)| v));

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match &spec.network {
        NetworkMode::Private => namespaces.push(json!({"type": "network"})),
        NetworkMode::Host => {}
        NetworkMode::Path(p) => {
            namespaces.push(json!({"type": "network", "path": p.to_string_lossy()}))
        }
    }

    let r = &spec.resources;
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if spec.privileged {
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    let mut memory = serde_json::Map::new();
    if let Some(v) = r.memory {
        memory.insert("limit".into(), json!(v));
    }
    if let Some(v) = r.memory_reservation {
        memory.insert("reservation".into(), json!(v));
    }
    if let Some(v) = r.memory_swap {
        memory.insert("swap".into(), json!(v));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(v) = r.cpu_shares {
        cpu.insert("shares".into(), json!(v));
    }
    let mut period = r.cpu_period;
    let mut quota = r.cpu_quota;
    if let Some(cpus) = r.cpus {
        if cpus <= 0.0 {
            return Err(ContainerError::InvalidSpec(format!(
                "cpus must be positive, got {cpus}"
            )));
        }
        let p = period.unwrap_or(100_000);
        period = Some(p);
        quota = Some((cpus * p as f64).round() as i64);
    }
    if let Some(v) = period {
        cpu.insert("period".into(), json!(v));
    }
    if let Some(v) = quota {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = &r.cpuset_mems {
        cpu.insert("mems".into(), json!(v));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(v) = r.pids_limit {
        resources["pids"] = json!({"limit": v});
    }

    let (masked, readonly): (Vec<&str>, Vec<&str>) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.to_vec(), READONLY_PATHS.to_vec())
    };
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("/{}/{}", inp.cgroup_parent.trim_matches('/'), inp.id),
        "resources": resources,
        "maskedPaths": masked,
        "readonlyPaths": readonly,
        "sysctl": spec.sysctls,
    });
    if shared {
        linux["rootfsPropagation"] = json!("rshared");
    }
    let seccomp = spec
        .seccomp
        .to_oci(spec.privileged, &caps, &seccomp::Host::current()?)?;
    if let Some(filter) = seccomp {
        linux["seccomp"] =
            serde_json::to_value(filter).map_err(|e| ContainerError::Oci(e.to_string()))?;
    }
    let mut doc = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": inp.rootfs.to_string_lossy(), "readonly": spec.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": spec.labels,
    });
    if let Some(d) = &spec.domainname {
        doc["domainname"] = json!(d);
    }
    serde_json::from_value(doc).map_err(|e| ContainerError::Oci(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::container::spec::{HealthTest, Healthcheck, MountSpec, Ulimit};
    use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

    fn image() -> oci_spec::image::ImageConfiguration {
        let cfg = ConfigBuilder::default()
            .env(vec!["PATH=/bin".to_string(), "A=1".to_string()])
            .cmd(vec!["sh".to_string()])
            .entrypoint(vec!["/ep".to_string()])
            .build()
            .expect("config");
        ImageConfigurationBuilder::default()
            .config(cfg)
            .build()
            .expect("image")
    }

    #[test]
    fn entrypoint_clears_cmd() {
        let mut s = ContainerSpec::new("t", image(), vec![]);
        assert_eq!(s.effective_args(), vec!["/ep", "sh"]);
        s.command = Some(vec!["x".into()]);
        assert_eq!(s.effective_args(), vec!["/ep", "x"]);
        s.entrypoint = Some(vec!["/other".into()]);
        assert_eq!(s.effective_args(), vec!["/other", "x"]);
        s.command = None;
        assert_eq!(s.effective_args(), vec!["/other"]);
    }

    #[test]
    fn caps_and_spec() {
        let mut s = ContainerSpec::new("t", image(), vec![]);
        s.cap_drop = vec!["chown".into(), "CAP_KILL".into()];
        s.cap_add = vec!["NET_ADMIN".into()];
        s.env.insert("A".into(), "2".into());
        s.ulimits.push(Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        });
        s.mounts.push(MountSpec {
            target: "/data".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
                mode: Some(0o1777),
            },
            read_only: false,
        });
        s.healthcheck = Some(Healthcheck::new(HealthTest::None));
        let caps = effective_caps(&s).expect("caps");
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        let user = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        };
        let spec = build_spec(
            &s,
            &OciInputs {
                id: "0123456789abcdef",
                rootfs: Path::new("/r"),
                user: &user,
                volume_sources: &[None],
                etc_files: &[],
                cgroup_parent: "rcompose",
                image_volumes: &[],
            },
        )
        .expect("spec");
        let p = spec.process().as_ref().expect("process");
        let env = p.env().as_ref().expect("env");
        assert!(env.contains(&"A=2".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
        assert_eq!(p.rlimits().as_ref().map(|r| r.len()), Some(1));
        let linux = spec.linux().as_ref().expect("linux");
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/rcompose/0123456789abcdef"))
        );
        assert!(
            spec.mounts()
                .as_ref()
                .expect("mounts")
                .iter()
                .any(|m| m.destination() == Path::new("/data"))
        );
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM").ok(), Some(nix::sys::signal::SIGTERM));
        assert_eq!(
            parse_signal("sigkill").ok(),
            Some(nix::sys::signal::SIGKILL)
        );
        assert_eq!(parse_signal("2").ok(), Some(nix::sys::signal::SIGINT));
        assert!(parse_signal("NOPE").is_err());
    }
}
