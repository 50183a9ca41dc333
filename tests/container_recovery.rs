//! Crash consistency: `kill -9` of the monitor or the container, and a simulated reboot (all
//! processes gone, run dir wiped) leave a state the next command reports and cleans up.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rcompose::runtime::container::state::ContainerState;
use rcompose::runtime::container::{RemoveOptions, Runtime, Status};
use support::runtime::TestEnv;

fn wait_dead(pid: i32) {
    let until = Instant::now() + Duration::from_secs(5);
    while rcompose::runtime::container::state::proc_start_time(pid).is_some()
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn rootfs_mounted(env: &TestEnv, id: &str) -> bool {
    rcompose::runtime::container::rootfs::is_mounted(&env.rt.layout().container(id).rootfs())
}

#[test]
fn kill_9_of_the_monitor_leaves_a_readable_and_cleanable_container() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("orphan", "sleep 100"));
    let paths = env.rt.layout().container(&id);
    // The state is on disk and readable without any monitor.
    let raw = ContainerState::load(&paths.state()).expect("state on disk");
    assert_eq!(raw.status, Status::Running);
    let monitor = raw.monitor.expect("monitor pid").pid;
    let init = raw.pid.expect("init pid");
    assert!(rootfs_mounted(&env, &id));

    kill(Pid::from_raw(monitor), Signal::SIGKILL).expect("kill monitor");
    wait_dead(monitor);
    // Still readable from disk as it was.
    assert_eq!(
        ContainerState::load(&paths.state()).expect("state").status,
        Status::Running
    );
    assert!(
        rcompose::runtime::container::state::proc_start_time(init).is_some(),
        "init died with the monitor"
    );

    // The next command notices: reported exited, container killed, mounts/cgroups cleaned.
    let st = env.state(&id);
    assert_eq!(st.status, Status::Exited);
    assert_eq!(st.exit_code, Some(137));
    assert!(
        st.error.as_deref().is_some_and(|e| e.contains("monitor")),
        "{st:?}"
    );
    wait_dead(init);
    assert!(
        rcompose::runtime::container::state::proc_start_time(init).is_none(),
        "container still running"
    );
    assert!(!rootfs_mounted(&env, &id));
    for d in rcompose::runtime::container::cleanup::cgroup_dirs(&env.cgroup_parent, &id) {
        assert!(!d.exists(), "cgroup left: {}", d.display());
    }
    // And it can be started again, then removed.
    env.rt.start(&id).expect("start again");
    assert_eq!(env.state(&id).restart_count, 0);
    assert_eq!(env.state(&id).status, Status::Running);
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

#[test]
fn kill_9_of_the_container_init_is_an_exit_137() {
    let env = TestEnv::new();
    let id = env.run(&env.sh("victim", "sleep 100"));
    let pid = env.state(&id).pid.expect("pid");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill init");
    assert_eq!(env.rt.wait(&id).expect("wait"), 137);
    env.rt
        .remove(&id, RemoveOptions::default())
        .expect("remove");
    env.assert_gone(&id);
}

#[test]
fn simulated_reboot_reports_stale_containers_exited_and_cleans_them() {
    let env = TestEnv::new();
    let a = env.run(&env.sh("before-reboot-a", "sleep 100"));
    let b = env.run(&env.sh("before-reboot-b", "sleep 100"));
    let paused = env.run(&env.sh("before-reboot-p", "sleep 100"));
    env.rt.pause(&paused).expect("pause");
    // "Power off": every process dies at once, the run dir (a tmpfs in real life) is gone.
    for id in [&a, &b, &paused] {
        let st = ContainerState::load(&env.rt.layout().container(id).state()).expect("state");
        let monitor = st.monitor.expect("monitor").pid;
        kill(Pid::from_raw(monitor), Signal::SIGKILL).expect("kill monitor");
        wait_dead(monitor);
    }
    for id in [&a, &b] {
        let init = ContainerState::load(&env.rt.layout().container(id).state())
            .expect("state")
            .pid
            .expect("pid");
        kill(Pid::from_raw(init), Signal::SIGKILL).expect("kill init");
        wait_dead(init);
    }
    std::fs::remove_dir_all(env.run_root()).expect("wipe run dir");

    let list = env.rt.list().expect("list");
    assert_eq!(list.len(), 3);
    for c in &list {
        assert_eq!(c.state.status, Status::Exited, "{:?}", c.state);
        assert!(c.state.monitor.is_none() && c.state.pid.is_none());
        assert!(!rootfs_mounted(&env, &c.state.id));
        for d in rcompose::runtime::container::cleanup::cgroup_dirs(&env.cgroup_parent, &c.state.id)
        {
            assert!(!d.exists(), "cgroup left: {}", d.display());
        }
    }
    // After the "reboot" a container starts again (the run dir is recreated on demand).
    env.rt.start(&a).expect("start after reboot");
    assert_eq!(env.state(&a).status, Status::Running);
    for id in [a, b, paused] {
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
fn interrupted_create_and_remove_leave_nothing_visible() {
    let env = TestEnv::new();
    let dir = env.rt.layout().containers_dir();
    // What a create killed before its rename and a remove killed mid-way leave behind.
    std::fs::create_dir_all(dir.join(".new-999999999-abc")).expect("mkdir");
    std::fs::write(dir.join(".new-999999999-abc/state.json"), "{}").expect("write");
    std::fs::create_dir_all(dir.join(".rm-def/u")).expect("mkdir");
    assert!(env.rt.list().expect("list").is_empty());
    env.rt.reconcile_all().expect("reconcile");
    assert_eq!(std::fs::read_dir(&dir).expect("read").count(), 0);
}
