//! exec, pause/unpause (freezer) and healthchecks on real containers.

mod support;

use std::time::Duration;

use rcompose::runtime::container::{
    ExecSpec, HealthStatus, HealthTest, Healthcheck, RemoveOptions, Runtime, Status,
};
use support::runtime::TestEnv;

#[test]
fn exec_passes_exit_code_and_output() {
    let env = TestEnv::new();
    let mut spec = env.sh("execd", "sleep 100");
    spec.env.insert("FOO".into(), "bar".into());
    spec.init = true;
    let id = env.run(&spec);
    let out = env
        .rt
        .exec_output(
            &id,
            &ExecSpec::new(["sh", "-c", "echo $FOO; echo err >&2; exit 5"]),
        )
        .expect("exec");
    assert_eq!(out.exit_code, 5);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bar\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let mut as_nobody = ExecSpec::new(["id", "-u"]);
    as_nobody.user = Some("nobody".into());
    as_nobody.working_dir = Some("/tmp".into());
    let out = env.rt.exec_output(&id, &as_nobody).expect("exec as nobody");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");

    // With init: PID 1 is the reaping init, the command is its child.
    let out = env
        .rt
        .exec_output(
            &id,
            &ExecSpec::new([
                "sh",
                "-c",
                "cat /proc/1/cmdline | tr '\\0' ' '; echo; ps -o pid,comm",
            ]),
        )
        .expect("exec ps");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sleep"), "{text}");

    env.rt
        .stop(&id, Some(Duration::from_secs(5)))
        .expect("stop");
    // init forwards SIGTERM to sleep (which dies of it): 128 + 15.
    assert_eq!(env.state(&id).exit_code, Some(143));
    let err = env
        .rt
        .exec_output(&id, &ExecSpec::new(["true"]))
        .expect_err("exec on exited");
    assert!(err.to_string().contains("exited"), "{err}");
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn pause_and_unpause_use_the_freezer() {
    let env = TestEnv::new();
    let id = env.run(&env.sh(
        "pausy",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done",
    ));
    std::thread::sleep(Duration::from_millis(300));
    env.rt.pause(&id).expect("pause");
    assert_eq!(env.state(&id).status, Status::Paused);
    let freezer = env.cgroup_file("freezer", &id, "freezer.state");
    if freezer.exists() {
        assert_eq!(
            std::fs::read_to_string(&freezer).expect("freezer").trim(),
            "FROZEN"
        );
    }
    let before = env.log_text(&id).lines().count();
    std::thread::sleep(Duration::from_millis(400));
    let after = env.log_text(&id).lines().count();
    assert!(
        after <= before + 1,
        "output while paused: {before} -> {after}"
    );
    assert!(env.rt.exec_output(&id, &ExecSpec::new(["true"])).is_err());
    env.rt.unpause(&id).expect("unpause");
    assert_eq!(env.state(&id).status, Status::Running);
    std::thread::sleep(Duration::from_millis(400));
    assert!(env.log_text(&id).lines().count() > after + 2);
    // Stopping a paused container works too.
    env.rt.pause(&id).expect("pause again");
    env.rt
        .stop(&id, Some(Duration::from_secs(2)))
        .expect("stop paused");
    assert_eq!(env.state(&id).status, Status::Exited);
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

fn fast(test: HealthTest) -> Healthcheck {
    Healthcheck {
        test,
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        retries: 2,
        start_period: Duration::ZERO,
        start_interval: Duration::from_millis(100),
        fast_start: true,
    }
}

#[test]
fn healthcheck_starting_then_healthy_then_unhealthy() {
    let env = TestEnv::new();
    let mut spec = env.sh("healthy", "sleep 0.6; touch /tmp/ok; sleep 100");
    spec.healthcheck = Some(fast(HealthTest::CmdShell("test -e /tmp/ok".into())));
    let id = env.run(&spec);
    let st = env.state(&id);
    assert_eq!(
        st.health.as_ref().map(|h| h.status),
        Some(HealthStatus::Starting)
    );
    let st = env.wait_for(&id, Duration::from_secs(10), |s| {
        s.health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Healthy)
    });
    let h = st.health.expect("health");
    assert_eq!(h.status, HealthStatus::Healthy);
    assert!(!h.log.is_empty());
    assert_eq!(h.log.last().map(|p| p.exit_code), Some(0));

    // Now make it fail: it becomes unhealthy after `retries` failures.
    env.rt
        .exec_output(&id, &ExecSpec::new(["rm", "/tmp/ok"]))
        .expect("exec rm");
    let st = env.wait_for(&id, Duration::from_secs(10), |s| {
        s.health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    });
    let h = st.health.expect("health");
    assert_eq!(h.status, HealthStatus::Unhealthy);
    assert!(h.failing_streak >= 2);

    // CMD form with output captured, and NONE.
    let mut cmd = env.sh("cmdform", "sleep 100");
    cmd.healthcheck = Some(fast(HealthTest::Cmd(vec![
        "sh".into(),
        "-c".into(),
        "echo probe-out; exit 1".into(),
    ])));
    let c = env.run(&cmd);
    let st = env.wait_for(&c, Duration::from_secs(10), |s| {
        s.health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    });
    let h = st.health.expect("health");
    assert_eq!(h.log.last().map(|p| p.output.as_str()), Some("probe-out\n"));
    let mut none = env.sh("none", "sleep 100");
    none.healthcheck = Some(fast(HealthTest::None));
    let n = env.run(&none);
    assert!(env.state(&n).health.is_none());
    for id in [id, c, n] {
        env.rt
            .remove(
                &id,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            )
            .expect("remove");
        env.assert_gone(&id);
    }
}

#[test]
fn healthcheck_timeout_counts_as_failure() {
    let env = TestEnv::new();
    let mut spec = env.sh("slowprobe", "sleep 100");
    let mut hc = fast(HealthTest::CmdShell("sleep 5".into()));
    hc.timeout = Duration::from_millis(300);
    hc.retries = 1;
    spec.healthcheck = Some(hc);
    let id = env.run(&spec);
    let st = env.wait_for(&id, Duration::from_secs(10), |s| {
        s.health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    });
    let h = st.health.expect("health");
    assert_eq!(h.status, HealthStatus::Unhealthy);
    assert!(
        h.log.iter().any(|p| p.output.contains("timeout")),
        "{:?}",
        h.log
    );
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

#[test]
fn failures_during_the_start_period_do_not_count() {
    let env = TestEnv::new();
    let mut spec = env.sh("startperiod", "sleep 100");
    spec.healthcheck = Some(Healthcheck {
        test: HealthTest::Cmd(vec!["false".into()]),
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        retries: 1,
        start_period: Duration::from_millis(1500),
        start_interval: Duration::from_millis(100),
        fast_start: true,
    });
    let id = env.run(&spec);
    std::thread::sleep(Duration::from_millis(900));
    let h = env.state(&id).health.expect("health");
    assert_eq!(h.status, HealthStatus::Starting);
    assert_eq!(h.failing_streak, 0);
    assert!(
        h.log.len() >= 3,
        "probes run every start_interval: {:?}",
        h.log
    );
    let st = env.wait_for(&id, Duration::from_secs(10), |s| {
        s.health
            .as_ref()
            .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    });
    assert_eq!(st.health.map(|h| h.status), Some(HealthStatus::Unhealthy));
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
