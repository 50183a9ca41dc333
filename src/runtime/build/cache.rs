//! The build cache: which layer a step produced, keyed by everything that determines it.
//!
//! A step's key hashes its parent's key, the instruction as expanded, the settings it runs with
//! (environment, user, working directory, network) and, for COPY/ADD, the checksum of its
//! sources. A hit is reused when its layer is still in the store. Records are small JSON files
//! `<state root>/image/buildcache/<key>` (one per step, so concurrent builds never rewrite a
//! shared index); the image store's garbage collection keeps the layers they name, and
//! [`BuildCache::prune`] drops them again. Records are not fsynced: a record lost in a crash is
//! a cache miss, and the layer it names is made durable before the record is written.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::{IoContext, Result};
use crate::runtime::image::{Digest, ImageStore, layout};

/// Directory of the records under the image store root (the store's GC reads it too).
pub const CACHE_DIR: &str = "buildcache";

/// A step's cache key (sha256 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes the inputs of a step. Every field is length-prefixed, so `("ab", "c")` and
/// `("a", "bc")` differ.
#[derive(Clone)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// A key of kind `kind` (`run`, `copy`, ...) on top of `parent`.
    pub fn new(kind: &str, parent: Option<&CacheKey>) -> Self {
        let mut k = KeyBuilder(Sha256::new());
        k = k.field(b"rcompose-build-v1");
        k = k.field(kind.as_bytes());
        k.field(parent.map_or(&b""[..], |p| p.0.as_bytes()))
    }

    pub fn field(mut self, bytes: &[u8]) -> Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn str(self, s: &str) -> Self {
        self.field(s.as_bytes())
    }

    pub fn strs<'a>(mut self, items: impl IntoIterator<Item = &'a String>) -> Self {
        let items: Vec<&String> = items.into_iter().collect();
        self = self.field(&(items.len() as u64).to_le_bytes());
        for i in items {
            self = self.str(i);
        }
        self
    }

    pub fn finish(self) -> CacheKey {
        let out = self.0.finalize();
        CacheKey(out.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The layer (its blob digest is the diff_id: layers are stored uncompressed); `None` when
    /// the step changed nothing.
    pub diff_id: Option<Digest>,
    /// Bytes of the layer tar.
    #[serde(default)]
    pub size: u64,
    /// When the step ran (RFC 3339): its history entry's time, so that a cached rebuild
    /// yields the same image config and ID.
    pub created: String,
}

/// What [`BuildCache::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CachePruned {
    pub records: usize,
    /// Disk space the garbage collection after it freed.
    pub reclaimed_bytes: u64,
}

/// The cache of one state root.
#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BuildCache {
    pub fn open(store: &ImageStore) -> Result<Self> {
        let dir = store.root().join(CACHE_DIR);
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(BuildCache {
            dir,
            tmp: store.layout().tmp_dir().to_path_buf(),
        })
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(&key.0)
    }

    /// The record for `key` if its layer is still in `store`.
    pub fn get(&self, store: &ImageStore, key: &CacheKey) -> Option<CacheRecord> {
        let bytes = fs::read(self.path(key)).ok()?;
        let rec: CacheRecord = serde_json::from_slice(&bytes).ok()?;
        match &rec.diff_id {
            Some(d) if !(store.layer_dir(d).is_dir() && store.layout().has_blob(d)) => None,
            _ => Some(rec),
        }
    }

    pub fn put(&self, key: &CacheKey, rec: &CacheRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec)
            .map_err(|e| super::error::BuildError::io(self.path(key), std::io::Error::other(e)))?;
        let tmp = self.tmp.join(layout::unique_name("cache"));
        fs::write(&tmp, bytes).at(&tmp)?;
        let dest = self.path(key);
        fs::rename(&tmp, &dest).at(&dest)
    }

    /// Every record: (key file name, record); unreadable ones are skipped.
    fn records(&self) -> Result<Vec<(PathBuf, Option<CacheRecord>)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).at(&self.dir)? {
            let e = e.at(&self.dir)?;
            let rec = fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            out.push((e.path(), rec));
        }
        Ok(out)
    }

    /// Drop records: all of them with `all` (and the `RUN --mount=type=cache` directories),
    /// else those whose layer no image uses (or that is gone); then collect the store's
    /// garbage. Returns how many records went.
    pub fn prune(&self, store: &ImageStore, all: bool) -> Result<CachePruned> {
        let used: std::collections::BTreeSet<Digest> = if all {
            Default::default()
        } else {
            store
                .list()?
                .into_iter()
                .flat_map(|i| i.diff_ids.into_iter())
                .collect()
        };
        let mut removed = 0;
        for (path, rec) in self.records()? {
            let keep =
                !all && rec.is_some_and(|r| r.diff_id.as_ref().is_none_or(|d| used.contains(d)));
            if !keep {
                fs::remove_file(&path).at(&path)?;
                removed += 1;
            }
        }
        if all && let Some(state_root) = store.root().parent() {
            let mounts = state_root.join("build").join("mounts");
            if mounts.is_dir() {
                fs::remove_dir_all(&mounts).at(&mounts)?;
            }
        }
        let gc = store.gc()?;
        Ok(CachePruned {
            records: removed,
            reclaimed_bytes: gc.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_fields() {
        let a = KeyBuilder::new("run", None).str("ab").str("c").finish();
        let b = KeyBuilder::new("run", None).str("a").str("bc").finish();
        let c = KeyBuilder::new("copy", None).str("ab").str("c").finish();
        let d = KeyBuilder::new("run", Some(&a)).str("ab").str("c").finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a, KeyBuilder::new("run", None).str("ab").str("c").finish());
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn records_round_trip_and_need_their_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let cache = BuildCache::open(&store).unwrap();
        let key = KeyBuilder::new("run", None).str("x").finish();
        assert_eq!(cache.get(&store, &key), None);
        let empty = CacheRecord {
            diff_id: None,
            size: 0,
            created: "2026-01-01T00:00:00Z".into(),
        };
        cache.put(&key, &empty).unwrap();
        assert_eq!(cache.get(&store, &key), Some(empty.clone()));

        let blob = store.layout().put_blob_bytes(b"not really a tar").unwrap();
        let with_layer = CacheRecord {
            diff_id: Some(blob.clone()),
            size: 16,
            created: empty.created.clone(),
        };
        let key2 = KeyBuilder::new("run", None).str("y").finish();
        cache.put(&key2, &with_layer).unwrap();
        assert_eq!(cache.get(&store, &key2), None, "layer dir missing");
        fs::create_dir_all(store.layer_dir(&blob)).unwrap();
        assert_eq!(cache.get(&store, &key2), Some(with_layer));

        // No image uses the layer: pruning drops that record; `all` drops the rest.
        assert_eq!(cache.prune(&store, false).unwrap().records, 1);
        assert_eq!(cache.get(&store, &key2), None);
        assert_eq!(cache.prune(&store, true).unwrap().records, 1);
        assert_eq!(cache.get(&store, &key), None);
    }
}
