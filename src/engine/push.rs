//! `push`: a project's service images to their registries, as `docker compose push` does it.
//! Only services with both `build:` and `image:` are pushed (their `image` and each of
//! `build.tags`); the others are skipped, since their images are someone else's to publish.

use super::error::Result;
use crate::compose::model::ServiceConfig;
use crate::runtime::image::{Digest, ImageError, ImageStore, PullOptions, Reference};

/// What happened to one service or tag, in order.
#[derive(Debug)]
pub enum PushEvent<'a> {
    /// The service is not pushed (no `build:` or no `image:`).
    Skipped {
        service: &'a str,
    },
    Pushing {
        tag: &'a str,
    },
    Pushed {
        tag: &'a str,
        digest: Digest,
    },
    /// Only reported when failures are ignored; otherwise the error is returned.
    Failed {
        tag: &'a str,
        error: ImageError,
    },
}

/// The tags `docker compose push` pushes for a service, or None when it skips the service.
pub fn push_tags(service: &ServiceConfig) -> Option<Vec<&str>> {
    let build = service.build.as_ref()?;
    if service.image.is_empty() {
        return None;
    }
    let mut tags = vec![service.image.as_str()];
    tags.extend(build.tags.0.iter().map(String::as_str));
    Some(tags)
}

/// Pushes every tag of `services` from the local store. With `ignore_failures`, a failed tag
/// is reported and the others still pushed; otherwise the first failure ends the push.
pub fn push_services<'a>(
    store: &ImageStore,
    services: impl IntoIterator<Item = &'a ServiceConfig>,
    opts: &PullOptions,
    ignore_failures: bool,
    mut on_event: impl FnMut(PushEvent<'_>),
) -> Result<()> {
    let mut runtime = None;
    for service in services {
        let Some(tags) = push_tags(service) else {
            on_event(PushEvent::Skipped {
                service: &service.name,
            });
            continue;
        };
        let rt = match &mut runtime {
            Some(rt) => rt,
            None => runtime.insert(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| super::EngineError::io("starting the push runtime", e))?,
            ),
        };
        for tag in tags {
            on_event(PushEvent::Pushing { tag });
            let pushed = Reference::parse(tag)
                .and_then(|target| rt.block_on(store.push(tag, &target, opts)));
            match pushed {
                Ok(digest) => on_event(PushEvent::Pushed { tag, digest }),
                Err(error) if ignore_failures => on_event(PushEvent::Failed { tag, error }),
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::BuildConfig;

    #[test]
    fn only_built_services_with_an_image_are_pushed() {
        let mut service = ServiceConfig {
            name: "web".into(),
            image: "registry.example/web:1".into(),
            ..ServiceConfig::default()
        };
        assert_eq!(push_tags(&service), None);
        let mut build = BuildConfig::default();
        build.tags.0 = vec!["registry.example/web:latest".into()];
        service.build = Some(build);
        assert_eq!(
            push_tags(&service),
            Some(vec![
                "registry.example/web:1",
                "registry.example/web:latest"
            ])
        );
        service.image.clear();
        assert_eq!(push_tags(&service), None);
    }
}
