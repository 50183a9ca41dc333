//! Pushing a stored image to a registry (blobs, then the manifest) with `oci-client`.

use super::digest::Digest;
use super::error::ImageError;
use super::pull::{PullOptions, client_for, registry_auth};
use super::reference::Reference;
use super::store::ImageStore;

impl ImageStore {
    /// Push the image `source` resolves to as `target`. Blobs the registry already has are
    /// skipped. Returns the manifest digest. Options are shared with pull (auth, insecure hosts).
    pub async fn push(
        &self,
        source: &str,
        target: &Reference,
        opts: &PullOptions,
    ) -> Result<Digest, ImageError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let img = self
            .resolve(source)?
            .ok_or_else(|| ImageError::NotFound(source.to_string()))?;
        let err = |e| super::pull::oci_err(target, e);
        let client = client_for(target, opts);
        let auth = registry_auth(target, opts)?;
        let oref = target.to_oci();
        client
            .auth(&oref, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(err)?;
        let manifest = self.read_manifest(&img.manifest_digest)?;
        let mut blobs = vec![manifest.config.digest()?];
        for l in &manifest.layers {
            blobs.push(l.digest()?);
        }
        for d in blobs {
            if client.blob_exists(&oref, d.as_str()).await.map_err(err)? {
                continue;
            }
            // Stream the blob from disk in chunks (layers can be large); the registry verifies
            // the digest when the upload is committed.
            let path = self.layout().blob_path(&d);
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| ImageError::io(&path, e))?;
            let size = file
                .metadata()
                .await
                .map_err(|e| ImageError::io(&path, e))?
                .len();
            let stream = futures_util::stream::unfold(Some(file), |state| async move {
                let mut f = state?;
                let mut buf = vec![0u8; 4 << 20];
                match tokio::io::AsyncReadExt::read(&mut f, &mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(bytes::Bytes::from(buf)), Some(f)))
                    }
                    Err(e) => Some((
                        Err(oci_client::errors::OciDistributionError::IoError(e)),
                        None,
                    )),
                }
            });
            client
                .push_blob_stream(&oref, stream, d.as_str(), Some(size))
                .await
                .map_err(err)?;
        }
        let bytes = self.layout().read_blob(&img.manifest_digest)?;
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| super::layout::MEDIA_OCI_MANIFEST.to_string());
        let ct = http::HeaderValue::from_str(&media_type).map_err(|e| ImageError::Registry {
            reference: target.to_string(),
            message: e.to_string(),
        })?;
        client
            .push_manifest_raw(&oref, bytes, ct)
            .await
            .map_err(err)?;
        Ok(img.manifest_digest)
    }
}
