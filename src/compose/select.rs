//! Which services a command works on: profiles (a service with `profiles:` runs only when one
//! of them is active, or `*`), services named on the command line (which enable their own
//! profiles), and those services' dependencies.

use std::collections::BTreeSet;

use super::error::LoadError;
use super::node::{Map, Node};

/// The services split into enabled and disabled ones.
#[derive(Debug, Default)]
pub struct Selection {
    pub disabled: Map,
    pub active_profiles: Vec<String>,
}

fn profiles_of(service: &Node) -> Vec<String> {
    service
        .get("profiles")
        .and_then(Node::as_seq)
        .map(|p| p.iter().filter_map(Node::scalar_text).collect())
        .unwrap_or_default()
}

fn enabled_by(service: &Node, active: &[String]) -> bool {
    let own = profiles_of(service);
    own.is_empty() || active.iter().any(|p| p == "*" || own.contains(p))
}

/// Keeps in `dict.services` the services enabled by `profiles` and by naming them in
/// `requested`, plus the dependencies of the requested ones; returns the others.
pub fn select(
    dict: &mut Node,
    profiles: &[String],
    requested: &[String],
) -> Result<Selection, LoadError> {
    let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) else {
        return Ok(Selection::default());
    };
    let mut active = profiles.to_vec();
    for name in requested {
        let service = services
            .get(name)
            .ok_or_else(|| LoadError::invalid(format!("no such service: {name}")))?;
        if !enabled_by(service, &active) {
            active.extend(profiles_of(service));
        }
    }
    let all = std::mem::take(services);
    let (mut enabled, mut disabled) = (Map::new(), Map::new());
    for (name, service) in all {
        if enabled_by(&service, &active) {
            enabled.insert(name, service);
        } else {
            disabled.insert(name, service);
        }
    }
    if !requested.is_empty() {
        let wanted = with_dependencies(&enabled, requested);
        let (kept, dropped): (Map, Map) =
            enabled.into_iter().partition(|(n, _)| wanted.contains(n));
        enabled = kept;
        disabled.extend(dropped);
        for service in enabled.values_mut() {
            if let Some(deps) = service.get_mut("depends_on").and_then(Node::as_map_mut) {
                deps.retain(|d, _| wanted.contains(d));
            }
        }
    }
    *services = enabled;
    Ok(Selection {
        disabled,
        active_profiles: active,
    })
}

fn with_dependencies(services: &Map, requested: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = requested.to_vec();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(deps) = services
            .get(&name)
            .and_then(|s| s.get("depends_on"))
            .and_then(Node::as_map)
        {
            todo.extend(deps.keys().filter(|d| services.contains_key(*d)).cloned());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    fn names(dict: &Node) -> Vec<String> {
        dict.get("services")
            .and_then(Node::as_map)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    const FILE: &str = "services:\n  a: {image: x}\n  b: {image: x, profiles: [debug], depends_on: {a: {}}}\n  c: {image: x, profiles: [other]}\n";

    #[test]
    fn profiles_enable_services() {
        let mut d = parse_documents(FILE, "p.yaml").unwrap().remove(0);
        select(&mut d, &[], &[]).unwrap();
        assert_eq!(names(&d), ["a"]);
        let mut d = parse_documents(FILE, "p.yaml").unwrap().remove(0);
        select(&mut d, &["debug".into()], &[]).unwrap();
        assert_eq!(names(&d), ["a", "b"]);
        let mut d = parse_documents(FILE, "p.yaml").unwrap().remove(0);
        select(&mut d, &["*".into()], &[]).unwrap();
        assert_eq!(names(&d), ["a", "b", "c"]);
    }

    #[test]
    fn naming_a_service_enables_its_profile_and_dependencies() {
        let mut d = parse_documents(FILE, "p.yaml").unwrap().remove(0);
        let sel = select(&mut d, &[], &["b".into()]).unwrap();
        assert_eq!(names(&d), ["a", "b"]);
        assert!(sel.disabled.contains_key("c"));
    }

    #[test]
    fn unknown_service_is_an_error() {
        let mut d = parse_documents(FILE, "p.yaml").unwrap().remove(0);
        assert!(
            select(&mut d, &[], &["zzz".into()])
                .unwrap_err()
                .to_string()
                .contains("no such service: zzz")
        );
    }
}
