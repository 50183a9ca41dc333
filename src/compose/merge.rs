//! The Compose merge rules, applied when several `-f` files or an `extends` chain describe the
//! same project: mappings merge key by key, sequences append, scalars are replaced, and a table
//! of special paths (mirroring compose-go's `override` package) says where a key/value list is
//! merged as a set (`environment`, `labels`…), where the later value replaces (`command`), and
//! which sequences are unique by a key (`ports` by host/published/target/protocol, `volumes` by
//! target…).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::node::{KeyPath, Map, Node, PathTable, Value};

/// Merges `over` into `base` (the later file wins), at tree position `path`.
pub fn merge(base: Node, over: Node, path: &KeyPath) -> Node {
    if let Some(special) = special_merge(path) {
        return special(base, over, path);
    }
    if over.is_null() {
        return base;
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            loc: base.loc,
            tag: over.tag,
        },
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o);
            Node {
                value: Value::Seq(b),
                loc: base.loc,
                tag: over.tag,
            }
        }
        (_, value) => Node {
            value,
            loc: over.loc,
            tag: over.tag,
        },
    }
}

pub fn merge_maps(mut base: Map, over: Map, path: &KeyPath) -> Map {
    for (k, v) in over {
        match base.shift_remove_full(&k) {
            Some((index, _, existing)) => {
                let merged = merge(existing, v, &path.key(&k));
                base.shift_insert(index, k, merged);
            }
            None => {
                base.insert(k, v);
            }
        }
    }
    base
}

type Merger = fn(Node, Node, &KeyPath) -> Node;

static SPECIAL_MERGES: LazyLock<PathTable<Merger>> = LazyLock::new(|| {
    const TO_SEQUENCE: &[&str] = &[
        "networks.*.labels",
        "volumes.*.labels",
        "services.*.annotations",
        "services.*.build.args",
        "services.*.build.additional_contexts",
        "services.*.build.labels",
        "services.*.deploy.labels",
        "services.*.dns",
        "services.*.dns_opt",
        "services.*.dns_search",
        "services.*.env_file",
        "services.*.label_file",
        "services.*.environment",
        "services.*.labels",
        "services.*.volumes.*.volume.labels",
        "services.*.sysctls",
        "services.*.tmpfs",
    ];
    const REPLACE: &[&str] = &[
        "services.*.command",
        "services.*.entrypoint",
        "services.*.healthcheck.test",
    ];
    let table: &[(&str, Merger)] = &[
        ("networks.*.ipam.config", merge_ipam_config),
        ("services.*.build", merge_build),
        ("services.*.build.extra_hosts", merge_extra_hosts),
        ("services.*.extra_hosts", merge_extra_hosts),
        ("services.*.depends_on", merge_depends_on),
        ("services.*.networks", merge_networks),
        ("services.*.logging", merge_logging),
        ("services.*.ulimits.*", merge_ulimit),
    ];
    let replace: Merger = |_, over, _| over;
    PathTable::new(
        TO_SEQUENCE
            .iter()
            .map(|p| (*p, merge_to_sequence as Merger))
            .chain(REPLACE.iter().map(|p| (*p, replace)))
            .chain(table.iter().copied()),
    )
});

fn special_merge(path: &KeyPath) -> Option<Merger> {
    SPECIAL_MERGES.find(path).copied()
}

/// Key/value settings given as a list or a mapping merge as a list of `KEY=VALUE` strings;
/// uniqueness by key (see [`enforce_unicity`]) then lets the later value win.
fn merge_to_sequence(base: Node, over: Node, _: &KeyPath) -> Node {
    let loc = base.loc.clone();
    let mut items = into_sequence(base);
    items.extend(into_sequence(over));
    Node::at(Value::Seq(items), loc)
}

/// A mapping as a sorted `KEY=VALUE` list (`KEY` alone for a null value), as compose-go does.
pub fn into_sequence(node: Node) -> Vec<Node> {
    match node.value {
        Value::Map(map) => {
            let mut items: Vec<Node> = Vec::new();
            for (k, v) in map {
                let loc = v.loc.clone();
                match v.value {
                    Value::Null => items.push(Node::at(Value::String(k), loc)),
                    Value::Seq(list) => items.extend(list.into_iter().map(|e| {
                        let text = format!("{k}={}", e.scalar_text().unwrap_or_default());
                        Node::at(Value::String(text), e.loc)
                    })),
                    _ => {
                        let text = format!("{k}={}", v.scalar_text().unwrap_or_default());
                        items.push(Node::at(Value::String(text), loc));
                    }
                }
            }
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            items
        }
        Value::Seq(items) => items,
        Value::String(_) => vec![node],
        _ => Vec::new(),
    }
}

fn into_mapping(node: Node, default: Option<&Node>) -> Node {
    match node.value {
        Value::Seq(items) => {
            let map = items
                .into_iter()
                .filter_map(|item| {
                    let key = item.scalar_text()?;
                    let value = default
                        .cloned()
                        .unwrap_or_else(Node::null)
                        .located(&item.loc);
                    Some((key, value))
                })
                .collect();
            Node::at(Value::Map(map), node.loc)
        }
        _ => node,
    }
}

fn default_dependency() -> Node {
    let mut m = Map::default();
    m.insert("condition".into(), Node::string("service_started"));
    m.insert("required".into(), Node::new(Value::Bool(true)));
    Node::map(m)
}

fn merge_maps_nodes(base: Node, over: Node, path: &KeyPath) -> Node {
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node::at(Value::Map(merge_maps(b, o, path)), base.loc),
        (_, value) => Node::at(value, over.loc),
    }
}

fn merge_depends_on(base: Node, over: Node, path: &KeyPath) -> Node {
    let dflt = default_dependency();
    merge_maps_nodes(
        into_mapping(base, Some(&dflt)),
        into_mapping(over, Some(&dflt)),
        path,
    )
}

fn merge_networks(base: Node, over: Node, path: &KeyPath) -> Node {
    merge_maps_nodes(into_mapping(base, None), into_mapping(over, None), path)
}

fn merge_build(base: Node, over: Node, path: &KeyPath) -> Node {
    fn to_build(n: Node) -> Node {
        match n.value {
            Value::String(s) => {
                let mut m = Map::default();
                m.insert("context".into(), Node::at(Value::String(s), n.loc.clone()));
                Node::at(Value::Map(m), n.loc)
            }
            _ => n,
        }
    }
    merge_maps_nodes(to_build(base), to_build(over), path)
}

/// Logging options merge only when both sides use the same driver (or one names none).
fn merge_logging(base: Node, over: Node, path: &KeyPath) -> Node {
    let same = match (base.get("driver"), over.get("driver")) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    if same {
        merge_maps_nodes(base, over, path)
    } else {
        over
    }
}

fn merge_ulimit(base: Node, over: Node, path: &KeyPath) -> Node {
    if base.as_map().is_some() && over.as_map().is_some() {
        merge_maps_nodes(base, over, path)
    } else {
        over
    }
}

fn merge_extra_hosts(base: Node, over: Node, _: &KeyPath) -> Node {
    let loc = base.loc.clone();
    // A mapping form becomes `host=ip` entries, like every key/value list.
    let mut items = into_sequence(base);
    for item in into_sequence(over) {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Node::at(Value::Seq(items), loc)
}

/// IPAM configs merge by subnet.
fn merge_ipam_config(base: Node, over: Node, path: &KeyPath) -> Node {
    let loc = base.loc.clone();
    let mut result: Vec<Node> = match base.value {
        Value::Seq(items) => items,
        _ => Vec::new(),
    };
    for item in over.as_seq().cloned().unwrap_or_default() {
        let subnet = item.get("subnet").cloned();
        match result
            .iter()
            .position(|e| e.get("subnet").cloned() == subnet)
        {
            Some(i) => {
                let existing = result.remove(i);
                result.insert(i, merge_maps_nodes(existing, item, path));
            }
            None => result.push(item),
        }
    }
    Node::at(Value::Seq(result), loc)
}

/// Removes earlier entries that a later entry redefines, in sequences that are sets keyed by
/// something (a later `PORT=2` replaces `PORT=1` in place).
pub fn enforce_unicity(node: &mut Node, path: &KeyPath) {
    match &mut node.value {
        Value::Map(map) if path.len() < INDEXERS.max_depth() => {
            for (k, v) in map.iter_mut() {
                enforce_unicity(v, &path.key(k));
            }
        }
        Value::Seq(items) => {
            if let Some(indexer) = unicity_indexer(path) {
                let mut seen: HashMap<String, usize> = HashMap::new();
                let mut unique: Vec<Node> = Vec::new();
                for item in items.drain(..) {
                    let Some(key) = indexer(&item) else {
                        unique.push(item);
                        continue;
                    };
                    match seen.get(&key) {
                        Some(&i) => unique[i] = item,
                        None => {
                            seen.insert(key, unique.len());
                            unique.push(item);
                        }
                    }
                }
                *items = unique;
            }
        }
        _ => {}
    }
}

type Indexer = fn(&Node) -> Option<String>;

static INDEXERS: LazyLock<PathTable<Indexer>> = LazyLock::new(|| {
    const KEY_VALUE: &[&str] = &[
        "networks.*.labels",
        "networks.*.ipam.options",
        "services.*.annotations",
        "services.*.build.args",
        "services.*.build.additional_contexts",
        "services.*.build.platforms",
        "services.*.build.tags",
        "services.*.build.labels",
        "services.*.cap_add",
        "services.*.cap_drop",
        "services.*.deploy.labels",
        "services.*.dns",
        "services.*.dns_opt",
        "services.*.dns_search",
        "services.*.environment",
        "services.*.labels",
        "services.*.links",
        "services.*.networks.*.aliases",
        "services.*.networks.*.link_local_ips",
        "services.*.profiles",
        "services.*.sysctls",
        "services.*.tmpfs",
    ];
    let key_value: Indexer = |n| {
        let text = n.scalar_text()?;
        Some(
            text.split_once('=')
                .map_or(text.clone(), |(k, _)| k.to_string()),
        )
    };
    let table: &[(&str, Indexer)] = &[
        ("services.*.volumes", volume_key),
        ("services.*.devices", device_key),
        ("services.*.env_file", env_file_key),
        ("services.*.expose", |n| n.scalar_text()),
        ("services.*.ports", port_key),
        ("services.*.secrets", |n| mount_key(n, "/run/secrets")),
        ("services.*.configs", |n| mount_key(n, "")),
    ];
    PathTable::new(
        KEY_VALUE
            .iter()
            .map(|p| (*p, key_value))
            .chain(table.iter().copied()),
    )
});

fn unicity_indexer(path: &KeyPath) -> Option<Indexer> {
    INDEXERS.find(path).copied()
}

fn volume_key(n: &Node) -> Option<String> {
    match &n.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_text),
        Value::String(s) => super::canonical::volume_target(s),
        _ => None,
    }
}

fn device_key(n: &Node) -> Option<String> {
    match &n.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_text),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(parts.get(1).unwrap_or(&parts[0]).to_string())
        }
        _ => None,
    }
}

fn env_file_key(n: &Node) -> Option<String> {
    match &n.value {
        Value::Map(m) => m.get("path").and_then(Node::scalar_text),
        _ => n.scalar_text(),
    }
}

fn mount_key(n: &Node, default_dir: &str) -> Option<String> {
    match &n.value {
        Value::Map(m) => match m.get("target") {
            Some(t) => t.scalar_text(),
            None => Some(format!("{default_dir}/{}", m.get("source")?.scalar_text()?)),
        },
        _ => Some(format!("{default_dir}/{}", n.scalar_text()?)),
    }
}

fn port_key(n: &Node) -> Option<String> {
    match &n.value {
        Value::Map(m) => {
            let text = |k: &str, d: &str| {
                m.get(k)
                    .and_then(Node::scalar_text)
                    .unwrap_or_else(|| d.to_string())
            };
            Some(format!(
                "{}:{}:{}/{}",
                text("host_ip", "0.0.0.0"),
                text("published", ""),
                text("target", ""),
                text("protocol", "tcp")
            ))
        }
        _ => n.scalar_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    fn doc(text: &str) -> Node {
        parse_documents(text, "t.yaml").unwrap().remove(0)
    }

    fn merged(a: &str, b: &str) -> serde_json::Value {
        let mut n = merge(doc(a), doc(b), &KeyPath::root());
        enforce_unicity(&mut n, &KeyPath::root());
        n.to_json()
    }

    #[test]
    fn scalars_replace_and_maps_merge() {
        let j = merged(
            "services: {a: {image: x, tty: true}}",
            "services: {a: {image: y}}",
        );
        assert_eq!(
            j,
            serde_json::json!({"services": {"a": {"image": "y", "tty": true}}})
        );
    }

    #[test]
    fn environment_merges_by_key() {
        let j = merged(
            "services: {a: {environment: {A: '1', B: '2'}}}",
            "services: {a: {environment: [A=3, C]}}",
        );
        assert_eq!(
            j["services"]["a"]["environment"],
            serde_json::json!(["A=3", "B=2", "C"])
        );
    }

    #[test]
    fn command_is_replaced_and_volumes_unique_by_target() {
        let j = merged(
            "services: {a: {command: [a, b], volumes: ['./x:/data', '/y:/other']}}",
            "services: {a: {command: [c], volumes: ['./z:/data']}}",
        );
        assert_eq!(j["services"]["a"]["command"], serde_json::json!(["c"]));
        assert_eq!(
            j["services"]["a"]["volumes"],
            serde_json::json!(["./z:/data", "/y:/other"])
        );
    }

    #[test]
    fn depends_on_list_becomes_mapping() {
        let j = merged(
            "services: {a: {depends_on: [db]}}",
            "services: {a: {depends_on: {db: {condition: service_healthy}}}}",
        );
        assert_eq!(
            j["services"]["a"]["depends_on"],
            serde_json::json!({"db": {"condition": "service_healthy", "required": true}})
        );
    }

    #[test]
    fn logging_with_another_driver_replaces() {
        let j = merged(
            "services: {a: {logging: {driver: json-file, options: {max-size: 1m}}}}",
            "services: {a: {logging: {driver: syslog}}}",
        );
        assert_eq!(
            j["services"]["a"]["logging"],
            serde_json::json!({"driver": "syslog"})
        );
    }
}
