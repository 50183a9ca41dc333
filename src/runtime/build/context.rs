//! Source trees of COPY/ADD: the build context (a directory filtered by `.dockerignore`), named
//! contexts, and stage or image roots; walking them, and checksumming what a step copies.
//!
//! Walks never descend into an excluded directory unless an exception pattern could re-include
//! something below it ([`DockerIgnore::may_include_under`]). File contents are hashed through a
//! persisted cache keyed by size, mtime, ctime and inode (BuildKit's content hash cache does the
//! same pre-filter), so a rebuild reads only files that changed.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::{BuildError, IoContext, Result};
use super::fsops;
use super::ignore::DockerIgnore;

/// How deep symlinks are followed when resolving a source path (as Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// A tree COPY/ADD read from.
pub struct SourceTree {
    root: PathBuf,
    ignore: DockerIgnore,
    /// Files of the user's context are copied as root:root; files from a stage or image keep
    /// their owners.
    keep_owner: bool,
    hashes: Option<Mutex<HashCache>>,
}

/// One entry found by [`SourceTree::walk`].
pub struct Entry<'a> {
    /// Relative to the tree root.
    pub rel: &'a Path,
    pub metadata: &'a Metadata,
}

impl SourceTree {
    /// The build context at `root` with its `.dockerignore`; content hashes are cached in
    /// `hash_cache` (a file, created on [`SourceTree::save`]).
    pub fn context(root: &Path, ignore: DockerIgnore, hash_cache: Option<PathBuf>) -> Self {
        SourceTree {
            root: root.to_path_buf(),
            ignore,
            keep_owner: false,
            hashes: hash_cache.map(|p| Mutex::new(HashCache::load(p))),
        }
    }

    /// A stage's or image's root filesystem (mounted read-only by the caller).
    pub fn rootfs(root: &Path) -> Self {
        SourceTree {
            root: root.to_path_buf(),
            ignore: DockerIgnore::default(),
            keep_owner: true,
            hashes: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn keeps_owner(&self) -> bool {
        self.keep_owner
    }

    pub fn is_excluded(&self, rel: &Path) -> bool {
        !rel.as_os_str().is_empty() && self.ignore.is_excluded(rel)
    }

    /// `rel` with symlinks resolved inside the tree (lexically: a link to `/x` or `../../x`
    /// stays in the root), so COPY of a symlink copies what it points to.
    pub fn resolve(&self, rel: &Path) -> Result<PathBuf> {
        let mut done = PathBuf::new();
        let mut todo: Vec<PathBuf> = fsops::relative(rel)
            .components()
            .rev()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            let next = done.join(&c);
            let md = match fs::symlink_metadata(self.root.join(&next)) {
                Ok(md) => md,
                // Left as is: the caller reports a missing source with its own words.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    done = next;
                    continue;
                }
                Err(e) => return Err(BuildError::io(self.root.join(&next), e)),
            };
            if !md.file_type().is_symlink() {
                done = next;
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(BuildError::io(
                    self.root.join(rel),
                    io::Error::from_raw_os_error(libc::ELOOP),
                ));
            }
            let target = fs::read_link(self.root.join(&next)).at(self.root.join(&next))?;
            let base = if target.is_absolute() {
                PathBuf::new()
            } else {
                done.clone()
            };
            let joined = fsops::relative(&base.join(target));
            for comp in joined.components().rev() {
                todo.push(PathBuf::from(comp.as_os_str()));
            }
            done = PathBuf::new();
        }
        Ok(fsops::relative(&done))
    }

    /// Metadata of `rel` (not following a final symlink); `None` when missing or excluded.
    pub fn stat(&self, rel: &Path) -> Result<Option<Metadata>> {
        if self.is_excluded(rel) {
            return Ok(None);
        }
        match fs::symlink_metadata(self.root.join(rel)) {
            Ok(md) => Ok(Some(md)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BuildError::io(self.root.join(rel), e)),
        }
    }

    /// The names in directory `rel` that are not excluded (or may hold re-included entries),
    /// sorted.
    pub fn list(&self, rel: &Path) -> Result<Vec<(PathBuf, Metadata)>> {
        let abs = self.root.join(rel);
        let mut out = Vec::new();
        for e in fs::read_dir(&abs).at(&abs)? {
            let e = e.at(&abs)?;
            let child = rel.join(e.file_name());
            let md = e.metadata().at(e.path())?;
            if self.is_excluded(&child) && !(md.is_dir() && self.ignore.may_include_under(&child)) {
                continue;
            }
            out.push((child, md));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Visit `rel` and everything below it that is not excluded, parents before children,
    /// names sorted. A directory that is excluded but holds re-included entries is visited
    /// (just before its first included child) so the copy can create it.
    pub fn walk(&self, rel: &Path, visit: &mut dyn FnMut(Entry<'_>) -> Result<()>) -> Result<()> {
        let Some(md) = (match fs::symlink_metadata(self.root.join(rel)) {
            Ok(md) => Some(md),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(BuildError::io(self.root.join(rel), e)),
        }) else {
            return Ok(());
        };
        let mut pending = Vec::new();
        self.walk_entry(rel.to_path_buf(), md, &mut pending, visit)
    }

    fn walk_entry(
        &self,
        rel: PathBuf,
        md: Metadata,
        pending: &mut Vec<(PathBuf, Metadata)>,
        visit: &mut dyn FnMut(Entry<'_>) -> Result<()>,
    ) -> Result<()> {
        let excluded = self.is_excluded(&rel);
        if !md.is_dir() {
            if !excluded {
                flush(pending, visit)?;
                visit(Entry {
                    rel: &rel,
                    metadata: &md,
                })?;
            }
            return Ok(());
        }
        let depth = pending.len();
        if excluded {
            if !self.ignore.may_include_under(&rel) {
                return Ok(());
            }
            pending.push((rel.clone(), md));
        } else {
            flush(pending, visit)?;
            visit(Entry {
                rel: &rel,
                metadata: &md,
            })?;
        }
        for (child, cmd) in self.list(&rel)? {
            self.walk_entry(child, cmd, pending, visit)?;
        }
        pending.truncate(depth);
        Ok(())
    }

    /// sha256 of a regular file's content (through the hash cache when there is one).
    pub fn file_digest(&self, rel: &Path, md: &Metadata) -> Result<String> {
        let stamp = Stamp::of(md);
        let key = rel.to_string_lossy().into_owned();
        if let Some(h) = &self.hashes
            && let Ok(h) = h.lock()
            && let Some(d) = h.get(&key, &stamp)
        {
            return Ok(d);
        }
        let abs = self.root.join(rel);
        let digest = hash_file(&abs).at(&abs)?;
        if let Some(h) = &self.hashes
            && let Ok(mut h) = h.lock()
        {
            h.insert(key, stamp, digest.clone());
        }
        Ok(digest)
    }

    /// A checksum of what copying `rel` would produce: relative names (below `rel`), types,
    /// modes, owners (when kept), link targets and contents. Excluded entries do not count.
    pub fn checksum(&self, rel: &Path, hasher: &mut Sha256) -> Result<()> {
        let base = rel.to_path_buf();
        self.walk(rel, &mut |e| {
            let name = e.rel.strip_prefix(&base).unwrap_or(e.rel);
            let md = e.metadata;
            hasher.update(name.as_os_str().len().to_le_bytes());
            hasher.update(name.as_os_str().as_encoded_bytes());
            hasher.update(md.mode().to_le_bytes());
            if self.keep_owner {
                hasher.update(md.uid().to_le_bytes());
                hasher.update(md.gid().to_le_bytes());
            }
            let ft = md.file_type();
            if ft.is_file() {
                hasher.update(self.file_digest(e.rel, md)?.as_bytes());
            } else if ft.is_symlink() {
                let t = fs::read_link(self.root.join(e.rel)).at(self.root.join(e.rel))?;
                hasher.update(t.as_os_str().as_encoded_bytes());
            } else if ft.is_char_device() || ft.is_block_device() {
                hasher.update(md.rdev().to_le_bytes());
            }
            Ok(())
        })
    }

    /// Persist the hash cache if it learned something.
    pub fn save(&self) -> Result<()> {
        match &self.hashes {
            Some(h) => match h.lock() {
                Ok(h) => h.save(),
                Err(_) => Ok(()),
            },
            None => Ok(()),
        }
    }
}

fn flush(
    pending: &mut Vec<(PathBuf, Metadata)>,
    visit: &mut dyn FnMut(Entry<'_>) -> Result<()>,
) -> Result<()> {
    for (rel, md) in pending.drain(..) {
        visit(Entry {
            rel: &rel,
            metadata: &md,
        })?;
    }
    Ok(())
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What must be unchanged for a cached content hash to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
}

impl Stamp {
    fn of(md: &Metadata) -> Self {
        Stamp {
            size: md.size(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
            ino: md.ino(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HashFile {
    files: BTreeMap<String, (Stamp, String)>,
}

/// Content hashes of a context's files by path, valid while their [`Stamp`] is.
#[derive(Debug)]
struct HashCache {
    path: PathBuf,
    data: HashFile,
    dirty: bool,
}

impl HashCache {
    fn load(path: PathBuf) -> Self {
        let data = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashCache {
            path,
            data,
            dirty: false,
        }
    }

    fn get(&self, rel: &str, stamp: &Stamp) -> Option<String> {
        // A file modified within the last second could be modified again within the same
        // mtime tick: trust its cached hash only once its mtime is safely in the past (the
        // "racy git" rule).
        let (s, d) = self.data.files.get(rel)?;
        (s == stamp && !is_racy(stamp)).then(|| d.clone())
    }

    fn insert(&mut self, rel: String, stamp: Stamp, digest: String) {
        if is_racy(&stamp) {
            return;
        }
        self.data.files.insert(rel, (stamp, digest));
        self.dirty = true;
    }

    fn save(&self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        fs::create_dir_all(dir).at(dir)?;
        let bytes = serde_json::to_vec(&self.data)
            .map_err(|e| BuildError::io(&self.path, io::Error::other(e)))?;
        let tmp = dir.join(crate::runtime::image::layout::unique_name(".hashes"));
        fs::write(&tmp, bytes).at(&tmp)?;
        fs::rename(&tmp, &self.path).at(&self.path)
    }
}

fn is_racy(stamp: &Stamp) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    now - stamp.mtime_ns.max(stamp.ctime_ns) < 2_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) {
        for d in ["src/sub", "node_modules/pkg", "docs"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in [
            "a.txt",
            "src/main.rs",
            "src/sub/x.rs",
            "node_modules/pkg/index.js",
            "docs/keep.md",
            "docs/drop.md",
        ] {
            fs::write(dir.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("src/sub", dir.join("link")).unwrap();
        std::os::unix::fs::symlink("/../../src", dir.join("abs")).unwrap();
    }

    fn walked(t: &SourceTree, rel: &str) -> Vec<String> {
        let mut out = Vec::new();
        t.walk(Path::new(rel), &mut |e| {
            out.push(e.rel.display().to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn walk_is_sorted_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let t = SourceTree::context(dir.path(), DockerIgnore::default(), None);
        assert_eq!(
            walked(&t, "src"),
            ["src", "src/main.rs", "src/sub", "src/sub/x.rs"]
        );
        assert_eq!(walked(&t, "a.txt"), ["a.txt"]);
        assert!(walked(&t, "missing").is_empty());
    }

    #[test]
    fn symlinks_resolve_within_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let t = SourceTree::context(dir.path(), DockerIgnore::default(), None);
        assert_eq!(t.resolve(Path::new("link")).unwrap(), Path::new("src/sub"));
        assert_eq!(
            t.resolve(Path::new("link/x.rs")).unwrap(),
            Path::new("src/sub/x.rs")
        );
        assert_eq!(
            t.resolve(Path::new("abs/main.rs")).unwrap(),
            Path::new("src/main.rs")
        );
        assert_eq!(t.resolve(Path::new("nope/x")).unwrap(), Path::new("nope/x"));
    }

    #[test]
    fn checksums_follow_content_not_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let t = SourceTree::context(dir.path(), DockerIgnore::default(), None);
        let sum = |t: &SourceTree| {
            let mut h = Sha256::new();
            t.checksum(Path::new("src"), &mut h).unwrap();
            h.finalize()
        };
        let first = sum(&t);
        let f = dir.path().join("src/main.rs");
        let t2 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t2)
            .unwrap();
        assert_eq!(sum(&t), first);
        fs::write(&f, "changed").unwrap();
        assert_ne!(sum(&t), first);
    }

    #[test]
    fn hash_cache_skips_unchanged_files_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        fs::create_dir(&ctx).unwrap();
        let f = ctx.join("f");
        fs::write(&f, "one").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let cache = dir.path().join("hashes.json");
        let t = SourceTree::context(&ctx, DockerIgnore::default(), Some(cache.clone()));
        let md = fs::metadata(&f).unwrap();
        let d1 = t.file_digest(Path::new("f"), &md).unwrap();
        t.save().unwrap();
        assert!(cache.exists() || is_racy(&Stamp::of(&md)));
        let t = SourceTree::context(&ctx, DockerIgnore::default(), Some(cache));
        assert_eq!(t.file_digest(Path::new("f"), &md).unwrap(), d1);
        assert_eq!(
            d1,
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
    }
}
