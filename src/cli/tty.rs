//! The client end of `exec -t`: a fresh pseudo-terminal whose slave side becomes the process's
//! stdin/stdout/stderr, relayed to this terminal in raw mode, with window size changes passed on.
//!
//! Why a pty allocated here rather than inside the container (runc's console socket): the
//! master never has to travel from the container through the monitor to this process, and the
//! user's own terminal is never handed to the container (so `TIOCSTI` from inside cannot type
//! into the user's shell). The process still gets a real controlling terminal (see
//! `monitor::init::take_terminal`), so shells, job control and Ctrl-C behave as with docker.
//! The one visible difference: the slave lives in the host's devpts, so `tty` inside the
//! container names a path that its own `/dev/pts` does not have.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

/// Whether both stdin and stdout are terminals (docker compose only allocates a TTY then).
pub fn interactive_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false)
        && nix::unistd::isatty(std::io::stdout().as_fd()).unwrap_or(false)
}

/// A pty relayed to this process's terminal until [`Relay::finish`]; the terminal's mode is
/// restored when it is dropped.
pub struct Relay {
    output_done: mpsc::Receiver<()>,
    saved: Option<Termios>,
}

/// Opens the pty and starts relaying; returns the relay and three slave descriptors for the
/// process's stdin, stdout and stderr.
pub fn open() -> anyhow::Result<(Relay, [OwnedFd; 3])> {
    let stdin = std::io::stdin();
    let OpenptyResult { master, slave } =
        openpty(window_size(stdin.as_fd()).as_ref(), None).context("allocate a pseudo-terminal")?;
    let slaves = [
        slave.try_clone().context("duplicate the pty")?,
        slave.try_clone().context("duplicate the pty")?,
        slave,
    ];
    let output_done = start(master)?;
    let saved = raw_mode(stdin.as_fd())?;
    Ok((Relay { output_done, saved }, slaves))
}

impl Relay {
    /// Waits (briefly: a background process in the container may hold the pty open) for the
    /// process's last output to reach this terminal.
    pub fn finish(self) {
        let _ = self.output_done.recv_timeout(Duration::from_secs(1));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, t);
        }
    }
}

/// Puts the terminal in raw mode (keys go to the container's terminal as typed); the mode to
/// restore, or `None` when stdin is no terminal.
fn raw_mode(fd: BorrowedFd<'_>) -> anyhow::Result<Option<Termios>> {
    let Ok(saved) = termios::tcgetattr(fd) else {
        return Ok(None);
    };
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(fd, SetArg::TCSADRAIN, &raw).context("put the terminal in raw mode")?;
    Ok(Some(saved))
}

/// Starts the three relay threads: keys in, output out, and window size changes.
fn start(master: OwnedFd) -> anyhow::Result<mpsc::Receiver<()>> {
    let mut to_master = File::from(master.try_clone().context("duplicate the pty")?);
    let resize_target = master.try_clone().context("duplicate the pty")?;
    let mut from_master = File::from(master);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if to_master.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = std::io::stdout();
        let mut buf = [0u8; 8192];
        // EIO once the last slave descriptor is closed: the process is gone.
        while let Ok(n @ 1..) = from_master.read(&mut buf) {
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
        let _ = done_tx.send(());
    });
    follow_window_size(resize_target);
    Ok(done_rx)
}

/// Passes SIGWINCH on as the pty's new size. The signal is blocked in the calling thread (and
/// so in threads it starts later) and received by one thread with `sigwait`.
fn follow_window_size(master: OwnedFd) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        while set.wait().is_ok() {
            if let Some(ws) = window_size(std::io::stdin().as_fd()) {
                // SAFETY: TIOCSWINSZ reads one Winsize from the pointer, which outlives the call.
                unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
            }
        }
    });
}

fn window_size(fd: BorrowedFd<'_>) -> Option<Winsize> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one Winsize into `ws`, which outlives the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some(ws)
}
