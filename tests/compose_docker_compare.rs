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
//! Both engines use the same project name (a fresh one per run) in their own stores; rcompose
//! gets temp `--root`/`--run-root`. Guards take both projects down (`down -v`) and remove what
//! rcompose left in its temp roots, even when an assertion fails.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::busybox;
use support::peers::{ComposeCli, DockerCompose};

const IMAGE: &str = busybox::REFERENCE;
const SERVICES: [&str; 4] = ["db", "migrate", "web", "worker"];
const COMPARED_FIELDS: [&str; 6] = ["Name", "Service", "Project", "State", "Health", "ExitCode"];
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
    let bb = busybox::busybox();
    peer.ensure_image(IMAGE, &bb.docker_archive);
    let file = three_tier();
    let project = unique_project();
    let (docker_port, rc_port) = (free_port(), free_port());

    // rcompose's roots outlive its project guard (locals drop in reverse order).
    let roots = RcomposeRoots::new();
    let rcompose = ComposeCli::rcompose(&roots.root(), &roots.run_root(), &file, &project)
        .env("IMAGE", IMAGE)
        .env("WEB_PORT", &rc_port.to_string());
    let docker = peer
        .cli(&file, &project)
        .env("IMAGE", IMAGE)
        .env("WEB_PORT", &docker_port.to_string());

    // The reference: hashes for both environments, then the project up and as expected.
    let docker_hashes = config_hashes(&docker);
    let rc_env_hashes = config_hashes(&docker.clone().env("WEB_PORT", &rc_port.to_string()));
    let _docker_down = docker.down_on_drop();
    docker.ok(&["up", "-d", "--wait"]);
    let docker_ps = ps_by_service(&docker, true);
    assert_reference_state(&docker_ps, &docker_hashes);
    assert_eq!(web_page(docker_port), "hello from web (three-tier)\n");

    // rcompose: the same file, its own store and roots.
    rcompose.ok(&["image", "load", "-i", path_str(&bb.docker_archive)]);
    assert_eq!(
        config_hashes(&rcompose),
        rc_env_hashes,
        "config --hash '*' differs from docker compose's"
    );
    let in_docker_env = rcompose.clone().env("WEB_PORT", &docker_port.to_string());
    assert_eq!(
        config_hashes(&in_docker_env),
        docker_hashes,
        "config --hash '*' (docker's WEB_PORT) differs from docker compose's"
    );
    let _rcompose_down = rcompose.down_on_drop();
    rcompose.ok(&["up", "-d", "--wait"]);
    let rc_ps = ps_by_service(&rcompose, true);
    assert_eq!(web_page(rc_port), "hello from web (three-tier)\n");

    for service in SERVICES {
        let (d, r) = (&docker_ps[service], &rc_ps[service]);
        assert_eq!(
            json_shape(r),
            json_shape(d),
            "{service}: ps JSON keys/types"
        );
        for field in COMPARED_FIELDS {
            assert_eq!(r[field], d[field], "{service}: ps field {field}");
        }
        assert_eq!(
            publishers(r, rc_port),
            publishers(d, docker_port),
            "{service}: Publishers"
        );
        let (dl, rl) = (labels(d), labels(r));
        for key in COMPARED_LABELS {
            assert!(
                rl.contains_key(key),
                "{service}: rcompose lacks label {key}"
            );
        }
        assert_eq!(
            rl["com.docker.compose.config-hash"], rc_env_hashes[service],
            "{service}: rcompose's config-hash label"
        );
        if docker_hashes[service] == rc_env_hashes[service] {
            // Not touched by WEB_PORT: every compared label is equal across the engines.
            for key in COMPARED_LABELS {
                assert_eq!(rl[key], dl[key], "{service}: label {key}");
            }
        } else {
            for key in &COMPARED_LABELS[..4] {
                assert_eq!(rl[*key], dl[*key], "{service}: label {key}");
            }
        }
    }
    let running = |ps: &BTreeMap<String, Value>| ps.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        running(&ps_by_service(&rcompose, false)),
        running(&ps_by_service(&docker, false)),
        "services listed by `ps` (running only)"
    );
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
            labels(&ps[s])["com.docker.compose.config-hash"],
            hashes[s],
            "docker compose: {s}'s config-hash label vs config --hash"
        );
    }
}

/// `config --hash '*'`: service -> hash.
fn config_hashes(cli: &ComposeCli) -> BTreeMap<String, String> {
    let out = cli.ok(&["config", "--hash", "*"]);
    let hashes: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, h)| (s.to_string(), h.trim().to_string()))
        .collect();
    assert_eq!(
        hashes.keys().map(String::as_str).collect::<Vec<_>>(),
        SERVICES,
        "{}: config --hash '*' printed {out:?}",
        cli.label
    );
    hashes
}

/// `ps [-a] --format json`, one object per line, keyed by `Service`.
fn ps_by_service(cli: &ComposeCli, all: bool) -> BTreeMap<String, Value> {
    let args: &[&str] = if all {
        &["ps", "-a", "--format", "json"]
    } else {
        &["ps", "--format", "json"]
    };
    let out = cli.ok(args);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: ps line is not JSON ({e}): {l}", cli.label));
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

fn unique_project() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("cmp{}x{nanos:x}", std::process::id())
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// rcompose's temp state and run roots. On drop, after the project guard's `down -v`, removes any
/// container still listed there (a failed `up` or `down`), then the directory.
struct RcomposeRoots(tempfile::TempDir);

impl RcomposeRoots {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rccmp")
            .tempdir_in("/tmp")
            .expect("temp roots");
        RcomposeRoots(dir)
    }

    fn root(&self) -> PathBuf {
        self.0.path().join("root")
    }

    fn run_root(&self) -> PathBuf {
        self.0.path().join("run")
    }

    fn rcompose(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_rcompose"))
            .arg("--root")
            .arg(self.root())
            .arg("--run-root")
            .arg(self.run_root())
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for RcomposeRoots {
    fn drop(&mut self) {
        let listed = self.rcompose(&["container", "ls"]).unwrap_or_default();
        // `container ls`: a header, then ID, NAME, STATUS, EXIT columns.
        for name in listed
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1))
        {
            if self.rcompose(&["container", "rm", "-f", name]).is_none() {
                eprintln!("rcompose: could not remove leftover container {name}");
            }
        }
    }
}
