//! Cleanup without a monitor: after `kill -9` of the monitor or a reboot (run dir wiped), the
//! container's processes are killed, its cgroups removed, its rootfs unmounted, and its state
//! recorded as exited, so the next command sees a consistent state.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::Result;
use super::paths::ContainerPaths;
use super::rootfs;
use super::state::{ContainerState, Status, boot_id};

/// Whether the container's monitor is alive (same boot, same process, socket present).
pub fn monitor_alive(state: &ContainerState, paths: &ContainerPaths) -> bool {
    state.boot_id == boot_id()
        && state.monitor.is_some_and(|m| m.is_alive())
        && paths.socket().exists()
}

/// The cgroup directories `/<parent>/<id>` may have on this host (v1 hierarchies, unified).
pub fn cgroup_dirs(cgroup_parent: &str, id: &str) -> Vec<PathBuf> {
    let rel = format!("{}/{}", cgroup_parent.trim_matches('/'), id);
    let mut out = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        out.push(root.join(&rel));
        return out;
    }
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd.flatten() {
            // Directories only: skips the co-mount symlinks (cpu -> cpu,cpuacct). The entry's
            // own type needs no extra stat.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path().join(&rel));
            }
        }
    }
    out
}

fn pids_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process of the container and removes its cgroup dirs.
pub fn kill_and_remove_cgroups(cgroup_parent: &str, id: &str, init: Option<i32>) {
    let dirs: Vec<PathBuf> = cgroup_dirs(cgroup_parent, id)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    for d in &dirs {
        // A frozen cgroup would keep SIGKILL pending.
        let freezer = d.join("freezer.state");
        if freezer.exists() {
            let _ = fs::write(&freezer, "THAWED");
        }
        let freeze2 = d.join("cgroup.freeze");
        if freeze2.exists() {
            let _ = fs::write(&freeze2, "0");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    // The kernel empties a cgroup within a millisecond or two of the last exit: poll fast first.
    let mut pause = Backoff::new();
    loop {
        let mut pids: Vec<i32> = dirs.iter().flat_map(|d| pids_in(d)).collect();
        if let Some(p) = init
            && super::state::proc_start_time(p).is_some()
            && pids.is_empty()
        {
            pids.push(p);
        }
        pids.sort_unstable();
        pids.dedup();
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        pause.sleep();
    }
    for d in &dirs {
        let mut pause = Backoff::new();
        while Instant::now() < deadline {
            match fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) => pause.sleep(),
            }
        }
    }
}

/// Sleeps 0.5 ms, then twice as long each time, up to 20 ms.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_micros(500))
    }

    fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(20));
    }
}

/// Cleans up a container whose monitor is gone; returns the updated state.
pub fn cleanup_stale(
    paths: &ContainerPaths,
    id: &str,
    cgroup_parent: &str,
    mut state: ContainerState,
) -> Result<ContainerState> {
    let rebooted = state.boot_id != boot_id();
    let init_alive = !rebooted && state.init.is_some_and(|p| p.is_alive());
    // A monitor that lost its socket (run dir wiped under it) must not race with us.
    if !rebooted && let Some(m) = state.monitor.filter(|m| m.is_alive()) {
        let _ = kill(Pid::from_raw(m.pid), Signal::SIGKILL);
    }
    let lc_dir = paths.lc_root.join(id);
    if lc_dir.exists() {
        if let Ok(mut c) = libcontainer::container::Container::load(lc_dir.clone()) {
            let _ = c.delete(true);
        }
        let _ = fs::remove_dir_all(&lc_dir);
    }
    kill_and_remove_cgroups(
        cgroup_parent,
        id,
        if init_alive {
            state.init.map(|p| p.pid)
        } else {
            None
        },
    );
    rootfs::unmount_rootfs(paths)?;
    let _ = fs::remove_file(paths.socket());
    let _ = fs::remove_dir_all(&paths.run_dir);
    if state.status.needs_monitor() || state.monitor.is_some() {
        if state.status.needs_monitor() {
            state.status = Status::Exited;
            state.exit_code = Some(if init_alive {
                137
            } else {
                state.exit_code.unwrap_or(255)
            });
            state.finished_at = Some(Utc::now());
            state.error = Some(if rebooted {
                "the host rebooted (or the run dir was wiped) while the container was running"
                    .into()
            } else {
                "the container's monitor died".into()
            });
        }
        state.pid = None;
        state.init = None;
        state.monitor = None;
        state.health = None;
        state.save(&paths.state())?;
    }
    Ok(state)
}
