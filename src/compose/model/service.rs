//! [`ServiceConfig`]: one service with every key of the Compose schema, in compose-go's Go field order
//! (which is the JSON order docker compose prints and hashes), with Go's `omitempty` rules.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::build::{self, BuildConfig};
use super::command::ShellCommand;
use super::deploy::{self, DeployConfig, DeviceRequest, GpusInput};
use super::lenient::{self, Short};
use super::mapping::{HostsList, Mapping, MappingWithEquals, StringList, StringOrNumberList};
use super::options::{
    self, BlkioConfig, CredentialSpecConfig, DevelopConfig, DeviceMapping, EnvFile, ExtendsConfig,
    HealthCheckConfig, LoggingConfig, ServiceHook, ServiceProviderConfig, UlimitsConfig,
};
use super::port::{self, PortInput, ServicePortConfig};
use super::refs::{
    self, ServiceConfigObjConfig, ServiceDependency, ServiceModelConfig, ServiceNetworkConfig,
    ServiceSecretConfig, ShortList, sorted_map,
};
use super::units::{ByteSize, Duration, NanoCpus, serialize_go_f32};
use super::volume::ServiceVolumeConfig;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i64(v: &i64) -> bool {
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

/// `cgroup`: the cgroup namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CgroupNs {
    Host,
    Private,
}

/// One service. `name` is the key in `services:` (not printed). `command`/`entrypoint` are always
/// printed (`null` when unset), as compose-go cannot omit them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(skip)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub annotations: Mapping,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub attach: Option<bool>,
    #[serde(
        default,
        deserialize_with = "build::build",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Short<BuildConfig>>")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupNs>,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_count: i64,
    #[serde(
        default,
        deserialize_with = "lenient::f32",
        serialize_with = "serialize_go_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub cpu_percent: f32,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_period: i64,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_quota: i64,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_rt_period: i64,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_rt_runtime: i64,
    #[serde(default, skip_serializing_if = "is_zero_cpus")]
    pub cpus: NanoCpus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpuset: String,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_shares: i64,
    #[serde(default)]
    pub command: Option<ShellCommand>,
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "ShortList<ServiceConfigObjConfig>")]
    pub configs: Vec<ServiceConfigObjConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    #[serde(
        default,
        deserialize_with = "refs::depends_on",
        serialize_with = "sorted_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(schema_with = "refs::names_or_map_schema::<ServiceDependency>")]
    pub depends_on: IndexMap<String, ServiceDependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "ShortList<DeviceMapping>")]
    pub devices: Vec<DeviceMapping>,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub dns: StringList,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub dns_search: StringList,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domainname: String,
    #[serde(default)]
    pub entrypoint: Option<ShellCommand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ServiceProviderConfig>,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(
        default,
        rename = "env_file",
        deserialize_with = "options::env_files",
        serialize_with = "options::serialize_env_files",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Option<StringOrList<Short<EnvFile>>>")]
    pub env_files: Vec<EnvFile>,
    #[serde(default, skip_serializing_if = "StringOrNumberList::is_empty")]
    pub expose: StringOrNumberList,
    #[serde(
        default,
        deserialize_with = "lenient::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Short<ExtendsConfig>>")]
    pub extends: Option<ExtendsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "StringOrNumberList::is_empty")]
    pub group_add: StringOrNumberList,
    #[serde(
        default,
        deserialize_with = "deploy::gpus",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "GpusInput")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(
        default,
        rename = "healthcheck",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check: Option<HealthCheckConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(
        default,
        rename = "label_file",
        skip_serializing_if = "StringList::is_empty"
    )]
    pub label_files: StringList,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub log_opt: Mapping,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub mem_limit: ByteSize,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub mem_reservation: ByteSize,
    #[serde(
        default,
        rename = "memswap_limit",
        skip_serializing_if = "is_zero_size"
    )]
    pub mem_swap_limit: ByteSize,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub mem_swappiness: ByteSize,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(
        default,
        deserialize_with = "refs::names_or_map",
        serialize_with = "sorted_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(schema_with = "refs::names_or_map_schema::<ServiceModelConfig>")]
    pub models: IndexMap<String, Option<ServiceModelConfig>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(
        default,
        deserialize_with = "refs::names_or_map",
        serialize_with = "sorted_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(schema_with = "refs::names_or_map_schema::<ServiceNetworkConfig>")]
    pub networks: IndexMap<String, Option<ServiceNetworkConfig>>,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub oom_kill_disable: bool,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub oom_score_adj: i64,
    #[serde(
        default,
        deserialize_with = "lenient::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub pid: String,
    #[serde(
        default,
        deserialize_with = "lenient::i64",
        skip_serializing_if = "is_zero_i64"
    )]
    pub pids_limit: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    #[serde(
        default,
        deserialize_with = "port::deserialize_ports",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Vec<PortInput>")]
    pub ports: Vec<ServicePortConfig>,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pull_policy: String,
    /// In the schema but not in compose-go v2.9: read, never printed.
    #[serde(default, skip_serializing)]
    pub pull_refresh_after: String,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restart: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub scale: Option<i64>,
    #[serde(
        default,
        deserialize_with = "refs::service_secrets",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "ShortList<ServiceSecretConfig>")]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub shm_size: ByteSize,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub storage_opt: Mapping,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub sysctls: Mapping,
    #[serde(default, skip_serializing_if = "StringList::is_empty")]
    pub tmpfs: StringList,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub tty: bool,
    #[serde(
        default,
        deserialize_with = "options::ulimits",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[schemars(with = "BTreeMap<String, Short<UlimitsConfig>>")]
    pub ulimits: BTreeMap<String, UlimitsConfig>,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub use_api_socket: bool,
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub userns_mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uts: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume_driver: String,
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "ShortList<ServiceVolumeConfig>")]
    pub volumes: Vec<ServiceVolumeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
}

/// Schema helper: one `T` or a list of `T`.
struct StringOrList<T>(std::marker::PhantomData<T>);

impl<T: JsonSchema> JsonSchema for StringOrList<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}OrList", T::schema_name()).into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = g.subschema_for::<T>();
        schemars::json_schema!({"oneOf": [item, {"type": "array", "items": item}]})
    }
}
