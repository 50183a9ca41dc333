//! End-to-end sessions with `rcompose up` and friends on real containers (root): the three-tier
//! project of the issue, reconcile after an edit, scaling, attached mode, failing dependencies,
//! port conflicts and concurrent commands. Each test has its own roots and project name.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use support::compose::ComposeEnv;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to published port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

fn three_tier(port: u16, worker_msg: &str, db_env: &str) -> String {
    format!(
        r#"
x-bb: &bb
  image: lab/busybox:1
  init: true
services:
  db:
    <<: *bb
    command: ["sh", "-c", "mkdir -p /data && echo ready > /data/state && exec httpd -f -p 5432 -h /data"]
    environment: {{ DB_FLAVOUR: "{db_env}" }}
    volumes: [dbdata:/data]
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/state"]
      interval: 2s
  migrate:
    <<: *bb
    command: ["sh", "-c", "echo migrated > /data/migrated"]
    volumes: [dbdata:/data]
    depends_on:
      db: {{ condition: service_healthy }}
  web:
    <<: *bb
    command: ["sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1:{port}:8080"]
    depends_on:
      db: {{ condition: service_healthy, restart: true }}
      migrate: {{ condition: service_completed_successfully }}
  worker:
    <<: *bb
    command: ["sh", "-c", "echo {worker_msg}; exec sleep 1000"]
    depends_on:
      migrate: {{ condition: service_completed_successfully }}
volumes:
  dbdata:
"#
    )
}

fn by_service(ps: &[serde_json::Value], service: &str) -> Vec<serde_json::Value> {
    ps.iter()
        .filter(|c| c["Service"] == service)
        .cloned()
        .collect()
}

#[test]
fn three_tier_session_up_edit_scale_down() {
    require_root!();
    let port = free_port();
    let env = ComposeEnv::new("tier", &three_tier(port, "v1", "a"));
    let p = env.project.clone();

    env.ok(&["up", "-d", "--wait"]);
    let ps = env.ps_json(&["-a"]);
    assert_eq!(by_service(&ps, "db")[0]["Health"], "healthy", "{ps:#?}");
    assert_eq!(by_service(&ps, "db")[0]["State"], "running");
    assert_eq!(by_service(&ps, "migrate")[0]["State"], "exited");
    assert_eq!(by_service(&ps, "migrate")[0]["ExitCode"], 0);
    assert_eq!(by_service(&ps, "web")[0]["Name"], format!("{p}-web-1"));
    assert!(
        http_get(port, "/").contains("hello-web"),
        "web answers on its published port"
    );

    // Containers reach each other by service name through the embedded DNS.
    let state = env.ok(&["exec", "-T", "web", "wget", "-qO-", "http://db:5432/state"]);
    assert_eq!(state.trim(), "ready");

    // A no-op `up` keeps every running container as it is.
    let pid = |c: &str| {
        env.pid_of(&format!("{p}-{c}-1"))
            .expect("running container pid")
    };
    let (db1, web1, worker1) = (pid("db"), pid("web"), pid("worker"));
    env.ok(&["up", "-d"]);
    assert_eq!((pid("db"), pid("web"), pid("worker")), (db1, web1, worker1));

    // Editing the worker recreates only the worker.
    env.write("compose.yaml", &three_tier(port, "v2", "a"));
    env.ok(&["up", "-d"]);
    assert_ne!(pid("worker"), worker1, "worker recreated");
    assert_eq!((pid("db"), pid("web")), (db1, web1), "db and web untouched");
    let logs = env.ok(&["logs", "worker"]);
    assert!(logs.contains("v2"), "{logs}");

    // Editing db recreates it and restarts web (`restart: true`), not the worker.
    let worker2 = pid("worker");
    env.write("compose.yaml", &three_tier(port, "v2", "b"));
    env.ok(&["up", "-d", "--wait"]);
    assert_ne!(pid("db"), db1, "db recreated");
    assert_ne!(pid("web"), web1, "web restarted with its dependency");
    assert_eq!(pid("worker"), worker2, "worker untouched");
    assert!(http_get(port, "/").contains("hello-web"));

    // Scale the worker up and down: the highest numbers go first.
    env.ok(&["up", "-d", "--scale", "worker=3"]);
    let workers: Vec<String> = by_service(&env.ps_json(&[]), "worker")
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(workers, [1, 2, 3].map(|n| format!("{p}-worker-{n}")));
    env.ok(&["up", "-d", "--scale", "worker=1"]);
    let workers = by_service(&env.ps_json(&["-a"]), "worker");
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["Name"], format!("{p}-worker-1"));

    env.ok(&["down", "-v"]);
    assert!(env.ps_json(&["-a"]).is_empty());
    assert!(
        !env.state_root()
            .join("volumes")
            .join(format!("{p}_dbdata"))
            .exists(),
        "named volume removed by down -v"
    );
    env.assert_clean();
}

#[test]
fn attached_up_returns_the_exit_code_of_the_chosen_service() {
    require_root!();
    let env = ComposeEnv::new(
        "attach",
        r#"
services:
  job:
    image: lab/busybox:1
    command: ["sh", "-c", "echo hello from job; sleep 0.5; exit 3"]
  idle:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
"#,
    );
    let out = env.run(&["up", "--exit-code-from", "job", "--no-color"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("job-1  | hello from job"), "{stdout}");
    assert!(stdout.contains("job-1 exited with code 3"), "{stdout}");
    let ps = env.ps_json(&["-a"]);
    assert!(
        ps.iter().all(|c| c["State"] == "exited"),
        "everything stopped: {ps:#?}"
    );
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn an_unhealthy_dependency_fails_up_with_its_name() {
    require_root!();
    let env = ComposeEnv::new(
        "unhealthy",
        r#"
services:
  db:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 300ms
      retries: 2
  app:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
    depends_on:
      db: { condition: service_healthy }
"#,
    );
    let err = env.fails(&["up", "-d"]);
    assert!(
        err.contains(&format!(
            "dependency failed to start: container {}-db-1 is unhealthy",
            env.project
        )),
        "{err}"
    );
    let ps = env.ps_json(&["-a"]);
    assert!(
        by_service(&ps, "app").is_empty(),
        "app never created: {ps:#?}"
    );
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn a_taken_port_is_reported_before_anything_starts() {
    require_root!();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let env = ComposeEnv::new(
        "portclash",
        &format!(
            r#"
services:
  first:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
  web:
    image: lab/busybox:1
    command: ["httpd", "-f", "-p", "80"]
    ports: ["127.0.0.1:{port}:80"]
"#
        ),
    );
    let err = env.fails(&["up", "-d"]);
    assert!(err.contains(&port.to_string()), "names the port: {err}");
    assert!(env.ps_json(&["-a"]).is_empty(), "nothing was created");
    env.assert_clean();
}

#[test]
fn two_concurrent_ups_converge_on_one_set_of_containers() {
    require_root!();
    let env = ComposeEnv::new(
        "concurrent",
        r#"
services:
  a:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
  b:
    image: lab/busybox:1
    init: true
    command: ["sleep", "1000"]
    depends_on: [a]
"#,
    );
    let mut first = env.command(&["up", "-d"]).spawn().unwrap();
    let mut second = env.command(&["up", "-d"]).spawn().unwrap();
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let ps = env.ps_json(&[]);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert!(ps.iter().all(|c| c["State"] == "running"));
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn anonymous_volumes_survive_recreation_unless_renewed() {
    require_root!();
    let yaml = |v: &str| {
        format!(
            r#"
services:
  app:
    image: lab/busybox:1
    init: true
    command: ["sh", "-c", "if test -f /cache/seen; then echo again; else touch /cache/seen; echo first; fi; exec sleep 1000"]
    environment: {{ V: "{v}" }}
    volumes: ["/cache"]
"#
        )
    };
    let env = ComposeEnv::new("anonvol", &yaml("1"));
    env.ok(&["up", "-d", "--wait"]);
    assert!(env.ok(&["logs", "app"]).contains("first"));

    env.write("compose.yaml", &yaml("2"));
    env.ok(&["up", "-d", "--wait"]);
    let logs = env.ok(&["logs", "app"]);
    assert!(
        logs.contains("again") && !logs.contains("first"),
        "data kept: {logs}"
    );

    env.ok(&["up", "-d", "--wait", "--force-recreate", "-V"]);
    assert!(
        env.ok(&["logs", "app"]).contains("first"),
        "-V gives a fresh volume"
    );

    env.ok(&["down", "-v"]);
    let volumes = std::fs::read_dir(env.state_root().join("volumes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(volumes, 0, "down -v removes anonymous volumes too");
    env.assert_clean();
}

#[test]
fn ctrl_c_stops_an_attached_up_gracefully() {
    require_root!();
    let env = ComposeEnv::new(
        "ctrlc",
        r#"
services:
  talker:
    image: lab/busybox:1
    init: true
    command: ["sh", "-c", "echo talking; exec sleep 1000"]
"#,
    );
    let mut up = env
        .command(&["up", "--no-color"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn up");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while env.ps_json(&[]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "up never started the container"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(up.id() as i32, libc::SIGINT) };
    let status = up.wait().expect("wait for up");
    let mut out = String::new();
    up.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(!status.success(), "interrupted up reports it: {status}");
    assert!(out.contains("talker-1  | talking"), "{out}");
    let ps = env.ps_json(&["-a"]);
    assert_eq!(
        ps[0]["State"], "exited",
        "Ctrl-C stopped the container: {ps:#?}"
    );
    env.ok(&["down"]);
    env.assert_clean();
}
