//! Extracting a `docker cp` tar stream into a directory inside an [`FsRoot`].
//!
//! Each entry's parent is resolved inside the root (`RESOLVE_IN_ROOT`), and the entry itself is
//! created with `*at` calls that never follow a symlink in the last component. Names climbing
//! above the target (`../x`) are refused, and so are symlinks whose relative target leaves the
//! target directory (docker's "invalid symlink" breakout check), as are a directory replacing a
//! non-directory and the reverse (docker's `NoOverwriteDirNonDir`). Modes and mtimes are kept;
//! owners only when asked (`cp -a` into a container).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};

use tar::EntryType;

use super::CopyError;
use super::root::{FsRoot, Stat, check, cstr, open_at_nofollow, stat_at};
use crate::runtime::image::unpack::clean;

/// Where a stream is extracted.
pub struct Target<'a> {
    pub root: &'a FsRoot,
    /// The directory to extract into, as a path inside `root`.
    pub base: Vec<u8>,
    /// How that directory is named in error messages (`/tmp/out`, `/data`).
    pub display: String,
    /// Apply the archive's uid/gid (else the files belong to the extracting user, root).
    pub preserve_owner: bool,
}

/// Extracts the tar stream `r` into `t`.
pub fn unpack(r: impl Read, t: &Target<'_>) -> Result<(), CopyError> {
    let mut u = Unpacker {
        t,
        dirs: Vec::new(),
    };
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries().map_err(CopyError::Archive)? {
        let mut entry = entry.map_err(CopyError::Archive)?;
        u.entry(&mut entry)?;
    }
    u.finish_dirs();
    Ok(())
}

struct Unpacker<'a> {
    t: &'a Target<'a>,
    /// Directories whose mtime is set last (creating their children changes it).
    dirs: Vec<(Vec<u8>, i64)>,
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

fn io_err(op: &str, path: &str, e: io::Error) -> CopyError {
    CopyError::Io {
        op: op.into(),
        path: path.into(),
        source: e,
    }
}

impl Unpacker<'_> {
    fn inside(&self, rel: &[u8]) -> Vec<u8> {
        let mut p = self.t.base.clone();
        if !rel.is_empty() {
            p.push(b'/');
            p.extend_from_slice(rel);
        }
        p
    }

    fn display(&self, rel: &[u8]) -> String {
        format!(
            "{}/{}",
            self.t.display.trim_end_matches('/'),
            String::from_utf8_lossy(rel)
        )
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), CopyError> {
        let kind = e.header().entry_type();
        let raw = e.path_bytes().into_owned();
        let comps = clean(&raw).map_err(|reason| CopyError::UnsafeEntry {
            name: String::from_utf8_lossy(&raw).into_owned(),
            reason: reason.into(),
        })?;
        let Some((last, parent)) = comps.split_last() else {
            return Ok(()); // the archive's "./": the target directory itself
        };
        let rel = join(&comps);
        let shown = self.display(&rel);
        let dir = self.parent(parent, &shown)?;
        let name = cstr(last).map_err(|e| io_err("create", &shown, e))?;
        let existing = stat_at(&dir, &name).map_err(|e| io_err("lstat", &shown, e))?;
        let h = e.header();
        let mode = h.mode().map_err(CopyError::Archive)? & 0o7777;
        let owner = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        let mtime = h.mtime().unwrap_or(0) as i64;
        if kind == EntryType::Directory {
            self.directory(&dir, &name, existing, &shown)?;
            let fd = open_at_nofollow(&dir, &name, libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| io_err("open", &shown, e))?;
            self.apply(&fd, mode, owner, &shown)?;
            self.dirs.push((rel, mtime));
            return Ok(());
        }
        if existing.is_some_and(|s| s.is_dir()) {
            return Err(CopyError::OverwriteDir { path: shown });
        }
        if existing.is_some() {
            // SAFETY: valid descriptor and C string; unlinkat never follows the name.
            check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })
                .map_err(|e| io_err("unlink", &shown, e))?;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let fd =
                    open_at_nofollow(&dir, &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)
                        .map_err(|e| io_err("create", &shown, e))?;
                let mut f = File::from(fd);
                io::copy(e, &mut f).map_err(|e| io_err("write", &shown, e))?;
                let fd = OwnedFd::from(f);
                self.apply(&fd, mode, owner, &shown)?;
                set_mtime(&dir, &name, mtime, 0).map_err(|e| io_err("chtimes", &shown, e))
            }
            EntryType::Symlink => {
                let target = e.link_name_bytes().map(|t| t.into_owned());
                let target = target.unwrap_or_default();
                self.symlink(&dir, &name, parent, &target, owner, &shown)?;
                set_mtime(&dir, &name, mtime, libc::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err("chtimes", &shown, e))
            }
            EntryType::Link => {
                let target = e.link_name_bytes().map(|t| t.into_owned());
                self.hardlink(&dir, &name, &target.unwrap_or_default(), &shown)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                // SAFETY: valid descriptor and C string.
                check(unsafe {
                    libc::mknodat(
                        dir.as_raw_fd(),
                        name.as_ptr(),
                        fmt | 0o600,
                        libc::makedev(major, minor),
                    )
                })
                .map_err(|e| io_err("mknod", &shown, e))?;
                let fd = open_at_nofollow(&dir, &name, libc::O_PATH)
                    .map_err(|e| io_err("open", &shown, e))?;
                self.apply_path(&fd, mode, owner, &shown)
            }
            // Global PAX headers, sockets and the like carry nothing to create.
            _ => Ok(()),
        }
    }

    /// The parent directory of an entry, creating missing ones (0755) inside the target.
    fn parent(&self, comps: &[Vec<u8>], shown: &str) -> Result<OwnedFd, CopyError> {
        let open = |rel: &[u8]| {
            self.t
                .root
                .open_at(&self.inside(rel), libc::O_PATH | libc::O_DIRECTORY)
        };
        match open(&join(comps)) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io_err("open", shown, e)),
        }
        let mut cur = open(b"").map_err(|e| io_err("open", &self.t.display, e))?;
        for i in 0..comps.len() {
            cur = match open(&join(&comps[..=i])) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let c = cstr(&comps[i]).map_err(|e| io_err("mkdir", shown, e))?;
                    // SAFETY: valid descriptor and C string.
                    check(unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) })
                        .map_err(|e| io_err("mkdir", shown, e))?;
                    open_at_nofollow(&cur, &c, libc::O_PATH | libc::O_DIRECTORY)
                        .map_err(|e| io_err("open", shown, e))?
                }
                Err(e) => return Err(io_err("open", shown, e)),
            };
        }
        Ok(cur)
    }

    fn directory(
        &self,
        dir: &OwnedFd,
        name: &CString,
        existing: Option<Stat>,
        shown: &str,
    ) -> Result<(), CopyError> {
        match existing {
            Some(s) if s.is_dir() => Ok(()),
            Some(_) => Err(CopyError::OverwriteNonDir { path: shown.into() }),
            // SAFETY: valid descriptor and C string.
            None => check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o700) })
                .map_err(|e| io_err("mkdir", shown, e)),
        }
    }

    fn symlink(
        &self,
        dir: &OwnedFd,
        name: &CString,
        parent: &[Vec<u8>],
        target: &[u8],
        owner: (u32, u32),
        shown: &str,
    ) -> Result<(), CopyError> {
        // docker joins a relative target to the link's directory: it must stay in the target.
        let mut joined = join(parent);
        joined.push(b'/');
        joined.extend_from_slice(target);
        if clean(&joined).is_err() {
            return Err(CopyError::Breakout {
                path: shown.into(),
                target: String::from_utf8_lossy(target).into_owned(),
            });
        }
        let t = cstr(target).map_err(|e| io_err("symlink", shown, e))?;
        // SAFETY: valid C strings and descriptor.
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
            .map_err(|e| io_err("symlink", shown, e))?;
        if self.t.preserve_owner {
            // SAFETY: valid descriptor and C string; the link itself is changed, not followed.
            check(unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    owner.0,
                    owner.1,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })
            .map_err(|e| io_err("lchown", shown, e))?;
        }
        Ok(())
    }

    fn hardlink(
        &self,
        dir: &OwnedFd,
        name: &CString,
        target: &[u8],
        shown: &str,
    ) -> Result<(), CopyError> {
        let comps = clean(target).map_err(|reason| CopyError::UnsafeEntry {
            name: String::from_utf8_lossy(target).into_owned(),
            reason: reason.into(),
        })?;
        let Some((last, parent)) = comps.split_last() else {
            return Err(CopyError::UnsafeEntry {
                name: shown.into(),
                reason: "hardlink to the target directory".into(),
            });
        };
        let tdir = self
            .t
            .root
            .open_at(
                &self.inside(&join(parent)),
                libc::O_PATH | libc::O_DIRECTORY,
            )
            .map_err(|e| io_err("link", shown, e))?;
        let tname = cstr(last).map_err(|e| io_err("link", shown, e))?;
        // SAFETY: valid descriptors and C strings; flags 0: a symlink source is not followed.
        check(unsafe {
            libc::linkat(
                tdir.as_raw_fd(),
                tname.as_ptr(),
                dir.as_raw_fd(),
                name.as_ptr(),
                0,
            )
        })
        .map_err(|e| io_err("link", shown, e))
    }

    /// Owner (if asked), then mode (a chown clears setuid bits) on an open descriptor.
    fn apply(
        &self,
        fd: &OwnedFd,
        mode: u32,
        owner: (u32, u32),
        shown: &str,
    ) -> Result<(), CopyError> {
        if self.t.preserve_owner {
            // SAFETY: valid descriptor.
            check(unsafe { libc::fchown(fd.as_raw_fd(), owner.0, owner.1) })
                .map_err(|e| io_err("chown", shown, e))?;
        }
        // SAFETY: valid descriptor.
        check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map_err(|e| io_err("chmod", shown, e))
    }

    /// [`Self::apply`] for a node we cannot open for reading (a device or fifo we just made),
    /// through its `O_PATH` descriptor.
    fn apply_path(
        &self,
        fd: &OwnedFd,
        mode: u32,
        owner: (u32, u32),
        shown: &str,
    ) -> Result<(), CopyError> {
        let p = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())
            .map_err(|e| io_err("chmod", shown, e))?;
        if self.t.preserve_owner {
            // SAFETY: valid descriptor and empty C string.
            check(unsafe {
                libc::fchownat(
                    fd.as_raw_fd(),
                    c"".as_ptr(),
                    owner.0,
                    owner.1,
                    libc::AT_EMPTY_PATH,
                )
            })
            .map_err(|e| io_err("chown", shown, e))?;
        }
        // SAFETY: valid C string naming our own descriptor's inode.
        check(unsafe { libc::chmod(p.as_ptr(), mode) }).map_err(|e| io_err("chmod", shown, e))
    }

    /// Directory mtimes, deepest first, once everything inside exists.
    fn finish_dirs(&mut self) {
        for (rel, mtime) in self.dirs.iter().rev() {
            if let Ok(fd) = self
                .t
                .root
                .open_at(&self.inside(rel), libc::O_RDONLY | libc::O_DIRECTORY)
            {
                let ts = [timespec(*mtime), timespec(*mtime)];
                // SAFETY: valid descriptor and timespec array.
                let _ = unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) };
            }
        }
    }
}

fn timespec(secs: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    }
}

fn set_mtime(dir: &OwnedFd, name: &CString, mtime: i64, flags: libc::c_int) -> io::Result<()> {
    let ts = [timespec(mtime), timespec(mtime)];
    // SAFETY: valid descriptor, C string and timespec array.
    check(unsafe { libc::utimensat(dir.as_raw_fd(), name.as_ptr(), ts.as_ptr(), flags) })
}

#[cfg(test)]
mod tests {
    use super::super::pack::{Source, pack};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn target<'a>(root: &'a FsRoot, base: &str) -> Target<'a> {
        Target {
            root,
            base: base.as_bytes().to_vec(),
            display: base.into(),
            preserve_owner: false,
        }
    }

    #[test]
    fn a_packed_tree_comes_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "data").unwrap();
        std::fs::set_permissions(
            src.join("sub/f"),
            std::os::unix::fs::PermissionsExt::from_mode(0o751),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        std::fs::create_dir(dir.path().join("dst")).unwrap();
        let root = FsRoot::open(dir.path()).unwrap();
        let tar = pack(
            Vec::new(),
            Source::resolve(&root, b"/src", false).unwrap(),
            Some(b"copy"),
        )
        .unwrap();
        unpack(&tar[..], &target(&root, "/dst")).unwrap();
        let f = dir.path().join("dst/copy/sub/f");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "data");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::read_link(dir.path().join("dst/copy/l")).unwrap(),
            std::path::Path::new("sub/f")
        );
        assert_eq!(
            std::fs::metadata(&f).unwrap().mtime(),
            std::fs::metadata(src.join("sub/f")).unwrap().mtime()
        );
    }

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file_header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        h
    }

    fn link_header() -> tar::Header {
        let mut h = file_header(0);
        h.set_entry_type(EntryType::Symlink);
        h.set_mode(0o777);
        h
    }

    #[test]
    fn hostile_entries_are_refused_or_contained() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dst")).unwrap();
        let root = FsRoot::open(&dir.path().join("dst")).unwrap();
        let t = target(&root, "/");
        // A relative symlink out of the target is docker's breakout error.
        let evil = tar_with(|b| {
            b.append_link(&mut link_header(), "pw", "../../etc/passwd")
                .unwrap();
        });
        let e = unpack(&evil[..], &t).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid symlink \"/pw\" -> \"../../etc/passwd\""),
            "{e}"
        );
        // An absolute symlink is allowed, and writing through it stays inside the root.
        let through = tar_with(|b| {
            b.append_link(&mut link_header(), "etc", "/").unwrap();
            b.append_data(&mut file_header(3), "etc/escaped", &b"bad"[..])
                .unwrap();
        });
        unpack(&through[..], &t).unwrap();
        assert!(dir.path().join("dst/escaped").exists());
        // A file may not replace a directory.
        std::fs::create_dir(dir.path().join("dst/d")).unwrap();
        let over = tar_with(|b| {
            b.append_data(&mut file_header(0), "d", &b""[..]).unwrap();
        });
        let e = unpack(&over[..], &t).unwrap_err();
        assert!(e.to_string().contains("cannot overwrite directory"), "{e}");
    }
}
