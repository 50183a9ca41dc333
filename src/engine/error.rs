//! The engine's error type: what went wrong, on which resource, and why, worded for the user.

use crate::runtime::container::ContainerError;
use crate::runtime::image::ImageError;
use crate::runtime::network::NetError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Network(#[from] NetError),
    #[error(transparent)]
    Spec(#[from] super::service_spec::SpecError),
    #[error(transparent)]
    Resource(#[from] super::resources::ResourceError),
    #[error(transparent)]
    Graph(#[from] crate::plan::graph::GraphError),
    /// A `depends_on` condition that cannot be met.
    #[error("dependency failed to start: {0}")]
    Dependency(String),
    /// docker compose's wording for a one-shot dependency that failed.
    #[error("service {service:?} didn't complete successfully: exit {code}")]
    NotCompleted { service: String, code: i32 },
    #[error("service {service:?} has neither an image nor a build context specified")]
    NoImage { service: String },
    #[error(
        "service {service:?} needs its image {image} built: run `rcompose build` or `up` without --no-build"
    )]
    NeedsBuild { service: String, image: String },
    /// A failed image build; the builder's error names the Dockerfile line.
    #[error("failed to build {service:?}: {error}")]
    Build {
        service: String,
        error: Box<crate::runtime::build::BuildError>,
    },
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("network {name} declared as external, but could not be found")]
    ExternalNetwork { name: String },
    #[error("external volume {name:?} not found")]
    ExternalVolume { name: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
