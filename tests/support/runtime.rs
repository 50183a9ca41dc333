//! Shared fixture for the container integration tests: a busybox rootfs made from Debian's static
//! `/bin/busybox`, an `ImageConfiguration` for it, and a [`TestEnv`] RAII guard with its own
//! state and run roots that removes every container (processes, mounts, cgroups, state) on drop,
//! even when the test panics.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};
use rcompose::runtime::container::{
    ContainerRuntime, ContainerSpec, ContainerState, RemoveOptions, Runtime, Status,
};

pub const BUSYBOX: &str = "/bin/busybox";

/// Makes a busybox rootfs in `dir` (a single lower dir).
pub fn make_busybox_rootfs(dir: &Path) {
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "home"] {
        fs::create_dir_all(dir.join(d)).expect("mkdir rootfs");
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("copy busybox");
    let out = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let _ = symlink("busybox", dir.join("bin").join(applet));
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .expect("passwd");
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
}

/// The image config of the busybox fixture: `PATH`, `Cmd ["sh"]`.
pub fn busybox_image() -> ImageConfiguration {
    let cfg = ConfigBuilder::default()
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ])
        .cmd(vec!["sh".to_string()])
        .build()
        .expect("image config");
    ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::Amd64)
        .os(oci_spec::image::Os::Linux)
        .config(cfg)
        .build()
        .expect("image configuration")
}

/// One test's runtime: own temp state/run roots, busybox rootfs, cleanup on drop.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub rt: ContainerRuntime,
    pub rootfs: PathBuf,
    /// Per-test cgroup parent, removed on drop.
    pub cgroup_parent: String,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rct")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let rootfs = dir.path().join("img");
        make_busybox_rootfs(&rootfs);
        let cgroup_parent = format!(
            "rcompose-test-{}",
            dir.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let rt = ContainerRuntime::new(
            dir.path().join("s"),
            dir.path().join("run"),
            env!("CARGO_BIN_EXE_rcompose"),
        )
        .expect("runtime")
        .with_cgroup_parent(cgroup_parent.clone());
        TestEnv {
            dir,
            rt,
            rootfs,
            cgroup_parent,
        }
    }

    /// A spec running `sh -c <script>` in the busybox image.
    pub fn sh(&self, name: &str, script: &str) -> ContainerSpec {
        let mut s = ContainerSpec::new(name, busybox_image(), vec![self.rootfs.clone()]);
        s.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
        s
    }

    pub fn run_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// create + start.
    pub fn run(&self, spec: &ContainerSpec) -> String {
        let id = self.rt.create(spec).expect("create");
        self.rt.start(&id).expect("start");
        id
    }

    pub fn state(&self, id: &str) -> ContainerState {
        self.rt.inspect(id).expect("inspect").state
    }

    /// Polls until `f(state)` holds or `timeout` passes.
    pub fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        f: impl Fn(&ContainerState) -> bool,
    ) -> ContainerState {
        let until = Instant::now() + timeout;
        loop {
            let st = self.state(id);
            if f(&st) || Instant::now() > until {
                return st;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// All log lines of a container, concatenated.
    pub fn log_text(&self, id: &str) -> String {
        self.rt
            .logs(id, &Default::default())
            .expect("logs")
            .map(|e| e.log)
            .collect()
    }

    /// Asserts nothing is left of container `id`: mounts, cgroups, state dir.
    pub fn assert_gone(&self, id: &str) {
        let paths = self.rt.layout().container(id);
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        assert!(
            !mounts.contains(paths.dir.to_string_lossy().as_ref()),
            "mounts left: {mounts}"
        );
        assert!(
            !mounts.contains(paths.run_dir.to_string_lossy().as_ref()),
            "mounts left: {mounts}"
        );
        for d in rcompose::runtime::container::cleanup::cgroup_dirs(&self.cgroup_parent, id) {
            assert!(!d.exists(), "cgroup left: {}", d.display());
        }
        assert!(!paths.dir.exists(), "state dir left");
        // No process left in the container's cgroups.
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.flatten() {
                let cg = fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
                assert!(
                    !cg.contains(id),
                    "process {:?} left in the container's cgroup",
                    e.file_name()
                );
            }
        }
        assert!(!paths.run_dir.exists(), "run dir left");
    }

    /// A cgroup file of container `id` (v1 controller `ctrl`).
    pub fn cgroup_file(&self, ctrl: &str, id: &str, file: &str) -> PathBuf {
        PathBuf::from(format!(
            "/sys/fs/cgroup/{ctrl}/{}/{id}/{file}",
            self.cgroup_parent
        ))
    }

    pub fn is_running(&self, id: &str) -> bool {
        self.state(id).status == Status::Running
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Ok(list) = self.rt.list() {
            for c in list {
                let _ = self.rt.remove(
                    &c.state.id,
                    RemoveOptions {
                        force: true,
                        volumes: true,
                    },
                );
            }
        }
        // The per-test cgroup parent (empty now; rmdir refuses non-empty cgroups anyway).
        for d in rcompose::runtime::container::cleanup::cgroup_dirs(&self.cgroup_parent, "") {
            let _ = fs::remove_dir(d);
        }
        // Belt and braces: unmount anything still under our temp dir.
        let root = self.dir.path().to_string_lossy().into_owned();
        if let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") {
            let mut mps: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|mp| mp.starts_with(&root))
                .collect();
            mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for mp in mps {
                let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}
