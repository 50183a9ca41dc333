//! Container log lines as docker compose prints them for `up` (attached) and `logs`: a
//! `name | ` prefix padded to the longest name seen so far and coloured from docker's palette in
//! first-seen order, optional timestamps, and the status lines (`web-1 exited with code 0`).

use std::io::{self, Write};
use std::time::SystemTime;

use super::gofmt::{Zone, rfc3339_nano_fixed};
use crate::cli::Ansi;

/// docker compose's palette, in the order containers get it: cyan, yellow, green, magenta,
/// blue, then the same colours bold.
const RAINBOW: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];
/// The name docker compose's file watcher logs under (shown with a `⦿` marker).
pub const WATCH_LOGGER: &str = "#watch";
const WATCH_COLOR: &str = "92";
/// Clears the terminal line before a status message.
const RESET_LINE: &str = "\r\x1b[K";
/// What `up` prints on the first Ctrl+C (to stdout).
pub const GRACEFUL_STOP: &str = "Gracefully Stopping... press Ctrl+C again to force";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Colour prefixes and status lines (off with `--no-color`, `--ansi never`, or when
    /// `--ansi auto` and stdout is not a terminal: see [`use_color`]).
    pub color: bool,
    /// Print the `name | ` prefix (off with `--no-log-prefix`).
    pub prefix: bool,
    /// Put the line's timestamp after the prefix (`up --timestamps`, `logs --timestamps`).
    pub timestamps: bool,
    /// Zone of the timestamps: docker prints `logs` timestamps in UTC (the daemon's) and `up`
    /// timestamps in the local zone.
    pub zone: Zone,
}

/// Whether log output is coloured: docker compose's `--ansi` rule (auto means stdout is a
/// terminal), `--no-color`, and a non-empty `NO_COLOR` in the environment.
pub fn use_color(ansi: Ansi, stdout_is_tty: bool, no_color_flag: bool, no_color_env: bool) -> bool {
    let ansi_ok = match ansi {
        Ansi::Always => true,
        Ansi::Auto => stdout_is_tty,
        Ansi::Never => false,
    };
    ansi_ok && !no_color_flag && !no_color_env
}

#[derive(Debug, Clone)]
struct Presenter {
    name: String,
    /// ANSI SGR code, `None` for monochrome.
    color: Option<&'static str>,
    prefix: String,
}

impl Presenter {
    fn paint(&self, s: &str) -> String {
        paint(self.color, s)
    }
}

fn paint(color: Option<&str>, s: &str) -> String {
    match color {
        Some(code) => format!("\x1b[{code}m{s}\x1b[0m"),
        None => s.to_owned(),
    }
}

/// Formats the log lines and status lines of a set of containers. Not thread-safe by itself:
/// share it behind a mutex so lines stay whole.
#[derive(Debug, Clone)]
pub struct LogPrinter {
    opts: LogOptions,
    presenters: Vec<Presenter>,
    next_color: usize,
    /// Longest name so far plus one: the prefix column width.
    width: usize,
}

impl LogPrinter {
    pub fn new(opts: LogOptions) -> Self {
        LogPrinter {
            opts,
            presenters: Vec::new(),
            next_color: 0,
            width: 0,
        }
    }

    /// Gives `name` its colour and widens the prefix column. docker compose registers a
    /// container on its first line, so earlier lines of others keep a narrower prefix; calling
    /// this up front is allowed but differs from docker.
    pub fn register(&mut self, name: &str) {
        if self.presenter(name).is_some() {
            return;
        }
        let color = self.color_for(name);
        self.presenters.push(Presenter {
            name: name.to_owned(),
            color,
            prefix: String::new(),
        });
        self.width = self
            .presenters
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(0)
            + 1;
        if self.opts.prefix {
            let width = self.width;
            for p in &mut self.presenters {
                p.prefix = prefix_for(p, width);
            }
        }
    }

    fn color_for(&mut self, name: &str) -> Option<&'static str> {
        // A name with a space ("web-1 post_start") belongs to the container before the space.
        if let Some((root, _)) = name.split_once(' ') {
            self.register(root);
            return self.presenter(root).and_then(|p| p.color);
        }
        if !self.opts.color || name.is_empty() {
            return None;
        }
        if name == WATCH_LOGGER {
            return Some(WATCH_COLOR);
        }
        let color = RAINBOW[self.next_color];
        self.next_color = (self.next_color + 1) % RAINBOW.len();
        Some(color)
    }

    fn presenter(&self, name: &str) -> Option<&Presenter> {
        self.presenters.iter().find(|p| p.name == name)
    }

    fn prefix(&mut self, name: &str) -> String {
        self.register(name);
        self.presenter(name)
            .map(|p| p.prefix.clone())
            .unwrap_or_default()
    }

    /// One line of a container's output (`line` without its newline), as the bytes to print:
    /// `web-1  | 2026-11-23T03:24:06.576932810Z hello\n`.
    pub fn format_line(&mut self, container: &str, timestamp: SystemTime, line: &[u8]) -> Vec<u8> {
        let mut out = self.prefix(container).into_bytes();
        if self.opts.timestamps {
            out.extend_from_slice(rfc3339_nano_fixed(timestamp, &self.opts.zone).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        out
    }

    /// Writes one formatted line in a single write. docker compose sends an attached
    /// container's stderr lines to stderr and everything else (all of `logs`) to stdout; the
    /// caller picks `w` accordingly.
    pub fn write_line(
        &mut self,
        w: &mut impl Write,
        container: &str,
        timestamp: SystemTime,
        line: &[u8],
    ) -> io::Result<()> {
        w.write_all(&self.format_line(container, timestamp, line))
    }

    /// A status line about a container, in its colour: `\r\x1b[Kweb-1 exited with code 0\n`.
    pub fn status(&mut self, w: &mut impl Write, container: &str, msg: &str) -> io::Result<()> {
        self.register(container);
        let color = self.presenter(container).and_then(|p| p.color);
        let text = paint(color, &format!("{RESET_LINE}{container} {msg}\n"));
        w.write_all(text.as_bytes())
    }

    /// `web-1 exited with code 0` (with ` (restarting)` when the restart policy restarts it).
    pub fn exited(
        &mut self,
        w: &mut impl Write,
        container: &str,
        code: i32,
        restarting: bool,
    ) -> io::Result<()> {
        let suffix = if restarting { " (restarting)" } else { "" };
        self.status(w, container, &format!("exited with code {code}{suffix}"))
    }

    /// `web-1 has been recreated` (printed under the replaced container's name).
    pub fn recreated(&mut self, w: &mut impl Write, container: &str) -> io::Result<()> {
        self.status(w, container, "has been recreated")
    }
}

fn prefix_for(p: &Presenter, width: usize) -> String {
    if p.name == WATCH_LOGGER {
        return p.paint(&format!("{} ⦿ ", " ".repeat(width)));
    }
    // Go pads `%-*s` by characters while the width counts bytes; keep both quirks.
    let pad = width.saturating_sub(p.name.chars().count());
    p.paint(&format!("{}{} | ", p.name, " ".repeat(pad)))
}

/// `Attaching to database-1, web-1`: container names without the project prefix, sorted.
pub fn attaching(w: &mut impl Write, names: &[&str]) -> io::Result<()> {
    let mut names = names.to_vec();
    names.sort_unstable();
    writeln!(w, "Attaching to {}", names.join(", "))
}

/// `Aborting on container exit...` (to stderr, red and bold unless `NO_COLOR` is set).
pub fn aborting(w: &mut impl Write, color: bool) -> io::Result<()> {
    let msg = "Aborting on container exit...";
    if color {
        writeln!(w, "\x1b[31m\x1b[1m{msg}\x1b[0m")
    } else {
        writeln!(w, "{msg}")
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
