//! Following several containers' logs at once (attached `up`, `logs -f`): one reader thread per
//! container feeds a channel; the caller's thread prints each line as it arrives (so lines come
//! out in arrival order) and learns when a container has exited for good.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::output::logs::{LogPrinter, PrinterOptions};
use crate::engine::Engine;
use crate::runtime::container::{LogEntry, LogOptions, Runtime};

#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    pub prefix: bool,
    pub timestamps: bool,
    pub color: bool,
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    /// Drop entries from this time on (`--until`).
    pub until: Option<DateTime<Utc>>,
    /// Print `Attaching to ...` first and `NAME exited with code N` at each exit (attached `up`).
    pub banner: bool,
}

enum Msg {
    Line(String, LogEntry),
    Exited(String, i32),
}

/// What [`Follow::next`] saw.
pub enum Next {
    Exited { container: String, code: i32 },
    Idle,
    /// Every followed container has exited.
    Done,
}

pub struct Follow {
    rx: Receiver<Msg>,
    printer: LogPrinter,
    banner: bool,
    until: Option<DateTime<Utc>>,
    remaining: usize,
    readers: Vec<JoinHandle<()>>,
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
        let printer = LogPrinter::new(
            containers,
            PrinterOptions {
                prefix: opts.prefix,
                timestamps: opts.timestamps,
                color: opts.color,
            },
        );
        if opts.banner && !containers.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = printer.attaching(&mut out, containers);
            let _ = out.flush();
        }
        let readers = containers
            .iter()
            .map(|name| {
                let (tx, name, rt) = (tx.clone(), name.clone(), engine.containers.clone());
                let lopts = LogOptions {
                    follow,
                    tail: opts.tail,
                    since: opts.since,
                };
                std::thread::spawn(move || {
                    if let Ok(iter) = rt.logs(&name, &lopts) {
                        for entry in iter {
                            if tx.send(Msg::Line(name.clone(), entry)).is_err() {
                                return;
                            }
                        }
                    }
                    let code = match follow {
                        true => rt.wait(&name).unwrap_or(-1),
                        false => 0,
                    };
                    let _ = tx.send(Msg::Exited(name, code));
                })
            })
            .collect();
        Follow {
            rx,
            printer,
            banner: opts.banner,
            until: opts.until,
            remaining: containers.len(),
            readers,
        }
    }

    /// Print what arrives within `wait`; report the first exit seen.
    pub fn next(&mut self, wait: Duration) -> Next {
        if self.remaining == 0 {
            return Next::Done;
        }
        let mut out = std::io::stdout().lock();
        let msg = match self.rx.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return Next::Idle,
            Err(RecvTimeoutError::Disconnected) => return Next::Done,
        };
        match msg {
            Msg::Line(_, e) if self.until.is_some_and(|u| e.time >= u) => Next::Idle,
            Msg::Line(name, e) => {
                let _ = self
                    .printer
                    .line(&mut out, &name, e.stream, e.time, e.log.as_bytes());
                let _ = out.flush();
                Next::Idle
            }
            Msg::Exited(name, code) => {
                self.remaining -= 1;
                if self.banner {
                    let _ = self.printer.exited(&mut out, &name, code);
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
        drop(self.rx);
        for r in self.readers {
            let _ = r.join();
        }
    }
}
