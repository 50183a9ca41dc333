//! The image-store error type: one enum, each variant naming the reference, digest or path involved.

use std::path::PathBuf;

/// Everything that can go wrong in the image store, with enough context to print a useful message.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid reference format {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}")]
    InvalidDigest { digest: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("layer {layer}: refusing archive entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("layer {layer}: {reason}")]
    BadLayer { layer: String, reason: String },
    #[error("unsupported media type {media_type:?} in {context}")]
    UnsupportedMediaType { media_type: String, context: String },
    #[error("{reference}: no manifest for platform {platform}")]
    NoMatchingPlatform { reference: String, platform: String },
    #[error("{path}: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{input:?} is ambiguous: it matches several images")]
    Ambiguous { input: String },
    #[error(
        "image {image} is referenced by several tags ({refs}); remove them by name or use force"
    )]
    MultipleReferences { image: String, refs: String },
    #[error("{reference}: manifest unknown (no such repository or tag in the registry)")]
    ManifestUnknown { reference: String },
    #[error("{reference}: pull access denied or authentication required: {message}")]
    Unauthorized { reference: String, message: String },
    #[error("image {image} is in use by {holders}; remove those first or use force to untag it")]
    InUse { image: String, holders: String },
    #[error("invalid image holder name {0:?} (allowed: letters, digits, '_', '.', '-')")]
    InvalidHolder(String),
    #[error("registry error for {reference}: {message}")]
    Registry { reference: String, message: String },
    #[error(
        "downloading blob {digest} of {reference}: the transfer broke off after {downloaded} of \
         {size} bytes: {message}"
    )]
    BlobTransfer {
        reference: String,
        digest: String,
        downloaded: u64,
        size: u64,
        message: String,
    },
    #[error("invalid pull policy {0:?}")]
    InvalidPullPolicy(String),
    #[error("image {reference} is not present locally and pull policy is never")]
    PullNever { reference: String },
    #[error("{path}: invalid credentials entry for {host}: {reason}")]
    BadCredentials {
        path: PathBuf,
        host: String,
        reason: String,
    },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        ImageError::Json {
            path: path.into(),
            source,
        }
    }
}

/// Attach a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(path, e))
    }
}
