//! Keeps the kernel's cgroup-attach lock warm while containers are being started.
//!
//! Every write to a `cgroup.procs` file (libcontainer moving the container's first process into
//! its cgroups) takes the kernel's global `cgroup_threadgroup_rwsem` for writing. Taking it when
//! nobody has for a while first waits for a full RCU grace period (10–15 ms on an idle 2-vCPU
//! HZ=250 VM, longer under load: the biggest single step of a container start); while a writer
//! holds it, and for one grace period after, further writers pay nothing. crun and runc pay the
//! same wait.
//!
//! [`AttachWarmer::hold`] starts a thread that moves this process into the cgroup it is already
//! in (a no-op migration that still takes the lock) every few milliseconds until the last
//! [`WarmGuard`] is dropped: the grace period runs while the monitor is exec'd and the rootfs
//! and bundle are prepared, and the container's own attach finds the lock warm whenever it comes.
//! A no-op write costs tens of microseconds. Best effort: any failure only loses the head start.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Well under one grace period, so the lock never cools down between two writes.
const REWARM_EVERY: Duration = Duration::from_millis(3);

/// Shared by the clones of a runtime: one warming thread however many starts run at once.
#[derive(Debug, Clone, Default)]
pub struct AttachWarmer {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<WarmState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct WarmState {
    holders: usize,
    thread_running: bool,
    /// A write failed (no permission, read-only cgroupfs): stop trying.
    unsupported: bool,
}

/// Keeps the lock warm until dropped.
#[derive(Debug)]
pub struct WarmGuard {
    shared: Arc<Shared>,
}

impl AttachWarmer {
    /// Starts warming (if not already) until the returned guard is dropped.
    pub fn hold(&self) -> WarmGuard {
        let guard = WarmGuard {
            shared: Arc::clone(&self.shared),
        };
        let mut st = lock(&self.shared.state);
        st.holders += 1;
        if !st.thread_running
            && !st.unsupported
            && let Some(procs) = own_procs_file(Path::new(CGROUP_ROOT))
        {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("cgroup-warm".into())
                .spawn(move || warm_loop(&shared, &procs));
            st.thread_running = spawned.is_ok();
        }
        guard
    }
}

impl Drop for WarmGuard {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.holders = st.holders.saturating_sub(1);
        if st.holders == 0 {
            self.shared.wake.notify_all();
        }
    }
}

fn lock(m: &Mutex<WarmState>) -> std::sync::MutexGuard<'_, WarmState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn warm_loop(shared: &Shared, procs: &Path) {
    let pid = std::process::id().to_string();
    let mut st = lock(&shared.state);
    while st.holders > 0 {
        drop(st);
        // Same cgroup as now: the kernel takes the lock and migrates nothing.
        if fs::write(procs, &pid).is_err() {
            st = lock(&shared.state);
            st.unsupported = true;
            break;
        }
        st = lock(&shared.state);
        if st.holders > 0 {
            st = shared
                .wake
                .wait_timeout(st, REWARM_EVERY)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
    st.thread_running = false;
}

/// The `cgroup.procs` of the cgroup this process is in: the unified hierarchy's on a cgroup v2
/// host, else the first v1 controller hierarchy mounted under `root`.
fn own_procs_file(root: &Path) -> Option<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    procs_file_for(root, &own, root.join("cgroup.controllers").exists())
}

fn procs_file_for(root: &Path, proc_self_cgroup: &str, unified: bool) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let rel = path.trim_start_matches('/');
        let dir = match (unified, controllers) {
            (true, "") => root.join(rel),
            (false, c) if !c.is_empty() && !c.starts_with("name=") => {
                root.join(c.split(',').next()?).join(rel)
            }
            _ => return None,
        };
        let file = dir.join("cgroup.procs");
        file.exists().then_some(file)
    })
}

#[cfg(test)]
mod tests {
    use super::{AttachWarmer, procs_file_for};

    #[test]
    fn picks_a_controller_hierarchy_on_v1_and_the_unified_one_on_v2() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        for d in ["pids/user.slice", "user.slice"] {
            std::fs::create_dir_all(r.join(d)).expect("mkdir");
            std::fs::write(r.join(d).join("cgroup.procs"), "").expect("write");
        }
        let v1 = "12:name=systemd:/user.slice\n5:pids:/user.slice\n0::/user.slice\n";
        assert_eq!(
            procs_file_for(r, v1, false),
            Some(r.join("pids/user.slice/cgroup.procs"))
        );
        assert_eq!(
            procs_file_for(r, "0::/user.slice\n", true),
            Some(r.join("user.slice/cgroup.procs"))
        );
        assert_eq!(procs_file_for(r, "3:memory:/gone\n", false), None);
    }

    #[test]
    fn the_thread_stops_after_the_last_guard() {
        let w = AttachWarmer::default();
        let a = w.hold();
        let b = w.hold();
        drop(a);
        assert_eq!(super::lock(&w.shared.state).holders, 1);
        drop(b);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while super::lock(&w.shared.state).thread_running {
            assert!(
                std::time::Instant::now() < deadline,
                "warm thread still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(super::lock(&w.shared.state).holders, 0);
    }
}
