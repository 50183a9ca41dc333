//! `image prune`: what `docker image prune` removes from the bundled store. Image pruning is
//! the store's; this is the place where other kinds of unused data (the builder's cache) are
//! added to the same report, so the command prints one total.

use super::error::Result;
use crate::runtime::build::BuildCache;
use crate::runtime::image::{ImageId, ImageStore, Reference};

/// Which images go.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImagePruneOptions {
    /// All images no container uses, not only dangling (untagged) ones (`-a`).
    pub all: bool,
}

/// Everything a prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub untagged: Vec<Reference>,
    pub deleted: Vec<ImageId>,
    /// Disk space freed, in bytes.
    pub reclaimed_bytes: u64,
}

/// Removes unused images (dangling ones, or with `all` every image no container holds) and
/// the blobs and layers only they used.
/// Then the build cache: records whose layers no image uses any more (all records with `all`),
/// and the layers only they kept.
pub fn prune_images(store: &ImageStore, opts: &ImagePruneOptions) -> Result<PruneReport> {
    let pruned = store.prune_images(opts.all)?;
    let cache = BuildCache::open(store).and_then(|c| c.prune(store, opts.all));
    let cache = cache.map_err(|e| super::error::EngineError::Other(format!("build cache: {e}")))?;
    Ok(PruneReport {
        untagged: pruned.untagged,
        deleted: pruned.deleted,
        reclaimed_bytes: pruned.reclaimed_bytes + cache.reclaimed_bytes,
    })
}
