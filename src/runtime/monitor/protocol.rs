//! The monitor's small versioned JSON protocol over its unix socket.
//!
//! One request per connection: the client sends one JSON line `{"version":1,"op":...}`; for
//! `exec` the client's stdin/stdout/stderr fds ride along as `SCM_RIGHTS` on that same message,
//! so the command's output goes straight to the client without copying through the monitor.
//! The monitor answers with JSON lines `{"version":1,"kind":...}`: one for most requests, two for
//! `exec` (`exec_started`, then `exec_exited`); `stop` and `wait` are answered when the
//! container has exited for good.
//!
//! An attached client (`run` without `-d`) does not connect: its socket is handed to the monitor
//! at spawn (see [`super::attach`]) and carries one [`AttachHello`] line, then raw bytes.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};

use crate::runtime::container::spec::ExecSpec;
use crate::runtime::container::state::ContainerState;

pub const PROTOCOL_VERSION: u32 = 1;
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    State,
    /// Stop with the stop signal, SIGKILL after `timeout_ms` (default: the spec's grace period).
    Stop {
        timeout_ms: Option<u64>,
    },
    Kill {
        signal: i32,
    },
    Pause,
    Unpause,
    /// Answered when the container has exited and will not be restarted.
    Wait,
    /// Which of stdin/stdout/stderr were passed (in that order) as SCM_RIGHTS.
    Exec {
        spec: ExecSpec,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// The container's terminal takes this size (the attached client's window changed).
    Resize {
        size: WindowSize,
    },
}

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

/// The first (and only) line an attached client sends before the raw stream: the size the
/// container's terminal starts with, so the process never sees a 0x0 terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachHello {
    pub window: Option<WindowSize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Ok,
    State { state: Box<ContainerState> },
    Exited { exit_code: i32 },
    ExecStarted { pid: i32 },
    ExecExited { exit_code: i32 },
    Error { message: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    #[serde(flatten)]
    body: T,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("socket: {0}")]
    Sys(#[from] nix::Error),
    #[error("bad message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("protocol version {0} is not supported (expected {PROTOCOL_VERSION})")]
    Version(u32),
    #[error("connection closed before a full message")]
    Eof,
    #[error("message too long")]
    TooLong,
}

pub(crate) fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut v = serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        body,
    })?;
    v.push(b'\n');
    Ok(v)
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, ProtocolError> {
    #[derive(Deserialize)]
    struct V {
        version: u32,
    }
    let v: V = serde_json::from_slice(line)?;
    if v.version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version(v.version));
    }
    let e: Envelope<T> = serde_json::from_slice(line)?;
    Ok(e.body)
}

/// Sends a request, with `fds` attached as SCM_RIGHTS.
pub fn send_request(sock: &UnixStream, req: &Request, fds: &[RawFd]) -> Result<(), ProtocolError> {
    let data = encode(req)?;
    let mut sent = 0;
    while sent < data.len() {
        let iov = [IoSlice::new(&data[sent..])];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cm: &[ControlMessage] = if sent == 0 && !fds.is_empty() {
            &cmsg
        } else {
            &[]
        };
        sent += sendmsg::<()>(sock.as_raw_fd(), &iov, cm, MsgFlags::empty(), None)?;
    }
    Ok(())
}

/// Receives one request line plus any fds that came with it.
pub fn recv_request(sock: &UnixStream) -> Result<(Request, Vec<OwnedFd>), ProtocolError> {
    let mut buf = Vec::new();
    let mut fds = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut chunk)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let n = msg.bytes;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(rs) = c {
                // SAFETY: the kernel just installed these fds in our table; we own them now.
                fds.extend(rs.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        if n == 0 {
            return Err(ProtocolError::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            return Ok((decode(&buf[..pos])?, fds));
        }
        if buf.len() > MAX_MESSAGE {
            return Err(ProtocolError::TooLong);
        }
    }
}

/// Writes one response line.
pub fn send_response(mut sock: &UnixStream, resp: &Response) -> Result<(), ProtocolError> {
    sock.write_all(&encode(resp)?)?;
    Ok(())
}

/// Reads response lines, buffering across calls.
pub struct ResponseReader {
    sock: UnixStream,
    buf: Vec<u8>,
}

impl ResponseReader {
    pub fn new(sock: UnixStream) -> Self {
        ResponseReader {
            sock,
            buf: Vec::new(),
        }
    }

    pub fn read_response(&mut self) -> Result<Response, ProtocolError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return decode(&line[..pos]);
            }
            let mut chunk = [0u8; 8192];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Err(ProtocolError::Eof);
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if self.buf.len() > MAX_MESSAGE {
                return Err(ProtocolError::TooLong);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_fds() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let req = Request::Exec {
            spec: ExecSpec::new(["echo", "hi"]),
            stdin: false,
            stdout: true,
            stderr: false,
        };
        send_request(&a, &req, &[w.as_raw_fd()]).expect("send");
        drop(w);
        let (got, fds) = recv_request(&b).expect("recv");
        assert!(matches!(got, Request::Exec { stdout: true, .. }));
        assert_eq!(fds.len(), 1);
        // The passed fd is the pipe's write end.
        nix::unistd::write(&fds[0], b"x").expect("write");
        drop(fds);
        let mut buf = [0u8; 4];
        assert_eq!(nix::unistd::read(&r, &mut buf).expect("read"), 1);

        send_response(&b, &Response::ExecExited { exit_code: 3 }).expect("respond");
        let mut rr = ResponseReader::new(a);
        assert!(matches!(
            rr.read_response().expect("read"),
            Response::ExecExited { exit_code: 3 }
        ));
        assert_eq!(
            encode(&Request::State).expect("encode"),
            b"{\"version\":1,\"op\":\"state\"}\n"
        );
        assert!(matches!(
            decode::<Request>(b"{\"version\":2,\"op\":\"state\"}"),
            Err(ProtocolError::Version(2))
        ));
    }
}
