//! Copying changed host paths into a container's filesystem, and deleting what was deleted.
//!
//! Where the files go: the container's filesystem *as its processes see it*, i.e. the root of
//! its init (`/proc/<pid>/root`, through [`ContainerRuntime::with_container_fs`]; a stopped
//! container gets a private mount of its rootfs and volumes). Writing into the overlay mount
//! point on the host would miss a volume or bind mount over the target, and the overlay's upper
//! directory must never be written behind the overlay's back; the init's root has neither
//! problem and costs one `open`. Every path is resolved with `openat2(RESOLVE_IN_ROOT)` and
//! every entry is created with `*at` calls that never follow a symlink in the last component,
//! so a container cannot redirect a sync onto the host.
//!
//! How: a file is written to a temporary name in its directory and renamed over the old one, so
//! a process in the container reads the old content or the new one, never half a file (a file
//! that is itself a mount point cannot be renamed over: it is rewritten in place). Mode, owner
//! (as docker compose, which copies with `CopyUIDGID`) and mtime come from the host; missing
//! parent directories are created `0755`. A path missing on the host is removed (recursively)
//! in the container. Host paths are read when the batch is applied, so the container gets the
//! latest content whatever order the events came in.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{AtFlags, renameat};
use nix::sys::stat::{Mode, fchmod, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, symlinkat, unlinkat};

use crate::runtime::container::copy::root::{FsRoot, Stat, list_dir, open_at_nofollow, stat_at};

/// One path to bring up to date in the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncItem {
    /// Absolute path in the container (sorted first: parents before children).
    pub container: String,
    pub host: PathBuf,
}

/// A sync that failed, with the container path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct SyncError {
    pub op: &'static str,
    pub path: String,
    #[source]
    pub source: io::Error,
}

fn fail(op: &'static str, path: &str) -> impl FnOnce(io::Error) -> SyncError + use<> {
    let path = path.to_string();
    move |source| SyncError { op, path, source }
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub copied: usize,
    pub deleted: usize,
}

/// Applies `items` (in order) to the filesystem under `root`.
pub fn apply(root: &FsRoot, items: &[SyncItem]) -> Result<SyncStats, SyncError> {
    let mut stats = SyncStats::default();
    for item in items {
        match std::fs::symlink_metadata(&item.host) {
            Ok(meta) => {
                if copy(root, item, &meta)? {
                    stats.copied += 1;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if delete(root, &item.container)? {
                    stats.deleted += 1;
                }
            }
            Err(e) => return Err(fail("lstat", &item.host.to_string_lossy())(e)),
        }
    }
    Ok(stats)
}

/// Whether the container already has `item` as the host has it (same kind, size, mode, mtime):
/// what `initial_sync` skips.
pub fn up_to_date(root: &FsRoot, item: &SyncItem) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(&item.host) else {
        return false;
    };
    let Ok(fd) = root.resolve(item.container.as_bytes(), false) else {
        return false;
    };
    let Ok(st) = crate::runtime::container::copy::root::stat_fd(&fd) else {
        return false;
    };
    st.mode == meta.mode()
        && (meta.is_dir() || (st.size == meta.size() && st.mtime == meta.mtime()))
}

fn split(path: &str) -> (&str, &str) {
    let t = path.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => ("/", t),
    }
}

fn cname(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// The directory `dir` inside the root, created (0755, like docker's implied directories)
/// where missing.
fn ensure_dir(root: &FsRoot, dir: &str) -> Result<OwnedFd, SyncError> {
    let flags = libc::O_PATH | libc::O_DIRECTORY;
    match root.open_at(dir.as_bytes(), flags) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(fail("open", dir)(e)),
    }
    let mut cur = root.open_at(b"/", flags).map_err(fail("open", "/"))?;
    let mut prefix = String::new();
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        prefix.push('/');
        prefix.push_str(comp);
        let c = cname(comp).map_err(fail("mkdir", dir))?;
        match mkdirat(cur.as_fd(), c.as_c_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(fail("mkdir", dir)(errno(e))),
        }
        // Resolved from the root again, so a symlink the container placed here is followed
        // inside the root, never out of it.
        cur = root
            .open_at(prefix.as_bytes(), flags)
            .map_err(fail("open", dir))?;
    }
    Ok(cur)
}

/// Brings one existing host path over; false when there was nothing to copy (a socket, say).
fn copy(root: &FsRoot, item: &SyncItem, meta: &std::fs::Metadata) -> Result<bool, SyncError> {
    let path = item.container.as_str();
    let (parent, name) = split(path);
    let dir = ensure_dir(root, parent)?;
    let c = cname(name).map_err(fail("create", path))?;
    let existing = stat_at(&dir, &c).map_err(fail("lstat", path))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        make_dir(&dir, &c, existing, meta, path)?;
    } else if ft.is_file() {
        if existing.is_some_and(|s| s.is_dir()) {
            remove_all(&dir, &c, path)?;
        }
        write_file(&dir, &c, &item.host, meta, path)?;
    } else if ft.is_symlink() {
        if let Some(st) = existing {
            remove_entry(&dir, &c, st, path)?;
        }
        let target = std::fs::read_link(&item.host).map_err(fail("readlink", path))?;
        symlinkat(target.as_os_str(), dir.as_fd(), c.as_c_str())
            .map_err(|e| fail("symlink", path)(errno(e)))?;
        fchownat(
            dir.as_fd(),
            c.as_c_str(),
            Some(Uid::from_raw(meta.uid())),
            Some(Gid::from_raw(meta.gid())),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| fail("lchown", path)(errno(e)))?;
    } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
        return Ok(false);
    }
    Ok(true)
}

fn make_dir(
    dir: &OwnedFd,
    name: &CString,
    existing: Option<Stat>,
    meta: &std::fs::Metadata,
    path: &str,
) -> Result<(), SyncError> {
    match existing {
        Some(st) if st.is_dir() => {}
        Some(st) => {
            remove_entry(dir, name, st, path)?;
            mkdirat(
                dir.as_fd(),
                name.as_c_str(),
                Mode::from_bits_truncate(0o700),
            )
            .map_err(|e| fail("mkdir", path)(errno(e)))?;
        }
        None => mkdirat(
            dir.as_fd(),
            name.as_c_str(),
            Mode::from_bits_truncate(0o700),
        )
        .map_err(|e| fail("mkdir", path)(errno(e)))?,
    }
    let fd = open_at_nofollow(dir, name, libc::O_RDONLY | libc::O_DIRECTORY)
        .map_err(fail("open", path))?;
    owner_and_mode(&fd, meta, path)
}

/// Owner first: a chown clears set-id bits, the chmod after it puts them back.
fn owner_and_mode(fd: &OwnedFd, meta: &std::fs::Metadata, path: &str) -> Result<(), SyncError> {
    fchown(
        fd.as_fd(),
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
    )
    .map_err(|e| fail("chown", path)(errno(e)))?;
    fchmod(fd.as_fd(), Mode::from_bits_truncate(meta.mode() & 0o7777))
        .map_err(|e| fail("chmod", path)(errno(e)))
}

/// Distinguishes the temporary files of concurrent syncs in one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

fn write_file(
    dir: &OwnedFd,
    name: &CString,
    host: &Path,
    meta: &std::fs::Metadata,
    path: &str,
) -> Result<(), SyncError> {
    let mut src = File::open(host).map_err(fail("open", path))?;
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let temp = format!(
        ".{}.rcompose-sync-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    );
    let temp = cname(&temp).map_err(fail("create", path))?;
    let fd = open_at_nofollow(dir, &temp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)
        .map_err(fail("create", path))?;
    let written = fill(fd, &mut src, meta, path);
    let renamed = written.and_then(|()| {
        renameat(dir.as_fd(), temp.as_c_str(), dir.as_fd(), name.as_c_str())
            .map_err(|e| fail("rename", path)(errno(e)))
    });
    match renamed {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = unlinkat(dir.as_fd(), temp.as_c_str(), UnlinkatFlags::NoRemoveDir);
            // A bind-mounted file cannot be replaced: rewrite it where it is.
            if e.source.raw_os_error() == Some(libc::EBUSY) {
                let fd = open_at_nofollow(dir, name, libc::O_WRONLY | libc::O_TRUNC)
                    .map_err(fail("open", path))?;
                let mut src = File::open(host).map_err(fail("open", path))?;
                return fill(fd, &mut src, meta, path);
            }
            Err(e)
        }
    }
}

/// Content, owner, mode and times of a freshly opened file.
fn fill(
    fd: OwnedFd,
    src: &mut File,
    meta: &std::fs::Metadata,
    path: &str,
) -> Result<(), SyncError> {
    let mut dst = File::from(fd);
    // std uses copy_file_range/sendfile here: no copy through user space.
    io::copy(src, &mut dst).map_err(fail("write", path))?;
    let fd = OwnedFd::from(dst);
    owner_and_mode(&fd, meta, path)?;
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    futimens(fd.as_fd(), &atime, &mtime).map_err(|e| fail("chtimes", path)(errno(e)))
}

/// Removes `path` (recursively); false when it was not there.
fn delete(root: &FsRoot, path: &str) -> Result<bool, SyncError> {
    let (parent, name) = split(path);
    let dir = match root.open_at(parent.as_bytes(), libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(false);
        }
        Err(e) => return Err(fail("open", parent)(e)),
    };
    let c = cname(name).map_err(fail("remove", path))?;
    match stat_at(&dir, &c).map_err(fail("lstat", path))? {
        Some(st) => remove_entry(&dir, &c, st, path).map(|()| true),
        None => Ok(false),
    }
}

fn remove_entry(dir: &OwnedFd, name: &CString, st: Stat, path: &str) -> Result<(), SyncError> {
    if st.is_dir() {
        return remove_all(dir, name, path);
    }
    unlinkat(dir.as_fd(), name.as_c_str(), UnlinkatFlags::NoRemoveDir)
        .map_err(|e| fail("remove", path)(errno(e)))
}

/// `rm -rf` of the directory `name` in `dir`, never following a symlink.
fn remove_all(dir: &OwnedFd, name: &CString, path: &str) -> Result<(), SyncError> {
    let sub = open_at_nofollow(dir, name, libc::O_RDONLY | libc::O_DIRECTORY)
        .map_err(fail("open", path))?;
    for child in list_dir(&sub).map_err(fail("list", path))? {
        let c = CString::new(child.clone()).map_err(|_| {
            fail("remove", path)(io::Error::new(io::ErrorKind::InvalidInput, "NUL"))
        })?;
        let shown = format!("{path}/{}", OsStr::from_bytes(&child).to_string_lossy());
        if let Some(st) = stat_at(&sub, &c).map_err(fail("lstat", &shown))? {
            remove_entry(&sub, &c, st, &shown)?;
        }
    }
    unlinkat(dir.as_fd(), name.as_c_str(), UnlinkatFlags::RemoveDir)
        .map_err(|e| fail("remove", path)(errno(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn item(container: &str, host: &Path) -> SyncItem {
        SyncItem {
            container: container.into(),
            host: host.to_path_buf(),
        }
    }

    #[test]
    fn copies_replaces_and_deletes_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().join("host");
        let croot = dir.path().join("root");
        std::fs::create_dir_all(host.join("sub")).expect("mkdir");
        std::fs::create_dir_all(croot.join("app")).expect("mkdir");
        std::fs::write(host.join("sub/run.sh"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(host.join("sub/run.sh"), PermissionsExt::from_mode(0o751))
            .expect("chmod");
        std::os::unix::fs::symlink("run.sh", host.join("sub/link")).expect("symlink");
        std::fs::write(croot.join("app/old"), "old").expect("write");
        let root = FsRoot::open(&croot).expect("root");
        let items = vec![
            item("/app/new/deep/run.sh", &host.join("sub/run.sh")),
            item("/app/new/deep/link", &host.join("sub/link")),
            item("/app/old", &host.join("gone")),
        ];
        let stats = apply(&root, &items).expect("apply");
        assert_eq!(
            stats,
            SyncStats {
                copied: 2,
                deleted: 1
            }
        );
        let copied = croot.join("app/new/deep/run.sh");
        assert_eq!(
            std::fs::read_to_string(&copied).expect("read"),
            "#!/bin/sh\n"
        );
        let meta = std::fs::metadata(&copied).expect("stat");
        assert_eq!(meta.mode() & 0o7777, 0o751);
        assert_eq!(
            meta.mtime(),
            std::fs::metadata(host.join("sub/run.sh"))
                .expect("stat")
                .mtime()
        );
        assert_eq!(
            std::fs::read_link(croot.join("app/new/deep/link")).expect("link"),
            PathBuf::from("run.sh")
        );
        assert!(!croot.join("app/old").exists());
        assert!(up_to_date(&root, &items[0]));
        // A file replaces a directory, and no temporary file is left behind.
        std::fs::create_dir_all(croot.join("app/d/x")).expect("mkdir");
        apply(&root, &[item("/app/d", &host.join("sub/run.sh"))]).expect("apply");
        assert!(croot.join("app/d").is_file());
        let names: Vec<_> = std::fs::read_dir(croot.join("app"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // Deleting what is not there is not an error.
        let stats = apply(&root, &[item("/nope/x", &host.join("gone"))]).expect("apply");
        assert_eq!(stats.deleted, 0);
    }

    #[test]
    fn a_symlink_in_the_container_does_not_lead_out_of_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        let croot = dir.path().join("root");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::create_dir_all(&croot).expect("mkdir");
        std::os::unix::fs::symlink(&outside, croot.join("app")).expect("symlink");
        // Inside the root, the absolute link target is a directory of the container's own.
        let inside = croot.join(outside.strip_prefix("/").expect("abs"));
        std::fs::create_dir_all(&inside).expect("mkdir");
        let src = dir.path().join("f");
        std::fs::write(&src, "x").expect("write");
        let root = FsRoot::open(&croot).expect("root");
        apply(&root, &[item("/app/f", &src)]).expect("apply");
        assert!(!outside.join("f").exists(), "wrote through the symlink");
        assert!(
            croot
                .join(outside.strip_prefix("/").expect("abs"))
                .join("f")
                .exists()
        );
    }
}
