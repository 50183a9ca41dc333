//! Writing a tar stream of a file or directory tree inside an [`FsRoot`], the way `docker cp`
//! archives a source: modes, owners, mtimes, symlinks (never followed below the source),
//! hardlinks within the tree, device nodes and fifos. Every entry below the source is opened
//! relative to its parent's descriptor with `O_NOFOLLOW`, so nothing outside is ever read.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use tar::{EntryType, Header};

use super::root::{FsRoot, Stat, cstr, list_dir, open_at_nofollow, read_link, reopen, stat_fd};

/// The source as resolved: its descriptor (`O_PATH`) and what it is.
pub struct Source {
    pub fd: OwnedFd,
    pub stat: Stat,
}

impl Source {
    /// Resolves `path` in `root`, following a final symlink only when `follow`.
    pub fn resolve(root: &FsRoot, path: &[u8], follow: bool) -> io::Result<Source> {
        let fd = root.resolve(path, follow)?;
        let stat = stat_fd(&fd)?;
        Ok(Source { fd, stat })
    }
}

struct Packer<W: Write> {
    tar: tar::Builder<W>,
    /// First archive name of each multiply-linked inode, for hardlink entries.
    links: HashMap<(u64, u64), Vec<u8>>,
}

/// Writes `src` as a tar stream to `w`: the source itself named `top` (a directory with its
/// tree below), or with `top` `None` only the contents of the source directory.
pub fn pack<W: Write>(w: W, src: Source, top: Option<&[u8]>) -> io::Result<W> {
    let mut p = Packer {
        tar: tar::Builder::new(w),
        links: HashMap::new(),
    };
    p.tar.follow_symlinks(false);
    match top {
        Some(name) => p.entry(src.fd, &src.stat, name)?,
        None => p.children(&src.fd, b"")?,
    }
    p.tar.into_inner()
}

fn header(st: &Stat, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.mode & 0o7777);
    h.set_uid(u64::from(st.uid));
    h.set_gid(u64::from(st.gid));
    h.set_mtime(st.mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        return name.to_vec();
    }
    let mut v = prefix.to_vec();
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

fn as_path(name: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(name))
}

impl<W: Write> Packer<W> {
    fn entry(&mut self, fd: OwnedFd, st: &Stat, name: &[u8]) -> io::Result<()> {
        match st.kind() {
            libc::S_IFDIR => {
                let mut h = header(st, EntryType::Directory);
                self.tar
                    .append_data(&mut h, as_path(&join(name, b"")), io::empty())?;
                self.children(&fd, name)
            }
            libc::S_IFREG => self.file(fd, st, name),
            libc::S_IFLNK => {
                let target = read_link(&fd)?;
                let mut h = header(st, EntryType::Symlink);
                self.tar
                    .append_link(&mut h, as_path(name), as_path(&target))
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = match st.kind() {
                    libc::S_IFCHR => EntryType::Char,
                    libc::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = header(st, kind);
                h.set_device_major(libc::major(st.rdev))?;
                h.set_device_minor(libc::minor(st.rdev))?;
                self.tar.append_data(&mut h, as_path(name), io::empty())
            }
            // Sockets have no archive form (docker skips them too).
            _ => Ok(()),
        }
    }

    fn file(&mut self, fd: OwnedFd, st: &Stat, name: &[u8]) -> io::Result<()> {
        if st.nlink > 1 {
            if let Some(first) = self.links.get(&(st.dev, st.ino)) {
                let mut h = header(st, EntryType::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, as_path(name), as_path(&first));
            }
            self.links.insert((st.dev, st.ino), name.to_vec());
        }
        let f = File::from(reopen(&fd, libc::O_RDONLY)?);
        let mut h = header(st, EntryType::Regular);
        h.set_size(st.size);
        // Exactly the size in the header, even if the file changes while it is read.
        let data = f.take(st.size).chain(io::repeat(0)).take(st.size);
        self.tar.append_data(&mut h, as_path(name), data)
    }

    fn children(&mut self, dir: &OwnedFd, prefix: &[u8]) -> io::Result<()> {
        for child in list_dir(dir)? {
            let c = cstr(&child)?;
            let fd = match open_at_nofollow(dir, &c, libc::O_PATH) {
                Ok(fd) => fd,
                // Removed while we walk: docker skips such entries as well.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let st = stat_fd(&fd)?;
            self.entry(fd, &st, &join(prefix, &child))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<(String, EntryType)> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                (p, e.header().entry_type())
            })
            .collect()
    }

    #[test]
    fn a_tree_is_archived_under_its_new_name_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("src");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a"), "aaa").unwrap();
        std::fs::hard_link(d.join("sub/a"), d.join("b")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("l")).unwrap();
        let root = FsRoot::open(dir.path()).unwrap();
        let src = Source::resolve(&root, b"/src", false).unwrap();
        let out = pack(Vec::new(), src, Some(b"renamed")).unwrap();
        assert_eq!(
            names(&out),
            [
                ("renamed/".into(), EntryType::Directory),
                ("renamed/b".into(), EntryType::Regular),
                ("renamed/l".into(), EntryType::Symlink),
                ("renamed/sub/".into(), EntryType::Directory),
                ("renamed/sub/a".into(), EntryType::Link),
            ]
        );
        let src = Source::resolve(&root, b"/src/sub", false).unwrap();
        let out = pack(Vec::new(), src, None).unwrap();
        assert_eq!(names(&out), [("a".into(), EntryType::Regular)]);
    }
}
