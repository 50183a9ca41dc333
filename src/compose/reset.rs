//! `!reset` and `!override`: a tagged value in a later file (or an extending service) first
//! removes what earlier files defined at the same place. `!reset` also drops itself, `!override`
//! stays and so replaces the inherited value instead of merging with it.

use super::node::{KeyPath, Node, PathSeg, Tag, Value};

/// The places one document tagged, collected before it is merged.
#[derive(Debug, Default, Clone)]
pub struct Resets {
    paths: Vec<KeyPath>,
}

impl Resets {
    /// Records the tagged places of `doc` and removes its `!reset` values.
    pub fn collect(doc: &mut Node) -> Resets {
        let mut resets = Resets::default();
        resets.walk(doc, &KeyPath::root());
        resets
    }

    fn walk(&mut self, node: &mut Node, path: &KeyPath) {
        match &mut node.value {
            Value::Map(map) => {
                map.retain(|k, v| {
                    let p = path.key(k);
                    match v.tag {
                        Some(Tag::Reset) => {
                            self.paths.push(p);
                            false
                        }
                        Some(Tag::Override) => {
                            self.paths.push(p);
                            true
                        }
                        None => true,
                    }
                });
                for (k, v) in map.iter_mut() {
                    if v.tag.is_none() {
                        self.walk(v, &path.key(k));
                    }
                }
            }
            Value::Seq(items) => {
                items.retain(|v| v.tag != Some(Tag::Reset));
                for (i, v) in items.iter_mut().enumerate() {
                    self.walk(v, &path.index(i));
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Removes from `target` (rooted at `root`) every mapping entry at a recorded place.
    pub fn apply(&self, target: &mut Node, root: &KeyPath) {
        if self.paths.is_empty() {
            return;
        }
        self.remove(target, root);
    }

    fn remove(&self, node: &mut Node, path: &KeyPath) {
        if let Value::Map(map) = &mut node.value {
            map.retain(|k, _| !self.paths.contains(&path.key(k)));
            for (k, v) in map.iter_mut() {
                self.remove(v, &path.key(k));
            }
        }
    }

    /// The same places, seen from a service renamed `to` (for `extends`, whose base service is
    /// merged under the extending service's name).
    pub fn for_service(&self, to: &str) -> Resets {
        let paths = self
            .paths
            .iter()
            .filter_map(|p| match p.segments() {
                [PathSeg::Key(s), PathSeg::Key(name), ..] if s == "services" && name == to => {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        Resets { paths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::merge::merge;
    use crate::compose::yaml::parse_documents;

    fn doc(text: &str) -> Node {
        parse_documents(text, "r.yaml").unwrap().remove(0)
    }

    fn load(base: &str, over: &str) -> serde_json::Value {
        let mut base = doc(base);
        let mut over = doc(over);
        let resets = Resets::collect(&mut over);
        resets.apply(&mut base, &KeyPath::root());
        merge(base, over, &KeyPath::root()).to_json()
    }

    #[test]
    fn reset_removes_inherited_value() {
        let j = load(
            "services: {a: {image: x, build: ., environment: {A: '1', B: '2'}}}",
            "services: {a: {build: !reset null, environment: {A: !reset null}}}",
        );
        assert_eq!(
            j,
            serde_json::json!({"services": {"a": {"image": "x", "environment": ["B=2"]}}})
        );
    }

    #[test]
    fn override_replaces_instead_of_merging() {
        let j = load(
            "networks: {n: {external: true, name: foo}}",
            "networks: {n: !override {driver: bridge}}",
        );
        assert_eq!(
            j,
            serde_json::json!({"networks": {"n": {"driver": "bridge"}}})
        );
    }

    #[test]
    fn reset_of_a_whole_resource() {
        let j = load("networks: {n: {}, m: {}}", "networks: {n: !reset {}}");
        assert_eq!(j, serde_json::json!({"networks": {"m": {}}}));
    }
}
