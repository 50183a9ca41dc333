//! The per-container monitor process (the role conmon plays for podman).
//!
//! The client re-executes the rcompose binary as `rcompose __monitor <state_root> <run_root> <id>`
//! with a "ready" pipe as its stdout ([`READY_FD`]). The monitor forks once more and the
//! intermediate exits at once, so the monitor is re-parented away from the caller and calls
//! `setsid` (double fork). It then mounts the rootfs, writes the OCI bundle, creates and starts
//! the container with libcontainer (whose init becomes the monitor's child), reports `ok` or
//! `err <message>` on the ready pipe and runs its event loop ([`server::Monitor::run`]) until the
//! container has exited for good.

pub mod health;
pub mod init;
pub mod logfile;
pub mod protocol;
pub mod server;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;

use nix::unistd::{ForkResult, fork, setsid};

use crate::runtime::container::paths::Layout;

/// The first argument that selects the monitor entry point.
pub const MONITOR_ARG: &str = "__monitor";
/// The fd on which the monitor is handed its "ready" pipe: its stdout, so that the client can
/// spawn it without a `pre_exec` hook. The monitor moves it off fd 1 before pointing its
/// stdio at `monitor.log`, then reports startup success or failure on it.
pub const READY_FD: i32 = 1;

/// Entry point: `args` are the arguments after `__monitor`.
pub fn main(args: &[String]) -> ExitCode {
    let [state_root, run_root, id] = args else {
        diag!("usage: rcompose __monitor <state_root> <run_root> <id>");
        return ExitCode::from(2);
    };
    let ready = match take_ready_pipe() {
        Some(fd) => fd,
        None => {
            diag!("rcompose __monitor: no ready pipe on fd {READY_FD}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: this process was just exec'd and is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return ExitCode::SUCCESS,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            report(ready, Err(format!("fork: {e}")));
            return ExitCode::FAILURE;
        }
    }
    let _ = setsid();
    // Do not pin the caller's working directory (or the mount it lives on).
    let _ = std::env::set_current_dir("/");
    let layout = Layout::new(state_root, run_root);
    let paths = layout.container(id);
    redirect_stdio(&paths.monitor_log());

    let t0 = std::time::Instant::now();
    let mut monitor = match server::Monitor::new(layout, id) {
        Ok(m) => m,
        Err(e) => {
            diag!("monitor {id}: {e}");
            report(ready, Err(e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let t1 = std::time::Instant::now();
    let started = monitor.prepare().and_then(|()| {
        let t2 = std::time::Instant::now();
        monitor.start_container().map(|()| t2)
    });
    let t2 = match started {
        Ok(t2) => t2,
        Err(e) => {
            diag!("monitor {id}: {e}");
            monitor.fail_startup(&e);
            report(ready, Err(e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    report(ready, Ok(()));
    diag!(
        "monitor {id}: started (setup {:?}, rootfs+volumes+spec {:?}, libcontainer create+start {:?})",
        t1 - t0,
        t2 - t1,
        t2.elapsed()
    );
    monitor.run();
    ExitCode::SUCCESS
}

/// A close-on-exec copy of the ready pipe, off the stdio fds (which `redirect_stdio` replaces).
fn take_ready_pipe() -> Option<OwnedFd> {
    use nix::fcntl::{FcntlArg, fcntl};
    // SAFETY: fd 1 is open for the whole call (checked by the first fcntl); we only borrow it.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(READY_FD) };
    fcntl(stdout, FcntlArg::F_GETFD).ok()?;
    let fd = fcntl(stdout, FcntlArg::F_DUPFD_CLOEXEC(3)).ok()?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn report(ready: OwnedFd, r: Result<(), String>) {
    let mut f = std::fs::File::from(ready);
    let msg = match r {
        Ok(()) => "ok\n".to_string(),
        Err(e) => format!("err {}\n", e.replace('\n', " ")),
    };
    let _ = f.write_all(msg.as_bytes());
}

/// Points stdin at `/dev/null` and stdout/stderr at `log` (or `/dev/null`). Stdout must not stay
/// the ready pipe: the client reads that pipe until every copy of its write end is closed.
fn redirect_stdio(log: &std::path::Path) {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null");
    if let Ok(null) = &null {
        let _ = nix::unistd::dup2_stdin(null);
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .or(null);
    if let Ok(f) = out {
        let _ = nix::unistd::dup2_stdout(&f);
        let _ = nix::unistd::dup2_stderr(&f);
    } else {
        // No /dev/null either: close stdout rather than keep the pipe open.
        // SAFETY: closing fd 1, which nothing in this process owns as an `OwnedFd`.
        unsafe { libc::close(READY_FD) };
    }
}
