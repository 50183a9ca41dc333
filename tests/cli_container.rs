//! `rcompose container run` as a user runs it (the runtime's own command, no project): output and
//! exit code come back, and `--rm` leaves nothing behind, also when the container cannot start.

mod support;

use support::compose::ComposeEnv;

fn containers_left(env: &ComposeEnv) -> Vec<String> {
    std::fs::read_dir(env.state_root().join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn image_holds_left(env: &ComposeEnv) -> Vec<String> {
    let holds = env.state_root().join("image/holds");
    walk(&holds)
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn container_run_reports_output_and_exit_code_and_rm_leaves_nothing() {
    require_root!();
    let env = ComposeEnv::new("crun", "services: {}\n");
    let out = env.run(&[
        "container",
        "run",
        "--rm",
        "lab/busybox:1",
        "sh",
        "-c",
        "echo hello from the container; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello from the container"),
        "{out:?}"
    );
    assert!(
        containers_left(&env).is_empty(),
        "{:?}",
        containers_left(&env)
    );

    // A command that does not exist: the start fails, and --rm still removes the container.
    let err = env.fails(&[
        "container",
        "run",
        "--rm",
        "lab/busybox:1",
        "/no/such/program",
    ]);
    assert!(err.contains("/no/such/program"), "{err}");
    assert!(
        containers_left(&env).is_empty(),
        "{:?}",
        containers_left(&env)
    );
    assert!(
        image_holds_left(&env).is_empty(),
        "{:?}",
        image_holds_left(&env)
    );
    env.assert_clean();
}
