//! File-descriptor level helpers for writing into an image root safely: paths inside a root are
//! resolved with `openat2(RESOLVE_IN_ROOT)` (so an image's absolute or `..` symlinks cannot lead
//! out of it), final components are created with `*at` calls that never follow symlinks, and
//! xattrs are read and removed without following them.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, UtimensatFlags, fchmodat, fstatat, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

/// `/proc/self/fd/<n>`: a path the kernel resolves to exactly this descriptor's file.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open a host directory we own (the merged root of a build overlay, a layer dir) as `O_PATH`.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open `rel` inside `root` as if `root` were `/`: symlinks resolve within it, `..` stops at it.
pub fn open_in_root(root: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let rel = relative(rel);
    let rel: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match openat2(root, rel, how) {
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// `/a/b/../c` → `a/c` lexically, never above the root (what `RESOLVE_IN_ROOT` would do with the
/// `..` anyway; used for names shown to the user and for cache keys).
pub fn relative(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Stat of `name` in `dir`, not following a final symlink; `None` when it does not exist.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<FileStat>> {
    match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The directory `rel` inside `root`, created (with missing parents) when absent. Created
/// directories get mode 0755 and `owner`; existing ones are left as they are. Symlinks on the
/// way resolve inside the root.
pub fn ensure_dir_in_root(
    root: BorrowedFd<'_>,
    rel: &Path,
    owner: (u32, u32),
) -> io::Result<OwnedFd> {
    let rel = relative(rel);
    let mut cur = open_in_root(root, Path::new("."), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let mut walked = PathBuf::new();
    for c in rel.components() {
        walked.push(c);
        match open_in_root(root, &walked, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => cur = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let name = c.as_os_str();
                match mkdirat(cur.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                set_owner_mode(cur.as_fd(), name, owner, Some(0o755))?;
                cur = open_in_root(root, &walked, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// chown (never following) and, unless `mode` is `None` or the entry is a symlink, chmod.
/// chown first: it clears setuid/setgid bits that the mode then restores.
pub fn set_owner_mode(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    (uid, gid): (u32, u32),
    mode: Option<u32>,
) -> io::Result<()> {
    fchownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if let Some(m) = mode {
        fchmodat(
            dir,
            name,
            Mode::from_bits_truncate(m & 0o7777),
            FchmodatFlags::FollowSymlink,
        )?;
    }
    Ok(())
}

/// Set atime and mtime of `name` in `dir` (not following a symlink).
pub fn set_mtime(dir: BorrowedFd<'_>, name: &OsStr, sec: i64, nsec: i64) -> io::Result<()> {
    let t = TimeSpec::new(sec, nsec);
    nix::sys::stat::utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink)?;
    Ok(())
}

/// Create (replacing a non-directory already there) a regular file `name` in `dir` for writing.
pub fn create_file(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<std::fs::File> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mode = Mode::from_bits_truncate(0o600);
    match openat(dir, name, flags, mode) {
        Ok(fd) => Ok(std::fs::File::from(fd)),
        Err(nix::errno::Errno::EEXIST) => {
            remove_non_dir(dir, name)?;
            Ok(std::fs::File::from(openat(dir, name, flags, mode)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Remove `name` unless it is a directory (which is an error: a file cannot replace it).
pub fn remove_non_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    if let Some(st) = lstat_at(dir, name)? {
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!(
                    "cannot replace directory {:?} with a non-directory",
                    name.to_string_lossy()
                ),
            ));
        }
        nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}

/// Open directory `name` in `dir` for listing, not following a symlink.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// The names in a directory (without `.` and `..`), sorted bytewise for deterministic output.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(fd_path(dir))? {
        names.push(CString::new(e?.file_name().as_bytes()).map_err(io::Error::other)?);
    }
    names.sort();
    Ok(names)
}

/// The target of symlink `name` in `dir`.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<std::ffi::OsString> {
    Ok(nix::fcntl::readlinkat(dir, name)?)
}

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// The extended attribute names of `path` (not following a symlink).
pub fn list_xattrs(path: &Path) -> io::Result<Vec<CString>> {
    let c = c_path(path)?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: valid C string and a writable buffer of the given length.
        let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| CString::new(s).ok())
        .collect())
}

/// The value of xattr `name` of `path` (not following a symlink).
pub fn get_xattr(path: &Path, name: &CStr) -> io::Result<Vec<u8>> {
    let c = c_path(path)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid C strings and a writable buffer of the given length.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ERANGE) {
            buf.resize(buf.len() * 4, 0);
        } else {
            return Err(e);
        }
    }
}

/// Remove xattr `name` of `path` (not following a symlink); an absent one is fine.
pub fn remove_xattr(path: &Path, name: &CStr) -> io::Result<()> {
    let c = c_path(path)?;
    // SAFETY: valid C strings.
    let rc = unsafe { libc::lremovexattr(c.as_ptr(), name.as_ptr()) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODATA) => Ok(()),
        _ => Err(e),
    }
}

/// Set xattr `name` of `path` (not following a symlink).
pub fn set_xattr(path: &Path, name: &CStr, value: &[u8]) -> io::Result<()> {
    let c = c_path(path)?;
    // SAFETY: valid C strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `syncfs(2)` of the filesystem holding `path`: one flush for a whole layer instead of an
/// fsync per file.
pub fn syncfs(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: syncfs on a valid, owned descriptor.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_never_leaves_the_root() {
        assert_eq!(relative(Path::new("/a/b/../c")), PathBuf::from("a/c"));
        assert_eq!(relative(Path::new("../../x")), PathBuf::from("x"));
        assert_eq!(relative(Path::new("/")), PathBuf::new());
        assert_eq!(relative(Path::new("./a/./b/")), PathBuf::from("a/b"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../etc", root.join("up")).unwrap();
        let rfd = open_dir(root).unwrap();
        let fd = ensure_dir_in_root(
            rfd.as_fd(),
            Path::new("abs/new/deeper"),
            (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            ),
        )
        .unwrap();
        assert!(root.join("real/new/deeper").is_dir());
        drop(fd);
        // `up` points above the root: it resolves to the root's etc, not the host's /etc.
        std::fs::create_dir(root.join("etc")).unwrap();
        let fd = open_in_root(rfd.as_fd(), Path::new("up"), OFlag::O_PATH).unwrap();
        let st = nix::sys::stat::fstat(fd.as_fd()).unwrap();
        let root_st = nix::sys::stat::stat(&root.join("etc")).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (root_st.st_dev, root_st.st_ino));
    }

    #[test]
    fn files_replace_files_but_not_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "old").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let fd = open_dir(dir.path()).unwrap();
        use std::io::Write;
        create_file(fd.as_fd(), OsStr::new("f"))
            .unwrap()
            .write_all(b"new")
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"new");
        assert!(create_file(fd.as_fd(), OsStr::new("d")).is_err());
        let names = list_dir(fd.as_fd()).unwrap();
        assert_eq!(
            names,
            vec![CString::new("d").unwrap(), CString::new("f").unwrap()]
        );
    }
}
