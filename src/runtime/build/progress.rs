//! Build progress: steps ("vertices") start, print output, finish cached, done or failed; the
//! [`PlainProgress`] renderer prints them the way BuildKit's `--progress plain` does:
//!
//! ```text
//! #4 [web build 2/3] RUN make
//! #4 0.412 cc -o app main.c
//! #4 DONE 1.2s
//!
//! #5 [web 2/2] COPY --from=build /app /app
//! #5 CACHED
//! ```
//!
//! Vertex numbers are shared by every build of one command, so the parallel builds of several
//! services never reuse a number.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What happened to a vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    Started {
        id: u64,
        name: String,
    },
    /// A line of the step's output; `at` is the time since the step started.
    Output {
        id: u64,
        at: Duration,
        line: String,
    },
    Cached {
        id: u64,
    },
    Done {
        id: u64,
        elapsed: Duration,
    },
    Failed {
        id: u64,
        message: String,
    },
}

/// Where build events go.
pub trait BuildProgress: Send + Sync {
    fn event(&self, event: BuildEvent);
}

/// Drops everything (`build -q`).
pub struct QuietProgress;

impl BuildProgress for QuietProgress {
    fn event(&self, _: BuildEvent) {}
}

/// Numbers vertices and prefixes their names (`[web build 2/3]`) for one build.
#[derive(Clone)]
pub struct Reporter {
    sink: Arc<dyn BuildProgress>,
    next: Arc<AtomicU64>,
    /// The service being built (compose builds), shown in front of the stage.
    prefix: Option<String>,
}

impl Reporter {
    pub fn new(sink: Arc<dyn BuildProgress>) -> Self {
        Reporter {
            sink,
            next: Arc::new(AtomicU64::new(1)),
            prefix: None,
        }
    }

    /// The same sink and numbering, with `prefix` (a service name) in vertex names.
    pub fn with_prefix(&self, prefix: Option<&str>) -> Self {
        Reporter {
            sink: self.sink.clone(),
            next: self.next.clone(),
            prefix: prefix.map(str::to_string),
        }
    }

    /// Start a vertex named `[<prefix> <label>] <text>` (or `<text>` with no label).
    pub fn vertex(&self, label: Option<&str>, text: &str) -> Vertex {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tag = match (&self.prefix, label) {
            (Some(p), Some(l)) => format!("[{p} {l}] "),
            (Some(p), None) => format!("[{p}] "),
            (None, Some(l)) => format!("[{l}] "),
            (None, None) => String::new(),
        };
        let name = format!("{tag}{text}");
        self.sink.event(BuildEvent::Started { id, name });
        Vertex {
            id,
            sink: self.sink.clone(),
            start: Instant::now(),
            finished: false,
        }
    }
}

/// A running vertex; dropping it unfinished reports it done.
pub struct Vertex {
    id: u64,
    sink: Arc<dyn BuildProgress>,
    start: Instant,
    finished: bool,
}

impl Vertex {
    pub fn output(&self, line: &str) {
        self.sink.event(BuildEvent::Output {
            id: self.id,
            at: self.start.elapsed(),
            line: line.to_string(),
        });
    }

    pub fn cached(mut self) {
        self.finished = true;
        self.sink.event(BuildEvent::Cached { id: self.id });
    }

    pub fn done(mut self) {
        self.finished = true;
        self.sink.event(BuildEvent::Done {
            id: self.id,
            elapsed: self.start.elapsed(),
        });
    }

    pub fn failed(mut self, message: &str) {
        self.finished = true;
        self.sink.event(BuildEvent::Failed {
            id: self.id,
            message: message.to_string(),
        });
    }
}

impl Drop for Vertex {
    fn drop(&mut self) {
        if !self.finished {
            self.sink.event(BuildEvent::Done {
                id: self.id,
                elapsed: self.start.elapsed(),
            });
        }
    }
}

/// BuildKit's plain output on a writer (stderr for the CLI).
pub struct PlainProgress<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> PlainProgress<W> {
    pub fn new(out: W) -> Self {
        PlainProgress {
            out: Mutex::new(out),
        }
    }

    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        }
    }
}

/// `1.2s`, `0.0s`: BuildKit's one-decimal seconds.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl<W: Write + Send> BuildProgress for PlainProgress<W> {
    fn event(&self, event: BuildEvent) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        let _ = match event {
            BuildEvent::Started { id, name } => writeln!(out, "\n#{id} {name}"),
            BuildEvent::Output { id, at, line } => {
                writeln!(out, "#{id} {:.3} {line}", at.as_secs_f64())
            }
            BuildEvent::Cached { id } => writeln!(out, "#{id} CACHED"),
            BuildEvent::Done { id, elapsed } => writeln!(out, "#{id} DONE {}", secs(elapsed)),
            BuildEvent::Failed { id, message } => writeln!(out, "#{id} ERROR: {message}"),
        };
        let _ = out.flush();
    }
}

/// The lines around `line` (1-based) of a Dockerfile, BuildKit's error excerpt:
///
/// ```text
/// Dockerfile:3
/// --------------------
///    2 |     COPY . /src
///    3 | >>> RUN make
///    4 |     CMD ["app"]
/// --------------------
/// ```
pub fn excerpt(file: &str, text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = line.saturating_sub(3).max(1);
    let last = (line + 2).min(lines.len());
    let mut s = format!("{file}:{line}\n--------------------\n");
    for n in first..=last {
        let marker = if n == line { ">>>" } else { "   " };
        let body = lines.get(n - 1).copied().unwrap_or_default();
        s.push_str(&format!(" {n:>3} | {marker} {body}\n"));
    }
    s.push_str("--------------------\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_reads_like_buildkit() {
        let sink = Arc::new(PlainProgress::new(Vec::new()));
        let r = Reporter::new(sink.clone()).with_prefix(Some("web"));
        let v = r.vertex(Some("build 2/3"), "RUN make");
        v.output("cc -o app main.c");
        v.failed("exit code: 2");
        r.vertex(Some("1/2"), "FROM docker.io/lab/busybox:1")
            .cached();
        drop(r);
        let out = String::from_utf8(
            Arc::try_unwrap(sink)
                .ok()
                .expect("only reference")
                .into_inner(),
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "#1 [web build 2/3] RUN make");
        assert!(lines[2].starts_with("#1 0.0") && lines[2].ends_with(" cc -o app main.c"));
        assert_eq!(lines[3], "#1 ERROR: exit code: 2");
        assert_eq!(lines[5], "#2 [web 1/2] FROM docker.io/lab/busybox:1");
        assert_eq!(lines[6], "#2 CACHED");
    }

    #[test]
    fn excerpt_marks_the_line() {
        let text = "FROM x\nCOPY . /\nRUN false\nCMD [\"a\"]\n";
        let e = excerpt("Dockerfile", text, 3);
        assert!(e.starts_with("Dockerfile:3\n"));
        assert!(e.contains("   3 | >>> RUN false\n"), "{e}");
        assert!(e.contains("   1 |     FROM x\n"));
        assert!(e.contains("   4 |     CMD [\"a\"]\n"));
    }
}
