//! Small probes the reliability tests share: an HTTP GET on a loopback port, the addresses in a
//! busybox `nslookup` answer, a command SIGKILLed after a delay, a process's CPU time.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET path` on `127.0.0.1:port` (HTTP/1.0); the whole response, or `None` when the connection
/// fails.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The addresses of the answer section of busybox `nslookup NAME` output.
pub fn addresses(nslookup: &str) -> Vec<String> {
    let mut v: Vec<String> = nslookup
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().split(' ').next().unwrap_or("").to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// How a command ended when it was to be killed after a delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// SIGKILL landed while it ran.
    MidRun,
    /// It had finished before the delay was up.
    AfterExit { success: bool },
}

/// Spawn `cmd` (output discarded) and SIGKILL it `delay` later unless it has exited by then.
pub fn kill_after(mut cmd: Command, delay: Duration) -> Killed {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the command to kill");
    std::thread::sleep(delay);
    match child.try_wait().expect("try_wait") {
        Some(status) => Killed::AfterExit {
            success: status.success(),
        },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Killed::MidRun
        }
    }
}

/// Run `cmd` to completion; its wall time and output.
pub fn timed(mut cmd: Command) -> (Duration, std::process::Output) {
    let t = Instant::now();
    let out = cmd.output().expect("run command");
    (t.elapsed(), out)
}

/// User + system CPU time of a process and its reaped children, in clock ticks (`/proc/PID/stat`
/// fields 14-17).
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3; fields 14..=17 are utime, stime, cutime, cstime.
    fields[11..15].iter().map(|f| f.parse::<u64>().ok()).sum()
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100)
}

/// Both streams of an output, for assertion messages.
pub fn streams(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A UDP echo server in the network namespace at `netns` (a bind-mounted namespace or
/// `/proc/<pid>/ns/net`; busybox has no UDP server): a thread of the test enters the namespace,
/// binds `0.0.0.0:port` and answers `echo:<datagram>` until it gets `quit` or 20 s pass in
/// silence. Returns once the socket is bound.
pub fn udp_echo_in(netns: &Path, port: u16) -> std::thread::JoinHandle<()> {
    let ns = std::fs::File::open(netns).expect("open netns");
    let (ready, wait) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        // SAFETY: setns moves only this thread, which owns nothing else.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let s = UdpSocket::bind(("0.0.0.0", port)).expect("bind udp in netns");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        ready.send(()).expect("ready");
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, peer);
            if &buf[..n] == b"quit" {
                break;
            }
        }
    });
    wait.recv().expect("udp server ready");
    server
}
