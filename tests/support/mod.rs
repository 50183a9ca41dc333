//! Shared test support for rcompose integration tests (include with `mod support;`).
//!
//! - [`tarball`]: build tar archives byte by byte, including hostile ones (raw names, links).
//! - [`oci`]: write OCI image layouts (blobs, manifests, configs, indexes) from layer tars.
//! - [`busybox`]: a reproducible busybox image (OCI layout, oci-archive, docker-save), cached.
//! - [`registry`]: a throwaway Debian `docker-registry` on a free loopback port (RAII guard).
//! - [`peers`]: docker compose v2 with a live dockerd when present, and a compose CLI runner
//!   (peer or rcompose) with a `down -v` guard, for side-by-side tests.
//! - [`probe`]: HTTP GET, nslookup answers, kill-after-delay, CPU time of a process.
//! - [`residue`]: what an env left on the host (mounts, netns, cgroups, processes, links, state).

#![allow(dead_code)]

pub mod busybox;
pub mod compose;
pub mod oci;
pub mod peers;
pub mod probe;
pub mod registry;
pub mod residue;
pub mod tarball;

/// Skip (return early from) a test when not running as root; the image tests need root for
/// ownership, device nodes and `trusted.*` xattrs.
#[macro_export]
macro_rules! require_root {
    () => {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: needs root");
            return;
        }
    };
}

/// An image store in a fresh temporary state root (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, rcompose::runtime::image::ImageStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = rcompose::runtime::image::ImageStore::open(dir.path()).expect("open store");
    (dir, s)
}

/// A parsed image reference.
pub fn reference(s: &str) -> rcompose::runtime::image::Reference {
    rcompose::runtime::image::Reference::parse(s).expect("reference")
}
