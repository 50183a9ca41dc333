//! Getting images out: `remove` (untag / delete like `docker rmi`), holds that keep images in use
//! by containers, pruning dangling images, and the garbage collection of blobs and unpacked
//! layers that no `index.json` entry reaches. All of it runs under the exclusive GC lock, so it
//! never races a pull, load or import (those hold the lock shared).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use super::error::{ImageError, IoContext};
use super::layout::{self, ANNOTATION_REF_NAME};
use super::reference::Reference;
use super::store::{ImageId, ImageStore};

/// What `remove` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub untagged: Vec<Reference>,
    pub deleted: Vec<ImageId>,
}

/// What a garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub blobs: usize,
    pub layers: usize,
    /// Disk space freed: removed blobs plus removed unpacked layer trees.
    pub bytes: u64,
}

/// What [`ImageStore::prune_images`] removed, in `docker image prune` terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrunedImages {
    /// References removed from images that were then deleted.
    pub untagged: Vec<Reference>,
    pub deleted: Vec<ImageId>,
    /// Disk space freed by the garbage collection that followed.
    pub reclaimed_bytes: u64,
}

impl ImageStore {
    /// Remove an image like `docker rmi`: by reference it removes that reference, and the image
    /// once nothing else refers to it; by ID it removes the image, which needs `force` when
    /// several references point at it. An image with holders (see [`ImageStore::hold`]) is never
    /// deleted: without `force` that is [`ImageError::InUse`], with `force` it is only untagged
    /// and stays as a dangling image. Unreferenced blobs and layers are then garbage-collected.
    pub fn remove(&self, reference_or_id: &str, force: bool) -> Result<RemovedImage, ImageError> {
        let img = self
            .resolve(reference_or_id)?
            .ok_or_else(|| ImageError::NotFound(reference_or_id.to_string()))?;
        let by_ref = Reference::parse(reference_or_id)
            .ok()
            .filter(|r| img.references.contains(r));
        let mut removed = RemovedImage::default();
        {
            let _gc = self.lock_gc_exclusive()?;
            let _idx = self.lock_index()?;
            let holders = self.holders(&img.id)?;
            let in_use = || ImageError::InUse {
                image: reference_or_id.to_string(),
                holders: holders.join(", "),
            };
            let mut index = self.layout().read_index()?;
            let md = img.manifest_digest.as_str();
            let template = index.manifests.iter().find(|d| d.digest == md).cloned();
            match &by_ref {
                Some(r) => {
                    let name = r.to_string();
                    index
                        .manifests
                        .retain(|d| d.annotations.get(ANNOTATION_REF_NAME) != Some(&name));
                    removed.untagged.push(r.clone());
                    if !index.manifests.iter().any(|d| d.digest == md) {
                        if holders.is_empty() {
                            removed.deleted.push(img.id.clone());
                        } else if !force {
                            return Err(in_use());
                        }
                    }
                }
                None => {
                    if img.references.len() > 1 && !force {
                        return Err(ImageError::MultipleReferences {
                            image: img.id.short().to_string(),
                            refs: img
                                .references
                                .iter()
                                .map(|r| r.familiar())
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                    if !holders.is_empty() && !force {
                        return Err(in_use());
                    }
                    index.manifests.retain(|d| d.digest != md);
                    removed.untagged = img.references.clone();
                    if holders.is_empty() {
                        removed.deleted.push(img.id.clone());
                    }
                }
            }
            // A held image that lost its last reference stays, untagged.
            if !holders.is_empty()
                && !index.manifests.iter().any(|d| d.digest == md)
                && let Some(mut d) = template
            {
                d.annotations.remove(ANNOTATION_REF_NAME);
                index.manifests.push(d);
            }
            self.layout().write_index(&index)?;
        }
        self.gc()?;
        Ok(removed)
    }

    fn hold_dir(&self, id: &ImageId) -> PathBuf {
        self.root().join("holds").join(id.hex())
    }

    /// Record that `holder` (e.g. a container ID) uses image `id`, so `remove` and
    /// `prune_dangling` keep it and its layers until [`ImageStore::release`]. Persistent on disk.
    pub fn hold(&self, id: &ImageId, holder: &str) -> Result<(), ImageError> {
        let name = holder_file_name(holder)?;
        let _idx = self.lock_index()?;
        let dir = self.hold_dir(id);
        fs::create_dir_all(&dir).at(&dir)?;
        layout::write_file_atomic(&self.tmp_dir(), &dir.join(name), holder.as_bytes())
    }

    /// Drop a hold taken with [`ImageStore::hold`]; releasing an absent hold is not an error.
    pub fn release(&self, id: &ImageId, holder: &str) -> Result<(), ImageError> {
        let name = holder_file_name(holder)?;
        let _idx = self.lock_index()?;
        let dir = self.hold_dir(id);
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(p, e)),
        }
        let _ = fs::remove_dir(&dir); // only succeeds when empty
        Ok(())
    }

    /// Who holds image `id` (sorted).
    pub fn holders(&self, id: &ImageId) -> Result<Vec<String>, ImageError> {
        let dir = self.hold_dir(id);
        let mut out = Vec::new();
        match fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd {
                    let e = e.at(&dir)?;
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(dir, e)),
        }
        out.sort();
        Ok(out)
    }

    /// Every hold in the store: (image, holder), sorted.
    pub fn all_holds(&self) -> Result<Vec<(ImageId, String)>, ImageError> {
        let dir = self.root().join("holds");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let Ok(id) = format!("sha256:{}", e.file_name().to_string_lossy()).parse::<ImageId>()
            else {
                continue;
            };
            out.extend(self.holders(&id)?.into_iter().map(|h| (id.clone(), h)));
        }
        out.sort();
        Ok(out)
    }

    /// Remove dangling (untagged) images that nobody holds, then collect garbage. Returns the
    /// removed image IDs.
    pub fn prune_dangling(&self) -> Result<Vec<ImageId>, ImageError> {
        Ok(self.prune_images(false)?.deleted)
    }

    /// Remove the images no container holds (see [`ImageStore::hold`]): only dangling
    /// (untagged) ones, or with `all` tagged ones too, like `docker image prune [-a]`; then
    /// collect garbage.
    pub fn prune_images(&self, all: bool) -> Result<PrunedImages, ImageError> {
        let mut pruned = PrunedImages::default();
        {
            let _gc = self.lock_gc_exclusive()?;
            let _idx = self.lock_index()?;
            let mut index = self.layout().read_index()?;
            let tagged: BTreeSet<String> = index
                .manifests
                .iter()
                .filter(|d| d.annotations.contains_key(ANNOTATION_REF_NAME))
                .map(|d| d.digest.clone())
                .collect();
            let mut keep = Vec::new();
            for d in index.manifests {
                if !all && tagged.contains(&d.digest) {
                    keep.push(d);
                    continue;
                }
                // An entry whose manifest cannot be read is dropped (nothing can run it).
                let Ok(m) = self.read_manifest(&d.digest()?) else {
                    continue;
                };
                let id = m.config.digest()?;
                if !self.holders(&id)?.is_empty() {
                    keep.push(d);
                    continue;
                }
                if let Some(name) = d.annotations.get(ANNOTATION_REF_NAME) {
                    pruned.untagged.extend(Reference::parse(name).ok());
                }
                if !pruned.deleted.contains(&id) {
                    pruned.deleted.push(id);
                }
            }
            index.manifests = keep;
            self.layout().write_index(&index)?;
        }
        pruned.reclaimed_bytes = self.gc()?.bytes;
        Ok(pruned)
    }

    /// Delete blobs and unpacked layers no index entry reaches, and temp files of dead writers.
    pub fn gc(&self) -> Result<GcStats, ImageError> {
        let _gc = self.lock_gc_exclusive()?;
        let index = self.layout().read_index()?;
        let mut live_blobs: BTreeSet<String> = BTreeSet::new();
        let mut live_layers: BTreeSet<String> = BTreeSet::new();
        for d in &index.manifests {
            let md = d.digest()?;
            live_blobs.insert(md.hex().to_string());
            let Ok(m) = self.read_manifest(&md) else {
                continue;
            };
            let cfg = m.config.digest()?;
            live_blobs.insert(cfg.hex().to_string());
            for l in &m.layers {
                live_blobs.insert(l.digest()?.hex().to_string());
            }
            if let Ok(ids) = self.diff_ids(&cfg) {
                live_layers.extend(ids.iter().map(|d| d.hex().to_string()));
            }
        }
        // Layers the build cache names stay until it is pruned (`runtime::build::cache`).
        for hex in self.build_cache_layers() {
            live_blobs.insert(hex.clone());
            live_layers.insert(hex);
        }
        let mut stats = GcStats::default();
        let blobs = self.root().join("blobs").join("sha256");
        for e in fs::read_dir(&blobs).at(&blobs)? {
            let e = e.at(&blobs)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live_blobs.contains(&name) {
                stats.bytes += e.metadata().map_or(0, |m| m.len());
                fs::remove_file(e.path()).at(e.path())?;
                stats.blobs += 1;
            }
        }
        let layers = self.root().join("layers");
        for e in fs::read_dir(&layers).at(&layers)? {
            let e = e.at(&layers)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live_layers.contains(&name) {
                // rename first so a crash mid-delete never leaves a half layer under its name
                let doomed = self.tmp_dir().join(layout::unique_name("gc"));
                fs::rename(e.path(), &doomed).at(e.path())?;
                stats.bytes += tree_size(&doomed);
                fs::remove_dir_all(&doomed).at(&doomed)?;
                stats.layers += 1;
            }
        }
        // Per-layer lock files; nobody holds one while we hold the exclusive GC lock.
        let locks = self.root().join("locks");
        for e in fs::read_dir(&locks).at(&locks)? {
            let e = e.at(&locks)?;
            if e.file_name().to_string_lossy().starts_with("layer-") {
                let _ = fs::remove_file(e.path());
            }
        }
        self.clean_tmp()?;
        Ok(stats)
    }

    /// Remove the temp files and dirs whose writer is gone (killed mid-pull, mid-unpack,
    /// mid-write); a live writer's are kept. Needs no lock: names carry the writer's pid (see
    /// [`layout::unique_name`]). Returns how many were removed.
    pub fn clean_tmp(&self) -> Result<usize, ImageError> {
        let tmp = self.tmp_dir();
        let mut removed = 0;
        for e in fs::read_dir(&tmp).at(&tmp)? {
            let e = e.at(&tmp)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if layout::writer_pid(&name).is_some_and(process_exists) {
                continue;
            }
            let p = e.path();
            let r = if e.file_type().at(&p)?.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            match r {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ImageError::io(p, e)),
            }
        }
        Ok(removed)
    }
}

fn process_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Bytes of the regular files under `dir` (symlinks not followed; unreadable entries count 0).
/// Iterative: layer trees come from images and may be arbitrarily deep.
fn tree_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

impl ImageStore {
    /// The layers (uncompressed, so blob digest = diff_id) named by build cache records
    /// `buildcache/<key>`, as hex digests.
    fn build_cache_layers(&self) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct Record {
            diff_id: Option<String>,
        }
        let Ok(rd) = fs::read_dir(self.root().join("buildcache")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<Record>(&b).ok()?.diff_id)
            .filter_map(|d| d.strip_prefix("sha256:").map(str::to_string))
            .collect()
    }
}

/// A holder name is used as a file name: `[A-Za-z0-9_.-]`, not starting with a dot.
fn holder_file_name(holder: &str) -> Result<&str, ImageError> {
    let ok = !holder.is_empty()
        && holder.len() <= 200
        && !holder.starts_with('.')
        && holder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(holder)
    } else {
        Err(ImageError::InvalidHolder(holder.to_string()))
    }
}
