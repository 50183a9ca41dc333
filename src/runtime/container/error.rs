//! Errors of the container runtime, each carrying the context needed to act on it.

use std::path::PathBuf;

/// Result alias for the container runtime.
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container name {0:?} is already in use")]
    NameInUse(String),
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    #[error(
        "ulimit {name}: requested hard limit {requested} exceeds the host hard limit {host_hard} \
         (raising it needs CAP_SYS_RESOURCE; lower the ulimit or raise `ulimit -H` for rcompose)"
    )]
    UlimitAboveHostHard {
        name: String,
        requested: u64,
        host_hard: u64,
    },
    #[error("user {user:?}: {reason}")]
    User { user: String, reason: String },
    #[error("container {id} is {state}: {action} is not possible")]
    InvalidState {
        id: String,
        state: String,
        action: &'static str,
    },
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    #[error("corrupt state file {path}: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error(
        "{path}: format version {found} is not one this rcompose reads (version {supported}); \
         use the rcompose that wrote it"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("monitor of container {id}: {message}")]
    Monitor { id: String, message: String },
    #[error("failed to start container {id}: {message}")]
    StartFailed { id: String, message: String },
    #[error("mount {what}: {source}")]
    Mount {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] super::seccomp::SeccompError),
    #[error("OCI spec: {0}")]
    Oci(String),
    #[error("libcontainer: {0}")]
    Libcontainer(String),
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
}

impl ContainerError {
    /// An I/O error with what was being done and on which path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ContainerError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        ContainerError::Sys {
            context: context.into(),
            source,
        }
    }
}

/// Extension to attach a context and path to `std::io::Result`.
pub trait IoContext<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| ContainerError::io(context, path, e))
    }
}
