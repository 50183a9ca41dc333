//! Getting images in from files: `load` of docker-save tarballs, oci-archive tarballs and OCI
//! layout directories, and `import` of a plain rootfs tarball as a one-layer image.
//!
//! Archives are first extracted with the same hostile-safe unpacker as layers (into the store's
//! `tmp/`), and every file inside is then opened with `RESOLVE_IN_ROOT`, so symlinks in a
//! docker-save archive (used for repeated layers) cannot make us read host files.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::digest::{Digest, HashingWriter};
use super::error::{ImageError, IoContext};
use super::layout::{
    self, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Index, MEDIA_OCI_CONFIG,
    MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_LAYER_ZSTD, MEDIA_OCI_MANIFEST, Manifest,
};
use super::reference::Reference;
use super::store::{ImageId, ImageStore, unix_secs};
use super::unpack::{self, UnpackOptions};

/// One image brought in by `load`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: ImageId,
    pub manifest_digest: Digest,
    /// The references it was loaded under (empty: loaded untagged).
    pub references: Vec<Reference>,
}

/// A read-only view of a directory whose files are opened with `RESOLVE_IN_ROOT`.
struct Dir {
    path: PathBuf,
    fd: OwnedFd,
}

impl Dir {
    fn open(path: &Path) -> Result<Self, ImageError> {
        let f = File::open(path).at(path)?;
        Ok(Dir {
            path: path.to_path_buf(),
            fd: OwnedFd::from(f),
        })
    }
    /// A regular file of the archive. `O_NONBLOCK` so that a FIFO cannot block the open, and
    /// anything but a regular file is refused: a FIFO or `/dev/zero`-like device in a hostile
    /// archive would hang `load` or feed it forever.
    fn open_file(&self, rel: &str) -> Result<File, ImageError> {
        let at = || self.path.join(rel);
        let fd = unpack::open_in_root(&self.fd, rel.as_bytes(), libc::O_RDONLY | libc::O_NONBLOCK)
            .map_err(|e| ImageError::io(at(), e))?;
        let file = File::from(fd);
        if !file.metadata().at(at())?.is_file() {
            return Err(ImageError::BadArchive {
                path: at(),
                reason: "not a regular file".into(),
            });
        }
        Ok(file)
    }
    fn read(&self, rel: &str) -> Result<Vec<u8>, ImageError> {
        let mut v = Vec::new();
        self.open_file(rel)?
            .read_to_end(&mut v)
            .at(self.path.join(rel))?;
        Ok(v)
    }
    fn exists(&self, rel: &str) -> bool {
        unpack::open_in_root(&self.fd, rel.as_bytes(), libc::O_PATH).is_ok()
    }
    fn blob(&self, d: &Digest) -> String {
        format!("blobs/sha256/{}", d.hex())
    }
}

impl ImageStore {
    /// Load a docker-save tarball, an oci-archive tarball (either may be gzip/zstd compressed)
    /// or an OCI layout directory. Returns the images loaded.
    pub fn load(&self, path: &Path) -> Result<Vec<LoadedImage>, ImageError> {
        let _gc = self.lock_gc_shared()?;
        let meta = fs::metadata(path).at(path)?;
        if meta.is_dir() {
            return self.load_dir(path, path);
        }
        let tmp = self.tmp_dir().join(layout::unique_name("load"));
        fs::create_dir(&tmp).at(&tmp)?;
        let result = (|| {
            let f = File::open(path).at(path)?;
            let reader = unpack::decompress(f).at(path)?;
            let opts = UnpackOptions {
                overlay_whiteouts: false,
                preserve_owner: false,
            };
            unpack::unpack_layer(reader, &tmp, &path.display().to_string(), &opts)?;
            self.load_dir(&tmp, path)
        })();
        let _ = fs::remove_dir_all(&tmp);
        result
    }

    fn load_dir(&self, dir: &Path, source: &Path) -> Result<Vec<LoadedImage>, ImageError> {
        let d = Dir::open(dir)?;
        // docker >= 25 writes both index.json and manifest.json; the docker manifest carries the
        // RepoTags, so prefer it.
        if d.exists("manifest.json") {
            self.load_docker_save(&d, source)
        } else if d.exists("index.json") {
            self.load_oci_layout(&d, source)
        } else {
            Err(ImageError::BadArchive {
                path: source.to_path_buf(),
                reason: "neither manifest.json (docker save) nor index.json (OCI layout) found"
                    .into(),
            })
        }
    }

    fn copy_blob(&self, d: &Dir, desc: &Descriptor) -> Result<Digest, ImageError> {
        let digest = desc.digest()?;
        let mut f = d.open_file(&d.blob(&digest))?;
        let (got, size) = self.layout().put_blob_reader(&mut f, Some(&digest))?;
        if size != desc.size {
            return Err(ImageError::SizeMismatch {
                digest: got.to_string(),
                expected: desc.size,
                actual: size,
            });
        }
        Ok(got)
    }

    fn load_oci_layout(&self, d: &Dir, source: &Path) -> Result<Vec<LoadedImage>, ImageError> {
        let index: Index = serde_json::from_slice(&d.read("index.json")?)
            .map_err(|e| ImageError::json(source.join("index.json"), e))?;
        let mut out = Vec::new();
        for entry in &index.manifests {
            let mut desc = entry.clone();
            if layout::is_index_media_type(&desc.media_type) {
                let nested_digest = desc.digest()?;
                let bytes = d.read(&d.blob(&nested_digest))?;
                check_digest(&bytes, &nested_digest)?;
                let nested: Index = serde_json::from_slice(&bytes)
                    .map_err(|e| ImageError::json(source.join(d.blob(&nested_digest)), e))?;
                desc = layout::pick_platform(&nested)
                    .ok_or_else(|| ImageError::NoMatchingPlatform {
                        reference: source.display().to_string(),
                        platform: "linux/amd64".into(),
                    })?
                    .clone();
            }
            if !layout::is_manifest_media_type(&desc.media_type) {
                continue; // e.g. artifacts, attestations
            }
            if let Some(p) = &desc.platform
                && !(p.os == "linux" && p.architecture == "amd64")
            {
                continue;
            }
            let md = self.copy_blob(d, &desc)?;
            let manifest = self.read_manifest(&md)?;
            self.copy_blob(d, &manifest.config)?;
            for l in &manifest.layers {
                self.copy_blob(d, l)?;
            }
            let references: Vec<Reference> = entry
                .annotations
                .get(ANNOTATION_CONTAINERD_NAME)
                .or_else(|| {
                    entry
                        .annotations
                        .get(ANNOTATION_REF_NAME)
                        .filter(|n| n.contains('/') || n.contains(':') || n.contains('@'))
                })
                .and_then(|n| Reference::parse(n).ok())
                .into_iter()
                .collect();
            let id = self.commit_image(&md, &references, None)?;
            out.push(LoadedImage {
                id,
                manifest_digest: md,
                references,
            });
        }
        if out.is_empty() {
            return Err(ImageError::BadArchive {
                path: source.to_path_buf(),
                reason: "no linux/amd64 image manifest in index.json".into(),
            });
        }
        Ok(out)
    }

    fn load_docker_save(&self, d: &Dir, source: &Path) -> Result<Vec<LoadedImage>, ImageError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let entries: Vec<Entry> = serde_json::from_slice(&d.read("manifest.json")?)
            .map_err(|e| ImageError::json(source.join("manifest.json"), e))?;
        let mut out = Vec::new();
        for e in entries {
            let config_bytes = d.read(&e.config)?;
            let config_digest = self.layout().put_blob_bytes(&config_bytes)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let mut f = d.open_file(l)?;
                let mut head = [0u8; 4];
                let n = read_head(&mut f, &mut head).at(source.join(l))?;
                let mut f = d.open_file(l)?;
                let (digest, size) = self.layout().put_blob_reader(&mut f, None)?;
                let media_type = if head[..n].starts_with(&[0x1f, 0x8b]) {
                    MEDIA_OCI_LAYER_GZIP
                } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                    MEDIA_OCI_LAYER_ZSTD
                } else {
                    MEDIA_OCI_LAYER
                };
                layers.push(Descriptor::new(media_type, &digest, size));
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_OCI_MANIFEST.into()),
                config: Descriptor::new(
                    MEDIA_OCI_CONFIG,
                    &config_digest,
                    config_bytes.len() as u64,
                ),
                layers,
                annotations: Default::default(),
            };
            let bytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::json(source, e))?;
            let md = self.layout().put_blob_bytes(&bytes)?;
            let references = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<Result<Vec<_>, _>>()?;
            let id = self.commit_image(&md, &references, None)?;
            out.push(LoadedImage {
                id,
                manifest_digest: md,
                references,
            });
        }
        Ok(out)
    }

    /// `docker import`: make a one-layer image from a rootfs tarball (plain, gzip or zstd) and
    /// tag it `reference`. The layer is stored uncompressed, so its digest is its diff_id.
    pub fn import(&self, tar: &Path, reference: &Reference) -> Result<ImageId, ImageError> {
        let _gc = self.lock_gc_shared()?;
        let f = File::open(tar).at(tar)?;
        let mut reader = unpack::decompress(f).at(tar)?;
        let tmp = self.tmp_dir().join(layout::unique_name("import"));
        let (diff_id, size) = (|| {
            let out = File::create(&tmp).at(&tmp)?;
            let mut w = HashingWriter::new(io::BufWriter::new(out));
            io::copy(&mut reader, &mut w).at(tar)?;
            let (buf, digest, size) = w.finish();
            let file = buf
                .into_inner()
                .map_err(|e| ImageError::io(&tmp, e.into_error()))?;
            file.sync_all().at(&tmp)?;
            if !self.layout().has_blob(&digest) {
                self.layout().commit_temp_blob(&tmp, &digest)?;
            }
            Ok::<_, ImageError>((digest, size))
        })()
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        let _ = fs::remove_file(&tmp);
        let created = rfc3339(SystemTime::now());
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created": created, "created_by": "rcompose import", "comment": "Imported from tarball"}],
        });
        let config_bytes = serde_json::to_vec(&config).map_err(|e| ImageError::json(tar, e))?;
        let config_digest = self.layout().put_blob_bytes(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.into()),
            config: Descriptor::new(MEDIA_OCI_CONFIG, &config_digest, config_bytes.len() as u64),
            layers: vec![Descriptor::new(MEDIA_OCI_LAYER, &diff_id, size)],
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::json(tar, e))?;
        let md = self.layout().put_blob_bytes(&bytes)?;
        self.commit_image(&md, std::slice::from_ref(reference), None)
    }
}

/// Fail unless `bytes` hash to `expected`.
pub fn check_digest(bytes: &[u8], expected: &Digest) -> Result<(), ImageError> {
    let actual = Digest::of(bytes);
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {expected}"),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn read_head(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Format a time as RFC 3339 UTC (`2026-11-23T01:02:03Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = unix_secs(t) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_305_600)),
            "2026-11-22T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)),
            "2000-02-29T01:01:01Z"
        );
    }
}
