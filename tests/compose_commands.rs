//! End-to-end sessions with the project commands around `up`: `run` (one-off containers),
//! `port`, `top`, `images`, `volumes`, `ls`, `wait` and `scale`, on real containers (root).
//! Each test has its own roots and project name and takes its project down at the end.

mod support;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::compose::ComposeEnv;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The first line a TCP server on `port` sends (busybox `nc -e echo`).
fn greeting(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "nothing answers on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names(ps: &[serde_json::Value]) -> Vec<String> {
    ps.iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect()
}

const APP: &str = r#"
services:
  db:
    image: lab/busybox:1
    command: ["sh", "-c", "mkdir -p /www && echo db-ready > /www/state && exec httpd -f -p 5432 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /www/state"]
      interval: 300ms
  app:
    image: lab/busybox:1
    command: ["echo", "app default command"]
    environment: { GREETING: hello }
    ports: ["127.0.0.1:${APP_PORT}:7000"]
    volumes: [appdata:/data]
    depends_on:
      db: { condition: service_healthy }
  tool:
    build: ./tool
volumes:
  appdata:
"#;

#[test]
fn run_one_off_commands_like_docker_compose_run() {
    require_root!();
    let env = ComposeEnv::new("run", APP);
    let p = env.project.clone();
    let port = free_port();
    env.write(".env", &format!("APP_PORT={port}\n"));
    std::fs::create_dir_all(env.project_dir().join("tool")).unwrap();

    // The dependency comes up healthy first; the command's streams and exit code are ours.
    let out = env.run(&[
        "run",
        "--rm",
        "app",
        "sh",
        "-c",
        "wget -qO- http://db:5432/state; echo $GREETING; echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "db-ready\nhello\n");
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("-app-run-"),
        "the one-off container's own progress is not shown: {}",
        stderr(&out)
    );
    let ps = env.ps_json(&["-a"]);
    assert_eq!(
        names(&ps),
        [format!("{p}-db-1")],
        "--rm removed it: {ps:#?}"
    );
    assert_eq!(ps[0]["Health"], "healthy");

    // Overrides: entrypoint (which drops the service's command), env, user, workdir, label.
    let out = env.ok(&["run", "--rm", "--entrypoint", "echo from-entrypoint", "app"]);
    assert_eq!(out, "from-entrypoint\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "-e",
        "GREETING=hi",
        "-u",
        "33",
        "-w",
        "/tmp",
        "app",
        "sh",
        "-c",
        "echo $GREETING $(id -u) $(pwd)",
    ]);
    assert_eq!(out, "hi 33 /tmp\n");

    // Detached: the container's ID, then it runs on as a one-off with its label and name.
    let id = env.ok(&[
        "run",
        "-d",
        "-l",
        "purpose=test",
        "--name",
        "helper",
        "app",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "full container id: {id:?}");
    let ps = env.ps_json(&["-a"]);
    let helper = ps
        .iter()
        .find(|c| c["Name"] == "helper")
        .expect("helper listed");
    assert!(id.starts_with(helper["ID"].as_str().unwrap()), "{helper}");
    assert!(helper["Labels"].as_str().unwrap().contains("purpose=test"));
    assert!(
        helper["Labels"]
            .as_str()
            .unwrap()
            .contains("com.docker.compose.oneoff=True")
    );

    // `-p` publishes a port of the one-off; `-v` mounts a host directory.
    let extra = free_port();
    env.ok(&[
        "run",
        "-d",
        "--no-deps",
        "-p",
        &format!("127.0.0.1:{extra}:80"),
        "app",
        "nc",
        "-ll",
        "-p",
        "80",
        "-e",
        "echo",
        "published-by-run",
    ]);
    assert_eq!(greeting(extra).trim(), "published-by-run");
    env.write("note.txt", "from the host\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "-v",
        "./note.txt:/note:ro",
        "app",
        "cat",
        "/note",
    ]);
    assert_eq!(out, "from the host\n");

    // `--service-ports` publishes the service's own ports.
    env.ok(&[
        "run",
        "-d",
        "--no-deps",
        "--service-ports",
        "app",
        "nc",
        "-ll",
        "-p",
        "7000",
        "-e",
        "echo",
        "service-port",
    ]);
    assert_eq!(greeting(port).trim(), "service-port");

    // `-d --rm`: removed once it exits, with nobody attached.
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--no-deps",
        "--name",
        "brief",
        "app",
        "sleep",
        "0.5",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(&env.ps_json(&["-a"])).contains(&"brief".to_string()) {
        assert!(Instant::now() < deadline, "brief was not removed");
        std::thread::sleep(Duration::from_millis(200));
    }

    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

#[test]
fn run_refuses_what_the_runtime_cannot_do() {
    require_root!();
    let env = ComposeEnv::new("runerr", APP);
    env.write(".env", &format!("APP_PORT={}\n", free_port()));
    std::fs::create_dir_all(env.project_dir().join("tool")).unwrap();
    let err = env.fails(&["run", "-t", "app", "true"]);
    assert!(err.contains("cannot allocate a pseudo-TTY"), "{err}");
    let err = env.fails(&["run", "-i", "app", "true"]);
    assert!(err.contains("cannot attach stdin"), "{err}");
    let err = env.fails(&["run", "-p", "80:80", "--service-ports", "app"]);
    assert!(
        err.contains("--service-ports and --publish are incompatible"),
        "{err}"
    );
    // `tool` has a build section but no Dockerfile: `run` builds the missing image first.
    let err = env.fails(&["run", "--rm", "tool"]);
    assert!(err.contains("failed to build \"tool\""), "{err}");
    assert!(err.contains("tool/Dockerfile: No such file"), "{err}");
    let err = env.fails(&["run", "--rm", "nosuch"]);
    assert!(err.contains("no such service: nosuch"), "{err}");
    assert!(env.ps_json(&["-a"]).is_empty(), "nothing was started");

    // `--no-deps` leaves the dependency alone.
    env.ok(&["run", "--rm", "--no-deps", "app", "true"]);
    assert!(env.ps_json(&["-a"]).is_empty());

    // `--remove-orphans` removes containers of services the file no longer has.
    env.ok(&["up", "-d", "db"]);
    env.write(
        "compose.yaml",
        &APP.replace("  db:", "  database:")
            .replace("db: {", "database: {"),
    );
    env.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "--remove-orphans",
        "app",
        "true",
    ]);
    assert!(
        env.ps_json(&["-a"]).is_empty(),
        "the orphan db-1 was removed"
    );
    env.ok(&["down"]);
    env.assert_clean();
}

const SERVICES: &str = r#"
services:
  web:
    image: lab/busybox:1
    command: ["httpd", "-f", "-p", "8080"]
    ports: ["${WEB_PORT}:8080", "127.0.0.1::9000/udp"]
    volumes: [data:/data]
  worker:
    image: lab/busybox:1
    command: ["sh", "-c", "sleep 1000 & sleep 1001 & wait"]
  job:
    image: lab/busybox:1
    command: ["sh", "-c", "echo done"]
volumes:
  data:
  unused:
"#;

#[test]
fn port_top_images_and_volumes_of_a_running_project() {
    require_root!();
    let env = ComposeEnv::new("inspect", SERVICES);
    let p = env.project.clone();
    let port = free_port();
    env.write(".env", &format!("WEB_PORT={port}\n"));
    env.ok(&["up", "-d"]);

    // port: the published address, or docker's errors.
    assert_eq!(
        env.ok(&["port", "web", "8080"]),
        format!("0.0.0.0:{port}\n")
    );
    let udp = env.ok(&["port", "--protocol", "udp", "web", "9000"]);
    assert!(udp.starts_with("127.0.0.1:"), "{udp}");
    let err = env.fails(&["port", "web", "9000"]);
    assert!(
        err.contains(&format!(
            "no port 9000/tcp for container {p}-web-1: {port}/tcp, "
        )),
        "{err}"
    );
    assert!(
        env.fails(&["port", "--index", "2", "web", "8080"])
            .contains("is not running container #2")
    );
    assert!(
        env.fails(&["port", "job", "80"])
            .contains("service \"job\" is not running")
    );

    // top: one table; the worker's two processes, the exited job not at all.
    let top = env.ok(&["top"]);
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[0].starts_with("SERVICE  #   UID   PID"),
        "header: {top}"
    );
    assert!(lines[0].ends_with("C   STIME  TTY  TIME      CMD"), "{top}");
    let worker_rows: Vec<&&str> = lines.iter().filter(|l| l.starts_with("worker ")).collect();
    assert_eq!(worker_rows.len(), 3, "sh and its two sleeps: {top}");
    assert!(
        worker_rows.iter().any(|l| l.ends_with("sleep 1000")),
        "{top}"
    );
    assert!(
        worker_rows.iter().any(|l| l.ends_with("sleep 1001")),
        "{top}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web      1   root") && l.ends_with("httpd -f -p 8080"))
    );
    assert!(!top.contains("job"));
    assert!(env.ok(&["top", "job"]).is_empty());

    // images: one row per container, stopped ones included.
    let images = env.ok(&["images"]);
    let header: Vec<&str> = images.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CONTAINER",
            "REPOSITORY",
            "TAG",
            "PLATFORM",
            "IMAGE",
            "ID",
            "SIZE",
            "CREATED"
        ]
    );
    for c in ["job", "web", "worker"] {
        assert!(images.contains(&format!("{p}-{c}-1")), "{images}");
    }
    assert!(
        images.contains("lab/busybox         1                   linux/amd64"),
        "{images}"
    );
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["images", "--format", "json", "web"])).unwrap();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["ContainerName"], format!("{p}-web-1"));
    assert_eq!(json[0]["Repository"], "lab/busybox");
    let id = json[0]["ID"].as_str().unwrap();
    assert_eq!(
        env.ok(&["images", "-q"]),
        format!("{}\n", id.strip_prefix("sha256:").unwrap())
    );

    // volumes: the project's created volumes; per service, those its running containers mount.
    assert_eq!(
        env.ok(&["volumes"]),
        format!("DRIVER    VOLUME NAME\nlocal     {p}_data\n")
    );
    assert_eq!(env.ok(&["volumes", "-q", "web"]), format!("{p}_data\n"));
    assert_eq!(env.ok(&["volumes", "worker"]), "DRIVER    VOLUME NAME\n");
    let v: serde_json::Value =
        serde_json::from_str(env.ok(&["volumes", "--format", "json"]).trim()).unwrap();
    assert_eq!(v["Name"], format!("{p}_data"));
    assert_eq!(v["Driver"], "local");
    assert!(
        v["Labels"]
            .as_str()
            .unwrap()
            .contains(&format!("com.docker.compose.project={p}"))
    );
    assert_eq!(
        env.ok(&["volumes", "--format", "{{.Name}}:{{.Scope}}"]),
        format!("{p}_data:local\n")
    );
    assert!(
        env.fails(&["volumes", "nosuch"])
            .contains("no such service: nosuch")
    );

    env.ok(&["down", "-v", "-t", "0"]);
    assert!(
        env.ok(&["images"]).lines().count() == 1,
        "only the header is left"
    );
    env.assert_clean();
}

const JOBS: &str = r#"
services:
  quick:
    image: lab/busybox:1
    command: ["sh", "-c", "sleep 2; exit 4"]
  slow:
    image: lab/busybox:1
    command: ["sh", "-c", "sleep 3; exit 6"]
  server:
    image: lab/busybox:1
    command: ["sleep", "1000"]
"#;

#[test]
fn ls_wait_and_scale_in_one_session() {
    require_root!();
    let env = ComposeEnv::new("jobs", JOBS);
    let p = env.project.clone();
    assert_eq!(
        env.ok(&["ls"]),
        "NAME                STATUS              CONFIG FILES\n"
    );
    env.ok(&["up", "-d"]);
    let compose_file = env.project_dir().join("compose.yaml");

    // ls: the project with its running containers; -a counts the others too.
    let ls: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ls", "--format", "json"])).unwrap();
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0]["Name"], p);
    assert_eq!(ls[0]["ConfigFiles"], compose_file.display().to_string());
    assert_eq!(
        env.ok(&["ls", "-q", "--filter", &format!("name=^{p}$")]),
        format!("{p}\n")
    );
    assert_eq!(env.ok(&["ls", "-q", "--filter", "name=nomatch"]), "");
    assert!(
        env.fails(&["ls", "--filter", "status=running"])
            .contains("invalid filter 'status'")
    );

    // wait: blocks until both have exited; the status is the last one's.
    let out = env.run(&["wait", "quick", "slow"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("exited with status code 4"), "{lines:?}");
    assert!(lines[1].ends_with("exited with status code 6"), "{lines:?}");
    assert!(
        env.fails(&["wait", "quick"])
            .contains(&format!("no containers for project \"{p}\""))
    );
    let ls = env.ok(&["ls", "-a"]);
    assert!(
        ls.contains(&format!("{p}   ")) && ls.contains("exited(2), running(1)"),
        "{ls}"
    );

    // scale: more and fewer servers; the first one is kept as it is.
    let first = env.pid_of(&format!("{p}-server-1")).expect("server-1 runs");
    let out = env.run(&["scale", "server=3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("orphan"),
        "the other services' containers are no orphans: {}",
        stderr(&out)
    );
    let servers: Vec<String> = names(&env.ps_json(&[]));
    assert_eq!(servers, [1, 2, 3].map(|n| format!("{p}-server-{n}")));
    env.ok(&["scale", "server=1", "quick=0"]);
    let all = names(&env.ps_json(&["-a"]));
    assert_eq!(all, [format!("{p}-server-1"), format!("{p}-slow-1")]);
    assert_eq!(
        env.pid_of(&format!("{p}-server-1")),
        Some(first),
        "server-1 untouched"
    );
    assert!(
        env.fails(&["scale", "server"])
            .contains("invalid scale specifier: server")
    );

    // wait --down-project: once the server is gone, so is the project.
    let mut waiting = env
        .command(&["wait", "--down-project", "server"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    env.ok(&["kill", "server"]);
    let status = waiting.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert!(env.ps_json(&["-a"]).is_empty(), "the project is down");
    env.assert_clean();
}
