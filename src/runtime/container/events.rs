//! The runtime's container event log, what `events` reads in place of a daemon's event stream.
//!
//! Whoever changes a container's state appends one JSON line to `<state_root>/events.jsonl`:
//! the client for `create`, `stop` and `destroy`, the monitor for `start`, `die`, `kill`,
//! `pause`, `unpause` and `health_status: …`. Each record carries what docker puts in an
//! event's actor attributes (the image's and the container's labels, `name`, and `exitCode` or
//! `signal`), so it stays readable after the container is gone.
//!
//! Appends take an flock on `events.jsonl.lock` and are one `write(2)` each. The log is bounded:
//! when it passes [`MAX_LOG_BYTES`] it is renamed to `events.jsonl.1` (replacing the previous
//! generation) under that lock, so at most two generations exist. Readers
//! ([`EventFollower`]) read the old generation first for history and follow the current file
//! across a rotation (inotify on the state root, with a polling fallback).
//!
//! Recording is best effort: a full disk must not stop a container, so [`record`] reports
//! failures on stderr (the monitor's diagnostics log) and returns nothing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::{Deserialize, Serialize};

use super::spec::ContainerSpec;

/// The log's file name under the state root.
pub const EVENTS_FILE: &str = "events.jsonl";
/// Size at which the log is rotated (one older generation is kept).
pub const MAX_LOG_BYTES: u64 = 4 << 20;
/// How often a follower re-checks the file when no inotify event came (missed events, NFS).
const RECHECK: Duration = Duration::from_secs(1);

/// One container event, as appended to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Unix time in nanoseconds.
    pub time_nano: i64,
    /// Full container id.
    pub id: String,
    /// docker's action: `create`, `start`, `die`, `health_status: healthy`, ...
    pub action: String,
    /// docker's actor attributes: labels, `name`, `exitCode`, `signal`.
    pub attributes: BTreeMap<String, String>,
}

impl EventRecord {
    /// An event of `action` for container `id` now: the image's labels, then the container's,
    /// then `name` and `extra`.
    pub fn new(id: &str, spec: &ContainerSpec, action: &str, extra: &[(&str, String)]) -> Self {
        let mut attributes = BTreeMap::new();
        if let Some(labels) = spec
            .image
            .config()
            .as_ref()
            .and_then(|c| c.labels().as_ref())
        {
            attributes.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        attributes.extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        attributes.insert("name".into(), spec.name.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        EventRecord {
            time_nano: now_nanos(),
            id: id.to_string(),
            action: action.to_string(),
            attributes,
        }
    }
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn log_path(state_root: &Path) -> PathBuf {
    state_root.join(EVENTS_FILE)
}

fn rotated_path(state_root: &Path) -> PathBuf {
    state_root.join(format!("{EVENTS_FILE}.1"))
}

/// Appends an event for container `id` (see [`EventRecord::new`]); failures go to stderr.
pub fn record(
    state_root: &Path,
    id: &str,
    spec: &ContainerSpec,
    action: &str,
    extra: &[(&str, String)],
) {
    let rec = EventRecord::new(id, spec, action, extra);
    if let Err(e) = append(state_root, &rec, MAX_LOG_BYTES) {
        diag!("rcompose: recording the {action} event of {id}: {e}");
    }
}

/// Appends `rec`, first rotating the log if it has reached `max_bytes`.
pub fn append(state_root: &Path, rec: &EventRecord, max_bytes: u64) -> io::Result<()> {
    let mut line = serde_json::to_vec(rec).map_err(io::Error::other)?;
    line.push(b'\n');
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(state_root.join(format!("{EVENTS_FILE}.lock")))?;
    let _guard = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
    let path = log_path(state_root);
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
    };
    let mut f = open()?;
    if f.metadata()?.len() >= max_bytes {
        fs::rename(&path, rotated_path(state_root))?;
        f = open()?;
    }
    // One write: concurrent readers never see a line from two writers interleaved.
    f.write_all(&line)
}

/// Reads and follows the event log of one state root.
pub struct EventFollower {
    state_root: PathBuf,
    inotify: Option<Inotify>,
    /// The generation being read, and where its next unread byte is.
    file: Option<File>,
    /// Bytes of an incomplete last line.
    partial: Vec<u8>,
}

impl EventFollower {
    /// A follower positioned at the start of the history (`from_start`, for `--since`) or at
    /// the end of the log (only new events).
    pub fn open(state_root: &Path, from_start: bool) -> io::Result<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|i| {
                i.add_watch(
                    state_root,
                    AddWatchFlags::IN_MODIFY
                        | AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_MOVED_TO,
                )
                .is_ok()
            });
        let mut file = File::open(log_path(state_root)).ok();
        if let (Some(f), false) = (&mut file, from_start) {
            f.seek(SeekFrom::End(0))?;
        }
        Ok(EventFollower {
            state_root: state_root.to_path_buf(),
            inotify,
            file,
            partial: Vec::new(),
        })
    }

    /// The events of the rotated generation (older than anything in the current file).
    pub fn rotated_history(&self) -> Vec<EventRecord> {
        let mut out = Vec::new();
        if let Ok(mut f) = File::open(rotated_path(&self.state_root)) {
            let mut data = Vec::new();
            if f.read_to_end(&mut data).is_ok() {
                parse_lines(&data, &mut out);
            }
        }
        out
    }

    /// The events appended since the last call (the history first, when opened `from_start`),
    /// without waiting.
    pub fn read_new(&mut self) -> Vec<EventRecord> {
        let mut out = Vec::new();
        self.drain_current(&mut out);
        // Rotated (or created) under us: finish the old generation, then start the new one.
        if self.replaced() {
            self.drain_current(&mut out);
            self.partial.clear();
            self.file = File::open(log_path(&self.state_root)).ok();
            self.drain_current(&mut out);
        }
        out
    }

    /// Waits until new events arrive or `timeout` passes; returns them (maybe none).
    pub fn next_batch(&mut self, timeout: Duration) -> Vec<EventRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let batch = self.read_new();
            let left = deadline.saturating_duration_since(Instant::now());
            if !batch.is_empty() || left.is_zero() {
                return batch;
            }
            self.wait(left.min(RECHECK));
        }
    }

    fn drain_current(&mut self, out: &mut Vec<EventRecord>) {
        let Some(f) = &mut self.file else { return };
        let mut data = std::mem::take(&mut self.partial);
        if f.read_to_end(&mut data).is_err() {
            return;
        }
        let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        parse_lines(&data[..complete], out);
        self.partial = data[complete..].to_vec();
    }

    /// Whether the log path now names another file than the one being read.
    fn replaced(&self) -> bool {
        let Ok(now) = fs::metadata(log_path(&self.state_root)) else {
            return false;
        };
        match self.file.as_ref().and_then(|f| f.metadata().ok()) {
            Some(cur) => (cur.dev(), cur.ino()) != (now.dev(), now.ino()),
            None => true,
        }
    }

    fn wait(&self, d: Duration) {
        let Some(ino) = &self.inotify else {
            std::thread::sleep(d.min(Duration::from_millis(100)));
            return;
        };
        let ms = d.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        // Drain: only "something happened" matters, the log is re-read anyway.
        while let Ok(events) = ino.read_events() {
            if events.is_empty()
                || events
                    .iter()
                    .any(|e| e.name.as_deref() == Some(OsStr::new(EVENTS_FILE)))
            {
                break;
            }
        }
    }
}

/// Parses complete lines, skipping any that are not a record (a torn write after a crash).
fn parse_lines(data: &[u8], out: &mut Vec<EventRecord>) {
    out.extend(
        data.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64, action: &str) -> EventRecord {
        EventRecord {
            time_nano: n,
            id: format!("id{n}"),
            action: action.into(),
            attributes: BTreeMap::from([("name".into(), "c".into())]),
        }
    }

    #[test]
    fn history_then_new_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &rec(1, "create"), MAX_LOG_BYTES).unwrap();
        let mut from_now = EventFollower::open(dir.path(), false).unwrap();
        let mut from_start = EventFollower::open(dir.path(), true).unwrap();
        append(dir.path(), &rec(2, "start"), MAX_LOG_BYTES).unwrap();
        let actions = |v: Vec<EventRecord>| v.into_iter().map(|r| r.action).collect::<Vec<_>>();
        assert_eq!(actions(from_start.read_new()), ["create", "start"]);
        assert_eq!(actions(from_now.read_new()), ["start"]);
        assert!(from_now.read_new().is_empty());
    }

    #[test]
    fn a_follower_crosses_a_rotation_without_losing_events() {
        let dir = tempfile::tempdir().unwrap();
        let max = 300;
        append(dir.path(), &rec(1, "create"), max).unwrap();
        let mut f = EventFollower::open(dir.path(), true).unwrap();
        assert_eq!(f.read_new().len(), 1);
        // Enough to rotate more than once.
        for n in 2..=10 {
            append(dir.path(), &rec(n, "start"), max).unwrap();
        }
        let seen: Vec<i64> = f.read_new().iter().map(|r| r.time_nano).collect();
        assert!(seen.starts_with(&[2]), "{seen:?}");
        assert_eq!(seen.last(), Some(&10));
        assert!(fs::metadata(rotated_path(dir.path())).unwrap().len() >= max);
        assert!(!dir.path().join(format!("{EVENTS_FILE}.2")).exists());
    }

    #[test]
    fn the_log_is_bounded_to_two_generations() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..200 {
            append(dir.path(), &rec(n, "kill"), 1000).unwrap();
        }
        let cur = fs::metadata(log_path(dir.path())).unwrap().len();
        let old = fs::metadata(rotated_path(dir.path())).unwrap().len();
        assert!(cur < 1000 + 200 && old < 1000 + 200, "{cur} {old}");
    }

    #[test]
    fn torn_and_partial_lines_are_skipped_or_kept_for_later() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(log_path(dir.path()), b"{not json\n").unwrap();
        let mut f = EventFollower::open(dir.path(), true).unwrap();
        assert!(f.read_new().is_empty());
        let mut line = serde_json::to_vec(&rec(5, "pause")).unwrap();
        line.push(b'\n');
        let mut w = OpenOptions::new()
            .append(true)
            .open(log_path(dir.path()))
            .unwrap();
        w.write_all(&line[..10]).unwrap();
        assert!(f.read_new().is_empty());
        w.write_all(&line[10..]).unwrap();
        assert_eq!(f.read_new()[0].action, "pause");
    }

    #[test]
    fn waiting_wakes_up_on_an_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = EventFollower::open(dir.path(), false).unwrap();
        let root = dir.path().to_path_buf();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            append(&root, &rec(7, "unpause"), MAX_LOG_BYTES).unwrap();
        });
        let started = Instant::now();
        let got = f.next_batch(Duration::from_secs(5));
        t.join().unwrap();
        assert_eq!(got.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
