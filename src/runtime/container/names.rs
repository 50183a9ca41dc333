//! The container name index: `<state_root>/names/<name>`, a symlink to `../containers/<id>`.
//!
//! Commands address containers by name (the engine always does), and without an index every
//! lookup read the state file of every container: a no-op `up` of 50 services read ~2,000 files.
//! With it a lookup is one `readlink`. The index is authoritative once its directory exists:
//! links are claimed under the root's global lock at create, before the container directory is
//! renamed into place, and released at removal. A link whose container directory is gone (a
//! crash between the two steps) reads as absent and is replaced by the next claim. A root made
//! before the index existed gets it built by one scan, under the same lock, on first use.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// The index of one state root.
#[derive(Debug, Clone)]
pub struct NameIndex {
    dir: PathBuf,
}

impl NameIndex {
    pub fn new(state_root: &Path) -> Self {
        NameIndex {
            dir: state_root.join("names"),
        }
    }

    /// Whether the index has been built (then it covers every indexable name).
    pub fn is_built(&self) -> bool {
        self.dir.is_dir()
    }

    /// Builds the index from `(name, id)` pairs found by a scan. Caller holds the global lock.
    pub fn build(&self, entries: impl IntoIterator<Item = (String, String)>) -> io::Result<()> {
        let tmp = self
            .dir
            .with_file_name(format!(".names-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        for (name, id) in entries {
            if indexable(&name) {
                symlink(target(&id), tmp.join(&name))?;
            }
        }
        match fs::rename(&tmp, &self.dir) {
            // Someone built it meanwhile (a caller without the lock): theirs is as good.
            Err(_) if self.is_built() => fs::remove_dir_all(&tmp),
            other => other,
        }
    }

    /// The id `name` points at, if the index has it. `None` for names it cannot hold.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if !indexable(name) {
            return None;
        }
        let target = fs::read_link(self.dir.join(name)).ok()?;
        let id = target.file_name()?.to_str()?;
        is_id(id).then(|| id.to_string())
    }

    /// Points `name` at `id`, replacing a stale link atomically. Caller holds the global lock
    /// and has checked that no live container has the name.
    pub fn claim(&self, name: &str, id: &str) -> io::Result<()> {
        if !indexable(name) || !self.is_built() {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{id}"));
        let _ = fs::remove_file(&tmp);
        symlink(target(id), &tmp)?;
        fs::rename(&tmp, self.dir.join(name))
    }

    /// Removes `name` if it still points at `id` (a newer container may have taken it).
    pub fn release(&self, name: &str, id: &str) -> io::Result<()> {
        if self.lookup(name).as_deref() == Some(id) {
            match fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl NameIndex {
    /// Removes the links whose container directory is gone and the temp links of interrupted
    /// claims (what a crash between the index and the container directory leaves). Caller holds
    /// the global lock, under which every claim renames its container directory into place.
    /// Returns the names removed.
    pub fn prune(&self) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            // A link resolves through `../containers/<id>`: `exists` follows it.
            if name.starts_with('.') || !e.path().exists() {
                match fs::remove_file(e.path()) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                    _ => removed.push(name),
                }
            }
        }
        Ok(removed)
    }
}

/// What a link points at: relative, so the root can move, and resolving to the container dir.
fn target(id: &str) -> PathBuf {
    Path::new("../containers").join(id)
}

/// Names that are one plain path component (docker's names always are).
pub fn indexable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && !name.contains(['/', '\0'])
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn claim_lookup_release() {
        let root = tempfile::tempdir().unwrap();
        let idx = NameIndex::new(root.path());
        assert!(!idx.is_built());
        idx.build([("old".to_string(), A.to_string())]).unwrap();
        assert_eq!(idx.lookup("old").as_deref(), Some(A));
        idx.claim("web-1", A).unwrap();
        assert_eq!(idx.lookup("web-1").as_deref(), Some(A));
        // A newer container took the name: releasing the old id leaves it alone.
        idx.claim("web-1", B).unwrap();
        idx.release("web-1", A).unwrap();
        assert_eq!(idx.lookup("web-1").as_deref(), Some(B));
        idx.release("web-1", B).unwrap();
        assert_eq!(idx.lookup("web-1"), None);
    }

    #[test]
    fn prune_drops_links_to_nothing_and_interrupted_claims() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("containers").join(A)).unwrap();
        let idx = NameIndex::new(root.path());
        idx.build(std::iter::empty()).unwrap();
        idx.claim("live", A).unwrap();
        idx.claim("gone", B).unwrap();
        symlink(target(B), root.path().join("names").join(format!(".{B}"))).unwrap();
        let mut removed = idx.prune().unwrap();
        removed.sort();
        assert_eq!(removed, [format!(".{B}"), "gone".to_string()]);
        assert_eq!(idx.lookup("live").as_deref(), Some(A));
    }

    #[test]
    fn names_that_are_not_one_component_are_not_indexed() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a\0b"] {
            assert!(!indexable(bad), "{bad:?}");
        }
        let root = tempfile::tempdir().unwrap();
        let idx = NameIndex::new(root.path());
        idx.build(std::iter::empty()).unwrap();
        idx.claim("a/b", A).unwrap();
        assert_eq!(idx.lookup("a/b"), None);
    }
}
