//! Progress renderers for the engine's events, as docker compose v2.40 draws them on stderr:
//! `--progress plain` lines, `--progress json` objects, the live `tty` view and `quiet`; and the
//! rule that picks one from `--progress`, `--ansi` and whether stderr is a terminal.

mod json;
mod plain;
mod tty;

use std::io::Write;

use thiserror::Error;

pub use json::{Json, error_json};
pub use plain::Plain;
pub use tty::{TermSize, Tty};

use crate::cli::{Ansi, Progress};
pub use crate::engine::progress::Quiet;
use crate::engine::progress::{Event, ProgressSink, ResourceKind, Status};

/// Printed before every line in `--dry-run` mode.
const DRY_RUN_PREFIX: &str = " DRY-RUN MODE - ";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProgressError {
    #[error("can't use --progress tty while ANSI support is disabled")]
    TtyWithoutAnsi,
    #[error("can't use --progress plain while ANSI support is forced")]
    PlainWithAnsi,
}

/// The renderer a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

/// docker compose's choice: `--ansi never` means plain, `--ansi always` means tty, and `auto`
/// means tty when stderr is a terminal; an explicit `--progress` wins unless it contradicts
/// `--ansi`.
pub fn resolve_mode(
    progress: Option<Progress>,
    ansi: Ansi,
    stderr_is_tty: bool,
) -> Result<Mode, ProgressError> {
    let by_ansi = match ansi {
        Ansi::Never => Mode::Plain,
        Ansi::Always => Mode::Tty,
        Ansi::Auto if stderr_is_tty => Mode::Tty,
        Ansi::Auto => Mode::Plain,
    };
    match (progress, ansi) {
        (None | Some(Progress::Auto), _) => Ok(by_ansi),
        (Some(Progress::Tty), Ansi::Never) => Err(ProgressError::TtyWithoutAnsi),
        (Some(Progress::Tty), _) => Ok(Mode::Tty),
        (Some(Progress::Plain), Ansi::Always) => Err(ProgressError::PlainWithAnsi),
        (Some(Progress::Plain), _) => Ok(Mode::Plain),
        (Some(Progress::Json), _) => Ok(Mode::Json),
        (Some(Progress::Quiet), _) => Ok(Mode::Quiet),
    }
}

/// Everything that decides how progress is shown.
#[derive(Debug, Clone)]
pub struct ProgressConfig {
    pub progress: Option<Progress>,
    pub ansi: Ansi,
    pub stderr_is_tty: bool,
    /// `NO_COLOR` is set and not empty: the tty view draws without colours.
    pub no_color: bool,
    pub dry_run: bool,
    /// The tty view's title: `Running` for up/down/start, else the command's verb
    /// (`Creating`, `Pulling`, `Stopping`, `Removing`, `Restarting`, `Killing`, `Pausing`...).
    pub title: String,
}

/// The sink for `cfg`, writing to `out` (docker compose writes progress to stderr). The tty
/// view sizes itself from the terminal on stdout each frame, as docker compose does.
pub fn new_sink(
    cfg: &ProgressConfig,
    out: Box<dyn Write + Send>,
) -> Result<Box<dyn ProgressSink>, ProgressError> {
    let mode = resolve_mode(cfg.progress, cfg.ansi, cfg.stderr_is_tty)?;
    Ok(match mode {
        Mode::Quiet => Box::new(Quiet),
        Mode::Plain => Box::new(Plain::new(out, cfg.dry_run)),
        Mode::Json => Box::new(Json::new(out, cfg.dry_run)),
        Mode::Tty => Box::new(Tty::new(
            out,
            &cfg.title,
            Palette::new(!cfg.no_color),
            cfg.dry_run,
            TermSize::of_stdout,
        )),
    })
}

/// Whether progress that happens while `up` is attached (stopping on Ctrl+C) goes through the
/// log printer as status lines instead of a progress view: only with `--progress auto`,
/// `--ansi auto` and stderr on a terminal; otherwise docker compose prints plain lines there.
pub fn progress_in_logs(progress: Option<Progress>, ansi: Ansi, stderr_is_tty: bool) -> bool {
    matches!(progress, None | Some(Progress::Auto)) && matches!(ansi, Ansi::Auto) && stderr_is_tty
}

/// The status text for [`crate::cli::output::logs::LogPrinter::status`] with an empty
/// container name, for progress shown among the logs: `Container p-web-1  Stopping`, the
/// status in green whatever it is (docker compose's `mixedWriter`).
pub fn log_status_text(event: &Event, palette: Palette) -> String {
    let line = Line::from_event(event);
    format!(
        "{} {} {}",
        line.id,
        line.text,
        palette.success(&line.status_text)
    )
}

/// One progress line the way docker compose models it: an id (`Container p-web-1`), an
/// optional text, and a status text, with a coarse status that picks spinner and colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub id: String,
    pub parent_id: String,
    pub text: String,
    pub state: LineState,
    pub status_text: String,
    pub current: i64,
    pub total: i64,
    pub percent: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineState {
    Working,
    Done,
    Warning,
    Error,
}

impl Line {
    /// Maps an engine event to docker's shape. Resource events read `<Kind> <name>  <Status>`
    /// (`Container p-web-1  Created`); errors and warnings show their detail as the status.
    /// Image pulls are keyed by name alone with the status as text (` web Pulling `), as docker
    /// compose keys them by service.
    pub fn from_event(e: &Event) -> Line {
        let state = match e.status {
            Status::Error => LineState::Error,
            Status::Warning => LineState::Warning,
            s if s.is_done() => LineState::Done,
            _ => LineState::Working,
        };
        let word = e.status.as_str();
        let detail = e.detail.clone();
        let is_pull = e.kind == ResourceKind::Image
            && matches!(e.status, Status::Pulling | Status::Pulled | Status::Error);
        let (id, text, status_text) = if is_pull {
            (e.name.clone(), word.to_owned(), detail.unwrap_or_default())
        } else {
            let status_text = match (state, detail) {
                (LineState::Error | LineState::Warning, Some(d)) => d,
                // What a project waits for (another command's lock) is the whole message.
                (_, Some(d)) if e.kind == ResourceKind::Project => d,
                _ => word.to_owned(),
            };
            let id = format!("{} {}", e.kind.as_str(), e.name);
            (id, String::new(), status_text)
        };
        Line {
            id,
            parent_id: String::new(),
            text,
            state,
            status_text,
            current: 0,
            total: 0,
            percent: 0,
        }
    }
}

/// docker compose's progress colours (aec codes); all off with `NO_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    enabled: bool,
}

impl Palette {
    pub fn new(enabled: bool) -> Self {
        Palette { enabled }
    }

    fn apply(self, codes: &str, s: &str) -> String {
        if self.enabled {
            format!("{codes}{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// The title once everything is done, and the elapsed time.
    fn blue(self, s: &str) -> String {
        self.apply("\x1b[34m", s)
    }
    /// The spinner.
    fn yellow(self, s: &str) -> String {
        self.apply("\x1b[33m", s)
    }
    fn warning(self, s: &str) -> String {
        self.apply("\x1b[33m\x1b[1m", s)
    }
    fn success(self, s: &str) -> String {
        self.apply("\x1b[32m", s)
    }
    pub fn error(self, s: &str) -> String {
        self.apply("\x1b[31m\x1b[1m", s)
    }
    fn prefix(self, s: &str) -> String {
        self.apply("\x1b[36m", s)
    }

    fn status(self, state: LineState, s: &str) -> String {
        match state {
            LineState::Done => self.success(s),
            LineState::Warning => self.warning(s),
            LineState::Error => self.error(s),
            LineState::Working => s.to_owned(),
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
