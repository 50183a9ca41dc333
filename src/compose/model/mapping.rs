//! Key/value and list collections with their list-or-map syntaxes: [`MappingWithEquals`] (`environment`,
//! `build.args`: values may be absent), [`Mapping`] (`labels`, `annotations`, `sysctls`, options),
//! [`HostsList`] (`extra_hosts`), [`StringList`] (string or list) and [`StringOrNumberList`] (`expose`).
//! All are stored sorted because Go's `encoding/json` prints map keys sorted.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ModelError;
use super::lenient::go_float_string;

/// A YAML scalar value turned into the string compose-go would store (`1` → "1", `true` → "true").
struct ScalarString(Option<String>);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(go_float_string(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarString, E> {
                Ok(ScalarString(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ScalarString, E> {
                Ok(ScalarString(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<ScalarString, E> {
                Ok(ScalarString(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ScalarString, D::Error> {
                ScalarString::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a list-or-map as `(key, value)` pairs; list items are split by `split_item`.
struct PairsVisitor<F> {
    expecting: &'static str,
    split_item: F,
}

type Pairs = Vec<(String, Option<String>)>;

impl<'de, F> Visitor<'de> for PairsVisitor<F>
where
    F: Fn(&str) -> Result<(String, Option<String>), ModelError>,
{
    type Value = Pairs;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, ScalarString>()? {
            out.push((k, v.0));
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pairs, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<ScalarString>()? {
            let item = item.0.unwrap_or_default();
            out.push((self.split_item)(&item).map_err(de::Error::custom)?);
        }
        Ok(out)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Pairs, E> {
        Ok(Vec::new())
    }
}

/// `environment`/`build.args`: `KEY=VAL` sets, `KEY` alone leaves the value absent (resolved later).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct MappingWithEquals(pub BTreeMap<String, Option<String>>);

fn split_env_item(item: &str) -> Result<(String, Option<String>), ModelError> {
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k, Some(v.to_owned())),
        None => (item, None),
    };
    if key.ends_with(char::is_whitespace) {
        return Err(ModelError::TrailingSpace(key.to_owned()));
    }
    Ok((key.to_owned(), value))
}

impl<'de> Deserialize<'de> for MappingWithEquals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = d.deserialize_any(PairsVisitor {
            expecting: "a map or a list of KEY=VALUE strings",
            split_item: split_env_item,
        })?;
        Ok(MappingWithEquals(pairs.into_iter().collect()))
    }
}

impl MappingWithEquals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn list_or_dict_schema(value_types: serde_json::Value) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "object", "additionalProperties": {"type": value_types}},
            {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
        ]
    })
}

impl JsonSchema for MappingWithEquals {
    fn schema_name() -> Cow<'static, str> {
        "ListOrDict".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        list_or_dict_schema(serde_json::json!(["string", "number", "boolean", "null"]))
    }
}

/// `labels`, `annotations`, `sysctls`, driver options: `KEY=VAL` or `KEY` (empty value) items, or a map
/// where `null` is an empty string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, String>);

fn split_label_item(item: &str) -> Result<(String, Option<String>), ModelError> {
    let (k, v) = item.split_once('=').unwrap_or((item, ""));
    Ok((k.to_owned(), Some(v.to_owned())))
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = d.deserialize_any(PairsVisitor {
            expecting: "a map or a list of KEY=VALUE strings",
            split_item: split_label_item,
        })?;
        Ok(Mapping(
            pairs
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        ))
    }
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl JsonSchema for Mapping {
    fn schema_name() -> Cow<'static, str> {
        "Mapping".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        list_or_dict_schema(serde_json::json!(["string", "number", "boolean", "null"]))
    }
}

/// `extra_hosts`: host → IPs. Accepts `HOST=IP`/`HOST:IP` items (IPs comma-separated) or a map of IP or
/// IP list; brackets around IPv6 addresses are dropped. Printed as a sorted `HOST=IP` list like compose-go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostsList(pub BTreeMap<String, Vec<String>>);

impl HostsList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `HOST=IP` or `HOST:IP` (the first `=` wins, else the first `:`).
    pub fn parse_item(item: &str) -> Result<(String, Vec<String>), ModelError> {
        let (host, ips) = item
            .split_once('=')
            .or_else(|| item.split_once(':'))
            .ok_or_else(|| ModelError::InvalidExtraHost(item.to_owned()))?;
        Ok((host.to_owned(), ips.split(',').map(str::to_owned).collect()))
    }

    fn insert(&mut self, host: String, ips: Vec<String>) -> Result<(), ModelError> {
        if host.is_empty() || host.contains([':', '=']) {
            return Err(ModelError::InvalidExtraHost(host));
        }
        let ips = ips.into_iter().map(|ip| strip_brackets(&ip).to_owned());
        self.0.entry(host).or_default().extend(ips);
        Ok(())
    }

    /// The `HOST=IP` strings, sorted, as docker compose prints them.
    pub fn as_sorted_list(&self) -> Vec<String> {
        let mut list: Vec<String> = self
            .0
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}={ip}")))
            .collect();
        list.sort();
        list
    }
}

fn strip_brackets(ip: &str) -> &str {
    match ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => ip,
    }
}

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_sorted_list().serialize(s)
    }
}

/// One value of the map form of `extra_hosts`: an IP or a list of IPs.
struct HostIps(Vec<String>);

impl<'de> Deserialize<'de> for HostIps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // compose-go turns a `null` IP into "" (printed `host=`), so keep one empty entry.
        let ips =
            Option::<StringList>::deserialize(d)?.map_or_else(|| vec![String::new()], |l| l.0);
        Ok(HostIps(ips))
    }
}

impl<'de> Deserialize<'de> for HostsList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HostsList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of HOST=IP strings or a map of host to IP")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HostsList, A::Error> {
                let mut hosts = HostsList::default();
                while let Some(item) = seq.next_element::<ScalarString>()? {
                    let item = item.0.unwrap_or_default();
                    let (h, ips) = HostsList::parse_item(&item).map_err(de::Error::custom)?;
                    hosts.insert(h, ips).map_err(de::Error::custom)?;
                }
                Ok(hosts)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HostsList, A::Error> {
                let mut hosts = HostsList::default();
                while let Some((h, ips)) = map.next_entry::<String, HostIps>()? {
                    hosts.insert(h, ips.0).map_err(de::Error::custom)?;
                }
                Ok(hosts)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for HostsList {
    fn schema_name() -> Cow<'static, str> {
        "ExtraHosts".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                {"type": "object", "additionalProperties": {"oneOf": [
                    {"type": "string"}, {"type": "array", "items": {"type": "string"}}
                ]}},
                {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
            ]
        })
    }
}

/// A single string or a list of strings (`dns`, `tmpfs`, `build.tags`…); numbers are kept as text when
/// `numbers` is allowed (`expose`).
fn string_list<'de, D: Deserializer<'de>>(d: D, numbers: bool) -> Result<Vec<String>, D::Error> {
    struct V(bool);
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(if self.0 {
                "a string, a number or a list of them"
            } else {
                "a string or a list of strings"
            })
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            self.number(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            self.number(v.to_string())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element_seed(Item)? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
    }
    impl V {
        fn number<E: de::Error>(&self, v: String) -> Result<Vec<String>, E> {
            if self.0 {
                Ok(vec![v])
            } else {
                Err(E::invalid_type(de::Unexpected::Str(&v), self))
            }
        }
    }
    /// One list item; YAML numbers are kept as their text.
    struct Item;
    impl<'de> de::DeserializeSeed<'de> for Item {
        type Value = String;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            Ok(ScalarString::deserialize(d)?.0.unwrap_or_default())
        }
    }
    d.deserialize_any(V(numbers))
}

/// compose-go `StringList`: one string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_list(d, false).map(StringList)
    }
}

impl StringList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl JsonSchema for StringList {
    fn schema_name() -> Cow<'static, str> {
        "StringOrList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
    }
}

/// compose-go `StringOrNumberList` (`expose`): numbers become strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct StringOrNumberList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringOrNumberList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_list(d, true).map(StringOrNumberList)
    }
}

impl StringOrNumberList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl JsonSchema for StringOrNumberList {
    fn schema_name() -> Cow<'static, str> {
        "StringOrNumberList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [
            {"type": ["string", "number"]},
            {"type": "array", "items": {"type": ["string", "number"]}}
        ]})
    }
}

/// compose-go `MultiOptions` (`provider.options`): each key maps to one value or a list of values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct MultiOptions(pub BTreeMap<String, Vec<String>>);

impl<'de> Deserialize<'de> for MultiOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, HostIps>::deserialize(d)?;
        Ok(MultiOptions(
            raw.into_iter().map(|(k, v)| (k, v.0)).collect(),
        ))
    }
}

impl MultiOptions {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl JsonSchema for MultiOptions {
    fn schema_name() -> Cow<'static, str> {
        "MultiOptions".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "additionalProperties": {"oneOf": [
            {"type": ["string", "number", "boolean"]},
            {"type": "array", "items": {"type": ["string", "number", "boolean"]}}
        ]}})
    }
}
