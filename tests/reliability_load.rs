//! Load (issue 8): 200 containers across four projects on one state root (one published
//! `front` plus 49 `app` replicas each, via `--scale`). While they all run, bounded request
//! loops on loopback check that the embedded DNS still answers and a published port still
//! serves every request. The figures (start and removal time, latencies, monitor memory) are
//! printed for RELIABILITY.md; none is asserted.

mod support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, UdpSocket};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use support::compose::ComposeEnv;
use support::probe;
use support::residue;

const PROJECT: &str = r#"
x-bb: &bb
  image: lab/busybox:1
  init: true
services:
  front:
    <<: *bb
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    ports: ["127.0.0.1::80"]
  app:
    <<: *bb
    command: ["sleep", "100000"]
"#;

const PROJECTS: usize = 4;
/// `app` replicas per project; with `front`, 50 containers each.
const APPS: u32 = 49;
/// Requests of each kind per project.
const REQUESTS: usize = 50;

/// One A query for `name` to `server:53`; the addresses answered.
fn dns_query(sock: &UdpSocket, server: Ipv4Addr, name: &str, id: u16) -> Option<Vec<Ipv4Addr>> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_str(name).ok()?, RecordType::A));
    sock.send_to(&m.to_vec().ok()?, (server, 53)).ok()?;
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).ok()?;
        let reply = Message::from_vec(&buf[..n]).ok()?;
        if reply.id != id {
            continue;
        }
        return Some(
            reply
                .answers
                .iter()
                .filter_map(|r| match r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect(),
        );
    }
}

/// The gateway of `network` and the address of `container` on it, from the network state.
fn addresses(env: &ComposeEnv, network: &str, container: &str) -> (Ipv4Addr, Ipv4Addr) {
    let st: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.state_root().join("network/state.json")).expect("network state"),
    )
    .expect("json");
    let n = &st["networks"][network];
    let ip = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse().ok()).expect("ipv4");
    (ip(&n["gateway"]), ip(&n["endpoints"][container]["ipv4"]))
}

/// Median and 99th percentile.
fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Proportional memory (PSS: shared pages split between their users) of the monitors of `env`'s
/// state root, in MiB, and how many there are.
fn monitors_pss_mib(env: &ComposeEnv) -> (usize, f64) {
    let dir = env.state_root().join("containers");
    let kib: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let st: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path().join("state.json")).ok()?).ok()?;
            let pid = st["monitor"]["pid"].as_i64()?;
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            rollup
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect();
    (kib.len(), kib.iter().sum::<u64>() as f64 / 1024.0)
}

#[test]
fn two_hundred_containers_and_dns_and_a_published_port_still_answer() {
    require_root!();
    let first = ComposeEnv::new("load", PROJECT);
    // Dropped before `first`, whose directory holds everyone's state.
    let siblings: Vec<ComposeEnv> = (1..PROJECTS)
        .map(|_| first.sibling("load", PROJECT))
        .collect();
    let envs: Vec<&ComposeEnv> = std::iter::once(&first).chain(&siblings).collect();
    let scale = format!("app={APPS}");
    let t = Instant::now();
    std::thread::scope(|s| {
        for env in &envs {
            let scale = &scale;
            s.spawn(move || env.ok(&["up", "-d", "--wait", "--scale", scale]));
        }
    });
    let up_time = t.elapsed();

    let mut ifnames = BTreeSet::new();
    let mut running = 0;
    for env in &envs {
        let ps = env.ps_json(&[]);
        assert_eq!(ps.len(), APPS as usize + 1, "{}", env.project);
        assert!(ps.iter().all(|c| c["State"] == "running"));
        running += ps.len();
        ifnames.extend(residue::network_ifnames(env));
    }
    assert_eq!(running, 200);
    let (monitors, pss) = monitors_pss_mib(&first);

    // Bounded loops, loopback only: DNS on each project's gateway, HTTP on each published port.
    let sock = UdpSocket::bind("0.0.0.0:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (mut dns, mut http) = (Vec::new(), Vec::new());
    for (k, env) in envs.iter().enumerate() {
        let front = format!("{}-front-1", env.project);
        let (gateway, ip) = addresses(env, &format!("{}_default", env.project), &front);
        for i in 0..REQUESTS {
            let t = Instant::now();
            let answer = dns_query(&sock, gateway, "front", (k * REQUESTS + i) as u16);
            dns.push(t.elapsed());
            assert_eq!(answer, Some(vec![ip]), "{}: query {i}", env.project);
        }
        let port_out = env.ok(&["port", "front", "80"]);
        let port: u16 = port_out
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("port {port_out:?}"));
        for i in 0..REQUESTS {
            let t = Instant::now();
            let body = probe::http_get(port, "/").unwrap_or_default();
            http.push(t.elapsed());
            assert!(
                body.contains("lab/busybox:1"),
                "{}: request {i}: {body:?}",
                env.project
            );
        }
    }

    let t = Instant::now();
    std::thread::scope(|s| {
        for env in &envs {
            s.spawn(move || env.ok(&["down", "-v", "-t", "0"]));
        }
    });
    let down_time = t.elapsed();
    for env in &envs {
        let left = residue::project_residue(env, &ifnames);
        assert!(
            left.is_empty(),
            "{}: left:\n{}",
            env.project,
            left.join("\n")
        );
    }
    let (dns50, dns99) = percentiles(dns);
    let (http50, http99) = percentiles(http);
    eprintln!(
        "load: {running} containers up in {up_time:?} ({PROJECTS} projects in parallel), \
         down -v in {down_time:?}; {monitors} monitors {pss:.0} MiB PSS; \
         DNS {} queries p50 {dns50:?} p99 {dns99:?}; HTTP {} requests p50 {http50:?} p99 {http99:?}",
        PROJECTS * REQUESTS,
        PROJECTS * REQUESTS,
    );
}
