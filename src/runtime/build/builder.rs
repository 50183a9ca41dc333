//! The builder's entry point: [`Builder::build`] turns a [`BuildRequest`] (context, Dockerfile,
//! args, target, tags, ...) into an image in the store.
//!
//! It reads and parses the Dockerfile, loads `.dockerignore` (`<Dockerfile>.dockerignore` first,
//! as BuildKit does), works out the stages the target needs and builds them, independent ones
//! on parallel threads, then commits the target stage as the image. The image store's GC lock
//! is held (shared) for the whole build, so a concurrent prune cannot remove a layer the build
//! is reusing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest as _, Sha256};

use super::commit;
use super::context::SourceTree;
use super::dockerfile::{self, Dockerfile};
use super::error::{BuildError, IoContext, Result};
use super::executor::StageResult;
use super::ignore::DockerIgnore;
use super::instructions::{Scope, platform_args};
use super::progress::Reporter;
use super::sandbox::StepNetwork;
use super::session::{NamedContext, Session};
use super::stage;
use crate::runtime::container::ContainerRuntime;
use crate::runtime::image::{ImageId, ImageStore, PullOptions, Reference};
use crate::runtime::network::NetworkManager;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// A file; relative paths are relative to the context.
    Path(PathBuf),
    /// `dockerfile_inline`.
    Inline(String),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory (absolute).
    pub context: PathBuf,
    pub dockerfile: DockerfileSource,
    /// `--build-arg` / `build.args`.
    pub args: BTreeMap<String, String>,
    /// The stage to build (default: the last).
    pub target: Option<String>,
    /// Labels added to the image.
    pub labels: BTreeMap<String, String>,
    /// Names for the image (the first is its main name); may be empty (untagged).
    pub tags: Vec<Reference>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// The network of RUN steps.
    pub network: StepNetwork,
    /// `name → address` in RUN steps' `/etc/hosts` (`None`: the host, `host-gateway`).
    pub extra_hosts: Vec<(String, Option<IpAddr>)>,
    pub shm_size: Option<u64>,
    /// Named contexts: a directory (absolute) or `docker-image://<ref>`.
    pub additional_contexts: BTreeMap<String, String>,
    /// Shown in front of progress lines (a service name).
    pub name: Option<String>,
}

impl BuildRequest {
    /// A request for `context` with `Dockerfile` and defaults for the rest.
    pub fn new(context: impl Into<PathBuf>) -> Self {
        BuildRequest {
            context: context.into(),
            dockerfile: DockerfileSource::Path(PathBuf::from("Dockerfile")),
            args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            tags: Vec::new(),
            no_cache: false,
            pull: false,
            network: StepNetwork::Default,
            extra_hosts: Vec::new(),
            shm_size: None,
            additional_contexts: BTreeMap::new(),
            name: None,
        }
    }
}

/// The runtime handles a build uses.
#[derive(Clone)]
pub struct Builder {
    pub store: ImageStore,
    pub containers: ContainerRuntime,
    pub network: NetworkManager,
    pub state_root: PathBuf,
    pub run_root: PathBuf,
    pub pull: PullOptions,
}

impl Builder {
    /// Build `req`; progress goes to `reporter`; `cancel` stops the build at its next step.
    pub fn build(
        &self,
        req: &BuildRequest,
        reporter: &Reporter,
        cancel: &AtomicBool,
    ) -> Result<ImageId> {
        let reporter = reporter.with_prefix(req.name.as_deref());
        let (file, text) = self.read_dockerfile(req, &reporter)?;
        let df =
            dockerfile::parse(&text).map_err(|e| BuildError::Parse(e.in_file(file.clone())))?;
        let ignore = self.read_ignore(req, &reporter)?;
        let _gc = self.store.lock_gc_shared()?;
        sweep_scratch(&self.state_root.join("build").join("scratch"));
        let context =
            SourceTree::context(&req.context, ignore, Some(self.hash_cache(&req.context)));
        let named = self.named_contexts(req)?;
        let global = global_scope(&df, req)?;
        let session = Session::new(
            self,
            req,
            &df,
            file,
            context,
            named,
            reporter.clone(),
            global,
            cancel,
        )?;
        let target = stage::target_index(&df, req.target.as_deref())
            .ok_or_else(|| BuildError::NoSuchTarget(req.target.clone().unwrap_or_default()))?;
        let result = run_stages(&session, target);
        let _ = session.context.save();
        let result = result?;
        commit::commit_image(&self.store, &result, req, &reporter)
    }

    fn read_dockerfile(&self, req: &BuildRequest, reporter: &Reporter) -> Result<(String, String)> {
        let (file, text) = match &req.dockerfile {
            DockerfileSource::Inline(t) => ("Dockerfile".to_string(), t.clone()),
            DockerfileSource::Path(p) => {
                let abs = req.context.join(p);
                let text = std::fs::read_to_string(&abs).at(&abs)?;
                let shown = abs
                    .strip_prefix(&req.context)
                    .unwrap_or(&abs)
                    .display()
                    .to_string();
                (shown, text)
            }
        };
        let v = reporter.vertex(
            Some("internal"),
            &format!("load build definition from {file}"),
        );
        v.output(&format!("transferring dockerfile: {}B done", text.len()));
        v.done();
        Ok((file, text))
    }

    fn read_ignore(&self, req: &BuildRequest, reporter: &Reporter) -> Result<DockerIgnore> {
        let mut candidates = Vec::new();
        if let DockerfileSource::Path(p) = &req.dockerfile {
            let abs = req.context.join(p);
            let mut name = abs.as_os_str().to_owned();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(req.context.join(".dockerignore"));
        let v = reporter.vertex(Some("internal"), "load .dockerignore");
        for c in candidates {
            match std::fs::read_to_string(&c) {
                Ok(text) => {
                    v.output(&format!("transferring context: {}B done", text.len()));
                    return Ok(DockerIgnore::parse(&text)?);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BuildError::io(c, e)),
            }
        }
        Ok(DockerIgnore::default())
    }

    /// `<state root>/build/hashes/<hash of the context path>.json`.
    fn hash_cache(&self, context: &Path) -> PathBuf {
        let canonical = context
            .canonicalize()
            .unwrap_or_else(|_| context.to_path_buf());
        let h = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
        self.state_root
            .join("build")
            .join("hashes")
            .join(format!("{hex}.json"))
    }

    fn named_contexts(&self, req: &BuildRequest) -> Result<BTreeMap<String, NamedContext>> {
        let mut out = BTreeMap::new();
        for (name, value) in &req.additional_contexts {
            let ctx = if let Some(image) = value.strip_prefix("docker-image://") {
                NamedContext::Image(image.to_string())
            } else if value.contains("://") || value.starts_with("target:") {
                return Err(BuildError::NoSuchTarget(format!(
                    "additional context {name}={value}: only directories and docker-image:// are supported"
                )));
            } else {
                let dir = req.context.join(value);
                let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
                    Ok(t) => DockerIgnore::parse(&t)?,
                    Err(_) => DockerIgnore::default(),
                };
                let cache = self.hash_cache(&dir);
                NamedContext::Dir(SourceTree::context(&dir, ignore, Some(cache)))
            };
            out.insert(name.clone(), ctx);
        }
        Ok(out)
    }
}

/// Global ARGs (declared before the first FROM) with their values, after the platform ARGs.
fn global_scope(df: &Dockerfile, req: &BuildRequest) -> Result<Scope> {
    let mut global = Scope::new(df.directives.escape);
    for (k, v) in platform_args() {
        global.args.insert(k.to_string(), Some(v.to_string()));
    }
    let origin = super::error::Origin {
        file: "Dockerfile".into(),
        line: 1,
    };
    let empty = super::config::ImageConfig::scratch();
    for d in &df.global_args {
        let value = match (req.args.get(&d.name), &d.default) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(def)) => Some(global.word(&empty, def, &origin)?),
            (None, None) => None,
        };
        global.args.insert(d.name.clone(), value);
    }
    Ok(global)
}

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Pending,
    Done,
    Failed,
}

/// Build the stages `target` needs; each on its own thread as soon as its dependencies are
/// done. The first failure stops the others at their next step and is returned.
fn run_stages(session: &Session<'_>, target: usize) -> Result<StageResult> {
    let empty = super::config::ImageConfig::scratch();
    let origin = session.origin(1);
    let expand = |s: &str| {
        session
            .global
            .word(&empty, s, &origin)
            .unwrap_or_else(|_| s.to_string())
    };
    let deps = stage::dependencies(session.df, &expand);
    let order = stage::build_order(&deps, target).map_err(|i| {
        BuildError::instruction(
            &session.origin(session.df.stages[i].line),
            "circular dependency between stages",
        )
    })?;
    let slots = Mutex::new(vec![Slot::Pending; session.df.stages.len()]);
    let changed = Condvar::new();
    let first_error: Mutex<Option<BuildError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for &i in &order {
            let (deps, slots, changed, first_error) = (&deps[i], &slots, &changed, &first_error);
            scope.spawn(move || {
                let ready = wait_for(slots, changed, deps);
                let outcome = if !ready {
                    Slot::Failed
                } else {
                    let done: BTreeMap<usize, Arc<StageResult>> = deps
                        .iter()
                        .filter_map(|d| session.stage_result(*d).map(|r| (*d, r)))
                        .collect();
                    match session.build_stage(i, &done) {
                        Ok(r) => {
                            if let Ok(mut m) = session.results.lock() {
                                m.insert(i, Arc::new(r));
                            }
                            Slot::Done
                        }
                        Err(e) => {
                            session.failed.store(true, Ordering::SeqCst);
                            if let Ok(mut f) = first_error.lock()
                                && (f.is_none() || matches!(*f, Some(BuildError::Interrupted)))
                            {
                                *f = Some(e);
                            }
                            Slot::Failed
                        }
                    }
                };
                if let Ok(mut s) = slots.lock() {
                    s[i] = outcome;
                }
                changed.notify_all();
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    session
        .stage_result(target)
        .map(|r| (*r).clone())
        .ok_or(BuildError::Interrupted)
}

/// Block until every stage in `deps` is done (true) or one failed (false).
fn wait_for(slots: &Mutex<Vec<Slot>>, changed: &Condvar, deps: &BTreeSet<usize>) -> bool {
    let Ok(mut s) = slots.lock() else {
        return false;
    };
    loop {
        if deps.iter().any(|d| s[*d] == Slot::Failed) {
            return false;
        }
        if deps.iter().all(|d| s[*d] == Slot::Done) {
            return true;
        }
        s = match changed.wait(s) {
            Ok(s) => s,
            Err(_) => return false,
        };
    }
}

/// Remove what builds that are gone left in the scratch dir (`<kind>-<pid>-...` entries whose
/// process no longer runs), unmounting overlays first.
fn sweep_scratch(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').nth(1).and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(|p| {
            p == std::process::id() as i32 || std::path::Path::new(&format!("/proc/{p}")).exists()
        });
        if alive {
            continue;
        }
        let merged = e.path().join("merged");
        if crate::runtime::container::rootfs::is_mounted(&merged) {
            let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}
