//! Images for the bundled runtime: a content-addressed store under the state root, laid out as an
//! OCI image layout that skopeo/umoci can read, with every layer unpacked once (per diff_id) into a
//! read-only directory that containers stack as overlayfs lower dirs.
//!
//! Entry point: [`ImageStore`]. Sub-modules, each owning one concern:
//! - [`reference`](mod@reference): docker-style reference parsing and normalization.
//! - [`digest`]: sha256 digests and hashing readers/writers.
//! - [`layout`]: the OCI layout on disk (blobs, `index.json`) and atomic writes.
//! - [`store`]: the store itself (open, commit, resolve, list, tag, inspect).
//! - [`gc`]: remove, holds (images in use), prune and garbage collection.
//! - [`unpack`]: hostile-archive-safe layer extraction (openat2 `RESOLVE_IN_ROOT`, whiteouts).
//! - [`archive`]: `load` (docker-save, oci-archive, layout dirs) and `import` of a rootfs tarball.
//! - [`pull`]: pulling from registries with `oci-client`; [`push`] the reverse.
//! - [`auth`]: `~/.docker/config.json` credentials; [`policy`]: Compose `pull_policy` decisions.
//!
//! Typical use from the container side:
//!
//! ```no_run
//! # fn demo() -> Result<(), rcompose::runtime::image::ImageError> {
//! use rcompose::runtime::image::ImageStore;
//! let store = ImageStore::open(std::path::Path::new("/var/lib/rcompose"))?;
//! let image = store.inspect("busybox")?; // docker.io/library/busybox:latest, an ID or a digest
//! let lower = image.lower_dirs_top_first(); // read-only overlayfs lower dirs
//! let cmd = image.config.config().as_ref().and_then(|c| c.cmd().clone());
//! # let _ = (lower, cmd); Ok(()) }
//! ```

pub mod archive;
pub mod auth;
pub mod digest;
pub mod error;
pub mod gc;
pub mod layout;
mod lock;
pub mod policy;
pub mod pull;
pub mod push;
pub mod reference;
pub mod store;
mod sys;
pub mod unpack;

pub use archive::LoadedImage;
pub use digest::Digest;
pub use error::ImageError;
pub use gc::{GcStats, PrunedImages, RemovedImage};
pub use policy::{LocalImageState, PullDecision, PullPolicy, should_pull};
pub use pull::{Ensured, PullEvent, PullOptions};
pub use reference::Reference;
pub use store::{DEFAULT_STATE_ROOT, ImageId, ImageStore, LocalImage};
