//! The live progress view (docker compose's `ttyWriter`): a `[+] Running 2/4` title and one
//! line per resource with a spinner, then a tick or cross, its status and elapsed time, redrawn
//! in place every 100 ms by a background thread and once more on `finish()`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DRY_RUN_PREFIX, Line, LineState, Palette};
use crate::engine::progress::{Event, ProgressSink};

const TICK: Duration = Duration::from_millis(100);
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SPINNER_STOPPED: &str = "⠿";
/// Child completion marks, from empty to full.
const PERCENT_CHARS: [&str; 9] = ["⠀", "⡀", "⣀", "⣄", "⣤", "⣦", "⣶", "⣷", "⣿"];

/// Terminal size in columns and rows; -1 when unknown (what docker's goterm reports when stdout
/// is not a terminal: no alignment, no line clearing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub width: i64,
    pub height: i64,
}

impl TermSize {
    /// The size of the terminal on stdout (docker compose measures stdout, not stderr).
    pub fn of_stdout() -> TermSize {
        match terminal_size::terminal_size_of(std::io::stdout()) {
            Some((w, h)) => TermSize {
                width: i64::from(w.0),
                height: i64::from(h.0),
            },
            None => TermSize {
                width: -1,
                height: -1,
            },
        }
    }
}

/// docker's spinner: it moves one step per redraw once 100 ms have passed since it was made.
#[derive(Debug, Clone)]
struct Spinner {
    created: Instant,
    index: usize,
    stopped: bool,
}

impl Spinner {
    fn next(&mut self, now: Instant) -> &'static str {
        if self.stopped {
            return SPINNER_STOPPED;
        }
        if now.saturating_duration_since(self.created) > Duration::from_millis(100) {
            self.index = (self.index + 1) % SPINNER.len();
        }
        SPINNER[self.index]
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    line: Line,
    start: Instant,
    end: Option<Instant>,
    spinner: Spinner,
}

impl Tracked {
    fn stop(&mut self, now: Instant) {
        self.end = Some(now);
        self.spinner.stopped = true;
    }
}

/// The state behind the view and the frame renderer, clock passed in.
#[derive(Debug, Clone)]
pub(crate) struct View {
    title: String,
    palette: Palette,
    dry_run: bool,
    ids: Vec<String>,
    events: HashMap<String, Tracked>,
    repeated: bool,
    num_lines: usize,
    skip_children: bool,
}

impl View {
    pub fn new(title: &str, palette: Palette, dry_run: bool) -> Self {
        View {
            title: title.to_owned(),
            palette,
            dry_run,
            ids: Vec::new(),
            events: HashMap::new(),
            repeated: false,
            num_lines: 0,
            skip_children: false,
        }
    }

    pub fn event(&mut self, e: Line, now: Instant) {
        if !self.ids.contains(&e.id) {
            self.ids.push(e.id.clone());
        }
        let Some(last) = self.events.get_mut(&e.id) else {
            let mut t = Tracked {
                start: now,
                end: None,
                spinner: Spinner {
                    created: now,
                    index: 0,
                    stopped: false,
                },
                line: e,
            };
            // docker stops the clock of a line first seen done or failed (not of a warning).
            if matches!(t.line.state, LineState::Done | LineState::Error) {
                t.stop(now);
            }
            self.events.insert(t.line.id.clone(), t);
            return;
        };
        match e.state {
            LineState::Working => last.spinner.stopped = false,
            s if s != last.line.state => last.stop(now),
            _ => {}
        }
        let l = &mut last.line;
        l.state = e.state;
        l.text = e.text;
        l.status_text = e.status_text;
        // Progress only goes up.
        l.total = l.total.max(e.total);
        l.current = l.current.max(e.current);
        l.percent = l.percent.max(e.percent);
        // Setting or clearing a parent is fine; swapping it would make the view flicker.
        if l.parent_id.is_empty() || e.parent_id.is_empty() {
            l.parent_id = e.parent_id;
        }
    }

    fn num_done(&self) -> usize {
        let done = |t: &&Tracked| t.line.state != LineState::Working;
        self.events.values().filter(done).count()
    }

    /// One redraw: cursor back over the previous frame, then the title and the lines.
    pub fn frame(&mut self, now: Instant, size: TermSize) -> String {
        if self.ids.is_empty() {
            return String::new();
        }
        let mut out = "\x1b[1A".repeat(self.num_lines + 1);
        if !self.repeated {
            out.push_str("\x1b[1B");
        }
        self.repeated = true;
        out.push_str("\x1b[0G\x1b[?25l");

        let done = self.num_done();
        let mut first = format!("[+] {} {}/{}", self.title, done, self.events.len());
        if self.num_lines != 0 && done == self.num_lines {
            first = self.palette.blue(&first);
        }
        out.push_str(&first);
        out.push('\n');

        let status_padding = self.status_padding();
        if self.ids.len() as i64 > size.height - 2 {
            self.skip_children = true;
        }
        let mut num_lines = 0;
        for id in self.ids.clone() {
            if !self.events[&id].line.parent_id.is_empty() {
                continue;
            }
            out.push_str(&self.line_text(&id, "", now, size.width, status_padding));
            num_lines += 1;
            if self.skip_children {
                continue;
            }
            for child in self.ids.clone() {
                if self.events[&child].line.parent_id == id {
                    out.push_str(&self.line_text(&child, "  ", now, size.width, status_padding));
                    num_lines += 1;
                }
            }
        }
        // Blank out lines left over from a longer previous frame.
        let drawn = num_lines;
        for _ in drawn..self.num_lines {
            if (num_lines as i64) < size.height - 2 {
                out.push_str(&" ".repeat(size.width.max(0) as usize));
                out.push('\n');
                num_lines += 1;
            }
        }
        self.num_lines = num_lines;
        out.push_str("\x1b[?25h");
        out
    }

    /// Width of the widest `id text`, less 2 for each child line met along the way (docker's
    /// arithmetic, kept as is).
    fn status_padding(&self) -> i64 {
        let mut padding: i64 = 0;
        for id in &self.ids {
            let l = &self.events[id].line;
            padding = padding.max((l.id.len() + 1 + l.text.len()) as i64);
            if !l.parent_id.is_empty() {
                padding -= 2;
            }
        }
        padding
    }

    fn line_text(&mut self, id: &str, pad: &str, now: Instant, width: i64, padding: i64) -> String {
        let details = self.children_progress(id);
        let palette = self.palette;
        let prefix = if self.dry_run {
            palette.prefix(DRY_RUN_PREFIX)
        } else {
            String::new()
        };
        let Some(t) = self.events.get_mut(id) else {
            return String::new();
        };
        let end = match t.line.state {
            LineState::Working => now,
            _ => t.end.unwrap_or(t.start),
        };
        let elapsed = end.saturating_duration_since(t.start).as_secs_f64();
        let l = &t.line;
        let txt = match details {
            Some(d) => format!(
                "{} [{}]{} {}",
                l.id,
                palette.success(&d.marks),
                d.sizes,
                l.text
            ),
            None => format!("{} {}", l.id, l.text),
        };
        let text_len = txt.len() as i64;
        let fill = (padding - text_len).max(0) as usize;
        let max_status = width - text_len - padding - 15;
        let mut status = l.status_text.clone();
        if max_status > 0 && status.len() as i64 > max_status {
            status = format!("{}...", cut_at(&status, max_status as usize));
        }
        let (state, status) = (l.state, palette.status(l.state, &status));
        let spinner = match state {
            LineState::Done => palette.success("✔"),
            LineState::Warning => palette.warning("!"),
            LineState::Error => palette.error("✘"),
            LineState::Working => palette.yellow(t.spinner.next(now)),
        };
        let left = format!("{pad} {spinner}{prefix} {txt}{} {status}", " ".repeat(fill));
        let timer = palette.blue(&format!("{elapsed:.1}s "));
        align(&left, &timer, width)
    }

    /// Completion marks and byte counts of a working line's children (image layers).
    fn children_progress(&self, id: &str) -> Option<ChildProgress> {
        let parent = &self.events.get(id)?.line;
        if parent.state != LineState::Working {
            return None;
        }
        let (mut hide, mut total, mut current) = (false, 0i64, 0i64);
        let mut marks = String::new();
        for child_id in &self.ids {
            let c = &self.events[child_id].line;
            if c.parent_id != id {
                continue;
            }
            if c.state == LineState::Working && c.total == 0 {
                hide = true;
            }
            total += c.total;
            current += c.current;
            let idx = ((PERCENT_CHARS.len() as i64 - 1) * c.percent / 100).clamp(0, 8);
            marks.push_str(PERCENT_CHARS[idx as usize]);
        }
        if marks.is_empty() {
            return None;
        }
        let sizes = if hide || total == 0 {
            String::new()
        } else {
            let human = |n: i64| super::super::gofmt::human_size_with_precision(n as f64, 4);
            format!(" {:>7} / {:<7}", human(current), human(total))
        };
        Some(ChildProgress { marks, sizes })
    }
}

struct ChildProgress {
    marks: String,
    sizes: String,
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn cut_at(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `l`, then spaces so that `r` ends at column `width`, then `r` and a newline.
fn align(l: &str, r: &str, width: i64) -> String {
    let count = width - visible_len(l) as i64 - visible_len(r) as i64;
    let pad = " ".repeat(count.max(0) as usize);
    format!("{l}{pad}{r}\n")
}

/// Characters outside `ESC ... m` sequences.
fn visible_len(s: &str) -> usize {
    let mut len = 0;
    let mut in_code = false;
    for c in s.chars() {
        match c {
            '\x1b' => in_code = true,
            'm' if in_code => in_code = false,
            _ if !in_code => len += 1,
            _ => {}
        }
    }
    len
}

struct Shared {
    state: Mutex<Screen>,
    stop: Mutex<bool>,
    wake: Condvar,
}

struct Screen {
    view: View,
    out: Box<dyn Write + Send>,
    size: fn() -> TermSize,
    finished: bool,
}

impl Screen {
    fn draw(&mut self) {
        let frame = self.view.frame(Instant::now(), (self.size)());
        // Progress is best effort: a closed stderr must not fail the operation.
        let _ = self
            .out
            .write_all(frame.as_bytes())
            .and_then(|()| self.out.flush());
    }
}

/// The live view as a sink; the redraw thread lives until `finish()` (or drop).
pub struct Tty {
    shared: Arc<Shared>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Tty {
    /// Starts the redraw thread. `size` is asked for the terminal size at every frame.
    pub fn new(
        out: Box<dyn Write + Send>,
        title: &str,
        palette: Palette,
        dry_run: bool,
        size: fn() -> TermSize,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(Screen {
                view: View::new(title, palette, dry_run),
                out,
                size,
                finished: false,
            }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let ticker_shared = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("progress-tty".into())
            .spawn(move || tick(&ticker_shared))
            .ok();
        Tty {
            shared,
            ticker: Mutex::new(ticker),
        }
    }
}

fn tick(shared: &Shared) {
    loop {
        let Ok(stop) = shared.stop.lock() else { return };
        let Ok((stop, _)) = shared.wake.wait_timeout_while(stop, TICK, |s| !*s) else {
            return;
        };
        if *stop {
            return;
        }
        drop(stop);
        if let Ok(mut screen) = shared.state.lock() {
            screen.draw();
        }
    }
}

impl ProgressSink for Tty {
    fn event(&self, event: Event) {
        if let Ok(mut screen) = self.shared.state.lock() {
            screen.view.event(Line::from_event(&event), Instant::now());
        }
    }

    fn finish(&self) {
        if let Ok(mut stop) = self.shared.stop.lock() {
            *stop = true;
        }
        self.shared.wake.notify_all();
        let handle = self.ticker.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        if let Ok(mut screen) = self.shared.state.lock()
            && !screen.finished
        {
            screen.finished = true;
            screen.draw();
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        self.finish();
    }
}
