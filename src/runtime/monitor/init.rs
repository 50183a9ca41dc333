//! The libcontainer executor used for every container process, including the tiny reaping init
//! behind `init: true`.
//!
//! Why an executor and not a binary bind-mounted at `/sbin/rcompose-init`: the rcompose binary is
//! linked against the host's glibc, so it cannot run inside an arbitrary image (busybox, alpine).
//! The container's PID 1 is a clone of the monitor process, so running the init loop there, in
//! the executor, before any `execve`, needs nothing from the image and adds no mount. The init
//! forks the real command, forwards every catchable signal to it, reaps all zombies and exits
//! with the command's status (128 + signal when it was killed), like tini.
//!
//! The executor also undoes what the monitor changed in its own process and would otherwise leak
//! into the container through `clone`/`execve`: the blocked signal mask (the monitor uses a
//! signalfd) and the ignored SIGPIPE (the Rust runtime ignores it).

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, kill, signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// Executor of container processes; `init` selects the reaping init for the container's PID 1,
/// `controlling_tty` makes the process's stdin (a terminal) its controlling terminal.
#[derive(Clone)]
pub struct RcomposeExecutor {
    pub init: bool,
    pub controlling_tty: bool,
}

/// Restores default dispositions and an empty signal mask (before `execve`).
pub fn reset_signals() {
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler code to be unsafe about.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

impl Executor for RcomposeExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if self.init {
            run_init(spec)
        } else {
            reset_signals();
            if self.controlling_tty {
                take_terminal()?;
            }
            DefaultExecutor {}.exec(spec)
        }
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// A new session with stdin as its controlling terminal (what a login does), so the shell can
/// run job control and the terminal's Ctrl-C reaches the foreground process group.
fn take_terminal() -> Result<(), ExecutorError> {
    // EPERM: libcontainer's init already made this process a session leader, which is enough.
    match nix::unistd::setsid() {
        Ok(_) | Err(nix::errno::Errno::EPERM) => {}
        Err(e) => return Err(ExecutorError::Other(format!("exec: setsid: {e}"))),
    }
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        let e = std::io::Error::last_os_error();
        return Err(ExecutorError::Other(format!(
            "exec: make stdin the controlling terminal: {e}"
        )));
    }
    Ok(())
}

fn run_init(spec: &Spec) -> Result<(), ExecutorError> {
    let all = SigSet::all();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .map_err(|e| ExecutorError::Other(format!("init: block signals: {e}")))?;
    // SAFETY: the container init is single-threaded here; the child only resets signals and execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            reset_signals();
            if let Err(e) = (DefaultExecutor {}).exec(spec) {
                eprintln!("rcompose-init: {e}");
            }
            // SAFETY: exiting the forked child without running the parent's destructors.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => {
            // The init keeps the monitor's memory image: drop every inherited descriptor.
            // SAFETY: plain syscall; closing fds we never use again.
            unsafe {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            }
            let code = reap_loop(child, &all);
            // SAFETY: PID 1 leaves; the kernel kills what is left of the namespace.
            unsafe { libc::_exit(code) }
        }
        Err(e) => Err(ExecutorError::Other(format!("init: fork: {e}"))),
    }
}

fn reap_loop(child: Pid, all: &SigSet) -> i32 {
    loop {
        let Ok(sig) = all.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return finish(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => {
                    return finish(128 + s as i32);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

fn finish(code: i32) -> i32 {
    // Reap whatever already exited; the rest dies with the pid namespace.
    while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if st == WaitStatus::StillAlive {
            break;
        }
    }
    code
}
