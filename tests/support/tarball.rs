//! A small tar writer for tests. Unlike `tar::Builder::append_path`, it writes names and link
//! targets verbatim (so tests can build hostile archives with `../`, absolute paths, etc.).

use tar::{EntryType, Header};

/// Fixed mtime used by fixtures (2026-11-22T00:00:00Z).
pub const MTIME: u64 = 1_795_305_600;

#[derive(Default)]
pub struct TarBuilder {
    out: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder::default()
    }

    fn header(name: &str, kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        {
            let raw = h.as_old_mut();
            let n = name.as_bytes();
            assert!(
                n.len() <= 100,
                "test tar names are limited to 100 bytes: {name}"
            );
            raw.name[..n.len()].copy_from_slice(n);
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(size);
        h
    }

    fn push(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn set_link(h: &mut Header, target: &str) {
        let raw = h.as_old_mut();
        let t = target.as_bytes();
        assert!(t.len() <= 100, "test link targets are limited to 100 bytes");
        raw.linkname = [0; 100];
        raw.linkname[..t.len()].copy_from_slice(t);
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = Self::header(name, EntryType::Directory, mode, 0);
        self.push(h, &[])
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        let h = Self::header(name, EntryType::Regular, mode, data.len() as u64);
        self.push(h, data)
    }

    /// A regular file with explicit owner and mtime.
    pub fn file_owned(
        &mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> &mut Self {
        let mut h = Self::header(name, EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.push(h, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, EntryType::Symlink, 0o777, 0);
        Self::set_link(&mut h, target);
        self.push(h, &[])
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, EntryType::Link, 0o644, 0);
        Self::set_link(&mut h, target);
        self.push(h, &[])
    }

    pub fn char_dev(&mut self, name: &str, mode: u32, major: u32, minor: u32) -> &mut Self {
        let mut h = Self::header(name, EntryType::Char, mode, 0);
        h.set_device_major(major).ok();
        h.set_device_minor(minor).ok();
        self.push(h, &[])
    }

    pub fn fifo(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = Self::header(name, EntryType::Fifo, mode, 0);
        self.push(h, &[])
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            // "<len> <key>=<value>\n" where len counts itself
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let h = Self::header(
            "././@PaxHeader",
            EntryType::XHeader,
            0o644,
            body.len() as u64,
        );
        self.push(h, &body)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

/// gzip with a fixed header (no name, mtime 0), so output is reproducible.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}
