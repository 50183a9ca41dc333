//! The embedded DNS server (run inside `netd`): one UDP + one TCP listener on each network's
//! gateway IP, port 53. The listener a query arrives on tells which network the client is on,
//! so a container only sees the names of the networks it is attached to (like dockerd's
//! per-network view). Names are the endpoints' aliases (service, container name, aliases,
//! `links`, `<service>.<project>`), matched case-insensitively without the trailing dot; all
//! addresses of a name are returned, rotated on each query (round robin for scaled services).
//! Other names are forwarded verbatim over UDP to the host's resolvers from `/etc/resolv.conf`
//! (not for internal networks, which get `REFUSED`).
//!
//! Wire format is hickory-proto (the protocol layer of hickory-server); the server loop is our
//! own ~100 lines because we need the per-listener view and raw forwarding, which hickory-server's
//! `RequestHandler` does not give without re-encoding every forwarded query.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType, rdata::A};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::state::State;

/// Per-network name tables: network name → lowercase name → addresses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Records {
    pub networks: BTreeMap<String, NetRecords>,
}

/// The names of one network.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetRecords {
    pub internal: bool,
    pub names: HashMap<String, Vec<Ipv4Addr>>,
}

impl Records {
    /// The records implied by the state (every endpoint's aliases).
    pub fn from_state(state: &State) -> Self {
        let mut networks = BTreeMap::new();
        for (name, n) in &state.networks {
            let mut names: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
            for ep in n.endpoints.values() {
                for a in &ep.aliases {
                    let key = normalize(a);
                    if key.is_empty() {
                        continue;
                    }
                    let v = names.entry(key).or_default();
                    if !v.contains(&ep.ipv4) {
                        v.push(ep.ipv4);
                    }
                }
            }
            networks.insert(
                name.clone(),
                NetRecords {
                    internal: n.internal,
                    names,
                },
            );
        }
        Records { networks }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// What to do with one query.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Send these bytes back.
    Local(Vec<u8>),
    /// Forward the query bytes upstream.
    Forward,
}

/// Answer `query` for a client of `network` (pure, used by the server and unit tests).
pub fn answer(records: &Records, network: &str, query: &[u8], rotate: usize) -> Reply {
    let Ok(req) = Message::from_vec(query) else {
        return Reply::Local(Vec::new());
    };
    let mut resp = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.clone());
    let net = records.networks.get(network);
    let Some(q) = req.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return Reply::Local(resp.to_vec().unwrap_or_default());
    };
    let name = normalize(&q.name().to_ascii());
    let found = net.and_then(|n| n.names.get(&name));
    match found {
        Some(ips) => {
            resp.metadata.authoritative = true;
            if matches!(q.query_type(), RecordType::A | RecordType::ANY) && !ips.is_empty() {
                let k = rotate % ips.len();
                for ip in ips[k..].iter().chain(ips[..k].iter()) {
                    resp.add_answer(Record::from_rdata(q.name().clone(), 600, RData::A(A(*ip))));
                }
            }
            // Other types for a known name: NOERROR with no data (no IPv6 on our networks).
            Reply::Local(resp.to_vec().unwrap_or_default())
        }
        None if net.is_some_and(|n| n.internal) || net.is_none() => {
            resp.metadata.response_code = ResponseCode::Refused;
            Reply::Local(resp.to_vec().unwrap_or_default())
        }
        None => Reply::Forward,
    }
}

/// The host's resolvers (`nameserver` lines of /etc/resolv.conf), excluding `exclude`.
pub fn host_resolvers(exclude: &[Ipv4Addr]) -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .filter(|ip| !matches!(ip, IpAddr::V4(v4) if exclude.contains(v4)))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Shared, live view used by all listeners of the process.
pub(crate) struct Shared {
    pub records: RwLock<Records>,
    pub upstreams: RwLock<Vec<SocketAddr>>,
    pub counter: AtomicUsize,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Shared {
            records: RwLock::new(Records::default()),
            upstreams: RwLock::new(Vec::new()),
            counter: AtomicUsize::new(0),
        })
    }

    async fn handle(&self, network: &str, query: &[u8]) -> Option<Vec<u8>> {
        let rotate = self.counter.fetch_add(1, Ordering::Relaxed);
        let reply = match self.records.read() {
            Ok(r) => answer(&r, network, query, rotate),
            Err(_) => return None,
        };
        match reply {
            Reply::Local(b) if b.is_empty() => None,
            Reply::Local(b) => Some(b),
            Reply::Forward => {
                let ups = self.upstreams.read().map(|u| u.clone()).unwrap_or_default();
                for up in ups {
                    if let Some(b) = forward(up, query).await {
                        return Some(b);
                    }
                }
                let req = Message::from_vec(query).ok()?;
                let mut resp =
                    Message::error_msg(req.metadata.id, OpCode::Query, ResponseCode::ServFail);
                resp.add_queries(req.queries);
                resp.to_vec().ok()
            }
        }
    }
}

async fn forward(up: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = tokio::net::UdpSocket::bind(bind).await.ok()?;
    s.connect(up).await.ok()?;
    s.send(query).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(Duration::from_secs(3), s.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The listeners of one network (stop them with [`Listener::stop`]).
pub(crate) struct Listener {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// Stop and wait until the sockets are closed.
    pub(crate) async fn stop(self) {
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Bind UDP and TCP `gateway:53` for `network` (inside a tokio runtime).
pub(crate) async fn listen(
    shared: Arc<Shared>,
    network: String,
    gateway: Ipv4Addr,
) -> std::io::Result<Listener> {
    let addr = SocketAddr::new(IpAddr::V4(gateway), 53);
    let udp = Arc::new(tokio::net::UdpSocket::bind(addr).await?);
    let tcp = tokio::net::TcpListener::bind(addr).await?;
    let (sh, net) = (shared.clone(), network.clone());
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let q = buf[..n].to_vec();
            let (sh, net, udp) = (sh.clone(), net.clone(), udp.clone());
            tokio::spawn(async move {
                if let Some(r) = sh.handle(&net, &q).await {
                    let _ = udp.send_to(&r, peer).await;
                }
            });
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = tcp.accept().await else {
                continue;
            };
            let (sh, net) = (shared.clone(), network.clone());
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    let read =
                        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut len));
                    if !matches!(read.await, Ok(Ok(_))) {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if conn.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let Some(r) = sh.handle(&net, &q).await else {
                        return;
                    };
                    let Ok(l) = u16::try_from(r.len()) else {
                        return;
                    };
                    if conn.write_all(&l.to_be_bytes()).await.is_err()
                        || conn.write_all(&r).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(Listener {
        tasks: vec![udp_task, tcp_task],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_str(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn ips(reply: Reply) -> Vec<Ipv4Addr> {
        let Reply::Local(b) = reply else {
            panic!("forwarded")
        };
        Message::from_vec(&b)
            .unwrap()
            .answers
            .iter()
            .filter_map(|r| match r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn views_round_robin_and_forward() {
        let mut r = Records::default();
        let a = |x| Ipv4Addr::new(10, 0, 0, x);
        r.networks.insert(
            "p_front".into(),
            NetRecords {
                internal: false,
                names: HashMap::from([("web".to_string(), vec![a(2), a(3), a(4)])]),
            },
        );
        r.networks.insert(
            "p_back".into(),
            NetRecords {
                internal: true,
                names: HashMap::from([("db".to_string(), vec![a(9)])]),
            },
        );
        assert_eq!(
            ips(answer(&r, "p_front", &query("WEB.", RecordType::A), 0)),
            vec![a(2), a(3), a(4)]
        );
        assert_eq!(
            ips(answer(&r, "p_front", &query("web", RecordType::A), 1)),
            vec![a(3), a(4), a(2)]
        );
        assert!(ips(answer(&r, "p_front", &query("web", RecordType::AAAA), 0)).is_empty());
        assert_eq!(
            answer(&r, "p_front", &query("db", RecordType::A), 0),
            Reply::Forward
        );
        assert_eq!(
            ips(answer(&r, "p_back", &query("db", RecordType::A), 0)),
            vec![a(9)]
        );
        let Reply::Local(b) = answer(&r, "p_back", &query("example.com", RecordType::A), 0) else {
            panic!()
        };
        assert_eq!(
            Message::from_vec(&b).unwrap().metadata.response_code,
            ResponseCode::Refused
        );
    }
}
