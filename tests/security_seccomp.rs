//! Seccomp in real containers: docker's default profile refuses what it refuses in docker (a
//! user namespace: `unshare -U`) unless the container has the capability that opens it
//! (`cap_add: [SYS_ADMIN]`); `security_opt: seccomp=unconfined` and `privileged: true` run
//! without a filter; `seccomp=<file>` loads a profile from the project directory and
//! `no-new-privileges` sets the flag. When the lab's dockerd is up, docker compose v2 runs the
//! same project and must print the same.

mod support;

use support::busybox::{REFERENCE, busybox};
use support::compose::ComposeEnv;
use support::peers::DockerCompose;

/// What each service prints: whether a user namespace and a directory can be made, and the
/// kernel's view of its seccomp mode and no_new_privs flag.
const PROBE: &str = "unshare -U true 2>/dev/null && echo userns=allowed || echo userns=denied; \
     mkdir /tmp/probe 2>/dev/null && echo mkdir=allowed || echo mkdir=denied; \
     grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d ' \\t'";

/// Refuses mkdir with EACCES, allows the rest.
const DENY_MKDIR: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
  ]
}"#;

fn project() -> String {
    let service = |name: &str, extra: &str| {
        format!(
            "  {name}:\n    image: {REFERENCE}\n    command: [\"sh\", \"-c\", {PROBE:?}]\n{extra}"
        )
    };
    [
        "services:\n".to_string(),
        service("confined", ""),
        service("sysadmin", "    cap_add: [SYS_ADMIN]\n"),
        service("unconfined", "    security_opt: [\"seccomp=unconfined\"]\n"),
        service(
            "custom",
            "    security_opt: [\"seccomp=./deny-mkdir.json\", \"no-new-privileges:true\"]\n",
        ),
        service("privileged", "    privileged: true\n"),
    ]
    .concat()
}

/// The probe's output of `service` through `run --rm`.
fn probe(run: impl Fn(&[&str]) -> String, service: &str) -> Vec<String> {
    run(&["run", "--rm", service])
        .lines()
        .map(str::to_string)
        .collect()
}

const EXPECTED: &[(&str, [&str; 4])] = &[
    (
        "confined",
        [
            "userns=denied",
            "mkdir=allowed",
            "NoNewPrivs:0",
            "Seccomp:2",
        ],
    ),
    (
        "sysadmin",
        [
            "userns=allowed",
            "mkdir=allowed",
            "NoNewPrivs:0",
            "Seccomp:2",
        ],
    ),
    (
        "unconfined",
        [
            "userns=allowed",
            "mkdir=allowed",
            "NoNewPrivs:0",
            "Seccomp:0",
        ],
    ),
    (
        "custom",
        [
            "userns=allowed",
            "mkdir=denied",
            "NoNewPrivs:1",
            "Seccomp:2",
        ],
    ),
    (
        "privileged",
        [
            "userns=allowed",
            "mkdir=allowed",
            "NoNewPrivs:0",
            "Seccomp:0",
        ],
    ),
];

#[test]
fn default_profile_unconfined_privileged_and_a_profile_file() {
    require_root!();
    let env = ComposeEnv::new("seccomp", &project());
    env.write("deny-mkdir.json", DENY_MKDIR);
    for (service, expected) in EXPECTED {
        assert_eq!(
            probe(|a| env.ok(a), service),
            expected.to_vec(),
            "rcompose, service {service}"
        );
    }
}

/// The same project under docker compose v2 prints the same, `privileged` aside: dockerd
/// cannot start a privileged container on this VM (its bounding set lacks CAP_SYS_RESOURCE,
/// "unable to apply caps").
#[test]
fn docker_compose_prints_the_same() {
    require_root!();
    let docker = match DockerCompose::detect() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    docker.ensure_image(REFERENCE, &busybox().docker_archive);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, project()).expect("write compose.yaml");
    std::fs::write(dir.path().join("deny-mkdir.json"), DENY_MKDIR).expect("write profile");
    let cli = docker.cli(&file, &format!("seccomp-peer-{}", std::process::id()));
    let _down = cli.down_on_drop();
    for (service, expected) in EXPECTED.iter().filter(|(s, _)| *s != "privileged") {
        assert_eq!(
            probe(|a| cli.ok(a), service),
            expected.to_vec(),
            "docker compose v2, service {service}"
        );
    }
}

#[test]
fn bad_profiles_are_refused_naming_the_file() {
    require_root!();
    let yaml = format!(
        "services:\n  missing:\n    image: {REFERENCE}\n    security_opt: [\"seccomp=nope.json\"]\n  broken:\n    image: {REFERENCE}\n    security_opt: [\"seccomp=broken.json\"]\n"
    );
    let env = ComposeEnv::new("seccomp-bad", &yaml);
    env.write(
        "broken.json",
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [{\"names\": [\"x\"], \"action\": \"SCMP_ACT_SOMETIMES\"}]\n}\n",
    );
    let err = env.fails(&["up", "-d", "missing"]);
    let missing = env.project_dir().join("nope.json");
    assert!(
        err.contains(&format!("seccomp profile {}", missing.display())),
        "{err}"
    );
    let err = env.fails(&["up", "-d", "broken"]);
    assert!(err.contains("broken.json: line 3, column"), "{err}");
    assert!(err.contains("SCMP_ACT_SOMETIMES"), "{err}");
}
