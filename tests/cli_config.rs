//! `rcompose config` as a user runs it: in a project directory, with flags and variables, and
//! with the mistakes people make in Compose files.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use std::io::Write;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("rcompose-cfg")
            .tempdir()
            .expect("tempdir");
        for (name, content) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, content).expect("write");
        }
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `rcompose ARGS` in `cwd` with a clean environment plus `env`.
    fn run_in(
        &self,
        cwd: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcompose"));
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/home/tester")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rcompose");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_in(self.path(), args, env, None)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "rcompose failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[test]
fn finds_the_project_upwards_and_applies_the_override_file() {
    let p = Project::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n",
        ),
        (
            "compose.override.yaml",
            "services:\n  web:\n    environment: [DEBUG=1]\n",
        ),
        ("src/deep/.keep", ""),
    ]);
    let out = p.run_in(
        &p.path().join("src/deep"),
        &["config", "--format", "json"],
        &[],
        None,
    );
    let j = json(&out);
    let name = p
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase()
        .replace('.', "");
    assert_eq!(j["name"], name.as_str());
    assert_eq!(j["services"]["web"]["environment"]["DEBUG"], "1");
    assert_eq!(j["services"]["web"]["ports"][0]["published"], "8080");
    assert_eq!(j["services"]["web"]["ports"][0]["target"], 80);
}

#[test]
fn reads_stdin_and_compose_file_variable() {
    let p = Project::new(&[
        ("a.yml", "services:\n  a:\n    image: a\n"),
        ("b.yml", "services:\n  b:\n    image: b\n"),
    ]);
    let out = p.run(
        &["config", "--services"],
        &[
            ("COMPOSE_FILE", "a.yml;b.yml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ],
    );
    assert_eq!(stdout(&out), "a\nb\n", "{}", stderr(&out));
    let out = p.run_in(
        p.path(),
        &["-f", "-", "-p", "piped", "config", "--format", "json"],
        &[],
        Some("services:\n  s:\n    image: x\n"),
    );
    let j = json(&out);
    assert_eq!(j["name"], "piped");
    assert_eq!(j["services"]["s"]["image"], "x");
}

#[test]
fn project_name_precedence() {
    let p = Project::new(&[(
        "compose.yaml",
        "name: fromfile\nservices:\n  a:\n    image: a\n",
    )]);
    let name = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend(["config", "--format", "json"]);
        json(&p.run(&all, env))["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(name(&[], &[]), "fromfile");
    assert_eq!(name(&[], &[("COMPOSE_PROJECT_NAME", "fromenv")]), "fromenv");
    assert_eq!(
        name(&["-p", "fromflag"], &[("COMPOSE_PROJECT_NAME", "fromenv")]),
        "fromflag"
    );
    let out = p.run(&["-p", "Not Valid", "config"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid project name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn interpolation_with_env_file_and_shell_precedence() {
    let p = Project::new(&[
        (
            "compose.yaml",
            "services:\n  a:\n    image: \"${IMAGE}:${TAG:-latest}\"\n    environment:\n      PRICE: $$5\n",
        ),
        (".env", "IMAGE=from-dotenv\nTAG=1.0\n"),
        ("other.env", "TAG=2.0\n"),
    ]);
    let j = json(&p.run(&["config", "--format", "json"], &[("IMAGE", "from-shell")]));
    assert_eq!(j["services"]["a"]["image"], "from-shell:1.0");
    assert_eq!(
        j["services"]["a"]["environment"]["PRICE"], "$$5",
        "a literal $ is printed escaped, like docker compose"
    );
    let j = json(&p.run(
        &["--env-file", "other.env", "config", "--format", "json"],
        &[],
    ));
    assert_eq!(j["services"]["a"]["image"], ":2.0");
    let out = p.run(&["config", "--no-interpolate", "--format", "json"], &[]);
    assert_eq!(
        json(&out)["services"]["a"]["image"],
        "${IMAGE}:${TAG:-latest}"
    );
}

#[test]
fn profiles_and_named_services() {
    let p = Project::new(&[(
        "compose.yaml",
        "services:\n  app: {image: a}\n  debug: {image: d, profiles: [dev]}\n  tools: {image: t, profiles: [ops], depends_on: [app]}\n",
    )]);
    assert_eq!(stdout(&p.run(&["config", "--services"], &[])), "app\n");
    assert_eq!(
        stdout(&p.run(&["--profile", "dev", "config", "--services"], &[])),
        "app\ndebug\n"
    );
    assert_eq!(
        stdout(&p.run(
            &["config", "--services"],
            &[("COMPOSE_PROFILES", "dev,ops")]
        )),
        "app\ndebug\ntools\n"
    );
    assert_eq!(
        stdout(&p.run(&["config", "--services", "tools"], &[])),
        "app\ntools\n"
    );
    assert_eq!(stdout(&p.run(&["config", "--profiles"], &[])), "dev\nops\n");
}

#[test]
fn facets_and_output_file() {
    let p = Project::new(&[(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMG:-nginx}\n    volumes: [data:/d]\n  job:\n    build: ./job\nvolumes:\n  data:\n  unused:\n",
    )]);
    assert_eq!(stdout(&p.run(&["config", "--volumes"], &[])), "data\n");
    assert_eq!(stdout(&p.run(&["config", "--networks"], &[])), "default\n");
    let name = p
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase()
        .replace('.', "");
    let mut images = vec![format!("{name}-job"), "nginx".to_string()];
    images.sort();
    assert_eq!(
        stdout(&p.run(&["config", "--images"], &[])),
        images.join("\n") + "\n",
        "sorted, like docker compose"
    );
    let vars = stdout(&p.run(&["config", "--variables"], &[]));
    assert!(vars.starts_with("NAME                REQUIRED"), "{vars}");
    assert!(
        vars.contains("IMG                 false               nginx"),
        "{vars}"
    );
    let out = p.run(&["config", "-q"], &[]);
    assert!(out.status.success() && out.stdout.is_empty());
    let target = p.path().join("out.json");
    let out = p.run(
        &["config", "--format", "json", "-o", target.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(written["services"]["web"]["image"], "nginx");
    let hashes = stdout(&p.run(&["config", "--hash", "*"], &[]));
    assert_eq!(hashes.lines().count(), 2, "{hashes}");
    assert!(hashes.starts_with("job "), "{hashes}");
}

/// An error names the file, the key path and the line, and the exit code is non-zero.
fn assert_error(files: &[(&str, &str)], expected: &[&str]) {
    let p = Project::new(files);
    let out = p.run(&["config"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected failure, got {}",
        stdout(&out)
    );
    let err = stderr(&out);
    for part in expected {
        assert!(err.contains(part), "error {err:?} should contain {part:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn yaml_syntax_error_shows_the_line() {
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: [nginx\n    ports: x\n",
        )],
        &["compose.yaml:", "|"],
    );
}

#[test]
fn unknown_key_and_wrong_type() {
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: nginx\n    imagee: typo\n",
        )],
        &["compose.yaml:4:", "services.web.imagee", "not allowed"],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: nginx\n    privileged: [yes]\n",
        )],
        &[
            "compose.yaml:4:",
            "services.web.privileged",
            "expected a boolean",
        ],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: nginx\n    ports: ['80:x']\n",
        )],
        &["compose.yaml:4:", "services.web.ports[0]"],
    );
}

#[test]
fn interpolation_errors_name_the_key() {
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n",
        )],
        &[
            "compose.yaml:3:",
            "services.web.image",
            "required variable IMAGE is missing a value: set IMAGE first",
        ],
    );
    assert_error(
        &[("compose.yaml", "services:\n  web:\n    image: ${IMAGE\n")],
        &["services.web.image", "invalid interpolation format"],
    );
}

#[test]
fn semantic_errors() {
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: a\n    networks: [nope]\n",
        )],
        &["undefined network nope"],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: a\n    volumes: ['data:/d']\n",
        )],
        &["undefined volume data"],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  a: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [a]}\n",
        )],
        &["dependency cycle detected: a -> b -> a"],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  a: {image: a, container_name: x, scale: 2}\n",
        )],
        &["container_name"],
    );
    assert_error(
        &[(
            "compose.yaml",
            "services:\n  a: {image: a, cpus: 1, deploy: {resources: {limits: {cpus: '2'}}}}\n",
        )],
        &["can't set distinct values on 'cpus'"],
    );
    assert_error(
        &[("compose.yaml", "services:\n  a: {command: x}\n")],
        &["neither an image nor a build context"],
    );
}

#[test]
fn missing_file_and_unknown_subcommand() {
    let p = Project::new(&[]);
    let out = p.run(&["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no configuration file provided"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["frobnicate"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Usage"), "{}", stderr(&out));
}

#[test]
fn extends_and_include_across_directories() {
    let p = Project::new(&[
        (
            "compose.yaml",
            "include:\n  - lib/compose.yaml\nservices:\n  web:\n    extends: {file: base/common.yaml, service: base}\n    depends_on: [db]\n",
        ),
        (
            "base/common.yaml",
            "services:\n  base:\n    image: app\n    build: ./ctx\n    env_file: base.env\n",
        ),
        ("base/base.env", "FROM_BASE=1\n"),
        (
            "lib/compose.yaml",
            "services:\n  db:\n    image: postgres\n    volumes: ['./init:/docker-entrypoint-initdb.d']\n",
        ),
    ]);
    let j = json(&p.run(&["config", "--format", "json"], &[]));
    let root = p.path().canonicalize().unwrap_or(p.path().to_path_buf());
    let root = root.display();
    assert_eq!(
        j["services"]["web"]["build"]["context"],
        format!("{root}/base/ctx")
    );
    assert_eq!(j["services"]["web"]["environment"]["FROM_BASE"], "1");
    assert_eq!(
        j["services"]["db"]["volumes"][0]["source"],
        format!("{root}/lib/init")
    );
    assert_eq!(
        j["services"]["web"]["depends_on"]["db"]["condition"],
        "service_started"
    );
}
