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
//!   buildcache/<key>                build cache records (`runtime::build::cache`): GC keeps their layers
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

    pub(crate) fn lock_gc_exclusive(&self) -> Result<FileLock, ImageError> {
        FileLock::exclusive(&self.root.join("locks").join("gc.lock"))
    }

    pub(crate) fn lock_index(&self) -> Result<FileLock, ImageError> {
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

    pub(crate) fn diff_ids(&self, id: &ImageId) -> Result<Vec<Digest>, ImageError> {
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
        let keep = |d: &Descriptor| match d.annotations.get(ANNOTATION_REF_NAME) {
            Some(n) => !names.contains(n),
            // drop an untagged entry for this manifest; a tagged one replaces it
            None => d.digest != manifest_digest.as_str(),
        };
        let (kept, dropped): (Vec<Descriptor>, Vec<Descriptor>) =
            index.manifests.drain(..).partition(|d| keep(d));
        index.manifests = kept;
        // An image that just lost its last reference stays as a dangling (untagged) image,
        // like docker, so containers created from it keep their layers until a prune.
        for mut d in dropped {
            if d.digest != manifest_digest.as_str()
                && !index.manifests.iter().any(|x| x.digest == d.digest)
            {
                d.annotations.remove(ANNOTATION_REF_NAME);
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
        if let Some(d) = as_digest
            && let Some(img) = images.iter().find(|i| i.id == d || i.manifest_digest == d)
        {
            return Ok(Some(img.clone()));
        }
        if let Ok(r) = Reference::parse(input) {
            if let Some(img) = images.iter().find(|i| i.references.contains(&r)) {
                return Ok(Some(img.clone()));
            }
            if let Some(d) = r.digest()
                && let Some(img) = images.iter().find(|i| {
                    &i.manifest_digest == d
                        && i.references
                            .iter()
                            .any(|x| x.repository() == r.repository())
                })
            {
                return Ok(Some(img.clone()));
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
