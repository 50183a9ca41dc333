//! The json-file log writer: one JSON object per line, like docker's json-file driver
//! (`{"log":"...\n","stream":"stdout","time":"<RFC3339Nano>"}`), with size rotation
//! (`container.log` → `container.log.1` → ...).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::runtime::container::spec::LogConfig;

/// Longest line kept in one record; longer output is split (docker uses 16 KiB too).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize)]
struct Record<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

pub struct LogWriter {
    path: PathBuf,
    cfg: LogConfig,
    file: File,
    size: u64,
}

impl LogWriter {
    pub fn open(path: &Path, cfg: LogConfig) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            cfg,
            file,
            size,
        })
    }

    /// Appends one record (`data` normally ends with `\n`).
    pub fn write(&mut self, stream: &str, data: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(data);
        let rec = Record {
            log: &text,
            stream,
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let mut line = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if let Some(max) = self.cfg.max_size
            && self.size > 0
            && self.size + line.len() as u64 > max
        {
            self.rotate()?;
        }
        if let Err(e) = self.file.write_all(&line) {
            // A partial record (a full disk) would glue itself to the next one: cut it off.
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.cfg.max_file.max(1);
        let name = |i: u32| {
            let mut s = self.path.as_os_str().to_owned();
            s.push(format!(".{i}"));
            PathBuf::from(s)
        };
        if keep == 1 {
            self.file.set_len(0)?;
        } else {
            let _ = fs::remove_file(name(keep - 1));
            for i in (1..keep - 1).rev() {
                let _ = fs::rename(name(i), name(i + 1));
            }
            fs::rename(&self.path, name(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Splits a pipe's byte stream into log lines.
#[derive(Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes and returns the complete lines (each with its `\n`, or `MAX_LINE` long).
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                out.push(self.buf.drain(..=pos).collect());
            } else if self.buf.len() >= MAX_LINE {
                out.push(self.buf.drain(..MAX_LINE).collect());
            } else {
                break;
            }
        }
        out
    }

    /// The unterminated rest, at EOF.
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.buf))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_rotation() {
        let mut lb = LineBuffer::default();
        assert_eq!(lb.push(b"a\nb"), vec![b"a\n".to_vec()]);
        assert_eq!(lb.push(b"c\n"), vec![b"bc\n".to_vec()]);
        assert_eq!(lb.flush(), None);

        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("c.log");
        let mut w = LogWriter::open(
            &p,
            LogConfig {
                max_size: Some(200),
                max_file: 3,
            },
        )
        .expect("open");
        for i in 0..20 {
            w.write("stdout", format!("line {i}\n").as_bytes())
                .expect("write");
        }
        assert!(p.exists());
        assert!(d.path().join("c.log.1").exists());
        assert!(d.path().join("c.log.2").exists());
        assert!(!d.path().join("c.log.3").exists());
        let last = fs::read_to_string(&p).expect("read");
        assert!(last.contains("line 19\\n"));
        assert!(fs::metadata(&p).expect("meta").len() <= 200);
    }
}
