//! The same project, `compose-examples/three-tier`, brought up by docker compose v2 (the
//! reference, when `docker-compose-v2` and a dockerd are available; otherwise the test says why
//! and passes) and by rcompose, then compared the way a user would see differences:
//!
//! - `config --hash '*'`: the same hash per service from both tools, for either engine's
//!   environment (the engines publish web on different host ports, chosen through `WEB_PORT`);
//! - `ps -a --format json` (one JSON object per line): the same keys with the same JSON types,
//!   and per service the same `Name`, `Service`, `Project`, `State`, `Health`, `ExitCode`,
//!   `Publishers` (each engine on its own host port) and `com.docker.compose.*` labels
//!   `project`, `service`, `container-number`, `oneoff`, `config-hash` (the hash `config --hash`
//!   gives for that engine's environment); `ps --format json` lists the same services;
//! - web answers on each engine's published port.
//!
//! Both engines run the same project directory (a temp copy of the example, whose `.env` sets
//! `IMAGE` and rcompose's `WEB_PORT`; docker gets its own `WEB_PORT` from the environment) under
//! the same, fresh project name. rcompose has its own state and run roots, cgroup parent and
//! address pool (`support::compose::ComposeEnv`). Guards take both projects down (`down -v`) and
//! remove what rcompose left (mounts, cgroups, temp dirs), even when an assertion fails.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::busybox;
use support::compose::ComposeEnv;
use support::peers::DockerCompose;

const IMAGE: &str = busybox::REFERENCE;
const SERVICES: [&str; 4] = ["db", "migrate", "web", "worker"];
const COMPARED_FIELDS: [&str; 6] = ["Name", "Service", "Project", "State", "Health", "ExitCode"];
const HASH_LABEL: &str = "com.docker.compose.config-hash";
const COMPARED_LABELS: [&str; 5] = [
    "com.docker.compose.project",
    "com.docker.compose.service",
    "com.docker.compose.container-number",
    "com.docker.compose.oneoff",
    "com.docker.compose.config-hash",
];

#[test]
fn three_tier_looks_the_same_under_rcompose_and_docker_compose() {
    require_root!();
    let peer = match DockerCompose::detect() {
        Ok(peer) => peer,
        Err(why) => {
            eprintln!("skipping the comparison with docker compose v2: {why}");
            return;
        }
    };
    peer.ensure_image(IMAGE, &busybox::busybox().docker_archive);
    let (docker_port, rc_port) = (free_port(), free_port());
    let example = fs::read_to_string(three_tier()).expect("read the three-tier example");
    // Dropped last: rcompose's `down -v`, then its mounts, cgroups and temp roots.
    let rc = ComposeEnv::new("cmp", &example);
    rc.write(".env", &format!("IMAGE={IMAGE}\nWEB_PORT={rc_port}\n"));
    let file = rc.project_dir().join("compose.yaml");
    let docker = peer
        .cli(&file, &rc.project)
        .env("WEB_PORT", &docker_port.to_string());
    let docker_in_rc_env = docker.clone().env("WEB_PORT", &rc_port.to_string());
    let rcompose = |args: &[&str]| rc.ok(args);
    let rcompose_in_docker_env = |args: &[&str]| {
        let out = rc
            .command(args)
            .env("WEB_PORT", docker_port.to_string())
            .output()
            .expect("run rcompose");
        assert!(
            out.status.success(),
            "rcompose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // The hashes both tools compute, for either engine's environment.
    let docker_hashes = config_hashes("docker compose", &|a: &[&str]| docker.ok(a));
    let rc_env_hashes = config_hashes("docker compose", &|a: &[&str]| docker_in_rc_env.ok(a));
    assert_eq!(
        config_hashes("rcompose", &rcompose),
        rc_env_hashes,
        "config --hash '*'"
    );
    assert_eq!(
        config_hashes("rcompose", &rcompose_in_docker_env),
        docker_hashes,
        "config --hash '*' (docker's WEB_PORT)"
    );

    // The reference: up, and as expected.
    let _docker_down = docker.down_on_drop();
    docker.ok(&["up", "-d", "--wait"]);
    let docker_ps = ps_by_service("docker compose", &|a: &[&str]| docker.ok(a), true);
    assert_reference_state(&docker_ps, &docker_hashes);
    assert_eq!(web_page(docker_port), "hello from web (three-tier)\n");

    // rcompose on the same directory.
    rc.ok(&["up", "-d", "--wait"]);
    let rc_ps = ps_by_service("rcompose", &rcompose, true);
    assert_eq!(web_page(rc_port), "hello from web (three-tier)\n");

    // Every difference is collected, then reported together.
    let mut diffs = Diffs::default();
    for service in SERVICES {
        let (d, r) = (
            &docker_ps[service],
            &rc_ps.get(service).cloned().unwrap_or_default(),
        );
        diffs.check(service, "ps JSON keys/types", json_shape(r), json_shape(d));
        for field in COMPARED_FIELDS {
            diffs.check(service, field, &r[field], &d[field]);
        }
        let (rp, dp) = (publishers(r, rc_port), publishers(d, docker_port));
        diffs.check(service, "Publishers", rp, dp);
        let (rl, dl) = (labels(r), labels(d));
        diffs.check(
            service,
            "config-hash label vs rcompose config --hash",
            rl.get(HASH_LABEL),
            Some(&rc_env_hashes[service]),
        );
        // WEB_PORT differs between the engines, so web's hash does too; the rest is equal.
        let same_config = docker_hashes[service] == rc_env_hashes[service];
        for key in COMPARED_LABELS {
            if same_config || key != HASH_LABEL {
                diffs.check(service, key, rl.get(key), dl.get(key));
            }
        }
    }
    let listed = |ps: BTreeMap<String, Value>| ps.into_keys().collect::<BTreeSet<_>>();
    diffs.check(
        "project",
        "services listed by `ps` (running only)",
        listed(ps_by_service("rcompose", &rcompose, false)),
        listed(ps_by_service(
            "docker compose",
            &|a: &[&str]| docker.ok(a),
            false,
        )),
    );
    assert!(
        diffs.0.is_empty(),
        "rcompose (left) differs from docker compose v2 (right):\n{}",
        diffs.0.join("\n")
    );
}

/// Differences found so far, one line each.
#[derive(Default)]
struct Diffs(Vec<String>);

impl Diffs {
    fn check<T: PartialEq + std::fmt::Debug>(
        &mut self,
        service: &str,
        what: &str,
        rc: T,
        docker: T,
    ) {
        if rc != docker {
            self.0
                .push(format!("{service}: {what}: {rc:?} != {docker:?}"));
        }
    }
}

/// What docker compose itself must show for three-tier after `up --wait`: it anchors the
/// comparison (a broken peer setup fails here, not as an rcompose difference).
fn assert_reference_state(ps: &BTreeMap<String, Value>, hashes: &BTreeMap<String, String>) {
    let names: Vec<&str> = ps.keys().map(String::as_str).collect();
    assert_eq!(names, SERVICES, "docker compose ps -a services");
    let state = |s: &str| {
        (
            ps[s]["State"].as_str(),
            ps[s]["Health"].as_str(),
            ps[s]["ExitCode"].as_i64(),
        )
    };
    assert_eq!(state("db"), (Some("running"), Some("healthy"), Some(0)));
    assert_eq!(state("migrate"), (Some("exited"), Some(""), Some(0)));
    assert_eq!(state("web"), (Some("running"), Some(""), Some(0)));
    assert_eq!(state("worker"), (Some("running"), Some(""), Some(0)));
    for s in SERVICES {
        assert_eq!(
            labels(&ps[s])[HASH_LABEL],
            hashes[s],
            "docker compose: {s}'s config-hash label vs config --hash"
        );
    }
}

/// A tool's runner: arguments in, stdout out (panics on failure).
type Run<'a> = dyn Fn(&[&str]) -> String + 'a;

/// `config --hash '*'`: service -> hash.
fn config_hashes(tool: &str, run: &Run) -> BTreeMap<String, String> {
    let out = run(&["config", "--hash", "*"]);
    let hashes: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, h)| (s.to_string(), h.trim().to_string()))
        .collect();
    assert_eq!(
        hashes.keys().map(String::as_str).collect::<Vec<_>>(),
        SERVICES,
        "{tool}: config --hash '*' printed {out:?}"
    );
    hashes
}

/// `ps [-a] --format json`, one object per line, keyed by `Service`.
fn ps_by_service(tool: &str, run: &Run, all: bool) -> BTreeMap<String, Value> {
    let args: &[&str] = if all {
        &["ps", "-a", "--format", "json"]
    } else {
        &["ps", "--format", "json"]
    };
    run(args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{tool}: ps line is not JSON ({e}): {l}"));
            let service = v["Service"].as_str().unwrap_or_default().to_string();
            (service, v)
        })
        .collect()
}

/// Keys of a ps object with the JSON type of each value.
fn json_shape(v: &Value) -> BTreeMap<String, &'static str> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), kind(v))).collect())
        .unwrap_or_default()
}

/// `Publishers`, sorted, with the engine's own host port replaced by a marker.
fn publishers(v: &Value, own_port: u16) -> Vec<Value> {
    let mut list: Vec<Value> = v["Publishers"].as_array().cloned().unwrap_or_default();
    for p in &mut list {
        if p["PublishedPort"].as_u64() == Some(u64::from(own_port)) {
            p["PublishedPort"] = Value::from("<WEB_PORT>");
        }
    }
    list.sort_by_key(|p| p.to_string());
    list
}

/// `Labels` as docker compose prints them in ps JSON, `k=v,k=v` (a value may hold commas, e.g.
/// `depends_on`, but no `=`); an object is accepted too.
fn labels(v: &Value) -> BTreeMap<String, String> {
    if let Some(o) = v["Labels"].as_object() {
        return o
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
    }
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for piece in v["Labels"].as_str().unwrap_or_default().split(',') {
        match (piece.split_once('='), &last) {
            (Some((k, val)), _) => {
                out.insert(k.to_string(), val.to_string());
                last = Some(k.to_string());
            }
            (None, Some(k)) => {
                if let Some(val) = out.get_mut(k) {
                    val.push(',');
                    val.push_str(piece);
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// The body of `GET /` on 127.0.0.1:`port`.
fn web_page(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to web");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response.lines().next().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.") && status.contains(" 200 "),
        "web answered: {response}"
    );
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

fn three_tier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples/three-tier/compose.yaml")
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
