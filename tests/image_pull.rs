//! Pulls (and pushes) against a real Debian docker-registry on a loopback port: single manifests,
//! manifest indexes, docker v2 and OCI media types, gzip and zstd layers; plus a hand-written
//! HTTP server that serves a layer whose bytes do not match its digest.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use rcompose::runtime::image::{
    Ensured, ImageError, ImageStore, PullEvent, PullOptions, PullPolicy,
};
use support::busybox;
use support::oci::{self, Compression};
use support::registry::Registry;
use support::tarball::TarBuilder;

use support::{reference as r, temp_store as store};

/// Options that ignore the host's ~/.docker/config.json.
fn opts(dir: &std::path::Path) -> PullOptions {
    PullOptions {
        docker_config: Some(dir.join("no-docker-config.json")),
        ..Default::default()
    }
}

fn manifest_media_type(reg: &Registry, repo: &str, tag: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/{repo}:{tag}", reg.host()),
        ])
        .output()
        .expect("skopeo inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut mts = vec![v["mediaType"].as_str().unwrap_or("").to_string()];
    if let Some(layers) = v["layers"].as_array() {
        mts.extend(
            layers
                .iter()
                .map(|l| l["mediaType"].as_str().unwrap_or("").to_string()),
        );
    }
    mts.join(" ")
}

fn check_rootfs(img: &rcompose::runtime::image::LocalImage) {
    let root = &img.layer_dirs[0];
    assert!(root.join("bin/busybox").is_file());
    let ok = Command::new(root.join("bin/busybox"))
        .arg("true")
        .status()
        .expect("run busybox");
    assert!(ok.success());
}

#[tokio::test]
async fn pull_single_oci_manifest_gzip_with_progress() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start();
    reg.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "lab/busybox:1",
        &[],
    );
    let (d, s) = store();
    let reference = r(&format!("{}/lab/busybox:1", reg.host()));
    let mut events = Vec::new();
    let id = s
        .pull(&reference, &opts(d.path()), |e| events.push(e))
        .await
        .expect("pull");
    assert_eq!(id.as_str(), bb.config_digest);
    assert!(
        matches!(events.first(), Some(PullEvent::Resolved { layers: 1, .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerStarted { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerProgress { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerDownloaded { .. }))
    );
    assert!(matches!(events.last(), Some(PullEvent::Done { .. })));
    let img = s
        .resolve(&reference.to_string())
        .expect("resolve")
        .expect("present");
    assert!(img.last_pulled.is_some());
    check_rootfs(&img);

    // A second pull finds every blob already there.
    let mut events = Vec::new();
    let id2 = s
        .pull(&reference, &opts(d.path()), |e| events.push(e))
        .await
        .expect("pull again");
    assert_eq!(id2, id);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerExists { .. }))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerStarted { .. }))
    );

    // Unknown tags and repositories.
    for missing in ["lab/busybox:nope", "lab/nothing:1"] {
        let err = s
            .pull(
                &r(&format!("{}/{missing}", reg.host())),
                &opts(d.path()),
                |_| {},
            )
            .await
            .expect_err("unknown");
        assert!(
            matches!(err, ImageError::ManifestUnknown { .. }),
            "{missing}: {err}"
        );
    }

    // Pull by digest.
    let by_digest = reference.with_digest(img.manifest_digest.clone());
    assert_eq!(
        s.pull(&by_digest, &opts(d.path()), |_| {})
            .await
            .expect("pull by digest"),
        id
    );
}

#[tokio::test]
async fn pull_docker_v2_manifest_and_zstd_layers() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start();
    let src = format!("oci:{}:1", bb.oci_layout.display());
    reg.skopeo_push(&src, "lab/busybox:v2s2", &["--format", "v2s2"]);
    // skopeo only recompresses uncompressed layers, so push zstd from an uncompressed layout.
    let work = tempfile::tempdir().expect("tempdir");
    let plain = work.path().join("plain");
    let img = oci::write_image(
        &plain,
        &[busybox::rootfs_tar()],
        Compression::None,
        "amd64",
        busybox::busybox_config(),
    );
    oci::write_index_json(&plain, &[(&img.manifest, "1", None)]);
    assert_eq!(img.config.digest, bb.config_digest);
    // A registry of its own: skopeo's blob-info cache would otherwise reuse the gzip blob
    // pushed above instead of compressing with zstd.
    let zreg = Registry::start();
    zreg.skopeo_push(
        &format!("oci:{}:1", plain.display()),
        "lab/busybox:zstd",
        &["--dest-compress-format", "zstd"],
    );
    let v2 = manifest_media_type(&reg, "lab/busybox", "v2s2");
    assert!(
        v2.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{v2}"
    );
    let zstd = manifest_media_type(&zreg, "lab/busybox", "zstd");
    assert!(
        zstd.contains("tar+zstd"),
        "registry manifest has no zstd layer: {zstd}"
    );

    let (d, s) = store();
    let id = s
        .pull(
            &r(&format!("{}/lab/busybox:v2s2", reg.host())),
            &opts(d.path()),
            |_| {},
        )
        .await
        .expect("pull v2s2");
    assert_eq!(id.as_str(), bb.config_digest);
    let id = s
        .pull(
            &r(&format!("{}/lab/busybox:zstd", zreg.host())),
            &opts(d.path()),
            |_| {},
        )
        .await
        .expect("pull zstd");
    assert_eq!(id.as_str(), bb.config_digest);
    let img = s
        .resolve(&format!("{}/lab/busybox:zstd", zreg.host()))
        .expect("resolve")
        .expect("present");
    check_rootfs(&img);
    // Same diff_id whatever the compression: one unpacked layer.
    assert_eq!(
        fs::read_dir(s.root().join("layers"))
            .expect("layers")
            .count(),
        1
    );
}

#[tokio::test]
async fn pull_manifest_index_picks_linux_amd64() {
    require_root!();
    let reg = Registry::start();
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("multi");
    let rootfs = busybox::rootfs_tar();
    let amd = oci::write_image(
        &layout,
        std::slice::from_ref(&rootfs),
        Compression::Gzip,
        "amd64",
        busybox::busybox_config(),
    );
    let other = TarBuilder::new().file("arch", 0o644, b"arm64").finish();
    let arm = oci::write_image(
        &layout,
        &[other],
        Compression::Gzip,
        "arm64",
        serde_json::json!({}),
    );
    let index = oci::write_index_blob(
        &layout,
        &[(&arm.manifest, "arm64"), (&amd.manifest, "amd64")],
    );
    oci::write_index_json(&layout, &[(&index, "multi", None)]);
    reg.skopeo_push(
        &format!("oci:{}:multi", layout.display()),
        "lab/multi:1",
        &["--all"],
    );
    let mt = manifest_media_type(&reg, "lab/multi", "1");
    assert!(
        mt.starts_with("application/vnd.oci.image.index.v1+json"),
        "{mt}"
    );

    let (d, s) = store();
    let reference = r(&format!("{}/lab/multi:1", reg.host()));
    let mut events = Vec::new();
    let id = s
        .pull(&reference, &opts(d.path()), |e| events.push(e))
        .await
        .expect("pull index");
    assert_eq!(id.as_str(), amd.config.digest, "linux/amd64 picked");
    let img = s.resolve("127.0.0.1:0/x").expect("resolve");
    assert!(img.is_none());
    let img = s
        .resolve(&reference.to_string())
        .expect("resolve")
        .expect("present");
    assert_eq!(img.manifest_digest.as_str(), amd.manifest.digest);
    check_rootfs(&img);
    // by the index digest as well
    let by_digest = reference
        .with_digest(rcompose::runtime::image::Digest::parse(&index.digest).expect("digest"));
    assert_eq!(
        s.pull(&by_digest, &opts(d.path()), |_| {})
            .await
            .expect("pull index by digest"),
        id
    );
}

#[tokio::test]
async fn concurrent_pulls_of_the_same_image() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start();
    reg.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "lab/busybox:1",
        &[],
    );
    let (d, s) = store();
    let s2 = ImageStore::open(d.path()).expect("second handle");
    let reference = r(&format!("{}/lab/busybox:1", reg.host()));
    let o = opts(d.path());
    let (a, b) = tokio::join!(
        s.pull(&reference, &o, |_| {}),
        s2.pull(&reference, &o, |_| {})
    );
    assert_eq!(a.expect("pull a"), b.expect("pull b"));
    assert_eq!(s.list().expect("list").len(), 1);
    assert_eq!(fs::read_dir(s.root().join("tmp")).expect("tmp").count(), 0);
}

#[tokio::test]
async fn push_then_pull_roundtrip() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start();
    let (d, s) = store();
    s.load(&bb.docker_archive).expect("load");
    let target = r(&format!("{}/pushed/busybox:7", reg.host()));
    let digest = s
        .push("lab/busybox:1", &target, &opts(d.path()))
        .await
        .expect("push");
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{target}"),
        ])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["Digest"], digest.as_str());

    let (d2, s2) = store();
    let id = s2
        .pull(&target, &opts(d2.path()), |_| {})
        .await
        .expect("pull pushed");
    assert_eq!(id.as_str(), bb.config_digest);
    check_rootfs(
        &s2.resolve(&target.to_string())
            .expect("resolve")
            .expect("present"),
    );
}

// -------------------------------------------------------------------------------------------
// A registry that lies: the layer it serves does not hash to the digest in the manifest.

struct FakeRegistry {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRegistry {
    /// Serves `routes` (path → (content type, body)); everything else 404.
    fn start(routes: Vec<(String, String, Vec<u8>)>) -> FakeRegistry {
        Self::start_stalling(routes, None)
    }

    /// Like `start`, but for path `stall` only the first half of the body is sent; then the
    /// connection hangs until the server is dropped, and `stalled` is signalled.
    fn start_stalling(
        routes: Vec<(String, String, Vec<u8>)>,
        stall: Option<(String, std::sync::mpsc::Sender<()>)>,
    ) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("");
                let path = parts
                    .next()
                    .unwrap_or("")
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let hit = routes.iter().find(|(p, _, _)| *p == path);
                let (status, ct, body): (&str, &str, &[u8]) = match hit {
                    Some((_, ct, body)) => ("200 OK", ct, body),
                    None if path == "/v2/" => ("200 OK", "application/json", b"{}"),
                    None => (
                        "404 Not Found",
                        "application/json",
                        br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#,
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                if method != "HEAD" {
                    match &stall {
                        Some((p, tx)) if *p == path => {
                            let _ = conn.write_all(&body[..body.len() / 2]);
                            let _ = conn.flush();
                            let _ = tx.send(());
                            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                                std::thread::sleep(std::time::Duration::from_millis(10));
                            }
                            continue;
                        }
                        _ => {
                            let _ = conn.write_all(body);
                        }
                    }
                }
                let _ = conn.flush();
                let mut rest = Vec::new();
                let _ = reader
                    .get_mut()
                    .set_read_timeout(Some(std::time::Duration::from_millis(1)));
                let _ = reader.read_to_end(&mut rest);
            }
        });
        FakeRegistry {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test]
async fn wrong_digests_are_rejected() {
    require_root!();
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("l");
    let tar = TarBuilder::new().file("hello", 0o644, b"hello").finish();
    let img = oci::write_image(
        &layout,
        &[tar],
        Compression::Gzip,
        "amd64",
        serde_json::json!({}),
    );
    let read = |d: &oci::Desc| fs::read(oci::blob_path(&layout, &d.digest)).expect("blob");
    let manifest = read(&img.manifest);
    let config = read(&img.config);
    let mut evil_layer = read(&img.layers[0]);
    let last = evil_layer.len() - 1;
    evil_layer[last] ^= 0xff; // same size, different bytes
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    let routes = vec![
        (
            "/v2/bad/image/manifests/1".to_string(),
            mt.clone(),
            manifest.clone(),
        ),
        (
            format!("/v2/bad/image/manifests/{}", img.manifest.digest),
            mt.clone(),
            manifest.clone(),
        ),
        // served for a digest it does not hash to
        (
            format!("/v2/bad/image/manifests/sha256:{}", "0".repeat(64)),
            mt,
            manifest,
        ),
        (
            format!("/v2/bad/image/blobs/{}", img.config.digest),
            "application/octet-stream".into(),
            config,
        ),
        (
            format!("/v2/bad/image/blobs/{}", img.layers[0].digest),
            "application/octet-stream".into(),
            evil_layer,
        ),
    ];
    let fake = FakeRegistry::start(routes);
    let (d, s) = store();
    let reference = r(&format!("127.0.0.1:{}/bad/image:1", fake.port));
    let err = s
        .pull(&reference, &opts(d.path()), |_| {})
        .await
        .expect_err("bad layer must be rejected");
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(
        !oci::blob_path(s.root(), &img.layers[0].digest).exists(),
        "bad blob not stored"
    );
    assert_eq!(
        fs::read_dir(s.root().join("tmp")).expect("tmp").count(),
        0,
        "temp file removed"
    );
    assert!(s.list().expect("list").is_empty());

    // A manifest that does not match the digest it was requested by.
    let wrong = format!(
        "127.0.0.1:{}/bad/image@sha256:{}",
        fake.port,
        "0".repeat(64)
    );
    let routes_err = s
        .pull(&r(&wrong), &opts(d.path()), |_| {})
        .await
        .expect_err("wrong manifest digest");
    assert!(
        matches!(routes_err, ImageError::DigestMismatch { .. }),
        "{routes_err}"
    );
}

#[tokio::test]
async fn pull_with_credentials_from_docker_config() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    reg.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "private/busybox:1",
        &["--dest-creds", "alice:s3cret"],
    );
    let (d, s) = store();
    let reference = r(&format!("{}/private/busybox:1", reg.host()));
    let err = s
        .pull(&reference, &opts(d.path()), |_| {})
        .await
        .expect_err("anonymous pull must fail");
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");

    use base64::Engine as _;
    let cfg = d.path().join("docker-config.json");
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    fs::write(
        &cfg,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"{auth}"}}}}}}"#,
            reg.host()
        ),
    )
    .expect("write config");
    let o = PullOptions {
        docker_config: Some(cfg),
        ..Default::default()
    };
    let id = s
        .pull(&reference, &o, |_| {})
        .await
        .expect("authenticated pull");
    assert_eq!(id.as_str(), bb.config_digest);
}

#[tokio::test]
async fn ensure_image_applies_pull_policies() {
    require_root!();
    let bb = busybox::busybox();
    let reg = Registry::start();
    reg.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "lab/busybox:1",
        &[],
    );
    let (d, s) = store();
    let o = opts(d.path());
    let reference = r(&format!("{}/lab/busybox:1", reg.host()));
    let now = std::time::SystemTime::now();
    let err = s
        .ensure_image(&reference, PullPolicy::Never, &o, now, |_| {})
        .await
        .expect_err("never + missing");
    assert!(matches!(err, ImageError::PullNever { .. }), "{err}");
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Build, &o, now, |_| {})
            .await,
        Ok(Ensured::NeedsBuild(None))
    ));
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Missing, &o, now, |_| {})
            .await,
        Ok(Ensured::Pulled(_))
    ));
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Missing, &o, now, |_| {})
            .await,
        Ok(Ensured::Local(_))
    ));
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Never, &o, now, |_| {})
            .await,
        Ok(Ensured::Local(_))
    ));
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Daily, &o, now, |_| {})
            .await,
        Ok(Ensured::Local(_))
    ));
    let tomorrow = now + std::time::Duration::from_secs(86_400 + 60);
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Daily, &o, tomorrow, |_| {})
            .await,
        Ok(Ensured::Pulled(_))
    ));
    assert!(matches!(
        s.ensure_image(&reference, PullPolicy::Always, &o, now, |_| {})
            .await,
        Ok(Ensured::Pulled(_))
    ));
    // A loaded (never pulled) image counts as fresh from its tag time, like docker's LastTagTime.
    s.load(&bb.oci_layout).expect("load");
    let loaded = r("lab/busybox:1");
    assert!(matches!(
        s.ensure_image(&loaded, PullPolicy::Weekly, &o, now, |_| {})
            .await,
        Ok(Ensured::Local(_))
    ));
}

#[tokio::test]
async fn cancelled_pull_leaves_no_partial_blob() {
    require_root!();
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("l");
    let big: Vec<u8> = (0..512 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let tar = TarBuilder::new().file("big", 0o644, &big).finish();
    let img = oci::write_image(
        &layout,
        &[tar],
        Compression::Gzip,
        "amd64",
        serde_json::json!({}),
    );
    let read = |d: &oci::Desc| fs::read(oci::blob_path(&layout, &d.digest)).expect("blob");
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    let layer_path = format!("/v2/slow/image/blobs/{}", img.layers[0].digest);
    let routes = vec![
        (
            "/v2/slow/image/manifests/1".to_string(),
            mt,
            read(&img.manifest),
        ),
        (
            format!("/v2/slow/image/blobs/{}", img.config.digest),
            "application/octet-stream".into(),
            read(&img.config),
        ),
        (
            layer_path.clone(),
            "application/octet-stream".into(),
            read(&img.layers[0]),
        ),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    let fake = FakeRegistry::start_stalling(routes, Some((layer_path, tx)));
    let (d, s) = store();
    let reference = r(&format!("127.0.0.1:{}/slow/image:1", fake.port));
    let o = PullOptions {
        max_concurrent_downloads: 1,
        ..opts(d.path())
    };
    let (stalled_tx, stalled_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv().is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let _ = stalled_tx.send(());
        }
    });
    let mut saw_progress = false;
    tokio::select! {
        r = s.pull(&reference, &o, |e| saw_progress |= matches!(e, PullEvent::LayerProgress { .. })) => panic!("pull should stall, got {r:?}"),
        _ = stalled_rx => {}
    }
    // The pull future is dropped mid-download: nothing half-written may be visible or left.
    assert!(saw_progress, "part of the layer was received");
    assert!(!oci::blob_path(s.root(), &img.layers[0].digest).exists());
    assert_eq!(
        fs::read_dir(s.root().join("tmp")).expect("tmp").count(),
        0,
        "temp file removed on cancel"
    );
    assert!(s.list().expect("list").is_empty());
    drop(fake);
}
