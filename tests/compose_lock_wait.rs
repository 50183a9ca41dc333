//! Two commands on one project: the second waits for the first and says which command it is
//! waiting for, then goes on once the first lets go. The "first command" here is the test
//! itself, holding the project's lock the way rcompose does (a `flock` on the lock file, which
//! names the holder).

mod support;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use support::compose::ComposeEnv;

const PROJECT: &str = r#"
services:
  app:
    image: lab/busybox:1
    command: ["sleep", "300"]
"#;

#[test]
fn a_command_waiting_for_the_project_lock_names_the_holder() {
    require_root!();
    let env = ComposeEnv::new("lockwait", PROJECT);
    let dir = env.state_root().join("projects");
    std::fs::create_dir_all(&dir).expect("projects dir");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join(format!("{}.lock", env.project)))
        .expect("open the lock file");
    let mut held = Flock::lock(file, FlockArg::LockExclusive).expect("take the lock");
    writeln!(held, "{}\nrcompose up --wait", std::process::id()).expect("name the holder");

    let mut up = env
        .command(&["up", "-d"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let (tx, lines) = mpsc::channel();
    let stderr = up.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // (A generous deadline: without the line, `up` would wait on the lock for ever.)
    let mut seen = Vec::new();
    let waiting = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l.contains("Waiting") => break l,
            Ok(l) => seen.push(l),
            Err(_) => panic!("no Waiting line; up printed {seen:#?}"),
        }
    };
    assert!(
        waiting.contains(&format!(
            "Waiting for \"rcompose up --wait\" (pid {}) to finish with this project",
            std::process::id()
        )),
        "{waiting}"
    );
    assert!(waiting.contains(&env.project), "{waiting}");

    // The first command is done: the second goes on and brings the project up.
    drop(held);
    let status = up.wait().expect("wait for up");
    reader.join().expect("stderr reader");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(status.success(), "{rest:#?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("Ready (the other command has finished)")),
        "{rest:#?}"
    );
    let ps = env.ps_json(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
