//! Privileges and limits: capabilities, `security_opt`, cgroup resources (service keys, then
//! `deploy.resources` on top, as docker compose's `getDeployResources`), ulimits, sysctls, the
//! restart policy (`restart`, then `deploy.restart_policy`), and the logging driver's rotation.

use std::path::Path;

use super::SpecError;
use crate::compose::model::{ByteSize, NanoCpus, ServiceConfig, UlimitsConfig};
use crate::runtime::container::{
    ContainerSpec, LogConfig, Resources, RestartPolicy, SeccompProfile, Ulimit,
};

pub(super) fn apply(
    spec: &mut ContainerSpec,
    s: &ServiceConfig,
    project_dir: &Path,
) -> Result<(), SpecError> {
    spec.read_only = s.read_only;
    spec.shm_size = positive(&s.name, "shm_size", s.shm_size.0)?;
    spec.cap_add = s.cap_add.clone();
    spec.cap_drop = s.cap_drop.clone();
    spec.privileged = s.privileged;
    let security = security_opts(s, project_dir)?;
    spec.no_new_privileges = security.no_new_privileges;
    spec.seccomp = security.seccomp;
    spec.ulimits = s
        .ulimits
        .iter()
        .map(|(name, u)| ulimit(&s.name, name, u))
        .collect::<Result<_, _>>()?;
    spec.sysctls = s.sysctls.0.clone();
    spec.resources = resources(s)?;
    spec.restart = restart(s)?;
    spec.log = logging(s)?;
    Ok(())
}

/// `Some(n)` for a positive value, `None` for 0; negative values are invalid.
fn positive(service: &str, key: &str, v: i64) -> Result<Option<u64>, SpecError> {
    match v {
        0 => Ok(None),
        n => u64::try_from(n)
            .map(Some)
            .map_err(|_| SpecError::invalid(service, key, n.to_string(), "must not be negative")),
    }
}

fn nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

/// What `security_opt` sets.
#[derive(Debug, Default, PartialEq, Eq)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: SeccompProfile,
}

/// docker compose's `parseSecurityOpts` and dockerd's: `no-new-privileges` (alone, `:true` or
/// `=true`), `seccomp=unconfined|builtin|<file>` (a file relative to the project directory, read
/// when the container is created); `apparmor=unconfined` and `label=disable` only undo what the
/// runtime never applies, so they are accepted.
fn security_opts(s: &ServiceConfig, project_dir: &Path) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts::default();
    for opt in &s.security_opt {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => out.no_new_privileges = true,
            ("no-new-privileges", "false") => out.no_new_privileges = false,
            ("seccomp", "unconfined") => out.seccomp = SeccompProfile::Unconfined,
            ("seccomp", "builtin") => out.seccomp = SeccompProfile::Default,
            ("seccomp", "") => {
                return Err(SpecError::invalid(
                    &s.name,
                    "security_opt",
                    opt,
                    "expected seccomp=unconfined, seccomp=builtin or seccomp=<profile file>",
                ));
            }
            ("seccomp", file) => out.seccomp = SeccompProfile::File(project_dir.join(file)),
            ("apparmor", "unconfined") | ("label", "disable") => {}
            ("apparmor" | "label" | "systempaths" | "credentialspec", _) => {
                return Err(SpecError::unsupported(
                    &s.name,
                    "security_opt",
                    format!("{opt:?}: the runtime applies no AppArmor or SELinux profile"),
                ));
            }
            _ => {
                return Err(SpecError::invalid(
                    &s.name,
                    "security_opt",
                    opt,
                    "invalid security-opt",
                ));
            }
        }
    }
    Ok(out)
}

/// A single value is both limits; `-1` is unlimited.
fn ulimit(service: &str, name: &str, u: &UlimitsConfig) -> Result<Ulimit, SpecError> {
    let pick = |v: i64| if v != 0 { v } else { u.single };
    let limit = |v: i64| match v {
        -1 => Ok(u64::MAX),
        v => u64::try_from(v).map_err(|_| {
            SpecError::invalid(
                service,
                &format!("ulimits.{name}"),
                v.to_string(),
                "must be -1 or more",
            )
        }),
    };
    Ok(Ulimit {
        name: name.to_string(),
        soft: limit(pick(u.soft))?,
        hard: limit(pick(u.hard))?,
    })
}

/// The shortest decimal of an `f32` CPU count (0.1 stays 0.1, not 0.10000000149).
fn cpus(c: NanoCpus) -> Option<f64> {
    (c.0 > 0.0).then(|| c.0.to_string().parse().unwrap_or(f64::from(c.0)))
}

fn bytes(b: ByteSize) -> Option<i64> {
    nonzero(b.0)
}

fn resources(s: &ServiceConfig) -> Result<Resources, SpecError> {
    let mut r = Resources {
        cpus: cpus(s.cpus),
        cpu_shares: positive(&s.name, "cpu_shares", s.cpu_shares)?,
        cpu_period: positive(&s.name, "cpu_period", s.cpu_period)?,
        cpu_quota: nonzero(s.cpu_quota),
        cpuset_cpus: (!s.cpuset.is_empty()).then(|| s.cpuset.clone()),
        cpuset_mems: None,
        memory: bytes(s.mem_limit),
        memory_reservation: bytes(s.mem_reservation),
        memory_swap: bytes(s.mem_swap_limit),
        pids_limit: nonzero(s.pids_limit),
    };
    let Some(deploy) = &s.deploy else {
        return Ok(r);
    };
    if let Some(l) = &deploy.resources.limits {
        r.memory = bytes(l.memory).or(r.memory);
        r.cpus = cpus(l.cpus).or(r.cpus);
        r.pids_limit = (l.pids > 0).then_some(l.pids).or(r.pids_limit);
    }
    // CPU reservations are a swarm setting docker compose ignores; only memory maps.
    if let Some(res) = &deploy.resources.reservations {
        r.memory_reservation = bytes(res.memory).or(r.memory_reservation);
    }
    let limits = deploy.resources.limits.iter();
    if limits
        .chain(&deploy.resources.reservations)
        .any(|x| !x.devices.is_empty())
    {
        return Err(SpecError::unsupported(
            &s.name,
            "deploy.resources.*.devices",
            "no device access",
        ));
    }
    Ok(r)
}

/// `restart`, overridden by `deploy.restart_policy` (docker compose's `getRestartPolicy`).
pub(super) fn restart(s: &ServiceConfig) -> Result<RestartPolicy, SpecError> {
    let mut policy = RestartPolicy::No;
    if !s.restart.is_empty() {
        let (condition, attempts) = s.restart.split_once(':').unwrap_or((&s.restart, "0"));
        let n = attempts
            .parse()
            .map_err(|_| SpecError::invalid(&s.name, "restart", &s.restart, "bad retry count"))?;
        policy = restart_policy(&s.name, "restart", condition, n)?;
    }
    if let Some(rp) = s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        let n = rp.max_attempts.unwrap_or(0);
        policy = restart_policy(&s.name, "deploy.restart_policy", &rp.condition, n)?;
    }
    Ok(policy)
}

/// docker compose's `mapRestartPolicyCondition`; retries only go with `on-failure` (dockerd).
fn restart_policy(
    service: &str,
    key: &str,
    condition: &str,
    attempts: u64,
) -> Result<RestartPolicy, SpecError> {
    let policy = match condition {
        "" | "no" | "none" => RestartPolicy::No,
        "always" | "any" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => {
            let n = u32::try_from(attempts).map_err(|_| {
                SpecError::invalid(service, key, attempts.to_string(), "too many retries")
            })?;
            return Ok(RestartPolicy::OnFailure {
                max_retries: (n > 0).then_some(n),
            });
        }
        other => {
            return Err(SpecError::invalid(
                service,
                key,
                other,
                "expected no, always, unless-stopped or on-failure",
            ));
        }
    };
    if attempts > 0 {
        return Err(SpecError::invalid(
            service,
            key,
            condition,
            "a maximum retry count only goes with on-failure",
        ));
    }
    Ok(policy)
}

/// The `json-file` (default) and `local` drivers: their `max-size` and `max-file`.
pub(super) fn logging(s: &ServiceConfig) -> Result<LogConfig, SpecError> {
    let Some(l) = &s.logging else {
        return Ok(LogConfig::default());
    };
    let mut log = match l.driver.as_str() {
        "" | "json-file" => LogConfig::default(),
        // dockerd's defaults for the `local` driver.
        "local" => LogConfig {
            max_size: Some(20 * 1024 * 1024),
            max_file: 5,
        },
        other => {
            return Err(SpecError::unsupported(
                &s.name,
                "logging.driver",
                format!("{other:?} (json-file and local are)"),
            ));
        }
    };
    for (k, v) in &l.options.0 {
        let bad =
            |reason: &str| SpecError::invalid(&s.name, &format!("logging.options.{k}"), v, reason);
        match k.as_str() {
            "max-size" => {
                log.max_size = Some(
                    human_size(v)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("expected a positive size like 10m"))?,
                )
            }
            "max-file" => {
                log.max_file = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad("expected a number of at least 1"))?
            }
            // Delivery mode and buffer: the runtime's logger never blocks the container.
            "mode" | "max-buffer-size" => {}
            _ => {
                return Err(SpecError::unsupported(
                    &s.name,
                    &format!("logging.options.{k}"),
                    "only max-size and max-file are",
                ));
            }
        }
    }
    if log.max_size.is_none() && log.max_file > 1 && l.driver != "local" {
        return Err(SpecError::invalid(
            &s.name,
            "logging.options.max-file",
            log.max_file.to_string(),
            "max-file needs max-size",
        ));
    }
    Ok(log)
}

/// go-units `FromHumanSize`, which dockerd uses for `max-size`: decimal multiples (`10m` is
/// 10,000,000 bytes), an optional `i` and `b`.
fn human_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        u => "kmgtp".find(u).filter(|_| u.len() == 1)? as i32 + 1,
    };
    Some((value * 1000f64.powi(power)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;

    fn service(yaml: &str) -> ServiceConfig {
        let p: Project = serde_norway::from_str(&format!("services: {{app: {yaml}}}")).unwrap();
        p.services["app"].clone()
    }

    fn applied(yaml: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::new("t", Default::default(), vec![]);
        apply(&mut spec, &service(yaml), Path::new("/p")).unwrap();
        spec
    }

    fn err(yaml: &str) -> String {
        let mut spec = ContainerSpec::new("t", Default::default(), vec![]);
        apply(&mut spec, &service(yaml), Path::new("/p"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn privileges() {
        let s = applied(
            "{cap_add: [NET_ADMIN], cap_drop: [ALL], privileged: true, read_only: true, shm_size: 128m, security_opt: ['no-new-privileges:true', 'seccomp=unconfined']}",
        );
        assert_eq!(
            (s.cap_add, s.cap_drop),
            (vec!["NET_ADMIN".to_string()], vec!["ALL".to_string()])
        );
        assert!(s.privileged && s.read_only && s.no_new_privileges);
        assert_eq!(s.seccomp, SeccompProfile::Unconfined);
        assert_eq!(s.shm_size, Some(128 << 20));
        assert!(applied("{security_opt: [no-new-privileges]}").no_new_privileges);
        assert!(!applied("{security_opt: ['no-new-privileges=false']}").no_new_privileges);
        assert!(err("{security_opt: [bogus]}").contains("invalid security-opt"));
        assert!(err("{security_opt: ['apparmor=docker-default']}").contains("AppArmor"));
    }

    #[test]
    fn seccomp_profiles() {
        let seccomp = |opts: &str| applied(&format!("{{security_opt: [{opts}]}}")).seccomp;
        assert_eq!(seccomp("'no-new-privileges'"), SeccompProfile::Default);
        assert_eq!(seccomp("'seccomp:unconfined'"), SeccompProfile::Unconfined);
        assert_eq!(
            seccomp("'seccomp=unconfined', 'seccomp=builtin'"),
            SeccompProfile::Default
        );
        assert_eq!(
            seccomp("'seccomp=./profiles/p.json'"),
            SeccompProfile::File("/p/./profiles/p.json".into())
        );
        assert_eq!(
            seccomp("'seccomp=/etc/p.json'"),
            SeccompProfile::File("/etc/p.json".into())
        );
        assert!(err("{security_opt: ['seccomp=']}").contains("seccomp=<profile file>"));
    }

    #[test]
    fn ulimits_and_sysctls() {
        let s = applied(
            "{ulimits: {nproc: 65535, nofile: {soft: 1024, hard: 4096}, core: -1}, sysctls: {net.core.somaxconn: 1024}}",
        );
        let u: Vec<(&str, u64, u64)> = s
            .ulimits
            .iter()
            .map(|u| (u.name.as_str(), u.soft, u.hard))
            .collect();
        assert_eq!(
            u,
            [
                ("core", u64::MAX, u64::MAX),
                ("nofile", 1024, 4096),
                ("nproc", 65535, 65535)
            ]
        );
        assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
    }

    /// The lab's `web`: `deploy.resources.limits {cpus: 0.5, memory: 64m, pids: 50}` gave
    /// NanoCpus 500000000, Memory 67108864, PidsLimit 50.
    #[test]
    fn resources_with_deploy_on_top() {
        let r = applied("{cpus: 2, mem_limit: 1g, pids_limit: 10, deploy: {resources: {limits: {cpus: '0.5', memory: 64m, pids: 50}, reservations: {cpus: '0.25', memory: 32m}}}}").resources;
        assert_eq!(
            (r.cpus, r.memory, r.pids_limit, r.memory_reservation),
            (Some(0.5), Some(64 << 20), Some(50), Some(32 << 20))
        );
        let r = applied("{cpus: 0.1, cpu_shares: 512, cpu_period: 100000, cpu_quota: 50000, cpuset: '0-1', mem_reservation: 10m, memswap_limit: -1}").resources;
        assert_eq!(r.cpus, Some(0.1));
        assert_eq!(
            (r.cpu_shares, r.cpu_period, r.cpu_quota),
            (Some(512), Some(100000), Some(50000))
        );
        assert_eq!(
            (
                r.cpuset_cpus.as_deref(),
                r.memory_reservation,
                r.memory_swap
            ),
            (Some("0-1"), Some(10 << 20), Some(-1))
        );
        assert_eq!(applied("{image: x}").resources, Resources::default());
        assert!(
            err("{deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}}")
                .contains("devices")
        );
    }

    #[test]
    fn restart_policies() {
        let r = |y: &str| applied(y).restart;
        assert_eq!(r("{restart: always}"), RestartPolicy::Always);
        assert_eq!(
            r("{restart: 'on-failure:3'}"),
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(r("{restart: unless-stopped}"), RestartPolicy::UnlessStopped);
        assert_eq!(r("{restart: 'no'}"), RestartPolicy::No);
        assert_eq!(
            r(
                "{restart: always, deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}}"
            ),
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(
            r("{deploy: {restart_policy: {condition: any}}}"),
            RestartPolicy::Always
        );
        assert_eq!(
            r("{deploy: {restart_policy: {condition: none}}}"),
            RestartPolicy::No
        );
        assert!(err("{restart: sometimes}").contains("invalid `restart` \"sometimes\""));
        assert!(err("{restart: 'always:2'}").contains("only goes with on-failure"));
    }

    #[test]
    fn logging_rotation() {
        let l =
            applied("{logging: {driver: json-file, options: {max-size: 1m, max-file: '3'}}}").log;
        assert_eq!((l.max_size, l.max_file), (Some(1_000_000), 3));
        let l = applied("{logging: {driver: local}}").log;
        assert_eq!((l.max_size, l.max_file), (Some(20 << 20), 5));
        assert_eq!(applied("{image: x}").log, LogConfig::default());
        assert!(
            err("{logging: {driver: syslog}}")
                .contains("`logging.driver` is not supported: \"syslog\"")
        );
        assert!(err("{logging: {options: {max-file: '3'}}}").contains("max-file needs max-size"));
        assert!(err("{logging: {options: {tag: x}}}").contains("logging.options.tag"));
        assert_eq!(human_size("10m"), Some(10_000_000));
        assert_eq!(human_size("1.5 KiB"), Some(1500));
        assert_eq!(human_size("2g"), Some(2_000_000_000));
        assert_eq!(human_size("12"), Some(12));
        assert_eq!(human_size("10x"), None);
    }
}
