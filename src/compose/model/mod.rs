//! The typed Compose model (mirrors compose-go's `types` package) that the loader decodes into, and its
//! output in docker compose v2's JSON shape.
//!
//! Decoding accepts every syntax of the Compose specification and normalizes short forms to compose-go's
//! canonical long forms (including the defaults compose-go's `transform` step adds). Serializing with
//! serde gives `docker compose config --format json`'s shape: Go field order, Go `omitempty` rules, map
//! keys sorted; [`to_go_json_pretty`] adds Go's HTML escaping. [`config_hash`] gives the service hash.

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
