//! The container's terminal and stdin, and the clients attached to them (`run` without `-d`).
//!
//! # Design
//!
//! The monitor, not the client, owns the container's terminal. With `tty` it opens a pty, gives
//! the slave to the container's process as stdin, stdout and stderr (and its controlling
//! terminal, see `init::take_terminal`) and keeps the master. What the master yields goes to
//! the container's log as one stream (`stdout`, as docker's json-file driver records a TTY) and
//! to every attached client; what a client sends is written to the master, so Ctrl-C is a byte
//! the terminal's line discipline turns into SIGINT for the foreground process, as on a real
//! terminal. With `stdin_open` and no TTY the process's stdin is a pipe whose write end the
//! monitor keeps open: clients feed it, and it is closed when an attached client's input ends
//! (docker's "stdin once", so `echo hi | rcompose run svc cat` ends).
//!
//! Why not runc's console socket (the master handed to the client): the client would be the
//! only reader, so the log would miss the output and the container would lose its terminal when
//! the client is killed or detached. Here the container keeps its terminal and its log whatever
//! the client does.
//!
//! The attached client's socket is handed to the monitor when it is spawned (as its stdin, see
//! `monitor::main`), not connected afterwards: the client is attached before the process starts
//! and sees its first output (docker compose attaches before it starts the container for the
//! same reason). The socket carries one [`AttachHello`] line (the terminal's first size), then
//! raw bytes both ways; resizes come as [`super::protocol::Request::Resize`] requests.
//!
//! The monitor never blocks on a client: output waits in a per-client buffer until the socket
//! is writable, and a client more than [`MAX_PENDING`] behind is dropped (the log still has
//! everything). Input waits in one buffer while the container's terminal or pipe is full, and
//! clients are not read meanwhile (so a fast typist is slowed, never lost).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::unistd::pipe2;

use super::protocol::{AttachHello, WindowSize, decode};
use crate::runtime::container::error::{ContainerError, Result};

/// Output a client may fall behind by before it is dropped.
pub const MAX_PENDING: usize = 1 << 20;
/// How long the last output may take to reach the clients when the container is gone.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// The three descriptors the container's process starts with (stdin `None`: the monitor's
/// `/dev/null`).
pub struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A non-blocking descriptor the monitor reads the container's output from.
pub struct Output {
    pub fd: OwnedFd,
    pub stream: &'static str,
    /// The terminal's master: what is read also goes to the attached clients, and EIO (the
    /// last slave closed) is its end of file.
    pub terminal: bool,
}

struct Client {
    sock: UnixStream,
    pending: Vec<u8>,
    /// Still sending input (false after its end of file).
    reading: bool,
}

/// Where client input goes during one run: the terminal's master or the stdin pipe.
enum Sink {
    None,
    Terminal(OwnedFd),
    Stdin(OwnedFd),
}

impl Sink {
    fn fd(&self) -> Option<&OwnedFd> {
        match self {
            Sink::None => None,
            Sink::Terminal(fd) | Sink::Stdin(fd) => Some(fd),
        }
    }
}

/// The streams of a container with a terminal or an open stdin, and its attached clients.
pub struct Io {
    tty: bool,
    stdin_open: bool,
    window: Option<WindowSize>,
    sink: Sink,
    input: Vec<u8>,
    clients: Vec<Client>,
}

/// What [`Io::poll_fds`] asked for, in order, so [`Io::on_ready`] can match the answers.
pub struct PollPlan {
    sink: bool,
    clients: usize,
}

impl Io {
    pub fn new(tty: bool, stdin_open: bool) -> Self {
        Io {
            tty,
            stdin_open,
            window: None,
            sink: Sink::None,
            input: Vec::new(),
            clients: Vec::new(),
        }
    }

    /// Takes a client's socket: reads its hello (already sent: the client writes it before it
    /// hands the socket over) and keeps the socket for the stream.
    pub fn attach(&mut self, sock: UnixStream) -> std::result::Result<(), String> {
        let hello = read_hello(&sock)?;
        if hello.window.is_some() {
            self.window = hello.window;
        }
        sock.set_nonblocking(true)
            .map_err(|e| format!("attach socket: {e}"))?;
        self.clients.push(Client {
            sock,
            pending: Vec::new(),
            reading: true,
        });
        Ok(())
    }

    /// Opens one run's streams: what the process gets, and what the monitor reads.
    pub fn open_run(&mut self) -> Result<(ChildStdio, Vec<Output>)> {
        self.input.clear();
        if self.tty {
            self.open_terminal()
        } else {
            self.open_pipes()
        }
    }

    fn open_terminal(&mut self) -> Result<(ChildStdio, Vec<Output>)> {
        let size = self.window.map(winsize);
        let OpenptyResult { master, slave } =
            openpty(size.as_ref(), None).map_err(|e| ContainerError::sys("openpty", e))?;
        for fd in [&master, &slave] {
            set_cloexec(fd)?;
        }
        super::server::set_nonblocking(master.as_fd())
            .map_err(|e| ContainerError::sys("set the terminal non-blocking", e))?;
        let reader = dup(&master)?;
        self.sink = Sink::Terminal(master);
        let child = ChildStdio {
            stdin: Some(dup(&slave)?),
            stdout: dup(&slave)?,
            stderr: slave,
        };
        let out = Output {
            fd: reader,
            stream: "stdout",
            terminal: true,
        };
        Ok((child, vec![out]))
    }

    fn open_pipes(&mut self) -> Result<(ChildStdio, Vec<Output>)> {
        let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("pipe", e));
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin = match self.stdin_open {
            true => {
                let (r, w) = pipe()?;
                super::server::set_nonblocking(w.as_fd())
                    .map_err(|e| ContainerError::sys("set the stdin pipe non-blocking", e))?;
                self.sink = Sink::Stdin(w);
                Some(r)
            }
            false => None,
        };
        let mut outputs = Vec::new();
        for (fd, stream) in [(out_r, "stdout"), (err_r, "stderr")] {
            super::server::set_nonblocking(fd.as_fd())
                .map_err(|e| ContainerError::sys("set pipe non-blocking", e))?;
            outputs.push(Output {
                fd,
                stream,
                terminal: false,
            });
        }
        let child = ChildStdio {
            stdin,
            stdout: out_w,
            stderr: err_w,
        };
        Ok((child, outputs))
    }

    /// The run is over: its terminal or stdin pipe goes (the next run opens new ones).
    pub fn end_run(&mut self) {
        self.sink = Sink::None;
        self.input.clear();
    }

    /// A new window size for the container's terminal (the kernel signals SIGWINCH to its
    /// foreground process group). Kept for the next run too.
    pub fn resize(&mut self, size: WindowSize) -> std::result::Result<(), String> {
        if !self.tty {
            return Err("the container has no terminal (it was not created with tty)".into());
        }
        self.window = Some(size);
        if let Sink::Terminal(master) = &self.sink {
            let ws = winsize(size);
            // SAFETY: TIOCSWINSZ reads one Winsize from the pointer, which outlives the call.
            let r = unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(master),
                    libc::TIOCSWINSZ,
                    &ws,
                )
            };
            if r < 0 {
                return Err(format!("resize: {}", std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Terminal output for the attached clients.
    pub fn broadcast(&mut self, data: &[u8]) {
        self.clients.retain_mut(|c| {
            c.pending.extend_from_slice(data);
            c.flush() && c.pending.len() <= MAX_PENDING
        });
    }

    /// The descriptors to poll: the input sink while input waits, then every client (always
    /// included, so that a hang-up is seen).
    pub fn poll_fds(&self) -> (Vec<PollFd<'_>>, PollPlan) {
        let mut fds = Vec::new();
        let sink = self.sink.fd().filter(|_| !self.input.is_empty());
        if let Some(fd) = sink {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        let accepting = self.input.is_empty() && self.sink.fd().is_some();
        for c in &self.clients {
            let mut flags = PollFlags::empty();
            if c.reading && accepting {
                flags |= PollFlags::POLLIN;
            }
            if !c.pending.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.sock.as_fd(), flags));
        }
        let plan = PollPlan {
            sink: sink.is_some(),
            clients: self.clients.len(),
        };
        (fds, plan)
    }

    /// Acts on the poll results for the descriptors [`Io::poll_fds`] returned.
    pub fn on_ready(&mut self, plan: &PollPlan, revents: &[PollFlags]) {
        let (sink, clients) = revents.split_at(usize::from(plan.sink).min(revents.len()));
        if sink.first().is_some_and(|r| !r.is_empty()) {
            self.write_input();
        }
        let mut keep = Vec::with_capacity(plan.clients);
        let clients_now = std::mem::take(&mut self.clients);
        for (mut c, r) in clients_now.into_iter().zip(clients.iter().copied()) {
            if self.serve(&mut c, r) {
                keep.push(c);
            }
        }
        self.clients = keep;
    }

    /// One client's poll result; false when it is gone.
    fn serve(&mut self, c: &mut Client, r: PollFlags) -> bool {
        if r.contains(PollFlags::POLLIN) {
            let mut buf = [0u8; 4096];
            match (&c.sock).read(&mut buf) {
                Ok(0) => {
                    c.reading = false;
                    self.input_ended();
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    self.write_input();
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
            return true;
        }
        if r.contains(PollFlags::POLLOUT) && !c.flush() {
            return false;
        }
        // Hung up (both directions closed) or broken, with no input left to read.
        !r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
    }

    /// A client's input ended: without a terminal, so does the process's stdin.
    fn input_ended(&mut self) {
        if matches!(self.sink, Sink::Stdin(_)) && self.input.is_empty() {
            self.sink = Sink::None;
        }
    }

    /// Writes waiting input to the sink as far as it takes it.
    fn write_input(&mut self) {
        let Some(fd) = self.sink.fd() else {
            self.input.clear();
            return;
        };
        while !self.input.is_empty() {
            match nix::unistd::write(fd, &self.input) {
                Ok(n) => {
                    self.input.drain(..n);
                }
                Err(nix::Error::EAGAIN) => return,
                Err(nix::Error::EINTR) => {}
                Err(_) => {
                    // The process closed its stdin or the terminal is gone: input is dropped.
                    self.input.clear();
                    return;
                }
            }
        }
    }

    /// The container is gone for good: the last output goes out (briefly), then the clients'
    /// sockets close, which is their end of the stream.
    pub fn close_clients(&mut self) {
        let until = Instant::now() + FINAL_FLUSH;
        for mut c in self.clients.drain(..) {
            let left = until.saturating_duration_since(Instant::now());
            if c.pending.is_empty() || left.is_zero() {
                continue;
            }
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(left));
            let _ = c.sock.write_all(&c.pending);
        }
    }
}

impl Client {
    /// Sends what it can of the pending output; false when the client is gone.
    fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match self.sock.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The hello line, read a byte at a time so that nothing after it is consumed.
fn read_hello(mut sock: &UnixStream) -> std::result::Result<AttachHello, String> {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        match sock.read(&mut byte) {
            Ok(0) => return Err("attach: the client left before its hello".into()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("attach: reading the hello: {e}")),
        }
        if line.len() > 4096 {
            return Err("attach: hello too long".into());
        }
    }
    line.pop();
    decode(&line).map_err(|e| format!("attach: {e}"))
}

fn winsize(size: WindowSize) -> Winsize {
    Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone()
        .map_err(|e| ContainerError::io("duplicate the terminal", "/dev/ptmx", e))
}

fn set_cloexec(fd: &OwnedFd) -> Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(|_| ())
        .map_err(|e| ContainerError::sys("set close-on-exec", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::monitor::protocol::encode;

    fn attached(io: &mut Io) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let hello = AttachHello {
            window: Some(WindowSize { rows: 30, cols: 90 }),
        };
        (&ours).write_all(&encode(&hello).unwrap()).unwrap();
        io.attach(theirs).unwrap();
        ours
    }

    /// Polls and serves until `done` holds (a test of the loop the monitor runs).
    fn pump(io: &mut Io, mut done: impl FnMut(&mut Io) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(io) {
            assert!(Instant::now() < deadline, "no progress");
            let (revents, plan) = {
                let (mut fds, plan) = io.poll_fds();
                nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap();
                let r: Vec<PollFlags> = fds
                    .iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                    .collect();
                (r, plan)
            };
            io.on_ready(&plan, &revents);
        }
    }

    #[test]
    fn a_terminal_takes_the_clients_size_keys_and_resizes() {
        let mut io = Io::new(true, true);
        let client = attached(&mut io);
        let (child, outputs) = io.open_run().unwrap();
        assert_eq!(outputs.len(), 1);
        assert!(outputs[0].terminal);
        let size = |fd: &OwnedFd| {
            let mut ws = winsize(WindowSize { rows: 0, cols: 0 });
            // SAFETY: TIOCGWINSZ writes one Winsize into `ws`.
            unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(fd),
                    libc::TIOCGWINSZ,
                    &mut ws,
                )
            };
            (ws.ws_row, ws.ws_col)
        };
        assert_eq!(size(&child.stdout), (30, 90));
        io.resize(WindowSize {
            rows: 40,
            cols: 120,
        })
        .unwrap();
        assert_eq!(size(&child.stdout), (40, 120));

        // Keys typed by the client reach the process's terminal (echoed back by the line
        // discipline, and the output goes out to the client).
        (&client).write_all(b"hi\n").unwrap();
        let stdin = child.stdin.unwrap();
        crate::runtime::monitor::server::set_nonblocking(stdin.as_fd()).unwrap();
        let mut got = Vec::new();
        pump(&mut io, |_| {
            let mut buf = [0u8; 16];
            if let Ok(n) = nix::unistd::read(&stdin, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            got.ends_with(b"\n")
        });
        assert_eq!(got, b"hi\n");
        io.broadcast(b"out\r\n");
        io.close_clients();
        let mut seen = Vec::new();
        (&client).read_to_end(&mut seen).unwrap();
        assert_eq!(seen, b"out\r\n");
    }

    #[test]
    fn without_a_terminal_the_clients_input_end_closes_stdin() {
        let mut io = Io::new(false, true);
        let client = attached(&mut io);
        let (child, outputs) = io.open_run().unwrap();
        assert_eq!(outputs.len(), 2);
        assert!(io.resize(WindowSize { rows: 1, cols: 1 }).is_err());
        (&client).write_all(b"line\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        pump(&mut io, |io| matches!(io.sink, Sink::None));
        let mut stdin = std::fs::File::from(child.stdin.unwrap());
        let mut got = String::new();
        stdin.read_to_string(&mut got).unwrap();
        assert_eq!(got, "line\n");
    }

    #[test]
    fn a_client_that_hangs_up_is_dropped() {
        let mut io = Io::new(true, false);
        let client = attached(&mut io);
        let _run = io.open_run().unwrap();
        drop(client);
        pump(&mut io, |io| io.clients.is_empty());
    }
}
