//! One build's shared state, used by the stage threads: the parsed Dockerfile, the contexts,
//! the cache, progress, base images (resolved or pulled once per build), the results of
//! finished stages and the build network (joined on the first RUN that needs it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::builder::{BuildRequest, Builder};
use super::buildnet::BuildNetwork;
use super::cache::BuildCache;
use super::context::SourceTree;
use super::dockerfile::Dockerfile;
use super::error::{BuildError, Origin, Result};
use super::executor::StageResult;
use super::instructions::Scope;
use super::progress::Reporter;
use super::sandbox::Sandbox;
use crate::runtime::image::pull::Ensured;
use crate::runtime::image::{LocalImage, PullPolicy, Reference};

/// An `additional_contexts` entry.
pub enum NamedContext {
    Dir(SourceTree),
    /// `docker-image://<reference>`.
    Image(String),
}

pub struct Session<'a> {
    pub builder: &'a Builder,
    pub req: &'a BuildRequest,
    pub df: &'a Dockerfile,
    /// The Dockerfile's name in messages.
    pub file: String,
    pub context: SourceTree,
    pub named: BTreeMap<String, NamedContext>,
    pub cache: BuildCache,
    pub reporter: Reporter,
    /// Global ARGs (before the first FROM) and the platform ARGs.
    pub global: Scope,
    /// Build overlays, step uppers and temp trees (same filesystem as the image store).
    pub scratch: PathBuf,
    /// An empty directory: the lower dir of a stage without layers.
    pub empty_dir: PathBuf,
    /// Directories of `RUN --mount=type=cache`.
    pub cache_mounts: PathBuf,
    pub cancel: &'a AtomicBool,
    /// Set when a stage failed: the others stop at their next step.
    pub failed: AtomicBool,
    swept: AtomicBool,
    pub results: Mutex<BTreeMap<usize, Arc<StageResult>>>,
    images: Mutex<BTreeMap<String, LocalImage>>,
    network: Mutex<Option<Arc<BuildNetwork>>>,
}

impl<'a> Session<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        builder: &'a Builder,
        req: &'a BuildRequest,
        df: &'a Dockerfile,
        file: String,
        context: SourceTree,
        named: BTreeMap<String, NamedContext>,
        reporter: Reporter,
        global: Scope,
        cancel: &'a AtomicBool,
    ) -> Result<Self> {
        let build_dir = builder.state_root.join("build");
        let scratch = build_dir.join("scratch");
        let empty_dir = build_dir.join("empty");
        let cache_mounts = build_dir.join("mounts");
        for d in [&scratch, &empty_dir, &cache_mounts] {
            std::fs::create_dir_all(d).map_err(|e| BuildError::io(d, e))?;
        }
        Ok(Session {
            cache: BuildCache::open(&builder.store)?,
            builder,
            req,
            df,
            file,
            context,
            named,
            reporter,
            global,
            scratch,
            empty_dir,
            cache_mounts,
            cancel,
            failed: AtomicBool::new(false),
            swept: AtomicBool::new(false),
            results: Mutex::new(BTreeMap::new()),
            images: Mutex::new(BTreeMap::new()),
            network: Mutex::new(None),
        })
    }

    pub fn stopped(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.failed.load(Ordering::SeqCst)
    }

    pub fn stage_result(&self, index: usize) -> Option<Arc<StageResult>> {
        self.results.lock().ok()?.get(&index).cloned()
    }

    /// The RUN sandbox; the first call of a build sweeps what killed builds left behind.
    pub fn sandbox(&self) -> Result<Sandbox<'_>> {
        let sandbox = Sandbox {
            containers: &self.builder.containers,
            netns_dir: self.builder.run_root.join("netns"),
        };
        if !self.swept.swap(true, Ordering::SeqCst) {
            sandbox.sweep(Some(&self.builder.network))?;
        }
        Ok(sandbox)
    }

    /// The build network, created on first use and held until the build ends.
    pub fn network(&self) -> Result<Arc<BuildNetwork>> {
        let mut guard = self.network.lock().map_err(|_| {
            BuildError::sys("build network", std::io::Error::other("poisoned lock"))
        })?;
        if let Some(n) = guard.as_ref() {
            return Ok(n.clone());
        }
        let n = Arc::new(BuildNetwork::acquire(
            &self.builder.network,
            &self.builder.run_root,
        )?);
        *guard = Some(n.clone());
        Ok(n)
    }

    /// A base image or `--from` image: the local one, else pulled (always pulled with
    /// `--pull`, once per build). `label` names the FROM step in progress.
    pub fn image(&self, name: &str, label: Option<&str>, origin: &Origin) -> Result<LocalImage> {
        let reference = Reference::parse(name).map_err(|e| {
            BuildError::instruction(origin, format!("invalid base image {name:?}: {e}"))
        })?;
        let key = reference.to_string();
        if let Some(img) = self.images.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if let Some(l) = label {
                self.reporter
                    .vertex(Some(l), &format!("FROM {key}"))
                    .cached();
            }
            return Ok(img);
        }
        let meta = self
            .reporter
            .vertex(Some("internal"), &format!("load metadata for {key}"));
        let local = if self.req.pull {
            None
        } else {
            self.builder.store.resolve(&key)?
        };
        meta.done();
        let img = match local {
            Some(img) => {
                if let Some(l) = label {
                    self.reporter
                        .vertex(Some(l), &format!("FROM {key}"))
                        .cached();
                }
                img
            }
            None => {
                let v = label.map(|l| self.reporter.vertex(Some(l), &format!("FROM {key}")));
                let img = self.pull(&reference, origin);
                match (&img, v) {
                    (Ok(_), Some(v)) => v.done(),
                    (Err(e), Some(v)) => v.failed(&e.to_string()),
                    _ => {}
                }
                img?
            }
        };
        if let Ok(mut m) = self.images.lock() {
            m.insert(key, img.clone());
        }
        Ok(img)
    }

    fn pull(&self, reference: &Reference, origin: &Origin) -> Result<LocalImage> {
        let policy = if self.req.pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BuildError::sys("start the pull runtime", e))?;
        let ensured = rt.block_on(self.builder.store.ensure_image(
            reference,
            policy,
            &self.builder.pull,
            SystemTime::now(),
            |_| {},
        ))?;
        match ensured {
            Ensured::Local(i) | Ensured::Pulled(i) => Ok(i),
            Ensured::NeedsBuild(_) => Err(BuildError::instruction(
                origin,
                format!("image {reference} is not available"),
            )),
        }
    }
}
