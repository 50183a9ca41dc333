//! A reproducible busybox image built from Debian's static `/bin/busybox` (package
//! busybox-static), like `/work/shared/lab/make-busybox-image.sh`: `/bin/busybox` plus one symlink
//! per applet, `/etc/passwd`, `/etc/group`, `/var/www/index.html`, fixed owners and mtimes.
//!
//! [`busybox()`] builds it once per content key (busybox binary + fixture version) under
//! `$TMPDIR/rcompose-fixtures/` and returns the cached paths: an OCI layout dir, an oci-archive
//! tar and a docker-save tar. No network, no external tools.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::oci::{self, Compression, sha256};
use super::tarball::TarBuilder;

/// The reference the fixture is tagged with.
pub const REFERENCE: &str = "lab/busybox:1";
/// Bump when the fixture's content changes.
const FIXTURE_VERSION: &str = "busybox-fixture-v1";
pub const BUSYBOX: &str = "/bin/busybox";

/// Paths and digests of the cached fixture.
#[derive(Clone, Debug)]
pub struct BusyboxImage {
    /// OCI layout, `index.json` entry tagged `1` with `io.containerd.image.name` docker.io/lab/busybox:1.
    pub oci_layout: PathBuf,
    /// The same layout as a tar (`oci-archive:`).
    pub oci_archive: PathBuf,
    /// `docker save` format: manifest.json (RepoTags lab/busybox:1), `<config hex>.json`, `<id>/layer.tar`.
    pub docker_archive: PathBuf,
    /// The uncompressed layer tar (also usable as an `import` rootfs tarball).
    pub rootfs_tar: PathBuf,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    pub diff_id: String,
}

/// The uncompressed rootfs layer tar (deterministic).
pub fn rootfs_tar() -> Vec<u8> {
    let bin = fs::read(BUSYBOX).expect("read /bin/busybox (apt-get install busybox-static)");
    let out = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
        .map(str::to_string)
        .collect();
    applets.sort();
    applets.dedup();
    let passwd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    let group = "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n";
    let mut t = TarBuilder::new();
    t.dir("./", 0o755)
        .dir("bin/", 0o755)
        .file("bin/busybox", 0o755, &bin);
    for a in &applets {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    t.dir("dev/", 0o755)
        .dir("etc/", 0o755)
        .file("etc/group", 0o644, group.as_bytes())
        .file("etc/passwd", 0o644, passwd.as_bytes())
        .dir("proc/", 0o755)
        .dir("root/", 0o700)
        .dir("sbin/", 0o755)
        .dir("sys/", 0o755)
        .dir("tmp/", 0o1777)
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .dir("usr/sbin/", 0o755)
        .dir("var/", 0o755)
        .dir("var/www/", 0o755)
        .file("var/www/index.html", 0o644, b"<h1>lab/busybox:1</h1>\n");
    t.finish()
}

pub fn busybox_config() -> serde_json::Value {
    json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
        "WorkingDir": "/",
        "Labels": {"org.opencontainers.image.title": "lab/busybox", "org.opencontainers.image.version": "1"},
    })
}

/// Build (or reuse) the cached fixture.
pub fn busybox() -> BusyboxImage {
    let bin = fs::read(BUSYBOX).expect("read /bin/busybox (apt-get install busybox-static)");
    let mut keyed = bin.clone();
    keyed.extend_from_slice(FIXTURE_VERSION.as_bytes());
    // The generator's own source is part of the key: an edited fixture never reuses a stale cache.
    keyed.extend_from_slice(include_str!("busybox.rs").as_bytes());
    let key = sha256(&keyed);
    let base = std::env::temp_dir().join("rcompose-fixtures");
    fs::create_dir_all(&base).expect("create fixture cache dir");
    let dir = base.join(format!("busybox-{}", &key[7..23]));
    if !dir.join("complete").exists() {
        let tmp = base.join(format!(
            "tmp-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).expect("create fixture tmp dir");
        build_into(&tmp);
        fs::write(tmp.join("complete"), b"").expect("mark fixture complete");
        // Whoever renames first wins; a loser just discards its copy.
        if fs::rename(&tmp, &dir).is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
    }
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("info.json")).expect("read fixture info"))
            .expect("fixture info json");
    let s = |k: &str| info[k].as_str().expect("fixture info field").to_string();
    BusyboxImage {
        oci_layout: dir.join("oci"),
        oci_archive: dir.join("busybox-oci.tar"),
        docker_archive: dir.join("busybox-docker.tar"),
        rootfs_tar: dir.join("rootfs.tar"),
        manifest_digest: s("manifest"),
        config_digest: s("config"),
        layer_digest: s("layer"),
        diff_id: s("diff_id"),
    }
}

fn build_into(dir: &Path) {
    let tar = rootfs_tar();
    fs::write(dir.join("rootfs.tar"), &tar).expect("write rootfs.tar");
    let layout = dir.join("oci");
    let img = oci::write_image(
        &layout,
        std::slice::from_ref(&tar),
        Compression::Gzip,
        "amd64",
        busybox_config(),
    );
    oci::write_index_json(
        &layout,
        &[(&img.manifest, "1", Some("docker.io/lab/busybox:1"))],
    );
    fs::write(dir.join("busybox-oci.tar"), oci::tar_dir(&layout)).expect("write oci archive");

    // docker save: config as <hex>.json, the layer uncompressed as <diff hex>/layer.tar.
    let config = fs::read(oci::blob_path(&layout, &img.config.digest)).expect("read config blob");
    let layer_dir = &img.diff_ids[0][7..];
    let manifest = json!([{
        "Config": format!("{}.json", img.config.hex()),
        "RepoTags": ["lab/busybox:1"],
        "Layers": [format!("{layer_dir}/layer.tar")],
    }]);
    let mut t = TarBuilder::new();
    t.file(&format!("{}.json", img.config.hex()), 0o644, &config)
        .dir(&format!("{layer_dir}/"), 0o755)
        .file(&format!("{layer_dir}/VERSION"), 0o644, b"1.0")
        .file(&format!("{layer_dir}/layer.tar"), 0o644, &tar)
        .file(
            "manifest.json",
            0o644,
            &serde_json::to_vec(&manifest).expect("json"),
        )
        .file(
            "repositories",
            0o644,
            format!(r#"{{"lab/busybox":{{"1":"{layer_dir}"}}}}"#).as_bytes(),
        );
    fs::write(dir.join("busybox-docker.tar"), t.finish()).expect("write docker archive");

    let info = json!({
        "manifest": img.manifest.digest,
        "config": img.config.digest,
        "layer": img.layers[0].digest,
        "diff_id": img.diff_ids[0],
    });
    fs::write(
        dir.join("info.json"),
        serde_json::to_vec(&info).expect("json"),
    )
    .expect("write info");
}

/// An image store under `state_root` with the busybox fixture loaded (as `lab/busybox:1`).
/// For container-side tests: `image.lower_dirs_top_first()` are ready overlay lower dirs.
pub fn store_with_busybox(
    state_root: &Path,
) -> (
    rcompose::runtime::image::ImageStore,
    rcompose::runtime::image::LocalImage,
) {
    let bb = busybox();
    let store = rcompose::runtime::image::ImageStore::open(state_root).expect("open image store");
    store.load(&bb.oci_layout).expect("load busybox fixture");
    let image = store.inspect(REFERENCE).expect("busybox fixture in store");
    (store, image)
}
