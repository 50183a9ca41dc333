//! The monitor's single-threaded event loop: it owns the container (libcontainer `build()` must
//! run while the process is single-threaded: it forks with a raw `clone3`), the log pipes, the
//! socket, restarts, stop timeouts, healthchecks and exec'd processes.
//!
//! Everything is multiplexed with `poll(2)` over a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP),
//! the listening socket, the container's stdout/stderr pipes and the running probe's output.
//!
//! # Healthcheck probes
//!
//! Probes run at docker's schedule (`start_interval` during `start_period`, else `interval`),
//! and failures count towards `retries` exactly as in docker. In addition, while the
//! container's health is `starting`, rcompose runs extra probes 100 ms, 200 ms, 400 ms after
//! start and then every 500 ms (never more often than the healthcheck's own schedule would if
//! that is shorter); an extra probe that passes makes the container `healthy` at once; an extra
//! probe that fails is not counted and not logged. So a dependent starts as soon as its
//! dependency is ready, while `unhealthy` happens at docker's times.
//!
//! Only one probe runs at a time; an extra probe still running when a regular one is due is
//! killed, so it never delays docker's schedule. `Healthcheck::fast_start = false` turns the
//! extra probes off. The timetable is [`super::health::ProbeSchedule`].

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use chrono::Utc;
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};

use super::health::{ProbeKind, ProbeSchedule};
use super::init::RcomposeExecutor;
use super::logfile::{LineBuffer, LogWriter};
use super::protocol::{Request, Response, recv_request, send_response};
use crate::runtime::container::cleanup;
use crate::runtime::container::error::{ContainerError, IoContext, Result};
use crate::runtime::container::events;
use crate::runtime::container::inroot::{self, MountPoint};
use crate::runtime::container::oci::{self, OciInputs};
use crate::runtime::container::paths::{ContainerPaths, Layout};
use crate::runtime::container::rootfs;
use crate::runtime::container::spec::{
    ContainerSpec, ExecSpec, HealthTest, MountKind, RestartPolicy, StoredSpec,
};
use crate::runtime::container::state::{
    ContainerState, HealthState, HealthStatus, ProbeResult, ProcId, Status,
};
use crate::runtime::container::user::{self, ResolvedUser};
use crate::runtime::container::volumes;

const MAX_PROBE_OUTPUT: usize = 4096;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

struct Pipe {
    fd: OwnedFd,
    lines: LineBuffer,
    stream: &'static str,
}

struct Probe {
    kind: ProbeKind,
    pid: Pid,
    out: Option<OwnedFd>,
    buf: Vec<u8>,
    start: chrono::DateTime<Utc>,
    deadline: Instant,
    timed_out: bool,
}

struct Exec {
    conn: UnixStream,
}

/// One monitor = one container.
pub struct Monitor {
    id: String,
    layout: Layout,
    paths: ContainerPaths,
    stored: StoredSpec,
    state: ContainerState,
    user: ResolvedUser,
    container: Option<Container>,
    init_pid: Option<Pid>,
    pipes: Vec<Pipe>,
    log: LogWriter,
    listener: UnixListener,
    sigfd: SignalFd,
    waiters: Vec<UnixStream>,
    execs: HashMap<i32, Exec>,
    probe: Option<Probe>,
    /// The probe timetable of the current run (`None`: no healthcheck or not running).
    probes: Option<ProbeSchedule>,
    stop_deadline: Option<Instant>,
    restart_at: Option<Instant>,
    run_started: Instant,
    backoff: Duration,
    /// Log records dropped since the log last took one (a full disk).
    log_dropped: u64,
    done: bool,
    /// Released after the waiters are answered (see [`rootfs::DetachedRootfs`]).
    detached_rootfs: Option<rootfs::DetachedRootfs>,
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

/// Threads of this process (the monitor must stay single-threaded: libcontainer forks with a
/// raw `clone3`, which does not run glibc's atfork handlers).
fn thread_count() -> usize {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(1)
}

fn lc_err(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Libcontainer(e.to_string())
}

impl Monitor {
    /// Sets up the monitor: signals, socket, state, rootfs, volumes and the OCI bundle.
    pub fn new(layout: Layout, id: &str) -> Result<Self> {
        let paths = layout.container(id);
        let stored = StoredSpec::load(&paths.spec(), id)?;
        let mut state = ContainerState::load(&paths.state())?;
        state.monitor = ProcId::of(std::process::id() as i32);
        state.boot_id = crate::runtime::container::state::boot_id();
        state.error = None;
        state.stopped_by_user = false;
        // A (re)start by the user begins a new restart-policy budget, as in docker.
        state.restart_count = 0;
        state.save(&paths.state())?;

        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ] {
            mask.add(s);
        }
        mask.thread_block()
            .map_err(|e| ContainerError::sys("block signals", e))?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| ContainerError::sys("signalfd", e))?;

        fs::create_dir_all(&paths.run_dir).ctx("create run dir", &paths.run_dir)?;
        let sock = paths.socket();
        let _ = fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).ctx("bind monitor socket", &sock)?;
        listener
            .set_nonblocking(true)
            .ctx("set socket non-blocking", &sock)?;

        let log = LogWriter::open(&paths.log(), stored.spec.log.clone())
            .ctx("open container log", paths.log())?;

        let m = Monitor {
            id: id.to_string(),
            layout,
            paths,
            stored,
            state,
            user: ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: Vec::new(),
                home: "/".into(),
            },
            container: None,
            init_pid: None,
            pipes: Vec::new(),
            log,
            listener,
            sigfd,
            waiters: Vec::new(),
            execs: HashMap::new(),
            probe: None,
            probes: None,
            stop_deadline: None,
            restart_at: None,
            run_started: Instant::now(),
            backoff: BACKOFF_START,
            log_dropped: 0,
            done: false,
            detached_rootfs: None,
        };
        Ok(m)
    }

    fn spec(&self) -> &ContainerSpec {
        &self.stored.spec
    }

    /// Rootfs, user, volumes, /etc files and `b/config.json`.
    pub fn prepare(&mut self) -> Result<()> {
        rootfs::mount_rootfs(&self.paths, &self.stored.spec.lower_dirs)?;
        let root = self.paths.rootfs();
        // The image's USER applies unless the spec says otherwise (docker's rule).
        let image_user = self
            .spec()
            .image
            .config()
            .as_ref()
            .and_then(|c| c.user().clone());
        let name = self
            .spec()
            .user
            .clone()
            .or(image_user.filter(|u| !u.is_empty()));
        self.user = user::resolve(&root, name.as_deref(), &self.spec().group_add)?;
        // dockerd creates a missing working directory (root-owned, 0755); inside the root,
        // whatever symlinks the image has on the way.
        let cwd = oci::working_dir(self.spec())?;
        inroot::ensure(&root, &cwd, MountPoint::Dir).ctx("create the working directory", &cwd)?;
        let mut sources = Vec::new();
        for (i, m) in self.spec().mounts.iter().enumerate() {
            let src = match &m.kind {
                MountKind::Volume { name, nocopy } => Some(self.volume(name, *nocopy, &m.target)?),
                MountKind::Anonymous { nocopy } => {
                    let name = self
                        .stored
                        .anonymous_volumes
                        .get(&i)
                        .cloned()
                        .ok_or_else(|| {
                            ContainerError::InvalidSpec(format!("no volume for {:?}", m.target))
                        })?;
                    Some(self.volume(&name, *nocopy, &m.target)?)
                }
                MountKind::Bind {
                    source,
                    create_host_path,
                    ..
                } => {
                    if !source.exists() {
                        if *create_host_path {
                            fs::create_dir_all(source).ctx("create bind source", source)?;
                        } else {
                            return Err(ContainerError::InvalidSpec(format!(
                                "bind source {} does not exist",
                                source.display()
                            )));
                        }
                    }
                    None
                }
                MountKind::Tmpfs { .. } => None,
            };
            sources.push(src);
        }
        let mut image_volumes = Vec::new();
        for (target, name) in self.stored.image_volumes.clone() {
            let src = self.volume(&name, false, &target)?;
            image_volumes.push((target, src));
        }
        let etc = self.paths.etc();
        fs::create_dir_all(&etc).ctx("create etc dir", &etc)?;
        let hostname = self
            .spec()
            .hostname
            .clone()
            .unwrap_or_else(|| oci::default_hostname(&self.id));
        let mut etc_files = Vec::new();
        let private_net = !matches!(
            self.spec().network,
            crate::runtime::container::spec::NetworkMode::Host
        );
        if private_net {
            fs::write(etc.join("hostname"), format!("{hostname}\n"))
                .ctx("write hostname", etc.join("hostname"))?;
            etc_files.push(("/etc/hostname".to_string(), etc.join("hostname")));
        }
        // The engine's /etc/hosts (addresses, extra_hosts) wins; with host networking and none
        // given, the image's own file stays.
        let hosts = match &self.spec().etc_hosts {
            Some(h) => Some(h.clone()),
            None => private_net.then(|| {
                format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
                )
            }),
        };
        if let Some(hosts) = hosts {
            fs::write(etc.join("hosts"), hosts).ctx("write hosts", etc.join("hosts"))?;
            etc_files.push(("/etc/hosts".to_string(), etc.join("hosts")));
        }
        let resolv = match &self.spec().resolv_conf {
            Some(r) => r.clone().into_bytes(),
            None => fs::read("/etc/resolv.conf").unwrap_or_default(),
        };
        fs::write(etc.join("resolv.conf"), resolv)
            .ctx("write resolv.conf", etc.join("resolv.conf"))?;
        etc_files.push(("/etc/resolv.conf".to_string(), etc.join("resolv.conf")));
        self.make_mount_points(&root, &etc_files, &image_volumes)?;

        let spec = oci::build_spec(
            self.spec(),
            &OciInputs {
                id: &self.id,
                rootfs: &root,
                user: &self.user,
                volume_sources: &sources,
                etc_files: &etc_files,
                cgroup_parent: &self.stored.cgroup_parent,
                image_volumes: &image_volumes,
            },
        )?;
        let bundle = self.paths.bundle();
        fs::create_dir_all(&bundle).ctx("create bundle", &bundle)?;
        spec.save(bundle.join("config.json"))
            .map_err(|e| ContainerError::Oci(e.to_string()))?;
        Ok(())
    }

    /// Every mount destination made inside the rootfs, symlinks followed inside it (see
    /// [`inroot::ensure`]), so an image's dangling or escaping symlinks neither fail the start
    /// nor lead a mount out of the rootfs.
    fn make_mount_points(
        &self,
        root: &std::path::Path,
        etc_files: &[(String, std::path::PathBuf)],
        image_volumes: &[(String, std::path::PathBuf)],
    ) -> Result<()> {
        let mounts = &self.spec().mounts;
        let user = mounts.iter().map(|m| {
            let kind = match &m.kind {
                MountKind::Bind { source, .. } if !source.is_dir() => MountPoint::File,
                _ => MountPoint::Dir,
            };
            (m.target.as_str(), kind)
        });
        // An /etc file the user mounts over is not mounted (see `oci::build_spec`).
        let etc = etc_files
            .iter()
            .filter(|(dest, _)| !mounts.iter().any(|m| &m.target == dest))
            .map(|(dest, _)| (dest.as_str(), MountPoint::File));
        let image = image_volumes
            .iter()
            .map(|(target, _)| (target.as_str(), MountPoint::Dir));
        for (target, kind) in user.chain(etc).chain(image) {
            inroot::ensure(root, target, kind).ctx("create the mount point", target)?;
        }
        Ok(())
    }

    /// Host path of a volume; a new one is populated from the image content at `target`.
    fn volume(&self, name: &str, nocopy: bool, target: &str) -> Result<std::path::PathBuf> {
        let created = volumes::ensure_volume(&self.layout, name)?;
        let data = self.layout.volume_data(name);
        if created && !nocopy {
            volumes::populate(&self.paths.rootfs(), target, &data)?;
        }
        Ok(data)
    }

    fn save(&mut self) {
        if let Err(e) = self.state.save(&self.paths.state()) {
            diag!("monitor: saving state: {e}");
        }
    }

    /// Creates and starts the container (one run). Must be called single-threaded.
    pub fn start_container(&mut self) -> Result<()> {
        debug_assert_eq!(
            thread_count(),
            1,
            "libcontainer build() needs a single thread"
        );
        let lc_dir = self.paths.lc_root.join(&self.id);
        if lc_dir.exists() {
            if let Ok(mut old) = Container::load(lc_dir.clone()) {
                let _ = old.delete(true);
            }
            let _ = fs::remove_dir_all(&lc_dir);
        }
        fs::create_dir_all(&self.paths.lc_root)
            .ctx("create libcontainer root", &self.paths.lc_root)?;
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
        let mut c = ContainerBuilder::new(self.id.clone(), SyscallType::Linux)
            .with_root_path(self.paths.lc_root.clone())
            .map_err(lc_err)?
            .with_executor(RcomposeExecutor {
                init: self.spec().init,
                controlling_tty: false,
            })
            .with_stdout(out_w)
            .with_stderr(err_w)
            .as_init(self.paths.bundle())
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(lc_err)?;
        if let Err(e) = c.start() {
            let _ = c.delete(true);
            return Err(lc_err(e));
        }
        let pid = c
            .pid()
            .map(|p| Pid::from_raw(p.as_raw()))
            .ok_or_else(|| lc_err("container has no pid after start"))?;
        for fd in [&out_r, &err_r] {
            set_nonblocking(fd.as_fd())
                .map_err(|e| ContainerError::sys("set pipe non-blocking", e))?;
        }
        self.pipes = vec![
            Pipe {
                fd: out_r,
                lines: LineBuffer::default(),
                stream: "stdout",
            },
            Pipe {
                fd: err_r,
                lines: LineBuffer::default(),
                stream: "stderr",
            },
        ];
        self.container = Some(c);
        self.init_pid = Some(pid);
        self.run_started = Instant::now();
        self.state.status = Status::Running;
        self.state.pid = Some(pid.as_raw());
        self.state.init = ProcId::of(pid.as_raw());
        self.state.started_at = Some(Utc::now());
        self.state.exit_code = None;
        self.state.error = None;
        self.state.health = None;
        self.probes = None;
        if let Some(hc) = &self.stored.spec.healthcheck
            && hc.test != HealthTest::None
        {
            self.state.health = Some(HealthState {
                status: HealthStatus::Starting,
                failing_streak: 0,
                log: Vec::new(),
            });
            self.probes = Some(ProbeSchedule::new(hc, self.run_started));
        }
        self.save();
        self.event("start", &[]);
        Ok(())
    }

    /// Appends a container event (see [`events`]) for this container.
    fn event(&self, action: &str, extra: &[(&str, String)]) {
        events::record(
            &self.layout.state_root,
            &self.id,
            self.spec(),
            action,
            extra,
        );
    }

    /// The event loop; returns when the container has exited for good.
    pub fn run(&mut self) {
        while !self.done {
            let now = Instant::now();
            let deadline = [self.stop_deadline, self.restart_at, self.probe_timer(now)]
                .into_iter()
                .flatten()
                .min();
            let timeout = match deadline {
                Some(d) => {
                    let ms = d.saturating_duration_since(now).as_millis().min(60_000) as u16;
                    PollTimeout::from(ms.max(1))
                }
                None => PollTimeout::from(60_000u16),
            };
            let (sig_ready, sock_ready, pipe_ready, probe_ready) = {
                let mut fds = vec![
                    PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                ];
                for p in &self.pipes {
                    fds.push(PollFd::new(p.fd.as_fd(), PollFlags::POLLIN));
                }
                let probe_fd = self.probe.as_ref().and_then(|p| p.out.as_ref());
                if let Some(fd) = probe_fd {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
                if let Err(e) = poll(&mut fds, timeout)
                    && e != nix::Error::EINTR
                {
                    diag!("monitor: poll: {e}");
                }
                let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                let n = self.pipes.len();
                let pipe_ready: Vec<bool> = fds[2..2 + n].iter().map(ready).collect();
                let probe_ready = probe_fd.is_some() && ready(&fds[2 + n]);
                (ready(&fds[0]), ready(&fds[1]), pipe_ready, probe_ready)
            };
            for (i, r) in pipe_ready.iter().enumerate().rev() {
                if *r {
                    self.read_pipe(i);
                }
            }
            if probe_ready {
                self.read_probe();
            }
            if sig_ready {
                self.handle_signals();
            }
            if sock_ready {
                self.accept();
            }
            self.timers();
        }
        // Exec'd processes died with the container's pid namespace.
        self.reap();
        for (_, ex) in self.execs.drain() {
            let _ = send_response(&ex.conn, &Response::ExecExited { exit_code: 137 });
        }
        for w in self.waiters.drain(..) {
            let _ = send_response(
                &w,
                &Response::Exited {
                    exit_code: self.state.exit_code.unwrap_or(-1),
                },
            );
        }
        let _ = fs::remove_file(self.paths.socket());
        let _ = fs::remove_dir_all(&self.paths.run_dir);
        drop(self.detached_rootfs.take());
    }

    /// Reads one pipe; on EOF closes it. Returns false at EOF.
    fn read_pipe(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 65536];
        let p = &mut self.pipes[i];
        match nix::unistd::read(&p.fd, &mut buf) {
            Ok(0) => {
                if let Some(rest) = p.lines.flush() {
                    let _ = self.log.write(p.stream, &rest);
                }
                self.pipes.remove(i);
                false
            }
            Ok(n) => {
                for line in p.lines.push(&buf[..n]) {
                    // The container keeps running when its log cannot be written (a full disk,
                    // like docker's json-file driver): the record is dropped, reported once.
                    match self.log.write(p.stream, &line) {
                        Ok(()) if self.log_dropped > 0 => {
                            diag!(
                                "monitor: log writable again; {} records dropped",
                                self.log_dropped
                            );
                            self.log_dropped = 0;
                        }
                        Ok(()) => {}
                        Err(e) => {
                            if self.log_dropped == 0 {
                                diag!("monitor: writing log: {e}; dropping records until it works");
                            }
                            self.log_dropped += 1;
                        }
                    }
                }
                true
            }
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => true,
            Err(e) => {
                diag!("monitor: reading {}: {e}", p.stream);
                self.pipes.remove(i);
                false
            }
        }
    }

    /// Reads the pipes until EOF (the container is gone, so the writers close soon).
    fn drain_pipes(&mut self) {
        let until = Instant::now() + Duration::from_millis(500);
        while !self.pipes.is_empty() && Instant::now() < until {
            {
                let mut fds: Vec<PollFd> = self
                    .pipes
                    .iter()
                    .map(|p| PollFd::new(p.fd.as_fd(), PollFlags::POLLIN))
                    .collect();
                let _ = poll(&mut fds, PollTimeout::from(50u16));
            }
            for i in (0..self.pipes.len()).rev() {
                self.read_pipe(i);
            }
        }
        for p in self.pipes.drain(..) {
            let mut p = p;
            if let Some(rest) = p.lines.flush() {
                let _ = self.log.write(p.stream, &rest);
            }
        }
    }

    fn handle_signals(&mut self) {
        while let Ok(Some(info)) = self.sigfd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => self.reap(),
                Ok(_) => {
                    // The monitor was asked to terminate: stop the container first.
                    self.request_stop(None);
                }
                Err(_) => {}
            }
        }
        // A SIGCHLD may have been coalesced: reap anyway.
        self.reap();
    }

    fn reap(&mut self) {
        loop {
            let st = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => st,
            };
            let (pid, code) = match st {
                WaitStatus::Exited(p, c) => (p, c),
                WaitStatus::Signaled(p, s, _) => (p, 128 + s as i32),
                _ => continue,
            };
            if Some(pid) == self.init_pid {
                self.on_container_exit(code);
            } else if let Some(ex) = self.execs.remove(&pid.as_raw()) {
                let _ = send_response(&ex.conn, &Response::ExecExited { exit_code: code });
            } else if self.probe.as_ref().is_some_and(|p| p.pid == pid) {
                self.finish_probe(code);
            }
        }
    }

    fn on_container_exit(&mut self, code: i32) {
        self.drain_pipes();
        self.init_pid = None;
        self.remove_run_leftovers();
        if let Some(p) = self.probe.take() {
            let _ = kill(p.pid, Signal::SIGKILL);
        }
        self.probes = None;
        self.stop_deadline = None;
        self.state.pid = None;
        self.state.init = None;
        self.state.exit_code = Some(code);
        self.state.finished_at = Some(Utc::now());
        self.event("die", &[("exitCode", code.to_string())]);
        let restart = !self.state.stopped_by_user
            && match self.spec().restart {
                RestartPolicy::No => false,
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure { max_retries } => {
                    code != 0 && max_retries.is_none_or(|n| self.state.restart_count < n)
                }
            };
        if restart {
            if self.run_started.elapsed() >= BACKOFF_RESET_AFTER {
                self.backoff = BACKOFF_START;
            }
            self.restart_at = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            self.state.status = Status::Restarting;
            self.save();
        } else {
            self.finalize();
        }
    }

    /// Removes the exited run's cgroups and libcontainer state dir.
    ///
    /// What libcontainer's `Container::delete` would do for a stopped container, minus its
    /// cgroup manager setup, which parses the mount table and `/proc/self/cgroup` once per
    /// controller (5 ms per container exit on a cgroup v1 host). The init has been reaped, so
    /// the kernel has already killed the rest of its pid namespace.
    fn remove_run_leftovers(&mut self) {
        self.container = None;
        cleanup::kill_and_remove_cgroups(&self.stored.cgroup_parent, &self.id, None);
        let lc_dir = self.paths.lc_root.join(&self.id);
        if let Err(e) = fs::remove_dir_all(&lc_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            diag!("monitor: removing {}: {e}", lc_dir.display());
        }
    }

    /// The container will not run again under this monitor: unmount, record, exit the loop.
    fn finalize(&mut self) {
        self.restart_at = None;
        match rootfs::detach_rootfs(&self.paths) {
            Ok(d) => self.detached_rootfs = Some(d),
            Err(e) => diag!("monitor: {e}"),
        }
        self.state.status = Status::Exited;
        self.state.monitor = None;
        self.save();
        self.done = true;
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.stop_deadline.is_some_and(|d| now >= d) {
            self.stop_deadline = None;
            if let Some(pid) = self.init_pid {
                self.thaw();
                self.event("kill", &[("signal", (Signal::SIGKILL as i32).to_string())]);
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        if self.restart_at.is_some_and(|d| now >= d) {
            self.restart_at = None;
            self.state.restart_count += 1;
            if let Err(e) = self.start_container() {
                diag!("monitor: restart failed: {e}");
                self.state.error = Some(e.to_string());
                self.finalize();
            }
        }
        self.probe_timers(now);
    }

    fn health_starting(&self) -> bool {
        self.state
            .health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Starting)
    }

    /// When the probe machinery next needs the loop: the running probe's timeout (or the
    /// regular probe that preempts an extra one), else the next probe.
    fn probe_timer(&self, now: Instant) -> Option<Instant> {
        let schedule = self.probes.as_ref()?;
        match &self.probe {
            Some(p) if p.timed_out => None,
            Some(p) => Some(match (p.kind, schedule.regular_due()) {
                (ProbeKind::Extra, Some(r)) => p.deadline.min(r),
                _ => p.deadline,
            }),
            None => schedule.next(now, self.health_starting()).map(|(at, _)| at),
        }
    }

    fn probe_timers(&mut self, now: Instant) {
        let regular_due = self.probes.as_ref().and_then(|s| s.regular_due());
        if let Some(p) = &mut self.probe
            && !p.timed_out
        {
            let preempted = p.kind == ProbeKind::Extra && regular_due.is_some_and(|r| now >= r);
            if now >= p.deadline || preempted {
                p.timed_out = true;
                let _ = kill(p.pid, Signal::SIGKILL);
            }
        }
        if self.probe.is_some() {
            return;
        }
        let starting = self.health_starting();
        let Some(schedule) = &mut self.probes else {
            return;
        };
        let Some((at, kind)) = schedule.next(now, starting) else {
            return;
        };
        if now < at {
            return;
        }
        schedule.begin(kind, now);
        if self.state.status == Status::Running {
            self.start_probe(kind);
        } else {
            // Paused: this probe is skipped, the schedule goes on.
            schedule.end(kind, now, starting);
        }
    }

    fn thaw(&mut self) {
        if self.state.status == Status::Paused
            && let Some(c) = &mut self.container
        {
            if let Err(e) = c.resume() {
                diag!("monitor: resume: {e}");
            }
            self.state.status = Status::Running;
            self.save();
        }
    }

    fn request_stop(&mut self, timeout: Option<Duration>) {
        self.state.stopped_by_user = true;
        match self.state.status {
            Status::Running | Status::Paused => {
                let sig = oci::parse_signal(&self.spec().effective_stop_signal())
                    .unwrap_or(Signal::SIGTERM);
                if let Some(pid) = self.init_pid {
                    self.event("kill", &[("signal", (sig as i32).to_string())]);
                    let _ = kill(pid, sig);
                }
                self.thaw();
                let grace = timeout.unwrap_or_else(|| self.spec().effective_stop_grace());
                let d = Instant::now() + grace;
                self.stop_deadline = Some(self.stop_deadline.map_or(d, |old| old.min(d)));
                self.save();
            }
            Status::Restarting => self.finalize(),
            Status::Created | Status::Exited => {
                if self.init_pid.is_none() {
                    self.finalize();
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let conn = match self.listener.accept() {
                Ok((c, _)) => c,
                Err(_) => return,
            };
            let _ = conn.set_nonblocking(false);
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
            match recv_request(&conn) {
                Ok((req, fds)) => self.handle(conn, req, fds),
                Err(e) => {
                    let _ = send_response(
                        &conn,
                        &Response::Error {
                            message: e.to_string(),
                        },
                    );
                }
            }
        }
    }

    fn handle(&mut self, conn: UnixStream, req: Request, fds: Vec<OwnedFd>) {
        let err = |conn: &UnixStream, message: String| {
            let _ = send_response(conn, &Response::Error { message });
        };
        match req {
            Request::State => {
                let _ = send_response(
                    &conn,
                    &Response::State {
                        state: Box::new(self.state.clone()),
                    },
                );
            }
            Request::Wait => self.waiters.push(conn),
            Request::Stop { timeout_ms } => {
                self.waiters.push(conn);
                self.request_stop(timeout_ms.map(Duration::from_millis));
            }
            Request::Kill { signal } => {
                let Ok(sig) = Signal::try_from(signal) else {
                    return err(&conn, format!("invalid signal {signal}"));
                };
                match (self.state.status, self.init_pid) {
                    (Status::Running | Status::Paused, Some(pid)) => {
                        if sig == Signal::SIGKILL {
                            self.state.stopped_by_user = true;
                            self.save();
                        }
                        self.event("kill", &[("signal", signal.to_string())]);
                        let r = kill(pid, sig);
                        if sig == Signal::SIGKILL {
                            self.thaw();
                        }
                        match r {
                            Ok(()) => {
                                let _ = send_response(&conn, &Response::Ok);
                            }
                            Err(e) => err(&conn, format!("kill: {e}")),
                        }
                    }
                    (st, _) => err(&conn, format!("container {} is {st}", self.id)),
                }
            }
            Request::Pause => {
                if self.state.status != Status::Running {
                    return err(
                        &conn,
                        format!("container {} is {}", self.id, self.state.status),
                    );
                }
                match self.container.as_mut().map(|c| c.pause()) {
                    Some(Ok(())) => {
                        self.state.status = Status::Paused;
                        self.save();
                        self.event("pause", &[]);
                        let _ = send_response(&conn, &Response::Ok);
                    }
                    Some(Err(e)) => err(&conn, format!("pause: {e}")),
                    None => err(&conn, "no container".into()),
                }
            }
            Request::Unpause => {
                if self.state.status != Status::Paused {
                    return err(
                        &conn,
                        format!("container {} is {}", self.id, self.state.status),
                    );
                }
                match self.container.as_mut().map(|c| c.resume()) {
                    Some(Ok(())) => {
                        self.state.status = Status::Running;
                        self.save();
                        self.event("unpause", &[]);
                        let _ = send_response(&conn, &Response::Ok);
                    }
                    Some(Err(e)) => err(&conn, format!("unpause: {e}")),
                    None => err(&conn, "no container".into()),
                }
            }
            Request::Exec {
                spec,
                stdin,
                stdout,
                stderr,
            } => {
                if self.state.status != Status::Running {
                    return err(
                        &conn,
                        format!("container {} is {}", self.id, self.state.status),
                    );
                }
                let mut fds = fds.into_iter();
                let io = [stdin, stdout, stderr].map(|want| if want { fds.next() } else { None });
                match self.spawn_exec(&spec, io) {
                    Ok(pid) => {
                        let _ = send_response(&conn, &Response::ExecStarted { pid: pid.as_raw() });
                        self.execs.insert(pid.as_raw(), Exec { conn });
                    }
                    Err(e) => err(&conn, e.to_string()),
                }
            }
        }
    }

    /// Starts a process in the running container (tenant); it becomes our child.
    fn spawn_exec(&self, spec: &ExecSpec, io: [Option<OwnedFd>; 3]) -> Result<Pid> {
        if spec.args.is_empty() {
            return Err(ContainerError::InvalidSpec("exec: empty command".into()));
        }
        let user = match &spec.user {
            Some(u) => user::resolve(&self.paths.rootfs(), Some(u), &[])?,
            None => self.user.clone(),
        };
        // Missing streams are /dev/null, never the monitor's own stdio (its diagnostics log).
        let null = || -> Result<OwnedFd> {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .ctx("open", "/dev/null")
        };
        let [stdin, stdout, stderr] = io;
        let stdin = match stdin {
            Some(fd) => fd,
            None => null()?,
        };
        let stdout = match stdout {
            Some(fd) => fd,
            None => null()?,
        };
        let stderr = match stderr {
            Some(fd) => fd,
            None => null()?,
        };
        let b = ContainerBuilder::new(self.id.clone(), SyscallType::Linux)
            .with_root_path(self.paths.lc_root.clone())
            .map_err(lc_err)?
            .with_executor(RcomposeExecutor {
                init: false,
                controlling_tty: spec.tty,
            })
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr);
        let env: std::collections::HashMap<String, String> = spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        b.as_tenant()
            .with_container_args(spec.args.clone())
            .with_env(env)
            .with_cwd(spec.working_dir.clone())
            .with_user(Some(user.uid))
            .with_group(Some(user.gid))
            .with_additional_gids(user.additional_gids.clone())
            .with_detach(true)
            .build()
            .map(|p| Pid::from_raw(p.as_raw()))
            .map_err(lc_err)
    }

    fn start_probe(&mut self, kind: ProbeKind) {
        let Some(hc) = self.spec().healthcheck.clone() else {
            return;
        };
        let args = match &hc.test {
            HealthTest::None => return,
            HealthTest::Cmd(a) => a.clone(),
            HealthTest::CmdShell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        };
        let start = Utc::now();
        let spawn = || -> Result<(Pid, OwnedFd)> {
            let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e))?;
            let w2 = w.try_clone().ctx("dup probe pipe", "pipe")?;
            let devnull = fs::File::open("/dev/null").ctx("open", "/dev/null")?;
            let pid = self.spawn_exec(
                &ExecSpec::new(args.clone()),
                [Some(devnull.into()), Some(w), Some(w2)],
            )?;
            set_nonblocking(r.as_fd()).map_err(|e| ContainerError::sys("non-blocking", e))?;
            Ok((pid, r))
        };
        match spawn() {
            Ok((pid, out)) => {
                self.probe = Some(Probe {
                    kind,
                    pid,
                    out: Some(out),
                    buf: Vec::new(),
                    start,
                    deadline: Instant::now() + hc.timeout,
                    timed_out: false,
                });
            }
            Err(e) => {
                self.record_probe(
                    kind,
                    ProbeResult {
                        start,
                        end: Utc::now(),
                        exit_code: -1,
                        output: e.to_string(),
                    },
                );
            }
        }
    }

    fn read_probe(&mut self) {
        let Some(p) = &mut self.probe else { return };
        let Some(fd) = &p.out else { return };
        let mut buf = [0u8; 4096];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => p.out = None,
            Ok(n) => {
                let room = MAX_PROBE_OUTPUT.saturating_sub(p.buf.len());
                p.buf.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
            Err(_) => p.out = None,
        }
    }

    fn finish_probe(&mut self, code: i32) {
        let Some(mut p) = self.probe.take() else {
            return;
        };
        if let Some(fd) = p.out.take() {
            let mut f = fs::File::from(fd);
            let mut rest = Vec::new();
            let _ = f.read_to_end(&mut rest);
            let room = MAX_PROBE_OUTPUT.saturating_sub(p.buf.len());
            p.buf.extend_from_slice(&rest[..rest.len().min(room)]);
        }
        let (exit_code, output) = if p.timed_out {
            let t = self
                .spec()
                .healthcheck
                .as_ref()
                .map(|h| h.timeout)
                .unwrap_or_default();
            (-1, format!("Health check exceeded timeout ({t:?})"))
        } else {
            (code, String::from_utf8_lossy(&p.buf).into_owned())
        };
        self.record_probe(
            p.kind,
            ProbeResult {
                start: p.start,
                end: Utc::now(),
                exit_code,
                output,
            },
        );
    }

    /// Applies a probe result to the health state (see "Healthcheck probes" above).
    fn record_probe(&mut self, kind: ProbeKind, r: ProbeResult) {
        let Some(hc) = self.spec().healthcheck.clone() else {
            return;
        };
        if self.init_pid.is_none() {
            return;
        }
        let now = Instant::now();
        let passed = r.exit_code == 0;
        if kind == ProbeKind::Regular || passed {
            let before = self.state.health.as_ref().map(|h| h.status);
            let in_start = self.run_started.elapsed() < hc.start_period;
            let h = self.state.health.get_or_insert(HealthState {
                status: HealthStatus::Starting,
                failing_streak: 0,
                log: Vec::new(),
            });
            if passed {
                h.failing_streak = 0;
                h.status = HealthStatus::Healthy;
            } else if !(in_start && h.status == HealthStatus::Starting) {
                h.failing_streak += 1;
                if h.failing_streak >= hc.retries.max(1) {
                    h.status = HealthStatus::Unhealthy;
                }
            }
            h.log.push(r);
            if h.log.len() > 5 {
                h.log.remove(0);
            }
            let after = h.status;
            self.save();
            if before != Some(after) && after != HealthStatus::Starting {
                let status = if after == HealthStatus::Healthy {
                    "healthy"
                } else {
                    "unhealthy"
                };
                self.event(&format!("health_status: {status}"), &[]);
            }
        }
        let starting = self.health_starting();
        if let Some(s) = &mut self.probes {
            s.end(kind, now, starting);
        }
    }

    /// Startup failed: clean up what `new`/`start_container` did and record the error.
    pub fn fail_startup(&mut self, e: &ContainerError) {
        self.state.error = Some(e.to_string());
        self.state.exit_code = Some(128);
        let lc_dir = self.paths.lc_root.join(&self.id);
        if lc_dir.exists() {
            if let Ok(mut c) = Container::load(lc_dir.clone()) {
                let _ = c.delete(true);
            }
            let _ = fs::remove_dir_all(&lc_dir);
        }
        cleanup::kill_and_remove_cgroups(&self.stored.cgroup_parent, &self.id, None);
        let _ = rootfs::unmount_rootfs(&self.paths);
        self.state.status = Status::Exited;
        self.state.monitor = None;
        self.save();
        let _ = fs::remove_file(self.paths.socket());
        let _ = fs::remove_dir_all(&self.paths.run_dir);
    }
}
