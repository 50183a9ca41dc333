//! The builder's error type: every variant names the Dockerfile line, path or step involved, so
//! the CLI can print it as is.

use std::path::PathBuf;

use super::dockerfile::{ExpandError, ParseError};
use crate::runtime::container::ContainerError;
use crate::runtime::image::ImageError;
use crate::runtime::network::NetError;

/// Where in which Dockerfile an instruction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The Dockerfile's name as the user gave it (`Dockerfile`, `docker/web.Dockerfile`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A syntax error; it names the file and line.
    #[error("{0}")]
    Parse(ParseError),
    #[error("{origin}: {error}")]
    Expand { origin: Origin, error: ExpandError },
    /// An instruction whose arguments cannot be used (bad `--chown`, unknown stage, ...).
    #[error("{origin}: {message}")]
    Instruction { origin: Origin, message: String },
    /// A RUN step that exited non-zero; `output` holds the last lines it printed.
    #[error(
        "{origin}: {instruction}: process {command:?} did not complete successfully: exit code: {exit_code}{}",
        tail(output)
    )]
    RunFailed {
        origin: Origin,
        instruction: String,
        command: String,
        exit_code: i32,
        output: Vec<String>,
    },
    /// A COPY/ADD source that is not in the context (or excluded by `.dockerignore`).
    #[error("{origin}: failed to compute cache key: {path:?} not found")]
    SourceNotFound { origin: Origin, path: String },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Ignore(super::ignore::IgnoreError),
    #[error("target stage {0:?} could not be found")]
    NoSuchTarget(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Network(#[from] NetError),
    /// An overlay mount or another system call outside a path.
    #[error("{what}: {error}")]
    Sys { what: String, error: std::io::Error },
    #[error("layer {path}: {reason}")]
    BadLayer { path: PathBuf, reason: String },
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("interrupted")]
    Interrupted,
}

fn tail(output: &[String]) -> String {
    if output.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n------\n");
    for l in output {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("------");
    s
}

impl BuildError {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        BuildError::Io {
            path: path.into(),
            error,
        }
    }

    pub fn sys(what: impl Into<String>, error: impl Into<std::io::Error>) -> Self {
        BuildError::Sys {
            what: what.into(),
            error: error.into(),
        }
    }

    /// The Dockerfile line the error is about, if any.
    pub fn origin(&self) -> Option<Origin> {
        match self {
            BuildError::Parse(e) => Some(Origin {
                file: e.file.clone().unwrap_or_else(|| "Dockerfile".into()),
                line: e.line,
            }),
            BuildError::Expand { origin, .. }
            | BuildError::Instruction { origin, .. }
            | BuildError::RunFailed { origin, .. }
            | BuildError::SourceNotFound { origin, .. } => Some(origin.clone()),
            _ => None,
        }
    }

    pub fn instruction(origin: &Origin, message: impl Into<String>) -> Self {
        BuildError::Instruction {
            origin: origin.clone(),
            message: message.into(),
        }
    }
}

/// Attach a path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, BuildError>;
}

impl From<super::ignore::IgnoreError> for BuildError {
    fn from(e: super::ignore::IgnoreError) -> Self {
        BuildError::Ignore(e)
    }
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, BuildError> {
        self.map_err(|e| BuildError::io(path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, BuildError> {
        self.map_err(|e| BuildError::io(path, e.into()))
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;
