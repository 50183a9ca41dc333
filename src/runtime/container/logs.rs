//! Reading a container's json-file log: all rotated files oldest first, `tail`, `since`, and
//! `follow` (until the container has exited for good), surviving rotation while following.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{IoContext, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub time: DateTime<Utc>,
    pub stream: LogStream,
    /// The line, including its trailing `\n` when it had one.
    pub log: String,
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last `n` records (of those after `since`).
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
}

fn parse(line: &str) -> Option<LogEntry> {
    serde_json::from_str(line.trim_end_matches('\n')).ok()
}

/// The rotated files `path.N` that exist, oldest (highest N) first: one directory listing
/// rather than a `stat` per possible N.
fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut numbered: Vec<(u32, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix(&prefix)?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    numbered.sort_unstable_by_key(|(n, _)| std::cmp::Reverse(*n));
    numbered.into_iter().map(|(_, p)| p).collect()
}

/// Iterator over log entries; in follow mode it blocks until new lines arrive or `is_done()`.
pub struct LogReader {
    path: PathBuf,
    pending: VecDeque<LogEntry>,
    follow: Option<Follow>,
    since: Option<DateTime<Utc>>,
    is_done: Box<dyn FnMut() -> bool + Send>,
}

struct Follow {
    reader: Option<BufReader<File>>,
    ino: u64,
    partial: String,
}

impl LogReader {
    /// Opens the log at `path` (rotated files are `path.1`, `path.2`, ...). `is_done` tells the
    /// follower that the container will produce no more output.
    pub fn open(
        path: PathBuf,
        opts: &LogOptions,
        is_done: Box<dyn FnMut() -> bool + Send>,
    ) -> Result<Self> {
        let files = rotated_files(&path);
        let mut entries: VecDeque<LogEntry> = VecDeque::new();
        for f in &files {
            if let Ok(file) = File::open(f) {
                for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
                    push_filtered(&mut entries, parse(&line), opts);
                }
            }
        }
        let mut follow = None;
        match File::open(&path) {
            Ok(file) => {
                let ino = file.metadata().ctx("stat log", &path)?.ino();
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = reader.read_line(&mut line).ctx("read log", &path)?;
                    if n == 0 {
                        break;
                    }
                    if !line.ends_with('\n') {
                        // A record being written: the follower picks it up from here.
                        let back = n as i64;
                        reader
                            .seek(SeekFrom::Current(-back))
                            .ctx("seek log", &path)?;
                        break;
                    }
                    push_filtered(&mut entries, parse(&line), opts);
                }
                if opts.follow {
                    follow = Some(Follow {
                        reader: Some(reader),
                        ino,
                        partial: String::new(),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if opts.follow {
                    follow = Some(Follow {
                        reader: None,
                        ino: 0,
                        partial: String::new(),
                    });
                }
            }
            Err(e) => return Err(super::error::ContainerError::io("open log", &path, e)),
        }
        if let Some(n) = opts.tail {
            while entries.len() > n {
                entries.pop_front();
            }
        }
        Ok(LogReader {
            path,
            pending: entries,
            follow,
            since: opts.since,
            is_done,
        })
    }

    /// Reads whatever is new in the followed file; returns whether anything was read.
    fn poll_file(&mut self) -> bool {
        let Some(f) = self.follow.as_mut() else {
            return false;
        };
        let mut got = false;
        // Reopen when the file was rotated (new inode) or appeared.
        if let Ok(meta) = std::fs::metadata(&self.path)
            && (f.reader.is_none() || meta.ino() != f.ino)
        {
            // Drain the old file first.
            if let Some(r) = f.reader.as_mut() {
                got |= read_lines(r, &mut f.partial, &mut self.pending, self.since);
            }
            if let Ok(file) = File::open(&self.path) {
                f.ino = meta.ino();
                f.reader = Some(BufReader::new(file));
                f.partial.clear();
            }
        }
        if let Some(r) = f.reader.as_mut() {
            got |= read_lines(r, &mut f.partial, &mut self.pending, self.since);
        }
        got
    }
}

fn read_lines(
    r: &mut BufReader<File>,
    partial: &mut String,
    out: &mut VecDeque<LogEntry>,
    since: Option<DateTime<Utc>>,
) -> bool {
    let mut got = false;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                partial.push_str(&line);
                if partial.ends_with('\n') {
                    if let Some(e) = parse(partial)
                        && since.is_none_or(|s| e.time >= s)
                    {
                        out.push_back(e);
                        got = true;
                    }
                    partial.clear();
                }
            }
        }
    }
    got
}

fn push_filtered(out: &mut VecDeque<LogEntry>, e: Option<LogEntry>, opts: &LogOptions) {
    if let Some(e) = e
        && opts.since.is_none_or(|s| e.time >= s)
    {
        out.push_back(e);
    }
}

impl Iterator for LogReader {
    type Item = LogEntry;

    fn next(&mut self) -> Option<LogEntry> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            self.follow.as_ref()?;
            if self.poll_file() {
                continue;
            }
            if (self.is_done)() {
                // One last read for lines written just before the exit.
                if self.poll_file() {
                    continue;
                }
                self.follow = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rotated_files;

    #[test]
    fn rotated_files_oldest_first_and_only_numbered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("container.log");
        for name in [
            "container.log",
            "container.log.1",
            "container.log.10",
            "container.log.2",
            "container.log.x",
            "monitor.log.3",
        ] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let got: Vec<String> = rotated_files(&log)
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            ["container.log.10", "container.log.2", "container.log.1"]
        );
    }
}
