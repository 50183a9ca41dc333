//! The typed Compose model (mirrors compose-go v2.9's `types` package) that the loader decodes into, and
//! its output in docker compose v2's JSON shape.
//!
//! **Decoding** (`Deserialize` from any serde deserializer) accepts every syntax of the Compose
//! specification and produces compose-go's canonical long forms, including the defaults compose-go's
//! `transform` step adds: short ports/volumes/devices/secrets/configs/env_file/extends/build/gpus/ulimits
//! expanded, `depends_on` lists become `{condition: service_started, required: true}`, port
//! `protocol: tcp`/`mode: ingress`, service secret targets `/run/secrets/<source>`, device request
//! `count: all`, build `context: .` and `dockerfile: Dockerfile`. Unknown keys are errors (callers strip
//! `x-*` keys except at the top level, where they are kept in [`Project::extensions`]). Visitors forward
//! maps to the caller's deserializer, so its error locations are kept.
//!
//! Left to the loader (compose-go's `normalize`/`paths`/merge steps): interpolation, merging and
//! `!reset`/`!override`, relative paths and `~`, the implicit `default` network, resource names
//! (`<project>_<name>`), `links`/`volumes_from`/`network_mode: service:` dependencies, env resolution
//! and `env_file` merging, `pull_policy: if_not_present` → `missing`, port/volume de-duplication,
//! `path.Clean` on long-syntax volume targets.
//!
//! **Serializing** gives `docker compose config --format json`'s shape: Go field order, Go `omitempty`
//! rules, map keys sorted; [`to_go_json_pretty`] adds Go's HTML escaping and is byte-identical to
//! docker compose v2.40.3 on the awesome-compose fixtures. [`config_hash`] is docker compose's
//! `ServiceHash`. [`input_schema`] is a JSON Schema of the input syntax for editors.

mod build;
mod command;
mod deploy;
mod error;
mod hash;
mod lenient;
mod mapping;
mod options;
mod port;
mod project;
mod refs;
mod resources;
mod schema;
mod service;
mod shell;
mod units;
mod volume;

pub use build::{BuildConfig, SshConfig, SshKey};
pub use command::{HealthCheckTest, ShellCommand};
pub use deploy::{
    DeployConfig, DeviceRequest, DiscreteGenericResource, GenericResource, Placement,
    PlacementPreferences, Resource, Resources, RestartPolicy, UpdateConfig,
};
pub use error::ModelError;
pub use hash::{config_hash, go_json_escape, to_go_json_pretty};
pub use lenient::{Short, ShortSyntax};
pub use mapping::{
    HostsList, Mapping, MappingWithEquals, MultiOptions, StringList, StringOrNumberList,
};
pub use options::{
    BlkioConfig, CredentialSpecConfig, DevelopConfig, DeviceMapping, EnvFile, ExtendsConfig,
    HealthCheckConfig, LoggingConfig, ServiceHook, ServiceProviderConfig, ThrottleDevice, Trigger,
    UlimitsConfig, WatchAction, WeightDevice,
};
pub use port::{PortMode, Protocol, ServicePortConfig, parse_port_spec};
pub use project::Project;
pub use refs::{
    Condition, FileReferenceConfig, ServiceConfigObjConfig, ServiceDependency, ServiceModelConfig,
    ServiceNetworkConfig, ServiceSecretConfig,
};
pub use resources::{
    ConfigObjConfig, IncludeConfig, IpamConfig, IpamPool, ModelConfig, NetworkConfig, SecretConfig,
    VolumeConfig,
};
pub use schema::input_schema;
pub use service::{CgroupNs, ServiceConfig};
pub use shell::shell_split;
pub use units::{ByteSize, DeviceCount, Duration, FileMode, NanoCpus};
pub use volume::{
    Propagation, SeLinux, ServiceVolumeBind, ServiceVolumeConfig, ServiceVolumeImage,
    ServiceVolumeTmpfs, ServiceVolumeVolume, VolumeType, clean_path, parse_volume_spec,
};
