//! Write OCI image layouts for tests: blobs, configs, manifests, indexes and `index.json`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::tarball::gzip;

pub fn sha256(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::from("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A descriptor of something written into a layout.
#[derive(Clone, Debug)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Desc {
    pub fn hex(&self) -> &str {
        &self.digest[7..]
    }
    pub fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// How to store a layer blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// What `write_image` produced.
#[derive(Clone, Debug)]
pub struct WrittenImage {
    pub manifest: Desc,
    pub config: Desc,
    pub layers: Vec<Desc>,
    pub diff_ids: Vec<String>,
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join("sha256").join(&digest[7..])
}

/// Write `data` as a blob of `layout` (creating the layout skeleton).
pub fn put_blob(layout: &Path, media_type: &str, data: &[u8]) -> Desc {
    let dir = layout.join("blobs").join("sha256");
    fs::create_dir_all(&dir).expect("create blobs dir");
    let digest = sha256(data);
    fs::write(blob_path(layout, &digest), data).expect("write blob");
    if !layout.join("oci-layout").exists() {
        fs::write(
            layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("write oci-layout");
    }
    Desc {
        media_type: media_type.to_string(),
        digest,
        size: data.len() as u64,
    }
}

/// Write config, layers and manifest of an image made of `layer_tars` (uncompressed tars,
/// bottom first) into `layout`; `index.json` is not touched.
pub fn write_image(
    layout: &Path,
    layer_tars: &[Vec<u8>],
    compression: Compression,
    architecture: &str,
    config: Value,
) -> WrittenImage {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for tar in layer_tars {
        diff_ids.push(sha256(tar));
        layers.push(match compression {
            Compression::None => put_blob(layout, "application/vnd.oci.image.layer.v1.tar", tar),
            Compression::Gzip => put_blob(
                layout,
                "application/vnd.oci.image.layer.v1.tar+gzip",
                &gzip(tar),
            ),
        });
    }
    let mut cfg = json!({
        "created": "2026-11-22T00:00:00Z",
        "architecture": architecture,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layer_tars.iter().map(|_| json!({"created": "2026-11-22T00:00:00Z", "created_by": "rcompose tests"})).collect::<Vec<_>>(),
    });
    if cfg["config"].is_null() {
        cfg["config"] = json!({});
    }
    let config = put_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&cfg).expect("json"),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.json(),
        "layers": layers.iter().map(Desc::json).collect::<Vec<_>>(),
    });
    let manifest = put_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    WrittenImage {
        manifest,
        config,
        layers,
        diff_ids,
    }
}

/// Write an image index blob over `(manifest, architecture)` pairs.
pub fn write_index_blob(layout: &Path, manifests: &[(&Desc, &str)]) -> Desc {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests.iter().map(|(d, arch)| {
            let mut j = d.json();
            j["platform"] = json!({"architecture": arch, "os": "linux"});
            j
        }).collect::<Vec<_>>(),
    });
    put_blob(
        layout,
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).expect("json"),
    )
}

/// Set `index.json` to entries `(descriptor, ref.name, optional full image name)`.
pub fn write_index_json(layout: &Path, entries: &[(&Desc, &str, Option<&str>)]) {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries.iter().map(|(d, tag, name)| {
            let mut j = d.json();
            let mut ann = json!({"org.opencontainers.image.ref.name": tag});
            if let Some(n) = name {
                ann["io.containerd.image.name"] = json!(n);
            }
            j["annotations"] = ann;
            j
        }).collect::<Vec<_>>(),
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write index.json");
}

/// Tar up a directory's regular files (sorted, fixed metadata), e.g. a layout → oci-archive.
pub fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let mut b = super::tarball::TarBuilder::new();
    let mut dirs_done = std::collections::BTreeSet::new();
    for rel in files {
        let mut acc = String::new();
        let comps: Vec<&str> = rel.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            if dirs_done.insert(acc.clone()) {
                b.dir(&format!("{acc}/"), 0o755);
            }
        }
        let data = fs::read(dir.join(&rel)).expect("read file to tar");
        b.file(&rel, 0o644, &data);
    }
    b.finish()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("dir entry");
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
