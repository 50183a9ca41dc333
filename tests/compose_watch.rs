//! End-to-end sessions with `rcompose watch` and `up --watch` on real containers (root): edit,
//! delete and ignore files under a `sync` rule, a burst of writes under `sync+restart`, a
//! `sync+exec` hook, a change made while a restart is under way, big ignored trees, a rebuild,
//! and Ctrl-C. Waits poll with generous deadlines; nothing is timed.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::compose::ComposeEnv;

const DEADLINE: Duration = Duration::from_secs(60);

/// A running `rcompose watch` (or `up --watch`) whose stdout is collected line by line.
struct Session {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    fn start(env: &ComposeEnv, args: &[&str]) -> Self {
        let mut child = env
            .command(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rcompose");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let s = Session {
            child,
            lines,
            reader: Some(reader),
        };
        // The announcement is two lines; the second says what is watched.
        s.wait_for("Watch enabled");
        s.wait_for("directories for");
        s
    }

    fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until some output line contains `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while self.count(needle) == 0 {
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} in:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C; the exit status and everything printed.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait for rcompose");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.output())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cat` of a file in the service's container (`None` when it is not there).
fn read_in(env: &ComposeEnv, service: &str, path: &str) -> Option<String> {
    let out = env.run(&["exec", "-T", service, "cat", path]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls until the container's `path` reads `want` (`None`: until it is gone).
fn wait_content(env: &ComposeEnv, service: &str, path: &str, want: Option<&str>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = read_in(env, service, path);
        if got.as_deref() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service}:{path} is {got:?}, expected {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn project(develop: &str) -> String {
    format!(
        r#"
services:
  web:
    image: lab/busybox:1
    init: true
    command: ["sh", "-c", "echo started; mkdir -p /app; exec sleep 100000"]
    develop:
      watch:
{develop}
"#
    )
}

fn write(env: &ComposeEnv, rel: &str, text: &str) {
    let p = env.project_dir().join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

#[test]
fn sync_copies_edits_and_deletions_and_skips_ignored_files() {
    require_root!();
    let env = ComposeEnv::new(
        "wsync",
        &project(
            r#"        - path: ./src
          action: sync
          target: /app
          ignore: ["*.tmp", "node_modules/"]"#,
        ),
    );
    write(&env, "src/index.js", "v1\n");
    // A big ignored tree is never watched.
    for i in 0..200 {
        std::fs::create_dir_all(env.project_dir().join(format!("src/node_modules/m{i}/lib")))
            .expect("mkdir");
    }
    let s = Session::start(&env, &["watch"]);
    assert!(
        s.output().contains("watching 1 directories"),
        "only src is watched: {}",
        s.output()
    );
    write(&env, "src/index.js", "v2\n");
    wait_content(&env, "web", "/app/index.js", Some("v2\n"));
    write(&env, "src/lib/deep/util.js", "util\n");
    wait_content(&env, "web", "/app/lib/deep/util.js", Some("util\n"));
    std::fs::remove_file(env.project_dir().join("src/index.js")).expect("rm");
    wait_content(&env, "web", "/app/index.js", None);
    // Ignored files go nowhere: written before a file that does arrive, they would be there.
    write(&env, "src/scratch.tmp", "no\n");
    write(&env, "src/node_modules/m1/lib/x.js", "no\n");
    write(&env, "src/after.js", "yes\n");
    wait_content(&env, "web", "/app/after.js", Some("yes\n"));
    assert_eq!(read_in(&env, "web", "/app/scratch.tmp"), None);
    assert_eq!(read_in(&env, "web", "/app/node_modules/m1/lib/x.js"), None);
    let (_, out) = s.interrupt();
    assert!(
        out.contains("Syncing service \"web\" after 1 changes were detected"),
        "{out}"
    );
    assert!(out.contains("copied after.js"), "{out}");
    // `watch` leaves the project running, as docker compose does.
    assert_eq!(env.ps_json(&[])[0]["State"], "running");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

#[test]
fn sync_restart_restarts_once_for_a_burst_of_writes() {
    require_root!();
    let env = ComposeEnv::new(
        "wburst",
        &project(
            r#"        - path: ./src
          action: sync+restart
          target: /app
        - path: ./probe
          action: sync
          target: /probe"#,
        ),
    );
    std::fs::create_dir_all(env.project_dir().join("src")).expect("mkdir");
    std::fs::create_dir_all(env.project_dir().join("probe")).expect("mkdir");
    let s = Session::start(&env, &["watch"]);
    for i in 0..100 {
        write(&env, &format!("src/f{i}.txt"), &format!("{i}\n"));
    }
    s.wait_for("service(s) [\"web\"] restarted");
    wait_content(&env, "web", "/app/f99.txt", Some("99\n"));
    // inotify keeps order: the probe's change comes after every write of the burst, so any
    // restart still owed for the burst is done by the time the probe's batch is.
    write(&env, "probe/p", "p\n");
    s.wait_for("copied p");
    let (_, out) = s.interrupt();
    assert_eq!(
        out.matches("service(s) [\"web\"] restarted").count(),
        1,
        "{out}"
    );
    let logs = env.ok(&["logs", "web"]);
    assert_eq!(logs.matches("started").count(), 2, "{logs}");
    assert!(
        out.contains("Syncing service \"web\" after 100 changes were detected"),
        "{out}"
    );
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

#[test]
fn sync_exec_runs_the_hook_after_syncing() {
    require_root!();
    let env = ComposeEnv::new(
        "wexec",
        &project(
            r#"        - path: ./conf
          action: sync+exec
          target: /conf
          exec:
            command: ["sh", "-c", "cat /conf/app.conf > /applied; echo applied $$(cat /applied)"]"#,
        ),
    );
    std::fs::create_dir_all(env.project_dir().join("conf")).expect("mkdir");
    let s = Session::start(&env, &["watch"]);
    write(&env, "conf/app.conf", "level=debug\n");
    wait_content(&env, "web", "/applied", Some("level=debug\n"));
    s.wait_for("applied level=debug");
    let (_, out) = s.interrupt();
    assert_eq!(out.matches("applied level=debug").count(), 1, "{out}");
    env.ok(&["down", "-t", "0"]);
}

#[test]
fn a_change_during_a_restart_is_not_lost() {
    require_root!();
    let env = ComposeEnv::new(
        "wduring",
        r#"
services:
  web:
    image: lab/busybox:1
    command: ["sh", "-c", "echo started; trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"]
    develop:
      watch:
        - path: ./restart.txt
          action: restart
        - path: ./src
          action: sync
          target: /app
"#,
    );
    write(&env, "restart.txt", "0\n");
    std::fs::create_dir_all(env.project_dir().join("src")).expect("mkdir");
    let s = Session::start(&env, &["watch"]);
    write(&env, "restart.txt", "1\n");
    // The container takes a second to stop: this write lands while the restart is under way.
    s.wait_for("Restarting service \"web\"");
    write(&env, "src/late.txt", "late\n");
    wait_content(&env, "web", "/app/late.txt", Some("late\n"));
    s.wait_for("service(s) [\"web\"] restarted");
    let (_, out) = s.interrupt();
    let restarted = out.find("restarted").expect("restarted");
    let synced = out.find("copied late.txt").expect("synced");
    assert!(synced > restarted, "synced after the restart: {out}");
    env.ok(&["down", "-t", "0"]);
}

#[test]
fn up_watch_follows_logs_and_ctrl_c_ends_the_project() {
    require_root!();
    let env = ComposeEnv::new(
        "wup",
        &project(
            r#"        - path: ./src
          action: sync
          target: /app
        - path: ./restart.txt
          action: restart"#,
        ),
    );
    write(&env, "restart.txt", "0\n");
    std::fs::create_dir_all(env.project_dir().join("src")).expect("mkdir");
    let s = Session::start(&env, &["up", "--watch"]);
    write(&env, "src/a.txt", "a\n");
    wait_content(&env, "web", "/app/a.txt", Some("a\n"));
    write(&env, "restart.txt", "1\n");
    s.wait_for("restarted");
    // The restarted container is followed again: its new output shows up.
    let deadline = Instant::now() + DEADLINE;
    while s.count("| started") < 2 {
        assert!(Instant::now() < deadline, "{}", s.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, out) = s.interrupt();
    assert!(!status.success(), "interrupted up reports it: {status}");
    assert!(out.contains("⦿ Watch enabled"), "{out}");
    assert!(out.contains("⦿ Syncing service \"web\""), "{out}");
    assert_eq!(env.ps_json(&["-a"])[0]["State"], "exited", "{out}");
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn watch_refuses_a_project_without_develop_watch() {
    require_root!();
    let env = ComposeEnv::new(
        "wnone",
        "services:\n  web:\n    image: lab/busybox:1\n    command: [\"true\"]\n",
    );
    let err = env.fails(&["watch", "--no-up"]);
    assert!(
        err.contains("none of the selected services is configured for watch"),
        "{err}"
    );
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: lab/busybox:1\n    develop:\n      watch:\n        - path: ./src\n          action: sync\n",
    );
    let err = env.fails(&["watch", "--no-up"]);
    assert!(
        err.contains("compose.yaml:6:11: services.web.develop.watch[0]: target is required for non-rebuild actions"),
        "{err}"
    );
}

#[test]
fn initial_sync_copies_what_changed_before_the_watch() {
    require_root!();
    let env = ComposeEnv::new(
        "winit",
        &project(
            r#"        - path: ./src
          action: sync
          target: /app
          initial_sync: true"#,
        ),
    );
    write(&env, "src/early.txt", "early\n");
    env.ok(&["up", "-d"]);
    assert_eq!(read_in(&env, "web", "/app/early.txt"), None);
    write(&env, "src/nested/late.txt", "late\n");
    let s = Session::start(&env, &["watch", "--no-up"]);
    // Copied before `Watch enabled`.
    assert_eq!(
        read_in(&env, "web", "/app/early.txt").as_deref(),
        Some("early\n")
    );
    assert_eq!(
        read_in(&env, "web", "/app/nested/late.txt").as_deref(),
        Some("late\n")
    );
    let (_, out) = s.interrupt();
    assert!(out.contains("Initial sync of develop.watch[0]"), "{out}");
    env.ok(&["down", "-t", "0"]);
}

#[test]
fn rebuild_builds_a_new_image_and_recreates_the_container() {
    require_root!();
    let env = ComposeEnv::new(
        "wbuild",
        r#"
services:
  app:
    build: .
    init: true
    command: ["sh", "-c", "cat /version.txt; exec sleep 100000"]
    develop:
      watch:
        - path: ./version.txt
          action: rebuild
"#,
    );
    env.write(
        "Dockerfile",
        "FROM lab/busybox:1\nCOPY version.txt /version.txt\n",
    );
    write(&env, "version.txt", "v1\n");
    let s = Session::start(&env, &["watch"]);
    wait_content(&env, "app", "/version.txt", Some("v1\n"));
    let before = env.ps_json(&[]);
    write(&env, "version.txt", "v2\n");
    s.wait_for("service(s) [\"app\"] successfully built");
    wait_content(&env, "app", "/version.txt", Some("v2\n"));
    let after = env.ps_json(&[]);
    assert_ne!(before[0]["ID"], after[0]["ID"], "a new container");
    let images = env.ok(&["images", "--format", "json"]);
    assert!(images.contains("wbuild"), "{images}");
    // `--prune` (on by default): the replaced image, now untagged and unused, is gone.
    let store = env.ok(&["image", "ls"]);
    assert!(!store.contains("<none>"), "{store}");
    let (_, out) = s.interrupt();
    assert!(
        out.contains("Rebuilding service(s) [\"app\"] after changes were detected..."),
        "{out}"
    );
    env.ok(&["down", "-t", "0"]);
}
