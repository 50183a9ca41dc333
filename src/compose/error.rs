//! The one error type of the Compose loader. Each variant says where the problem is: a file,
//! and inside it a key path and a line/column whenever the YAML gave us one.

use std::path::PathBuf;

use super::decode::DecodeError;
use super::interpolate::InterpolationError;
use super::node::{KeyPath, Location, Node};
use super::yaml::YamlError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Yaml(#[from] YamlError),

    #[error(transparent)]
    Interpolation(#[from] InterpolationError),

    #[error(transparent)]
    Decode(#[from] DecodeError),

    #[error("{}: {message}", path.display(), message = io_message(error))]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}:{line}: {message}", file.display())]
    EnvFile {
        file: PathBuf,
        line: usize,
        message: String,
    },

    /// A value that parses but is not a valid Compose project.
    #[error("{}{}{message}", loc.as_ref().map(|l| format!("{l}: ")).unwrap_or_default(), path.as_ref().filter(|p| !p.is_empty()).map(|p| format!("{p}: ")).unwrap_or_default())]
    Invalid {
        loc: Option<Location>,
        path: Option<KeyPath>,
        message: String,
    },

    #[error("no configuration file provided: not found")]
    NoConfigFile,
}

impl LoadError {
    /// An invalid-project error about `node` at `path`.
    pub fn at(node: Option<&Node>, path: &KeyPath, message: impl Into<String>) -> Self {
        LoadError::Invalid {
            loc: node.and_then(|n| n.loc.clone()),
            path: Some(path.clone()),
            message: message.into(),
        }
    }

    /// An invalid-project error with no particular place.
    pub fn invalid(message: impl Into<String>) -> Self {
        LoadError::Invalid {
            loc: None,
            path: None,
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// The I/O error's text without the "(os error N)" suffix, which the path already explains.
fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
