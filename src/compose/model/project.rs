//! [`Project`]: the whole Compose model, and its JSON shape: docker compose prints a Go map, so top-level
//! keys come sorted (`configs`, `name`, `networks`, `secrets`, `services`, `volumes`, then `x-*`
//! extensions), empty sections are left out and `models` is never printed (compose-go v2.9 behaviour).

use std::fmt;

use indexmap::IndexMap;
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lenient::Short;
use super::refs::sorted_map;
use super::resources::{
    ConfigObjConfig, IncludeConfig, ModelConfig, NetworkConfig, SecretConfig, VolumeConfig,
};
use super::service::ServiceConfig;

/// A loaded Compose project. Maps keep their input order; output sorts them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Project {
    pub name: String,
    pub services: IndexMap<String, ServiceConfig>,
    pub networks: IndexMap<String, NetworkConfig>,
    pub volumes: IndexMap<String, VolumeConfig>,
    pub secrets: IndexMap<String, SecretConfig>,
    pub configs: IndexMap<String, ConfigObjConfig>,
    pub models: IndexMap<String, ModelConfig>,
    /// `include:` entries, for the loader (never printed).
    pub include: Vec<IncludeConfig>,
    /// Top-level `x-*` keys, printed after the other keys.
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// Sorted-map view of a section for serialization.
struct Sorted<'a, V>(&'a IndexMap<String, V>);

impl<V: Serialize> Serialize for Sorted<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        sorted_map(self.0, s)
    }
}

impl Serialize for Project {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.configs.is_empty() {
            let configs: IndexMap<String, ConfigObjConfig> = self
                .configs
                .iter()
                .map(|(k, c)| (k.clone(), c.for_output()))
                .collect();
            m.serialize_entry("configs", &Sorted(&configs))?;
        }
        m.serialize_entry("name", &self.name)?;
        if !self.networks.is_empty() {
            m.serialize_entry("networks", &Sorted(&self.networks))?;
        }
        if !self.secrets.is_empty() {
            m.serialize_entry("secrets", &Sorted(&self.secrets))?;
        }
        m.serialize_entry("services", &Sorted(&self.services))?;
        if !self.volumes.is_empty() {
            m.serialize_entry("volumes", &Sorted(&self.volumes))?;
        }
        let mut ext: Vec<_> = self.extensions.iter().collect();
        ext.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in ext {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A section whose entries may be `null` (`volumes: {data: }`), meaning all defaults.
fn null_entries<T: Default>(map: IndexMap<String, Option<T>>) -> IndexMap<String, T> {
    map.into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

/// A whole section that may be `null`.
fn section<'de, A: MapAccess<'de>, T: Deserialize<'de> + Default>(
    map: &mut A,
) -> Result<IndexMap<String, T>, A::Error> {
    let raw: Option<IndexMap<String, Option<T>>> = map.next_value()?;
    Ok(null_entries(raw.unwrap_or_default()))
}

struct ProjectVisitor;

impl<'de> Visitor<'de> for ProjectVisitor {
    type Value = Project;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Compose project map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Project, A::Error> {
        let mut p = Project::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => p.name = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "services" => p.services = services(&mut map)?,
                "networks" => p.networks = section(&mut map)?,
                "volumes" => p.volumes = section(&mut map)?,
                "secrets" => p.secrets = section(&mut map)?,
                "configs" => p.configs = section(&mut map)?,
                "models" => p.models = section(&mut map)?,
                "include" => {
                    let raw: Option<Vec<Short<IncludeConfig>>> = map.next_value()?;
                    p.include = raw.unwrap_or_default().into_iter().map(|s| s.0).collect();
                }
                // Obsolete, accepted and ignored as by docker compose.
                "version" => drop(map.next_value::<de::IgnoredAny>()?),
                k if k.starts_with("x-") => {
                    let value = map.next_value::<serde_json::Value>()?;
                    p.extensions.insert(key, value);
                }
                _ => return Err(de::Error::unknown_field(&key, FIELDS)),
            }
        }
        Ok(p)
    }
}

const FIELDS: &[&str] = &[
    "name", "services", "networks", "volumes", "secrets", "configs", "models", "include",
    "version", "x-*",
];

/// `services:`; each service learns its name from its key.
fn services<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<IndexMap<String, ServiceConfig>, A::Error> {
    let raw: Option<IndexMap<String, ServiceConfig>> = map.next_value()?;
    let mut services = raw.unwrap_or_default();
    for (name, service) in services.iter_mut() {
        service.name.clone_from(name);
    }
    Ok(services)
}

impl<'de> Deserialize<'de> for Project {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProjectVisitor)
    }
}

/// Input schema: the sections, `version`, `include` (short or long) and `x-*` extensions.
impl JsonSchema for Project {
    fn schema_name() -> Cow<'static, str> {
        "Project".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "properties": {
                "version": {"type": "string", "deprecated": true},
                "name": {"type": "string"},
                "include": {"type": "array", "items": g.subschema_for::<Short<IncludeConfig>>()},
                "services": {"type": "object", "additionalProperties": g.subschema_for::<ServiceConfig>()},
                "networks": section_schema::<NetworkConfig>(g),
                "volumes": section_schema::<VolumeConfig>(g),
                "secrets": section_schema::<SecretConfig>(g),
                "configs": section_schema::<ConfigObjConfig>(g),
                "models": section_schema::<ModelConfig>(g)
            },
            "patternProperties": {"^x-": {}},
            "additionalProperties": false
        })
    }
}

/// A top-level section: a map of name to `T` or `null`.
fn section_schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "additionalProperties": {"anyOf": [g.subschema_for::<T>(), {"type": "null"}]}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn conformance_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
    }

    /// Every docker compose v2.40.3 `config --format json` output reads back and prints identically.
    #[test]
    fn awesome_compose_round_trip() {
        let dir = conformance_dir().join("awesome-compose");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path().join("expected.config.json");
            let text = std::fs::read_to_string(&path).unwrap();
            let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
            let project: Project =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let back = serde_json::to_value(&project).unwrap();
            assert_eq!(back, expected, "{}", path.display());
            // The fixtures replaced the project path by `<CASE_DIR>` after docker compose escaped it.
            let pretty = crate::compose::model::to_go_json_pretty(&project)
                .unwrap()
                .replace("\\u003cCASE_DIR\\u003e", "<CASE_DIR>");
            assert_eq!(
                pretty,
                text.trim_end(),
                "byte-identical output for {}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 39, "only {checked} cases found");
    }

    /// `testdata/toplevel.yaml` exercises every top-level section; `toplevel.json` is docker compose
    /// v2.40.3's `config --format json` for it. Resource `name`s are set by the loader, so they are
    /// left out of the comparison.
    #[test]
    fn top_level_sections_decode_like_compose_go() {
        let project: Project =
            serde_norway::from_str(include_str!("testdata/toplevel.yaml")).unwrap();
        let mut ours = serde_json::to_value(&project).unwrap();
        let mut want: serde_json::Value =
            serde_json::from_str(include_str!("testdata/toplevel.json")).unwrap();
        for doc in [&mut ours, &mut want] {
            for section in ["networks", "volumes", "secrets", "configs"] {
                for (_, obj) in doc[section].as_object_mut().unwrap() {
                    obj.as_object_mut().unwrap().remove("name");
                }
            }
        }
        assert_eq!(ours, want);
    }

    #[test]
    fn top_level_keys_sorted_and_extensions_kept() {
        let p: Project = serde_json::from_value(serde_json::json!({
            "x-b": 1, "services": {"web": {"image": "nginx"}}, "name": "demo", "x-a": {"k": true},
            "version": "3.8", "volumes": {"data": null}
        }))
        .unwrap();
        assert_eq!(p.services["web"].name, "web");
        let out = serde_json::to_string(&p).unwrap();
        assert_eq!(
            out,
            r#"{"name":"demo","services":{"web":{"command":null,"entrypoint":null,"image":"nginx"}},"volumes":{"data":{}},"x-a":{"k":true},"x-b":1}"#
        );
        let err = serde_json::from_str::<Project>(r#"{"servics": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `servics`"), "{err}");
    }
}

#[cfg(test)]
mod compose_go_cases {
    use super::Project;
    use serde_json::Value;
    use std::path::PathBuf;

    /// README rule: a key missing from the output equals its default.
    fn is_default(key: &str, v: &Value) -> bool {
        match v {
            Value::Bool(b) => *b == matches!(key, "required" | "create_host_path"),
            Value::Null => true,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
        }
    }

    /// `want` matches `ours` as a subset, with the conformance README's rules.
    fn subset(path: &str, ours: &Value, want: &Value, out: &mut Vec<String>) {
        match (ours, want) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, w) in b {
                    match a.get(k) {
                        Some(o) => subset(&format!("{path}/{k}"), o, w, out),
                        None if is_default(k, w) => {}
                        None => out.push(format!("{path}/{k}: missing, want {w}")),
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (o, w)) in a.iter().zip(b).enumerate() {
                    subset(&format!("{path}/{i}"), o, w, out);
                }
            }
            _ if ours != want => out.push(format!("{path}: ours {ours}, want {want}")),
            _ => {}
        }
    }

    /// The partial projects compose-go's tests expect are representable: they read into [`Project`] and
    /// print back with the same values and JSON types.
    #[test]
    fn expected_projects_round_trip() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/compose-go-cases");
        let mut problems = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path().join("expected.json");
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let Some(want) = expected.get("project") else {
                continue;
            };
            let case = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            match serde_json::from_value::<Project>(want.clone()) {
                // This partial project lists a volume without its (required) `type`.
                Err(e)
                    if case == "048-include-project-directory"
                        && e.to_string().contains("`type`") => {}
                Err(e) => problems.push(format!("{case}: {e}")),
                Ok(p) => subset(
                    &case,
                    &serde_json::to_value(&p).unwrap(),
                    want,
                    &mut problems,
                ),
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Cases whose checks are about syntax the model decodes by itself (no interpolation, paths or
    /// merging): their `input.yaml`, decoded directly, already gives the expected services.
    #[test]
    fn model_level_cases_decode_like_compose_go() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/compose-go-cases");
        let mut problems = Vec::new();
        for case in [
            "052-ports-expanded-format",
            "053-ports-host-ip",
            "056-healthcheck-durations",
        ]
        .into_iter()
        .chain(["057-depends-on-short-to-long", "058-depends-on-long-syntax"])
        {
            let input = std::fs::read_to_string(dir.join(case).join("input.yaml")).unwrap();
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(case).join("expected.json")).unwrap(),
            )
            .unwrap();
            let project: Project =
                serde_norway::from_str(&input).unwrap_or_else(|e| panic!("{case}: {e}"));
            let ours = serde_json::to_value(&project).unwrap();
            subset(
                case,
                &ours["services"],
                &expected["project"]["services"],
                &mut problems,
            );
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
