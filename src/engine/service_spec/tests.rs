//! [`container_plan`] end to end, on Compose files loaded by the real loader; the expected values
//! are what docker compose v2.40.3 + dockerd 20.10 created for the same files (`docker inspect`).

use super::test_support::{Fixture, IMAGE_ID, busybox};
use super::*;
use crate::compose::model::config_hash;
use crate::engine::labels as l;
use crate::runtime::container::{HealthTest, MountKind, RestartPolicy};

fn plan_of(f: &Fixture, service: &str, number: u32) -> Result<ServiceContainer, SpecError> {
    container_plan(
        &f.ctx(),
        &f.loaded.project.services[service],
        number,
        &busybox(),
        None,
    )
}

/// The lab project's `web` service (see `/tmp/spec-lab/p1` in the report).
const WEB: &str = r#"
name: speclab
services:
  web:
    image: lab/busybox:1
    command: sleep 1000
    environment: [A=1, UNSET_VAR_X]
    working_dir: /srv
    user: "1000:1000"
    group_add: [wheel]
    init: true
    stop_signal: SIGINT
    stop_grace_period: 3s
    ports: ["8089:80"]
    security_opt: [no-new-privileges:true]
    logging: {driver: json-file, options: {max-size: 1m, max-file: "3"}}
    labels: {team: a}
    deploy:
      restart_policy: {condition: on-failure, max_attempts: 3}
      resources: {limits: {cpus: "0.5", memory: 64m, pids: 50}}
"#;

#[test]
fn a_service_container_like_docker_compose_creates_it() {
    let f = Fixture::new(WEB);
    let c = plan_of(&f, "web", 1).unwrap();
    assert_eq!(c.name, "speclab-web-1");
    let s = &c.spec;
    assert_eq!(s.name, "speclab-web-1");
    assert_eq!(s.lower_dirs, busybox().layer_dirs);
    assert_eq!(
        (s.entrypoint.clone(), s.command.clone()),
        (None, Some(vec!["sleep".into(), "1000".into()]))
    );
    assert_eq!(s.effective_args(), ["sleep", "1000"]);
    assert_eq!(
        s.env.iter().collect::<Vec<_>>(),
        [(&"A".to_string(), &"1".to_string())],
        "UNSET_VAR_X is left out"
    );
    assert_eq!(
        (s.working_dir.as_deref(), s.user.as_deref()),
        (Some("/srv"), Some("1000:1000"))
    );
    assert_eq!(s.group_add, ["wheel"]);
    assert!(s.init && s.no_new_privileges);
    assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(s.stop_grace_period, Some(Duration::from_secs(3)));
    assert_eq!(
        s.restart,
        RestartPolicy::OnFailure {
            max_retries: Some(3)
        }
    );
    assert_eq!(
        (s.resources.cpus, s.resources.memory, s.resources.pids_limit),
        (Some(0.5), Some(64 << 20), Some(50))
    );
    assert_eq!((s.log.max_size, s.log.max_file), (Some(1_000_000), 3));
    assert_eq!(s.network, crate::runtime::container::NetworkMode::Private);
    assert_eq!(c.network_mode, NetworkMode::Bridge);
    assert_eq!(c.attachments[0].network, "speclab_default");
    assert_eq!(
        c.attachments[0].aliases,
        ["web", "speclab-web-1", "web.speclab"]
    );
    assert_eq!(c.ports.len(), 1);
    assert!(c.files.is_empty() && c.warnings.is_empty() && !c.tty && !c.stdin_open);
    let labels = &s.labels;
    assert_eq!(
        labels[l::CONFIG_HASH],
        config_hash(&f.loaded.project.services["web"])
    );
    assert_eq!(labels[l::IMAGE], IMAGE_ID);
    assert_eq!(labels[l::CONTAINER_NUMBER], "1");
    assert_eq!(labels[l::ONEOFF], "False");
    assert_eq!(labels[l::WORKING_DIR], f.dir.path().display().to_string());
    assert_eq!(
        labels[l::CONFIG_FILES],
        f.dir.path().join("compose.yaml").display().to_string()
    );
    assert_eq!(labels["team"], "a");
}

/// Replica numbers name the container; a fixed `container_name` cannot have a second replica.
#[test]
fn second_replica_and_container_name() {
    let f = Fixture::new(WEB);
    let c = plan_of(&f, "web", 2).unwrap();
    assert_eq!(
        (c.name.as_str(), c.spec.labels[l::CONTAINER_NUMBER].as_str()),
        ("speclab-web-2", "2")
    );
    let f = Fixture::new("services: {db: {image: x, container_name: pg}}");
    assert_eq!(plan_of(&f, "db", 1).unwrap().name, "pg");
    let e = plan_of(&f, "db", 2).unwrap_err().to_string();
    assert!(e.contains("invalid `container_name` \"pg\""), "{e}");
}

/// `docker compose run -d cache sleep 5` on the lab project created
/// `speclab-cache-run-c30cee8719cc` with config hash 5ea66cc0…: the service with `run`'s changes
/// (command, `stdin_open` from `-i`, the generated name, no restart policy).
#[test]
fn oneoff_like_docker_compose_run() {
    let mut f = Fixture::new(
        "name: speclab\nservices:\n  cache:\n    image: lab/busybox:1\n    command: sleep 1000\n    restart: always\n",
    );
    let slug = "c30cee8719cc08786efd5c1281f35ab139e73ac7c0877b0f35a4192fe60bb522";
    f.oneoff = Some(OneOff {
        slug: slug.into(),
        use_aliases: false,
    });
    let mut svc = f.loaded.project.services["cache"].clone();
    svc.command = Some(crate::compose::model::ShellCommand(vec![
        "sleep".into(),
        "5".into(),
    ]));
    svc.stdin_open = true;
    let c = container_plan(&f.ctx(), &svc, 1, &busybox(), None).unwrap();
    assert_eq!(c.name, "speclab-cache-run-c30cee8719cc");
    assert_eq!(c.spec.restart, RestartPolicy::No);
    assert!(c.stdin_open);
    let labels = &c.spec.labels;
    assert_eq!(
        (labels[l::ONEOFF].as_str(), labels[l::SLUG].as_str()),
        ("True", slug)
    );
    assert!(!labels.contains_key(l::CONTAINER_NUMBER));
    assert_eq!(
        labels[l::CONFIG_HASH],
        "5ea66cc06498ac0a2d6b8da3b27002bd7c0e2ecf669510297ef953b46437af7a"
    );
    assert_eq!(c.attachments[0].aliases, ["speclab-cache-run-c30cee8719cc"]);
}

/// dockerd's merge of entrypoint and command with the image (`Cmd: ["sh"]`), as inspected:
/// `entrypoint: []` → Entrypoint [], Cmd ["sh"]; `command: []` → Cmd ["sh"];
/// `entrypoint: [echo]` → Cmd null.
#[test]
fn entrypoint_and_command_merge_like_dockerd() {
    let f = Fixture::new(
        "services: {a: {image: x, entrypoint: []}, b: {image: x, command: []}, c: {image: x, entrypoint: [echo]}, d: {image: x, entrypoint: [], command: [id]}}",
    );
    let args = |s: &str| {
        let c = plan_of(&f, s, 1).unwrap();
        (
            c.spec.entrypoint.clone(),
            c.spec.command.clone(),
            c.spec.effective_args(),
        )
    };
    assert_eq!(
        args("a"),
        (
            Some(vec![]),
            Some(vec!["sh".into()]),
            vec!["sh".to_string()]
        )
    );
    assert_eq!(args("b"), (None, None, vec!["sh".to_string()]));
    assert_eq!(
        args("c"),
        (Some(vec!["echo".into()]), None, vec!["echo".to_string()])
    );
    assert_eq!(args("d").2, ["id"]);
}

#[test]
fn mounts_health_and_files_come_together() {
    let f = Fixture::new(
        r#"
services:
  db:
    image: x
    volumes: [data:/data]
    configs: [{source: motd, target: /etc/motd}]
    healthcheck: {test: pg_isready, interval: 1s}
    tty: true
configs: {motd: {content: hi}}
volumes: {data: {}}
"#,
    );
    let c = plan_of(&f, "db", 1).unwrap();
    assert!(matches!(c.spec.mounts[0].kind, MountKind::Volume { .. }));
    assert_eq!(c.files[0].target, "/etc/motd");
    let h = c.spec.healthcheck.unwrap();
    assert_eq!(
        (h.test, h.interval),
        (
            HealthTest::CmdShell("pg_isready".into()),
            Duration::from_secs(1)
        )
    );
    assert!(c.tty);
}

#[test]
fn image_healthcheck_from_the_raw_config() {
    let f = Fixture::new("services: {db: {image: x}}");
    let raw = serde_json::json!({"config": {"Healthcheck": {"Test": ["CMD", "true"]}}});
    let c = container_plan(
        &f.ctx(),
        &f.loaded.project.services["db"],
        1,
        &busybox(),
        Some(&raw),
    )
    .unwrap();
    assert_eq!(
        c.spec.healthcheck.unwrap().test,
        HealthTest::Cmd(vec!["true".into()])
    );
}

#[test]
fn platform_must_match_the_image() {
    let f = Fixture::new(
        "services: {a: {image: x, platform: linux/amd64}, b: {image: x, platform: linux/arm64/v8}}",
    );
    assert!(plan_of(&f, "a", 1).is_ok());
    let e = plan_of(&f, "b", 1).unwrap_err().to_string();
    assert!(
        e.contains("invalid `platform` \"linux/arm64/v8\": the image is linux/amd64"),
        "{e}"
    );
}

#[test]
fn errors_name_the_service_and_key() {
    let f = Fixture::new(
        "services: {gpu: {image: x, devices: ['/dev/dri']}, db: {image: x, networks: [missing]}}\nnetworks: {missing: {external: true}}",
    );
    assert_eq!(
        plan_of(&f, "gpu", 1).unwrap_err(),
        SpecError::Unsupported {
            service: "gpu".into(),
            key: "devices".into(),
            reason: "containers have no device access".into()
        }
    );
    // The engine passed networks that lack one the service uses.
    let ctx = SpecContext {
        networks: &[],
        ..f.ctx()
    };
    let e =
        container_plan(&ctx, &f.loaded.project.services["db"], 1, &busybox(), None).unwrap_err();
    assert_eq!(e, SpecError::undefined("db", "network", "missing"));
    assert_eq!(
        e.to_string(),
        "service \"db\" refers to undefined network \"missing\""
    );
}
