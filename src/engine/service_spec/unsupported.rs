//! Service keys rcompose's runtime has no equivalent for. Each is an error only when set (or set
//! to something other than what every container gets anyway, like `ipc: private`).

use super::SpecError;
use crate::compose::model::{CgroupNs, ServiceConfig};

/// Fails on the first key in the list below that the service sets.
pub(super) fn check(s: &ServiceConfig) -> Result<(), SpecError> {
    let windows = "Windows only";
    let devices = "containers have no device access";
    let set: [(bool, &str, &str); 27] = [
        (
            !s.annotations.is_empty(),
            "annotations",
            "OCI annotations are not passed to the runtime",
        ),
        (
            s.blkio_config.is_some(),
            "blkio_config",
            "no block I/O limits",
        ),
        (
            !s.cgroup_parent.is_empty(),
            "cgroup_parent",
            "the cgroup parent is set per runtime, not per service",
        ),
        (
            s.cgroup == Some(CgroupNs::Private),
            "cgroup",
            "no cgroup namespace (containers see the host's, `cgroup: host`)",
        ),
        (s.cpu_count != 0, "cpu_count", windows),
        (s.cpu_percent != 0.0, "cpu_percent", windows),
        (
            s.cpu_rt_period != 0,
            "cpu_rt_period",
            "no realtime scheduler limits",
        ),
        (
            s.cpu_rt_runtime != 0,
            "cpu_rt_runtime",
            "no realtime scheduler limits",
        ),
        (s.credential_spec.is_some(), "credential_spec", windows),
        (
            !s.device_cgroup_rules.is_empty(),
            "device_cgroup_rules",
            devices,
        ),
        (!s.devices.is_empty(), "devices", devices),
        (!s.gpus.is_empty(), "gpus", devices),
        (
            !matches!(s.ipc.as_str(), "" | "private" | "shareable"),
            "ipc",
            "each container has its own IPC namespace",
        ),
        (
            !matches!(s.isolation.as_str(), "" | "default"),
            "isolation",
            windows,
        ),
        (
            !s.label_files.is_empty(),
            "label_file",
            "label files are not read yet: use `labels`",
        ),
        (
            s.mem_swappiness.0 != 0,
            "mem_swappiness",
            "no per-container swappiness",
        ),
        (!s.models.is_empty(), "models", "there is no model runner"),
        (
            s.oom_kill_disable,
            "oom_kill_disable",
            "the OOM killer cannot be disabled per container",
        ),
        (
            s.oom_score_adj != 0,
            "oom_score_adj",
            "no per-container OOM score",
        ),
        (
            !s.pid.is_empty(),
            "pid",
            "each container has its own PID namespace",
        ),
        (
            s.provider.is_some(),
            "provider",
            "provider services are not supported",
        ),
        (
            !s.runtime.is_empty(),
            "runtime",
            "rcompose runs containers with its bundled runtime only",
        ),
        (
            !s.storage_opt.is_empty(),
            "storage_opt",
            "no per-container storage options",
        ),
        (
            s.use_api_socket,
            "use_api_socket",
            "there is no Docker API socket",
        ),
        (
            !s.userns_mode.is_empty(),
            "userns_mode",
            "no user namespaces",
        ),
        (
            !s.uts.is_empty(),
            "uts",
            "each container has its own UTS namespace",
        ),
        (
            !s.volumes_from.is_empty() || !s.external_links.is_empty(),
            volumes_or_links(s),
            "not supported yet",
        ),
    ];
    match set.iter().find(|(on, _, _)| *on) {
        Some((_, key, reason)) => Err(SpecError::unsupported(&s.name, key, *reason)),
        None => Ok(()),
    }
}

fn volumes_or_links(s: &ServiceConfig) -> &'static str {
    if s.volumes_from.is_empty() {
        "external_links"
    } else {
        "volumes_from"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;

    fn check_yaml(yaml: &str) -> Result<(), SpecError> {
        let p: Project = serde_norway::from_str(&format!("services: {{app: {yaml}}}")).unwrap();
        check(&p.services["app"])
    }

    #[test]
    fn set_keys_the_runtime_cannot_honour_are_errors() {
        for (yaml, key) in [
            ("{devices: ['/dev/fuse']}", "devices"),
            ("{gpus: all}", "gpus"),
            ("{ipc: host}", "ipc"),
            ("{pid: host}", "pid"),
            ("{uts: host}", "uts"),
            ("{userns_mode: host}", "userns_mode"),
            ("{runtime: runc}", "runtime"),
            ("{isolation: hyperv}", "isolation"),
            ("{cgroup_parent: custom}", "cgroup_parent"),
            ("{cgroup: private}", "cgroup"),
            ("{oom_score_adj: 500}", "oom_score_adj"),
            ("{volumes_from: [db]}", "volumes_from"),
            ("{external_links: [redis]}", "external_links"),
            ("{label_file: ./l.txt}", "label_file"),
            ("{storage_opt: {size: 1G}}", "storage_opt"),
            ("{blkio_config: {weight: 300}}", "blkio_config"),
        ] {
            let e = check_yaml(yaml).unwrap_err();
            let SpecError::Unsupported {
                service, key: k, ..
            } = &e
            else {
                panic!("{yaml}: {e:?}");
            };
            assert_eq!((service.as_str(), k.as_str()), ("app", key), "{yaml}");
            assert!(
                e.to_string()
                    .starts_with(&format!("service \"app\": `{key}` is not supported: "))
            );
        }
    }

    #[test]
    fn defaults_spelled_out_are_fine() {
        for yaml in [
            "{image: x}",
            "{ipc: private}",
            "{ipc: shareable}",
            "{isolation: default}",
            "{cgroup: host}",
        ] {
            assert_eq!(check_yaml(yaml), Ok(()), "{yaml}");
        }
    }
}
