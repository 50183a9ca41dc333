//! Waiting on container state the way `up` does for `depends_on` conditions: a watcher wakes
//! up when the monitor writes a new state (or dies), and a healthcheck with docker's 30 s
//! interval still reports `healthy` within a second of the service being ready, thanks to the
//! extra probes while `starting`.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use rcompose::runtime::container::{
    ContainerError, ContainerState, HealthStatus, HealthTest, Healthcheck, RemoveOptions, Runtime,
    Status,
};
use support::runtime::TestEnv;

fn health(s: &ContainerState) -> Option<HealthStatus> {
    s.health.as_ref().map(|h| h.status)
}

/// How long ago `t` was, by the wall clock the monitor stamps states with.
fn ago(t: chrono::DateTime<Utc>) -> Duration {
    (Utc::now() - t).to_std().unwrap_or_default()
}

#[test]
fn a_ready_service_is_healthy_within_a_second_despite_a_30s_interval() {
    let env = TestEnv::new();
    let mut spec = env.sh("ready", "sleep 0.3; touch /tmp/ready; sleep 100");
    // docker's defaults: interval 30 s, no start period.
    spec.healthcheck = Some(Healthcheck::new(HealthTest::CmdShell(
        "test -f /tmp/ready".into(),
    )));
    let mut docker_like = spec.clone();
    docker_like.name = "docker-like".into();
    if let Some(hc) = &mut docker_like.healthcheck {
        hc.fast_start = false;
    }

    let t0 = Instant::now();
    let id = env.run(&spec);
    let slow = env.run(&docker_like);
    let st = env
        .rt
        .wait_until(&id, t0 + Duration::from_secs(10), |s| {
            health(s) == Some(HealthStatus::Healthy)
        })
        .expect("wait_until")
        .expect("healthy before the deadline");
    let took = t0.elapsed();
    eprintln!("healthy {took:?} after create");
    assert!(took < Duration::from_millis(1500), "healthy after {took:?}");

    let h = st.health.expect("health");
    assert_eq!(h.failing_streak, 0);
    // The extra probes before /tmp/ready existed failed: not counted, not logged.
    assert_eq!(h.log.len(), 1, "{:?}", h.log);
    assert_eq!(h.log[0].exit_code, 0);
    // The waiter woke up on the state write, not on a poll tick.
    let latency = ago(h.log[0].end);
    assert!(
        latency < Duration::from_millis(250),
        "woke {latency:?} late"
    );

    // With fast start off, docker's schedule: nothing probed yet, still starting.
    let s = env.state(&slow);
    assert_eq!(health(&s), Some(HealthStatus::Starting));
    assert!(s.health.expect("health").log.is_empty());

    for c in [&id, &slow] {
        env.rt
            .remove(
                c,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            )
            .expect("remove");
        env.assert_gone(c);
    }
}

#[test]
fn failing_extra_probes_leave_unhealthy_to_dockers_schedule() {
    let env = TestEnv::new();
    let mut spec = env.sh("never", "sleep 100");
    let mut hc = Healthcheck::new(HealthTest::Cmd(vec!["false".into()]));
    hc.interval = Duration::from_millis(1500);
    hc.retries = 1;
    spec.healthcheck = Some(hc);
    let t0 = Instant::now();
    let id = env.run(&spec);
    // Extra probes at 0.1, 0.2, 0.4, 0.9, 1.4 s all fail without effect.
    std::thread::sleep(Duration::from_millis(1200));
    let h = env.state(&id).health.expect("health");
    assert_eq!(h.status, HealthStatus::Starting);
    assert_eq!(h.failing_streak, 0);
    assert!(h.log.is_empty(), "{:?}", h.log);

    let st = env
        .rt
        .wait_until(&id, t0 + Duration::from_secs(10), |s| {
            health(s) == Some(HealthStatus::Unhealthy)
        })
        .expect("wait_until")
        .expect("unhealthy before the deadline");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(3000),
        "unhealthy after {took:?}"
    );
    let h = st.health.expect("health");
    assert_eq!(h.failing_streak, 1);
    assert_eq!(
        h.log.len(),
        1,
        "only the regular probe is logged: {:?}",
        h.log
    );
}

#[test]
fn wait_until_sees_an_exit_as_it_happens() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("exits", "sleep 0.3; exit 3"));
    let st = env
        .rt
        .wait_until(&id, Instant::now() + Duration::from_secs(10), |s| {
            s.status == Status::Exited
        })
        .expect("wait_until")
        .expect("exited before the deadline");
    assert_eq!(st.exit_code, Some(3));
    let latency = ago(st.finished_at.expect("finished_at"));
    assert!(
        latency < Duration::from_millis(250),
        "woke {latency:?} late"
    );
    // Already true: answered from the current state.
    let again = env
        .rt
        .wait_until(&id, Instant::now(), |s| s.status == Status::Exited)
        .expect("wait_until");
    assert_eq!(again.map(|s| s.exit_code), Some(Some(3)));
    // Never true: `None` at the deadline.
    let t = Instant::now();
    let never = env
        .rt
        .wait_until(&id, t + Duration::from_millis(300), |s| {
            s.status == Status::Running
        })
        .expect("wait_until");
    assert!(never.is_none());
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_killed_monitor_is_noticed_at_once() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("orphan", "sleep 100"));
    let monitor = env.state(&id).monitor.expect("monitor");
    let mut w = env.rt.watch(&id).expect("watch");
    assert_eq!(w.last().status, Status::Running);
    let t = Instant::now();
    // SAFETY: killing the monitor this test started.
    unsafe { libc::kill(monitor.pid, libc::SIGKILL) };
    let st = w
        .next(Duration::from_secs(10))
        .expect("next")
        .expect("a change");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(st.status, Status::Exited);
    assert!(st.monitor.is_none());
    assert!(st.error.is_some(), "{st:?}");
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn a_watcher_follows_start_stop_and_remove() {
    let env = TestEnv::new();
    let id = env
        .rt
        .create(&env.sh("follow", "sleep 100"))
        .expect("create");
    let mut w = env.rt.watch("follow").expect("watch by name");
    assert_eq!(w.id(), id);
    assert_eq!(w.last().status, Status::Created);
    assert!(w.next(Duration::from_millis(100)).expect("next").is_none());

    env.rt.start(&id).expect("start");
    let st = w
        .next(Duration::from_secs(5))
        .expect("next")
        .expect("started");
    assert_eq!(st.status, Status::Running);
    assert_eq!(w.current().expect("current").status, Status::Running);

    let stopper = {
        let rt = env.rt.clone();
        let id = id.clone();
        std::thread::spawn(move || rt.stop(&id, Some(Duration::from_millis(200))))
    };
    let mut seen = Vec::new();
    while let Some(st) = w.next(Duration::from_secs(5)).expect("next") {
        seen.push(st.status);
        if st.status == Status::Exited {
            break;
        }
    }
    stopper.join().expect("join").expect("stop");
    assert_eq!(seen.last(), Some(&Status::Exited), "{seen:?}");

    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    match w.next(Duration::from_secs(5)) {
        Err(ContainerError::NotFound(_)) => {}
        other => panic!("expected NotFound after remove, got {other:?}"),
    }
    env.assert_gone(&id);
}
