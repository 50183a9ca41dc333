//! Layer extraction that is safe against hostile archives.
//!
//! Every entry's parent directory is resolved with `openat2(RESOLVE_IN_ROOT)` relative to the layer
//! root, so `..`, absolute paths and symlinks (absolute or relative) can never lead outside it; the
//! final component is always created with `*at` calls that do not follow symlinks (`O_EXCL |
//! O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`). Entry names that escape lexically (`a/../../x`) are refused,
//! as are hardlinks whose target is not a non-directory entry extracted earlier from the same layer.
//!
//! OCI whiteouts are converted to the overlayfs form, because each layer becomes an overlay lower
//! dir: `.wh.<name>` → a `0/0` character device `<name>`, `.wh..wh..opq` → the
//! `trusted.overlay.opaque=y` xattr on the directory. Overlay-private xattrs in the archive
//! (`trusted.overlay.*`, `user.overlay.*`) are dropped. Ownership, modes (incl. setuid), mtimes,
//! PAX `SCHILY.xattr.*` xattrs, device nodes, fifos and hardlinks are preserved.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::digest::{Digest, HashingReader};
use super::error::{ImageError, IoContext};
pub use super::sys::open_in_root;
use super::sys::{
    check, cstring, dup, fsetxattr, fstatat_mode, futimens, mkdirat, mknodat, open_path,
    openat_nofollow, openat2, proc_path, timespecs,
};

/// What a successful unpack produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream (the layer's `diff_id`).
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub tar_size: u64,
}

/// Options for [`unpack_layer`].
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// Convert OCI whiteouts to overlayfs whiteouts (char 0/0 and `trusted.overlay.opaque`).
    /// When false, `.wh.*` entries are refused.
    pub overlay_whiteouts: bool,
    /// Apply uid/gid from the archive (needs root). When false ownership is left to the caller.
    pub preserve_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            overlay_whiteouts: true,
            preserve_owner: true,
        }
    }
}

/// Wrap a possibly compressed layer stream in the right decompressor (gzip, zstd or plain tar),
/// decided by the magic bytes.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(256 * 1024, reader);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec = ruzstd::decoding::StreamingDecoder::new(br)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
        Ok(Box::new(dec))
    } else {
        Ok(Box::new(br))
    }
}

/// Unpack an (already decompressed) layer tar into the existing, empty directory `target`.
/// `layer` names the layer in error messages. Returns the diff_id of the stream.
pub fn unpack_layer(
    reader: impl Read,
    target: &Path,
    layer: &str,
    opts: &UnpackOptions,
) -> Result<Unpacked, ImageError> {
    let root = open_path(target)?;
    let mut hashing = HashingReader::new(reader);
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let mut u = Unpacker {
            root,
            target: target.to_path_buf(),
            layer: layer.to_string(),
            extracted: HashSet::new(),
            dirs: Vec::new(),
            opts: opts.clone(),
        };
        let entries = archive.entries().map_err(|e| u.bad(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| u.bad(e))?;
            u.entry(&mut entry)?;
        }
        u.finish_dirs();
    }
    let (diff_id, tar_size) = hashing.finish().at(target)?;
    Ok(Unpacked { diff_id, tar_size })
}

/// Metadata read from a tar header plus its PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

struct Unpacker {
    root: OwnedFd,
    target: PathBuf,
    layer: String,
    /// Cleaned paths of non-directory entries extracted so far (valid hardlink targets).
    extracted: HashSet<Vec<u8>>,
    /// Directories whose mtime is set at the end (creating children changes it).
    dirs: Vec<(Vec<Vec<u8>>, i64)>,
    opts: UnpackOptions,
}

type Comps = Vec<Vec<u8>>;

impl Unpacker {
    fn bad(&self, e: impl std::fmt::Display) -> ImageError {
        ImageError::BadLayer {
            layer: self.layer.clone(),
            reason: e.to_string(),
        }
    }

    fn unsafe_entry(&self, entry: &[u8], reason: &str) -> ImageError {
        ImageError::UnsafeEntry {
            layer: self.layer.clone(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason: reason.to_string(),
        }
    }

    fn io_err(&self, entry: &[u8], e: io::Error) -> ImageError {
        ImageError::io(self.target.join(OsStr::from_bytes(entry)), e)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let name = entry.path_bytes().into_owned();
        let comps = clean(&name).map_err(|r| self.unsafe_entry(&name, r))?;
        let meta = self.meta(entry, &name)?;

        let Some((base, parent)) = comps.split_last() else {
            // The layer root itself ("./").
            if kind == EntryType::Directory {
                let fd = self
                    .open_dir_rdonly(&[])
                    .map_err(|e| self.io_err(&name, e))?;
                self.apply_fd_meta(&fd, &meta, &name)?;
                self.dirs.push((vec![], meta.mtime));
                return Ok(());
            }
            return Err(self.unsafe_entry(&name, "non-directory entry for the layer root"));
        };

        if let Some(wh) = base.strip_prefix(b".wh.") {
            if !self.opts.overlay_whiteouts {
                return Err(self.unsafe_entry(&name, "whiteouts are not allowed here"));
            }
            let parent_fd = self.resolve_dir(parent, &name)?;
            if wh == b".wh..opq" {
                let dir = self
                    .open_dir_rdonly(parent)
                    .map_err(|e| self.io_err(&name, e))?;
                fsetxattr(&dir, c"trusted.overlay.opaque", b"y")
                    .map_err(|e| self.io_err(&name, e))?;
            } else if wh.starts_with(b".wh.") {
                // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): ignore
            } else {
                let wh_name = single_component(wh)
                    .ok_or_else(|| self.unsafe_entry(&name, "bad whiteout name"))?;
                self.remove_existing(&parent_fd, &wh_name, &name)?;
                mknodat(&parent_fd, &wh_name, libc::S_IFCHR, 0)
                    .map_err(|e| self.io_err(&name, e))?;
                self.extracted.insert(join(&comps_with(parent, wh)));
            }
            return Ok(());
        }

        let parent_fd = self.resolve_dir(parent, &name)?;
        let cname = cstring(base).ok_or_else(|| self.unsafe_entry(&name, "NUL in name"))?;
        let key = join(&comps);
        match kind {
            EntryType::Directory => {
                match fstatat_mode(&parent_fd, &cname) {
                    Ok(m) if m & libc::S_IFMT == libc::S_IFDIR => {}
                    Ok(_) => {
                        self.remove_existing(&parent_fd, &cname, &name)?;
                        mkdirat(&parent_fd, &cname).map_err(|e| self.io_err(&name, e))?;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        mkdirat(&parent_fd, &cname).map_err(|e| self.io_err(&name, e))?;
                    }
                    Err(e) => return Err(self.io_err(&name, e)),
                }
                let fd = openat_nofollow(&parent_fd, &cname, libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(|e| self.io_err(&name, e))?;
                self.apply_fd_meta(&fd, &meta, &name)?;
                self.extracted.remove(&key);
                self.dirs.push((comps.clone(), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                self.remove_existing(&parent_fd, &cname, &name)?;
                let fd = openat_nofollow(
                    &parent_fd,
                    &cname,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                )
                .map_err(|e| self.io_err(&name, e))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| self.io_err(&name, e))?;
                let fd = OwnedFd::from(file);
                self.apply_fd_meta(&fd, &meta, &name)?;
                futimens(&fd, meta.mtime).map_err(|e| self.io_err(&name, e))?;
                self.extracted.insert(key);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.unsafe_entry(&name, "symlink without target"))?
                    .into_owned();
                let ctarget =
                    cstring(&target).ok_or_else(|| self.unsafe_entry(&name, "NUL in link"))?;
                self.remove_existing(&parent_fd, &cname, &name)?;
                // SAFETY: valid C strings and an owned dirfd.
                let rc = unsafe {
                    libc::symlinkat(ctarget.as_ptr(), parent_fd.as_raw_fd(), cname.as_ptr())
                };
                check(rc).map_err(|e| self.io_err(&name, e))?;
                self.apply_at_meta(&parent_fd, &cname, &meta, &name, true)?;
                self.extracted.insert(key);
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.unsafe_entry(&name, "hardlink without target"))?
                    .into_owned();
                let tcomps = clean(&target)
                    .map_err(|r| self.unsafe_entry(&name, &format!("hardlink target: {r}")))?;
                let tkey = join(&tcomps);
                if !self.extracted.contains(&tkey) {
                    return Err(self.unsafe_entry(
                        &name,
                        "hardlink target is not a file extracted earlier from this layer",
                    ));
                }
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(self.unsafe_entry(&name, "hardlink to the layer root"));
                };
                let tparent_fd = self.resolve_dir(tparent, &name)?;
                let tname =
                    cstring(tbase).ok_or_else(|| self.unsafe_entry(&name, "NUL in link"))?;
                if tkey == key {
                    return Ok(());
                }
                self.remove_existing(&parent_fd, &cname, &name)?;
                // SAFETY: valid C strings and owned dirfds; flags 0 never follows a symlink source.
                let rc = unsafe {
                    libc::linkat(
                        tparent_fd.as_raw_fd(),
                        tname.as_ptr(),
                        parent_fd.as_raw_fd(),
                        cname.as_ptr(),
                        0,
                    )
                };
                check(rc).map_err(|e| self.io_err(&name, e))?;
                self.extracted.insert(key);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                self.remove_existing(&parent_fd, &cname, &name)?;
                mknodat(&parent_fd, &cname, fmt, libc::makedev(major, minor))
                    .map_err(|e| self.io_err(&name, e))?;
                self.apply_at_meta(&parent_fd, &cname, &meta, &name, false)?;
                self.extracted.insert(key);
            }
            other => {
                return Err(self.unsafe_entry(&name, &format!("unsupported entry type {other:?}")));
            }
        }
        Ok(())
    }

    fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        name: &[u8],
    ) -> Result<Meta, ImageError> {
        let h = entry.header();
        let mut meta = Meta {
            mode: h
                .mode()
                .map_err(|e| self.unsafe_entry(name, &e.to_string()))?
                & 0o7777,
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: vec![],
        };
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts {
                let ext = ext.map_err(|e| self.bad(e))?;
                let Ok(key) = ext.key() else { continue };
                match key {
                    "uid" => {
                        meta.uid = parse_num(ext.value_bytes()).unwrap_or(meta.uid as i64) as u32
                    }
                    "gid" => {
                        meta.gid = parse_num(ext.value_bytes()).unwrap_or(meta.gid as i64) as u32
                    }
                    "mtime" => meta.mtime = parse_num(ext.value_bytes()).unwrap_or(meta.mtime),
                    _ => {
                        if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                            if x.starts_with("trusted.overlay.") || x.starts_with("user.overlay.") {
                                continue;
                            }
                            if let Ok(c) = CString::new(x) {
                                meta.xattrs.push((c, ext.value_bytes().to_vec()));
                            }
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    /// chown, chmod (after chown, which clears setuid), xattrs on an open fd.
    fn apply_fd_meta(&self, fd: &OwnedFd, meta: &Meta, name: &[u8]) -> Result<(), ImageError> {
        if self.opts.preserve_owner {
            // SAFETY: owned fd.
            check(unsafe { libc::fchown(fd.as_raw_fd(), meta.uid, meta.gid) })
                .map_err(|e| self.io_err(name, e))?;
        }
        // SAFETY: owned fd.
        check(unsafe { libc::fchmod(fd.as_raw_fd(), meta.mode) })
            .map_err(|e| self.io_err(name, e))?;
        for (k, v) in &meta.xattrs {
            fsetxattr(fd, k, v).map_err(|e| self.io_err(name, e))?;
        }
        Ok(())
    }

    /// Metadata for entries we cannot open (symlinks, devices): `*at` calls that do not follow.
    fn apply_at_meta(
        &self,
        dir: &OwnedFd,
        cname: &CString,
        meta: &Meta,
        name: &[u8],
        is_symlink: bool,
    ) -> Result<(), ImageError> {
        if self.opts.preserve_owner {
            // SAFETY: valid dirfd and C string.
            let rc = unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    cname.as_ptr(),
                    meta.uid,
                    meta.gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            check(rc).map_err(|e| self.io_err(name, e))?;
        }
        if !is_symlink {
            // A device node or fifo we just created ourselves (not a symlink, so nothing to follow).
            // SAFETY: valid dirfd and C string.
            let rc = unsafe { libc::fchmodat(dir.as_raw_fd(), cname.as_ptr(), meta.mode, 0) };
            check(rc).map_err(|e| self.io_err(name, e))?;
            let p = proc_path(dir, cname);
            for (k, v) in &meta.xattrs {
                // SAFETY: valid C strings and buffer.
                let rc = unsafe {
                    libc::lsetxattr(p.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0)
                };
                check(rc).map_err(|e| self.io_err(name, e))?;
            }
        }
        let ts = timespecs(meta.mtime);
        // SAFETY: valid dirfd, C string and timespec array.
        let rc = unsafe {
            libc::utimensat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                ts.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        check(rc).map_err(|e| self.io_err(name, e))
    }

    /// Resolve (creating missing directories) the parent directory `comps` inside the root.
    fn resolve_dir(&self, comps: &[Vec<u8>], name: &[u8]) -> Result<OwnedFd, ImageError> {
        let path = join(comps);
        match open_in_root(&self.root, &path, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(self.io_err(name, e)),
        }
        let mut cur = dup(&self.root).map_err(|e| self.io_err(name, e))?;
        for i in 0..comps.len() {
            match open_in_root(
                &self.root,
                &join(&comps[..=i]),
                libc::O_PATH | libc::O_DIRECTORY,
            ) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let c =
                        cstring(&comps[i]).ok_or_else(|| self.unsafe_entry(name, "NUL in name"))?;
                    match mkdirat(&cur, &c) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                            return Err(
                                self.unsafe_entry(name, "parent path is a dangling symlink")
                            );
                        }
                        Err(e) => return Err(self.io_err(name, e)),
                    }
                    // SAFETY: owned dirfd; 0755 like implicit parents in docker.
                    let _ = unsafe { libc::fchmodat(cur.as_raw_fd(), c.as_ptr(), 0o755, 0) };
                    cur = openat_nofollow(&cur, &c, libc::O_PATH | libc::O_DIRECTORY)
                        .map_err(|e| self.io_err(name, e))?;
                }
                Err(e) => return Err(self.io_err(name, e)),
            }
        }
        Ok(cur)
    }

    fn open_dir_rdonly(&self, comps: &[Vec<u8>]) -> io::Result<OwnedFd> {
        open_in_root(&self.root, &join(comps), libc::O_RDONLY | libc::O_DIRECTORY)
    }

    /// Remove whatever is at `dir/cname` (a directory recursively), without following symlinks.
    fn remove_existing(
        &self,
        dir: &OwnedFd,
        cname: &CString,
        name: &[u8],
    ) -> Result<(), ImageError> {
        match fstatat_mode(dir, cname) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(self.io_err(name, e)),
            Ok(m) if m & libc::S_IFMT == libc::S_IFDIR => {
                let p = proc_path(dir, cname);
                std::fs::remove_dir_all(OsStr::from_bytes(p.as_bytes()))
                    .map_err(|e| self.io_err(name, e))
            }
            Ok(_) => {
                // SAFETY: valid dirfd and C string.
                check(unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) })
                    .map_err(|e| self.io_err(name, e))
            }
        }
    }

    /// Directory mtimes last, deepest first, re-resolving without following any symlink.
    fn finish_dirs(&mut self) {
        for (comps, mtime) in self.dirs.iter().rev() {
            let how =
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
            if let Ok(fd) = openat2(
                self.root.as_raw_fd(),
                &join(comps),
                libc::O_RDONLY | libc::O_DIRECTORY,
                how,
            ) {
                let _ = futimens(&fd, *mtime);
            }
        }
    }
}

/// Lexically clean an archive path into components. Leading `/` and `./` are dropped (absolute
/// names are taken relative to the layer root, like docker); `..` that would climb above the
/// root is refused.
pub fn clean(name: &[u8]) -> Result<Comps, &'static str> {
    if name.contains(&0) {
        return Err("NUL in name");
    }
    let mut out: Comps = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer root");
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn single_component(c: &[u8]) -> Option<CString> {
    if c.is_empty() || c == b"." || c == b".." || c.contains(&b'/') {
        return None;
    }
    cstring(c)
}

fn comps_with(parent: &[Vec<u8>], last: &[u8]) -> Comps {
    let mut v = parent.to_vec();
    v.push(last.to_vec());
    v
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    if comps.is_empty() {
        return b".".to_vec();
    }
    comps.join(&b'/')
}

fn parse_num(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let int = s.split('.').next()?;
    int.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_rules() {
        let c =
            |s: &str| clean(s.as_bytes()).map(|v| String::from_utf8_lossy(&join(&v)).into_owned());
        assert_eq!(c("a/b/c"), Ok("a/b/c".into()));
        assert_eq!(c("./a//b/"), Ok("a/b".into()));
        assert_eq!(c("/etc/passwd"), Ok("etc/passwd".into()));
        assert_eq!(c("a/../b"), Ok("b".into()));
        assert_eq!(c("./"), Ok(".".into()));
        assert!(c("../x").is_err());
        assert!(c("a/../../x").is_err());
        assert!(c("/..").is_err());
    }

    #[test]
    fn whiteout_names() {
        assert!(single_component(b"..").is_none());
        assert!(single_component(b".").is_none());
        assert!(single_component(b"").is_none());
        assert!(single_component(b"x").is_some());
    }

    #[test]
    fn decompress_sniffs() {
        let plain = b"hello world".to_vec();
        let mut out = String::new();
        decompress(&plain[..])
            .and_then(|mut r| r.read_to_string(&mut out))
            .ok();
        assert_eq!(out, "hello world");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"zipped").ok();
        let gz = gz.finish().unwrap_or_default();
        let mut out = String::new();
        decompress(&gz[..])
            .and_then(|mut r| r.read_to_string(&mut out))
            .ok();
        assert_eq!(out, "zipped");
    }
}
