//! `rcompose push` and `rcompose image prune` as a user runs them: push a project's built
//! images to a real docker-registry on a loopback port and pull them into a fresh state root;
//! prune dangling and unused images. Each test has its own state roots.

mod support;

use rcompose::runtime::image::ImageStore;
use support::busybox;
use support::reference;
use support::registry::Registry;
use support::{ok, rcompose};

/// A state root with the busybox fixture loaded as `lab/busybox:1`.
fn root_with_busybox() -> tempfile::TempDir {
    let bb = busybox::busybox();
    let root = tempfile::tempdir().expect("state root");
    let archive = bb.docker_archive.to_str().expect("utf-8 path");
    ok(&rcompose(
        root.path(),
        root.path(),
        &["image", "load", "-i", archive],
    ));
    root
}

#[test]
fn push_built_services_then_pull_them_elsewhere() {
    require_root!();
    let registry = Registry::start();
    let host = registry.host();
    let root = root_with_busybox();
    let store = ImageStore::open(root.path()).expect("store");
    // What a build would have produced: the service's image and its extra build tag.
    for tag in [format!("{host}/lab/app:1"), format!("{host}/lab/app:extra")] {
        store.tag("lab/busybox:1", &reference(&tag)).expect("tag");
    }
    let project = tempfile::tempdir().expect("project");
    let compose = format!(
        "services:\n  app:\n    image: {host}/lab/app:1\n    build:\n      context: .\n      tags: [\"{host}/lab/app:extra\"]\n  cache:\n    image: {host}/lab/not-built:1\n"
    );
    std::fs::write(project.path().join("compose.yaml"), compose).expect("write compose.yaml");

    let out = ok(&rcompose(root.path(), project.path(), &["push"]));
    assert!(
        out.contains(&format!("{host}/lab/app:1 Pushed sha256:")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{host}/lab/app:extra Pushed")),
        "{out}"
    );
    assert!(out.contains("cache Skipped"), "{out}");
    assert!(!out.contains("not-built"), "{out}");
    let quiet = ok(&rcompose(
        root.path(),
        project.path(),
        &["push", "-q", "app"],
    ));
    assert!(quiet.is_empty(), "{quiet}");

    let fresh = tempfile::tempdir().expect("fresh root");
    for tag in ["1", "extra"] {
        let image = format!("{host}/lab/app:{tag}");
        ok(&rcompose(
            fresh.path(),
            fresh.path(),
            &["image", "pull", "-q", &image],
        ));
    }
    let pulled = ImageStore::open(fresh.path()).expect("fresh store");
    let original = store.inspect("lab/busybox:1").expect("original");
    assert_eq!(
        pulled
            .inspect(&format!("{host}/lab/app:1"))
            .expect("pulled")
            .id,
        original.id
    );
}

#[test]
fn push_failures_stop_unless_ignored() {
    require_root!();
    let registry = Registry::start();
    let host = registry.host();
    let root = tempfile::tempdir().expect("state root");
    let project = tempfile::tempdir().expect("project");
    let compose = format!("services:\n  app:\n    image: {host}/lab/missing:1\n    build: .\n");
    std::fs::write(project.path().join("compose.yaml"), compose).expect("write compose.yaml");

    let out = rcompose(root.path(), project.path(), &["push"]);
    assert!(
        !out.status.success(),
        "pushing an image that is not local must fail"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lab/missing:1"), "{err}");

    let out = rcompose(
        root.path(),
        project.path(),
        &["push", "--ignore-push-failures"],
    );
    let stdout = ok(&out);
    assert!(stdout.contains("lab/missing:1 Pushing"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lab/missing:1"), "{err}");
}

#[test]
fn image_prune_removes_dangling_then_unused_images() {
    require_root!();
    let bb = busybox::busybox();
    let root = root_with_busybox();
    let cwd = root.path();
    let store = ImageStore::open(root.path()).expect("store");
    let busybox_id = store.inspect("lab/busybox:1").expect("loaded").id;
    let rootfs = bb.rootfs_tar.to_str().expect("utf-8 path");
    ok(&rcompose(
        root.path(),
        cwd,
        &["image", "import", rootfs, "lab/tmp:1"],
    ));
    let imported = store.inspect("lab/tmp:1").expect("imported").id;
    // Moving the tag to another image leaves the imported one dangling, as in docker.
    store
        .tag("lab/busybox:1", &reference("lab/tmp:1"))
        .expect("tag");

    let refused = rcompose(root.path(), cwd, &["image", "prune"]);
    assert!(
        !refused.status.success(),
        "prune without -f and no answer must not prune"
    );
    let prompt = String::from_utf8_lossy(&refused.stdout);
    assert!(
        prompt.contains("WARNING! This will remove all dangling images."),
        "{prompt}"
    );
    assert!(
        store.inspect(imported.as_str()).is_ok(),
        "nothing pruned without confirmation"
    );

    let out = ok(&rcompose(root.path(), cwd, &["image", "prune", "-f"]));
    assert!(
        out.starts_with(&format!("Deleted Images:\ndeleted: {imported}\n\n")),
        "{out}"
    );
    let reclaimed = out.lines().last().unwrap_or_default();
    assert!(reclaimed.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(reclaimed, "Total reclaimed space: 0B", "{out}");
    assert!(
        store.inspect(imported.as_str()).is_err(),
        "the dangling image is gone"
    );
    let again = ok(&rcompose(root.path(), cwd, &["image", "prune", "-f"]));
    assert_eq!(again, "Total reclaimed space: 0B\n");

    // An image a container uses survives `-a`; the unused tagged one goes.
    ok(&rcompose(
        root.path(),
        cwd,
        &["image", "import", rootfs, "lab/other:1"],
    ));
    let other = store.inspect("lab/other:1").expect("other").id;
    store
        .hold(&busybox_id, "prune-test-container")
        .expect("hold");
    let out = ok(&rcompose(root.path(), cwd, &["image", "prune", "-a", "-f"]));
    assert!(
        out.contains(&format!("untagged: lab/other:1\ndeleted: {other}\n")),
        "{out}"
    );
    assert!(!out.contains("lab/busybox"), "{out}");
    let listed = ok(&rcompose(root.path(), cwd, &["image", "ls"]));
    assert!(
        listed.contains("lab/busybox") && !listed.contains("lab/other"),
        "{listed}"
    );

    store
        .release(&busybox_id, "prune-test-container")
        .expect("release");
    let out = ok(&rcompose(
        root.path(),
        cwd,
        &["image", "prune", "--all", "--force"],
    ));
    assert!(out.contains("untagged: lab/busybox:1\n"), "{out}");
    assert!(out.contains("untagged: lab/tmp:1\n"), "{out}");
    assert!(out.contains(&format!("deleted: {busybox_id}\n")), "{out}");
    let listed = ok(&rcompose(root.path(), cwd, &["image", "ls", "-q"]));
    assert!(listed.trim().is_empty(), "{listed}");
}
