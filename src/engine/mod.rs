//! The engine: executes a project against the runtime. It turns Compose services into container
//! specs, creates networks and volumes, runs the plan's actions concurrently with `depends_on`
//! gating, and reports every state change as a [`progress::Event`]. It never prints.
//!
//! * [`project`]: the loaded project plus its resolved networks and volumes.
//! * [`labels`], [`service_spec`], [`resources`]: pure mapping from the Compose model.
//! * [`images`]: which image each service runs (pull policy, `--pull`); [`build`]: building them.
//! * [`observe`]: the project's containers as the runtime has them.
//! * [`container`]: one container's life: netns, network attachment, ports, create/start/stop/rm.
//! * [`gate`]: `depends_on` conditions, reacting to state changes as they happen.
//! * [`up`], [`down`], [`ops`]: the commands' engines.
//! * [`lock`]: one command at a time per project.
//! * [`sweep`]: reclaims what a killed command left without an owner (netns, endpoints, holds).
//! * [`push`], [`prune`]: `push` of service images and `image prune`.
//! * [`watch`]: the `develop.watch` dev loop.

pub mod build;
pub mod container;
pub mod down;
pub mod error;
pub mod gate;
pub mod images;
pub mod labels;
pub mod lock;
pub mod observe;
pub mod ops;
pub mod procs;
pub mod progress;
pub mod project;
pub mod prune;
pub mod push;
pub mod query;
pub mod resources;
pub mod run;
pub mod run_deps;
pub mod service_spec;
pub mod sweep;
pub mod up;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use error::{EngineError, Result};
pub use project::ProjectContext;

use crate::runtime::container::ContainerRuntime;
use crate::runtime::image::ImageStore;
use crate::runtime::network::NetworkManager;
use progress::{Event, ProgressSink};

/// cgroup parent of the containers (default `rcompose`), like dockerd's `--cgroup-parent`.
pub const CGROUP_PARENT_ENV: &str = "RCOMPOSE_CGROUP_PARENT";
/// Address pools for networks without a subnet, like dockerd's `default-address-pools`:
/// comma-separated `BASE/PREFIX/SIZE`, e.g. `10.10.0.0/16/24`.
pub const ADDRESS_POOLS_ENV: &str = "RCOMPOSE_ADDRESS_POOLS";

/// Parse [`ADDRESS_POOLS_ENV`].
pub fn parse_pools(s: &str) -> Result<Vec<crate::runtime::network::Pool>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let bad = || {
                EngineError::Other(format!(
                    "{ADDRESS_POOLS_ENV}: {p:?} is not BASE/PREFIX/SIZE (e.g. 10.10.0.0/16/24)"
                ))
            };
            let (net, size) = p.rsplit_once('/').ok_or_else(bad)?;
            let base: crate::runtime::network::Ipv4Net = net.parse().map_err(|_| bad())?;
            let size: u8 = size.parse().map_err(|_| bad())?;
            if size < base.prefix() || size > 30 {
                return Err(bad());
            }
            Ok(crate::runtime::network::Pool { base, size })
        })
        .collect()
}

/// The runtime handles of one state root, and where progress goes.
#[derive(Clone)]
pub struct Engine {
    pub images: ImageStore,
    pub containers: ContainerRuntime,
    pub network: NetworkManager,
    state_root: PathBuf,
    run_root: PathBuf,
    progress: Arc<dyn ProgressSink>,
    /// At most this many containers are worked on at once (`--parallel`); `None` = unlimited.
    parallel: Option<usize>,
    /// Set by Ctrl-C: workers stop at their next step.
    cancelled: Arc<AtomicBool>,
}

impl Engine {
    /// Open the runtime under `state_root` (persistent) and `run_root` (volatile). Helper
    /// processes (monitors, netd) are this executable.
    pub fn open(
        state_root: &Path,
        run_root: &Path,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Self> {
        let mut containers = ContainerRuntime::with_current_exe(state_root, run_root)?;
        if let Ok(parent) = std::env::var(CGROUP_PARENT_ENV)
            && !parent.is_empty()
        {
            containers = containers.with_cgroup_parent(parent);
        }
        let mut network = NetworkManager::open(state_root, run_root)?;
        if let Ok(pools) = std::env::var(ADDRESS_POOLS_ENV)
            && !pools.is_empty()
        {
            network = network.with_pools(parse_pools(&pools)?);
        }
        Ok(Engine {
            images: ImageStore::open(state_root)?,
            containers,
            network,
            state_root: state_root.to_path_buf(),
            run_root: run_root.to_path_buf(),
            progress,
            parallel: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Replace the runtime handles (tests point helpers at the built binary).
    pub fn with_parts(mut self, containers: ContainerRuntime, network: NetworkManager) -> Self {
        self.containers = containers;
        self.network = network;
        self
    }

    /// The same runtime, reporting progress to `progress` instead.
    pub fn with_progress(mut self, progress: Arc<dyn ProgressSink>) -> Self {
        self.progress = progress;
        self
    }

    /// `--parallel N` / `COMPOSE_PARALLEL_LIMIT`: a negative or zero limit means unlimited.
    pub fn with_parallel(mut self, limit: i64) -> Self {
        self.parallel = usize::try_from(limit).ok().filter(|n| *n > 0);
        self
    }

    /// Ask running work to stop at its next step (Ctrl-C).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Run `f` over `items` on up to `--parallel` threads; the first error wins.
    pub fn each<T: Sync>(&self, items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
        let width = self.parallel.unwrap_or(usize::MAX).max(1);
        for chunk in items.chunks(width) {
            let results: Vec<Result<()>> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk.iter().map(|i| s.spawn(|| f(i))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(EngineError::Other("worker panicked".into())))
                    })
                    .collect()
            });
            results.into_iter().collect::<Result<Vec<()>>>()?;
        }
        Ok(())
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    pub fn emit(&self, event: Event) {
        self.progress.event(event);
    }

    pub fn progress(&self) -> &Arc<dyn ProgressSink> {
        &self.progress
    }

    pub fn parallel(&self) -> Option<usize> {
        self.parallel
    }

    /// The persistent network namespace of a container (survives its restarts).
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.run_root.join("netns").join(container)
    }

    /// [`Engine::sweep_orphans`], reporting a failure as a warning: a command does not fail
    /// because an earlier one left something behind.
    pub fn sweep(&self) {
        if let Err(e) = self.sweep_orphans() {
            self.emit(
                Event::new(
                    progress::ResourceKind::Container,
                    "",
                    progress::Status::Warning,
                )
                .with_detail(format!(
                    "reclaiming leftovers of an interrupted command: {e}"
                )),
            );
        }
    }

    /// Take the project's lock; tells the user when it has to wait.
    pub fn lock(&self, project: &str) -> Result<lock::ProjectLock> {
        lock::ProjectLock::acquire(&self.state_root, project, || {
            self.emit(
                Event::new(
                    progress::ResourceKind::Container,
                    project,
                    progress::Status::Waiting,
                )
                .with_detail("another rcompose command is changing this project"),
            )
        })
    }
}
