//! Following several containers' logs at once (attached `up`, `logs -f`): one reader thread per
//! container feeds a channel; the caller's thread prints each line as it arrives (so lines come
//! out in arrival order) and learns when a container has exited for good.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::output::Zone;
use super::output::logs::{self as out_logs, LogPrinter};
use crate::engine::Engine;
use crate::runtime::container::{LogEntry, LogOptions, LogStream, Runtime};

#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    pub prefix: bool,
    pub timestamps: bool,
    pub color: bool,
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    /// Drop entries from this time on (`--until`).
    pub until: Option<DateTime<Utc>>,
    /// Attached `up`: print `Attaching to ...` first and `NAME exited with code N` at each exit,
    /// send stderr lines to stderr and show local times (`logs` prints all to stdout, in UTC).
    pub banner: bool,
    /// Prefix to strip from container names (`<project>-`): docker shows `web-1`.
    pub strip: String,
}

enum Msg {
    Line(String, LogEntry),
    Exited(String, i32),
    /// A line of the file watcher's own log (`up --watch`).
    Note(String),
    /// Follow these containers too, from this time on (restarted or recreated by the watch).
    Follow(Vec<String>, DateTime<Utc>),
}

/// Lets another thread (the file watcher of `up --watch`) print among the logs and add
/// containers to follow.
#[derive(Clone)]
pub struct FollowHandle(mpsc::Sender<Msg>);

impl FollowHandle {
    pub fn note(&self, line: &str) {
        let _ = self.0.send(Msg::Note(line.to_string()));
    }

    pub fn follow(&self, containers: Vec<String>, since: DateTime<Utc>) {
        let _ = self.0.send(Msg::Follow(containers, since));
    }
}

/// What [`Follow::next`] saw.
pub enum Next {
    Exited {
        container: String,
        code: i32,
    },
    Idle,
    /// Every followed container has exited.
    Done,
}

pub struct Follow {
    rx: Receiver<Msg>,
    printer: LogPrinter,
    banner: bool,
    strip: String,
    until: Option<DateTime<Utc>>,
    remaining: usize,
    readers: Vec<JoinHandle<()>>,
    tx: mpsc::Sender<Msg>,
    rt: crate::runtime::container::ContainerRuntime,
    /// While set, the follow does not end when every container has exited (a watch may
    /// start them again).
    keep_alive: bool,
}

impl Follow {
    /// Start one reader per container. With `follow` false (plain `logs`), readers stop at the
    /// end of each log instead of waiting for more.
    pub fn start(engine: &Engine, containers: &[String], opts: FollowOptions) -> Self {
        Self::start_with(engine, containers, opts, true)
    }

    pub fn start_with(
        engine: &Engine,
        containers: &[String],
        opts: FollowOptions,
        follow: bool,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let printer = LogPrinter::new(out_logs::LogOptions {
            color: opts.color,
            prefix: opts.prefix,
            timestamps: opts.timestamps,
            zone: if opts.banner { Zone::Local } else { Zone::Utc },
        });
        if opts.banner && !containers.is_empty() {
            let shown: Vec<&str> = containers
                .iter()
                .map(|c| c.strip_prefix(opts.strip.as_str()).unwrap_or(c))
                .collect();
            let mut out = std::io::stdout().lock();
            let _ = out_logs::attaching(&mut out, &shown);
            let _ = out.flush();
        }
        let lopts = LogOptions {
            follow,
            tail: opts.tail,
            since: opts.since,
        };
        let readers = containers
            .iter()
            .map(|name| spawn_reader(&tx, &engine.containers, name, &lopts))
            .collect();
        Follow {
            rx,
            printer,
            banner: opts.banner,
            strip: opts.strip.clone(),
            until: opts.until,
            remaining: containers.len(),
            readers,
            tx,
            rt: engine.containers.clone(),
            keep_alive: false,
        }
    }

    /// A handle for other threads (see [`FollowHandle`]).
    pub fn handle(&self) -> FollowHandle {
        FollowHandle(self.tx.clone())
    }

    /// Keep following after every container has exited (until set back).
    pub fn keep_alive(&mut self, on: bool) {
        self.keep_alive = on;
    }

    /// Print what arrives within `wait`; report the first exit seen.
    pub fn next(&mut self, wait: Duration) -> Next {
        if self.remaining == 0 && !self.keep_alive {
            return Next::Done;
        }
        let msg = match self.rx.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return Next::Idle,
            Err(RecvTimeoutError::Disconnected) => return Next::Done,
        };
        match msg {
            Msg::Line(_, e) if self.until.is_some_and(|u| e.time >= u) => Next::Idle,
            Msg::Line(name, e) => {
                let shown = name.strip_prefix(self.strip.as_str()).unwrap_or(&name);
                let line = e.log.strip_suffix('\n').unwrap_or(&e.log);
                let bytes = self
                    .printer
                    .format_line(shown, e.time.into(), line.as_bytes());
                let _ = match (self.banner, e.stream) {
                    (true, LogStream::Stderr) => std::io::stderr().lock().write_all(&bytes),
                    _ => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&bytes).and_then(|()| out.flush())
                    }
                };
                Next::Idle
            }
            Msg::Note(line) => {
                let bytes = self.printer.format_line(
                    out_logs::WATCH_LOGGER,
                    std::time::SystemTime::now(),
                    line.as_bytes(),
                );
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&bytes).and_then(|()| out.flush());
                Next::Idle
            }
            Msg::Follow(names, since) => {
                let lopts = LogOptions {
                    follow: true,
                    tail: None,
                    since: Some(since),
                };
                for name in &names {
                    let r = spawn_reader(&self.tx, &self.rt, name, &lopts);
                    self.readers.push(r);
                }
                self.remaining += names.len();
                Next::Idle
            }
            Msg::Exited(name, code) => {
                self.remaining -= 1;
                if self.banner {
                    let shown = name.strip_prefix(self.strip.as_str()).unwrap_or(&name);
                    let mut out = std::io::stdout().lock();
                    let _ = self.printer.exited(&mut out, shown, code, false);
                    let _ = out.flush();
                }
                Next::Exited {
                    container: name,
                    code,
                }
            }
        }
    }

    /// Print everything until every container has exited (or its log ended).
    pub fn run_to_end(mut self) {
        while !matches!(self.next(Duration::from_millis(200)), Next::Done) {}
        self.join();
    }

    pub fn join(self) {
        drop(self.tx);
        drop(self.rx);
        for r in self.readers {
            let _ = r.join();
        }
    }
}

/// One container's reader: its log lines, then its exit. The container is resolved once, so a
/// replacement with the same name (a rebuild) is not taken for it.
fn spawn_reader(
    tx: &mpsc::Sender<Msg>,
    rt: &crate::runtime::container::ContainerRuntime,
    name: &str,
    lopts: &LogOptions,
) -> JoinHandle<()> {
    let (tx, name, rt, lopts) = (tx.clone(), name.to_string(), rt.clone(), lopts.clone());
    std::thread::spawn(move || {
        let key = rt.inspect(&name).map_or(name.clone(), |i| i.state.id);
        if let Ok(iter) = rt.logs(&key, &lopts) {
            for entry in iter {
                if tx.send(Msg::Line(name.clone(), entry)).is_err() {
                    return;
                }
            }
        }
        let code = match lopts.follow {
            true => rt.wait(&key).unwrap_or(-1),
            false => 0,
        };
        let _ = tx.send(Msg::Exited(name, code));
    })
}
