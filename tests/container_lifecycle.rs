//! Lifecycle of real containers: logs, exit codes, kill, stop grace period, restart policies.

mod common;

use std::time::{Duration, Instant};

use common::TestEnv;
use rcompose::runtime::container::error::ContainerError;
use rcompose::runtime::container::{LogStream, RemoveOptions, RestartPolicy, Runtime, Status};

#[test]
fn output_goes_to_the_log_and_exit_code_is_recorded() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("hello", "echo hello; echo oops >&2; exit 7"));
    assert_eq!(env.rt.wait(&id).expect("wait"), 7);
    let st = env.state(&id);
    assert_eq!(st.status, Status::Exited);
    assert_eq!(st.exit_code, Some(7));
    assert!(st.finished_at.is_some());
    let entries: Vec<_> = env
        .rt
        .logs(&id, &Default::default())
        .expect("logs")
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e.log == "hello\n" && e.stream == LogStream::Stdout)
    );
    assert!(
        entries
            .iter()
            .any(|e| e.log == "oops\n" && e.stream == LogStream::Stderr)
    );
    let raw = std::fs::read_to_string(env.rt.layout().container(&id).log()).expect("log file");
    let first: serde_json::Value =
        serde_json::from_str(raw.lines().next().expect("a line")).expect("json line");
    assert!(first["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn exit_zero_and_sigkill() {
    let env = TestEnv::new();
    let ok = env.run(&env.sh("ok", "true"));
    assert_eq!(env.rt.wait(&ok).expect("wait"), 0);

    let long = env.run(&env.sh("long", "sleep 100"));
    assert!(env.is_running(&long));
    env.rt.kill(&long, "KILL").expect("kill");
    assert_eq!(env.rt.wait(&long).expect("wait"), 137);
    for id in [ok, long] {
        env.rt
            .remove(&id, RemoveOptions::default())
            .expect("remove");
        env.assert_gone(&id);
    }
}

#[test]
fn stop_escalates_to_sigkill_after_the_grace_period() {
    let env = TestEnv::new();
    let mut spec = env.sh(
        "stubborn",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    );
    spec.stop_grace_period = Some(Duration::from_millis(700));
    let id = env.run(&spec);
    let until = Instant::now() + Duration::from_secs(5);
    while !env.log_text(&id).contains("ready") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    env.rt.stop(&id, None).expect("stop");
    let took = t.elapsed();
    let st = env.state(&id);
    assert_eq!(st.status, Status::Exited);
    assert_eq!(st.exit_code, Some(137));
    assert!(
        took >= Duration::from_millis(650),
        "stopped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "stop took {took:?}");

    // A process that honours SIGTERM stops at once.
    let polite = env.run(&env.sh(
        "polite",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ));
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    env.rt
        .stop(&polite, Some(Duration::from_secs(10)))
        .expect("stop");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(env.state(&polite).exit_code, Some(0));
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn restart_policies() {
    let env = TestEnv::new();
    let mut spec = env.sh("onfail", "echo run; exit 3");
    spec.restart = RestartPolicy::OnFailure {
        max_retries: Some(2),
    };
    let id = env.run(&spec);
    assert_eq!(env.rt.wait(&id).expect("wait"), 3);
    let st = env.state(&id);
    assert_eq!(st.restart_count, 2);
    assert_eq!(env.log_text(&id).matches("run\n").count(), 3);

    let mut no = env.sh("no", "echo run; exit 3");
    no.restart = RestartPolicy::No;
    let no_id = env.run(&no);
    assert_eq!(env.rt.wait(&no_id).expect("wait"), 3);
    assert_eq!(env.state(&no_id).restart_count, 0);

    let mut always = env.sh("always", "echo run; exit 0");
    always.restart = RestartPolicy::Always;
    let a = env.run(&always);
    let st = env.wait_for(&a, Duration::from_secs(10), |s| s.restart_count >= 3);
    assert!(
        st.restart_count >= 3,
        "always restarted {} times",
        st.restart_count
    );
    assert!(matches!(st.status, Status::Running | Status::Restarting));
    env.rt.stop(&a, Some(Duration::from_secs(1))).expect("stop");
    let st = env.state(&a);
    assert_eq!(st.status, Status::Exited);
    // Stopped by the user: no further restart.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(env.state(&a).status, Status::Exited);
    for id in [id, no_id, a] {
        env.rt
            .remove(&id, RemoveOptions::default())
            .expect("remove");
        env.assert_gone(&id);
    }
}

#[test]
fn names_resolve_stay_unique_and_are_freed_on_removal() {
    let env = TestEnv::new();
    let id = env.rt.create(&env.sh("web-1", "true")).expect("create");
    assert_eq!(env.rt.inspect("web-1").expect("by name").state.id, id);
    let again = env.rt.create(&env.sh("web-1", "true"));
    assert!(
        matches!(again, Err(ContainerError::NameInUse(ref n)) if n == "web-1"),
        "{again:?}"
    );

    // A root written before the name index existed: the first lookup builds it from the state.
    std::fs::remove_dir_all(env.dir.path().join("s/names")).expect("drop the index");
    assert_eq!(env.rt.inspect("web-1").expect("by name").state.id, id);
    assert!(env.dir.path().join("s/names/web-1").exists());

    env.rt
        .remove("web-1", RemoveOptions::default())
        .expect("remove");
    assert!(matches!(
        env.rt.inspect("web-1"),
        Err(ContainerError::NotFound(_))
    ));
    let reused = env.rt.create(&env.sh("web-1", "true")).expect("name free");
    assert_ne!(reused, id);
    env.rt
        .remove(&reused, RemoveOptions::default())
        .expect("remove");
}
