//! The container rootfs: an overlayfs of the image's lower dirs with a per-container upper and
//! work dir (kept across restarts, removed with the container).
//!
//! The legacy mount(2) option string must fit in one page; when the absolute lower paths are too
//! long we mount through short per-container symlinks `l/<n>` and relative paths after `chdir`
//! into the container dir (the monitor is single-threaded, so `chdir` is safe there).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::error::{ContainerError, IoContext, Result};
use super::paths::ContainerPaths;

/// With these the upper dir alone holds every change (no redirects to lower dirs, no
/// metadata-only copy-ups), whatever the kernel's defaults: a build step's upper dir is its
/// layer (see `runtime::build::layer`).
const UPPER_IS_DIFF: &str = "index=off,redirect_dir=off,metacopy=off";

/// Above this the option string goes through `l/<n>` symlinks and relative paths.
const MAX_DIRECT_OPTIONS: usize = 3000;

/// Whether `path` is a mount point.
///
/// Asks the kernel about `path` alone (`statx`'s `STATX_ATTR_MOUNT_ROOT`, Linux 5.8+) rather than
/// reading the whole mount table: `/proc/self/mountinfo` is tens of kilobytes on a host with
/// other containers, and its generation showed up as several percent of a container start.
pub fn is_mounted(path: &Path) -> bool {
    match mount_root_attr(path) {
        Some(v) => v,
        None => is_mounted_per_mountinfo(path),
    }
}

/// `Some(is mount root)` from `statx`, `None` when the kernel does not report the attribute.
fn mount_root_attr(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero `statx` is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `stx` a writable struct that outlives the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if rc != 0 {
        // A missing path is not a mount point; other errors: let the slow path decide.
        return (std::io::Error::last_os_error().kind() == std::io::ErrorKind::NotFound)
            .then_some(false);
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    (stx.stx_attributes_mask & bit != 0).then_some(stx.stx_attributes & bit != 0)
}

fn is_mounted_per_mountinfo(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(|mp| unescape_mountinfo(mp) == want)
            .unwrap_or(false)
    })
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v as char);
            i += 4;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Mounts the overlay rootfs at `paths.rootfs()` unless already mounted.
pub fn mount_rootfs(paths: &ContainerPaths, lower_dirs: &[PathBuf]) -> Result<()> {
    let target = paths.rootfs();
    if is_mounted(&target) {
        return Ok(());
    }
    if lower_dirs.is_empty() {
        return Err(ContainerError::InvalidSpec(
            "no lower dirs (image layers)".into(),
        ));
    }
    for d in [paths.upper(), paths.work(), target.clone()] {
        fs::create_dir_all(&d).ctx("create overlay dir", &d)?;
    }
    // overlayfs lists the top layer first.
    let lowers: Vec<String> = lower_dirs
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let direct = format!(
        "lowerdir={},upperdir={},workdir={},{UPPER_IS_DIFF}",
        lowers.join(":"),
        paths.upper().display(),
        paths.work().display()
    );
    if direct.len() <= MAX_DIRECT_OPTIONS {
        return do_mount(&target, &direct);
    }
    // Long: short symlinks l/0, l/1, ... (bottom = 0) and paths relative to the container dir.
    let links = paths.lower_links();
    let _ = fs::remove_dir_all(&links);
    fs::create_dir_all(&links).ctx("create lower link dir", &links)?;
    for (i, d) in lower_dirs.iter().enumerate() {
        let l = links.join(i.to_string());
        symlink(d, &l).ctx("create lower link", &l)?;
    }
    let rel: Vec<String> = (0..lower_dirs.len())
        .rev()
        .map(|i| format!("l/{i}"))
        .collect();
    let opts = format!(
        "lowerdir={},upperdir=u,workdir=w,{UPPER_IS_DIFF}",
        rel.join(":")
    );
    let cwd = std::env::current_dir().ctx("get cwd", ".")?;
    std::env::set_current_dir(paths.dir()).ctx("chdir", paths.dir())?;
    let res = do_mount(Path::new("r"), &opts);
    std::env::set_current_dir(&cwd).ctx("chdir back", &cwd)?;
    res
}

fn do_mount(target: &Path, opts: &str) -> Result<()> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts),
    )
    .map_err(|e| ContainerError::Mount {
        what: format!("overlay on {}", target.display()),
        source: e,
    })
}

/// The overlay of an unmounted rootfs, kept alive until this is dropped.
///
/// An overlay syncs its whole upper filesystem (the state disk: a journal commit at least, tens
/// of milliseconds while something else writes to that disk) when its last reference goes. The
/// monitor holds this across answering its waiters, so that sync runs after a `wait` or `stop`
/// has returned rather than before.
#[derive(Debug)]
pub struct DetachedRootfs {
    _root: Option<std::os::fd::OwnedFd>,
}

/// Like [`unmount_rootfs`], but keeps the filesystem referenced until the result is dropped.
/// The mount point is free at once: a new mount there is a new overlay.
pub fn detach_rootfs(paths: &ContainerPaths) -> Result<DetachedRootfs> {
    let target = paths.rootfs();
    let root = if is_mounted(&target) {
        fs::File::open(&target).ok().map(std::os::fd::OwnedFd::from)
    } else {
        None
    };
    unmount_rootfs(paths)?;
    Ok(DetachedRootfs { _root: root })
}

/// Unmounts the rootfs (lazily, so a straggler cannot block cleanup). Idempotent.
pub fn unmount_rootfs(paths: &ContainerPaths) -> Result<()> {
    let target = paths.rootfs();
    while is_mounted(&target) {
        nix::mount::umount2(&target, MntFlags::MNT_DETACH).map_err(|e| ContainerError::Mount {
            what: format!("unmount {}", target.display()),
            source: e,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{detach_rootfs, is_mounted, is_mounted_per_mountinfo, unescape_mountinfo};
    use crate::runtime::container::paths::Layout;

    #[test]
    fn unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn mount_points_agree_with_mountinfo() {
        let dir = std::env::temp_dir();
        for p in [Path::new("/"), Path::new("/proc"), dir.as_path()] {
            assert_eq!(
                is_mounted(p),
                is_mounted_per_mountinfo(p),
                "{}",
                p.display()
            );
        }
        assert!(is_mounted(Path::new("/proc")));
        assert!(!is_mounted(Path::new("/nonexistent/rcompose-test")));
    }

    #[test]
    fn detach_frees_the_mount_point_and_keeps_the_filesystem_until_dropped() {
        use std::os::fd::AsFd;
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Layout::new(dir.path().join("s"), dir.path().join("run")).container("c1");
        let r = paths.rootfs();
        std::fs::create_dir_all(&r).expect("mkdir");
        let mounted = nix::mount::mount(
            Some("tmpfs"),
            &r,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
        if mounted.is_err() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        std::fs::write(r.join("f"), "x").expect("write");
        let kept = detach_rootfs(&paths).expect("detach");
        assert!(!is_mounted(&r));
        assert!(!r.join("f").exists());
        let fd = kept
            ._root
            .as_ref()
            .expect("the filesystem is still referenced");
        let st = nix::sys::statfs::fstatfs(fd.as_fd()).expect("fstatfs");
        assert_eq!(st.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
        drop(kept);
        // Idempotent once nothing is mounted.
        assert!(detach_rootfs(&paths).expect("detach again")._root.is_none());
    }
}
