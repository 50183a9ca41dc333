//! Seeing changes: a [`TreeWatcher`] over notify's inotify backend, and the [`Debouncer`] that
//! turns a stream of changes into batches.
//!
//! notify's own recursive mode watches every directory of a tree, `node_modules` and `.git`
//! included, which is what exhausts inotify watches on big projects. So every directory gets a
//! non-recursive watch of its own, and the tree is walked here with a filter (the rules'
//! [`super::rules::RuleSet::wants_dir`]): ignored directories are never watched. inotify needs no
//! file descriptor per watch, so a tree costs one descriptor whatever its size. A directory that
//! appears later (created, or moved in) is walked when its event arrives, and everything found in
//! it is reported as changed: files written into it before its watch existed are not missed.
//!
//! Batching: each key (a service) has a quiet period that restarts with every change and a
//! longest wait from its first change. Cheap work (copying files) uses a short quiet period, so
//! an edit reaches the container within milliseconds; disruptive work (restart, exec, rebuild)
//! waits for a longer silence, so an editor's save storm, a `git checkout` of hundreds of files or
//! a build tool writing its outputs ends in one restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{Event, RecursiveMode, Watcher};

/// What a raw notify event means for the watch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths whose content, metadata or existence changed.
    pub paths: Vec<PathBuf>,
    /// Directories that appeared: to be watched and walked.
    pub new_dirs: Vec<PathBuf>,
    /// The kernel dropped events (queue overflow): everything may have changed.
    pub rescan: bool,
}

/// Sorts a notify event. Reads (open, close without write) are dropped: the sync reads the
/// files it copies, and those reads must not look like changes.
pub fn classify(event: &Event) -> Changes {
    let mut out = Changes {
        rescan: event.need_rescan(),
        ..Changes::default()
    };
    let relevant = match event.kind {
        EventKind::Create(CreateKind::Folder) => {
            out.new_dirs.extend(event.paths.iter().cloned());
            true
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any)) => {
            // A directory moved in arrives as one name: it has to be walked.
            out.new_dirs
                .extend(event.paths.iter().filter(|p| p.is_dir()).cloned());
            true
        }
        // `Both` repeats the `From` and `To` events already seen.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => false,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Any | EventKind::Other => false,
    };
    if relevant {
        out.paths.extend(event.paths.iter().cloned());
    }
    out
}

/// Why a directory could not be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("starting the file watcher: {0}")]
    Start(notify::Error),
    #[error(
        "the inotify watch limit is reached ({watched} directories watched); changes below {dir} are not seen: ignore large directories in develop.watch or raise fs.inotify.max_user_watches"
    )]
    Limit { watched: usize, dir: PathBuf },
    #[error("watching {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
}

/// Non-recursive inotify watches on exactly the directories a filter wants.
pub struct TreeWatcher {
    inner: notify::RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
}

impl TreeWatcher {
    /// Events go to `handler` (called on notify's thread).
    pub fn new(handler: impl notify::EventHandler) -> Result<Self, WatchError> {
        let inner = notify::recommended_watcher(handler).map_err(WatchError::Start)?;
        Ok(TreeWatcher {
            inner,
            watched: BTreeSet::new(),
        })
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Watches `dir` and the directories below it that `wants` accepts (never following
    /// symlinks), and appends every file and directory found below `dir` to `found`. A missing
    /// `dir` is not an error: it may be created later.
    pub fn add_tree(
        &mut self,
        dir: &Path,
        wants: &dyn Fn(&Path) -> bool,
        found: &mut Vec<PathBuf>,
    ) -> Result<(), WatchError> {
        let walk = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| !e.file_type().is_dir() || wants(e.path()));
        for entry in walk {
            // Gone since it was listed, or unreadable: nothing to watch there.
            let Ok(entry) = entry else { continue };
            if entry.depth() > 0 {
                found.push(entry.path().to_path_buf());
            }
            if entry.file_type().is_dir() {
                self.add_dir(entry.path())?;
            }
        }
        Ok(())
    }

    /// One directory, non-recursively.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), WatchError> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        match self.inner.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
                Ok(())
            }
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                Err(WatchError::Limit {
                    watched: self.watched.len(),
                    dir: dir.to_path_buf(),
                })
            }
            // Removed before its watch was added: its removal event says so.
            Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => Ok(()),
            Err(e) if matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
                Ok(())
            }
            Err(source) => Err(WatchError::Watch {
                dir: dir.to_path_buf(),
                source,
            }),
        }
    }

    /// Forget directories at or below `dir` (removed or moved away: the kernel dropped their
    /// watches, and a new directory of that name must be watched anew).
    pub fn forget(&mut self, dir: &Path) {
        let below: Vec<PathBuf> = self
            .watched
            .range(dir.to_path_buf()..)
            .take_while(|p| p.starts_with(dir))
            .cloned()
            .collect();
        for p in below {
            let _ = self.inner.unwatch(&p);
            self.watched.remove(&p);
        }
    }

    pub fn is_watched(&self, dir: &Path) -> bool {
        self.watched.contains(dir)
    }
}

/// How long to wait for quiet before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Quiet period before copying files.
    pub sync_quiet: Duration,
    /// Copy at the latest this long after the first change, even while changes keep coming.
    pub sync_max: Duration,
    /// Quiet period before a restart, exec or rebuild.
    pub heavy_quiet: Duration,
    /// Act at the latest this long after the first change.
    pub heavy_max: Duration,
}

impl Default for Timings {
    /// An editor's save (temp file, rename, chmod) takes well under 10 ms; `git checkout` writes
    /// files back to back with gaps far below 200 ms. docker compose waits 500 ms for everything.
    fn default() -> Self {
        Timings {
            sync_quiet: Duration::from_millis(10),
            sync_max: Duration::from_millis(100),
            heavy_quiet: Duration::from_millis(200),
            heavy_max: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    first: Instant,
    last: Instant,
    heavy: bool,
}

/// When each key's pending changes are due.
#[derive(Debug)]
pub struct Debouncer<K> {
    timings: Timings,
    pending: BTreeMap<K, Window>,
}

impl<K: Ord + Clone> Debouncer<K> {
    pub fn new(timings: Timings) -> Self {
        Debouncer {
            timings,
            pending: BTreeMap::new(),
        }
    }

    /// A change for `key` at `now`; `heavy` when it asks for a restart, exec or rebuild.
    pub fn note(&mut self, key: K, heavy: bool, now: Instant) {
        let w = self.pending.entry(key).or_insert(Window {
            first: now,
            last: now,
            heavy,
        });
        w.last = now;
        w.heavy |= heavy;
    }

    fn due_at(&self, w: &Window) -> Instant {
        let t = &self.timings;
        let (quiet, max) = match w.heavy {
            true => (t.heavy_quiet, t.heavy_max),
            false => (t.sync_quiet, t.sync_max),
        };
        (w.last + quiet).min(w.first + max)
    }

    /// The earliest time something is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|w| self.due_at(w)).min()
    }

    /// Takes the keys due at `now` among those `ready` accepts (a busy key stays pending, and
    /// keeps collecting changes, until it is ready).
    pub fn take_due(&mut self, now: Instant, ready: impl Fn(&K) -> bool) -> Vec<K> {
        let due: Vec<K> = self
            .pending
            .iter()
            .filter(|(k, w)| self.due_at(w) <= now && ready(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.pending.remove(k);
        }
        due
    }

    pub fn is_pending(&self, key: &K) -> bool {
        self.pending.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_is_one_batch_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Timings::default());
        for i in 0..100 {
            d.note("web", true, t0 + ms(i));
            assert!(d.take_due(t0 + ms(i), |_| true).is_empty());
        }
        assert_eq!(d.next_due(), Some(t0 + ms(99 + 200)));
        assert!(d.take_due(t0 + ms(298), |_| true).is_empty());
        assert_eq!(d.take_due(t0 + ms(299), |_| true), vec!["web"]);
        assert_eq!(d.next_due(), None);
    }

    #[test]
    fn syncs_are_quick_and_storms_still_flush() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Timings::default());
        d.note("web", false, t0);
        assert_eq!(d.next_due(), Some(t0 + ms(10)));
        // A change every 5 ms never leaves 10 ms of quiet: the longest wait flushes it.
        for i in 1..40 {
            d.note("web", false, t0 + ms(5 * i));
        }
        assert_eq!(d.next_due(), Some(t0 + ms(100)));
    }

    #[test]
    fn a_busy_key_keeps_collecting() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Timings::default());
        d.note("web", false, t0);
        d.note("db", false, t0);
        assert_eq!(d.take_due(t0 + ms(50), |k| *k != "web"), vec!["db"]);
        assert!(d.is_pending(&"web"));
        d.note("web", true, t0 + ms(60));
        assert_eq!(d.take_due(t0 + ms(260), |_| true), vec!["web"]);
    }

    #[test]
    fn reads_are_not_changes() {
        let p = PathBuf::from("/p/a");
        let read =
            Event::new(EventKind::Access(AccessKind::Close(AccessMode::Read))).add_path(p.clone());
        assert_eq!(classify(&read), Changes::default());
        let written =
            Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write))).add_path(p.clone());
        assert_eq!(classify(&written).paths, vec![p.clone()]);
        let dir = Event::new(EventKind::Create(CreateKind::Folder)).add_path(p.clone());
        assert_eq!(classify(&dir).new_dirs, vec![p]);
        let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(classify(&overflow).rescan);
    }

    #[test]
    fn watches_only_wanted_directories_and_reports_what_it_finds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["src/lib", "node_modules/a/b", ".git/objects"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("src/lib/x.js"), "x").expect("write");
        std::fs::write(root.join("node_modules/a/b/y.js"), "y").expect("write");
        let (tx, _rx) = std::sync::mpsc::channel();
        let mut w = TreeWatcher::new(tx).expect("watcher");
        let wants = |p: &Path| !p.ends_with("node_modules") && !p.ends_with(".git");
        let mut found = Vec::new();
        w.add_tree(root, &wants, &mut found).expect("watch");
        assert_eq!(w.len(), 3, "root, src, src/lib");
        assert!(found.contains(&root.join("src/lib/x.js")));
        assert!(
            !found
                .iter()
                .any(|p| p.starts_with(root.join("node_modules")))
        );
        w.forget(&root.join("src"));
        assert_eq!(w.len(), 1);
        assert!(w.is_watched(root));
    }
}
