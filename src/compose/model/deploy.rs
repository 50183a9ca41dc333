//! `deploy` (compose-go `DeployConfig`: resources, restart policy, update/rollback, placement) and device
//! requests (`deploy.resources.reservations.devices`, `gpus`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

use super::lenient;
use super::mapping::Mapping;
use super::units::{ByteSize, DeviceCount, Duration, NanoCpus, serialize_go_f32};

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_f32(v: &f32) -> bool {
    *v == 0.0
}

fn is_zero_cpus(v: &NanoCpus) -> bool {
    v.0 == 0.0
}

fn is_zero_size(v: &ByteSize) -> bool {
    v.0 == 0
}

fn is_zero_duration(v: &Duration) -> bool {
    v.0 == 0
}

/// `deploy`. `resources` and `placement` are plain structs in compose-go, so they are always printed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint_mode: String,
}

/// `deploy.update_config` / `deploy.rollback_config`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub parallelism: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero_duration")]
    pub delay: Duration,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_action: String,
    #[serde(default, skip_serializing_if = "is_zero_duration")]
    pub monitor: Duration,
    #[serde(
        default,
        deserialize_with = "lenient::f32",
        serialize_with = "serialize_go_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub max_failure_ratio: f32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
}

/// `deploy.resources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
}

/// Limits or reservations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "is_zero_cpus")]
    pub cpus: NanoCpus,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub memory: ByteSize,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub pids: i64,
    #[serde(
        default,
        deserialize_with = "device_requests",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
}

/// A user-defined resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteGenericResource>,
}

/// A countable user-defined resource (`kind` and `value` are always printed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscreteGenericResource {
    #[serde(default)]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::i64")]
    pub value: i64,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// `deploy.placement`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreferences>,
    #[serde(
        default,
        rename = "max_replicas_per_node",
        deserialize_with = "lenient_u64",
        skip_serializing_if = "is_zero_u64"
    )]
    pub max_replicas: u64,
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient::opt_u64(d)?.unwrap_or_default())
}

/// A placement preference.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreferences {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spread: String,
}

fn count_unset(c: &Option<DeviceCount>) -> bool {
    c.is_none_or(|c| c.0 == 0)
}

/// A device request (GPU and the like). Without `count` and `device_ids`, `count` is `all` (-1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "count_unset")]
    pub count: Option<DeviceCount>,
    #[serde(default, rename = "device_ids", skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

/// compose-go's `deviceRequestDefaults`.
fn with_default_count(mut r: DeviceRequest) -> DeviceRequest {
    if r.count.is_none() && r.ids.is_empty() {
        r.count = Some(DeviceCount::ALL);
    }
    r
}

/// A list of device requests, defaults applied.
pub(crate) fn device_requests<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<DeviceRequest>, D::Error> {
    let list = Option::<Vec<DeviceRequest>>::deserialize(d)?.unwrap_or_default();
    Ok(list.into_iter().map(with_default_count).collect())
}

/// `gpus`: `all` or a list of device requests.
pub(crate) fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    use serde::de::{self, SeqAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<DeviceRequest>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("\"all\" or a list of device requests")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v != "all" {
                return Err(E::invalid_value(de::Unexpected::Str(v), &self));
            }
            Ok(vec![with_default_count(DeviceRequest::default())])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(r) = seq.next_element::<DeviceRequest>()? {
                out.push(with_default_count(r));
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// Schema of `gpus`.
pub(crate) struct GpusInput;

impl JsonSchema for GpusInput {
    fn schema_name() -> Cow<'static, str> {
        "Gpus".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [
            {"type": "string", "enum": ["all"]},
            {"type": "array", "items": g.subschema_for::<DeviceRequest>()}
        ]})
    }
}
