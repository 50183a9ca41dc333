//! A step's overlay upper dir to an OCI layer in the image store.
//!
//! The tar is written in OCI form: a whiteout (a `0/0` character device in the upper dir)
//! becomes an empty `.wh.<name>` file, an opaque directory (`trusted.overlay.opaque=y`) gets a
//! `.wh..wh..opq` entry, overlay-private xattrs are dropped and the others go in PAX
//! `SCHILY.xattr.*` records. A `redirect` or `metacopy` xattr means the upper dir is not the whole
//! diff (the overlay was not mounted with [`super::overlay::BUILD_OVERLAY_OPTIONS`]): refused.
//!
//! The layer is stored uncompressed (its digest is its diff_id, as `import` does) and the upper
//! dir itself, which is already in the store's unpacked-layer form, is renamed into
//! `layers/<diff_id>`: a step's files are written once, not written, tarred and unpacked again.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::error::{BuildError, IoContext, Result};
use super::fsops;
use crate::runtime::image::digest::HashingWriter;
use crate::runtime::image::{Digest, ImageStore, layout};

/// A layer in the store: its blob (uncompressed tar, digest = diff_id) and unpacked dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLayer {
    pub diff_id: Digest,
    /// Bytes of the tar.
    pub size: u64,
}

const OPAQUE: &[&str] = &["trusted.overlay.opaque", "user.overlay.opaque"];
const REFUSED: &[&str] = &[
    "trusted.overlay.redirect",
    "user.overlay.redirect",
    "trusted.overlay.metacopy",
    "user.overlay.metacopy",
];

fn is_overlay_private(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Store `upper` as a layer and consume it; `None` (and `upper` removed) when it holds no change.
/// The caller holds the store's GC lock (shared) for as long as it uses the result.
pub fn commit_upper(store: &ImageStore, upper: &Path) -> Result<Option<StoredLayer>> {
    if fs::read_dir(upper).at(upper)?.next().is_none() {
        fs::remove_dir_all(upper).at(upper)?;
        return Ok(None);
    }
    let tmp = store.layout().tmp_dir().join(layout::unique_name("layer"));
    let written = write_tar(upper, &tmp);
    let (diff_id, size) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // One flush for the tar and every file of the upper dir, before either is published.
    fsops::syncfs(&tmp).at(&tmp)?;
    if store.layout().has_blob(&diff_id) {
        let _ = fs::remove_file(&tmp);
    } else {
        store.layout().commit_temp_blob(&tmp, &diff_id)?;
    }
    publish_dir(store, upper, &diff_id)?;
    Ok(Some(StoredLayer { diff_id, size }))
}

/// Rename the upper dir into `layers/<diff_id>`; if that layer is already there (the same
/// content built before) ours is dropped. Across filesystems, unpack the blob instead.
fn publish_dir(store: &ImageStore, upper: &Path, diff_id: &Digest) -> Result<()> {
    let dest = store.layer_dir(diff_id);
    if dest.is_dir() {
        return fs::remove_dir_all(upper).at(upper);
    }
    match fs::rename(upper, &dest) {
        Ok(()) => {
            if let Some(parent) = dest.parent() {
                layout::sync_dir(parent);
            }
            Ok(())
        }
        Err(e) if dest.is_dir() => {
            // Lost a race with a concurrent build of the same layer.
            let _ = e;
            fs::remove_dir_all(upper).at(upper)
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            store.ensure_layer(diff_id, diff_id)?;
            fs::remove_dir_all(upper).at(upper)
        }
        Err(e) => Err(BuildError::io(&dest, e)),
    }
}

/// Write the OCI tar of `upper` to `dest`; returns its digest and size. Strips overlay-private
/// xattrs other than the opaque marker from `upper` on the way (it becomes a lower dir).
fn write_tar(upper: &Path, dest: &Path) -> Result<(Digest, u64)> {
    let file = File::create(dest).at(dest)?;
    let mut builder = tar::Builder::new(HashingWriter::new(BufWriter::with_capacity(
        256 * 1024,
        file,
    )));
    builder.mode(tar::HeaderMode::Complete);
    let mut w = TarWalk {
        builder,
        links: HashMap::new(),
    };
    w.dir(upper, Path::new(""))?;
    let inner = w.builder.into_inner().at(dest)?;
    let (buf, digest, size) = inner.finish();
    buf.into_inner()
        .map_err(|e| BuildError::io(dest, e.into_error()))?;
    Ok((digest, size))
}

struct TarWalk<W: io::Write> {
    builder: tar::Builder<W>,
    /// (dev, ino) of multiply-linked files already written → their tar path.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: io::Write> TarWalk<W> {
    fn dir(&mut self, abs: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(abs)
            .at(abs)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .at(abs)?;
        names.sort();
        for name in names {
            let (a, r) = (abs.join(&name), rel.join(&name));
            self.entry(&a, &r)?;
        }
        Ok(())
    }

    fn entry(&mut self, abs: &Path, rel: &Path) -> Result<()> {
        let md = fs::symlink_metadata(abs).at(abs)?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            let mut name = std::ffi::OsString::from(".wh.");
            name.push(rel.file_name().unwrap_or_default());
            return self.whiteout(&rel.with_file_name(name), &md);
        }
        let xattrs = self.xattrs(abs)?;
        let opaque = xattrs.iter().any(|(k, v)| {
            OPAQUE.iter().any(|o| k.as_bytes() == o.as_bytes()) && v.as_slice() == b"y"
        });
        let kept: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter(|(k, _)| !is_overlay_private(k.as_bytes()))
            .map(|(k, v)| {
                (
                    format!("SCHILY.xattr.{}", k.to_string_lossy()),
                    v.as_slice(),
                )
            })
            .collect();
        if !kept.is_empty() {
            self.builder
                .append_pax_extensions(kept.iter().map(|(k, v)| (k.as_str(), *v)))
                .at(abs)?;
        }
        let mut h = header(&md);
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            let mut p = rel.as_os_str().to_owned();
            p.push("/");
            self.builder
                .append_data(&mut h, Path::new(&p), io::empty())
                .at(abs)?;
            if opaque {
                self.whiteout(&rel.join(".wh..wh..opq"), &md)?;
            }
            return self.dir(abs, rel);
        }
        if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(abs).at(abs)?;
            return self.builder.append_link(&mut h, rel, &target).at(abs);
        }
        if ft.is_file() {
            return self.file(abs, rel, &md, h);
        }
        self.special(abs, rel, &md, h)
    }

    /// A regular file; the second and later names of a multiply-linked one become hardlinks.
    fn file(&mut self, abs: &Path, rel: &Path, md: &fs::Metadata, mut h: Header) -> Result<()> {
        if md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(EntryType::Link);
                h.set_size(0);
                return self.builder.append_link(&mut h, rel, &first).at(abs);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        h.set_entry_type(EntryType::Regular);
        let f = File::open(abs).at(abs)?;
        self.builder.append_data(&mut h, rel, f).at(abs)
    }

    /// Fifos and device nodes (sockets are skipped, as docker does).
    fn special(&mut self, abs: &Path, rel: &Path, md: &fs::Metadata, mut h: Header) -> Result<()> {
        let ft = md.file_type();
        let kind = if ft.is_fifo() {
            EntryType::Fifo
        } else if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            return Ok(());
        };
        let dev = md.rdev();
        let (major, minor) = if ft.is_fifo() {
            (0, 0)
        } else {
            (libc::major(dev), libc::minor(dev))
        };
        h.set_entry_type(kind);
        h.set_device_major(major).at(abs)?;
        h.set_device_minor(minor).at(abs)?;
        self.builder.append_data(&mut h, rel, io::empty()).at(abs)
    }

    fn whiteout(&mut self, rel: &Path, md: &fs::Metadata) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
        self.builder
            .append_data(&mut h, rel, io::empty())
            .at(rel.to_path_buf())
    }

    /// The xattrs of `abs`; refuses redirect/metacopy markers and strips the overlay-private
    /// ones (but the opaque marker) from the file, which is about to become a lower dir.
    fn xattrs(&self, abs: &Path) -> Result<Vec<(CString, Vec<u8>)>> {
        let mut out = Vec::new();
        for name in fsops::list_xattrs(abs).at(abs)? {
            let n = name.as_bytes();
            if REFUSED.iter().any(|r| r.as_bytes() == n) {
                return Err(BuildError::BadLayer {
                    path: abs.to_path_buf(),
                    reason: format!(
                        "overlay xattr {} (the build overlay must be mounted with redirect_dir=off,metacopy=off)",
                        name.to_string_lossy()
                    ),
                });
            }
            let value = fsops::get_xattr(abs, &name).at(abs)?;
            if is_overlay_private(n) && !OPAQUE.iter().any(|o| o.as_bytes() == n) {
                fsops::remove_xattr(abs, &name).at(abs)?;
                continue;
            }
            out.push((name, value));
        }
        Ok(out)
    }
}

fn header(md: &fs::Metadata) -> Header {
    let mut h = Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h.set_size(if md.is_file() { md.len() } else { 0 });
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// (path, type, PAX records) of each entry.
    type Entries = Vec<(String, EntryType, Vec<(String, Vec<u8>)>)>;

    fn entries(tar_path: &Path) -> Entries {
        let mut a = tar::Archive::new(File::open(tar_path).unwrap());
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut xattrs = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for x in exts {
                    let x = x.unwrap();
                    xattrs.push((x.key().unwrap().to_string(), x.value_bytes().to_vec()));
                }
            }
            let path = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            let mut sink = Vec::new();
            e.read_to_end(&mut sink).unwrap();
            out.push((path, kind, xattrs));
        }
        out
    }

    #[test]
    fn upper_dir_becomes_an_oci_tar() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: whiteouts and trusted xattrs need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("upper");
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::create_dir_all(up.join("opq")).unwrap();
        fs::write(up.join("opq/new"), "n").unwrap();
        fs::write(up.join("etc/b"), "b").unwrap();
        fs::hard_link(up.join("etc/b"), up.join("etc/c")).unwrap();
        std::os::unix::fs::symlink("/etc/b", up.join("link")).unwrap();
        nix::sys::stat::mknod(
            &up.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let opq = CString::new("trusted.overlay.opaque").unwrap();
        let origin = CString::new("trusted.overlay.origin").unwrap();
        let user = CString::new("user.note").unwrap();
        fsops::set_xattr(&up.join("opq"), &opq, b"y").unwrap();
        fsops::set_xattr(&up.join("etc"), &origin, b"x").unwrap();
        fsops::set_xattr(&up.join("etc/b"), &user, b"v").unwrap();

        let out = dir.path().join("layer.tar");
        let (digest, size) = write_tar(&up, &out).unwrap();
        let bytes = fs::read(&out).unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest, Digest::of(&bytes));
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/b",
                "etc/c",
                "etc/.wh.gone",
                "link",
                "opq/",
                "opq/.wh..wh..opq",
                "opq/new"
            ]
        );
        assert_eq!(got[2].1, EntryType::Link);
        assert_eq!(got[4].1, EntryType::Symlink);
        assert_eq!(
            got[1].2,
            vec![("SCHILY.xattr.user.note".to_string(), b"v".to_vec())]
        );
        assert!(got[0].2.is_empty(), "overlay xattrs are not in the tar");
        // The origin marker is gone from the dir, the opaque one stays.
        assert!(fsops::get_xattr(&up.join("etc"), &origin).is_err());
        assert_eq!(fsops::get_xattr(&up.join("opq"), &opq).unwrap(), b"y");
    }

    #[test]
    fn redirects_are_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: trusted xattrs need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("upper");
        fs::create_dir_all(up.join("moved")).unwrap();
        let redirect = CString::new("trusted.overlay.redirect").unwrap();
        fsops::set_xattr(&up.join("moved"), &redirect, b"/old").unwrap();
        let err = write_tar(&up, &dir.path().join("t.tar")).unwrap_err();
        assert!(err.to_string().contains("redirect_dir=off"), "{err}");
    }

    #[test]
    fn committing_stores_blob_and_dir_and_skips_empty_uppers() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(commit_upper(&store, &empty).unwrap(), None);
        assert!(!empty.exists());
        let up = dir.path().join("up");
        fs::create_dir(&up).unwrap();
        fs::write(up.join("f"), "hello").unwrap();
        let layer = commit_upper(&store, &up).unwrap().unwrap();
        assert!(store.layout().has_blob(&layer.diff_id));
        assert_eq!(
            fs::read_to_string(store.layer_dir(&layer.diff_id).join("f")).unwrap(),
            "hello"
        );
        assert!(!up.exists());
        // The same content again: the existing layer is kept, the new upper dropped.
        fs::create_dir(&up).unwrap();
        fs::write(up.join("f"), "hello").unwrap();
        let t = fs::metadata(store.layer_dir(&layer.diff_id).join("f"))
            .unwrap()
            .mtime();
        nix::sys::stat::utimes(
            &up.join("f"),
            &nix::sys::time::TimeVal::new(t, 0),
            &nix::sys::time::TimeVal::new(t, 0),
        )
        .unwrap();
        let again = commit_upper(&store, &up).unwrap().unwrap();
        assert_eq!(again, layer);
        assert!(!up.exists());
    }
}
