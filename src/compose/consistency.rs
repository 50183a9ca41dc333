//! The semantic checks docker compose makes on a loaded project: every service has an image or
//! a build, references (depends_on, networks, volumes, secrets, configs, `service:` modes) point
//! at things that exist, `scale`/`deploy.replicas` and the resource shorthands agree, a
//! `container_name` is not shared by replicas, mounts do not collide, no dependency cycle.

use std::collections::BTreeMap;

use super::error::LoadError;
use super::model;
use super::node::{KeyPath, Node, Value};

pub fn check(dict: &Node) -> Result<(), LoadError> {
    let services = dict.get("services").and_then(Node::as_map);
    for (name, svc) in services.into_iter().flatten() {
        check_service(dict, name, svc)?;
    }
    for (name, secret) in dict
        .get("secrets")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let external = matches!(
            secret.get("external").map(|n| &n.value),
            Some(Value::Bool(true))
        );
        if !external && secret.get("file").is_none() && secret.get("environment").is_none() {
            return Err(LoadError::at(
                Some(secret),
                &KeyPath::root().key("secrets").key(name),
                "a secret must declare either `file` or `environment`",
            ));
        }
    }
    check_cycles(dict)
}

fn declared(dict: &Node, kind: &str, name: &str) -> bool {
    dict.get(kind)
        .and_then(Node::as_map)
        .is_some_and(|m| m.contains_key(name))
}

fn check_service(dict: &Node, name: &str, svc: &Node) -> Result<(), LoadError> {
    let path = KeyPath::root().key("services").key(name);
    let fail = |node: &Node, p: &KeyPath, msg: String| Err(LoadError::at(Some(node), p, msg));
    if svc.get("image").is_none() && svc.get("build").is_none() && svc.get("provider").is_none() {
        return fail(
            svc,
            &path,
            format!("service {name:?} has neither an image nor a build context specified"),
        );
    }
    if let Some(build) = svc.get("build")
        && build.get("dockerfile").is_some()
        && build.get("dockerfile_inline").is_some()
    {
        return fail(
            build,
            &path.key("build"),
            "dockerfile and dockerfile_inline are mutually exclusive".into(),
        );
    }
    for (net, node) in svc
        .get("networks")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        if !declared(dict, "networks", net) {
            return fail(
                node,
                &path.key("networks"),
                format!("service {name:?} refers to undefined network {net}"),
            );
        }
    }
    if let Some(test) = svc
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .and_then(Node::as_seq)
    {
        let first = test.first().and_then(Node::as_str).unwrap_or("");
        if !matches!(first, "CMD" | "CMD-SHELL" | "NONE") {
            return fail(
                svc,
                &path.key("healthcheck").key("test"),
                "must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"".into(),
            );
        }
    }
    check_references(dict, name, svc, &path)?;
    check_scale(name, svc, &path)?;
    check_resources(svc, &path)?;
    check_mounts(svc, &path)?;
    check_watch(svc, &path)
}

/// compose-go: every `develop.watch` rule but `rebuild` and `restart` needs a `target`.
fn check_watch(svc: &Node, path: &KeyPath) -> Result<(), LoadError> {
    let rules = svc
        .get("develop")
        .and_then(|d| d.get("watch"))
        .and_then(Node::as_seq);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let action = rule.get("action").and_then(Node::as_str).unwrap_or("");
        let target = rule.get("target").and_then(Node::as_str).unwrap_or("");
        if !matches!(action, "rebuild" | "restart") && target.is_empty() {
            return Err(LoadError::at(
                Some(rule),
                &path.key("develop").key("watch").index(i),
                "target is required for non-rebuild actions",
            ));
        }
    }
    Ok(())
}

fn check_references(dict: &Node, name: &str, svc: &Node, path: &KeyPath) -> Result<(), LoadError> {
    let services = dict.get("services");
    for (dep, cfg) in svc
        .get("depends_on")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let required = !matches!(
            cfg.get("required").map(|n| &n.value),
            Some(Value::Bool(false))
        );
        let exists = services.and_then(|s| s.get(dep)).is_some();
        if !exists && required {
            return Err(LoadError::at(
                Some(cfg),
                &path.key("depends_on"),
                format!("service {name:?} depends on undefined service {dep:?}"),
            ));
        }
    }
    if let Some(target) = svc
        .get("network_mode")
        .and_then(Node::as_str)
        .and_then(|m| m.strip_prefix("service:"))
        && services.and_then(|s| s.get(target)).is_none()
    {
        return Err(LoadError::at(
            svc.get("network_mode"),
            &path.key("network_mode"),
            format!("service {target:?} not found for network_mode 'service:{target}'"),
        ));
    }
    for (i, vol) in svc
        .get("volumes")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let is_volume = vol.get("type").and_then(Node::as_str) == Some("volume");
        if let Some(source) = vol
            .get("source")
            .and_then(Node::as_str)
            .filter(|s| is_volume && !s.is_empty())
            && !declared(dict, "volumes", source)
        {
            return Err(LoadError::at(
                Some(vol),
                &path.key("volumes").index(i),
                format!("service {name:?} refers to undefined volume {source}"),
            ));
        }
    }
    for (kind, field) in [("secrets", "secrets"), ("configs", "configs")] {
        for (i, mount) in svc
            .get(field)
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let source = mount
                .get("source")
                .and_then(Node::as_str)
                .unwrap_or_default();
            if !declared(dict, kind, source) {
                let singular = kind.trim_end_matches('s');
                return Err(LoadError::at(
                    Some(mount),
                    &path.key(field).index(i),
                    format!("service {name:?} refers to undefined {singular} {source}"),
                ));
            }
        }
    }
    let build_secrets = svc
        .get("build")
        .and_then(|b| b.get("secrets"))
        .and_then(Node::as_seq);
    for mount in build_secrets.into_iter().flatten() {
        let source = mount
            .get("source")
            .and_then(Node::as_str)
            .unwrap_or_default();
        if !declared(dict, "secrets", source) {
            return Err(LoadError::at(
                Some(mount),
                &path.key("build").key("secrets"),
                format!("service {name:?} refers to undefined build secret {source}"),
            ));
        }
    }
    Ok(())
}

fn int(node: Option<&Node>) -> Option<i64> {
    match node.map(|n| &n.value) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn check_scale(name: &str, svc: &Node, path: &KeyPath) -> Result<(), LoadError> {
    let scale = int(svc.get("scale"));
    let replicas = int(svc.get("deploy").and_then(|d| d.get("replicas")));
    if let (Some(s), Some(r)) = (scale, replicas)
        && s != r
    {
        return Err(LoadError::at(
            Some(svc),
            path,
            "can't set distinct values on 'scale' and 'deploy.replicas'",
        ));
    }
    if scale.is_some_and(|s| s < 0) {
        return Err(LoadError::at(
            svc.get("scale"),
            &path.key("scale"),
            "must be greater than or equal to 0",
        ));
    }
    if replicas.is_some_and(|r| r < 0) {
        return Err(LoadError::at(
            svc.get("deploy"),
            &path.key("deploy").key("replicas"),
            "must be greater than or equal to 0",
        ));
    }
    let count = scale.or(replicas).unwrap_or(1);
    if count > 1 && svc.get("container_name").is_some() {
        let attr = if scale.is_some() {
            "scale"
        } else {
            "deploy.replicas"
        };
        return Err(LoadError::at(
            svc.get("container_name"),
            path,
            format!(
                "can't set container_name and {attr} as container name must be unique (service {name:?})"
            ),
        ));
    }
    Ok(())
}

fn number(node: Option<&Node>) -> Option<f64> {
    match node.map(|n| &n.value) {
        Some(Value::Int(i)) => Some(*i as f64),
        Some(Value::Float(f)) => Some(*f),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bytes(node: Option<&Node>) -> Option<u64> {
    match node.map(|n| &n.value) {
        Some(Value::Int(i)) => u64::try_from(*i).ok(),
        Some(Value::String(s)) => model::ByteSize::parse(s)
            .ok()
            .and_then(|b| u64::try_from(b.0).ok()),
        _ => None,
    }
}

/// `cpus`, `mem_limit`, `mem_reservation`, `pids_limit` must agree with `deploy.resources`.
fn check_resources(svc: &Node, path: &KeyPath) -> Result<(), LoadError> {
    let resources = svc.get("deploy").and_then(|d| d.get("resources"));
    let limits = resources.and_then(|r| r.get("limits"));
    let reservations = resources.and_then(|r| r.get("reservations"));
    let conflict = |short: &str, long: &str| {
        Err(LoadError::at(
            Some(svc),
            path,
            format!("can't set distinct values on '{short}' and '{long}'"),
        ))
    };
    if let (Some(a), Some(b)) = (
        number(svc.get("cpus")),
        number(limits.and_then(|l| l.get("cpus"))),
    ) && (a - b).abs() > 1e-9
    {
        return conflict("cpus", "deploy.resources.limits.cpus");
    }
    if let (Some(a), Some(b)) = (
        bytes(svc.get("mem_limit")),
        bytes(limits.and_then(|l| l.get("memory"))),
    ) && a != b
    {
        return conflict("mem_limit", "deploy.resources.limits.memory");
    }
    if let (Some(a), Some(b)) = (
        bytes(svc.get("mem_reservation")),
        bytes(reservations.and_then(|l| l.get("memory"))),
    ) && a != b
    {
        return conflict("mem_reservation", "deploy.resources.reservations.memory");
    }
    if let (Some(a), Some(b)) = (
        int(svc.get("pids_limit")),
        int(limits.and_then(|l| l.get("pids"))),
    ) && a != b
    {
        return conflict("pids_limit", "deploy.resources.limits.pids");
    }
    Ok(())
}

fn check_mounts(svc: &Node, path: &KeyPath) -> Result<(), LoadError> {
    let mut mounts: BTreeMap<String, KeyPath> = BTreeMap::new();
    let tmpfs = svc
        .get("tmpfs")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten();
    let tmpfs_targets = tmpfs.enumerate().filter_map(|(i, t)| {
        let text = t.as_str()?;
        Some((
            text.split(':').next().unwrap_or(text).to_string(),
            path.key("tmpfs").index(i),
            t,
        ))
    });
    let volumes = svc
        .get("volumes")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten();
    let volume_targets = volumes.enumerate().filter_map(|(i, v)| {
        Some((
            v.get("target")?.as_str()?.to_string(),
            path.key("volumes").index(i),
            v,
        ))
    });
    for (target, at, node) in tmpfs_targets.chain(volume_targets) {
        if let Some(previous) = mounts.get(&target) {
            return Err(LoadError::at(
                Some(node),
                &at,
                format!("target {target} already mounted as {previous}"),
            ));
        }
        mounts.insert(target, at);
    }
    Ok(())
}

/// Depth-first search for a `depends_on` cycle, reported as `a -> b -> a`.
fn check_cycles(dict: &Node) -> Result<(), LoadError> {
    let Some(services) = dict.get("services").and_then(Node::as_map) else {
        return Ok(());
    };
    let deps = |name: &str| -> Vec<String> {
        services
            .get(name)
            .and_then(|s| s.get("depends_on"))
            .and_then(Node::as_map)
            .map(|m| {
                m.keys()
                    .filter(|k| services.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    fn visit(
        name: &str,
        deps: &dyn Fn(&str) -> Vec<String>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| s == name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        stack.push(name.to_string());
        for dep in deps(name) {
            if let Some(cycle) = visit(&dep, deps, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    for name in services.keys() {
        if let Some(cycle) = visit(name, &deps, &mut marks, &mut Vec::new()) {
            let at = services.get(&cycle[0]).and_then(|s| s.get("depends_on"));
            return Err(LoadError::at(
                at,
                &KeyPath::root()
                    .key("services")
                    .key(&cycle[0])
                    .key("depends_on"),
                format!("dependency cycle detected: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}
