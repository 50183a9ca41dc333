//! Arbitrary bytes as a layer blob (gzip, zstd or plain tar, sniffed like a pull does), unpacked
//! with the options of an image layer into `/tmp/rcompose-fuzz-unpack/root`: it may fail, it must
//! never panic nor touch anything outside `root`. Beside `root` sits `canary/file`, at a fixed
//! path the dictionary names, so escape attempts (`../canary`, absolute symlinks, hardlinks) have
//! a target to hit. A small tmpfs mounted on `/tmp/rcompose-fuzz-unpack` bounds decompression
//! bombs (see fuzz/README.md).
#![no_main]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rcompose::runtime::image::unpack::{UnpackOptions, decompress, unpack_layer};

const CANARY: &[u8] = b"canary";

fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = PathBuf::from("/tmp/rcompose-fuzz-unpack");
        // Its content only: the directory may be a tmpfs mount point.
        fs::create_dir_all(&base).expect("create the scratch dir");
        for entry in fs::read_dir(&base).expect("read the scratch dir") {
            let path = entry.expect("entry").path();
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
        fs::create_dir_all(base.join("canary")).expect("create canary dir");
        fs::write(base.join("canary/file"), CANARY).expect("write canary");
        fs::set_permissions(base.join("canary/file"), fs::Permissions::from_mode(0o644))
            .expect("chmod canary");
        base
    })
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Everything outside `root` is as it was.
fn assert_untouched(base: &Path) {
    assert_eq!(names(base), ["canary", "root"], "entries beside the layer root");
    assert_eq!(names(&base.join("canary")), ["file"], "canary dir changed");
    let file = base.join("canary/file");
    let meta = fs::symlink_metadata(&file).expect("canary stat");
    assert!(meta.file_type().is_file(), "canary replaced");
    assert_eq!(meta.nlink(), 1, "canary hardlinked into the layer");
    assert_eq!(meta.mode() & 0o7777, 0o644, "canary mode changed");
    assert_eq!(fs::read(&file).expect("canary read"), CANARY, "canary rewritten");
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let root = base.join("root");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir(&root).expect("create layer root");
    if let Ok(reader) = decompress(data) {
        let _ = unpack_layer(reader, &root, "fuzz", &UnpackOptions::default());
    }
    assert_untouched(base);
});
