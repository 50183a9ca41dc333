//! The image store with real parts: load of all three archive kinds, import, reading the store's
//! layout with skopeo and umoci, layer sharing, resolve/tag, remove + garbage collection, and
//! concurrent loads.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use rcompose::runtime::image::{ImageError, ImageStore};
use support::busybox::{self, BusyboxImage};
use support::oci::{self, Compression};
use support::tarball::{TarBuilder, gzip};

use support::{reference as r, temp_store as store};

fn dir_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn check_busybox(s: &ImageStore, bb: &BusyboxImage, name: &str) {
    let img = s.resolve(name).expect("resolve").expect("image present");
    assert_eq!(
        img.id.as_str(),
        bb.config_digest,
        "image id is the config digest"
    );
    assert_eq!(img.references, vec![r("docker.io/lab/busybox:1")]);
    assert_eq!(img.diff_ids.len(), 1);
    assert_eq!(img.diff_ids[0].as_str(), bb.diff_id);
    assert_eq!(img.layer_dirs, vec![s.layer_dir(&img.diff_ids[0])]);
    let root = &img.layer_dirs[0];
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(root.join("bin/sh")).expect("sh link"),
        Path::new("busybox")
    );
    assert!(
        fs::read_to_string(root.join("etc/passwd"))
            .expect("passwd")
            .starts_with("root:x:0:0")
    );
    let cfg = img.config.config().as_ref().expect("config section");
    assert_eq!(cfg.cmd().as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(img.created.as_deref(), Some("2026-11-22T00:00:00Z"));
    // Running the unpacked busybox proves the layer is intact.
    let out = Command::new(root.join("bin/busybox"))
        .arg("true")
        .status()
        .expect("run busybox");
    assert!(out.success());
}

#[test]
fn load_oci_layout_dir() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    let loaded = s.load(&bb.oci_layout).expect("load layout");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].references, vec![r("lab/busybox:1")]);
    assert_eq!(loaded[0].manifest_digest.as_str(), bb.manifest_digest);
    check_busybox(&s, &bb, "lab/busybox:1");
}

#[test]
fn load_oci_archive() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    let loaded = s.load(&bb.oci_archive).expect("load oci-archive");
    assert_eq!(loaded[0].manifest_digest.as_str(), bb.manifest_digest);
    check_busybox(&s, &bb, "docker.io/lab/busybox:1");
    // the temp extraction dir is gone
    assert!(dir_names(&s.root().join("tmp")).is_empty());
}

#[test]
fn load_docker_save_archive_plain_and_gzipped() {
    require_root!();
    let bb = busybox::busybox();
    let (d, s) = store();
    let loaded = s.load(&bb.docker_archive).expect("load docker archive");
    assert_eq!(loaded[0].references, vec![r("lab/busybox:1")]);
    check_busybox(&s, &bb, "lab/busybox:1");
    // `docker save | gzip` works too and lands on the same image and layer.
    let gz = d.path().join("saved.tar.gz");
    fs::write(&gz, gzip(&fs::read(&bb.docker_archive).expect("read"))).expect("write");
    let again = s.load(&gz).expect("load gz");
    assert_eq!(again[0].id, loaded[0].id);
    assert_eq!(dir_names(&s.root().join("layers")).len(), 1);
}

#[test]
fn load_rejects_hostile_docker_save() {
    require_root!();
    let (d, s) = store();
    // A layer "file" that is a symlink to a host file must not be read from the host.
    let tar = TarBuilder::new()
        .file("cfg.json", 0o644, br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#)
        .symlink("evil.tar", "/etc/passwd")
        .file("manifest.json", 0o644, br#"[{"Config":"cfg.json","RepoTags":["evil:1"],"Layers":["evil.tar"]}]"#)
        .finish();
    let p = d.path().join("evil.tar");
    fs::write(&p, tar).expect("write");
    assert!(s.load(&p).is_err());
    assert!(s.resolve("evil:1").expect("resolve").is_none());
    // Corrupt OCI layout: a blob whose content does not match its name.
    let layout = d.path().join("corrupt");
    let img = oci::write_image(
        &layout,
        &[TarBuilder::new().file("a", 0o644, b"a").finish()],
        Compression::Gzip,
        "amd64",
        serde_json::json!({}),
    );
    oci::write_index_json(
        &layout,
        &[(&img.manifest, "x", Some("docker.io/library/corrupt:1"))],
    );
    fs::write(oci::blob_path(&layout, &img.layers[0].digest), b"tampered").expect("tamper");
    let err = s.load(&layout).expect_err("tampered blob");
    assert!(
        matches!(
            err,
            ImageError::DigestMismatch { .. } | ImageError::SizeMismatch { .. }
        ),
        "{err}"
    );
}

#[test]
fn import_rootfs_tarball() {
    require_root!();
    let bb = busybox::busybox();
    let (d, s) = store();
    let id = s.import(&bb.rootfs_tar, &r("imported")).expect("import");
    let img = s
        .resolve("imported:latest")
        .expect("resolve")
        .expect("present");
    assert_eq!(img.id, id);
    assert_eq!(img.diff_ids.len(), 1);
    assert_eq!(
        img.diff_ids[0].as_str(),
        bb.diff_id,
        "import keeps the tar as the single layer"
    );
    assert!(img.layer_dirs[0].join("bin/busybox").is_file());
    // a gzipped rootfs imports to the same layer
    let gz = d.path().join("rootfs.tar.gz");
    fs::write(&gz, gzip(&fs::read(&bb.rootfs_tar).expect("read"))).expect("write");
    s.import(&gz, &r("localhost:5000/imported:gz"))
        .expect("import gz");
    let img2 = s
        .resolve("localhost:5000/imported:gz")
        .expect("resolve")
        .expect("present");
    assert_eq!(img2.diff_ids, img.diff_ids);
    assert_eq!(dir_names(&s.root().join("layers")).len(), 1);
}

#[test]
fn skopeo_and_umoci_read_the_store() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    s.load(&bb.oci_layout).expect("load");
    s.import(&bb.rootfs_tar, &r("localhost:5000/app:2"))
        .expect("import");
    let layout = s.root().display().to_string();
    let out = Command::new("skopeo")
        .args(["inspect", &format!("oci:{layout}:docker.io/lab/busybox:1")])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("skopeo json");
    assert_eq!(v["Digest"], bb.manifest_digest);
    assert_eq!(v["Layers"][0], bb.layer_digest);
    let out = Command::new("umoci")
        .args(["ls", "--layout", &layout])
        .output()
        .expect("run umoci");
    assert!(
        out.status.success(),
        "umoci ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    tags.sort();
    assert_eq!(tags, ["docker.io/lab/busybox:1", "localhost:5000/app:2"]);
    // skopeo can copy out of the store too (blobs are complete and verified)
    let dest = tempfile::tempdir().expect("tempdir");
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            &format!("oci:{layout}:localhost:5000/app:2"),
            &format!("oci:{}:copy", dest.path().display()),
        ])
        .output()
        .expect("run skopeo copy");
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// busybox plus one extra layer, as an OCI layout tagged `name`.
fn derived_layout(dir: &Path, name: &str, extra: &[u8]) -> oci::WrittenImage {
    let layout = dir.join(format!("layout-{}", name.replace(['/', ':'], "_")));
    let top = TarBuilder::new()
        .dir("app/", 0o755)
        .file("app/data", 0o644, extra)
        .finish();
    let img = oci::write_image(
        &layout,
        &[busybox::rootfs_tar(), top],
        Compression::Gzip,
        "amd64",
        busybox::busybox_config(),
    );
    oci::write_index_json(&layout, &[(&img.manifest, "t", Some(name))]);
    img
}

#[test]
fn layers_are_shared_and_garbage_collected() {
    require_root!();
    let bb = busybox::busybox();
    let (d, s) = store();
    s.load(&bb.oci_layout).expect("load base");
    let base = s
        .resolve("lab/busybox:1")
        .expect("resolve")
        .expect("present");
    let ino = fs::metadata(&base.layer_dirs[0]).expect("stat").ino();

    let w1 = derived_layout(d.path(), "docker.io/library/app1:1", b"one");
    let w2 = derived_layout(d.path(), "docker.io/library/app2:1", b"two");
    s.load(&d.path().join("layout-docker.io_library_app1_1"))
        .expect("load app1");
    s.load(&d.path().join("layout-docker.io_library_app2_1"))
        .expect("load app2");
    let a1 = s.resolve("app1:1").expect("resolve").expect("app1");
    let a2 = s.resolve("app2:1").expect("resolve").expect("app2");
    assert_eq!(a1.layer_dirs.len(), 2);
    assert_eq!(
        a1.layer_dirs[0], base.layer_dirs[0],
        "common bottom layer shared"
    );
    assert_eq!(a2.layer_dirs[0], base.layer_dirs[0]);
    assert_ne!(a1.layer_dirs[1], a2.layer_dirs[1]);
    assert_eq!(
        fs::metadata(&base.layer_dirs[0]).expect("stat").ino(),
        ino,
        "shared layer unpacked once"
    );
    assert_eq!(dir_names(&s.root().join("layers")).len(), 3);
    assert_eq!(
        fs::read(a2.layer_dirs[1].join("app/data")).expect("data"),
        b"two"
    );
    assert_eq!(s.list().expect("list").len(), 3);

    // remove app1 by reference: its own layer and blobs go, the shared ones stay
    let removed = s.remove("app1:1", false).expect("remove app1");
    assert_eq!(removed.untagged, vec![r("app1:1")]);
    assert_eq!(removed.deleted, vec![a1.id.clone()]);
    assert!(s.resolve("app1:1").expect("resolve").is_none());
    assert!(!a1.layer_dirs[1].exists());
    assert!(a1.layer_dirs[0].exists() && a2.layer_dirs[1].exists());
    assert!(!oci::blob_path(s.root(), &w1.manifest.digest).exists());
    assert!(!oci::blob_path(s.root(), &w1.layers[1].digest).exists());
    assert!(
        oci::blob_path(s.root(), &w1.layers[0].digest).exists(),
        "shared layer blob kept"
    );

    // remove the rest by ID / short ID
    s.remove(&a2.id.to_string(), false)
        .expect("remove app2 by id");
    s.remove(base.id.short(), false)
        .expect("remove busybox by short id");
    assert!(s.list().expect("list").is_empty());
    assert!(dir_names(&s.root().join("layers")).is_empty());
    assert!(dir_names(&s.root().join("blobs/sha256")).is_empty());
    let _ = w2;
}

#[test]
fn resolve_tag_and_remove_rules() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    s.load(&bb.oci_layout).expect("load");
    let img = s
        .resolve("lab/busybox:1")
        .expect("resolve")
        .expect("present");
    for q in [
        "docker.io/lab/busybox:1".to_string(),
        img.id.to_string(),
        img.id.hex().to_string(),
        img.id.short().to_string(),
        img.manifest_digest.to_string(),
        format!("lab/busybox@{}", img.manifest_digest),
    ] {
        let got = s.resolve(&q).expect("resolve").map(|i| i.id);
        assert_eq!(got.as_ref(), Some(&img.id), "{q}");
    }
    assert!(s.resolve("lab/busybox:2").expect("resolve").is_none());
    assert!(matches!(
        s.inspect("lab/busybox:2"),
        Err(ImageError::NotFound(_))
    ));
    assert_eq!(
        s.inspect("lab/busybox:1").expect("inspect").display_name(),
        "lab/busybox:1"
    );
    assert!(s.resolve("nothere").expect("resolve").is_none());

    s.tag("lab/busybox:1", &r("localhost:5000/bb:latest"))
        .expect("tag");
    let both = s
        .resolve(img.id.as_str())
        .expect("resolve")
        .expect("present");
    assert_eq!(
        both.references,
        vec![r("docker.io/lab/busybox:1"), r("localhost:5000/bb")]
    );
    // by ID with two references needs force
    let err = s.remove(img.id.as_str(), false).expect_err("needs force");
    assert!(
        matches!(err, ImageError::MultipleReferences { .. }),
        "{err}"
    );
    // untagging one reference keeps the image
    let rm = s.remove("localhost:5000/bb", false).expect("untag");
    assert!(rm.deleted.is_empty());
    assert!(s.resolve("lab/busybox:1").expect("resolve").is_some());
    assert!(matches!(
        s.remove("nothere", false),
        Err(ImageError::NotFound(_))
    ));
    let rm = s.remove(img.id.as_str(), true).expect("force");
    assert_eq!(rm.deleted, vec![img.id.clone()]);
}

#[test]
fn concurrent_loads_of_the_same_image() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                let bb = bb.clone();
                sc.spawn(move || {
                    // two processes' worth of stores on the same root
                    let p = if i % 2 == 0 {
                        &bb.oci_archive
                    } else {
                        &bb.docker_archive
                    };
                    s.load(p).map(|_| ())
                })
            })
            .collect();
        for h in hs {
            h.join().expect("thread").expect("load");
        }
    });
    assert_eq!(dir_names(&s.root().join("layers")).len(), 1);
    // Both archives have the same config (image id) but different manifests; the one loaded
    // last owns the tag and the other is kept as a dangling image until a prune.
    let list = s.list().expect("list");
    assert!(list.iter().all(|i| i.id.as_str() == bb.config_digest));
    assert_eq!(list.iter().filter(|i| !i.references.is_empty()).count(), 1);
    check_busybox(&s, &bb, "lab/busybox:1");
    s.prune_dangling().expect("prune");
    assert_eq!(s.list().expect("list").len(), 1);
    check_busybox(&s, &bb, "lab/busybox:1");
}

#[test]
fn retagging_keeps_the_old_image_dangling() {
    require_root!();
    let (d, s) = store();
    let layout = d.path().join("layout-docker.io_library_app_1");
    derived_layout(d.path(), "docker.io/library/app:1", b"v1");
    s.load(&layout).expect("load v1");
    let v1 = s.resolve("app:1").expect("resolve").expect("v1");
    fs::remove_dir_all(&layout).expect("rm");
    derived_layout(d.path(), "docker.io/library/app:1", b"v2");
    s.load(&layout).expect("load v2");
    let v2 = s.resolve("app:1").expect("resolve").expect("v2");
    assert_ne!(v1.id, v2.id);
    let old = s
        .resolve(v1.id.as_str())
        .expect("resolve")
        .expect("v1 still there");
    assert!(old.references.is_empty(), "v1 is dangling");
    // umoci still reads the layout with an untagged entry in it
    let out = Command::new("umoci")
        .args(["ls", "--layout", &s.root().display().to_string()])
        .output()
        .expect("run umoci");
    assert!(
        out.status.success(),
        "umoci ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "docker.io/library/app:1"
    );
    assert!(
        old.layer_dirs.iter().all(|p| p.is_dir()),
        "its layers are kept"
    );
    let pruned = s.prune_dangling().expect("prune");
    assert_eq!(pruned, vec![v1.id.clone()]);
    assert!(!v1.layer_dirs[1].exists());
    assert!(v2.layer_dirs.iter().all(|p| p.is_dir()));
}

#[test]
fn gc_removes_leftover_temp_files() {
    require_root!();
    let (_d, s) = store();
    let tmp = s.root().join("tmp");
    fs::write(tmp.join("blob-crashed"), b"half").expect("write");
    fs::create_dir(tmp.join("layer-crashed")).expect("mkdir");
    s.gc().expect("gc");
    assert!(dir_names(&tmp).is_empty());
    // reopening an existing store keeps its content
    let s2 = ImageStore::open(s.root().parent().expect("parent")).expect("reopen");
    assert!(s2.list().expect("list").is_empty());
}

#[test]
fn fixture_store_helper_gives_overlay_lower_dirs() {
    require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, image) = busybox::store_with_busybox(dir.path());
    let lower = image.lower_dirs_top_first();
    assert_eq!(lower.len(), 1);
    assert!(lower[0].join("bin/sh").symlink_metadata().is_ok());
}

#[test]
fn layer_not_matching_its_diff_id_is_refused() {
    require_root!();
    let (d, s) = store();
    let layout = d.path().join("lying");
    let tar = TarBuilder::new().file("a", 0o644, b"a").finish();
    let layer = oci::put_blob(
        &layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &gzip(&tar),
    );
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [oci::sha256(b"something else")]},
    });
    let config = oci::put_blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&cfg).expect("json"),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.json(), "layers": [layer.json()],
    });
    let manifest = oci::put_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    oci::write_index_json(
        &layout,
        &[(&manifest, "x", Some("docker.io/library/lying:1"))],
    );
    let err = s.load(&layout).expect_err("diff_id mismatch");
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(s.resolve("lying:1").expect("resolve").is_none());
    assert!(
        dir_names(&s.root().join("layers")).is_empty(),
        "no layer dir left behind"
    );
    assert!(
        dir_names(&s.root().join("tmp")).is_empty(),
        "no temp dir left behind"
    );
}

#[test]
fn held_images_are_not_deleted() {
    require_root!();
    let bb = busybox::busybox();
    let (_d, s) = store();
    s.load(&bb.oci_layout).expect("load");
    let img = s.inspect("lab/busybox:1").expect("inspect");
    s.hold(&img.id, "container-1").expect("hold");
    s.hold(&img.id, "container-2").expect("hold");
    assert!(matches!(
        s.hold(&img.id, "../x"),
        Err(ImageError::InvalidHolder(_))
    ));
    assert_eq!(
        s.holders(&img.id).expect("holders"),
        ["container-1", "container-2"]
    );

    let err = s.remove("lab/busybox:1", false).expect_err("in use");
    assert!(matches!(err, ImageError::InUse { .. }), "{err}");
    let err = s.remove(img.id.as_str(), false).expect_err("in use");
    assert!(matches!(err, ImageError::InUse { .. }), "{err}");
    // force only untags; the image and its layers stay, prune keeps it
    let rm = s.remove("lab/busybox:1", true).expect("force untag");
    assert!(rm.deleted.is_empty());
    assert!(s.resolve("lab/busybox:1").expect("resolve").is_none());
    let kept = s.inspect(img.id.as_str()).expect("still there by id");
    assert!(kept.references.is_empty());
    assert!(s.prune_dangling().expect("prune").is_empty());
    assert!(kept.layer_dirs[0].join("bin/busybox").is_file());

    s.release(&img.id, "container-1").expect("release");
    s.release(&img.id, "container-2").expect("release");
    s.release(&img.id, "container-2")
        .expect("release twice is fine");
    assert_eq!(s.prune_dangling().expect("prune"), vec![img.id.clone()]);
    assert!(!kept.layer_dirs[0].exists());
}

#[test]
fn load_archives_written_by_skopeo() {
    require_root!();
    let bb = busybox::busybox();
    let work = tempfile::tempdir().expect("tempdir");
    let src = format!("oci:{}:1", bb.oci_layout.display());
    let docker = work.path().join("docker.tar");
    let ociar = work.path().join("oci.tar");
    for dest in [
        format!("docker-archive:{}:lab/busybox:1", docker.display()),
        format!("oci-archive:{}:1", ociar.display()),
    ] {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", &src, &dest])
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (_d, s) = store();
    let loaded = s.load(&docker).expect("load skopeo docker-archive");
    assert_eq!(loaded[0].references, vec![r("lab/busybox:1")]);
    check_busybox(&s, &bb, "lab/busybox:1");
    // skopeo's oci-archive names the image only by tag ("1"): loaded untagged, found by ID.
    let loaded = s.load(&ociar).expect("load skopeo oci-archive");
    assert!(loaded[0].references.is_empty());
    assert_eq!(loaded[0].id.as_str(), bb.config_digest);
    assert_eq!(dir_names(&s.root().join("layers")).len(), 1);
}
