//! A throwaway Compose project for end-to-end tests of the `rcompose` binary: a temp project
//! directory, its own state and run roots, cgroup parent and address pool (so tests run in
//! parallel), the busybox fixture loaded as `lab/busybox:1`. On drop it runs `down -v` and
//! removes everything it made, even when the test failed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct ComposeEnv {
    pub dir: tempfile::TempDir,
    pub project: String,
    cgroup_parent: String,
    pools: String,
    /// State and run roots live under this directory (another env's, for a sibling).
    roots: PathBuf,
}

impl ComposeEnv {
    /// A project named `<prefix>-<pid>-<n>` whose `compose.yaml` is `yaml`.
    pub fn new(prefix: &str, yaml: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = tempfile::Builder::new()
            .prefix("rcp")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let env = ComposeEnv {
            project: format!("{prefix}-{pid}-{n}"),
            cgroup_parent: format!("rcompose-test-{pid}-{n}"),
            pools: format!("10.{}.0.0/16/24", 120 + (pid * 7 + n) % 100),
            roots: dir.path().to_path_buf(),
            dir,
        };
        fs::create_dir_all(env.project_dir()).expect("project dir");
        env.write("compose.yaml", yaml);
        let bb = super::busybox::busybox();
        env.ok(&[
            "image",
            "load",
            "-i",
            bb.docker_archive.to_str().expect("utf-8 path"),
        ]);
        env
    }

    /// Another project on the same state root (same runtime, networks side by side).
    pub fn sibling(&self, prefix: &str, yaml: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("rcp")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let env = ComposeEnv {
            project: format!("{prefix}-{}-{n}", std::process::id()),
            cgroup_parent: self.cgroup_parent.clone(),
            pools: self.pools.clone(),
            roots: self.roots.clone(),
            dir,
        };
        fs::create_dir_all(env.project_dir()).expect("project dir");
        env.write("compose.yaml", yaml);
        env
    }

    pub fn project_dir(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn state_root(&self) -> PathBuf {
        self.roots.join("state")
    }

    pub fn run_root(&self) -> PathBuf {
        self.roots.join("run")
    }

    /// The directory holding the state and run roots.
    pub fn roots(&self) -> &Path {
        &self.roots
    }

    /// The cgroup parent of this env's containers.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    pub fn write(&self, file: &str, text: &str) {
        fs::write(self.project_dir().join(file), text).expect("write project file");
    }

    /// The command, ready to run in the project directory with this env's roots.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rcompose"));
        c.current_dir(self.project_dir())
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .env("RCOMPOSE_ROOT", self.state_root())
            .env("RCOMPOSE_RUN_ROOT", self.run_root())
            .env("RCOMPOSE_CGROUP_PARENT", &self.cgroup_parent)
            .env("RCOMPOSE_ADDRESS_POOLS", &self.pools)
            .env("COMPOSE_PROGRESS", "plain")
            .env_remove("COMPOSE_FILE")
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run rcompose")
    }

    /// Run; panic with both streams unless it exits 0; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rcompose {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run expecting failure; stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "rcompose {args:?} should have failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `ps --format json` as parsed objects (one per line, like docker compose 2.40).
    pub fn ps_json(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["ps", "--format", "json"];
        args.extend_from_slice(extra);
        self.ok(&args)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }

    /// Pid of a container's main process, from the runtime's state file.
    pub fn pid_of(&self, container: &str) -> Option<i64> {
        let dir = self.state_root().join("containers");
        for e in fs::read_dir(dir).ok()?.flatten() {
            let st: serde_json::Value =
                serde_json::from_slice(&fs::read(e.path().join("state.json")).ok()?).ok()?;
            if st["name"] == container {
                return st["pid"].as_i64();
            }
        }
        None
    }

    /// Mount points under this env's directory still present in the host's mount table.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let root = self.roots.to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }

    fn remove_cgroups(&self) {
        for base in cgroup_bases() {
            let p = base.join(&self.cgroup_parent);
            if p.exists() {
                let _ = fs::remove_dir(&p);
            }
        }
    }

    /// The project's containers are gone, no mount, netns, link or netd process is left.
    pub fn assert_clean(&self) {
        assert!(
            self.leftover_mounts().is_empty(),
            "mounts left: {:?}",
            self.leftover_mounts()
        );
        let netns = self.run_root().join("netns");
        let left: Vec<_> = fs::read_dir(&netns)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "netns left: {left:?}");
        assert!(
            !self.run_root().join("network/netd.pid").exists(),
            "netd still running"
        );
    }
}

fn cgroup_bases() -> Vec<PathBuf> {
    fs::read_dir("/sys/fs/cgroup")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_else(|_| vec![Path::new("/sys/fs/cgroup").to_path_buf()])
}

impl Drop for ComposeEnv {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans", "-t", "0"]);
        self.remove_cgroups();
        // Anything a crashed test left mounted under the temp dir.
        for m in self.leftover_mounts().iter().rev() {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}
