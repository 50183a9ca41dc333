//! `netd`: the one long-lived helper process per state root. It is the rcompose binary
//! re-executed as `rcompose __netd <state_dir> <run_dir>` and serves, for every network and
//! port of the state: the embedded DNS ([`super::dns`]) and the userland port proxies
//! ([`super::ports`]).
//!
//! Lifecycle: the manager starts it (double fork, so it is re-parented to init and never
//! becomes a zombie of the caller) when the state first needs it; a file lock
//! (`<run_dir>/netd.lock`) makes it a singleton. After every change the manager, still holding
//! the state lock, sends `reload` on `<run_dir>/netd.sock`; netd re-reads the state file,
//! reconciles its listeners and records and answers `ok`, `err <why>` (e.g. a port it could
//! not bind), or `bye` when the state is empty, in which case it removes its socket and exits.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::dns::{self, Records, Shared};
use super::error::{NetError, Result};
use super::ports::{self, Protocol, Proxy};
use super::state::{self, State};

/// The hidden first argument that selects netd in `main`.
pub const NETD_ARG: &str = "__netd";
const CHILD_ENV: &str = "RCOMPOSE_NETD_DETACHED";

/// Entry point of `rcompose __netd <state_dir> <run_dir>` (`args` without the program name
/// and without `__netd`).
pub fn main(args: &[String]) -> ExitCode {
    let [state_dir, run_dir] = args else {
        eprintln!("usage: rcompose {NETD_ARG} STATE_DIR RUN_DIR");
        return ExitCode::from(2);
    };
    if std::env::var_os(CHILD_ENV).is_none() {
        // First generation: start the real daemon detached and return at once.
        let Ok(exe) = std::env::current_exe() else {
            return ExitCode::FAILURE;
        };
        let spawned = Command::new(exe)
            .args([NETD_ARG, state_dir, run_dir])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::null())
            .process_group(0)
            .spawn();
        return if spawned.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match serve(Path::new(state_dir), Path::new(run_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rcompose netd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(state_dir: &Path, run_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| NetError::io("create", run_dir, e))?;
    let lock_path = run_dir.join("netd.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| NetError::io("open", &lock_path, e))?;
    // SAFETY: flock on an owned fd.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(()); // another netd serves this run dir
    }
    let sock_path = run_dir.join("netd.sock");
    let _ = std::fs::remove_file(&sock_path);
    let std_listener = std::os::unix::net::UnixListener::bind(&sock_path)
        .map_err(|e| NetError::io("bind", &sock_path, e))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| NetError::io("configure", &sock_path, e))?;
    let pid_path = run_dir.join("netd.pid");
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .map_err(|e| NetError::io("write", &pid_path, e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NetError::io("start runtime", "tokio", e))?;
    let state_file = state_dir.join("state.json");
    let result = rt.block_on(async {
        let listener = tokio::net::UnixListener::from_std(std_listener)
            .map_err(|e| NetError::io("listen", &sock_path, e))?;
        let mut d = Daemon {
            shared: dns::Shared::new(),
            dns: HashMap::new(),
            proxies: HashMap::new(),
        };
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let (r, mut w) = conn.into_split();
            let mut line = String::new();
            let mut r = tokio::io::BufReader::new(r);
            if r.read_line(&mut line).await.is_err() || line.trim() != "reload" {
                let _ = w.write_all(b"err unknown command\n").await;
                continue;
            }
            let st = match state::load_file(&state_file) {
                Ok(s) => s,
                Err(e) => {
                    let _ = w.write_all(format!("err {e}\n").as_bytes()).await;
                    continue;
                }
            };
            if st.is_empty() {
                d.stop_all().await;
                let _ = std::fs::remove_file(&sock_path);
                let _ = std::fs::remove_file(&pid_path);
                let _ = w.write_all(b"bye\n").await;
                return Ok(());
            }
            let reply = match d.reconcile(&st).await {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("err {}\n", e.replace('\n', "; ")),
            };
            let _ = w.write_all(reply.as_bytes()).await;
        }
    });
    drop(lock);
    result
}

type PortKey = (Protocol, IpAddr, u16);

struct Daemon {
    shared: Arc<Shared>,
    dns: HashMap<String, (Ipv4Addr, dns::Listener)>,
    proxies: HashMap<PortKey, (SocketAddr, Proxy)>,
}

impl Daemon {
    async fn stop_all(self) {
        for (_, (_, l)) in self.dns {
            l.stop().await;
        }
        for (_, (_, p)) in self.proxies {
            p.stop().await;
        }
    }

    async fn reconcile(&mut self, st: &State) -> std::result::Result<(), String> {
        let gateways: Vec<Ipv4Addr> = st.networks.values().map(|n| n.gateway).collect();
        if let Ok(mut r) = self.shared.records.write() {
            *r = Records::from_state(st);
        }
        if let Ok(mut u) = self.shared.upstreams.write() {
            *u = dns::host_resolvers(&gateways);
        }
        let mut errors = Vec::new();
        let stale: Vec<String> = self
            .dns
            .iter()
            .filter(|(name, (gw, _))| st.networks.get(*name).is_none_or(|n| n.gateway != *gw))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some((_, l)) = self.dns.remove(&name) {
                l.stop().await;
            }
        }
        for (name, n) in &st.networks {
            if self.dns.contains_key(name) {
                continue;
            }
            match dns::listen(self.shared.clone(), name.clone(), n.gateway).await {
                Ok(l) => {
                    self.dns.insert(name.clone(), (n.gateway, l));
                }
                // The network's bridge is not there (yet): after a reboot, or a command killed
                // between recording a network and creating its bridge. Not this reload's
                // failure: the network's own `ensure_network` makes the bridge, then reloads.
                Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
                Err(e) => errors.push(format!("DNS on {}:53 ({name}): {e}", n.gateway)),
            }
        }
        let want: HashMap<PortKey, SocketAddr> = st
            .ports
            .iter()
            .map(|p| {
                (
                    (p.protocol, p.host_ip, p.host_port),
                    SocketAddr::new(IpAddr::V4(p.container_ip), p.container_port),
                )
            })
            .collect();
        let stale: Vec<PortKey> = self
            .proxies
            .iter()
            .filter(|(k, (target, _))| want.get(*k) != Some(target))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some((_, p)) = self.proxies.remove(&k) {
                p.stop().await;
            }
        }
        for (k, target) in want {
            if self.proxies.contains_key(&k) {
                continue;
            }
            let (proto, ip, port) = k;
            match ports::start_proxy(proto, SocketAddr::new(ip, port), target).await {
                Ok(p) => {
                    self.proxies.insert(k, (target, p));
                }
                Err(e) => errors.push(format!(
                    "port {proto} {ip}:{port}: {e}{}",
                    ports::port_holder(proto, port)
                        .map(|h| format!(" (held by {h})"))
                        .unwrap_or_default()
                )),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Client side: make netd match the saved state (start it if needed). Call with the state
/// lock held.
pub(crate) fn sync(netd_bin: &Path, state_dir: &Path, run_dir: &Path, state: &State) -> Result<()> {
    let sock = run_dir.join("netd.sock");
    let conn = match UnixStream::connect(&sock) {
        Ok(c) => c,
        Err(_) if state.is_empty() => return cleanup_run_dir(run_dir),
        Err(_) => {
            spawn(netd_bin, state_dir, run_dir)?;
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match UnixStream::connect(&sock) {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => {
                        return Err(NetError::Daemon(format!(
                            "did not come up on {} ({e}); see {}",
                            sock.display(),
                            run_dir.join("netd.log").display()
                        )));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    };
    let reply = request(conn).map_err(|e| NetError::io("talk to netd on", &sock, e))?;
    match reply.trim() {
        "ok" => Ok(()),
        "bye" => cleanup_run_dir(run_dir),
        other => Err(NetError::Daemon(
            other.strip_prefix("err ").unwrap_or(other).to_string(),
        )),
    }
}

fn request(mut conn: UnixStream) -> std::io::Result<String> {
    conn.set_read_timeout(Some(Duration::from_secs(20)))?;
    conn.write_all(b"reload\n")?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line)?;
    Ok(line)
}

fn spawn(netd_bin: &Path, state_dir: &Path, run_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| NetError::io("create", run_dir, e))?;
    let log_path = run_dir.join("netd.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| NetError::io("open", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| NetError::io("open", &log_path, e))?;
    let status = Command::new(netd_bin)
        .arg(NETD_ARG)
        .arg(state_dir)
        .arg(run_dir)
        .env_remove(CHILD_ENV)
        // Long-lived: commit allocator memory as it is used, not a whole arena up front.
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| NetError::io("start", netd_bin, e))?;
    if !status.success() {
        return Err(NetError::Daemon(format!(
            "{} {NETD_ARG} failed: {status}",
            netd_bin.display()
        )));
    }
    Ok(())
}

/// After `bye`: wait for the process to release its lock, then remove the run dir.
fn cleanup_run_dir(run_dir: &Path) -> Result<()> {
    let lock_path = run_dir.join("netd.lock");
    if let Ok(f) = OpenOptions::new().write(true).open(&lock_path) {
        let deadline = Instant::now() + Duration::from_secs(5);
        // SAFETY: flock on an owned fd.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            if Instant::now() > deadline {
                return Err(NetError::Daemon("netd did not exit".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    match std::fs::remove_dir_all(run_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove", run_dir, e)),
    }
}

/// The pid of the running netd of `run_dir`, if any.
pub fn running_pid(run_dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(run_dir.join("netd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    PathBuf::from(format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}
