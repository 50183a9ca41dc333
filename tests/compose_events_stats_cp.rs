//! End-to-end sessions with `rcompose events`, `stats` and `cp` on real containers (root):
//! following a project's lifecycle events live and replaying them, measuring a busy and an
//! idle container, and copying files both ways, into running and stopped containers, through
//! volumes, as tar streams, and past hostile symlinks. Each test has its own roots and project.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::compose::ComposeEnv;

/// A long-running `rcompose` command whose stdout lines are collected; killed on drop.
struct Background {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Background {
    fn start(env: &ComposeEnv, args: &[&str]) -> Self {
        let mut child = env
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rcompose");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Background { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits up to `secs` for the collected lines to satisfy `done`; the lines.
    fn wait_for(&self, secs: u64, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let lines = self.lines();
            if done(&lines) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `(name, action)` pairs of `events --json` lines.
fn actions(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (
                v["attributes"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn of(events: &[(String, String)], name: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, a)| a.clone())
        .collect()
}

const EVENTS_PROJECT: &str = r#"
services:
  web:
    image: lab/busybox:1
    command: ["sleep", "1000"]
    labels: { team: "blue" }
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  worker:
    image: lab/busybox:1
    command: ["sleep", "1000"]
"#;

#[test]
fn events_follow_the_project_live_and_replay_its_history() {
    require_root!();
    let env = ComposeEnv::new("events", EVENTS_PROJECT);
    let p = env.project.clone();
    let (web, worker) = (format!("{p}-web-1"), format!("{p}-worker-1"));

    let live = Background::start(&env, &["events", "--json"]);
    let web_only = Background::start(&env, &["events", "--json", "web"]);
    // Let the followers open the log before anything happens.
    std::thread::sleep(Duration::from_millis(500));
    env.ok(&["up", "-d", "--wait"]);
    env.ok(&["pause", "worker"]);
    env.ok(&["unpause", "worker"]);
    env.ok(&["kill", "-s", "SIGUSR1", "worker"]);
    env.ok(&["stop", "-t", "0", "worker"]);
    env.ok(&["rm", "-f", "worker"]);
    let lines = live.wait_for(10, |l| of(&actions(l), &worker).contains(&"destroy".into()));
    let events = actions(&lines);
    assert_eq!(
        of(&events, &worker),
        [
            "create", "start", "pause", "unpause", "kill", "kill", "kill", "die", "stop", "destroy"
        ],
        "{lines:#?}"
    );
    let web_events = of(&events, &web);
    assert_eq!(web_events[..2], ["create", "start"], "{lines:#?}");
    assert!(
        web_events.contains(&"health_status: healthy".into()),
        "{lines:#?}"
    );

    // The JSON form: docker compose's keys, compose labels left out, the service's image.
    let create: Value = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["action"] == "create" && v["service"] == "web")
        .expect("web's create event");
    assert_eq!(create["type"], "container");
    assert_eq!(create["id"].as_str().unwrap().len(), 64);
    assert_eq!(create["attributes"]["image"], "lab/busybox:1");
    assert_eq!(create["attributes"]["team"], "blue");
    assert!(
        !create["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("com.docker.compose.")),
        "{create}"
    );
    let kills: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["action"] == "kill")
        .map(|v| v["attributes"]["signal"].clone())
        .collect();
    assert_eq!(
        kills,
        ["10", "15", "9"],
        "SIGUSR1, then stop's TERM and KILL"
    );

    // A service filter keeps only that service's containers.
    let filtered = web_only.wait_for(5, |l| !l.is_empty());
    assert!(!filtered.is_empty());
    assert!(
        actions(&filtered).iter().all(|(n, _)| *n == web),
        "{filtered:#?}"
    );

    // The history: replayed with --since, and --until ends the command by itself.
    let replay = env.ok(&["events", "--since", "5m", "--until", "0s"]);
    let worker_lines: Vec<&str> = replay.lines().filter(|l| l.contains(&worker)).collect();
    assert_eq!(worker_lines.len(), 10, "{replay}");
    assert!(
        worker_lines[0].contains(" container create ") && worker_lines[0].ends_with(&format!("(image=lab/busybox:1, name={worker}, org.opencontainers.image.title=lab/busybox, org.opencontainers.image.version=1)")),
        "{replay}"
    );
    assert!(
        replay.contains("\n\n"),
        "a blank line after each event, as docker compose prints"
    );
    let none = env.ok(&["events", "--since", "5m", "--until", "4m"]);
    assert!(none.is_empty(), "{none}");
    let err = env.fails(&["events", "--since", "bogus"]);
    assert!(
        err.contains("failed to parse value as time or duration: \"bogus\""),
        "{err}"
    );

    drop(live);
    drop(web_only);
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

fn stats_json(env: &ComposeEnv, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["stats", "--no-stream", "--format", "json"];
    args.extend_from_slice(extra);
    env.ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stats json line"))
        .collect()
}

fn percent(v: &Value) -> f64 {
    v.as_str().unwrap().trim_end_matches('%').parse().unwrap()
}

#[test]
fn stats_measure_busy_idle_and_stopped_containers() {
    require_root!();
    let env = ComposeEnv::new(
        "stats",
        r#"
services:
  busy:
    image: lab/busybox:1
    command: ["sh", "-c", "while :; do :; done"]
  idle:
    image: lab/busybox:1
    command: ["sh", "-c", "sleep 1000 & sleep 1000 & wait"]
  done:
    image: lab/busybox:1
    command: ["true"]
"#,
    );
    let p = env.project.clone();
    env.ok(&["up", "-d"]);

    let rows = stats_json(&env, &[]);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["Name"] == format!("{p}-{name}-1"))
            .unwrap_or_else(|| panic!("{name} in {rows:#?}"))
            .clone()
    };
    assert_eq!(rows.len(), 2, "running containers only: {rows:#?}");
    let (busy, idle) = (row("busy"), row("idle"));
    assert!(percent(&busy["CPUPerc"]) > 20.0, "{busy}");
    assert!(percent(&idle["CPUPerc"]) < 5.0, "{idle}");
    assert_eq!(idle["PIDs"], "3", "sh and its two sleeps");
    assert_eq!(busy["ID"].as_str().unwrap().len(), 12);
    assert_eq!(busy["Container"].as_str().unwrap().len(), 64);
    let mem = busy["MemUsage"].as_str().unwrap();
    assert!(mem.contains("iB / ") && !mem.starts_with("0B"), "{mem}");
    assert!(busy["NetIO"].as_str().unwrap().contains(" / "));

    // -a adds the exited container, all zeros; a service argument narrows the list.
    let all = stats_json(&env, &["-a"]);
    let done = all
        .iter()
        .find(|r| r["Name"] == format!("{p}-done-1"))
        .expect("exited container with -a");
    assert_eq!(done["MemUsage"], "0B / 0B");
    assert_eq!(done["CPUPerc"], "0.00%");
    assert_eq!(stats_json(&env, &["idle"]).len(), 1);

    let table = env.ok(&["stats", "--no-stream", "--no-trunc", "idle"]);
    let mut lines = table.lines();
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    );
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .len(),
        64
    );
    let names = env.ok(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, [format!("{p}-busy-1"), format!("{p}-idle-1")]);

    // The streaming view redraws in place until interrupted.
    let stream = Background::start(&env, &["stats", "idle"]);
    let frames = stream.wait_for(10, |l| {
        l.iter().filter(|l| l.contains("\x1b[H")).count() >= 2
    });
    assert!(
        frames.iter().filter(|l| l.contains("\x1b[H")).count() >= 2,
        "{frames:#?}"
    );
    assert!(frames.iter().any(|l| l.contains(&format!("{p}-idle-1"))));
    drop(stream);

    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

const CP_PROJECT: &str = r#"
services:
  app:
    image: lab/busybox:1
    command: ["sleep", "1000"]
    volumes: [data:/data]
  other:
    image: lab/busybox:1
    command: ["sleep", "1000"]
volumes:
  data:
"#;

fn cat(env: &ComposeEnv, args: &[&str]) -> String {
    let mut a = vec!["exec", "-T"];
    a.extend_from_slice(args);
    env.ok(&a)
}

#[test]
fn cp_copies_both_ways_into_running_and_stopped_containers() {
    require_root!();
    let env = ComposeEnv::new("cp", CP_PROJECT);
    let p = env.project.clone();
    let host = env.dir.path().join("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(host.join("tree/sub/deep.txt"), "deep\n").unwrap();
    let h = |rel: &str| host.join(rel).to_str().unwrap().to_string();
    env.ok(&["up", "-d"]);

    // A file into a directory, a file under a new name, a tree, a tree's contents.
    let out = env.run(&["cp", &h("hello.txt"), "app:/tmp/"]);
    assert!(out.status.success());
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains(&format!(
            " {p}-app-1 copy {} to {p}-app-1:/tmp/ Copied",
            h("hello.txt")
        )),
        "{progress}"
    );
    env.ok(&["cp", &h("hello.txt"), "app:/tmp/renamed.txt"]);
    env.ok(&["cp", &h("tree"), "app:/tmp/"]);
    env.ok(&["cp", &format!("{}/.", h("tree")), "app:/tmp/contents"]);
    assert_eq!(
        cat(&env, &["app", "cat", "/tmp/hello.txt", "/tmp/renamed.txt"]),
        "hello\nhello\n"
    );
    assert_eq!(
        cat(&env, &["app", "cat", "/tmp/tree/sub/deep.txt"]),
        "deep\n"
    );
    assert_eq!(
        cat(&env, &["app", "cat", "/tmp/contents/sub/deep.txt"]),
        "deep\n"
    );

    // Out of the container: a file, a directory, and into the named volume's view.
    cat(&env, &["app", "sh", "-c", "echo from-volume > /data/v.txt"]);
    env.ok(&["cp", "app:/data/v.txt", &h("v.txt")]);
    assert_eq!(
        std::fs::read_to_string(host.join("v.txt")).unwrap(),
        "from-volume\n"
    );
    env.ok(&["cp", "app:/tmp/tree", &h("back")]);
    assert_eq!(
        std::fs::read_to_string(host.join("back/sub/deep.txt")).unwrap(),
        "deep\n"
    );

    // `-`: a tar stream on stdout, and from stdin into a directory.
    let out = env.run(&["cp", "app:/tmp/tree", "-"]);
    let mut names: Vec<String> = tar::Archive::new(&out.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["tree/", "tree/sub/", "tree/sub/deep.txt"]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(6);
    hd.set_mode(0o600);
    tar.append_data(&mut hd, "streamed.txt", &b"piped\n"[..])
        .unwrap();
    let bytes = tar.into_inner().unwrap();
    let mut child = env
        .command(&["cp", "-", "app:/tmp"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(cat(&env, &["app", "cat", "/tmp/streamed.txt"]), "piped\n");

    // Ownership is kept only in archive mode.
    std::os::unix::fs::chown(host.join("hello.txt"), Some(1234), Some(5678)).unwrap();
    env.ok(&["cp", &h("hello.txt"), "app:/tmp/plain.txt"]);
    env.ok(&["cp", "-a", &h("hello.txt"), "app:/tmp/archived.txt"]);
    let owners = cat(
        &env,
        &[
            "app",
            "stat",
            "-c",
            "%u:%g",
            "/tmp/plain.txt",
            "/tmp/archived.txt",
        ],
    );
    assert_eq!(owners, "0:0\n1234:5678\n");

    // A stopped container: its rootfs and its volume are reachable, and stay consistent.
    env.ok(&["stop", "-t", "0", "app"]);
    env.ok(&["cp", &h("hello.txt"), "app:/data/while-stopped.txt"]);
    env.ok(&["cp", &h("hello.txt"), "app:/tmp/while-stopped.txt"]);
    env.ok(&[
        "cp",
        "app:/tmp/tree/sub/deep.txt",
        &h("deep-from-stopped.txt"),
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("deep-from-stopped.txt")).unwrap(),
        "deep\n"
    );
    let app_id = env.ok(&["ps", "-aq", "app"]).trim().to_string();
    assert_eq!(app_id.len(), 64);
    assert!(
        !env.leftover_mounts().iter().any(|m| m.contains(&app_id)),
        "nothing of the stopped copy stays mounted: {:?}",
        env.leftover_mounts()
    );
    env.ok(&["start", "app"]);
    assert_eq!(
        cat(
            &env,
            &[
                "app",
                "cat",
                "/data/while-stopped.txt",
                "/tmp/while-stopped.txt"
            ]
        ),
        "hello\nhello\n"
    );

    // docker's destination rules and errors.
    let e = env.fails(&["cp", &h("tree"), "app:/tmp/hello.txt"]);
    assert!(e.contains("cannot copy directory"), "{e}");
    let e = env.fails(&["cp", &h("hello.txt"), "app:/nowhere/x/"]);
    assert!(e.contains("no such directory"), "{e}");
    let e = env.fails(&["cp", "app:/nonexistent", &h("x")]);
    assert!(
        e.contains(&format!(
            "Could not find the file /nonexistent in container {p}-app-1"
        )),
        "{e}"
    );
    let e = env.fails(&["cp", "app:/tmp/hello.txt", "other:/tmp/"]);
    assert!(
        e.contains("copying between services is not supported"),
        "{e}"
    );
    let e = env.fails(&["cp", "nosuch:/tmp", &h("x")]);
    assert!(
        e.contains("no container found for service \"nosuch\""),
        "{e}"
    );
    let e = env.fails(&["cp", &h("nope.txt"), "app:/tmp/"]);
    assert!(
        e.contains(&format!(
            "lstat {}: no such file or directory",
            h("nope.txt")
        )),
        "{e}"
    );

    env.ok(&["down", "-v", "-t", "0"]);
    env.assert_clean();
}

#[test]
fn cp_never_follows_a_containers_symlinks_onto_the_host() {
    require_root!();
    let env = ComposeEnv::new("cpevil", CP_PROJECT);
    let host = env.dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("marker"), "marker\n").unwrap();
    let h = |rel: &str| host.join(rel).to_str().unwrap().to_string();
    env.ok(&["up", "-d"]);
    let marker = format!("rcompose-cp-test-{}", env.project);
    cat(
        &env,
        &[
            "app",
            "sh",
            "-c",
            "ln -s ../../../../../../etc /tmp/up; ln -s /etc /tmp/abs; ln -s ../../../../etc/passwd /tmp/pw; echo container-root > /etc/which",
        ],
    );

    // Writes through the container's symlinks land in the container's /etc, not the host's.
    env.ok(&["cp", &h("marker"), &format!("app:/tmp/up/{marker}")]);
    env.ok(&["cp", &h("marker"), &format!("app:/tmp/abs/{marker}-abs")]);
    assert!(!std::path::Path::new("/etc").join(&marker).exists());
    assert!(
        !std::path::Path::new("/etc")
            .join(format!("{marker}-abs"))
            .exists()
    );
    assert_eq!(
        cat(
            &env,
            &[
                "app",
                "cat",
                &format!("/etc/{marker}"),
                &format!("/etc/{marker}-abs")
            ]
        ),
        "marker\nmarker\n"
    );

    // Reads through them (`-L`) read the container's files.
    env.ok(&["cp", "-L", "app:/tmp/up/which", &h("which")]);
    assert_eq!(
        std::fs::read_to_string(host.join("which")).unwrap(),
        "container-root\n"
    );
    let container_passwd = cat(&env, &["app", "cat", "/etc/passwd"]);
    env.ok(&["cp", "-L", "app:/tmp/pw", &h("passwd")]);
    assert_eq!(
        std::fs::read_to_string(host.join("passwd")).unwrap(),
        container_passwd
    );

    // A symlink that would point out of the destination is refused, like docker does.
    let e = env.fails(&["cp", "app:/tmp/pw", &h("pw")]);
    assert!(
        e.contains(&format!(
            "invalid symlink \"{}\" -> \"../../../../etc/passwd\"",
            h("pw")
        )),
        "{e}"
    );
    assert!(std::fs::symlink_metadata(host.join("pw")).is_err());
    // An absolute one is kept as it is (it names a path, it is not followed).
    env.ok(&["cp", "app:/tmp/abs", &h("abs")]);
    assert_eq!(
        std::fs::read_link(host.join("abs")).unwrap(),
        std::path::Path::new("/etc")
    );
    assert!(
        std::fs::symlink_metadata(host.join("abs"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    env.ok(&["down", "-v", "-t", "0"]);
    env.assert_clean();
}

#[test]
fn cp_into_a_scaled_service_reaches_every_replica_or_the_chosen_one() {
    require_root!();
    let env = ComposeEnv::new(
        "cpscale",
        r#"
services:
  app:
    image: lab/busybox:1
    command: ["sleep", "1000"]
    scale: 2
"#,
    );
    let host = env.dir.path().join("f.txt");
    std::fs::write(&host, "all\n").unwrap();
    let hp = host.to_str().unwrap();
    env.ok(&["up", "-d"]);
    env.ok(&["cp", hp, "app:/tmp/all.txt"]);
    std::fs::write(&host, "second\n").unwrap();
    env.ok(&["cp", "--index", "2", hp, "app:/tmp/only2.txt"]);
    for i in ["1", "2"] {
        assert_eq!(
            cat(&env, &["--index", i, "app", "cat", "/tmp/all.txt"]),
            "all\n"
        );
    }
    assert_eq!(
        cat(&env, &["--index", "2", "app", "cat", "/tmp/only2.txt"]),
        "second\n"
    );
    let out = env.run(&[
        "exec",
        "-T",
        "--index",
        "1",
        "app",
        "test",
        "-e",
        "/tmp/only2.txt",
    ]);
    assert_eq!(out.status.code(), Some(1), "not copied into replica 1");
    let e = env.fails(&["cp", "--index", "3", hp, "app:/tmp/"]);
    assert!(
        e.contains("service \"app\" is not running container #3"),
        "{e}"
    );
    let mut back = String::new();
    let out = env.run(&["cp", "--index", "2", "app:/tmp/only2.txt", "-"]);
    tar::Archive::new(&out.stdout[..])
        .entries()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .read_to_string(&mut back)
        .unwrap();
    assert_eq!(back, "second\n");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
