//! `rcompose events` for what happens to a running container besides its lifecycle: a command
//! exec'd in it (`exec_create`, `exec_start`, `exec_die` with its exit code) and a `restart`
//! (its stop, then `start` and `restart`), as docker compose reports them.

mod support;

use serde_json::Value;
use support::compose::ComposeEnv;

const PROJECT: &str = r#"
services:
  worker:
    image: lab/busybox:1
    command: ["sleep", "1000"]
"#;

/// The replayed history (`--json`) of container `name`.
fn history(env: &ComposeEnv, name: &str) -> Vec<Value> {
    env.ok(&["events", "--json", "--since", "5m", "--until", "0s"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["attributes"]["name"] == name)
        .collect()
}

#[test]
fn exec_and_restart_show_in_the_events() {
    require_root!();
    let env = ComposeEnv::new("evexec", PROJECT);
    let worker = format!("{}-worker-1", env.project);
    env.ok(&["up", "-d", "--wait"]);
    let out = env.run(&["exec", "-T", "worker", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    env.ok(&["restart", "-t", "0", "worker"]);

    let events = history(&env, &worker);
    let actions: Vec<&str> = events.iter().filter_map(|v| v["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "create",
            "start",
            "exec_create: sh -c exit 3",
            "exec_start: sh -c exit 3",
            "exec_die",
            "kill",
            "kill",
            "die",
            "stop",
            "start",
            "restart",
        ],
        "{events:#?}"
    );
    // One exec id across its three events; its exit code on exec_die.
    let exec_ids: Vec<&str> = events[2..5]
        .iter()
        .filter_map(|v| v["attributes"]["execID"].as_str())
        .collect();
    assert_eq!(exec_ids.len(), 3, "{events:#?}");
    assert_eq!(exec_ids[0].len(), 64);
    assert!(exec_ids.iter().all(|id| *id == exec_ids[0]), "{exec_ids:?}");
    assert_eq!(events[4]["attributes"]["exitCode"], "3");

    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
