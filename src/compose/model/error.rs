//! Errors raised while decoding Compose values: one variant per kind of value, each saying what was expected.

use thiserror::Error;

/// A Compose value that does not follow the syntax the specification allows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    #[error("invalid port {spec:?}: {reason}")]
    InvalidPort { spec: String, reason: String },
    #[error("invalid volume {spec:?}: {reason}")]
    InvalidVolume { spec: String, reason: String },
    #[error("expected a duration like \"10s\" or \"1m30s\", got {value:?}: {reason}")]
    InvalidDuration { value: String, reason: String },
    #[error("expected a byte size like \"512m\" or \"2gb\", got {value:?}: {reason}")]
    InvalidByteSize { value: String, reason: String },
    #[error("expected an octal file mode like \"0444\", got {0:?}")]
    InvalidFileMode(String),
    #[error("expected a number of CPUs like 0.5, got {0:?}")]
    InvalidCpus(String),
    #[error("invalid device count {0:?}: the only values allowed are 'all' or a number")]
    InvalidDeviceCount(String),
    #[error("invalid command line {0:?}: unbalanced quotes, parentheses or trailing backslash")]
    InvalidCommandLine(String),
    #[error("invalid extra host {0:?}: expected HOST=IP or HOST:IP")]
    InvalidExtraHost(String),
    #[error("environment variable {0:?} is declared with a trailing space")]
    TrailingSpace(String),
    #[error("invalid device {0:?}: expected HOST[:CONTAINER[:PERMISSIONS]]")]
    InvalidDevice(String),
    #[error("invalid {what} {value:?}: expected one of {expected}")]
    InvalidEnum {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid ssh key {0:?}: expected \"default\" or ID=PATH")]
    InvalidSshKey(String),
    #[error("expected an integer, got {0:?}")]
    InvalidInteger(String),
    #[error("expected a boolean, got {0:?}")]
    InvalidBool(String),
}
