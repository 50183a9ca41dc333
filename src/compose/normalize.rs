//! Normalization of the merged tree into the canonical project docker compose prints: the
//! implicit `default` network, build defaults, resolved `environment`/`build.args`, implicit
//! dependencies (`links`, `network_mode`/`ipc`/`pid`/`uts`/`cgroup: service:x`, `volumes_from`),
//! and resource names (`<project>_<key>`, or the key itself for external resources).

use super::environment::Environment;
use super::node::{Map, Node, Value};

pub fn normalize(dict: &mut Node, project_name: &str, env: &Environment) {
    normalize_networks(dict);
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            if let Some(map) = svc.as_map_mut() {
                normalize_service(map, env);
            }
        }
    }
    set_names_from_keys(dict, project_name);
}

fn normalize_service(svc: &mut Map, env: &Environment) {
    if svc.get("pull_policy").and_then(Node::as_str) == Some("if_not_present") {
        svc.insert("pull_policy".into(), Node::string("missing"));
    }
    if let Some(build) = svc.get_mut("build").and_then(Node::as_map_mut) {
        build
            .entry("context".into())
            .or_insert_with(|| Node::string("."));
        if !build.contains_key("dockerfile") && !build.contains_key("dockerfile_inline") {
            build.insert("dockerfile".into(), Node::string("Dockerfile"));
        }
        if let Some(args) = build.get_mut("args") {
            resolve_values(args, env, false);
        }
    }
    if let Some(environment) = svc.get_mut("environment") {
        resolve_values(environment, env, true);
    }
    add_implicit_dependencies(svc);
}

/// Fills value-less entries from `env`; entries still without a value are kept as `KEY` (null)
/// when `keep_empty`, dropped otherwise.
fn resolve_values(node: &mut Node, env: &Environment, keep_empty: bool) {
    match &mut node.value {
        Value::Map(map) => {
            let resolved: Map = std::mem::take(map)
                .into_iter()
                .filter_map(|(k, v)| {
                    if !v.is_null() {
                        return Some((k, v));
                    }
                    match env.get(&k) {
                        Some(value) => Some((k, Node::string(value.clone()).located(&v.loc))),
                        None if keep_empty => Some((k, v)),
                        None => None,
                    }
                })
                .collect();
            *map = resolved;
        }
        Value::Seq(items) => {
            let resolved: Vec<Node> = std::mem::take(items)
                .into_iter()
                .filter_map(|item| {
                    let text = item.scalar_text()?;
                    if text.contains('=') {
                        return Some(item);
                    }
                    match env.get(&text) {
                        Some(value) => {
                            Some(Node::string(format!("{text}={value}")).located(&item.loc))
                        }
                        None if keep_empty => Some(item),
                        None => None,
                    }
                })
                .collect();
            *items = resolved;
        }
        _ => {}
    }
}

fn implicit(restart: bool) -> Node {
    let mut m = Map::new();
    m.insert("condition".into(), Node::string("service_started"));
    m.insert("restart".into(), Node::new(Value::Bool(restart)));
    m.insert("required".into(), Node::new(Value::Bool(true)));
    Node::map(m)
}

fn add_implicit_dependencies(svc: &mut Map) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    for link in svc
        .get("links")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
    {
        if let Some(text) = link.as_str() {
            let name = text.split_once(':').map_or(text, |(n, _)| n);
            implied.push((name.to_string(), true));
        }
    }
    for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(shared) = svc
            .get(key)
            .and_then(Node::as_str)
            .and_then(|s| s.strip_prefix("service:"))
        {
            implied.push((shared.to_string(), true));
        }
    }
    for vol in svc
        .get("volumes_from")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
    {
        if let Some(text) = vol.as_str().filter(|t| !t.starts_with("container:")) {
            let name = text.split(':').next().unwrap_or(text);
            implied.push((name.to_string(), false));
        }
    }
    if implied.is_empty() {
        return;
    }
    let deps = svc
        .entry("depends_on".into())
        .or_insert_with(|| Node::map(Map::new()));
    if let Some(deps) = deps.as_map_mut() {
        for (name, restart) in implied {
            deps.entry(name).or_insert_with(|| implicit(restart));
        }
    }
}

/// Services join the `default` network unless they declare networks or a network mode; the
/// `default` network then exists implicitly.
fn normalize_networks(dict: &mut Node) {
    let mut uses_default = false;
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            let Some(map) = svc.as_map_mut() else {
                continue;
            };
            if map.contains_key("provider") || map.contains_key("network_mode") {
                continue;
            }
            let networks = map.get("networks").and_then(Node::as_map);
            match networks {
                Some(n) if !n.is_empty() => uses_default |= n.contains_key("default"),
                _ => {
                    let default = Map::from_iter([("default".to_string(), Node::null())]);
                    map.insert("networks".into(), Node::map(default));
                    uses_default = true;
                }
            }
        }
    }
    let Some(root) = dict.as_map_mut() else {
        return;
    };
    let networks = root
        .entry("networks".into())
        .or_insert_with(|| Node::map(Map::new()));
    if let Some(networks) = networks.as_map_mut() {
        if uses_default && !networks.contains_key("default") {
            networks.insert("default".into(), Node::null());
        }
    }
    if root
        .get("networks")
        .and_then(Node::as_map)
        .is_some_and(Map::is_empty)
    {
        root.shift_remove("networks");
    }
}

fn set_names_from_keys(dict: &mut Node, project_name: &str) {
    for kind in ["networks", "volumes", "configs", "secrets"] {
        let Some(resources) = dict.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for (key, resource) in resources.iter_mut() {
            if resource.is_null() {
                *resource = Node::at(Value::Map(Map::new()), resource.loc.clone());
            }
            let Some(map) = resource.as_map_mut() else {
                continue;
            };
            if map.get("name").is_some_and(|n| !n.is_null()) {
                continue;
            }
            let external = matches!(
                map.get("external").map(|n| &n.value),
                Some(Value::Bool(true))
            );
            let name = if external {
                key.clone()
            } else {
                format!("{project_name}_{key}")
            };
            map.insert("name".into(), Node::string(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;
    use serde_json::json;

    fn run(text: &str) -> serde_json::Value {
        let mut n = parse_documents(text, "n.yaml").unwrap().remove(0);
        let mut env = Environment::new();
        env.insert("FROM_ENV".into(), "v".into());
        normalize(&mut n, "proj", &env);
        n.to_json()
    }

    #[test]
    fn default_network_and_names() {
        let j = run(
            "services: {a: {image: x}, b: {image: y, network_mode: host}}\nvolumes: {data: null, ext: {external: true}}",
        );
        assert_eq!(j["services"]["a"]["networks"], json!({"default": null}));
        assert!(j["services"]["b"].get("networks").is_none());
        assert_eq!(j["networks"]["default"]["name"], "proj_default");
        assert_eq!(j["volumes"]["data"]["name"], "proj_data");
        assert_eq!(j["volumes"]["ext"]["name"], "ext");
    }

    #[test]
    fn implicit_dependencies() {
        let j = run(
            "services: {a: {image: x, links: ['db:database'], ipc: 'service:shm', volumes_from: [data, 'container:c'], depends_on: {db: {condition: service_healthy}}}}",
        );
        assert_eq!(
            j["services"]["a"]["depends_on"],
            json!({
                "db": {"condition": "service_healthy"},
                "shm": {"condition": "service_started", "restart": true, "required": true},
                "data": {"condition": "service_started", "restart": false, "required": true}
            })
        );
    }

    #[test]
    fn environment_resolution() {
        let j = run(
            "services: {a: {image: x, environment: [FROM_ENV, MISSING, A=1], build: {args: [FROM_ENV, NOPE]}}}",
        );
        assert_eq!(
            j["services"]["a"]["environment"],
            json!(["FROM_ENV=v", "MISSING", "A=1"])
        );
        assert_eq!(j["services"]["a"]["build"]["args"], json!(["FROM_ENV=v"]));
        assert_eq!(j["services"]["a"]["build"]["dockerfile"], "Dockerfile");
    }
}
