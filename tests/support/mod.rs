//! Shared test support for rcompose integration tests (include with `mod support;`).
//!
//! - [`tarball`]: build tar archives byte by byte, including hostile ones (raw names, links).
//! - [`oci`]: write OCI image layouts (blobs, manifests, configs, indexes) from layer tars.
//! - [`busybox`]: a reproducible busybox image (OCI layout, oci-archive, docker-save), cached.
//! - [`registry`]: a throwaway Debian `docker-registry` on a free loopback port (RAII guard).
//! - [`peers`]: docker compose v2 with a live dockerd when present, and a compose CLI runner
//!   (peer or rcompose) with a `down -v` guard, for side-by-side tests.
//! - [`probe`]: HTTP GET, nslookup answers, kill-after-delay, CPU time of a process.
//! - [`runtime`]: a runtime-level [`runtime::TestEnv`] (own roots, busybox rootfs from the host's
//!   static busybox) that removes every container it made on drop.
//! - [`rcompose`] / [`ok`]: run the binary on a state root and take a successful run's stdout.
//! - [`residue`]: what an env left on the host (mounts, netns, cgroups, processes, links, state).

#![allow(dead_code)]

pub mod busybox;
pub mod compose;
pub mod oci;
pub mod peers;
pub mod probe;
pub mod registry;
pub mod residue;
pub mod runtime;
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

/// `rcompose --root ROOT ARGS...` run in `cwd` with no stdin (a prompt reads end of input).
pub fn rcompose(
    root: &std::path::Path,
    cwd: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .arg("--root")
        .arg(root)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rcompose")
}

/// The stdout of a command that must have succeeded (else both streams in the panic).
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "rcompose failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
