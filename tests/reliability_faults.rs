//! Faults (issue 8): a full disk during a pull (a small tmpfs as the state root), a registry that
//! drops the connection mid-blob or serves corrupt bytes (a proxy in front of a real registry),
//! a full disk under a running container's log, and a crash-looping `restart: always` service.
//! Each must fail cleanly or carry on: no half-written blob, layer or image, a store that still
//! works, a container that keeps running, a restart loop that backs off instead of spinning.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use support::busybox;
use support::compose::ComposeEnv;
use support::oci::{self, Compression};
use support::probe;
use support::registry::Registry;
use support::tarball::TarBuilder;

/// A tmpfs of a given size mounted on a directory; unmounted on drop.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(ok.success(), "mount tmpfs on {}", at.display());
        Tmpfs {
            at: at.to_path_buf(),
        }
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.at)
            .status()
            .expect("run mount");
        assert!(ok.success(), "resize tmpfs {}", self.at.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// `rcompose --root <root>/state --run-root <root>/run ARGS`.
fn rcompose(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .arg("--root")
        .arg(root.join("state"))
        .arg("--run-root")
        .arg(root.join("run"))
        .args(args)
        .current_dir(root)
        .env("HOME", root)
        .output()
        .expect("run rcompose")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What is wrong with the image store under `state`: a blob whose content is not its digest, a
/// temp file, an index entry whose manifest, config, layer blobs or unpacked layers are missing.
fn store_faults(state: &Path) -> Vec<String> {
    let image = state.join("image");
    let mut out = Vec::new();
    let blobs = image.join("blobs/sha256");
    for e in fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let data = fs::read(e.path()).unwrap_or_default();
        if oci::sha256(&data) != format!("sha256:{name}") {
            out.push(format!("blob {name} does not match its digest"));
        }
    }
    for e in fs::read_dir(image.join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
    {
        out.push(format!("temp file {}", e.path().display()));
    }
    let store = match rcompose::runtime::image::ImageStore::open(state) {
        Ok(s) => s,
        Err(e) => return vec![format!("store does not open: {e}")],
    };
    match store.list() {
        Ok(images) => {
            for img in images {
                for d in &img.layer_dirs {
                    if !d.is_dir() {
                        out.push(format!("image {} lacks layer {}", img.id, d.display()));
                    }
                }
            }
        }
        Err(e) => out.push(format!("store does not list: {e}")),
    }
    out
}

/// A layout holding `big/data:1`: one gzip layer of `mib` MiB of incompressible bytes.
fn big_image(dir: &Path, mib: usize) -> oci::WrittenImage {
    let mut data = vec![0u8; mib << 20];
    rand::rngs::StdRng::seed_from_u64(8).fill_bytes(&mut data);
    let tar = TarBuilder::new()
        .dir("data/", 0o755)
        .file("data/noise", 0o644, &data)
        .finish();
    let img = oci::write_image(
        dir,
        &[tar],
        Compression::Gzip,
        "amd64",
        serde_json::json!({}),
    );
    oci::write_index_json(dir, &[(&img.manifest, "1", None)]);
    img
}

#[test]
fn a_full_disk_during_a_pull_fails_cleanly_and_a_bigger_root_pulls() {
    require_root!();
    let reg = Registry::start();
    let layout = tempfile::tempdir().expect("layout");
    let img = big_image(layout.path(), 8);
    reg.skopeo_push(
        &format!("oci:{}:1", layout.path().display()),
        "big/data:1",
        &[],
    );
    let reference = format!("{}/big/data:1", reg.host());
    let root = tempfile::Builder::new()
        .prefix("rcp")
        .tempdir_in("/tmp")
        .expect("root");
    let disk = Tmpfs::mount(&root.path().join("state"), "4m");

    // The layer blob (8 MiB) does not fit: the download fails.
    let out = rcompose(root.path(), &["image", "pull", &reference]);
    assert!(!out.status.success(), "pull onto a 4 MiB disk");
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store_faults(&disk.at), Vec::<String>::new());
    assert!(!oci::blob_path(&disk.at.join("image"), &img.layers[0].digest).exists());
    let ls = rcompose(root.path(), &["image", "ls", "-q"]);
    assert!(
        ls.status.success() && ls.stdout.is_empty(),
        "{}",
        stderr(&ls)
    );

    // The blob fits, its unpacked copy does not: the unpack fails, no half layer stays.
    disk.resize("12m");
    let out = rcompose(root.path(), &["image", "pull", &reference]);
    assert!(!out.status.success(), "unpack onto a full disk");
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store_faults(&disk.at), Vec::<String>::new());
    let diff = &img.diff_ids[0][7..];
    assert!(!disk.at.join("image/layers").join(diff).exists());
    let ls = rcompose(root.path(), &["image", "ls", "-q"]);
    assert!(
        ls.status.success() && ls.stdout.is_empty(),
        "{}",
        stderr(&ls)
    );

    // With room, the same store pulls the image.
    disk.resize("64m");
    let out = rcompose(root.path(), &["image", "pull", &reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(store_faults(&disk.at), Vec::<String>::new());
    let ls = rcompose(root.path(), &["image", "ls"]);
    assert!(
        String::from_utf8_lossy(&ls.stdout).contains("big/data"),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );
}

/// What the proxy does to the response carrying one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fault {
    Pass,
    /// Close the connection half-way through the blob.
    Drop(String),
    /// Flip a byte half-way through the blob.
    Corrupt(String),
}

/// A TCP proxy on a loopback port in front of `upstream` that applies a [`Fault`] to GETs of
/// one blob. Each client connection gets its own upstream connection.
struct FaultProxy {
    port: u16,
    fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    fn start(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (fault.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let fault = f.lock().map(|g| g.clone()).unwrap_or(Fault::Pass);
                let upstream = upstream.clone();
                std::thread::spawn(move || proxy_connection(client, &upstream, fault));
            }
        });
        FaultProxy { port, fault, stop }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = fault;
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn proxy_connection(client: TcpStream, upstream: &str, fault: Fault) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let armed = Arc::new(AtomicBool::new(false));
    let target = match &fault {
        Fault::Pass => None,
        Fault::Drop(d) | Fault::Corrupt(d) => Some(format!("/blobs/{d}")),
    };
    let (mut c_in, mut s_out) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let a = armed.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = c_in.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            if let Some(t) = &target
                && text.starts_with("GET ")
                && text.lines().next().is_some_and(|l| l.contains(t.as_str()))
            {
                a.store(true, Ordering::SeqCst);
            }
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(std::net::Shutdown::Write);
    });
    forward_responses(server, client, &armed, &fault);
}

/// Upstream to client; while `armed`, the response (headers, then Content-Length body bytes)
/// gets `fault` half-way through its body.
fn forward_responses(
    mut server: TcpStream,
    mut client: TcpStream,
    armed: &AtomicBool,
    fault: &Fault,
) {
    let mut buf = [0u8; 16384];
    let mut head: Vec<u8> = Vec::new();
    let mut body: Option<(usize, usize)> = None; // (seen, length)
    while let Ok(n) = server.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut chunk = buf[..n].to_vec();
        if armed.load(Ordering::SeqCst) && body.is_none() {
            head.extend_from_slice(&chunk);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let headers = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
                let len = headers
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                // What of this chunk is body.
                let body_in_chunk = head.len() - (end + 4);
                let start = chunk.len() - body_in_chunk;
                body = Some((0, len));
                let (before, rest) = chunk.split_at(start);
                if client.write_all(before).is_err() {
                    return;
                }
                chunk = rest.to_vec();
                head.clear();
            } else {
                continue;
            }
        }
        if let Some((seen, len)) = body.as_mut() {
            let half = *len / 2;
            if (*seen..*seen + chunk.len()).contains(&half) {
                let at = half - *seen;
                match fault {
                    Fault::Drop(_) => {
                        let _ = client.write_all(&chunk[..at]);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    Fault::Corrupt(_) => chunk[at] ^= 0xff,
                    Fault::Pass => {}
                }
            }
            *seen += chunk.len();
            if *seen >= *len {
                body = None;
                armed.store(false, Ordering::SeqCst);
            }
        }
        if client.write_all(&chunk).is_err() {
            return;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Write);
}

#[test]
fn a_registry_that_drops_or_corrupts_a_blob_gives_a_clear_error_and_no_corrupt_store() {
    require_root!();
    let reg = Registry::start();
    let layout = tempfile::tempdir().expect("layout");
    let img = big_image(layout.path(), 2);
    reg.skopeo_push(
        &format!("oci:{}:1", layout.path().display()),
        "big/data:1",
        &[],
    );
    let proxy = FaultProxy::start(reg.host());
    let reference = format!("{}/big/data:1", proxy.host());
    let layer = img.layers[0].digest.clone();
    let root = tempfile::Builder::new()
        .prefix("rcp")
        .tempdir_in("/tmp")
        .expect("root");
    let state = root.path().join("state");

    for fault in [Fault::Drop(layer.clone()), Fault::Corrupt(layer.clone())] {
        proxy.set(fault.clone());
        let out = rcompose(root.path(), &["image", "pull", &reference]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{fault:?}: pull succeeded");
        eprintln!("{fault:?}: {}", err.trim());
        assert!(
            err.contains(&layer[7..19]) || err.contains(&layer),
            "{fault:?}: {err}"
        );
        if matches!(fault, Fault::Corrupt(_)) {
            assert!(err.contains("digest mismatch"), "{err}");
        }
        assert_eq!(store_faults(&state), Vec::<String>::new(), "{fault:?}");
        assert!(!oci::blob_path(&state.join("image"), &layer).exists());
        let ls = rcompose(root.path(), &["image", "ls", "-q"]);
        assert!(
            ls.status.success() && ls.stdout.is_empty(),
            "{}",
            stderr(&ls)
        );
    }

    proxy.set(Fault::Pass);
    let out = rcompose(root.path(), &["image", "pull", &reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(store_faults(&state), Vec::<String>::new());
}

/// The highest `n` of the `line N` records in the service's log.
fn last_line_number(env: &ComposeEnv) -> u64 {
    env.ok(&["logs", "--no-log-prefix", "--tail", "5", "talker"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("line ")?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_full_disk_under_the_log_does_not_stop_the_container() {
    require_root!();
    let env = ComposeEnv::new(
        "fulllog",
        r#"
services:
  talker:
    image: lab/busybox:1
    init: true
    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo line $$i; usleep 5000; done"]
"#,
    );
    // The whole state root (containers, their logs, the image) on a small tmpfs.
    let disk = Tmpfs::mount(&env.state_root(), "48m");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        log_on_a_full_disk(&env, &disk)
    }));
    // Down while the tmpfs (and the containers' state on it) is still mounted.
    let down = env.run(&["down", "-v", "-t", "0"]);
    drop(disk);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(down.status.success(), "{}", probe::streams(&down));
    env.assert_clean();
}

fn log_on_a_full_disk(env: &ComposeEnv, disk: &Tmpfs) {
    let bb = busybox::busybox();
    env.ok(&[
        "image",
        "load",
        "-i",
        bb.docker_archive.to_str().expect("utf-8"),
    ]);
    env.ok(&["up", "-d", "--wait"]);
    let name = format!("{}-talker-1", env.project);
    let pid = env.pid_of(&name).expect("running");

    // Fill the disk to the last byte; the container keeps logging into it.
    let filler = disk.at.join("filler");
    let mut f = fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 1 << 20];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..4096]).is_ok() {}
    while f.write_all(&block[..1]).is_ok() {}
    drop(f);
    let full_at = last_line_number(env);
    // Let it write a few hundred lines into the full disk.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(env.pid_of(&name), Some(pid), "same process");
    assert!(rcompose::runtime::container::state::proc_start_time(pid as i32).is_some());
    let ps = env.ps_json(&[]);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["State"], "running", "{ps:#?}");
    let hello = env.ok(&["exec", "-T", "talker", "echo", "still here"]);
    assert_eq!(hello.trim(), "still here");

    // Room again: the log goes on where the container is now.
    fs::remove_file(&filler).expect("free the disk");
    let until = Instant::now() + Duration::from_secs(30);
    while last_line_number(env) <= full_at + 100 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(last_line_number(env) > full_at + 100, "logging resumed");
}

/// `(action, unix nanoseconds)` of the container's events, in order.
fn container_events(env: &ComposeEnv, name: &str) -> Vec<(String, i64)> {
    let text = fs::read_to_string(env.state_root().join("events.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["attributes"]["name"] == name)
        .filter_map(|e| Some((e["action"].as_str()?.to_string(), e["time_nano"].as_i64()?)))
        .collect()
}

fn monitor_of(env: &ComposeEnv, name: &str) -> Option<i32> {
    let dir = env.state_root().join("containers");
    fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let st: serde_json::Value =
            serde_json::from_slice(&fs::read(e.path().join("state.json")).ok()?).ok()?;
        (st["name"] == name)
            .then(|| st["monitor"]["pid"].as_i64())
            .flatten()
            .map(|p| p as i32)
    })
}

#[test]
fn a_crash_looping_service_backs_off_without_spinning_the_cpu() {
    require_root!();
    let env = ComposeEnv::new(
        "crashloop",
        r#"
services:
  flaky:
    image: lab/busybox:1
    command: ["sh", "-c", "echo crashing; exit 3"]
    restart: always
"#,
    );
    env.ok(&["up", "-d"]);
    let name = format!("{}-flaky-1", env.project);
    // Wait (bounded) for the fourth restart: the delays are 100, 200, 400, 800 ms by then.
    let until = Instant::now() + Duration::from_secs(30);
    let starts = || {
        container_events(&env, &name)
            .iter()
            .filter(|(a, _)| a == "start")
            .count()
    };
    while starts() < 5 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let monitor = monitor_of(&env, &name).expect("the monitor stays");

    // CPU of the monitor and everything it reaped (each run of the container) over a window.
    let window = Duration::from_secs(6);
    let before = probe::cpu_ticks(monitor).expect("monitor cpu");
    let t0 = Instant::now();
    std::thread::sleep(window);
    let after = probe::cpu_ticks(monitor).expect("monitor cpu");
    let busy = (after - before) as f64 / probe::ticks_per_second() as f64;
    let share = busy / t0.elapsed().as_secs_f64();
    eprintln!(
        "crash loop: {busy:.3} s of CPU in {:?} ({:.2}% of one core)",
        t0.elapsed(),
        share * 100.0
    );
    assert!(
        share < 0.05,
        "the restart loop spins: {:.1}% of a core",
        share * 100.0
    );

    // Each delay between a death and the next start at least doubles, from 100 ms.
    let events = container_events(&env, &name);
    let mut gaps = Vec::new();
    let mut died_at = None;
    for (action, t) in &events {
        match action.as_str() {
            "die" => died_at = Some(*t),
            "start" => {
                if let Some(d) = died_at.take() {
                    gaps.push(Duration::from_nanos((t - d) as u64));
                }
            }
            _ => {}
        }
    }
    assert!(gaps.len() >= 4, "restarts: {events:?}");
    for (k, gap) in gaps.iter().take(6).enumerate() {
        let floor = Duration::from_millis(100 << k).mul_f64(0.95);
        assert!(
            *gap >= floor,
            "restart {k} after {gap:?} (< {floor:?}): {gaps:?}"
        );
    }
    let ps = env.ps_json(&["-a"]);
    let state = ps[0]["State"].as_str().unwrap_or("");
    assert!(state == "restarting" || state == "running", "{ps:#?}");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
