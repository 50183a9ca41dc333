//! Smaller per-service settings: healthcheck, logging, ulimits, blkio, device mappings, lifecycle hooks,
//! `develop.watch`, `extends`, `env_file`, `credential_spec` and `provider`, each with its short syntax.

use schemars::JsonSchema;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::command::{HealthCheckTest, ShellCommand};
use super::error::ModelError;
use super::lenient::{self, ShortSyntax};
use super::mapping::{Mapping, MappingWithEquals, MultiOptions, StringList};
use super::units::{ByteSize, Duration};

fn is_false(b: &bool) -> bool {
    !*b
}

/// `healthcheck` (compose-go `HealthCheckConfig`, Go field order).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(default, skip_serializing_if = "HealthCheckTest::is_empty")]
    pub test: HealthCheckTest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub disable: bool,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

/// One `ulimits` entry: a single value (soft = hard) or `{soft, hard}`. Printed as a number when single.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UlimitsConfig {
    #[serde(default, skip)]
    pub single: i64,
    #[serde(default, deserialize_with = "lenient::i64")]
    pub soft: i64,
    #[serde(default, deserialize_with = "lenient::i64")]
    pub hard: i64,
}

impl ShortSyntax for UlimitsConfig {
    const EXPECTING: &'static str = "a ulimit: a number or {soft, hard}";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        let single = s
            .trim()
            .parse()
            .map_err(|_| ModelError::InvalidInteger(s.to_owned()))?;
        Ok(UlimitsConfig {
            single,
            soft: 0,
            hard: 0,
        })
    }

    fn from_short_int(v: i64) -> Option<Result<Self, ModelError>> {
        Some(Ok(UlimitsConfig {
            single: v,
            soft: 0,
            hard: 0,
        }))
    }

    fn short_schema() -> schemars::Schema {
        schemars::json_schema!({"type": ["integer", "string"]})
    }
}

impl Serialize for UlimitsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.single != 0 {
            return s.serialize_i64(self.single);
        }
        // Go marshals the struct with omitempty on soft and hard.
        let len = usize::from(self.soft != 0) + usize::from(self.hard != 0);
        let mut st = s.serialize_struct("UlimitsConfig", len)?;
        if self.soft != 0 {
            st.serialize_field("soft", &self.soft)?;
        }
        if self.hard != 0 {
            st.serialize_field("hard", &self.hard)?;
        }
        st.end()
    }
}

/// `ulimits:` map, entries in short or long syntax.
pub(crate) fn ulimits<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, UlimitsConfig>, D::Error> {
    let raw =
        Option::<std::collections::BTreeMap<String, lenient::Short<UlimitsConfig>>>::deserialize(
            d,
        )?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// `blkio_config` (compose-go `BlkioConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    #[serde(
        default,
        deserialize_with = "lenient::u16",
        skip_serializing_if = "is_zero_u16"
    )]
    pub weight: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// A device weight. compose-go's struct has no JSON tags, so it prints `Path`/`Weight`; both spellings are read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    #[serde(rename = "Path", alias = "path")]
    #[schemars(rename = "path")]
    pub path: String,
    #[serde(rename = "Weight", alias = "weight", deserialize_with = "lenient::u16")]
    #[schemars(rename = "weight")]
    pub weight: u16,
}

/// A device rate limit, printed as `Path`/`Rate` like compose-go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    #[serde(rename = "Path", alias = "path")]
    #[schemars(rename = "path")]
    pub path: String,
    #[serde(rename = "Rate", alias = "rate")]
    #[schemars(rename = "rate")]
    pub rate: ByteSize,
}

/// A `devices` entry; the short form is `HOST[:CONTAINER[:PERMISSIONS]]` (permissions default `rwm`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceMapping {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub permissions: String,
}

impl ShortSyntax for DeviceMapping {
    const EXPECTING: &'static str = "a device \"HOST[:CONTAINER[:PERMISSIONS]]\" or a map";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, permissions) = match parts.as_slice() {
            [src] => (*src, "", "rwm"),
            [src, dst] => (*src, *dst, "rwm"),
            [src, dst, perm] => (*src, *dst, *perm),
            _ => return Err(ModelError::InvalidDevice(s.to_owned())),
        };
        let target = if target.is_empty() { source } else { target };
        Ok(DeviceMapping {
            source: source.into(),
            target: target.into(),
            permissions: permissions.into(),
        })
    }
}

/// `post_start`/`pre_stop` hooks and `develop.watch[].exec`. `command` is always printed (`null` if unset).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    #[serde(default)]
    pub command: Option<ShellCommand>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
}

/// `develop`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevelopConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Trigger>,
}

/// What `watch` does when a file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WatchAction {
    #[serde(rename = "sync")]
    Sync,
    #[serde(rename = "rebuild")]
    Rebuild,
    #[serde(rename = "restart")]
    Restart,
    #[serde(rename = "sync+restart")]
    SyncRestart,
    #[serde(rename = "sync+exec")]
    SyncExec,
}

/// One `develop.watch` rule. `exec` is always printed, as compose-go's struct field has no pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub path: String,
    pub action: WatchAction,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default)]
    pub exec: ServiceHook,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub include: StringList,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub ignore: StringList,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub initial_sync: bool,
}

/// `extends`; a string is the service name in the same file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
}

impl ShortSyntax for ExtendsConfig {
    const EXPECTING: &'static str = "a service name or {service, file}";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        Ok(ExtendsConfig {
            file: String::new(),
            service: s.to_owned(),
        })
    }
}

fn yes() -> bool {
    true
}

/// Format of an env file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub path: String,
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
}

impl ShortSyntax for EnvFile {
    const EXPECTING: &'static str = "an env file path or {path, required, format}";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        Ok(EnvFile {
            path: s.to_owned(),
            required: true,
            format: String::new(),
        })
    }
}

/// How compose-go prints an env file: just the path when required, else the whole struct.
pub(crate) fn serialize_env_files<S: Serializer>(
    files: &[EnvFile],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(files.len()))?;
    for f in files {
        if f.required {
            seq.serialize_element(&f.path)?;
        } else {
            seq.serialize_element(f)?;
        }
    }
    seq.end()
}

/// `env_file`: a path, or a list of paths / `{path, required, format}`.
pub(crate) fn env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    Ok(Option::<OneOrMany<EnvFile>>::deserialize(d)?
        .map(|o| o.0)
        .unwrap_or_default())
}

/// A short-or-long item, or a list of them.
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: ShortSyntax + Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, SeqAccess, Visitor};
        use std::marker::PhantomData;
        struct V<T>(PhantomData<T>);
        impl<'de, T: ShortSyntax + Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{}, or a list of them", T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::from_short_str(v)
                    .map(|t| OneOrMany(vec![t]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<lenient::Short<T>>()? {
                    out.push(item.0);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `credential_spec` (Windows).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpecConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry: String,
}

/// `provider`: a service implemented by an external provider plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceProviderConfig {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "MultiOptions::is_empty")]
    pub options: MultiOptions,
}
