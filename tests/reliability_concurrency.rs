//! Concurrency (issue 8): `up` and `down` of one project racing each other (the per-project
//! lock holds: the end state is one of the two, consistent), and ten projects brought up and
//! down at once on one state root (shared network state, netd, firewall tables).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::compose::ComposeEnv;
use support::probe;
use support::residue;

const PAIR: &str = r#"
x-bb: &bb
  image: lab/busybox:1
  init: true
services:
  api:
    <<: *bb
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    healthcheck:
      test: ["CMD-SHELL", "wget -qO- http://127.0.0.1/ >/dev/null"]
      interval: 1s
  client:
    <<: *bb
    command: ["sleep", "100000"]
    depends_on:
      api: { condition: service_healthy }
"#;

fn names(env: &ComposeEnv) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = env
        .ps_json(&["-a"])
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap_or("").to_string(),
                c["State"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The project runs as asked: both services running, the client reaches the api by name.
fn assert_up(env: &ComposeEnv) {
    let p = &env.project;
    assert_eq!(
        names(env),
        [
            (format!("{p}-api-1"), "running".to_string()),
            (format!("{p}-client-1"), "running".to_string())
        ]
    );
    let page = env.ok(&["exec", "-T", "client", "wget", "-qO-", "http://api/"]);
    assert!(page.contains("lab/busybox:1"), "{page}");
}

#[test]
fn up_and_down_of_one_project_at_once_end_in_one_of_the_two_states() {
    require_root!();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    eprintln!("up/down race: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let env = ComposeEnv::new("race", PAIR);
    let mut ifnames = residue::bridge_names(&env, &["default"]);
    let mut outcomes = BTreeSet::new();
    for round in 0..6 {
        // Sometimes the project is already up when the race starts.
        if rng.random_bool(0.5) {
            env.ok(&["up", "-d", "--wait"]);
            ifnames.extend(residue::network_ifnames(&env));
        }
        let offset = Duration::from_millis(rng.random_range(0..300));
        let up_first = rng.random_bool(0.5);
        let (first, second): (&[&str], &[&str]) = if up_first {
            (&["up", "-d", "--wait"], &["down", "-v", "-t", "0"])
        } else {
            (&["down", "-v", "-t", "0"], &["up", "-d", "--wait"])
        };
        let (out_a, out_b) = std::thread::scope(|s| {
            let a = s.spawn(|| env.command(first).output().expect("first"));
            std::thread::sleep(offset);
            let b = env.command(second).output().expect("second");
            (a.join().expect("join"), b)
        });
        for (args, out) in [(first, &out_a), (second, &out_b)] {
            assert!(
                out.status.success(),
                "round {round}: {args:?}\n{}",
                probe::streams(out)
            );
        }
        ifnames.extend(residue::network_ifnames(&env));
        // Whichever took the lock last decided the end state.
        if names(&env).is_empty() {
            let left = residue::project_residue(&env, &ifnames);
            assert!(
                left.is_empty(),
                "round {round}: down last, left:\n{}",
                left.join("\n")
            );
            outcomes.insert("down");
        } else {
            assert_up(&env);
            outcomes.insert("up");
        }
    }
    eprintln!("up/down race outcomes: {outcomes:?}");
    env.ok(&["down", "-v", "-t", "0"]);
    let left = residue::project_residue(&env, &ifnames);
    assert!(left.is_empty(), "left:\n{}", left.join("\n"));
}

#[test]
fn ten_projects_up_and_down_at_once_on_one_root() {
    require_root!();
    let first = ComposeEnv::new("many", PAIR);
    // Dropped before `first`, whose directory holds everyone's state: each sibling's own
    // `down` runs while that state is there.
    let siblings: Vec<ComposeEnv> = (1..10).map(|_| first.sibling("many", PAIR)).collect();
    let envs: Vec<&ComposeEnv> = std::iter::once(&first).chain(&siblings).collect();
    std::thread::scope(|s| {
        for env in &envs {
            s.spawn(move || env.ok(&["up", "-d", "--wait"]));
        }
    });
    let mut ifnames = BTreeSet::new();
    for env in &envs {
        assert_up(env);
        ifnames.extend(residue::network_ifnames(env));
        ifnames.extend(residue::bridge_names(env, &["default"]));
    }
    // Each project resolves its own `api` only: ten networks, ten different answers.
    let answers: BTreeSet<Vec<String>> = envs
        .iter()
        .map(|env| probe::addresses(&env.ok(&["exec", "-T", "client", "nslookup", "api"])))
        .collect();
    assert_eq!(answers.len(), envs.len(), "{answers:?}");
    assert!(answers.iter().all(|a| a.len() == 1), "{answers:?}");

    std::thread::scope(|s| {
        for env in &envs {
            s.spawn(move || env.ok(&["down", "-v", "-t", "0"]));
        }
    });
    for env in &envs {
        let left = residue::project_residue(env, &ifnames);
        assert!(
            left.is_empty(),
            "{}: left:\n{}",
            env.project,
            left.join("\n")
        );
    }
}
