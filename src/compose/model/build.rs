//! `build` (compose-go `BuildConfig`) and its SSH keys. A string is the build context; a missing context
//! is `.` and a missing Dockerfile is `Dockerfile`, as compose-go fills them in.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ModelError;
use super::lenient::{self, ShortSyntax};
use super::mapping::{HostsList, Mapping, MappingWithEquals, StringList};
use super::options::{UlimitsConfig, ulimits};
use super::refs::FileReferenceConfig;
use super::units::ByteSize;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_size(v: &ByteSize) -> bool {
    v.0 == 0
}

fn dot() -> String {
    ".".to_owned()
}

/// `build` in Go field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    #[serde(default = "dot", skip_serializing_if = "String::is_empty")]
    pub context: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile_inline: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub args: MappingWithEquals,
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub provenance: String,
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub sbom: String,
    #[serde(default, skip_serializing_if = "SshConfig::is_empty")]
    pub ssh: SshConfig,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub cache_from: StringList,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub cache_to: StringList,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub additional_contexts: Mapping,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub pull: bool,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "super::refs::ShortList<FileReferenceConfig>")]
    pub secrets: Vec<FileReferenceConfig>,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub shm_size: ByteSize,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub tags: StringList,
    #[serde(
        default,
        deserialize_with = "ulimits",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[schemars(with = "BTreeMap<String, lenient::Short<UlimitsConfig>>")]
    pub ulimits: BTreeMap<String, UlimitsConfig>,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub platforms: StringList,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig::from_context(".")
    }
}

impl BuildConfig {
    /// A build of `context` with every other setting at its default.
    pub fn from_context(context: &str) -> Self {
        BuildConfig {
            context: context.to_owned(),
            dockerfile: String::new(),
            dockerfile_inline: String::new(),
            entitlements: Vec::new(),
            args: MappingWithEquals::default(),
            provenance: String::new(),
            sbom: String::new(),
            ssh: SshConfig::default(),
            labels: Mapping::default(),
            cache_from: StringList::default(),
            cache_to: StringList::default(),
            no_cache: false,
            additional_contexts: Mapping::default(),
            pull: false,
            extra_hosts: HostsList::default(),
            isolation: String::new(),
            network: String::new(),
            target: String::new(),
            secrets: Vec::new(),
            shm_size: ByteSize::default(),
            tags: StringList::default(),
            ulimits: BTreeMap::new(),
            platforms: StringList::default(),
            privileged: false,
        }
    }

    /// compose-go's normalization: a build without a Dockerfile uses `Dockerfile`.
    pub(crate) fn with_default_dockerfile(mut self) -> Self {
        if self.dockerfile.is_empty() && self.dockerfile_inline.is_empty() {
            self.dockerfile = "Dockerfile".to_owned();
        }
        self
    }
}

impl ShortSyntax for BuildConfig {
    const EXPECTING: &'static str = "a build context path or a build map";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        Ok(BuildConfig::from_context(s))
    }
}

/// `build:` with defaults applied.
pub(crate) fn build<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BuildConfig>, D::Error> {
    Ok(lenient::opt::<D, BuildConfig>(d)?.map(BuildConfig::with_default_dockerfile))
}

/// One SSH key for the build: `default`, or `ID=PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshKey {
    pub id: String,
    pub path: String,
}

impl SshKey {
    /// Parses `ID=PATH`, or `default` (the agent socket) alone.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s.split_once('=') {
            Some((id, path)) => Ok(SshKey {
                id: id.to_owned(),
                path: path.to_owned(),
            }),
            None if s == "default" => Ok(SshKey {
                id: s.to_owned(),
                path: String::new(),
            }),
            None => Err(ModelError::InvalidSshKey(s.to_owned())),
        }
    }
}

/// `build.ssh`: a list of `ID[=PATH]` or a map of ID to path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshConfig(pub Vec<SshKey>);

impl SshConfig {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// compose-go prints a key as `"id"` and fails for `id: path`; `"id=path"` is printed instead so the
/// output stays valid and reads back.
impl Serialize for SshConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<String> = self
            .0
            .iter()
            .map(|k| {
                if k.path.is_empty() {
                    k.id.clone()
                } else {
                    format!("{}={}", k.id, k.path)
                }
            })
            .collect();
        list.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SshConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SshConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of \"default\" or ID=PATH, or a map of ID to path")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SshConfig, A::Error> {
                let mut keys = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    keys.push(SshKey::parse(&s).map_err(de::Error::custom)?);
                }
                Ok(SshConfig(keys))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SshConfig, A::Error> {
                let mut keys = Vec::new();
                while let Some((id, path)) = map.next_entry::<String, Option<String>>()? {
                    keys.push(SshKey {
                        id,
                        path: path.unwrap_or_default(),
                    });
                }
                Ok(SshConfig(keys))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for SshConfig {
    fn schema_name() -> Cow<'static, str> {
        "SshConfig".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
        ]})
    }
}
