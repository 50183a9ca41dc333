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
    /// compose-go field outside the Compose schema: never read, printed if set programmatically.
    #[serde(skip_deserializing)]
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
    /// compose-go field outside the Compose schema: never read, printed if set programmatically.
    #[serde(skip_deserializing)]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    /// compose-go field outside the Compose schema: never read, printed if set programmatically.
    #[serde(skip_deserializing)]
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
    /// compose-go field outside the Compose schema: never read, printed if set programmatically.
    #[serde(skip_deserializing)]
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
    /// compose-go field outside the Compose schema: never read, printed if set programmatically.
    #[serde(skip_deserializing)]
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

#[cfg(test)]
mod tests {
    use crate::compose::model::Project;
    use serde_json::Value;

    /// `testdata/syntax.yaml` uses every short and long syntax; `testdata/syntax.json` is
    /// `docker-compose-v2 -f syntax.yaml config --format json` (v2.40.3). The file avoids what only the
    /// loader does (relative paths, `~`, env files, implicit networks), so the decoded services must
    /// print exactly as docker compose prints them.
    #[test]
    fn every_syntax_decodes_like_compose_go() {
        let project: Project =
            serde_norway::from_str(include_str!("testdata/syntax.yaml")).unwrap();
        let expected: Value = serde_json::from_str(include_str!("testdata/syntax.json")).unwrap();
        let ours = serde_json::to_value(&project).unwrap();
        let mut diffs = Vec::new();
        diff("", &ours["services"], &expected["services"], &mut diffs);
        assert!(
            diffs.is_empty(),
            "differences from docker compose:\n{}",
            diffs.join("\n")
        );
    }

    /// JSON pointers where `ours` and `want` differ, with both values.
    fn diff(path: &str, ours: &Value, want: &Value, out: &mut Vec<String>) {
        match (ours, want) {
            (Value::Object(a), Value::Object(b)) => {
                for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    let (x, y) = (
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                    );
                    if a.contains_key(k) != b.contains_key(k) {
                        out.push(format!("{path}/{k}: ours {x} vs docker {y}"));
                    } else {
                        diff(&format!("{path}/{k}"), x, y, out);
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    diff(&format!("{path}/{i}"), x, y, out);
                }
            }
            _ if ours != want => out.push(format!("{path}: ours {ours} vs docker {want}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod short_syntax_tests {
    use crate::compose::model::{Condition, ServiceConfig};
    use serde_json::{Value, json};

    fn service(yaml: &str) -> ServiceConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn out(yaml: &str) -> Value {
        serde_json::to_value(service(yaml)).unwrap()
    }

    fn err(yaml: &str) -> String {
        serde_norway::from_str::<ServiceConfig>(yaml)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn environment_list_and_map() {
        let list = out("environment: [A=1, B, C=, D=x=y]");
        assert_eq!(
            list["environment"],
            json!({"A": "1", "B": null, "C": "", "D": "x=y"})
        );
        let map = out("environment: {A: 1, B: null, C: true, D: 1.5, E: ''}");
        assert_eq!(
            map["environment"],
            json!({"A": "1", "B": null, "C": "true", "D": "1.5", "E": ""})
        );
        assert!(err("environment: ['A =1']").contains("trailing space"));
    }

    #[test]
    fn labels_sysctls_annotations() {
        let s = out("labels: [a=1, b]\nsysctls: {net.x: 1}\nannotations: {k: null}");
        assert_eq!(s["labels"], json!({"a": "1", "b": ""}));
        assert_eq!(s["sysctls"], json!({"net.x": "1"}));
        assert_eq!(s["annotations"], json!({"k": ""}));
    }

    #[test]
    fn extra_hosts_forms() {
        let list = out("extra_hosts: ['a:1.2.3.4', 'b=::1', 'c:[::2]', 'd=1.1.1.1,2.2.2.2']");
        assert_eq!(
            list["extra_hosts"],
            json!(["a=1.2.3.4", "b=::1", "c=::2", "d=1.1.1.1", "d=2.2.2.2"])
        );
        let map = out("extra_hosts: {b: '[::3]', a: [1.1.1.1, 2.2.2.2]}");
        assert_eq!(
            map["extra_hosts"],
            json!(["a=1.1.1.1", "a=2.2.2.2", "b=::3"])
        );
        assert!(err("extra_hosts: [nohost]").contains("invalid extra host \"nohost\""));
    }

    #[test]
    fn commands() {
        let s = out("command: echo 'a b'\nentrypoint: [sh, -c]");
        assert_eq!(s["command"], json!(["echo", "a b"]));
        assert_eq!(s["entrypoint"], json!(["sh", "-c"]));
        let unset = out("image: x");
        assert_eq!(unset["command"], Value::Null);
        assert_eq!(unset["entrypoint"], Value::Null);
        assert_eq!(out("command: null")["command"], Value::Null);
        assert_eq!(out("command: ''")["command"], json!([]));
        assert!(err("command: \"echo 'oops\"").contains("invalid command line"));
    }

    #[test]
    fn healthcheck_and_durations() {
        let s =
            out("healthcheck: {test: curl x, interval: 90s, timeout: 1h30m, start_period: 1500ms}");
        assert_eq!(
            s["healthcheck"],
            json!({"test": ["CMD-SHELL", "curl x"], "timeout": "1h30m0s", "interval": "1m30s", "start_period": "1.5s"})
        );
        let e = err("stop_grace_period: 10");
        assert!(e.contains("expected a duration like \"10s\""), "{e}");
        assert!(e.contains("line 1"), "error carries its location: {e}");
    }

    #[test]
    fn depends_on_forms() {
        let list = service("depends_on: [db]");
        assert_eq!(list.depends_on["db"].condition, Condition::ServiceStarted);
        assert!(list.depends_on["db"].required);
        let long = out(
            "depends_on: {db: {condition: service_healthy, restart: true}, x: {required: false}}",
        );
        assert_eq!(
            long["depends_on"],
            json!({"db": {"condition": "service_healthy", "restart": true, "required": true},
                   "x": {"condition": "service_started", "required": false}})
        );
        assert!(
            err("depends_on: {db: {condition: started}}").contains("unknown variant `started`")
        );
    }

    #[test]
    fn build_networks_secrets_extends() {
        let s = out("build: ./dir\nnetworks: [a, b]\nsecrets: [s]\nconfigs: [c]\nextends: base");
        assert_eq!(
            s["build"],
            json!({"context": "./dir", "dockerfile": "Dockerfile"})
        );
        assert_eq!(s["networks"], json!({"a": null, "b": null}));
        assert_eq!(
            s["secrets"],
            json!([{"source": "s", "target": "/run/secrets/s"}])
        );
        assert_eq!(s["configs"], json!([{"source": "c"}]));
        assert_eq!(s["extends"], json!({"service": "base"}));
        let inline = out("build: {dockerfile_inline: FROM x}");
        assert_eq!(
            inline["build"],
            json!({"context": ".", "dockerfile_inline": "FROM x"})
        );
    }

    #[test]
    fn env_files() {
        let svc = service("env_file: [a.env, {path: b.env, required: false, format: raw}]");
        assert_eq!(svc.env_files.len(), 2);
        assert!(svc.env_files[0].required && !svc.env_files[1].required);
        let s = serde_json::to_value(&svc).unwrap();
        assert_eq!(
            s["env_file"],
            json!(["a.env", {"path": "b.env", "required": false, "format": "raw"}])
        );
        assert_eq!(service("env_file: one.env").env_files[0].path, "one.env");
    }

    #[test]
    fn ulimits_sizes_cpus() {
        let s = out(
            "ulimits: {nproc: 65535, core: '0', nofile: {soft: 1, hard: 2}}\nmem_limit: 2gb\ncpus: '1.5'",
        );
        assert_eq!(
            s["ulimits"],
            json!({"core": {}, "nofile": {"soft": 1, "hard": 2}, "nproc": 65535})
        );
        assert_eq!(s["mem_limit"], json!("2147483648"));
        assert_eq!(s["cpus"], json!(1.5));
        let e = err("mem_limit: 2 parsecs");
        assert!(e.contains("expected a byte size like \"512m\""), "{e}");
    }

    #[test]
    fn lenient_scalars() {
        let s = out("cpu_shares: '512'\nprivileged: 'true'\nscale: '2'\nuser: 1000");
        assert_eq!(
            (&s["cpu_shares"], &s["privileged"], &s["scale"]),
            (&json!(512), &json!(true), &json!(2))
        );
        assert_eq!(s["user"], json!("1000"));
        assert!(err("cpu_shares: lots").contains("expected an integer, got \"lots\""));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = err("image: x\nimgae: y");
        assert!(e.contains("unknown field `imgae`"), "{e}");
        let e = err("healthcheck: {tset: x}");
        assert!(e.contains("unknown field `tset`"), "{e}");
        let e = err("ports: [{target: 80, publish: 8080}]");
        assert!(e.contains("unknown field `publish`"), "{e}");
        let e = err("ports: ['80:x']");
        assert!(e.contains("invalid port \"80:x\""), "{e}");
        let e = err("volumes: ['ab::c']");
        assert!(e.contains("invalid volume"), "{e}");
    }
}
