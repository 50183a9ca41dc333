//! The client-side API the engine calls: the [`Runtime`] trait and its real implementation,
//! [`ContainerRuntime`], which keeps state on disk and talks to per-container monitors.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::pipe2;
use serde::{Deserialize, Serialize};

use super::cgroup_warm::AttachWarmer;
use super::cleanup;
use super::client::MonitorClient;
use super::error::{ContainerError, IoContext, Result};
use super::events;
use super::logs::{LogEntry, LogOptions, LogReader};
use super::names::{self, NameIndex};
use super::oci;
use super::paths::Layout;
use super::rootfs;
use super::spec::{ContainerSpec, ExecSpec, MountKind, STORED_SPEC_VERSION, StoredSpec};
use super::state::{ContainerState, Status};
use super::volumes;
use crate::runtime::monitor::MONITOR_ARG;
use crate::runtime::monitor::protocol::{Request, Response};

/// Default persistent state root.
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/rcompose";
/// Default volatile run root (a tmpfs: wiped by a reboot).
pub const DEFAULT_RUN_ROOT: &str = "/run/rcompose";

/// A container id: 64 hex characters.
pub type ContainerId = String;

/// What `inspect` and `list` return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub state: ContainerState,
    pub spec: ContainerSpec,
    /// Volume names of the anonymous volumes (mounts and image-declared).
    pub anonymous_volumes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Also remove its anonymous volumes.
    pub volumes: bool,
}

/// File descriptors handed to an exec'd process (each optional; default: `/dev/null`-like).
#[derive(Debug, Default)]
pub struct ExecIo {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Captured output of [`Runtime::exec_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Boxed log iterator.
pub type LogIter = Box<dyn Iterator<Item = LogEntry> + Send>;

/// The boundary between the engine and the container runtime (fake it in engine tests).
/// `id` arguments accept a full id, a name or a unique id prefix.
pub trait Runtime: Send + Sync {
    fn create(&self, spec: &ContainerSpec) -> Result<ContainerId>;
    fn start(&self, id: &str) -> Result<()>;
    /// Stop signal, then SIGKILL after `timeout` (default: the spec's grace period).
    fn stop(&self, id: &str, timeout: Option<Duration>) -> Result<()>;
    /// Signal name or number.
    fn kill(&self, id: &str, signal: &str) -> Result<()>;
    fn pause(&self, id: &str) -> Result<()>;
    fn unpause(&self, id: &str) -> Result<()>;
    fn remove(&self, id: &str, opts: RemoveOptions) -> Result<()>;
    fn inspect(&self, id: &str) -> Result<ContainerInfo>;
    fn list(&self) -> Result<Vec<ContainerInfo>>;
    fn exec(&self, id: &str, spec: &ExecSpec, io: ExecIo) -> Result<i32>;
    fn exec_output(&self, id: &str, spec: &ExecSpec) -> Result<ExecOutput>;
    fn logs(&self, id: &str, opts: &LogOptions) -> Result<LogIter>;
    /// Blocks until the container has exited for good (no restart pending); its exit code.
    fn wait(&self, id: &str) -> Result<i32>;
}

/// How long a command waits for another client's monitor to finish starting a container.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// A live monitor on a container that is not (yet) running: the monitor is starting it.
fn is_starting(state: &ContainerState) -> bool {
    !state.status.needs_monitor()
        && state.boot_id == super::state::boot_id()
        && state.monitor.is_some_and(|m| m.is_alive())
}

/// The real runtime.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    layout: Layout,
    monitor_exe: PathBuf,
    cgroup_parent: String,
    warmer: AttachWarmer,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ctx("read random id", "/dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

pub(super) fn lock(path: &Path) -> Result<Flock<fs::File>> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx("open lock file", path)?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| ContainerError::sys(format!("flock {}", path.display()), e))
}

impl ContainerRuntime {
    /// `state_root` persists (containers, volumes); `run_root` is volatile (sockets,
    /// libcontainer state; default `/run/rcompose`); `monitor_exe` is the rcompose binary.
    pub fn new(
        state_root: impl Into<PathBuf>,
        run_root: impl Into<PathBuf>,
        monitor_exe: impl Into<PathBuf>,
    ) -> Result<Self> {
        let layout = Layout::new(state_root, run_root);
        for d in [
            layout.containers_dir(),
            layout.volumes_dir(),
            layout.run_root.clone(),
        ] {
            fs::create_dir_all(&d).ctx("create runtime dir", &d)?;
        }
        Ok(ContainerRuntime {
            layout,
            monitor_exe: monitor_exe.into(),
            cgroup_parent: "rcompose".into(),
            warmer: AttachWarmer::default(),
        })
    }

    /// Like [`ContainerRuntime::new`] with the running executable as the monitor binary.
    pub fn with_current_exe(
        state_root: impl Into<PathBuf>,
        run_root: impl Into<PathBuf>,
    ) -> Result<Self> {
        let exe = std::env::current_exe().ctx("locate the rcompose binary", "/proc/self/exe")?;
        Self::new(state_root, run_root, exe)
    }

    /// cgroups are `/<parent>/<id>` (default parent `rcompose`).
    pub fn with_cgroup_parent(mut self, parent: impl Into<String>) -> Self {
        self.cgroup_parent = parent.into();
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn ids(&self) -> Result<Vec<String>> {
        let dir = self.layout.containers_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx("list containers", &dir)? {
            let e = e.ctx("list containers", &dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            // Dot-dirs are containers being created or removed (see `create` and `remove`).
            if !name.starts_with('.') && e.path().join("spec.json").exists() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    pub(super) fn load_stored(&self, id: &str) -> Result<StoredSpec> {
        StoredSpec::load(&self.layout.container(id).spec(), id)
    }

    /// Resolves an id, name or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<ContainerId> {
        if key.is_empty() {
            return Err(ContainerError::NotFound(String::new()));
        }
        // A full id (what the engine passes): one stat instead of listing every container.
        if key.len() == 64
            && key.bytes().all(|b| b.is_ascii_hexdigit())
            && self.layout.container(key).spec().exists()
        {
            return Ok(key.to_string());
        }
        self.ensure_name_index()?;
        if let Some(id) = self.live_name(key) {
            return Ok(id);
        }
        let ids = self.ids()?;
        if ids.iter().any(|i| i == key) {
            return Ok(key.to_string());
        }
        if !names::indexable(key) {
            for id in &ids {
                if let Ok(st) = ContainerState::load(&self.layout.container(id).state())
                    && st.name == key
                {
                    return Ok(id.clone());
                }
            }
        }
        let matches: Vec<&String> = ids.iter().filter(|i| i.starts_with(key)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(ContainerError::NotFound(key.to_string())),
        }
    }

    /// The name index, built by one scan the first time a root is used with it.
    fn ensure_name_index(&self) -> Result<()> {
        let index = NameIndex::new(&self.layout.state_root);
        if !index.is_built() {
            let _global = lock(&self.layout.state_root.join("lock"))?;
            self.build_name_index(&index)?;
        }
        Ok(())
    }

    /// Caller holds the global lock.
    fn build_name_index(&self, index: &NameIndex) -> Result<()> {
        if index.is_built() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for id in self.ids()? {
            if let Ok(st) = ContainerState::load(&self.layout.container(&id).state()) {
                entries.push((st.name, id));
            }
        }
        let dir = self.layout.state_root.join("names");
        index
            .build(entries)
            .ctx("build the container name index", dir)
    }

    /// Removes name index entries a crash left pointing at no container (see
    /// [`NameIndex::prune`]); the names removed.
    pub fn prune_names(&self) -> Result<Vec<String>> {
        let _global = lock(&self.layout.state_root.join("lock"))?;
        NameIndex::new(&self.layout.state_root).prune().ctx(
            "prune the container name index",
            self.layout.state_root.join("names"),
        )
    }

    /// The id of the existing container named `name`, by the index.
    fn live_name(&self, name: &str) -> Option<String> {
        let id = NameIndex::new(&self.layout.state_root).lookup(name)?;
        self.layout.container(&id).spec().exists().then_some(id)
    }

    /// Loads the state, cleaning up after a dead monitor first. Caller holds the lock.
    ///
    /// A monitor still starting the container (for a client killed while waiting for it) is
    /// waited for first: acting on a half-started container would race the monitor (a second
    /// monitor on it, or its directory removed under it).
    fn reconcile_locked(&self, id: &str) -> Result<ContainerState> {
        let paths = self.layout.container(id);
        let mut state = ContainerState::load(&paths.state())?;
        let until = Instant::now() + STARTUP_WAIT;
        while is_starting(&state) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            state = ContainerState::load(&paths.state())?;
        }
        if cleanup::monitor_alive(&state, &paths) {
            return Ok(state);
        }
        let stale = state.status.needs_monitor()
            || state.monitor.is_some()
            || rootfs::is_mounted(&paths.rootfs())
            || paths.lc_root.join(id).exists();
        if !stale {
            return Ok(state);
        }
        let stored = self.load_stored(id)?;
        cleanup::cleanup_stale(&paths, id, &stored.cgroup_parent, state)
    }

    pub(super) fn reconcile(&self, id: &str) -> Result<ContainerState> {
        let paths = self.layout.container(id);
        // State files are replaced by rename, so a read without the lock is never torn; with the
        // monitor alive and settled there is nothing to clean up or wait for, and the lock (a
        // listing took 50 of them) can be skipped.
        if let Ok(state) = ContainerState::load(&paths.state())
            && cleanup::monitor_alive(&state, &paths)
            && !is_starting(&state)
        {
            return Ok(state);
        }
        let _l = self.lock_container(id)?;
        self.reconcile_locked(id).map_err(|e| self.vanished(id, e))
    }

    /// The container's flock; [`ContainerError::NotFound`] when another process removed it.
    fn lock_container(&self, id: &str) -> Result<Flock<fs::File>> {
        lock(&self.layout.container(id).lock()).map_err(|e| self.vanished(id, e))
    }

    /// `e`, or [`ContainerError::NotFound`] if the container's directory is gone: a container
    /// removed by another process between listing and reading it is not an I/O error.
    fn vanished(&self, id: &str, e: ContainerError) -> ContainerError {
        if self.layout.container(id).dir.exists() {
            e
        } else {
            ContainerError::NotFound(id.to_string())
        }
    }

    fn client(&self, id: &str, action: &'static str) -> Result<MonitorClient> {
        let state = self.reconcile(id)?;
        let paths = self.layout.container(id);
        if !state.status.needs_monitor() {
            return Err(ContainerError::InvalidState {
                id: id.to_string(),
                state: state.status.to_string(),
                action,
            });
        }
        MonitorClient::connect(id, &paths.socket()).ok_or_else(|| ContainerError::Monitor {
            id: id.to_string(),
            message: "monitor is not reachable".into(),
        })
    }

    fn spawn_monitor(&self, id: &str) -> Result<()> {
        let (ready_r, ready_w) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
        let mut cmd = Command::new(&self.monitor_exe);
        cmd.arg(MONITOR_ARG)
            .arg(&self.layout.state_root)
            .arg(&self.layout.run_root)
            .arg(id)
            // A monitor lives as long as its container: have the allocator commit memory as it
            // is used rather than a whole arena up front (halves its resident size).
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .stdin(Stdio::null())
            // The ready pipe goes in as the monitor's stdout (see `READY_FD`): with no `pre_exec`
            // hook, std spawns through `posix_spawn` (a vfork), not a fork of this process.
            .stdout(Stdio::from(ready_w))
            .stderr(Stdio::null());
        let spawned = cmd.spawn();
        // Our copy of the write end must be gone, or a dying monitor would never give EOF.
        drop(cmd);
        let mut child = spawned.ctx("spawn monitor", self.monitor_exe.clone())?;
        // The intermediate exits right after forking the real monitor.
        let _ = child.wait();
        let msg = self.read_ready(id, ready_r);
        let msg = msg.trim();
        if msg == "ok" {
            return Ok(());
        }
        let message = match msg.strip_prefix("err ") {
            Some(m) => m.to_string(),
            None => format!(
                "the monitor exited during startup (see {})",
                self.layout.container(id).monitor_log().display()
            ),
        };
        Err(ContainerError::StartFailed {
            id: id.to_string(),
            message,
        })
    }

    /// The monitor's one-line startup report (empty if it died without one). A monitor killed
    /// mid-startup can leave its container init, not yet exec'd, holding a copy of the pipe, so
    /// EOF may never come: while waiting, a monitor found dead in the state file ends the wait.
    fn read_ready(&self, id: &str, ready: OwnedFd) -> String {
        let state = self.layout.container(id).state();
        let monitor_died = || {
            ContainerState::load(&state)
                .ok()
                .and_then(|s| s.monitor)
                .is_some_and(|m| !m.is_alive())
        };
        let mut f = fs::File::from(ready);
        let mut msg = Vec::new();
        let mut buf = [0u8; 1024];
        while !msg.ends_with(b"\n") {
            let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(0) if monitor_died() => break,
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Err(_) => break,
                Ok(_) => match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => msg.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                },
            }
        }
        String::from_utf8_lossy(&msg).into_owned()
    }

    /// A container's anonymous volumes by target path (mounts and image-declared volumes).
    pub fn anonymous_volumes_by_target(&self, key: &str) -> Result<BTreeMap<String, String>> {
        let id = self.resolve(key)?;
        let stored = self.load_stored(&id)?;
        let mut out: BTreeMap<String, String> = stored
            .anonymous_volumes
            .iter()
            .filter_map(|(i, v)| {
                let target = stored.spec.mounts.get(*i)?.target.trim_end_matches('/');
                Some((target.to_string(), v.clone()))
            })
            .collect();
        out.extend(stored.image_volumes.iter().cloned());
        Ok(out)
    }

    /// Lists volume names.
    pub fn list_volumes(&self) -> Result<Vec<String>> {
        volumes::list_volumes(&self.layout)
    }

    /// Removes a named volume.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        volumes::remove_volume(&self.layout, name)
    }

    /// Cleans up every container whose monitor is gone (call at startup, e.g. after a reboot).
    pub fn reconcile_all(&self) -> Result<()> {
        self.sweep_partial_dirs();
        for id in self.ids()? {
            match self.reconcile(&id) {
                // Removed by another command since the listing.
                Ok(_) | Err(ContainerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes what an interrupted `create` (`.new-<pid>-<id>`) or `remove` (`.rm-<pid>-<id>`,
    /// also of a volume) left behind, once the process that made it is gone.
    fn sweep_partial_dirs(&self) {
        volumes::sweep_removed(&self.layout);
        let Ok(rd) = fs::read_dir(self.layout.containers_dir()) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let tag = name.strip_prefix(".rm-").or(name.strip_prefix(".new-"));
            if tag.is_some_and(super::state::writer_gone) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Runtime for ContainerRuntime {
    fn create(&self, spec: &ContainerSpec) -> Result<ContainerId> {
        oci::check_ulimits(spec)?;
        oci::effective_caps(spec)?;
        // A profile file is read now: the container keeps the profile it was created with.
        let seccomp = spec.seccomp.resolve()?;
        for d in &spec.lower_dirs {
            if !d.is_dir() {
                return Err(ContainerError::InvalidSpec(format!(
                    "lower dir {} is not a directory",
                    d.display()
                )));
            }
        }
        for m in &spec.mounts {
            if !m.target.starts_with('/') {
                return Err(ContainerError::InvalidSpec(format!(
                    "mount target {:?} must be absolute",
                    m.target
                )));
            }
            match &m.kind {
                MountKind::Volume { name, .. } => volumes::validate_name(name)?,
                MountKind::Bind {
                    source,
                    create_host_path,
                    ..
                } => {
                    if !source.is_absolute() {
                        return Err(ContainerError::InvalidSpec(format!(
                            "bind source {} must be absolute",
                            source.display()
                        )));
                    }
                    if !create_host_path && !source.exists() {
                        return Err(ContainerError::InvalidSpec(format!(
                            "bind source {} does not exist",
                            source.display()
                        )));
                    }
                }
                _ => {}
            }
        }
        if let Some(sig) = &spec.stop_signal {
            oci::parse_signal(sig)?;
        }
        let _global = lock(&self.layout.state_root.join("lock"))?;
        let id = random_hex(32)?;
        let name = if spec.name.is_empty() {
            format!("c-{}", &id[..12])
        } else {
            spec.name.clone()
        };
        let index = NameIndex::new(&self.layout.state_root);
        self.build_name_index(&index)?;
        if self.live_name(&name).is_some() {
            return Err(ContainerError::NameInUse(name));
        }
        if !names::indexable(&name) {
            for other in self.ids()? {
                if let Ok(st) = ContainerState::load(&self.layout.container(&other).state())
                    && st.name == name
                {
                    return Err(ContainerError::NameInUse(name));
                }
            }
        }
        let volume_for = |target: &str| -> Result<String> {
            match spec.inherit_volumes.get(target.trim_end_matches('/')) {
                Some(v) => Ok(v.clone()),
                None => random_hex(32),
            }
        };
        let mut anonymous_volumes = BTreeMap::new();
        for (i, m) in spec.mounts.iter().enumerate() {
            if matches!(m.kind, MountKind::Anonymous { .. }) {
                anonymous_volumes.insert(i, volume_for(&m.target)?);
            }
        }
        let mut image_volumes = Vec::new();
        if let Some(vols) = spec
            .image
            .config()
            .as_ref()
            .and_then(|c| c.volumes().clone())
        {
            for target in vols {
                let t = target.trim_end_matches('/');
                if !spec
                    .mounts
                    .iter()
                    .any(|m| m.target.trim_end_matches('/') == t)
                {
                    image_volumes.push((t.to_string(), volume_for(t)?));
                }
            }
        }
        let mut spec = spec.clone();
        spec.name = name.clone();
        spec.seccomp = seccomp;
        let stored = StoredSpec {
            version: STORED_SPEC_VERSION,
            id: id.clone(),
            spec,
            cgroup_parent: self.cgroup_parent.clone(),
            anonymous_volumes,
            image_volumes,
        };
        let paths = self.layout.container(&id);
        // Build the directory under a temporary name, then rename it into place: a `kill -9`
        // mid-create leaves no half-made container, only a `.new-*` dir swept later.
        let tmp = self
            .layout
            .containers_dir()
            .join(format!(".new-{}-{id}", std::process::id()));
        fs::create_dir_all(&tmp).ctx("create container dir", &tmp)?;
        let data =
            serde_json::to_vec_pretty(&stored).map_err(|e| ContainerError::CorruptState {
                path: paths.spec(),
                reason: e.to_string(),
            })?;
        ContainerState::new_created(&id, &name).save_synced(&tmp.join("state.json"))?;
        super::state::write_synced(&tmp.join("spec.json"), &data)?;
        // Claimed first: a crash before the rename leaves a link to nothing, which reads as free.
        index.claim(&name, &id).ctx(
            "claim the container name",
            self.layout.state_root.join("names"),
        )?;
        fs::rename(&tmp, &paths.dir).ctx("rename container dir into place", &paths.dir)?;
        events::record(&self.layout.state_root, &id, &stored.spec, "create", &[]);
        Ok(id)
    }

    fn start(&self, key: &str) -> Result<()> {
        // First, so the kernel's grace period overlaps everything up to the cgroup attach.
        let _warm = self.warmer.hold();
        let id = self.resolve(key)?;
        let _l = self.lock_container(&id)?;
        let state = self.reconcile_locked(&id)?;
        match state.status {
            Status::Running | Status::Restarting => return Ok(()),
            Status::Paused => {
                return Err(ContainerError::InvalidState {
                    id,
                    state: state.status.to_string(),
                    action: "start (unpause it)",
                });
            }
            Status::Created | Status::Exited => {}
        }
        self.spawn_monitor(&id)
    }

    fn stop(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        let id = self.resolve(key)?;
        let state = self.reconcile(&id)?;
        if !state.status.needs_monitor() {
            return Ok(());
        }
        let paths = self.layout.container(&id);
        if let Some(c) = MonitorClient::connect(&id, &paths.socket()) {
            // The answer comes when the container has exited; EOF means the monitor is gone.
            let _ = c.call(
                &Request::Stop {
                    timeout_ms: timeout.map(|t| t.as_millis() as u64),
                },
                None,
            );
        }
        let state = self.reconcile(&id)?;
        if !state.status.needs_monitor() {
            let spec = self.load_stored(&id)?.spec;
            events::record(&self.layout.state_root, &id, &spec, "stop", &[]);
        }
        Ok(())
    }

    fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let id = self.resolve(key)?;
        let sig = oci::parse_signal(signal)?;
        self.client(&id, "kill")?
            .call(
                &Request::Kill { signal: sig as i32 },
                Some(Duration::from_secs(10)),
            )
            .map(|_| ())
    }

    fn pause(&self, key: &str) -> Result<()> {
        let id = self.resolve(key)?;
        self.client(&id, "pause")?
            .call(&Request::Pause, Some(Duration::from_secs(10)))
            .map(|_| ())
    }

    fn unpause(&self, key: &str) -> Result<()> {
        let id = self.resolve(key)?;
        self.client(&id, "unpause")?
            .call(&Request::Unpause, Some(Duration::from_secs(10)))
            .map(|_| ())
    }

    fn remove(&self, key: &str, opts: RemoveOptions) -> Result<()> {
        let id = self.resolve(key)?;
        let paths = self.layout.container(&id);
        let state = self.reconcile(&id)?;
        if state.status.needs_monitor() {
            if !opts.force {
                return Err(ContainerError::InvalidState {
                    id,
                    state: state.status.to_string(),
                    action: "remove (stop it or force)",
                });
            }
            self.stop(&id, Some(Duration::ZERO))?;
        }
        let container_lock = self.lock_container(&id)?;
        let state = self.reconcile_locked(&id)?;
        if state.status.needs_monitor() {
            return Err(ContainerError::InvalidState {
                id,
                state: state.status.to_string(),
                action: "remove",
            });
        }
        let stored = self.load_stored(&id)?;
        rootfs::unmount_rootfs(&paths)?;
        cleanup::kill_and_remove_cgroups(&stored.cgroup_parent, &id, None);
        let _ = fs::remove_dir_all(paths.lc_root.join(&id));
        let _ = fs::remove_dir_all(&paths.run_dir);
        // Rename first so a `kill -9` mid-removal leaves no half-removed container.
        let doomed = self
            .layout
            .containers_dir()
            .join(format!(".rm-{}-{id}", std::process::id()));
        fs::rename(&paths.dir, &doomed).ctx("rename container dir for removal", &paths.dir)?;
        drop(container_lock);
        {
            // Under the global lock, so a create of the same name cannot slip in between.
            let _global = lock(&self.layout.state_root.join("lock"))?;
            let names = NameIndex::new(&self.layout.state_root);
            names.release(&stored.spec.name, &id).ctx(
                "release the container name",
                self.layout.state_root.join("names"),
            )?;
        }
        fs::remove_dir_all(&doomed).ctx("remove container dir", &doomed)?;
        events::record(&self.layout.state_root, &id, &stored.spec, "destroy", &[]);
        if opts.volumes {
            let anon = stored
                .anonymous_volumes
                .values()
                .chain(stored.image_volumes.iter().map(|(_, n)| n));
            for name in anon {
                let _ = volumes::remove_volume(&self.layout, name);
            }
        }
        Ok(())
    }

    fn inspect(&self, key: &str) -> Result<ContainerInfo> {
        let id = self.resolve(key)?;
        let state = self.reconcile(&id)?;
        let stored = self.load_stored(&id)?;
        let anonymous_volumes = stored
            .anonymous_volumes
            .values()
            .cloned()
            .chain(stored.image_volumes.iter().map(|(_, n)| n.clone()))
            .collect();
        Ok(ContainerInfo {
            state,
            spec: stored.spec,
            anonymous_volumes,
        })
    }

    fn list(&self) -> Result<Vec<ContainerInfo>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.inspect(&id) {
                Ok(i) => out.push(i),
                Err(ContainerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn exec(&self, key: &str, spec: &ExecSpec, io: ExecIo) -> Result<i32> {
        let id = self.resolve(key)?;
        self.client(&id, "exec")?
            .exec(spec, [io.stdin, io.stdout, io.stderr])
    }

    fn exec_output(&self, key: &str, spec: &ExecSpec) -> Result<ExecOutput> {
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
        let read_all = |fd: OwnedFd| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = fs::File::from(fd).read_to_end(&mut v);
                v
            })
        };
        let t_out = read_all(out_r);
        let t_err = read_all(err_r);
        let code = self.exec(
            key,
            spec,
            ExecIo {
                stdin: None,
                stdout: Some(out_w),
                stderr: Some(err_w),
            },
        );
        let stdout = t_out.join().unwrap_or_default();
        let stderr = t_err.join().unwrap_or_default();
        Ok(ExecOutput {
            exit_code: code?,
            stdout,
            stderr,
        })
    }

    fn logs(&self, key: &str, opts: &LogOptions) -> Result<LogIter> {
        let id = self.resolve(key)?;
        let this = self.clone();
        let id2 = id.clone();
        let is_done = Box::new(move || match this.reconcile(&id2) {
            Ok(st) => !st.status.needs_monitor(),
            Err(_) => true,
        });
        let reader = LogReader::open(self.layout.container(&id).log(), opts, is_done)?;
        Ok(Box::new(reader))
    }

    fn wait(&self, key: &str) -> Result<i32> {
        let id = self.resolve(key)?;
        loop {
            let state = self.reconcile(&id)?;
            if !state.status.needs_monitor() {
                return Ok(state.exit_code.unwrap_or(0));
            }
            let paths = self.layout.container(&id);
            match MonitorClient::connect(&id, &paths.socket()) {
                Some(c) => {
                    if let Ok(Response::Exited { exit_code }) = c.call(&Request::Wait, None) {
                        // The monitor answers just before it exits; let it finish writing.
                        let _ = self.reconcile(&id);
                        return Ok(exit_code);
                    }
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
