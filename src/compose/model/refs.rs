//! A service's references to other project objects: `depends_on` ([`ServiceDependency`]), `networks`
//! ([`ServiceNetworkConfig`]), `secrets`/`configs` ([`FileReferenceConfig`]) and `models`
//! ([`ServiceModelConfig`]), with their list shorthands. Maps keep input order ([`IndexMap`]) and are
//! printed sorted, like Go's `encoding/json`.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ModelError;
use super::lenient::{self, ShortSyntax};
use super::mapping::Mapping;
use super::units::FileMode;

/// Serializes a map with its keys sorted (Go's `encoding/json` order).
pub(crate) fn sorted_map<S, V>(map: &IndexMap<String, V>, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    V: Serialize,
{
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// What a dependency must reach before the dependent service starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One `depends_on` entry. `condition` defaults to `service_started` and `required` to `true`
/// (compose-go's canonical form); `required` is always printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceDependency {
    #[serde(default)]
    pub condition: Condition,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub restart: bool,
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub required: bool,
}

impl Default for ServiceDependency {
    fn default() -> Self {
        ServiceDependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

/// Reads either a list of names (each mapped to `on_name()`) or a map of name to `V`.
struct NamesOrMap<V> {
    expecting: &'static str,
    on_name: fn() -> V,
}

impl<'de, V: DeserializeOwned> Visitor<'de> for NamesOrMap<V> {
    type Value = IndexMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some(name) = seq.next_element::<String>()? {
            out.insert(name, (self.on_name)());
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IndexMap::<String, V>::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IndexMap::new())
    }
}

/// `depends_on`: `[a, b]` or `{a: {condition: …}}`.
pub(crate) fn depends_on<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, ServiceDependency>, D::Error> {
    d.deserialize_any(NamesOrMap {
        expecting: "a list of service names or a map",
        on_name: ServiceDependency::default,
    })
}

/// `networks`/`models` of a service: `[a, b]` (no options) or a map whose values may be `null`.
pub(crate) fn names_or_map<'de, D, V>(d: D) -> Result<IndexMap<String, Option<V>>, D::Error>
where
    D: Deserializer<'de>,
    V: DeserializeOwned,
{
    d.deserialize_any(NamesOrMap {
        expecting: "a list of names or a map",
        on_name: || None,
    })
}

/// Schema of a list-of-names-or-map field whose map values are `V`.
pub(crate) fn names_or_map_schema<V: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    json_schema!({"oneOf": [
        {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        {"type": "object", "additionalProperties": {"anyOf": [g.subschema_for::<V>(), {"type": "null"}]}}
    ]})
}

/// A service's attachment to a network (compose-go `ServiceNetworkConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetworkConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(
        default,
        rename = "gw_priority",
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero"
    )]
    pub gateway_priority: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero"
    )]
    pub priority: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A service's use of a model (compose-go `ServiceModelConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceModelConfig {
    #[serde(
        default,
        rename = "endpoint_var",
        skip_serializing_if = "String::is_empty"
    )]
    pub endpoint_variable: String,
    #[serde(
        default,
        rename = "model_var",
        skip_serializing_if = "String::is_empty"
    )]
    pub model_variable: String,
}

/// A secret or config mounted into a service (compose-go `FileReferenceConfig`); a string is its `source`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReferenceConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

/// A service's secret mount.
pub type ServiceSecretConfig = FileReferenceConfig;
/// A service's config mount.
pub type ServiceConfigObjConfig = FileReferenceConfig;

impl ShortSyntax for FileReferenceConfig {
    const EXPECTING: &'static str = "a name or a map with source/target/uid/gid/mode";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        Ok(FileReferenceConfig {
            source: s.to_owned(),
            ..Default::default()
        })
    }
}

/// Service `secrets:`: short or long entries; a missing target defaults to `/run/secrets/<source>`
/// (compose-go's `defaultSecretMount`).
pub(crate) fn service_secrets<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<FileReferenceConfig>, D::Error> {
    let mut secrets: Vec<FileReferenceConfig> = lenient::vec(d)?;
    for s in &mut secrets {
        if s.target.is_empty() {
            s.target = format!("/run/secrets/{}", s.source);
        }
    }
    Ok(secrets)
}

/// Schema helper for lists of short-or-long items.
pub(crate) struct ShortList<T>(std::marker::PhantomData<T>);

impl<T: ShortSyntax + JsonSchema> JsonSchema for ShortList<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}List", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": g.subschema_for::<lenient::Short<T>>()})
    }
}
