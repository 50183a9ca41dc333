//! What happens to the merged tree before it is a project: default values that docker compose
//! prints (`build.context: .`, secret targets, port protocol and mode, bind `create_host_path`),
//! the structural checks compose-go makes at this point, and `environment` entries without a
//! value filled from the project's variables.

use super::environment::Environment;
use super::error::LoadError;
use std::sync::LazyLock;

use super::node::{KeyPath, Node, PathTable, Value};

pub fn set_default_values(node: &mut Node, path: &KeyPath) {
    if let Some(set) = default_setter(path) {
        set(node);
        return;
    }
    if path.len() >= DEFAULTS.max_depth() {
        return;
    }
    match &mut node.value {
        Value::Map(map) => {
            for (k, v) in map.iter_mut() {
                set_default_values(v, &path.key(k));
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                set_default_values(v, &path.index(i));
            }
        }
        _ => {}
    }
}

type SetDefault = fn(&mut Node);

const DEFAULT_TABLE: &[(&str, SetDefault)] = &[
    ("services.*.build", |n| {
        insert_default(n, "context", Node::string("."))
    }),
    ("services.*.secrets.*", default_secret_target),
    ("services.*.ports.*", |n| {
        insert_default(n, "protocol", Node::string("tcp"));
        insert_default(n, "mode", Node::string("ingress"));
    }),
    (
        "services.*.deploy.resources.reservations.devices.*",
        default_device_request,
    ),
    ("services.*.gpus.*", default_device_request),
    ("services.*.volumes.*.bind", |n| {
        insert_default(n, "create_host_path", Node::new(Value::Bool(true)))
    }),
];

static DEFAULTS: LazyLock<PathTable<SetDefault>> =
    LazyLock::new(|| PathTable::new(DEFAULT_TABLE.iter().copied()));

fn default_setter(path: &KeyPath) -> Option<SetDefault> {
    DEFAULTS.find(path).copied()
}

fn insert_default(node: &mut Node, key: &str, value: Node) {
    if let Some(map) = node.as_map_mut() {
        map.entry(key.to_string()).or_insert(value);
    }
}

fn default_secret_target(node: &mut Node) {
    let Some(source) = node.get("source").and_then(Node::scalar_text) else {
        return;
    };
    insert_default(
        node,
        "target",
        Node::string(format!("/run/secrets/{source}")),
    );
}

/// A device request without `count` or `device_ids` asks for all devices.
fn default_device_request(node: &mut Node) {
    if node.get("count").is_none() && node.get("device_ids").is_none() {
        insert_default(node, "count", Node::string("all"));
    }
}

/// compose-go's `validation` checks, run on the merged tree.
pub fn validate(dict: &Node) -> Result<(), LoadError> {
    for (kind, keys) in [
        ("configs", &["file", "environment", "content"][..]),
        ("secrets", &["file", "environment"][..]),
    ] {
        for (name, obj) in dict.get(kind).and_then(Node::as_map).into_iter().flatten() {
            check_file_object(obj, &KeyPath::root().key(kind).key(name), keys)?;
        }
    }
    for (name, svc) in dict
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let path = KeyPath::root().key("services").key(name);
        for (i, port) in svc
            .get("ports")
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(ip) = port.get("host_ip").and_then(Node::as_str)
                && ip.parse::<std::net::IpAddr>().is_err()
            {
                return Err(LoadError::at(
                    Some(port),
                    &path.key("ports").index(i),
                    format!("invalid ip address: {ip}"),
                ));
            }
        }
        let watch = svc
            .get("develop")
            .and_then(|d| d.get("watch"))
            .and_then(Node::as_seq);
        for (i, rule) in watch.into_iter().flatten().enumerate() {
            if rule.get("path").and_then(Node::as_str) == Some("") {
                return Err(LoadError::at(
                    Some(rule),
                    &path.key("develop").key("watch").index(i).key("path"),
                    "value can't be blank",
                ));
            }
        }
    }
    Ok(())
}

fn check_file_object(obj: &Node, path: &KeyPath, keys: &[&str]) -> Result<(), LoadError> {
    let Some(map) = obj.as_map() else {
        return Ok(());
    };
    let count = keys.iter().filter(|k| map.contains_key(**k)).count();
    let alternatives = keys.join("|");
    if count > 1 {
        return Err(LoadError::at(
            Some(obj),
            path,
            format!("{alternatives} attributes are mutually exclusive"),
        ));
    }
    if count == 0 && !map.contains_key("driver") && !map.contains_key("external") {
        return Err(LoadError::at(
            Some(obj),
            path,
            format!("one of {alternatives} must be set"),
        ));
    }
    Ok(())
}

/// Value-less `environment` list entries take the project's value when it has one, and
/// secrets/configs declared `environment:` get their content from it.
pub fn resolve_environment(dict: &mut Node, env: &Environment) {
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            let Some(items) = svc.get_mut("environment").and_then(Node::as_seq_mut) else {
                continue;
            };
            for item in items.iter_mut() {
                if let Some(value) = item.as_str().and_then(|k| env.get(k)) {
                    let text = format!("{}={value}", item.as_str().unwrap_or_default());
                    item.value = Value::String(text);
                }
            }
        }
    }
    for (kind, target) in [("secrets", "x-#value"), ("configs", "content")] {
        let Some(objects) = dict.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for obj in objects.values_mut() {
            let found = obj
                .get("environment")
                .and_then(Node::as_str)
                .and_then(|k| env.get(k))
                .cloned();
            if let (Some(value), Some(map)) = (found, obj.as_map_mut()) {
                map.insert(target.to_string(), Node::string(value));
            }
        }
    }
}
