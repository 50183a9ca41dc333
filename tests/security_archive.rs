//! `load` of hostile archives whose documents or layers are not regular files: a FIFO
//! `manifest.json` would block the open forever, a `/dev/zero` device as a layer would be read
//! forever into the store. Both are refused with an error naming the file.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use support::tarball::TarBuilder;

/// Loads `archive` into a fresh store on another thread; the error, or a panic if it hangs.
fn load_error(archive: Vec<u8>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("archive.tar");
    std::fs::write(&path, archive).expect("write archive");
    let store_root = dir.path().join("state");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let store = rcompose::runtime::image::ImageStore::open(&store_root).expect("store");
        let _ = tx.send(store.load(&path).map(|_| ()).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(result) => result.expect_err("a hostile archive must not load"),
        Err(_) => panic!("load hung on a hostile archive"),
    }
}

#[test]
fn a_fifo_manifest_is_refused() {
    require_root!();
    let mut t = TarBuilder::new();
    t.fifo("manifest.json", 0o644);
    let err = load_error(t.finish());
    assert!(err.contains("manifest.json"), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_device_layer_is_refused() {
    require_root!();
    let manifest = br#"[{"Config":"config.json","RepoTags":["lab/zero:1"],"Layers":["zero"]}]"#;
    let mut t = TarBuilder::new();
    t.file("manifest.json", 0o644, manifest)
        .file("config.json", 0o644, b"{}")
        .char_dev("zero", 0o644, 1, 5);
    let err = load_error(t.finish());
    assert!(err.contains("zero"), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}
