//! Logs (tail, since, follow, rotation), names, init reaping and protocol versioning.

mod support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rcompose::runtime::container::{
    ContainerError, ExecSpec, LogConfig, LogOptions, RemoveOptions, Runtime, Status,
};
use support::runtime::TestEnv;

#[test]
fn logs_tail_since_and_follow() {
    let env = TestEnv::new();
    let id = env.run(&env.sh(
        "logger",
        "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.8; echo late; sleep 0.3; echo last",
    ));
    // follow: everything, including what comes later, then the iterator ends with the container.
    let t = Instant::now();
    let all: Vec<String> = env
        .rt
        .logs(
            &id,
            &LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .expect("logs")
        .map(|e| e.log)
        .collect();
    assert_eq!(
        all,
        vec![
            "line1\n", "line2\n", "line3\n", "line4\n", "line5\n", "late\n", "last\n"
        ]
    );
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(env.state(&id).status, Status::Exited);

    let tail: Vec<String> = env
        .rt
        .logs(
            &id,
            &LogOptions {
                tail: Some(2),
                ..Default::default()
            },
        )
        .expect("logs")
        .map(|e| e.log)
        .collect();
    assert_eq!(tail, vec!["late\n", "last\n"]);

    let entries: Vec<_> = env
        .rt
        .logs(&id, &LogOptions::default())
        .expect("logs")
        .collect();
    let since = entries[5].time;
    let after: Vec<String> = env
        .rt
        .logs(
            &id,
            &LogOptions {
                since: Some(since),
                ..Default::default()
            },
        )
        .expect("logs")
        .map(|e| e.log)
        .collect();
    assert_eq!(after, vec!["late\n", "last\n"]);
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn log_rotation_keeps_max_file_files_of_max_size() {
    let env = TestEnv::new();
    let mut spec = env.sh(
        "rotating",
        "i=0; while [ $i -lt 300 ]; do echo message-$i; i=$((i+1)); done",
    );
    spec.log = LogConfig {
        max_size: Some(2000),
        max_file: 3,
    };
    let id = env.run(&spec);
    env.rt.wait(&id).expect("wait");
    let log = env.rt.layout().container(&id).log();
    let dir = log.parent().expect("dir");
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("container.log"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(dir.join(f)).expect("meta").len() <= 2000);
    }
    let lines: Vec<String> = env
        .rt
        .logs(&id, &LogOptions::default())
        .expect("logs")
        .map(|e| e.log)
        .collect();
    assert_eq!(lines.last().map(String::as_str), Some("message-299\n"));
    // Older lines were rotated away, the rest is contiguous.
    let first: usize = lines[0]
        .trim()
        .trim_start_matches("message-")
        .parse()
        .expect("n");
    assert!(first > 0);
    assert_eq!(lines.len(), 300 - first);
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn names_ids_and_prefixes() {
    let env = TestEnv::new();
    let id = env.rt.create(&env.sh("named", "true")).expect("create");
    assert_eq!(id.len(), 64);
    assert_eq!(env.rt.inspect("named").expect("by name").state.id, id);
    assert_eq!(env.rt.inspect(&id[..10]).expect("by prefix").state.id, id);
    assert_eq!(
        env.rt.inspect("named").expect("by name").state.status,
        Status::Created
    );
    assert!(matches!(
        env.rt.create(&env.sh("named", "true")),
        Err(ContainerError::NameInUse(_))
    ));
    assert!(matches!(
        env.rt.inspect("nope"),
        Err(ContainerError::NotFound(_))
    ));
    assert!(matches!(
        env.rt.kill(&id, "TERM"),
        Err(ContainerError::InvalidState { .. })
    ));
    env.rt
        .remove("named", RemoveOptions::default())
        .expect("remove created");
    env.assert_gone(&id);
}

fn zombies(env: &TestEnv, id: &str) -> usize {
    let out = env
        .rt
        .exec_output(id, &ExecSpec::new(["ps", "-o", "stat,comm"]))
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('Z'))
        .count()
}

#[test]
fn init_reaps_orphaned_zombies() {
    let env = TestEnv::new();
    // Orphans are re-parented to PID 1; `sleep` as PID 1 never reaps them.
    let script = "(sleep 0.1 &); (sleep 0.1 &); exec sleep 100";
    let plain = env.run(&env.sh("no-init", script));
    let mut with_init = env.sh("with-init", script);
    with_init.init = true;
    let reaped = env.run(&with_init);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        zombies(&env, &plain),
        2,
        "without init the orphans stay zombies"
    );
    assert_eq!(zombies(&env, &reaped), 0, "the init reaps them");

    let mut spec = env.sh("with-init-exit", "exit 9");
    spec.init = true;
    let code = env.run(&spec);
    assert_eq!(env.rt.wait(&code).expect("wait"), 9);
    for id in [plain, reaped, code] {
        env.rt
            .remove(
                &id,
                RemoveOptions {
                    force: true,
                    volumes: false,
                },
            )
            .expect("remove");
        env.assert_gone(&id);
    }
}

#[test]
fn monitor_rejects_other_protocol_versions() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("proto", "sleep 100"));
    let sock = env.rt.layout().container(&id).socket();
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.write_all(b"{\"version\":99,\"op\":\"state\"}\n")
        .expect("write");
    let mut reply = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&s), &mut reply).expect("read");
    assert!(
        reply.contains("\"kind\":\"error\"") && reply.contains("version"),
        "{reply}"
    );
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.write_all(b"{\"version\":1,\"op\":\"state\"}\n")
        .expect("write");
    let mut reply = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&s), &mut reply).expect("read");
    assert!(reply.contains("\"status\":\"running\""), "{reply}");
    env.rt
        .remove(
            &id,
            RemoveOptions {
                force: true,
                volumes: false,
            },
        )
        .expect("remove");
    env.assert_gone(&id);
}
