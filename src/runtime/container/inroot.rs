//! Paths inside a container's root, read and made by the host-side runtime without following
//! symlinks or `..` out of it.
//!
//! The rootfs is the image's (or the running container's) content, so any component of a path in
//! it may be a symlink to `/` or `../../..`: joining the path to the rootfs directory and asking
//! the host kernel to follow it lands on the host. Everything the monitor does in a rootfs before
//! or beside the container (read `/etc/passwd`, copy image content into a new volume, create the
//! working directory) goes through here.
//!
//! Resolution is `pathrs` (cyphar's libpathrs, by runc's maintainer who also wrote `openat2`): it
//! resolves with `openat2(RESOLVE_IN_ROOT)` and falls back to a checked user-space walk on older
//! kernels. libcontainer already uses it for mount destinations, so this adds no dependency.

use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root};

/// The most a configuration file read from a container may weigh (`/etc/passwd`, `/etc/group`).
pub const MAX_CONFIG_FILE: u64 = 16 << 20;

fn io_err(e: pathrs::error::Error) -> io::Error {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(errno)) => io::Error::from_raw_os_error(errno),
        _ => io::Error::other(e.to_string()),
    }
}

fn open_root(rootfs: &Path) -> io::Result<Root> {
    Root::open(rootfs).map_err(io_err)
}

/// The regular file at `path` inside `rootfs`, read whole; `None` when it is missing or not a
/// regular file (a FIFO or device would block or never end). Larger than `limit`: an error.
pub fn read_regular_file(rootfs: &Path, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let root = open_root(rootfs)?;
    let handle = match root.resolve(path) {
        Ok(h) => h,
        Err(e)
            if matches!(
                e.kind(),
                pathrs::error::ErrorKind::OsError(Some(libc::ENOENT))
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io_err(e)),
    };
    if !is_kind(&handle, libc::S_IFREG)? {
        return Ok(None);
    }
    let file = handle
        .reopen(OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC)
        .map_err(io_err)?;
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{path} is larger than {limit} bytes"),
        ));
    }
    Ok(Some(data))
}

/// Whether the inode behind an `O_PATH` handle has file type `kind` (`S_IFREG`, `S_IFDIR`...).
fn is_kind(handle: &Handle, kind: u32) -> io::Result<bool> {
    let meta = std::fs::metadata(fd_path(handle))?;
    Ok(meta.mode() & libc::S_IFMT == kind)
}

/// The `/proc/self/fd` name of a handle: it names that very inode, nothing is resolved again.
fn fd_path(handle: &Handle) -> PathBuf {
    use std::os::fd::{AsFd, AsRawFd};
    PathBuf::from(format!("/proc/self/fd/{}", handle.as_fd().as_raw_fd()))
}

/// A directory inside a root, held open; [`InRootDir::path`] reaches it without resolving the
/// container path again.
#[derive(Debug)]
pub struct InRootDir {
    handle: Handle,
}

impl InRootDir {
    /// A host path for the directory, valid while `self` lives.
    pub fn path(&self) -> PathBuf {
        fd_path(&self.handle)
    }
}

/// The directory at `path` inside `rootfs` (symlinks followed, inside the root); `None` when
/// it is missing or not a directory.
pub fn open_dir(rootfs: &Path, path: &str) -> io::Result<Option<InRootDir>> {
    let root = open_root(rootfs)?;
    match root.resolve(path) {
        Ok(handle) if is_kind(&handle, libc::S_IFDIR)? => Ok(Some(InRootDir { handle })),
        Ok(_) => Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                pathrs::error::ErrorKind::OsError(Some(libc::ENOENT))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// What a mount point must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPoint {
    Dir,
    File,
}

/// Makes sure `path` exists inside `rootfs` as a directory or file, creating what is missing
/// (directories 0755, files 0644, owned by root) the way runc's `securejoin` does for docker:
/// symlinks are followed as if `rootfs` were `/`, a dangling one included, so an image whose
/// `/etc/resolv.conf` points at a missing `../run/systemd/resolve/stub-resolv.conf` gets that
/// file made inside it, never on the host. An existing path is left as it is.
///
/// libcontainer then resolves the same destination with pathrs (which refuses dangling
/// symlinks rather than guess) and finds it. The container is not running while this runs, so
/// the path cannot change in between.
pub fn ensure(rootfs: &Path, path: &str, kind: MountPoint) -> io::Result<()> {
    let root = open_root(rootfs)?;
    if root.resolve(path).is_ok() {
        return Ok(());
    }
    // safe-path's `scoped_resolve` is kata-containers' port of securejoin: the in-root path with
    // every symlink expanded, missing components kept as they are.
    let resolved = Path::new("/").join(safe_path::scoped_resolve(rootfs, path)?);
    let dir_perm = std::fs::Permissions::from_mode(0o755);
    match kind {
        MountPoint::Dir => root.mkdir_all(&resolved, &dir_perm).map(drop),
        MountPoint::File => {
            if let Some(parent) = resolved.parent() {
                root.mkdir_all(parent, &dir_perm).map_err(io_err)?;
            }
            root.create_file(
                &resolved,
                OpenFlags::O_CREAT
                    | OpenFlags::O_EXCL
                    | OpenFlags::O_NOFOLLOW
                    | OpenFlags::O_CLOEXEC,
                &std::fs::Permissions::from_mode(0o644),
            )
            .map(drop)
        }
    }
    .map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root whose symlinks all point out of it, at a "host" directory beside it.
    fn hostile() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().join("host");
        let root = dir.path().join("root");
        std::fs::create_dir_all(host.join("inner")).expect("mkdir");
        std::fs::write(host.join("secret"), "host secret").expect("write");
        std::fs::write(host.join("inner/file"), "host file").expect("write");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        symlink(&host, root.join("abs")).expect("symlink");
        symlink(
            "../../../../../../..".to_string() + host.to_str().expect("utf-8"),
            root.join("rel"),
        )
        .expect("symlink");
        symlink(host.join("secret"), root.join("etc/passwd")).expect("symlink");
        (dir, host, root)
    }

    #[test]
    fn reads_stay_inside_the_root() {
        let (_d, _host, root) = hostile();
        // /etc/passwd -> <host>/secret resolves to <root>/<host>/secret: absent.
        assert_eq!(
            read_regular_file(&root, "/etc/passwd", 100).expect("read"),
            None
        );
        assert!(open_dir(&root, "/abs/inner").expect("open").is_none());
        assert!(open_dir(&root, "/rel/inner").expect("open").is_none());
        std::fs::write(root.join("etc/group"), "g:x:1:\n").expect("write");
        assert_eq!(
            read_regular_file(&root, "/etc/group", 100).expect("read"),
            Some(b"g:x:1:\n".to_vec())
        );
        let err = read_regular_file(&root, "/etc/group", 3).expect_err("too large");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn fifos_and_devices_are_not_read() {
        let (_d, _host, root) = hostile();
        let fifo = root.join("etc/group");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        assert_eq!(
            read_regular_file(&root, "/etc/group", 100).expect("read"),
            None
        );
    }

    #[test]
    fn directories_are_made_inside_the_root() {
        let (_d, host, root) = hostile();
        // The image has the host's path too: the symlinks resolve to it, inside the root.
        let mirror = root.join(host.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(mirror.join("inner")).expect("mkdir");
        ensure(&root, "/abs/inner/new", MountPoint::Dir).expect("mkdir");
        ensure(&root, "/rel/x", MountPoint::Dir).expect("mkdir");
        assert!(!host.join("inner/new").exists());
        assert!(!host.join("x").exists());
        assert!(mirror.join("inner/new").is_dir());
        assert!(mirror.join("x").is_dir());
        let dir = open_dir(&root, "/abs/inner").expect("open").expect("a dir");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        std::fs::write(root.join("etc/file"), "").expect("write");
        assert!(
            ensure(&root, "/etc/file/x", MountPoint::Dir).is_err(),
            "not through a file"
        );
    }

    #[test]
    fn dangling_symlinks_are_followed_inside_the_root() {
        let (_d, host, root) = hostile();
        let inside = root.join(host.strip_prefix("/").expect("absolute"));
        // No mirror: /abs dangles inside the root; securejoin makes the path inside it.
        ensure(&root, "/abs/inner/new", MountPoint::Dir).expect("mkdir");
        assert!(inside.join("inner/new").is_dir());
        // /etc/passwd -> <host>/secret: the file is made at <root>/<host>/secret.
        ensure(&root, "/etc/passwd", MountPoint::File).expect("file");
        assert!(inside.join("secret").is_file());
        assert_eq!(
            std::fs::read_to_string(host.join("secret")).expect("read"),
            "host secret"
        );
        assert!(!host.join("inner/new").exists());
        // Now it resolves, and is left alone.
        ensure(&root, "/etc/passwd", MountPoint::Dir).expect("exists already");
        assert!(inside.join("secret").is_file());
    }
}
