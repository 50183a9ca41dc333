//! Reacting to a container's state changes without polling: [`StateWatcher`] wakes up when the
//! monitor replaces `state.json` (inotify on the container directory) or when the monitor
//! process dies (a pidfd), and hands back the reconciled state.
//!
//! The monitor writes `state.json` by temp file + rename, so a change shows up as
//! `IN_MOVED_TO state.json`. A monitor killed with SIGKILL writes nothing: its pidfd becomes
//! readable instead, and reconciling then records the container as exited (see
//! [`super::cleanup`]), which is the change reported.

use std::ffi::OsStr;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::error::{ContainerError, Result};
use super::runtime::{ContainerId, ContainerRuntime};
use super::state::{ContainerState, ProcId};

/// How often the state is re-read when the monitor cannot be watched through a pidfd.
const FALLBACK_RECHECK: Duration = Duration::from_secs(1);

/// Follows one container's state; see [`ContainerRuntime::watch`].
pub struct StateWatcher {
    rt: ContainerRuntime,
    id: ContainerId,
    inotify: Inotify,
    /// The live monitor of `last`, if any (readable once it has exited).
    monitor: Option<OwnedFd>,
    last: ContainerState,
}

/// A pidfd of `proc` if it is still that very process (not a reused pid).
fn pidfd_of(proc: ProcId) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, proc.pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Checked after opening: the pidfd then refers to the process whose start time matched.
    proc.is_alive().then_some(fd)
}

impl StateWatcher {
    /// The id of the watched container.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The last state this watcher reported (or read when it was created).
    pub fn last(&self) -> &ContainerState {
        &self.last
    }

    /// Re-reads the state now (reconciled: a dead monitor is cleaned up and shows as exited).
    pub fn current(&self) -> Result<ContainerState> {
        self.rt.reconcile(&self.id)
    }

    /// Waits up to `timeout` for the state to change and returns the new state, or `None` on
    /// timeout. A change is a replaced `state.json` whose content differs from the last state
    /// reported, or the monitor's death (reported as the reconciled, exited state).
    ///
    /// The state is only re-read when something happened; a caller that waits a long time for
    /// a condition can call [`StateWatcher::current`] after a `None` to be sure (this is what
    /// [`ContainerRuntime::wait_until`] does at its deadline). A removed container is an error
    /// ([`ContainerError::NotFound`]).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<ContainerState>> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let mut wait = deadline - now;
            let blind = self.monitor.is_none() && self.last.monitor.is_some();
            if blind {
                wait = wait.min(FALLBACK_RECHECK);
            }
            let (changed, monitor_exited) = self.wait_event(wait)?;
            if monitor_exited {
                self.monitor = None;
            }
            if !(changed || monitor_exited || blind) {
                continue;
            }
            let st = self.current()?;
            if st != self.last {
                self.follow_monitor(&st);
                self.last = st.clone();
                return Ok(Some(st));
            }
        }
    }

    /// One `poll` over the inotify fd and the monitor's pidfd: (state.json replaced, monitor
    /// exited).
    fn wait_event(&self, wait: Duration) -> Result<(bool, bool)> {
        let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &self.monitor {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys("poll state watcher", e)),
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let monitor_exited = fds.get(1).is_some_and(ready);
        let changed = ready(&fds[0]) && self.drain_events()?;
        Ok((changed, monitor_exited))
    }

    /// Reads the queued inotify events: whether `state.json` was replaced.
    fn drain_events(&self) -> Result<bool> {
        let mut changed = false;
        loop {
            let events = match self.inotify.read_events() {
                Ok(ev) => ev,
                Err(nix::Error::EAGAIN) => return Ok(changed),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ContainerError::sys("read inotify events", e)),
            };
            for ev in events {
                if ev.mask.intersects(
                    AddWatchFlags::IN_DELETE_SELF
                        | AddWatchFlags::IN_MOVE_SELF
                        | AddWatchFlags::IN_IGNORED,
                ) {
                    return Err(ContainerError::NotFound(self.id.clone()));
                }
                // An overflow may have hidden our event: re-read to be safe.
                changed |= ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                    || ev.name.as_deref() == Some(OsStr::new("state.json"));
            }
        }
    }

    /// Watches the monitor of `st` (a new one after a restart by the user).
    fn follow_monitor(&mut self, st: &ContainerState) {
        if st.monitor != self.last.monitor || self.monitor.is_none() {
            self.monitor = st.monitor.and_then(pidfd_of);
        }
    }
}

impl ContainerRuntime {
    /// Follows the state of container `key` (id, name or unique id prefix) from now on.
    pub fn watch(&self, key: &str) -> Result<StateWatcher> {
        let id = self.resolve(key)?;
        let dir = self.layout().container(&id).dir.clone();
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| ContainerError::sys("inotify_init", e))?;
        // Watch first, then read: a change in between is seen as an event.
        inotify
            .add_watch(
                &dir,
                AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_ONLYDIR,
            )
            .map_err(|e| match e {
                nix::Error::ENOENT => ContainerError::NotFound(id.clone()),
                e => ContainerError::sys(format!("inotify watch {}", dir.display()), e),
            })?;
        let last = self.reconcile(&id)?;
        let monitor = last.monitor.and_then(pidfd_of);
        Ok(StateWatcher {
            rt: self.clone(),
            id,
            inotify,
            monitor,
            last,
        })
    }

    /// Blocks until the state of container `key` satisfies `pred` (checked on the current
    /// state first, then on every change) and returns that state; `None` when `deadline`
    /// passes first. The state is re-read once more at the deadline.
    pub fn wait_until(
        &self,
        key: &str,
        deadline: Instant,
        pred: impl Fn(&ContainerState) -> bool,
    ) -> Result<Option<ContainerState>> {
        let mut w = self.watch(key)?;
        if pred(w.last()) {
            return Ok(Some(w.last().clone()));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let st = w.current()?;
                return Ok(pred(&st).then_some(st));
            }
            if let Some(st) = w.next(left)?
                && pred(&st)
            {
                return Ok(Some(st));
            }
        }
    }
}
