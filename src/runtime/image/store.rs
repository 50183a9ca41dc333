//! The image store: an OCI layout plus unpacked layers under `<state root>/image/`, and the
//! operations on it that are not about getting content in (resolve, list, tag, remove, GC).
//!
//! ```text
//! <state root>/image/
//!   oci-layout, index.json          OCI image layout; one index entry per reference
//!   blobs/sha256/<hex>              manifests, configs and layer blobs as pulled/loaded
//!   layers/<diff_id hex>/           each layer unpacked once (overlayfs form), shared by images
//!   holds/<image id hex>/<holder>   images in use (e.g. by containers): never deleted
//!   locks/                          flock files: gc.lock, index.lock, layer-<hex>.lock
//!   tmp/                            temp files and dirs, renamed into place when complete
//! ```
//!
//! Index entries carry the full normalized reference in `org.opencontainers.image.ref.name`
//! (so `skopeo inspect oci:<dir>:docker.io/library/x:latest` works); entries without it are
//! untagged (dangling) images. The image ID is the config digest, as in docker.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oci_spec::image::ImageConfiguration;

use super::digest::Digest;
use super::error::{ImageError, IoContext};
use super::layout::{
    self, ANNOTATION_PULLED, ANNOTATION_REF_NAME, ANNOTATION_TAGGED, ConfigHead, Descriptor, Index,
    Layout, MEDIA_OCI_MANIFEST, Manifest,
};
use super::lock::FileLock;
use super::reference::Reference;
use super::unpack::{self, UnpackOptions};

/// The default state root (`<root>/image` holds the image store).
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/rcompose";

/// An image ID: the digest of its config blob.
pub type ImageId = Digest;

/// An image present in the store.
#[derive(Clone, Debug)]
pub struct LocalImage {
    /// Config digest (docker's image ID).
    pub id: ImageId,
    pub manifest_digest: Digest,
    /// All references pointing at this manifest (empty for a dangling image).
    pub references: Vec<Reference>,
    pub config: ImageConfiguration,
    /// Unpacked layer directories, bottom-most first (reverse for overlayfs `lowerdir=`).
    pub layer_dirs: Vec<PathBuf>,
    pub diff_ids: Vec<Digest>,
    /// Bytes of config + layer blobs as stored.
    pub size: u64,
    /// The config's `created` timestamp (RFC 3339), if any.
    pub created: Option<String>,
    /// When one of its references was last pulled from a registry.
    pub last_pulled: Option<SystemTime>,
    /// When one of its references was last (re)tagged in this store, by pull, load, import or tag.
    pub last_tagged: Option<SystemTime>,
}

impl LocalImage {
    /// The layer dirs top-most first, the order overlayfs `lowerdir=` wants.
    pub fn lower_dirs_top_first(&self) -> Vec<PathBuf> {
        self.layer_dirs.iter().rev().cloned().collect()
    }

    /// The familiar name docker shows (`nginx:latest`), or the short ID for a dangling image.
    pub fn display_name(&self) -> String {
        self.references
            .first()
            .map_or_else(|| self.id.short().to_string(), Reference::familiar)
    }
}

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
}

/// The content-addressed image store under a state root.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
    layout: Layout,
}

impl ImageStore {
    /// Open (creating if needed) the store at `<state_root>/image`.
    pub fn open(state_root: &Path) -> Result<Self, ImageError> {
        let root = state_root.join("image");
        for d in ["layers", "locks", "tmp", "holds"] {
            let p = root.join(d);
            fs::create_dir_all(&p).at(&p)?;
        }
        let layout = Layout::create(&root, &root.join("tmp"))?;
        Ok(ImageStore { root, layout })
    }

    /// `<state_root>/image`; also the OCI layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where the layer with this diff_id is (or would be) unpacked.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn lock_gc_shared(&self) -> Result<FileLock, ImageError> {
        FileLock::shared(&self.root.join("locks").join("gc.lock"))
    }

    fn lock_gc_exclusive(&self) -> Result<FileLock, ImageError> {
        FileLock::exclusive(&self.root.join("locks").join("gc.lock"))
    }

    fn lock_index(&self) -> Result<FileLock, ImageError> {
        FileLock::exclusive(&self.root.join("locks").join("index.lock"))
    }

    pub(crate) fn read_manifest(&self, digest: &Digest) -> Result<Manifest, ImageError> {
        let bytes = self.layout.read_blob(digest)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::json(self.layout.blob_path(digest), e))
    }

    /// The image config as parsed by oci-spec.
    pub fn config(&self, id: &ImageId) -> Result<ImageConfiguration, ImageError> {
        let bytes = self.layout.read_blob(id)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::json(self.layout.blob_path(id), e))
    }

    /// The raw config JSON (for docker-only fields such as `config.Healthcheck`).
    pub fn config_json(&self, id: &ImageId) -> Result<serde_json::Value, ImageError> {
        let bytes = self.layout.read_blob(id)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::json(self.layout.blob_path(id), e))
    }

    fn config_head(&self, id: &ImageId) -> Result<ConfigHead, ImageError> {
        let bytes = self.layout.read_blob(id)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::json(self.layout.blob_path(id), e))
    }

    fn diff_ids(&self, id: &ImageId) -> Result<Vec<Digest>, ImageError> {
        self.config_head(id)?
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect()
    }

    /// Make sure every layer of `manifest` is unpacked (verifying diff_ids); layers already
    /// present are shared, not unpacked again. Layers are unpacked in parallel threads.
    pub(crate) fn ensure_layers(&self, manifest: &Manifest) -> Result<Vec<PathBuf>, ImageError> {
        let config = manifest.config.digest()?;
        let diff_ids = self.diff_ids(&config)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::BadLayer {
                layer: config.to_string(),
                reason: format!(
                    "config has {} diff_ids but manifest has {} layers",
                    diff_ids.len(),
                    manifest.layers.len()
                ),
            });
        }
        let jobs: Vec<(Digest, Digest)> = manifest
            .layers
            .iter()
            .zip(&diff_ids)
            .map(|(l, d)| Ok((l.digest()?, d.clone())))
            .collect::<Result<_, ImageError>>()?;
        let width = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let mut dirs = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(width) {
            let results: Vec<Result<PathBuf, ImageError>> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(blob, diff)| s.spawn(move || self.ensure_layer(blob, diff)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(ImageError::BadLayer {
                                layer: "?".into(),
                                reason: "unpack thread panicked".into(),
                            })
                        })
                    })
                    .collect()
            });
            for r in results {
                dirs.push(r?);
            }
        }
        Ok(dirs)
    }

    /// Unpack one layer blob into `layers/<diff_id>` unless it is already there.
    pub(crate) fn ensure_layer(
        &self,
        blob: &Digest,
        diff_id: &Digest,
    ) -> Result<PathBuf, ImageError> {
        let dest = self.layer_dir(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let _lock = FileLock::exclusive(
            &self
                .root
                .join("locks")
                .join(format!("layer-{}.lock", diff_id.hex())),
        )?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = self.tmp_dir().join(layout::unique_name("layer"));
        fs::create_dir(&tmp).at(&tmp)?;
        let result = (|| {
            let file = self.layout.open_blob(blob)?;
            let reader = unpack::decompress(file).at(self.layout.blob_path(blob))?;
            let got = unpack::unpack_layer(reader, &tmp, blob.as_str(), &UnpackOptions::default())?;
            if &got.diff_id != diff_id {
                return Err(ImageError::DigestMismatch {
                    what: format!("uncompressed layer {blob} (diff_id)"),
                    expected: diff_id.to_string(),
                    actual: got.diff_id.to_string(),
                });
            }
            // Make the unpacked files durable before the rename publishes the layer, so a
            // crash cannot leave a complete-looking layer with empty files.
            syncfs(&tmp);
            fs::rename(&tmp, &dest).at(&dest)?;
            layout::sync_dir(&self.root.join("layers"));
            Ok(dest.clone())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Point `references` at the stored manifest `manifest_digest` (unpacking its layers first).
    /// With no references the image is recorded untagged. `pulled` stamps the entries for
    /// time-based pull policies.
    pub(crate) fn commit_image(
        &self,
        manifest_digest: &Digest,
        references: &[Reference],
        pulled: Option<SystemTime>,
    ) -> Result<ImageId, ImageError> {
        let manifest = self.read_manifest(manifest_digest)?;
        let id = manifest.config.digest()?;
        if !self.layout.has_blob(&id) {
            return Err(ImageError::NotFound(format!("config blob {id}")));
        }
        for l in &manifest.layers {
            if !self.layout.has_blob(&l.digest()?) {
                return Err(ImageError::NotFound(format!("layer blob {}", l.digest)));
            }
        }
        self.ensure_layers(&manifest)?;
        let size = fs::metadata(self.layout.blob_path(manifest_digest))
            .at(self.layout.blob_path(manifest_digest))?
            .len();
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());

        let _lock = self.lock_index()?;
        let mut index = self.layout.read_index()?;
        let now = unix_secs(SystemTime::now()).to_string();
        let names: BTreeSet<String> = references.iter().map(|r| r.to_string()).collect();
        let before: BTreeSet<String> = index.manifests.iter().map(|d| d.digest.clone()).collect();
        index.manifests.retain(|d| {
            let name = d.annotations.get(ANNOTATION_REF_NAME);
            match name {
                Some(n) => !names.contains(n),
                // drop an untagged entry for this manifest; a tagged one replaces it
                None => d.digest != manifest_digest.as_str(),
            }
        });
        // An image that just lost its last reference stays as a dangling (untagged) image,
        // like docker, so containers created from it keep their layers until a prune.
        for old in before {
            if old != manifest_digest.as_str() && !index.manifests.iter().any(|d| d.digest == old) {
                let mut d = Descriptor::new(&media_type, &Digest::parse(&old)?, 0);
                if let Ok(m) = fs::metadata(self.layout.blob_path(&Digest::parse(&old)?)) {
                    d.size = m.len();
                }
                d.annotations.insert(ANNOTATION_TAGGED.into(), now.clone());
                index.manifests.push(d);
            }
        }
        let mk = |name: Option<&String>| {
            let mut d = Descriptor::new(&media_type, manifest_digest, size);
            d.platform = Some(layout::Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: None,
            });
            if let Some(n) = name {
                d.annotations.insert(ANNOTATION_REF_NAME.into(), n.clone());
            }
            d.annotations.insert(ANNOTATION_TAGGED.into(), now.clone());
            if let Some(t) = pulled {
                d.annotations
                    .insert(ANNOTATION_PULLED.into(), unix_secs(t).to_string());
            }
            d
        };
        if names.is_empty() {
            if !index
                .manifests
                .iter()
                .any(|d| d.digest == manifest_digest.as_str())
            {
                index.manifests.push(mk(None));
            }
        } else {
            for n in &names {
                index.manifests.push(mk(Some(n)));
            }
        }
        self.keep_dangling_sorted(&mut index);
        self.layout.write_index(&index)?;
        Ok(id)
    }

    /// Sort the index for stable output (tagged by name, then untagged by digest).
    fn keep_dangling_sorted(&self, index: &mut Index) {
        index.manifests.sort_by(|a, b| {
            let ka = (
                !a.annotations.contains_key(ANNOTATION_REF_NAME),
                a.annotations.get(ANNOTATION_REF_NAME),
                &a.digest,
            );
            let kb = (
                !b.annotations.contains_key(ANNOTATION_REF_NAME),
                b.annotations.get(ANNOTATION_REF_NAME),
                &b.digest,
            );
            ka.cmp(&kb)
        });
    }

    /// Every image in the store, one per manifest, sorted by first reference.
    pub fn list(&self) -> Result<Vec<LocalImage>, ImageError> {
        let index = self.layout.read_index()?;
        let mut by_manifest: BTreeMap<String, Vec<&Descriptor>> = BTreeMap::new();
        for d in &index.manifests {
            by_manifest.entry(d.digest.clone()).or_default().push(d);
        }
        let mut out = Vec::new();
        for (digest, entries) in by_manifest {
            out.push(self.build_local(&Digest::parse(&digest)?, &entries)?);
        }
        out.sort_by(|a, b| {
            (a.references.first().map(|r| r.to_string()), a.id.as_str())
                .cmp(&(b.references.first().map(|r| r.to_string()), b.id.as_str()))
        });
        Ok(out)
    }

    fn build_local(
        &self,
        manifest_digest: &Digest,
        entries: &[&Descriptor],
    ) -> Result<LocalImage, ImageError> {
        let manifest = self.read_manifest(manifest_digest)?;
        let id = manifest.config.digest()?;
        let head = self.config_head(&id)?;
        let config = self.config(&id)?;
        let diff_ids: Vec<Digest> = head
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<_, _>>()?;
        let mut references: Vec<Reference> = entries
            .iter()
            .filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME))
            .filter_map(|n| Reference::parse(n).ok())
            .collect();
        references.sort();
        references.dedup();
        let stamp = |key: &str| {
            entries
                .iter()
                .filter_map(|d| d.annotations.get(key))
                .filter_map(|s| s.parse::<u64>().ok())
                .max()
                .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        };
        let last_pulled = stamp(ANNOTATION_PULLED);
        let last_tagged = stamp(ANNOTATION_TAGGED);
        let size = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        Ok(LocalImage {
            layer_dirs: diff_ids.iter().map(|d| self.layer_dir(d)).collect(),
            id,
            manifest_digest: manifest_digest.clone(),
            references,
            config,
            diff_ids,
            size,
            created: head.created,
            last_pulled,
            last_tagged,
        })
    }

    /// Find an image by reference (`nginx`, `localhost:5000/x:1`, `repo@sha256:…`), by ID
    /// (`sha256:<hex>`, full hex, or a unique hex prefix of at least 4 characters) or by manifest
    /// digest. `Ok(None)` when nothing matches.
    pub fn resolve(&self, reference_or_id: &str) -> Result<Option<LocalImage>, ImageError> {
        let images = self.list()?;
        let input = reference_or_id.trim();
        let as_digest = Digest::parse(input)
            .ok()
            .or_else(|| Digest::parse(&format!("sha256:{input}")).ok());
        if let Some(d) = as_digest {
            if let Some(img) = images.iter().find(|i| i.id == d || i.manifest_digest == d) {
                return Ok(Some(img.clone()));
            }
        }
        if let Ok(r) = Reference::parse(input) {
            if let Some(img) = images.iter().find(|i| i.references.contains(&r)) {
                return Ok(Some(img.clone()));
            }
            if let Some(d) = r.digest() {
                if let Some(img) = images.iter().find(|i| {
                    &i.manifest_digest == d
                        && i.references
                            .iter()
                            .any(|x| x.repository() == r.repository())
                }) {
                    return Ok(Some(img.clone()));
                }
            }
        }
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if hex.len() >= 4 && hex.len() < 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&LocalImage> = images
                .iter()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            return match hits.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some((*one).clone())),
                _ => Err(ImageError::Ambiguous {
                    input: input.to_string(),
                }),
            };
        }
        Ok(None)
    }

    /// Like [`ImageStore::resolve`], but a missing image is [`ImageError::NotFound`]
    /// (`docker image inspect`: config, ID, manifest digest, layers).
    pub fn inspect(&self, reference_or_id: &str) -> Result<LocalImage, ImageError> {
        self.resolve(reference_or_id)?
            .ok_or_else(|| ImageError::NotFound(reference_or_id.to_string()))
    }

    /// Add `target` as another reference to the image `source` resolves to.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<(), ImageError> {
        let img = self
            .resolve(source)?
            .ok_or_else(|| ImageError::NotFound(source.to_string()))?;
        let _gc = self.lock_gc_shared()?;
        self.commit_image(&img.manifest_digest, std::slice::from_ref(target), None)?;
        Ok(())
    }

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
            let mut index = self.layout.read_index()?;
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
            if !holders.is_empty() && !index.manifests.iter().any(|d| d.digest == md) {
                if let Some(mut d) = template {
                    d.annotations.remove(ANNOTATION_REF_NAME);
                    index.manifests.push(d);
                }
            }
            self.layout.write_index(&index)?;
        }
        self.gc()?;
        Ok(removed)
    }

    fn hold_dir(&self, id: &ImageId) -> PathBuf {
        self.root.join("holds").join(id.hex())
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

    /// Remove dangling (untagged) images that nobody holds, then collect garbage. Returns the
    /// removed image IDs.
    pub fn prune_dangling(&self) -> Result<Vec<ImageId>, ImageError> {
        let mut removed = Vec::new();
        {
            let _gc = self.lock_gc_exclusive()?;
            let _idx = self.lock_index()?;
            let mut index = self.layout.read_index()?;
            let tagged: BTreeSet<String> = index
                .manifests
                .iter()
                .filter(|d| d.annotations.contains_key(ANNOTATION_REF_NAME))
                .map(|d| d.digest.clone())
                .collect();
            let mut keep = Vec::new();
            for d in index.manifests {
                if tagged.contains(&d.digest) {
                    keep.push(d);
                } else if let Ok(m) = self.read_manifest(&d.digest()?) {
                    let id = m.config.digest()?;
                    if self.holders(&id)?.is_empty() {
                        removed.push(id);
                    } else {
                        keep.push(d);
                    }
                }
            }
            index.manifests = keep;
            self.layout.write_index(&index)?;
        }
        self.gc()?;
        Ok(removed)
    }

    /// Delete blobs and unpacked layers no index entry reaches, and leftover temp files.
    pub fn gc(&self) -> Result<GcStats, ImageError> {
        let _gc = self.lock_gc_exclusive()?;
        let index = self.layout.read_index()?;
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
        let mut stats = GcStats::default();
        let blobs = self.root.join("blobs").join("sha256");
        for e in fs::read_dir(&blobs).at(&blobs)? {
            let e = e.at(&blobs)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live_blobs.contains(&name) {
                fs::remove_file(e.path()).at(e.path())?;
                stats.blobs += 1;
            }
        }
        let layers = self.root.join("layers");
        for e in fs::read_dir(&layers).at(&layers)? {
            let e = e.at(&layers)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live_layers.contains(&name) {
                // rename first so a crash mid-delete never leaves a half layer under its name
                let doomed = self.tmp_dir().join(layout::unique_name("gc"));
                fs::rename(e.path(), &doomed).at(e.path())?;
                fs::remove_dir_all(&doomed).at(&doomed)?;
                stats.layers += 1;
            }
        }
        // Per-layer lock files; nobody holds one while we hold the exclusive GC lock.
        let locks = self.root.join("locks");
        for e in fs::read_dir(&locks).at(&locks)? {
            let e = e.at(&locks)?;
            if e.file_name().to_string_lossy().starts_with("layer-") {
                let _ = fs::remove_file(e.path());
            }
        }
        let tmp = self.tmp_dir();
        for e in fs::read_dir(&tmp).at(&tmp)? {
            let e = e.at(&tmp)?;
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        Ok(stats)
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

/// Best-effort `syncfs(2)` of the filesystem holding `path`.
fn syncfs(path: &Path) {
    if let Ok(f) = fs::File::open(path) {
        // SAFETY: syncfs on a valid, owned descriptor.
        unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) };
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
