//! Which image each service runs: the service's `pull_policy` (or `up --pull`) applied through
//! the image store, pulls of different images in parallel. Images of services with a `build`
//! section are built before (see [`super::build`]); here they are only looked up.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::Engine;
use super::error::{EngineError, Result};
use super::progress::{Event, ResourceKind, Status};
use crate::compose::model::ServiceConfig;
use crate::runtime::image::pull::{Ensured, PullOptions};
use crate::runtime::image::{LocalImage, PullPolicy, Reference};

/// An image ready to run, with its raw config (for the image's own healthcheck).
#[derive(Debug, Clone)]
pub struct ServiceImage {
    pub image: LocalImage,
    pub raw_config: Option<serde_json::Value>,
}

/// Registries to talk plain HTTP to besides loopback ones (`RCOMPOSE_INSECURE_REGISTRIES`,
/// comma-separated `host[:port]`), as dockerd's `insecure-registries`. Used by `up` and by the
/// `pull`/`image` commands alike.
pub fn pull_options() -> PullOptions {
    let insecure = std::env::var("RCOMPOSE_INSECURE_REGISTRIES").unwrap_or_default();
    PullOptions {
        insecure_registries: insecure
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        ..PullOptions::default()
    }
}

/// The effective policy of a service: `--pull` wins, else `pull_policy`, else `missing`
/// (`build` when the service can be built and has no policy).
pub fn policy(service: &ServiceConfig, cli: Option<PullPolicy>) -> Result<PullPolicy> {
    if let Some(p) = cli {
        return Ok(p);
    }
    let declared = match service.pull_policy.as_str() {
        "" => None,
        p => Some(p.parse::<PullPolicy>().map_err(|e| {
            EngineError::Other(format!("service {:?}: pull_policy: {e}", service.name))
        })?),
    };
    Ok(match declared {
        Some(p) => p,
        None if service.build.is_some() && service.image.is_empty() => PullPolicy::Build,
        None => PullPolicy::Missing,
    })
}

impl Engine {
    /// Resolve (pulling as the policies say) the image of each service. Fast path: with policy
    /// `missing` and the image present, no registry is contacted and no tokio runtime started.
    /// A service with a `build` section and no `image:` runs `<project>-<service>`, which
    /// `build_for_up` built beforehand.
    pub fn resolve_images<'a>(
        &self,
        project: &str,
        services: impl IntoIterator<Item = &'a ServiceConfig>,
        cli_policy: Option<PullPolicy>,
    ) -> Result<BTreeMap<String, ServiceImage>> {
        let mut out = BTreeMap::new();
        let mut to_pull: Vec<(&ServiceConfig, Reference, PullPolicy)> = Vec::new();
        let mut local = BTreeMap::new();
        for s in services {
            if s.image.is_empty() && s.build.is_none() {
                return Err(EngineError::NoImage {
                    service: s.name.clone(),
                });
            }
            let image = super::build::image_name(project, s);
            let mut policy = policy(s, cli_policy)?;
            if s.build.is_some() && s.image.is_empty() {
                policy = PullPolicy::Build;
            }
            if matches!(
                policy,
                PullPolicy::Missing | PullPolicy::Never | PullPolicy::Build
            ) && let Some(img) = self.resolve_local(&image, &mut local)?
            {
                out.insert(s.name.clone(), img);
                continue;
            }
            if policy == PullPolicy::Build {
                return Err(EngineError::NeedsBuild {
                    service: s.name.clone(),
                    image,
                });
            }
            to_pull.push((s, Reference::parse(&s.image)?, policy));
        }
        if !to_pull.is_empty() {
            for (name, img) in self.pull_all(&to_pull)? {
                out.insert(name, self.with_raw(img));
            }
        }
        Ok(out)
    }

    /// The local image `reference` names, read from the store once per command however many
    /// services use it (50 services on one image read the index once, not 50 times).
    fn resolve_local(
        &self,
        reference: &str,
        seen: &mut BTreeMap<String, Option<ServiceImage>>,
    ) -> Result<Option<ServiceImage>> {
        if let Some(hit) = seen.get(reference) {
            return Ok(hit.clone());
        }
        let found = self.images.resolve(reference)?.map(|i| self.with_raw(i));
        seen.insert(reference.to_string(), found.clone());
        Ok(found)
    }

    fn with_raw(&self, image: LocalImage) -> ServiceImage {
        let raw_config = self.images.config_json(&image.id).ok();
        ServiceImage { image, raw_config }
    }

    /// Pull each distinct image once (in parallel); every service using it gets the result.
    /// Events are keyed by service name, as docker compose prints them.
    fn pull_all(
        &self,
        wanted: &[(&ServiceConfig, Reference, PullPolicy)],
    ) -> Result<Vec<(String, LocalImage)>> {
        let mut distinct: Vec<(&Reference, PullPolicy, Vec<&str>)> = Vec::new();
        for (s, r, p) in wanted {
            match distinct.iter_mut().find(|(dr, dp, _)| *dr == r && dp == p) {
                Some((_, _, users)) => users.push(&s.name),
                None => distinct.push((r, *p, vec![&s.name])),
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::io("start the pull runtime", e))?;
        let opts = pull_options();
        let tell = |users: &[&str], status: Status, detail: Option<String>| {
            for u in users {
                let e = Event::new(ResourceKind::Image, *u, status);
                self.emit(match &detail {
                    Some(d) => e.with_detail(d.clone()),
                    None => e,
                });
            }
        };
        rt.block_on(async {
            let jobs = distinct.iter().map(|(reference, policy, users)| {
                let opts = &opts;
                async move {
                    tell(users, Status::Pulling, None);
                    let ensured = self
                        .images
                        .ensure_image(reference, *policy, opts, SystemTime::now(), |_| {})
                        .await;
                    let img = match ensured {
                        Ok(Ensured::Local(i)) => i,
                        Ok(Ensured::Pulled(i)) => {
                            tell(users, Status::Pulled, None);
                            i
                        }
                        Ok(Ensured::NeedsBuild(_)) => {
                            return Err(EngineError::NeedsBuild {
                                service: users.join(", "),
                                image: reference.to_string(),
                            });
                        }
                        Err(e) => {
                            tell(users, Status::Error, Some(e.to_string()));
                            return Err(EngineError::from(e));
                        }
                    };
                    Ok(users
                        .iter()
                        .map(|u| (u.to_string(), img.clone()))
                        .collect::<Vec<_>>())
                }
            });
            let done = futures_util::future::join_all(jobs).await;
            let mut out = Vec::new();
            for r in done {
                out.extend(r?);
            }
            Ok(out)
        })
    }
}
