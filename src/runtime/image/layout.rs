//! The OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), the JSON
//! documents that live in it, and crash-safe writes: content goes to a temp file under `tmp/`,
//! is fsynced, verified and only then renamed into place, so a half-written blob is never visible.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::digest::{Digest, HashingWriter};
use super::error::{ImageError, IoContext};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_DOCKER_LAYER_FOREIGN: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The `schemaVersion` of an OCI image index (and of the layout's `index.json`).
pub const INDEX_SCHEMA_VERSION: u32 = 2;

/// `org.opencontainers.image.ref.name`: we store the full normalized reference in it.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name (read on load).
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Unix seconds of the last pull of this reference (for `daily`/`weekly` pull policies).
pub const ANNOTATION_PULLED: &str = "io.rcompose.image.pulled";
/// Unix seconds when the reference was created in this store.
pub const ANNOTATION_TAGGED: &str = "io.rcompose.image.tagged";

/// An OCI content descriptor (also matches docker v2 descriptors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            ..Default::default()
        }
    }
    pub fn digest(&self) -> Result<Digest, ImageError> {
        Digest::parse(&self.digest)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image index / docker manifest list / the layout's `index.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest (OCI or docker v2 schema 2).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The parts of an image config the store needs itself (the full config is
/// `oci_spec::image::ImageConfiguration`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigHead {
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

pub fn is_index_media_type(mt: &str) -> bool {
    mt == MEDIA_OCI_INDEX || mt == MEDIA_DOCKER_LIST
}

pub fn is_manifest_media_type(mt: &str) -> bool {
    mt == MEDIA_OCI_MANIFEST || mt == MEDIA_DOCKER_MANIFEST
}

/// Pick the linux/amd64 entry of an index (variant-less or `v1`), like dockerd on this host.
pub fn pick_platform(index: &Index) -> Option<&Descriptor> {
    let candidates = || {
        index.manifests.iter().filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
    };
    candidates()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.variant.as_deref().is_none_or(|v| v == "v1"))
        })
        .or_else(|| candidates().next())
        .or_else(|| {
            // single-entry indexes without a platform (e.g. a plain oci-archive)
            if index.manifests.len() == 1 && index.manifests[0].platform.is_none() {
                index.manifests.first()
            } else {
                None
            }
        })
}

/// The media type of a manifest document, from its own `mediaType` or its shape.
pub fn sniff_manifest_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sniff {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let s: Sniff = serde_json::from_slice(bytes).ok()?;
    match (s.media_type, s.manifests, s.config) {
        (Some(mt), _, _) => Some(mt),
        (None, Some(_), _) => Some(MEDIA_OCI_INDEX.to_string()),
        (None, None, Some(_)) => Some(MEDIA_OCI_MANIFEST.to_string()),
        _ => None,
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name for a temp file or dir (pid + counter + time), for use under a `tmp/` dir.
/// The pid tells a sweep whether the writer is still alive ([`writer_pid`]).
pub fn unique_name(prefix: &str) -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// The pid of the process that made temp name `name` (see [`unique_name`]), if it is one.
pub fn writer_pid(name: &str) -> Option<i32> {
    name.split('-').nth(1)?.parse().ok()
}

/// The blobs and index of one OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    tmp: PathBuf,
}

impl Layout {
    /// Use (and create if needed) a layout at `root`, with temp files in `tmp` (same filesystem).
    pub fn create(root: &Path, tmp: &Path) -> Result<Self, ImageError> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).at(&blobs)?;
        fs::create_dir_all(tmp).at(tmp)?;
        let layout = Layout {
            root: root.to_path_buf(),
            tmp: tmp.to_path_buf(),
        };
        let marker = root.join("oci-layout");
        if !marker.exists() {
            layout.write_file_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            layout.write_index(&Index {
                schema_version: INDEX_SCHEMA_VERSION,
                media_type: Some(MEDIA_OCI_INDEX.to_string()),
                manifests: vec![],
            })?;
        }
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let p = self.blob_path(digest);
        let bytes = fs::read(&p).at(&p)?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(ImageError::DigestMismatch {
                what: p.display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, ImageError> {
        let p = self.blob_path(digest);
        File::open(&p).at(&p)
    }

    /// Store bytes whose digest the caller computed or knows; returns the digest.
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, ImageError> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest) {
            self.write_file_atomic(&self.blob_path(&digest), bytes)?;
        }
        Ok(digest)
    }

    /// Stream `reader` into the store; if `expected` is given the content must match it.
    pub fn put_blob_reader(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), ImageError> {
        if let Some(d) = expected
            && self.has_blob(d)
        {
            // Already stored (and verified when it was); report the stored size.
            let size = fs::metadata(self.blob_path(d)).at(self.blob_path(d))?.len();
            return Ok((d.clone(), size));
        }
        let tmp = self.tmp.join(unique_name("blob"));
        let result = (|| {
            let f = File::create(&tmp).at(&tmp)?;
            let mut w = HashingWriter::new(io::BufWriter::new(f));
            io::copy(reader, &mut w).at(&tmp)?;
            let (buf, digest, size) = w.finish();
            let f = buf
                .into_inner()
                .map_err(|e| ImageError::io(&tmp, e.into_error()))?;
            f.sync_all().at(&tmp)?;
            if let Some(exp) = expected
                && exp != &digest
            {
                return Err(ImageError::DigestMismatch {
                    what: format!("blob {exp}"),
                    expected: exp.to_string(),
                    actual: digest.to_string(),
                });
            }
            self.commit_temp_blob(&tmp, &digest)?;
            Ok((digest, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Rename a fully written and verified temp file into place as blob `digest`.
    pub fn commit_temp_blob(&self, tmp: &Path, digest: &Digest) -> Result<(), ImageError> {
        let dest = self.blob_path(digest);
        fs::rename(tmp, &dest).at(&dest)?;
        sync_dir(dest.parent().unwrap_or(&self.root));
        Ok(())
    }

    /// The layout's `index.json`. Its format is versioned by the OCI spec (`schemaVersion` 2);
    /// another version is refused rather than misread.
    pub fn read_index(&self) -> Result<Index, ImageError> {
        let p = self.root.join("index.json");
        let bytes = fs::read(&p).at(&p)?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| ImageError::json(&p, e))?;
        if index.schema_version != INDEX_SCHEMA_VERSION {
            return Err(ImageError::BadArchive {
                path: p,
                reason: format!(
                    "index schemaVersion {} is not one this rcompose reads ({INDEX_SCHEMA_VERSION})",
                    index.schema_version
                ),
            });
        }
        Ok(index)
    }

    pub fn write_index(&self, index: &Index) -> Result<(), ImageError> {
        let p = self.root.join("index.json");
        let bytes = serde_json::to_vec(index).map_err(|e| ImageError::json(&p, e))?;
        self.write_file_atomic(&p, &bytes)
    }

    /// Write `bytes` to `dest` via a fsynced temp file and a rename.
    pub fn write_file_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), ImageError> {
        write_file_atomic(&self.tmp, dest, bytes)
    }
}

/// Write `bytes` to `dest` via a fsynced temp file in `tmp_dir` and a rename.
pub fn write_file_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let tmp = tmp_dir.join(unique_name("file"));
    let r = (|| {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        fs::rename(&tmp, dest).at(dest)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    } else if let Some(parent) = dest.parent() {
        sync_dir(parent);
    }
    r
}

/// Best-effort fsync of a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}
