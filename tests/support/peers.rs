//! Peer tools for side-by-side tests: finds docker compose v2 (`docker-compose-v2`, from the peer
//! lab's `install-compose-v2.sh`) with a dockerd answering, and drives a compose command line on
//! one project ([`ComposeCli`]; rcompose's side is `super::compose::ComposeEnv`). [`ProjectDown`]
//! takes a project down, volumes included, when dropped, even when the test panics.
//!
//! Tests that use a peer must pass where it is absent (CI): [`DockerCompose::detect`] returns why
//! it is unavailable, and the test prints that and returns.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The docker compose v2 wrapper the lab installs (v2.40.3).
pub const DOCKER_COMPOSE_V2: &str = "docker-compose-v2";
/// The socket of the lab's dockerd (`start-dockerd.sh`).
pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// A compose CLI bound to one project: `<program> -f FILE -p PROJECT <args>`,
/// with its own environment additions (interpolation variables, `DOCKER_HOST`).
#[derive(Clone, Debug)]
pub struct ComposeCli {
    /// For messages: "docker compose v2", "rcompose".
    pub label: String,
    program: PathBuf,
    env: Vec<(String, String)>,
    file: PathBuf,
    project: String,
}

impl ComposeCli {
    pub fn new(label: &str, program: impl Into<PathBuf>, file: &Path, project: &str) -> Self {
        ComposeCli {
            label: label.to_string(),
            program: program.into(),
            env: Vec::new(),
            file: file.to_path_buf(),
            project: project.to_string(),
        }
    }

    /// Adds an environment variable to every command.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// The command for `args`, run from the Compose file's directory with no `COMPOSE_*`
    /// variables of the caller leaking in.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-f")
            .arg(&self.file)
            .arg("-p")
            .arg(&self.project)
            .args(args);
        if let Some(dir) = self.file.parent() {
            cmd.current_dir(dir);
        }
        for (k, _) in
            std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("COMPOSE_"))
        {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap_or_else(|e| {
            panic!("{}: cannot run {}: {e}", self.label, self.program.display())
        })
    }

    /// Runs `args`, panics with the stderr if it fails, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {}: {}\n{}",
            self.label,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A guard that takes the project down (`down -v`) when dropped.
    pub fn down_on_drop(&self) -> ProjectDown {
        ProjectDown(self.clone())
    }
}

/// Takes its project down, volumes included, on drop; what fails is reported, not panicked on.
pub struct ProjectDown(ComposeCli);

impl Drop for ProjectDown {
    fn drop(&mut self) {
        let cli = &self.0;
        // -t 1: the services trap SIGTERM, but a failed test may have left anything running.
        // No panic here: this runs while unwinding from a failed assertion.
        let down = |args: &[&str]| cli.command(args).output().is_ok_and(|o| o.status.success());
        let done = down(&["down", "-v", "-t", "1"]) || down(&["down", "-v"]);
        if !done {
            eprintln!(
                "{}: `down -v` of project {} failed during cleanup",
                cli.label, cli.project
            );
        }
    }
}

/// docker compose v2 with a live dockerd and the image a test needs.
pub struct DockerCompose {
    pub program: PathBuf,
    pub docker: PathBuf,
}

impl DockerCompose {
    /// The peer, or why it cannot run here (not installed, no dockerd answering).
    pub fn detect() -> Result<DockerCompose, String> {
        let program = which(DOCKER_COMPOSE_V2).ok_or(format!(
            "{DOCKER_COMPOSE_V2} not on PATH (peer lab: install-compose-v2.sh)"
        ))?;
        let docker = which("docker").ok_or("no docker CLI on PATH")?;
        let server = Command::new(&docker)
            .args(["version", "--format", "{{.Server.Version}}"])
            .env("DOCKER_HOST", DOCKER_HOST)
            .output()
            .map_err(|e| format!("docker version: {e}"))?;
        if !server.status.success() {
            return Err(format!(
                "no dockerd answering on {DOCKER_HOST} (peer lab: start-dockerd.sh): {}",
                String::from_utf8_lossy(&server.stderr).trim()
            ));
        }
        Ok(DockerCompose { program, docker })
    }

    /// A [`ComposeCli`] for `project` that talks to the lab's dockerd.
    pub fn cli(&self, file: &Path, project: &str) -> ComposeCli {
        ComposeCli::new("docker compose v2", &self.program, file, project)
            .env("DOCKER_HOST", DOCKER_HOST)
    }

    /// Makes sure dockerd has `reference`, loading `docker_archive` (a `docker save` tarball
    /// tagged `reference`) only when the tag is absent, so nobody's image gets retagged.
    pub fn ensure_image(&self, reference: &str, docker_archive: &Path) {
        if self
            .docker(["image".as_ref(), "inspect".as_ref(), reference.as_ref()])
            .status
            .success()
        {
            return;
        }
        let out = self.docker([
            "load".as_ref(),
            "-q".as_ref(),
            "-i".as_ref(),
            docker_archive.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "docker load {}: {}",
            docker_archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the docker CLI against the lab's dockerd.
    pub fn docker<'a>(&self, args: impl IntoIterator<Item = &'a OsStr>) -> Output {
        Command::new(&self.docker)
            .args(args)
            .env("DOCKER_HOST", DOCKER_HOST)
            .output()
            .expect("run docker")
    }
}

/// The first `name` in `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
