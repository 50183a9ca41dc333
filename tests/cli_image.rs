//! The image commands as a user runs them: load the busybox image built from Debian's
//! busybox-static, list and remove it, and `rcompose pull` a project's images from a real
//! docker-registry on a loopback port. Each test has its own state root.

mod support;

use support::busybox;
use support::registry::Registry;
use support::{ok, rcompose};

#[test]
fn load_list_and_remove_an_image() {
    require_root!();
    let bb = busybox::busybox();
    let root = tempfile::tempdir().expect("state root");
    let cwd = root.path();
    let loaded = ok(&rcompose(
        root.path(),
        cwd,
        &["image", "load", "-i", bb.docker_archive.to_str().unwrap()],
    ));
    assert!(loaded.contains("Loaded image: lab/busybox:1"), "{loaded}");
    let list = ok(&rcompose(root.path(), cwd, &["image", "ls"]));
    assert!(list.starts_with("REPOSITORY"), "{list}");
    assert!(
        list.contains("lab/busybox") && list.contains(&bb.config_digest[7..19]),
        "{list}"
    );
    let removed = ok(&rcompose(
        root.path(),
        cwd,
        &["image", "rm", "lab/busybox:1"],
    ));
    assert!(removed.contains("Untagged: lab/busybox:1"), "{removed}");
    let list = ok(&rcompose(root.path(), cwd, &["image", "ls", "-q"]));
    assert!(list.trim().is_empty(), "{list}");
    let out = rcompose(root.path(), cwd, &["image", "rm", "lab/busybox:1"]);
    assert!(!out.status.success(), "removing a missing image must fail");
}

#[test]
fn pull_a_projects_images_from_a_local_registry() {
    require_root!();
    let bb = busybox::busybox();
    let registry = Registry::start();
    registry.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "lab/busybox:1",
        &[],
    );
    let root = tempfile::tempdir().expect("state root");
    let project = tempfile::tempdir().expect("project");
    let compose = format!(
        "services:\n  web:\n    image: {host}/lab/busybox:1\n  built:\n    image: {host}/lab/busybox:1\n    build: .\n",
        host = registry.host()
    );
    std::fs::write(project.path().join("compose.yaml"), compose).expect("write compose.yaml");
    let out = ok(&rcompose(root.path(), project.path(), &["pull"]));
    assert!(out.contains("web Pulled"), "{out}");
    assert!(out.contains("built Skipped - Image will be built"), "{out}");
    let again = ok(&rcompose(root.path(), project.path(), &["pull", "web"]));
    assert!(again.contains("already present"), "{again}");
    let list = ok(&rcompose(root.path(), project.path(), &["image", "ls"]));
    assert!(
        list.contains(&format!("{}/lab/busybox", registry.host())),
        "{list}"
    );
    let out = rcompose(
        root.path(),
        project.path(),
        &["image", "pull", "127.0.0.1:1/nothing/here:1"],
    );
    assert!(!out.status.success(), "pull from a closed port must fail");
}
