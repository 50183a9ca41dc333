//! The target stage as an image in the store: config blob, OCI manifest (the base image's layer
//! blobs as they were pulled, the built ones uncompressed) and the index entries for its tags.
//!
//! The config is deterministic for a fully cached build (history times come from the cache), so
//! a rebuild without changes gives the same image ID; then nothing is rewritten at all.

use super::builder::BuildRequest;
use super::error::Result;
use super::executor::StageResult;
use super::progress::Reporter;
use crate::runtime::image::layout::{
    ANNOTATION_REF_NAME, Descriptor, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Manifest,
};
use crate::runtime::image::{Digest, ImageError, ImageId, ImageStore};

pub fn commit_image(
    store: &ImageStore,
    result: &StageResult,
    req: &BuildRequest,
    reporter: &Reporter,
) -> Result<ImageId> {
    let v = reporter.vertex(None, "exporting to image");
    let mut config = result.config.clone();
    for (k, val) in &req.labels {
        config.set_label(k, val);
    }
    let doc = config.finish();
    let config_bytes =
        serde_json::to_vec(&doc).map_err(|e| ImageError::json(store.root().join("config"), e))?;
    let config_digest = store.layout().put_blob_bytes(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_MANIFEST.into()),
        config: Descriptor::new(MEDIA_OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        layers: result.layers.iter().map(|l| l.blob.clone()).collect(),
        annotations: Default::default(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| ImageError::json(store.root().join("manifest"), e))?;
    let manifest_digest = store.layout().put_blob_bytes(&manifest_bytes)?;
    v.output("exporting layers done");
    v.output(&format!("writing image {config_digest} done"));
    if !already_tagged(store, &manifest_digest, req)? {
        store.commit_image(&manifest_digest, &req.tags, None)?;
    }
    for t in &req.tags {
        v.output(&format!("naming to {t} done"));
    }
    v.done();
    Ok(config_digest)
}

/// Whether every tag (or, untagged, some entry) already points at this manifest.
fn already_tagged(store: &ImageStore, manifest: &Digest, req: &BuildRequest) -> Result<bool> {
    let index = store.layout().read_index()?;
    let points_here = |name: Option<&str>| {
        index.manifests.iter().any(|d| {
            d.digest == manifest.as_str()
                && d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == name
        })
    };
    Ok(if req.tags.is_empty() {
        index
            .manifests
            .iter()
            .any(|d| d.digest == manifest.as_str())
    } else {
        req.tags.iter().all(|t| points_here(Some(&t.to_string())))
    })
}
