//! A hostile image: every path the Compose file mounts or writes to is a symlink in the image to
//! a directory on the host (absolute, or climbing with `../`). Bind mounts, named volumes (and
//! their first-use copy of the image content), tmpfs, secrets, `/etc/hosts` and `resolv.conf`, the
//! working directory, `cp` into the container and the user database must all land inside the
//! container's root; the host directories stay as they were, with nothing mounted on them.

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::busybox::{busybox_config, rootfs_tar};
use support::compose::ComposeEnv;
use support::oci::{Compression, tar_dir, write_image, write_index_json};
use support::tarball::TarBuilder;

/// Host directories the image's symlinks point at, with the content a leak would show.
struct HostSide {
    dir: tempfile::TempDir,
}

impl HostSide {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rcphost")
            .tempdir_in("/tmp")
            .expect("tempdir");
        for d in [
            "bind",
            "volume",
            "tmpfs",
            "secrets",
            "workdir",
            "cp",
            "leak/inner",
        ] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        fs::write(dir.path().join("leak/inner/host-file"), "host content").expect("write");
        fs::write(dir.path().join("hosts"), "host hosts file\n").expect("write");
        fs::write(dir.path().join("resolv"), "host resolv.conf\n").expect("write");
        fs::write(dir.path().join("group"), "hostgroup:x:4242:\n").expect("write");
        HostSide { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `../` enough times to climb out of any rootfs, then the host path.
    fn climbing(&self, rel: &str) -> String {
        format!("{}{}", "../".repeat(12), self.path(rel).display())
    }

    fn abs(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// What changed on the host side: entries that were not there, mounts under it, files edited.
    fn damage(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["bind", "volume", "tmpfs", "secrets", "workdir", "cp"] {
            for e in fs::read_dir(self.path(d)).expect("read_dir").flatten() {
                out.push(format!("{d}/{}", e.file_name().to_string_lossy()));
            }
        }
        let inner: Vec<_> = fs::read_dir(self.path("leak/inner"))
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if inner != ["host-file"] {
            out.push(format!("leak/inner: {inner:?}"));
        }
        for (file, content) in [
            ("hosts", "host hosts file\n"),
            ("resolv", "host resolv.conf\n"),
        ] {
            if fs::read_to_string(self.path(file)).expect("read") != content {
                out.push(format!("{file} edited"));
            }
        }
        let root = self.dir.path().display().to_string();
        for line in fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
        {
            if let Some(mp) = line.split(' ').nth(4)
                && mp.starts_with(&root)
            {
                out.push(format!("mount on {mp}"));
            }
        }
        out
    }
}

/// busybox plus a layer whose mount targets are symlinks to `host`'s directories. The image also
/// has those paths (empty directories), so the symlinks resolve inside it; `dangling` points at
/// a host path the image does not have.
fn hostile_layer(host: &HostSide) -> Vec<u8> {
    let mut t = TarBuilder::new();
    let mut mirror = String::new();
    for comp in host.dir.path().components().skip(1) {
        mirror.push_str(&comp.as_os_str().to_string_lossy());
        mirror.push('/');
        t.dir(&mirror, 0o755);
    }
    for d in [
        "bind",
        "volume",
        "tmpfs",
        "secrets",
        "workdir",
        "cp",
        "leak",
        "leak/inner",
    ] {
        t.dir(&format!("{mirror}{d}/"), 0o755);
    }
    t.symlink("dangling", &host.abs("nowhere"))
        .symlink("data-bind", &host.abs("bind"))
        .symlink("data-vol", &host.climbing("volume"))
        .symlink("data-tmpfs", &host.abs("tmpfs"))
        .symlink("wd", &host.climbing("workdir"))
        .symlink("data-cp", &host.abs("cp"))
        .symlink("leak", &host.abs("leak"))
        .dir("run/", 0o755)
        .symlink("run/secrets", &host.climbing("secrets"))
        .symlink("etc/hosts", &host.abs("hosts"))
        .symlink("etc/resolv.conf", &host.climbing("resolv"))
        .symlink("etc/group", &host.abs("group"));
    t.finish()
}

fn load_hostile_image(env: &ComposeEnv, host: &HostSide) {
    let layout = env.dir.path().join("hostile-oci");
    let img = write_image(
        &layout,
        &[rootfs_tar(), hostile_layer(host)],
        Compression::Gzip,
        "amd64",
        busybox_config(),
    );
    write_index_json(
        &layout,
        &[(&img.manifest, "1", Some("docker.io/lab/hostile:1"))],
    );
    let archive = env.dir.path().join("hostile-oci.tar");
    fs::write(&archive, tar_dir(&layout)).expect("write archive");
    env.ok(&["image", "load", "-i", archive.to_str().expect("utf-8")]);
}

const PROJECT: &str = r#"
services:
  probe:
    image: lab/hostile:1
    working_dir: /wd/sub
    volumes:
      - ./src:/data-bind
      - vol:/data-vol
      # Anonymous: created by the runtime, so populated from the image at first use.
      - /leak/inner
    tmpfs: [/data-tmpfs]
    secrets: [token]
    command:
      - sh
      - -c
      - |
        echo "pwd=$$(pwd)"
        echo "bind=$$(cat /data-bind/from-project)"
        echo from-container > /data-bind/written
        echo x > /data-vol/x && echo x > /data-tmpfs/x && echo x > /wd/sub/x
        echo "secret=$$(cat /run/secrets/token)"
        echo "leak=$$(ls /leak/inner)"
        echo "hosts=$$(grep -c localhost /etc/hosts)"
  sleeper:
    image: lab/hostile:1
    command: ["sleep", "1000"]
  dangling:
    image: lab/hostile:1
    volumes: ["./src:/dangling/sub"]
    command: ["sh", "-c", "echo through the dangling link > /dangling/sub/f && cat /dangling/sub/f"]
secrets:
  token:
    file: ./token.txt
volumes:
  vol: {}
"#;

#[test]
fn mounts_secrets_and_workdir_land_inside_the_rootfs() {
    require_root!();
    let host = HostSide::new();
    let env = ComposeEnv::new("hostile", PROJECT);
    load_hostile_image(&env, &host);
    fs::create_dir_all(env.project_dir().join("src")).expect("mkdir");
    env.write("src/from-project", "project file");
    env.write("token.txt", "s3cret");

    let out = env.ok(&["run", "--rm", "probe"]);
    let lines: Vec<&str> = out.lines().collect();
    // /wd -> ../../<host>/workdir, taken inside the container: the shell's physical path has the
    // host's spelling, but it is the container's directory (the host's stays empty, below).
    let pwd = format!("pwd={}", host.abs("workdir/sub"));
    assert_eq!(
        lines,
        [
            pwd.as_str(),
            "bind=project file",
            "secret=s3cret",
            // The volume was populated from the image's /leak/inner, resolved in the image: empty.
            "leak=",
            "hosts=2",
        ],
        "{out}"
    );
    // The bind mount is the project's directory, wherever the image's symlink pointed.
    assert_eq!(
        fs::read_to_string(env.project_dir().join("src/written")).expect("written"),
        "from-container\n"
    );
    assert_eq!(host.damage(), Vec::<String>::new());
}

/// A mount through a symlink that dangles inside the image lands where the symlink points, taken
/// inside the image (as runc's securejoin does for docker), and nothing appears on the host.
#[test]
fn a_mount_through_a_dangling_symlink_lands_inside_the_rootfs() {
    require_root!();
    let host = HostSide::new();
    let env = ComposeEnv::new("hostile-dangling", PROJECT);
    load_hostile_image(&env, &host);
    fs::create_dir_all(env.project_dir().join("src")).expect("mkdir");
    let out = env.ok(&["run", "--rm", "dangling"]);
    assert_eq!(out, "through the dangling link\n");
    assert_eq!(
        fs::read_to_string(env.project_dir().join("src/f")).expect("written to the bind source"),
        "through the dangling link\n"
    );
    assert!(!host.path("nowhere").exists());
    assert_eq!(host.damage(), Vec::<String>::new());
}

/// The user database is read inside the image: its `/etc/group` symlink to a host file is a
/// missing group file, not the host's groups.
#[test]
fn the_user_database_is_read_inside_the_rootfs() {
    require_root!();
    let host = HostSide::new();
    let env = ComposeEnv::new("hostile-user", PROJECT);
    load_hostile_image(&env, &host);
    let err = env.fails(&["run", "--rm", "--user", "0:hostgroup", "sleeper", "id"]);
    assert!(err.contains("no group \"hostgroup\""), "{err}");
    assert_eq!(host.damage(), Vec::<String>::new());
}

/// Runs `cmd`, killing it if it has not finished in a minute (a hung monitor must fail the test,
/// not hang it).
fn run_bounded(mut cmd: Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// A running container turns its files into traps for the host-side runtime: `cp` follows its
/// symlink inside the container, and an `exec -u` against a FIFO `/etc/passwd` fails instead of
/// blocking the monitor.
#[test]
fn a_running_container_cannot_trap_cp_or_exec() {
    require_root!();
    let host = HostSide::new();
    let env = ComposeEnv::new("hostile-live", PROJECT);
    load_hostile_image(&env, &host);
    env.ok(&["up", "-d", "sleeper"]);
    let container = format!("{}-sleeper-1", env.project);

    env.write("copied", "copied in");
    let src = env.project_dir().join("copied");
    env.ok(&["cp", src.to_str().expect("utf-8"), "sleeper:/data-cp/"]);
    let seen = env.ok(&["exec", "-T", "sleeper", "cat", "/data-cp/copied"]);
    assert_eq!(seen, "copied in");

    env.ok(&[
        "exec",
        "-T",
        "sleeper",
        "sh",
        "-c",
        "rm /etc/passwd && mkfifo /etc/passwd",
    ]);
    let out = run_bounded(env.command(&["exec", "-T", "-u", "root", "sleeper", "true"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no user \"root\""), "{err}");
    // The monitor still answers.
    assert_eq!(
        env.ok(&["exec", "-T", "sleeper", "echo", "alive"]),
        "alive\n"
    );
    assert!(env.pid_of(&container).is_some());
    assert_eq!(host.damage(), Vec::<String>::new());
}
