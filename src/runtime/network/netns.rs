//! Persistent network namespaces, bind-mounted on a file like `ip netns add` does, so a
//! service container's interfaces and addresses outlive the container's restarts: the container
//! joins the namespace (`NetworkMode::Path`) instead of owning it.
//!
//! The namespace lives as long as the bind mount (or a process in it); [`remove`] ends it.
//! Creating the same path concurrently from two processes is not guarded against: the engine
//! owns its paths (one per container).

use std::fs;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use super::error::{NetError, Result};
use super::link::{self, Netns};

/// Creates a new network namespace bind-mounted at `path` (parent directories created) with
/// `lo` up. Idempotent: an existing namespace at `path` is returned as is.
pub fn create(path: &Path) -> Result<Netns> {
    let ns = Netns::Path(path.to_path_buf());
    if is_netns(path) {
        return Ok(ns);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| NetError::io("create netns dir", dir, e))?;
    }
    // The mount point: an empty file (left from an interrupted create is fine too).
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map_err(|e| NetError::io("create netns file", path, e))?;
    if let Err(e) = mount_new_netns(path).and_then(|()| link::loopback_up(&ns)) {
        let _ = remove(path);
        return Err(e);
    }
    Ok(ns)
}

/// On a short-lived thread (namespaces are per thread): a new netns, bind-mounted at `path`.
fn mount_new_netns(path: &Path) -> Result<()> {
    std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::io("unshare", "CLONE_NEWNET", e.into()))?;
            let src = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
            mount(
                Some(src.as_str()),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| NetError::io("bind-mount netns", path, e.into()))
        })
        .join()
        .unwrap_or_else(|_| Err(NetError::Daemon("netns thread panicked".into())))
    })
}

/// Unmounts (lazily) and deletes the namespace file at `path`; a missing one is not an error.
/// The namespace itself ends when no process is left in it.
pub fn remove(path: &Path) -> Result<()> {
    // A path mounted over twice (a racing create) needs one unmount per mount.
    while is_netns(path) {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::Error::EINVAL) => break,
            Err(e) => return Err(NetError::io("unmount netns", path, e.into())),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove netns file", path, e)),
    }
}

/// Whether `path` is a network namespace file (a bind-mounted netns or `/proc/PID/ns/net`).
pub fn is_netns(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    // SAFETY: NS_GET_NSTYPE takes no argument; on anything but an nsfs file it fails (ENOTTY).
    let kind = unsafe { libc::ioctl(f.as_raw_fd(), libc::NS_GET_NSTYPE) };
    kind == libc::CLONE_NEWNET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_files_and_missing_paths_are_not_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plain");
        fs::write(&f, "").unwrap();
        assert!(!is_netns(&f));
        assert!(!is_netns(&dir.path().join("missing")));
        assert!(is_netns(Path::new("/proc/self/ns/net")));
        assert!(!is_netns(Path::new("/proc/self/ns/uts")));
        remove(&dir.path().join("missing")).unwrap();
        remove(&f).unwrap();
        assert!(!f.exists());
    }
}
