//! Pulling images from registries with `oci-client`: manifest lists / OCI indexes (linux/amd64 is
//! picked), docker v2 and OCI manifests, gzip/zstd/plain layers, digests verified for every
//! manifest and blob, layers downloaded concurrently with progress events, and plain HTTP for
//! loopback and configured insecure registries.

use std::path::PathBuf;
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use tokio::io::AsyncWriteExt;

use super::auth::{self, Credentials};
use super::digest::Digest;
use super::error::{ImageError, IoContext};
use super::layout::{
    self, Descriptor, Index, MEDIA_DOCKER_LAYER_FOREIGN, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, Manifest,
};
use super::policy::{LocalImageState, PullDecision, PullPolicy, should_pull};
use super::reference::{Reference, is_loopback_domain};
use super::store::{ImageId, ImageStore, LocalImage};

const ACCEPT: &[&str] = &[
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_MANIFEST,
];

/// Options for [`ImageStore::pull`].
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Registries (`host[:port]`) to talk plain HTTP to, besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Docker client config to read credentials from; `None` = `$DOCKER_CONFIG` / `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// Explicit credentials; override the docker config.
    pub credentials: Option<Credentials>,
    /// How many layers to download at once.
    pub max_concurrent_downloads: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure_registries: Vec::new(),
            docker_config: None,
            credentials: None,
            max_concurrent_downloads: 3,
        }
    }
}

/// Progress of a pull, reported through the callback in order per layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullEvent {
    /// The manifest was resolved (for an index: the linux/amd64 manifest).
    Resolved {
        manifest: Digest,
        layers: usize,
    },
    /// This layer blob is already in the store.
    LayerExists {
        digest: Digest,
    },
    LayerStarted {
        digest: Digest,
        size: u64,
    },
    LayerProgress {
        digest: Digest,
        downloaded: u64,
        total: u64,
    },
    LayerDownloaded {
        digest: Digest,
    },
    /// All blobs are in; layers are being unpacked.
    Extracting,
    Done {
        id: ImageId,
    },
}

/// What [`ImageStore::ensure_image`] did.
#[derive(Clone, Debug)]
pub enum Ensured {
    /// The local image was used as it is.
    Local(LocalImage),
    /// The image was pulled (it may be unchanged).
    Pulled(LocalImage),
    /// The policy says to build; the caller builds. The current local image, if any.
    NeedsBuild(Option<LocalImage>),
}

/// Classify an `oci-client` error: unknown manifests and auth failures get their own variants.
pub(crate) fn oci_err(
    reference: &Reference,
    e: oci_client::errors::OciDistributionError,
) -> ImageError {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    let c: Vec<&C> = match &e {
        E::RegistryError { envelope, .. } => envelope.errors.iter().map(|x| &x.code).collect(),
        _ => Vec::new(),
    };
    let unknown = matches!(e, E::ImageManifestNotFoundError(_))
        || c.iter()
            .any(|c| matches!(c, C::ManifestUnknown | C::NameUnknown | C::NotFound));
    let denied = matches!(e, E::UnauthorizedError { .. } | E::AuthenticationFailure(_))
        || c.iter().any(|c| matches!(c, C::Unauthorized | C::Denied));
    if let E::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) =
        &e
    {
        return ImageError::DigestMismatch {
            what: format!("content of {reference}"),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    if denied {
        ImageError::Unauthorized {
            reference: reference.to_string(),
            message: e.to_string(),
        }
    } else if unknown {
        ImageError::ManifestUnknown {
            reference: reference.to_string(),
        }
    } else {
        reg_err(reference, e)
    }
}

fn reg_err(reference: &Reference, e: impl std::fmt::Display) -> ImageError {
    ImageError::Registry {
        reference: reference.to_string(),
        message: e.to_string(),
    }
}

impl ImageStore {
    /// Pull `reference` into the store and point the reference at it.
    pub async fn pull(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        mut progress: impl FnMut(PullEvent),
    ) -> Result<ImageId, ImageError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = client_for(reference, opts);
        let auth = registry_auth(reference, opts)?;
        let oref = reference.to_oci();

        // Manifest (and for an index, the platform manifest), verified against their digests.
        let (bytes, _) = client
            .pull_manifest_raw(&oref, &auth, ACCEPT)
            .await
            .map_err(|e| oci_err(reference, e))?;
        let mut digest = Digest::of(&bytes);
        if let Some(want) = reference.digest()
            && want != &digest
        {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest of {reference}"),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
        let mut bytes = bytes.to_vec();
        let media_type = layout::sniff_manifest_media_type(&bytes).unwrap_or_default();
        if layout::is_index_media_type(&media_type) {
            let index: Index = serde_json::from_slice(&bytes).map_err(|e| reg_err(reference, e))?;
            let desc =
                layout::pick_platform(&index).ok_or_else(|| ImageError::NoMatchingPlatform {
                    reference: reference.to_string(),
                    platform: "linux/amd64".into(),
                })?;
            let want = desc.digest()?;
            let (b, _) = client
                .pull_manifest_raw(&oref.clone_with_digest(want.to_string()), &auth, ACCEPT)
                .await
                .map_err(|e| oci_err(reference, e))?;
            digest = Digest::of(&b);
            if digest != want {
                return Err(ImageError::DigestMismatch {
                    what: format!("platform manifest of {reference}"),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
            bytes = b.to_vec();
        } else if !layout::is_manifest_media_type(&media_type) {
            return Err(ImageError::UnsupportedMediaType {
                media_type,
                context: format!("manifest of {reference}"),
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| reg_err(reference, e))?;
        for l in &manifest.layers {
            if l.media_type == MEDIA_DOCKER_LAYER_FOREIGN || !l.urls.is_empty() {
                return Err(ImageError::UnsupportedMediaType {
                    media_type: l.media_type.clone(),
                    context: format!("layer {} of {reference} (foreign layer)", l.digest),
                });
            }
        }
        progress(PullEvent::Resolved {
            manifest: digest.clone(),
            layers: manifest.layers.len(),
        });

        let _gc = self.lock_gc_shared()?;
        // Config, then layers concurrently; each blob lands atomically after verification.
        let mut blobs: Vec<Descriptor> = vec![manifest.config.clone()];
        blobs.extend(manifest.layers.iter().cloned());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PullEvent>();
        let downloads =
            futures_util::stream::iter(blobs.into_iter().enumerate().map(|(i, desc)| {
                let tx = tx.clone();
                let client = &client;
                let oref = &oref;
                async move {
                    let is_layer = i > 0;
                    self.fetch_blob(client, oref, reference, &desc, is_layer, &tx)
                        .await
                }
            }))
            .buffer_unordered(opts.max_concurrent_downloads.max(1))
            .try_collect::<Vec<()>>();
        tokio::pin!(downloads);
        let result = loop {
            tokio::select! {
                Some(ev) = rx.recv() => progress(ev),
                r = &mut downloads => break r,
            }
        };
        while let Ok(ev) = rx.try_recv() {
            progress(ev);
        }
        result?;
        self.layout().put_blob_bytes(&bytes)?;

        progress(PullEvent::Extracting);
        let store = self.clone();
        let refs = vec![reference.clone()];
        let md = digest.clone();
        let id = tokio::task::spawn_blocking(move || {
            store.commit_image(&md, &refs, Some(SystemTime::now()))
        })
        .await
        .map_err(|e| reg_err(reference, e))??;
        progress(PullEvent::Done { id: id.clone() });
        Ok(id)
    }

    /// Apply a Compose pull policy: use the local image, pull, or tell the caller to build.
    /// `never` with no local image is [`ImageError::PullNever`].
    pub async fn ensure_image(
        &self,
        reference: &Reference,
        policy: PullPolicy,
        opts: &PullOptions,
        now: SystemTime,
        progress: impl FnMut(PullEvent),
    ) -> Result<Ensured, ImageError> {
        let local = self.resolve(&reference.to_string())?;
        match should_pull(policy, LocalImageState::of(local.as_ref()), now) {
            PullDecision::UseLocal => match local {
                Some(img) => Ok(Ensured::Local(img)),
                None => Err(ImageError::NotFound(reference.to_string())),
            },
            PullDecision::Build => Ok(Ensured::NeedsBuild(local)),
            PullDecision::Fail => Err(ImageError::PullNever {
                reference: reference.to_string(),
            }),
            PullDecision::Pull => {
                self.pull(reference, opts, progress).await?;
                let img = self
                    .resolve(&reference.to_string())?
                    .ok_or_else(|| ImageError::NotFound(reference.to_string()))?;
                Ok(Ensured::Pulled(img))
            }
        }
    }

    async fn fetch_blob(
        &self,
        client: &oci_client::Client,
        oref: &oci_client::Reference,
        reference: &Reference,
        desc: &Descriptor,
        is_layer: bool,
        tx: &tokio::sync::mpsc::UnboundedSender<PullEvent>,
    ) -> Result<(), ImageError> {
        let digest = desc.digest()?;
        if self.layout().has_blob(&digest) {
            if is_layer {
                let _ = tx.send(PullEvent::LayerExists { digest });
            }
            return Ok(());
        }
        if is_layer {
            let _ = tx.send(PullEvent::LayerStarted {
                digest: digest.clone(),
                size: desc.size,
            });
        }
        let mut stream = client
            .pull_blob_stream(oref, digest.as_str())
            .await
            .map_err(|e| oci_err(reference, e))?;
        let tmp = self.tmp_dir().join(layout::unique_name("pull"));
        // Removes the temp file if this future fails or is dropped (another download failed).
        let mut guard = TempFile(Some(tmp.clone()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.at(&tmp)?;
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            let mut downloaded = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| stream_error(reference, desc, downloaded, e))?;
                sha2::Digest::update(&mut hasher, &chunk);
                downloaded += chunk.len() as u64;
                if downloaded > desc.size {
                    return Err(ImageError::SizeMismatch {
                        digest: digest.to_string(),
                        expected: desc.size,
                        actual: downloaded,
                    });
                }
                file.write_all(&chunk).await.at(&tmp)?;
                if is_layer {
                    let _ = tx.send(PullEvent::LayerProgress {
                        digest: digest.clone(),
                        downloaded,
                        total: desc.size,
                    });
                }
            }
            file.sync_all().await.at(&tmp)?;
            drop(file);
            let actual = Digest::from_hasher(hasher);
            if actual != digest {
                return Err(ImageError::DigestMismatch {
                    what: format!("blob {digest} of {reference}"),
                    expected: digest.to_string(),
                    actual: actual.to_string(),
                });
            }
            if downloaded != desc.size {
                return Err(ImageError::SizeMismatch {
                    digest: digest.to_string(),
                    expected: desc.size,
                    actual: downloaded,
                });
            }
            self.layout().commit_temp_blob(&tmp, &digest)
        }
        .await;
        if result.is_ok() {
            guard.0 = None; // renamed into place
            if is_layer {
                let _ = tx.send(PullEvent::LayerDownloaded { digest });
            }
        }
        result
    }
}

/// A temp file path removed on drop unless disarmed (set to `None`).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// oci-client verifies blob digests in its stream and reports a mismatch as an I/O error
/// wrapping its `DigestError`; turn that into our `DigestMismatch`.
/// A failed read of a blob's byte stream: a digest mismatch found by the client, or the
/// transfer cut short (named with the blob and how far it got).
fn stream_error(
    reference: &Reference,
    desc: &Descriptor,
    downloaded: u64,
    e: std::io::Error,
) -> ImageError {
    if let Some(inner) = e.get_ref()
        && let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
            inner.downcast_ref::<oci_client::errors::DigestError>()
    {
        return ImageError::DigestMismatch {
            what: format!("blob {} of {reference}", desc.digest),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    ImageError::BlobTransfer {
        reference: reference.to_string(),
        digest: desc.digest.clone(),
        downloaded,
        size: desc.size,
        message: e.to_string(),
    }
}

/// A client that speaks plain HTTP to loopback and insecure registries, HTTPS to the rest.
pub(crate) fn client_for(reference: &Reference, opts: &PullOptions) -> oci_client::Client {
    oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain_http_registries(reference, opts)),
        max_concurrent_download: opts.max_concurrent_downloads.max(1),
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        ..Default::default()
    })
}

/// The registries to talk plain HTTP to: the configured insecure ones (`host[:port]`, an
/// `http://` prefix is tolerated) plus the reference's own registry when it is loopback.
pub fn plain_http_registries(reference: &Reference, opts: &PullOptions) -> Vec<String> {
    let mut http: Vec<String> = opts
        .insecure_registries
        .iter()
        .map(|r| {
            let r = r
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            r.trim_end_matches('/').to_string()
        })
        .collect();
    if is_loopback_domain(reference.domain()) {
        http.push(reference.domain().to_string());
    }
    http
}

pub(crate) fn registry_auth(
    reference: &Reference,
    opts: &PullOptions,
) -> Result<RegistryAuth, ImageError> {
    if let Some(c) = &opts.credentials {
        return Ok(c.to_oci());
    }
    let path = opts
        .docker_config
        .clone()
        .or_else(auth::default_config_path);
    Ok(match path {
        Some(p) => auth::credentials_for(&p, reference.domain())?
            .map_or(RegistryAuth::Anonymous, |c| c.to_oci()),
        None => RegistryAuth::Anonymous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        let o = PullOptions {
            insecure_registries: vec!["http://reg.lan:5000/".into(), "10.0.0.5".into()],
            ..Default::default()
        };
        let list = |r: &str| {
            Reference::parse(r)
                .map(|r| plain_http_registries(&r, &o))
                .unwrap_or_default()
        };
        assert_eq!(list("nginx"), ["reg.lan:5000", "10.0.0.5"]);
        assert_eq!(
            list("localhost:5000/x"),
            ["reg.lan:5000", "10.0.0.5", "localhost:5000"]
        );
        assert_eq!(
            list("127.0.0.1:5000/x"),
            ["reg.lan:5000", "10.0.0.5", "127.0.0.1:5000"]
        );
        assert!(
            !plain_http_registries(
                &Reference::parse("ghcr.io/a/b").unwrap_or_else(|_| unreachable!()),
                &PullOptions::default()
            )
            .contains(&"ghcr.io".to_string())
        );
    }
}
