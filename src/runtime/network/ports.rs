//! Published ports: the request type, the `check_ports` preflight (with the holder of a busy
//! port read from `/proc`), host-port choice, and the userland proxies run by `netd`.
//!
//! See the module doc of [`super`] for why ports use nftables DNAT *and* a userland proxy.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{NetError, Result};

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// Which host port to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPort {
    /// Exactly this port.
    Fixed(u16),
    /// The first free port of this inclusive range (`"8000-8010:80"`).
    Range(u16, u16),
    /// Any free port chosen by the kernel (`"80"` alone).
    Any,
}

/// One port to publish: host side → container side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBinding {
    pub protocol: Protocol,
    /// `None` = all IPv4 addresses (`0.0.0.0`). May be IPv4 (incl. `127.0.0.1`) or IPv6.
    pub host_ip: Option<IpAddr>,
    pub host_port: HostPort,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl PortBinding {
    /// The address the host side binds.
    pub fn bind_ip(&self) -> IpAddr {
        self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Expand compose's `HOST_RANGE:CONTAINER_RANGE` of equal length into one binding per port.
    pub fn expand_range(
        protocol: Protocol,
        host_ip: Option<IpAddr>,
        host: Option<(u16, u16)>,
        container: (u16, u16),
        container_ip: Ipv4Addr,
    ) -> Result<Vec<PortBinding>> {
        let (cs, ce) = container;
        if ce < cs {
            return Err(NetError::Invalid {
                what: "port range",
                value: format!("{cs}-{ce}"),
                reason: "end before start".into(),
            });
        }
        let n = ce - cs;
        match host {
            Some((hs, he)) if he - hs.min(he) == n && he >= hs => Ok((0..=n)
                .map(|i| PortBinding {
                    protocol,
                    host_ip,
                    host_port: HostPort::Fixed(hs + i),
                    container_ip,
                    container_port: cs + i,
                })
                .collect()),
            Some((hs, he)) if n == 0 && he >= hs => Ok(vec![PortBinding {
                protocol,
                host_ip,
                host_port: HostPort::Range(hs, he),
                container_ip,
                container_port: cs,
            }]),
            Some((hs, he)) => Err(NetError::Invalid {
                what: "port range",
                value: format!("{hs}-{he}:{cs}-{ce}"),
                reason: "host and container ranges differ in length".into(),
            }),
            None => Ok((0..=n)
                .map(|i| PortBinding {
                    protocol,
                    host_ip,
                    host_port: HostPort::Any,
                    container_ip,
                    container_port: cs + i,
                })
                .collect()),
        }
    }
}

/// A bound socket for `addr`: TCP listening (with SO_REUSEADDR), UDP bound. IPv6 sockets are
/// IPv6-only, so `[::]:P` and `0.0.0.0:P` are two bindings that coexist, as with dockerd.
fn bind_socket(proto: Protocol, addr: SocketAddr) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt,
        socket, sockopt,
    };
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let ty = match proto {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let fd = socket(
        family,
        ty,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if proto == Protocol::Tcp {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )?;
    if proto == Protocol::Tcp {
        listen(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN))?;
    }
    Ok(fd)
}

fn local_port(fd: &std::os::fd::OwnedFd) -> std::io::Result<u16> {
    use nix::sys::socket::{SockaddrStorage, getsockname};
    let a: SockaddrStorage = getsockname(std::os::fd::AsRawFd::as_raw_fd(fd))?;
    Ok(a.as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| a.as_sockaddr_in6().map(|a| a.port()))
        .unwrap_or(0))
}

/// Try to bind `addr` now (the socket is closed again at once).
pub(crate) fn try_bind(proto: Protocol, addr: SocketAddr) -> std::io::Result<u16> {
    local_port(&bind_socket(proto, addr)?)
}

/// Resolve the host port of `b` now: a fixed port is returned as is when bindable, a range
/// gives its first bindable port, `Any` a kernel-chosen free port.
pub(crate) fn choose_port(b: &PortBinding, taken: &[(Protocol, IpAddr, u16)]) -> Result<u16> {
    let ip = b.bind_ip();
    let busy = |port: u16| {
        taken
            .iter()
            .any(|(p, i, q)| *p == b.protocol && *q == port && ips_clash(*i, ip))
    };
    match b.host_port {
        HostPort::Fixed(p) => {
            if busy(p) {
                return Err(in_use(
                    b.protocol,
                    ip,
                    p,
                    Some("another rcompose container".into()),
                ));
            }
            Ok(p)
        }
        HostPort::Range(s, e) => (s..=e)
            .find(|p| !busy(*p) && try_bind(b.protocol, SocketAddr::new(ip, *p)).is_ok())
            .ok_or_else(|| in_use(b.protocol, ip, s, Some(format!("every port of {s}-{e}")))),
        HostPort::Any => {
            for _ in 0..16 {
                let p = try_bind(b.protocol, SocketAddr::new(ip, 0))
                    .map_err(|e| NetError::io("bind", format!("{ip}:0"), e))?;
                if !busy(p) {
                    return Ok(p);
                }
            }
            Err(in_use(b.protocol, ip, 0, None))
        }
    }
}

/// Two bindings of one port conflict when their addresses overlap: equal, or a wildcard of the
/// same family (IPv6 sockets are IPv6-only, so `0.0.0.0` and `::` do not overlap).
fn ips_clash(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

fn in_use(proto: Protocol, addr: IpAddr, port: u16, holder: Option<String>) -> NetError {
    NetError::PortInUse {
        proto,
        addr,
        port,
        holder,
    }
}

/// The preflight: every fixed host port of `bindings` must be bindable right now (and not used
/// twice in `bindings`). The error names the port and, when `/proc` tells, the holding process.
pub fn check_ports(bindings: &[PortBinding]) -> Result<()> {
    let mut seen: Vec<(Protocol, IpAddr, u16)> = Vec::new();
    for b in bindings {
        let ip = b.bind_ip();
        let HostPort::Fixed(port) = b.host_port else {
            continue;
        };
        if seen
            .iter()
            .any(|(p, i, q)| *p == b.protocol && *q == port && ips_clash(*i, ip))
        {
            return Err(in_use(
                b.protocol,
                ip,
                port,
                Some("this project (published twice)".into()),
            ));
        }
        seen.push((b.protocol, ip, port));
        if let Err(e) = try_bind(b.protocol, SocketAddr::new(ip, port)) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(in_use(b.protocol, ip, port, port_holder(b.protocol, port)));
            }
            return Err(NetError::io("bind", format!("{ip}:{port}"), e));
        }
    }
    Ok(())
}

/// `"pid 1234 (nginx)"` for the process holding a local `proto` socket on `port`, if found.
pub fn port_holder(proto: Protocol, port: u16) -> Option<String> {
    let files: &[&str] = match proto {
        Protocol::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => &["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut inodes = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 {
                continue;
            }
            let Some((_, p)) = cols[1].rsplit_once(':') else {
                continue;
            };
            // TCP: only LISTEN (0A) sockets hold a port for binding purposes.
            if u16::from_str_radix(p, 16).ok() == Some(port)
                && (proto == Protocol::Udp || cols[3] == "0A")
            {
                inodes.push(cols[9].to_string());
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if inodes.iter().any(|i| t == format!("socket:[{i}]")) {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    Some("a process in another namespace or the kernel".into())
}

/// A running proxy for one published port (in `netd`); dropping it stops the proxy.
pub(crate) struct Proxy {
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Stop and wait until the listening socket is closed.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Bind `host` and forward to `target` (must be called inside a tokio runtime).
pub(crate) async fn start_proxy(
    proto: Protocol,
    host: SocketAddr,
    target: SocketAddr,
) -> std::io::Result<Proxy> {
    let task = match proto {
        Protocol::Tcp => {
            let l = tokio::net::TcpListener::from_std(std::net::TcpListener::from(bind_socket(
                proto, host,
            )?))?;
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = l.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        if let Ok(Ok(mut out)) = tokio::time::timeout(
                            Duration::from_secs(5),
                            tokio::net::TcpStream::connect(target),
                        )
                        .await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                }
            })
        }
        Protocol::Udp => {
            let sock = Arc::new(tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(
                bind_socket(proto, host)?,
            ))?);
            tokio::spawn(udp_proxy(sock, target))
        }
    };
    Ok(Proxy { task })
}

async fn udp_proxy(sock: Arc<tokio::net::UdpSocket>, target: SocketAddr) {
    let flows: Arc<std::sync::Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>> =
        Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let existing = flows.lock().ok().and_then(|m| m.get(&client).cloned());
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = tokio::net::UdpSocket::bind(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    0,
                ))
                .await
                else {
                    continue;
                };
                if u.connect(target).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                if let Ok(mut m) = flows.lock() {
                    m.insert(client, u.clone());
                }
                let (back, u2, flows2) = (sock.clone(), u.clone(), flows.clone());
                tokio::spawn(async move {
                    let mut rbuf = vec![0u8; 65536];
                    // A flow lives until it has been idle for a minute (like conntrack's UDP).
                    while let Ok(Ok(m)) =
                        tokio::time::timeout(Duration::from_secs(60), u2.recv(&mut rbuf)).await
                    {
                        let _ = back.send_to(&rbuf[..m], client).await;
                    }
                    if let Ok(mut m) = flows2.lock() {
                        m.remove(&client);
                    }
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ip = Ipv4Addr::new(10, 0, 0, 2);
        let v = PortBinding::expand_range(Protocol::Tcp, None, Some((8000, 8002)), (80, 82), ip)
            .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].host_port, HostPort::Fixed(8002));
        assert_eq!(v[2].container_port, 82);
        let v = PortBinding::expand_range(Protocol::Udp, None, Some((9000, 9010)), (53, 53), ip)
            .unwrap();
        assert_eq!(v[0].host_port, HostPort::Range(9000, 9010));
        assert!(
            PortBinding::expand_range(Protocol::Tcp, None, Some((1, 3)), (80, 81), ip).is_err()
        );
        let v = PortBinding::expand_range(Protocol::Tcp, None, None, (80, 81), ip).unwrap();
        assert_eq!(v[1].host_port, HostPort::Any);
    }

    #[test]
    fn busy_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let b = PortBinding {
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: HostPort::Fixed(port),
            container_ip: Ipv4Addr::new(10, 0, 0, 2),
            container_port: 80,
        };
        let err = check_ports(&[b]).unwrap_err().to_string();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
    }
}
