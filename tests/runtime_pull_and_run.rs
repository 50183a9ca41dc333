//! The runtime's two halves together, as `up` will use them: an image built from Debian's
//! busybox-static is pushed to a real docker-registry on a loopback port, pulled into the
//! store, and run as containers from its stored layers: output in the log, exit codes, a named
//! volume that outlives its container, and the image held while a container uses it.

mod support;

use rcompose::runtime::container::{ContainerSpec, MountKind, MountSpec, RemoveOptions, Runtime};
use rcompose::runtime::image::{ImageStore, PullOptions, Reference};
use support::busybox;
use support::registry::Registry;

fn spec_from(
    image: &rcompose::runtime::image::LocalImage,
    name: &str,
    script: &str,
) -> ContainerSpec {
    let mut spec = ContainerSpec::new(name, image.config.clone(), image.layer_dirs.clone());
    spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    spec
}

#[tokio::test(flavor = "multi_thread")]
async fn pulled_image_runs_with_logs_exit_codes_and_volumes() {
    require_root!();
    let bb = busybox::busybox();
    let registry = Registry::start();
    registry.skopeo_push(
        &format!("oci:{}:1", bb.oci_layout.display()),
        "lab/busybox:1",
        &[],
    );
    let env = support::runtime::TestEnv::new();
    let store = ImageStore::open(&env.dir.path().join("s")).expect("image store");
    let reference =
        Reference::parse(&format!("{}/lab/busybox:1", registry.host())).expect("reference");
    let id = store
        .pull(&reference, &PullOptions::default(), |_| {})
        .await
        .expect("pull");
    let image = store.inspect(&reference.to_string()).expect("inspect");
    assert_eq!(image.id, id);

    // Output reaches the log, and the exit code comes back.
    let spec = spec_from(
        &image,
        "hello",
        "echo hello from $(cat /etc/hostname); echo oops >&2; exit 7",
    );
    let c = env.rt.create(&spec).expect("create");
    store.hold(&image.id, c.as_str()).expect("hold");
    env.rt.start(c.as_str()).expect("start");
    assert_eq!(env.rt.wait(c.as_str()).expect("wait"), 7);
    let log = env.log_text(c.as_str());
    assert!(log.contains("hello from") && log.contains("oops"), "{log}");
    assert!(
        store.remove(&reference.to_string(), false).is_err(),
        "an image in use must not be removed"
    );
    env.rt
        .remove(c.as_str(), RemoveOptions::default())
        .expect("remove");
    store.release(&image.id, c.as_str()).expect("release");
    env.assert_gone(c.as_str());

    // A named volume keeps its content when the container is recreated.
    let data = MountSpec {
        target: "/data".into(),
        kind: MountKind::Volume {
            name: "pulltest".into(),
            nocopy: false,
        },
        read_only: false,
    };
    let mut writer = spec_from(&image, "writer", "echo persisted > /data/file");
    writer.mounts.push(data.clone());
    let w = env.rt.create(&writer).expect("create writer");
    env.rt.start(w.as_str()).expect("start writer");
    assert_eq!(env.rt.wait(w.as_str()).expect("wait writer"), 0);
    env.rt
        .remove(w.as_str(), RemoveOptions::default())
        .expect("remove writer");
    let mut reader = spec_from(&image, "reader", "cat /data/file");
    reader.mounts.push(data);
    let r = env.rt.create(&reader).expect("create reader");
    env.rt.start(r.as_str()).expect("start reader");
    assert_eq!(env.rt.wait(r.as_str()).expect("wait reader"), 0);
    assert_eq!(env.log_text(r.as_str()).trim(), "persisted");
    env.rt
        .remove(r.as_str(), RemoveOptions::default())
        .expect("remove reader");
    env.rt.remove_volume("pulltest").expect("remove volume");
}
