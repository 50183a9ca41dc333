//! Short syntax to long syntax on the tree (compose-go's `transform` package), so that later
//! files merge with earlier ones entry by entry: `ports: ["80:80"]` becomes a list of port
//! mappings, `depends_on: [db]` a mapping with conditions, `build: .` a mapping with a context.
//! Port and volume strings are parsed by the typed model, so there is one parser of each syntax.

use serde::Serialize;

use super::error::LoadError;
use super::model;
use super::node::{KeyPath, Map, Node, Value};

/// Rewrites every short form under `node` (the whole project tree) into its long form.
pub fn canonical(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    if let Some(transform) = transformer(path) {
        return transform(node, path);
    }
    match &mut node.value {
        Value::Map(map) => {
            for (k, v) in map.iter_mut() {
                canonical(v, &path.key(k))?;
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                canonical(v, &path.index(i))?;
            }
        }
        _ => {}
    }
    Ok(())
}

type Transform = fn(&mut Node, &KeyPath) -> Result<(), LoadError>;

fn transformer(path: &KeyPath) -> Option<Transform> {
    let table: &[(&str, Transform)] = &[
        ("services.*.build", build),
        ("services.*.build.secrets.*", file_mount),
        ("services.*.build.additional_contexts", key_value_map),
        ("services.*.build.ssh", ssh),
        ("services.*.depends_on", depends_on),
        ("services.*.env_file", env_file),
        ("services.*.label_file", string_or_list),
        ("services.*.dns", string_or_list),
        ("services.*.develop.watch.*.ignore", string_or_list),
        ("services.*.develop.watch.*.include", string_or_list),
        ("services.*.extends", extends),
        ("services.*.gpus", gpus),
        ("services.*.networks", list_to_null_map),
        ("services.*.models", list_to_null_map),
        ("services.*.volumes.*", volume),
        ("services.*.devices.*", device),
        ("services.*.secrets.*", file_mount),
        ("services.*.configs.*", file_mount),
        ("services.*.ports", ports),
        ("volumes.*", maybe_external),
        ("networks.*", maybe_external),
        ("secrets.*", maybe_external),
        ("configs.*", maybe_external),
        ("include.*", include),
    ];
    table.iter().find(|(p, _)| path.matches(p)).map(|(_, t)| *t)
}

fn expected(node: &Node, path: &KeyPath, what: &str) -> LoadError {
    LoadError::at(
        Some(node),
        path,
        format!("expected {what}, got {}", node.kind()),
    )
}

fn wrap_string(node: &mut Node, key: &str) {
    if let Value::String(s) = &node.value {
        let mut m = Map::new();
        m.insert(
            key.to_string(),
            Node::at(Value::String(s.clone()), node.loc.clone()),
        );
        node.value = Value::Map(m);
    }
}

fn build(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::String(_) => wrap_string(node, "context"),
        Value::Map(_) => {
            for (k, v) in node.as_map_mut().into_iter().flatten() {
                canonical(v, &path.key(k))?;
            }
        }
        _ => {
            return Err(expected(
                node,
                path,
                "a build context path or a build mapping",
            ));
        }
    }
    Ok(())
}

fn file_mount(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match node.value {
        Value::String(_) => wrap_string(node, "source"),
        Value::Map(_) => {}
        _ => return Err(expected(node, path, "a name or a mapping")),
    }
    Ok(())
}

fn string_or_list(node: &mut Node, _: &KeyPath) -> Result<(), LoadError> {
    if let Value::String(_) = node.value {
        let item = node.clone();
        node.value = Value::Seq(vec![item]);
    }
    Ok(())
}

fn extends(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match node.value {
        Value::String(_) => wrap_string(node, "service"),
        Value::Map(_) => {}
        _ => return Err(expected(node, path, "a service name or a mapping")),
    }
    Ok(())
}

fn include(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match node.value {
        Value::String(_) => wrap_string(node, "path"),
        Value::Map(_) => {}
        _ => return Err(expected(node, path, "a path or a mapping")),
    }
    Ok(())
}

fn key_value_map(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    let Value::Seq(items) = &node.value else {
        return Ok(());
    };
    let mut map = Map::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.scalar_text().unwrap_or_default();
        let Some((k, v)) = text.split_once('=') else {
            return Err(LoadError::at(
                Some(item),
                &path.index(i),
                format!("invalid value {text:?}, expected key=value"),
            ));
        };
        map.insert(
            k.to_string(),
            Node::at(Value::String(v.to_string()), item.loc.clone()),
        );
    }
    node.value = Value::Map(map);
    Ok(())
}

fn ssh(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    let Value::Seq(items) = &node.value else {
        return Ok(());
    };
    let mut map = Map::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.scalar_text().unwrap_or_default();
        match text.split_once('=') {
            Some((id, p)) => map.insert(id.to_string(), Node::string(p)),
            None if text == "default" => map.insert(text, Node::null()),
            None => {
                return Err(LoadError::at(
                    Some(item),
                    &path.index(i),
                    format!("invalid ssh key {text:?}"),
                ));
            }
        };
    }
    node.value = Value::Map(map);
    Ok(())
}

fn dependency(condition: Node, required: Node) -> Map {
    let mut m = Map::new();
    m.insert("condition".into(), condition);
    m.insert("required".into(), required);
    m
}

fn depends_on(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Seq(items) => {
            let mut map = Map::new();
            for (i, item) in items.iter().enumerate() {
                let name = item
                    .as_str()
                    .ok_or_else(|| expected(item, &path.index(i), "a service name"))?;
                let dep = dependency(
                    Node::string("service_started"),
                    Node::new(Value::Bool(true)),
                );
                map.insert(
                    name.to_string(),
                    Node::at(Value::Map(dep), item.loc.clone()),
                );
            }
            node.value = Value::Map(map);
        }
        Value::Map(map) => {
            for (k, v) in map.iter_mut() {
                let Some(dep) = v.as_map_mut() else {
                    return Err(expected(v, &path.key(k), "a mapping with a condition"));
                };
                dep.entry("condition".into())
                    .or_insert_with(|| Node::string("service_started"));
                dep.entry("required".into())
                    .or_insert_with(|| Node::new(Value::Bool(true)));
            }
        }
        _ => return Err(expected(node, path, "a list or a mapping of services")),
    }
    Ok(())
}

fn env_file(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    string_or_list(node, path)?;
    let Value::Seq(items) = &mut node.value else {
        return Err(expected(node, path, "a path or a list of paths"));
    };
    for item in items.iter_mut() {
        match &mut item.value {
            Value::String(_) => {
                wrap_string(item, "path");
                if let Some(m) = item.as_map_mut() {
                    m.insert("required".into(), Node::new(Value::Bool(true)));
                }
            }
            Value::Map(m) => {
                m.entry("required".into())
                    .or_insert_with(|| Node::new(Value::Bool(true)));
            }
            _ => return Err(expected(item, path, "an env file path or mapping")),
        }
    }
    Ok(())
}

fn gpus(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match node.value {
        Value::String(_) => {
            let mut m = Map::new();
            m.insert("count".into(), Node::string("all"));
            node.value = Value::Seq(vec![Node::map(m)]);
            Ok(())
        }
        Value::Seq(_) => Ok(()),
        _ => Err(expected(node, path, "\"all\" or a list of device requests")),
    }
}

fn list_to_null_map(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    if let Value::Seq(items) = &node.value {
        let mut map = Map::new();
        for (i, item) in items.iter().enumerate() {
            let name = item
                .as_str()
                .ok_or_else(|| expected(item, &path.index(i), "a name"))?;
            map.insert(name.to_string(), Node::at(Value::Null, item.loc.clone()));
        }
        node.value = Value::Map(map);
    }
    Ok(())
}

fn device(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    let Value::String(spec) = &node.value else {
        return Ok(());
    };
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() > 3 {
        return Err(LoadError::at(
            Some(node),
            path,
            format!("confusing device mapping {spec:?}, please use long syntax"),
        ));
    }
    let source = parts[0];
    let target = parts
        .get(1)
        .filter(|t| !t.is_empty())
        .copied()
        .unwrap_or(source);
    let permissions = parts.get(2).copied().unwrap_or("rwm");
    let mut m = Map::new();
    m.insert("source".into(), Node::string(source));
    m.insert("target".into(), Node::string(target));
    m.insert("permissions".into(), Node::string(permissions));
    node.value = Value::Map(m);
    Ok(())
}

/// `external: {name: x}` (the old syntax) becomes `external: true` plus `name: x`.
fn maybe_external(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    let Some(resource) = node.as_map_mut() else {
        return Ok(());
    };
    let Some(ext) = resource.get("external") else {
        return Ok(());
    };
    let Some(ext_name) = ext.as_map().map(|m| m.get("name").cloned()) else {
        return Ok(());
    };
    let loc = ext.loc.clone();
    resource.insert("external".into(), Node::at(Value::Bool(true), loc));
    if let Some(ext_name) = ext_name {
        match resource.get("name") {
            Some(name) if *name != ext_name => {
                return Err(LoadError::at(
                    Some(&ext_name),
                    path,
                    "name and external.name conflict; only use name",
                ));
            }
            Some(_) => {}
            None => {
                resource.insert("name".into(), ext_name);
            }
        }
    }
    Ok(())
}

fn to_node<T: Serialize>(value: &T, loc: &Option<super::node::Location>) -> Node {
    let json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let mut node = Node::from_json(&json);
    set_loc(&mut node, loc);
    node
}

fn set_loc(node: &mut Node, loc: &Option<super::node::Location>) {
    node.loc = loc.clone();
    match &mut node.value {
        Value::Map(m) => m.values_mut().for_each(|v| set_loc(v, loc)),
        Value::Seq(items) => items.iter_mut().for_each(|v| set_loc(v, loc)),
        _ => {}
    }
}

fn volume(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::Map(_) => Ok(()),
        Value::String(spec) => {
            let parsed = model::parse_volume_spec(spec)
                .map_err(|e| LoadError::at(Some(node), path, e.to_string()))?;
            *node = to_node(&parsed, &node.loc);
            Ok(())
        }
        _ => Err(expected(node, path, "a volume string or mapping")),
    }
}

/// The target of a short volume string, for telling which volumes a later file redefines.
pub fn volume_target(spec: &str) -> Option<String> {
    let parsed = model::parse_volume_spec(spec).ok()?;
    serde_json::to_value(&parsed)
        .ok()?
        .get("target")?
        .as_str()
        .map(str::to_string)
}

fn ports(node: &mut Node, path: &KeyPath) -> Result<(), LoadError> {
    let Value::Seq(items) = &node.value else {
        return Err(expected(node, path, "a list of ports"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let spec = match &item.value {
            Value::Map(_) => {
                out.push(item.clone());
                continue;
            }
            Value::Int(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => {
                return Err(expected(
                    item,
                    &path.index(i),
                    "a port string, number or mapping",
                ));
            }
        };
        let parsed = model::parse_port_spec(&spec)
            .map_err(|e| LoadError::at(Some(item), &path.index(i), e.to_string()))?;
        out.extend(parsed.iter().map(|p| to_node(p, &item.loc)));
    }
    node.value = Value::Seq(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;
    use serde_json::json;

    fn canon(text: &str) -> serde_json::Value {
        let mut n = parse_documents(text, "c.yaml").unwrap().remove(0);
        canonical(&mut n, &KeyPath::root()).unwrap();
        n.to_json()
    }

    #[test]
    fn short_forms_become_long() {
        let j = canon(
            "services: {a: {build: ., depends_on: [db], env_file: x.env, networks: [front], secrets: [s], dns: 8.8.8.8, devices: ['/dev/fuse']}}",
        );
        let a = &j["services"]["a"];
        assert_eq!(a["build"], json!({"context": "."}));
        assert_eq!(
            a["depends_on"],
            json!({"db": {"condition": "service_started", "required": true}})
        );
        assert_eq!(a["env_file"], json!([{"path": "x.env", "required": true}]));
        assert_eq!(a["networks"], json!({"front": null}));
        assert_eq!(a["secrets"], json!([{"source": "s"}]));
        assert_eq!(a["dns"], json!(["8.8.8.8"]));
        assert_eq!(
            a["devices"],
            json!([{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}])
        );
    }

    #[test]
    fn ports_expand_ranges() {
        let j = canon("services: {a: {ports: ['8080-8081:80-81/udp', 9000]}}");
        let ports = j["services"]["a"]["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[0]["published"], "8080");
        assert_eq!(ports[1]["target"], 81);
        assert_eq!(ports[1]["protocol"], "udp");
        assert_eq!(ports[2]["target"], 9000);
    }

    #[test]
    fn external_name_syntax() {
        let j = canon("networks: {n: {external: {name: real}}}");
        assert_eq!(
            j["networks"]["n"],
            json!({"external": true, "name": "real"})
        );
    }
}
