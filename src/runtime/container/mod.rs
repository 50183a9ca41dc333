//! Containers: the spec, its OCI translation, rootfs and volumes, persisted state, and the
//! client-side [`Runtime`] API that drives one monitor process per running container, and
//! [`StateWatcher`] to react to state changes as they happen.

pub mod cgroup_warm;
pub mod cleanup;
pub mod client;
pub mod copy;
pub mod creation;
pub mod error;
pub mod events;
pub mod inroot;
pub mod logs;
pub mod names;
pub mod oci;
pub mod paths;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod stats;
pub mod user;
pub mod volumes;
pub mod watch;

pub use creation::CreationLock;
pub use error::{ContainerError, Result};
pub use logs::{LogEntry, LogOptions, LogStream};
pub use runtime::{
    ContainerId, ContainerInfo, ContainerRuntime, DEFAULT_RUN_ROOT, DEFAULT_STATE_ROOT, ExecIo,
    ExecOutput, LogIter, RemoveOptions, Runtime,
};
pub use seccomp::SeccompProfile;
pub use spec::{
    ContainerSpec, ExecSpec, HealthTest, Healthcheck, LogConfig, MountKind, MountSpec, NetworkMode,
    Propagation, Resources, RestartPolicy, Ulimit,
};
pub use state::{ContainerState, HealthState, HealthStatus, ProbeResult, Status};
pub use watch::StateWatcher;
