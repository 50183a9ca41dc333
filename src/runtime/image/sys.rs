//! Thin wrappers over the `*at`, `openat2(2)` and xattr syscalls the unpacker is built on.
//! Every helper works relative to a directory descriptor and never follows a symlink in the
//! final component; `open_in_root` resolves whole paths with `RESOLVE_IN_ROOT`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::error::ImageError;

pub(crate) fn cstring(b: &[u8]) -> Option<CString> {
    CString::new(b).ok()
}

pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(crate) fn proc_path(dir: &OwnedFd, name: &CString) -> CString {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    // cannot contain NUL: the fd number is ASCII and `name` is already a CString
    CString::new(p).unwrap_or_default()
}

pub(crate) fn open_path(p: &Path) -> Result<OwnedFd, ImageError> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|e| ImageError::io(p, io::Error::other(e)))?;
    // SAFETY: valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(ImageError::io(p, io::Error::last_os_error()));
    }
    // SAFETY: fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: symlinks in `path` are
/// resolved as if `root` were `/`, so nothing outside `root` is reachable.
pub fn open_in_root(root: &OwnedFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    openat2(
        root.as_raw_fd(),
        path,
        flags,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV,
    )
}

pub(crate) fn openat2(
    dirfd: RawFd,
    path: &[u8],
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(io::Error::other)?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    for _ in 0..64 {
        // SAFETY: valid pointers and the struct size the kernel expects.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            // SAFETY: fresh descriptor we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

pub(crate) fn openat_nofollow(
    dir: &OwnedFd,
    name: &CString,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: valid dirfd and C string.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn dup(fd: &OwnedFd) -> io::Result<OwnedFd> {
    fd.try_clone()
}

pub(crate) fn mkdirat(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    // SAFETY: valid dirfd and C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o700) })
}

pub(crate) fn mknodat(
    dir: &OwnedFd,
    name: &CString,
    fmt: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    // SAFETY: valid dirfd and C string.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), fmt | 0o600, dev) })
}

pub(crate) fn fstatat_mode(dir: &OwnedFd, name: &CString) -> io::Result<libc::mode_t> {
    // SAFETY: stat is plain data; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, C string and out pointer.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st.st_mode)
}

pub(crate) fn fsetxattr(fd: &OwnedFd, key: &std::ffi::CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: valid fd, C string and buffer.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

pub(crate) fn timespecs(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    [t, t]
}

pub(crate) fn futimens(fd: &OwnedFd, mtime: i64) -> io::Result<()> {
    let ts = timespecs(mtime);
    // SAFETY: valid fd and timespec array.
    check(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) })
}
