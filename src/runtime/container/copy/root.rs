//! A directory tree opened as a root: paths are resolved inside it with `openat2(2)`
//! `RESOLVE_IN_ROOT`, so `..` and symlinks (absolute or relative) never lead outside it, and
//! mounts below it (a container's volumes) are crossed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open root directory.
#[derive(Debug)]
pub struct FsRoot {
    fd: OwnedFd,
}

/// What `fstat` says about a resolved path.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub rdev: u64,
}

impl Stat {
    pub fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
}

pub(crate) fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

impl FsRoot {
    /// Opens `path` (resolved normally) as a root.
    pub fn open(path: &Path) -> io::Result<Self> {
        let c = cstr(path.as_os_str().as_bytes())?;
        // SAFETY: valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        Ok(FsRoot {
            fd: owned(fd as libc::c_long)?,
        })
    }

    /// Resolves `path` inside the root to an `O_PATH` descriptor; the last component is
    /// followed if it is a symlink only when `follow`.
    pub fn resolve(&self, path: &[u8], follow: bool) -> io::Result<OwnedFd> {
        let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
        self.open_at(path, flags)
    }

    /// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
    pub fn open_at(&self, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
        let path = if path.is_empty() { b"/" as &[u8] } else { path };
        let c = cstr(path)?;
        // SAFETY: open_how is plain data; zeroed is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        loop {
            // SAFETY: valid descriptor, C string, struct pointer and size.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            match owned(rc) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => continue,
                r => return r,
            }
        }
    }
}

/// `fstat` of a descriptor (an `O_PATH` one too; a symlink is not followed).
pub fn stat_fd(fd: &OwnedFd) -> io::Result<Stat> {
    // SAFETY: stat is plain data the kernel fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, empty C string and out pointer.
    check(unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            &mut st,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(Stat {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime: st.st_mtime,
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
        rdev: st.st_rdev,
    })
}

/// `fstatat(dir, name)` without following a symlink; `None` when there is nothing.
pub fn stat_at(dir: &OwnedFd, name: &CString) -> io::Result<Option<Stat>> {
    match open_at_nofollow(dir, name, libc::O_PATH) {
        Ok(fd) => stat_fd(&fd).map(Some),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Re-opens an already resolved descriptor with real access `flags` (through its
/// `/proc/self/fd` link, which names the very inode, so nothing is resolved again).
pub fn reopen(fd: &OwnedFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let p = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?;
    // SAFETY: valid C string.
    let rc = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    owned(rc as libc::c_long)
}

/// `openat(dir, name, flags | O_NOFOLLOW)`: one component, never a symlink.
pub fn open_at_nofollow(dir: &OwnedFd, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and C string.
    let rc = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    owned(rc as libc::c_long)
}

/// The target of the symlink `fd` refers to (opened `O_PATH | O_NOFOLLOW`).
pub fn read_link(fd: &OwnedFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: valid descriptor, empty C string and a buffer of the given length.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The names in directory `fd` (any descriptor of it), sorted, without `.` and `..`.
pub fn list_dir(fd: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let dir = reopen(fd, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
        .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
        .collect::<io::Result<_>>()?;
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("rel")).unwrap();
        let r = FsRoot::open(&root).unwrap();
        for p in ["/abs/passwd", "rel/passwd", "/../../etc/passwd"] {
            let fd = r.resolve(p.as_bytes(), true).unwrap();
            let f = reopen(&fd, libc::O_RDONLY).unwrap();
            let text = std::io::read_to_string(std::fs::File::from(f)).unwrap();
            assert_eq!(text, "inside", "{p}");
        }
        let link = r.resolve(b"/abs", false).unwrap();
        assert_eq!(stat_fd(&link).unwrap().kind(), libc::S_IFLNK);
        assert_eq!(read_link(&link).unwrap(), b"/etc");
        assert_eq!(list_dir(&r.resolve(b"/", true).unwrap()).unwrap().len(), 3);
    }
}
