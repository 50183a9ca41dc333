//! Client side of the monitor protocol: one connection per request.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::runtime::monitor::protocol::{
    ProtocolError, Request, Response, ResponseReader, send_request,
};

use super::error::{ContainerError, Result};
use super::spec::ExecSpec;

fn perr(id: &str, e: ProtocolError) -> ContainerError {
    ContainerError::Monitor {
        id: id.to_string(),
        message: e.to_string(),
    }
}

/// A connection to one container's monitor.
pub struct MonitorClient {
    id: String,
    reader: ResponseReader,
    sock: UnixStream,
}

impl MonitorClient {
    /// Connects; `None` when no monitor listens (gone, or the run dir was wiped).
    pub fn connect(id: &str, socket: &Path) -> Option<Self> {
        let sock = UnixStream::connect(socket).ok()?;
        let reader_sock = sock.try_clone().ok()?;
        Some(MonitorClient {
            id: id.to_string(),
            reader: ResponseReader::new(reader_sock),
            sock,
        })
    }

    fn send(&mut self, req: &Request, fds: &[OwnedFd]) -> Result<()> {
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        send_request(&self.sock, req, &raw).map_err(|e| perr(&self.id, e))
    }

    fn recv(&mut self) -> Result<Response> {
        match self.reader.read_response().map_err(|e| perr(&self.id, e))? {
            Response::Error { message } => Err(ContainerError::Monitor {
                id: self.id.clone(),
                message,
            }),
            r => Ok(r),
        }
    }

    /// Sends a request and returns the first answer.
    pub fn call(mut self, req: &Request, timeout: Option<Duration>) -> Result<Response> {
        let _ = self.sock.set_read_timeout(timeout);
        self.send(req, &[])?;
        self.recv()
    }

    /// Runs an exec: `io` fds (stdin, stdout, stderr; each optional) go to the process.
    pub fn exec(mut self, spec: &ExecSpec, io: [Option<OwnedFd>; 3]) -> Result<i32> {
        let [stdin, stdout, stderr] = io;
        let req = Request::Exec {
            spec: spec.clone(),
            stdin: stdin.is_some(),
            stdout: stdout.is_some(),
            stderr: stderr.is_some(),
        };
        let fds: Vec<OwnedFd> = [stdin, stdout, stderr].into_iter().flatten().collect();
        self.send(&req, &fds)?;
        drop(fds);
        match self.recv()? {
            Response::ExecStarted { .. } => {}
            r => {
                return Err(ContainerError::Monitor {
                    id: self.id.clone(),
                    message: format!("unexpected answer to exec: {r:?}"),
                });
            }
        }
        match self.recv()? {
            Response::ExecExited { exit_code } => Ok(exit_code),
            r => Err(ContainerError::Monitor {
                id: self.id.clone(),
                message: format!("unexpected answer to exec: {r:?}"),
            }),
        }
    }
}
