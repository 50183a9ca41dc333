//! Top-level project objects: [`NetworkConfig`] (+ [`IpamConfig`]), [`VolumeConfig`], [`SecretConfig`],
//! [`ConfigObjConfig`], [`ModelConfig`] and [`IncludeConfig`].

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::error::ModelError;
use super::lenient::{self, ShortSyntax};
use super::mapping::{Mapping, StringList};

fn is_false(b: &bool) -> bool {
    !*b
}

/// `external:` must be a boolean. The deprecated `external: {name: …}` is rejected with a hint
/// (the loader may rewrite it to `name:` + `external: true` beforehand, as compose-go does).
fn external<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    lenient::bool(d).map_err(|e| {
        serde::de::Error::custom(format!(
            "{e}; `external: {{name: …}}` is deprecated, use `name:` and `external: true`"
        ))
    })
}

/// A top-level network. `ipam` is a plain struct in compose-go, so `{}` is always printed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(default)]
    pub ipam: IpamConfig,
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub internal: bool,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv4: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv6: Option<bool>,
}

/// IP address management of a network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// In the schema but not in compose-go v2.9's model: read, never printed.
    #[serde(default, skip_serializing)]
    pub options: Mapping,
}

/// One IPAM pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(
        default,
        rename = "aux_addresses",
        skip_serializing_if = "Mapping::is_empty"
    )]
    pub auxiliary_addresses: Mapping,
}

/// A top-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
}

/// Declares a top-level secret/config type (compose-go `FileObjectConfig`); `$hide_content` decides when
/// `content` is left out of the output.
macro_rules! file_object {
    ($(#[$doc:meta])* $name:ident, $hide_content:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub name: String,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub file: String,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub environment: String,
            #[serde(default, skip_serializing_if = $hide_content)]
            pub content: String,
            #[serde(default, deserialize_with = "external", skip_serializing_if = "is_false")]
            pub external: bool,
            #[serde(default, skip_serializing_if = "Mapping::is_empty")]
            pub labels: Mapping,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub driver: String,
            #[serde(default, skip_serializing_if = "Mapping::is_empty")]
            pub driver_opts: Mapping,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub template_driver: String,
        }
    };
}

/// Secret content is never printed (it may be sensitive), as in compose-go.
fn always(_: &String) -> bool {
    true
}

file_object!(
    /// A top-level secret; its `content` is never printed.
    SecretConfig,
    "always"
);

file_object!(
    /// A top-level config; `content` read from `environment` is not printed.
    ConfigObjConfig,
    "String::is_empty"
);

impl ConfigObjConfig {
    /// compose-go prints the environment variable name rather than the content taken from it.
    pub(crate) fn for_output(&self) -> ConfigObjConfig {
        let mut c = self.clone();
        if !c.environment.is_empty() {
            c.content.clear();
        }
        c
    }
}

/// A top-level model (not printed by `config`, like compose-go v2.9's `Project.MarshalJSON`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero"
    )]
    pub context_size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// An `include:` entry; a string is a single path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludeConfig {
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub path: StringList,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_directory: String,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub env_file: StringList,
}

impl ShortSyntax for IncludeConfig {
    const EXPECTING: &'static str = "a Compose file path or {path, project_directory, env_file}";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        Ok(IncludeConfig {
            path: StringList(vec![s.to_owned()]),
            ..Default::default()
        })
    }
}
