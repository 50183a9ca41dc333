//! Progress renderers against docker compose v2.40.3 captures (`testdata/progress-*`). The tty
//! captures were taken in a 100x40 pseudo-terminal; the tests replay the same events with a clock
//! that lands every redraw in the same tenth of a second as docker's did.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::json::{error_json, json_line};
use super::plain::plain_line;
use super::tty::View;
use super::*;
use crate::engine::progress::Event;

use ResourceKind::{Container, Image, Network};

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn ev(kind: ResourceKind, name: &str, status: Status) -> Event {
    Event::new(kind, name, status)
}

#[test]
fn plain_lines_match_docker_up() {
    let buf = SharedBuf::default();
    let sink = Plain::new(Box::new(buf.clone()), false);
    let net = "demo_default";
    sink.event(ev(Network, net, Status::Creating));
    sink.event(ev(Network, net, Status::Created));
    // The order docker's goroutines happened to finish in during the capture.
    for (status, names) in [
        (Status::Creating, ["web", "db", "job"]),
        (Status::Created, ["job", "web", "db"]),
        (Status::Starting, ["web", "db", "job"]),
        (Status::Started, ["db", "job", "web"]),
    ] {
        for name in names {
            sink.event(ev(Container, &format!("demo-{name}-1"), status));
        }
    }
    sink.finish();
    assert_eq!(
        buf.text(),
        include_str!("../testdata/progress-up-plain.txt")
    );
}

#[test]
fn plain_pull_lines_are_keyed_by_name() {
    let ok = include_str!("../testdata/progress-pull-ok-plain.txt");
    let pulling = Line::from_event(&ev(Image, "web", Status::Pulling));
    let pulled = Line::from_event(&ev(Image, "web", Status::Pulled));
    let want: String = ok.lines().skip(2).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        plain_line(&pulling, false) + &plain_line(&pulled, false),
        want
    );
    let failed = include_str!("../testdata/progress-pull-plain.txt");
    let msg =
        "manifest for 127.0.0.1:5000/lab/nothere:1 not found: manifest unknown: manifest unknown";
    let err = Line::from_event(&ev(Image, "missing", Status::Error).with_detail(msg));
    assert_eq!(
        plain_line(&err, false),
        format!("{}\n", failed.lines().nth(4).unwrap())
    );
}

#[test]
fn json_lines_match_docker_lifecycle() {
    let captured = include_str!("../testdata/progress-lifecycle.jsonl");
    let buf = SharedBuf::default();
    let sink = Json::new(Box::new(buf.clone()), false);
    let kill_error = "Error response from daemon: Cannot kill container: 69d18da59c4b6cb5f956a82efe3ae45a0ab83901a399fc1d2cba7cdd2f6bc818: Container 69d18da59c4b6cb5f956a82efe3ae45a0ab83901a399fc1d2cba7cdd2f6bc818 is not running";
    let steps = [
        ("db", Status::Stopping),
        ("db", Status::Stopped),
        ("db", Status::Starting),
        ("db", Status::Started),
        ("job", Status::Restarting),
        ("job", Status::Started),
        ("job", Status::Killing),
    ];
    for (s, status) in steps {
        sink.event(ev(Container, &format!("demo-{s}-1"), status));
    }
    sink.event(ev(Container, "demo-job-1", Status::Error).with_detail("Error while Killing"));
    let mut out = buf.text();
    out.push_str(&error_json(kill_error));
    let buf = SharedBuf::default();
    let sink = Json::new(Box::new(buf.clone()), false);
    let steps = [
        ("web", Status::Paused),
        ("web", Status::Unpaused),
        ("web", Status::Stopping),
        ("job", Status::Stopping),
        ("db", Status::Stopping),
        ("job", Status::Stopped),
        ("job", Status::Removing),
        ("job", Status::Removed),
        ("db", Status::Stopped),
        ("db", Status::Removing),
        ("db", Status::Removed),
        ("web", Status::Stopped),
        ("web", Status::Removing),
        ("web", Status::Removed),
    ];
    for (s, status) in steps {
        sink.event(ev(Container, &format!("demo-{s}-1"), status));
    }
    sink.event(ev(Network, "demo_default", Status::Removing));
    sink.event(ev(Network, "demo_default", Status::Removed));
    out.push_str(&buf.text());
    assert_eq!(out, captured);
}

#[test]
fn json_pull_lines_and_dry_run() {
    let pull = include_str!("../testdata/progress-pull.jsonl");
    let msg =
        "manifest for 127.0.0.1:5000/lab/nothere:1 not found: manifest unknown: manifest unknown";
    let lines = [
        json_line(&Line::from_event(&ev(Image, "web", Status::Pulling)), false),
        json_line(
            &Line::from_event(&ev(Image, "missing", Status::Pulling)),
            false,
        ),
        json_line(
            &Line::from_event(&ev(Image, "missing", Status::Error).with_detail(msg)),
            false,
        ),
    ];
    let want: Vec<String> = [2, 3, 4]
        .iter()
        .map(|&i| format!("{}\n", pull.lines().nth(i).unwrap()))
        .collect();
    assert_eq!(lines.to_vec(), want);
    let dry = json_line(
        &Line::from_event(&ev(Container, "p-a-1", Status::Created)),
        true,
    );
    assert_eq!(
        dry,
        "{\"dry-run\":true,\"id\":\"Container p-a-1\",\"status\":\"Created\"}\n"
    );
    let dry = plain_line(
        &Line::from_event(&ev(Container, "p-a-1", Status::Created)),
        true,
    );
    assert_eq!(dry, " DRY-RUN MODE -  Container p-a-1  Created\n");
}

/// Splits a capture into frames (each ends with the show-cursor sequence).
fn frames(capture: &str) -> Vec<String> {
    let mut v: Vec<String> = capture
        .split_inclusive("\x1b[?25h")
        .map(str::to_owned)
        .collect();
    if v.last().is_some_and(|f| !f.ends_with("\x1b[?25h")) {
        v.pop();
    }
    v
}

const TERM: TermSize = TermSize {
    width: 100,
    height: 40,
};

#[test]
fn tty_up_replays_frame_by_frame() {
    let t0 = Instant::now();
    let t = |s: f64| t0 + Duration::from_secs_f64(s);
    let mut view = View::new("Running", Palette::new(true), false);
    let containers = ["demo-web-1", "demo-db-1", "demo-job-1"];
    let line = |k, n: &str, s| Line::from_event(&ev(k, n, s));
    view.event(line(Network, "demo_default", Status::Creating), t(0.0));
    view.event(line(Network, "demo_default", Status::Created), t(0.1));
    for c in containers {
        view.event(line(Container, c, Status::Creating), t(0.12));
    }
    let mut got = String::new();
    for k in 0..12 {
        let now = 0.15 + 0.1 * f64::from(k);
        match k {
            1 => {
                for c in containers {
                    view.event(line(Container, c, Status::Created), t(0.2));
                    view.event(line(Container, c, Status::Starting), t(0.2));
                }
            }
            9 => view.event(line(Container, "demo-db-1", Status::Started), t(1.03)),
            11 => {
                view.event(line(Container, "demo-job-1", Status::Started), t(1.16));
                view.event(line(Container, "demo-web-1", Status::Started), t(1.23));
            }
            _ => {}
        }
        got.push_str(&view.frame(t(now), TERM));
    }
    let want = include_str!("../testdata/progress-tty-up.txt");
    for (i, (g, w)) in frames(&got).iter().zip(frames(want)).enumerate() {
        assert_eq!(g, &w, "frame {i}");
    }
    assert_eq!(got, want);
}

#[test]
fn tty_down_last_frames_turn_the_title_blue() {
    let t0 = Instant::now();
    let t = |s: f64| t0 + Duration::from_secs_f64(s);
    let mut view = View::new("Running", Palette::new(true), false);
    let line = |k, n: &str, s| Line::from_event(&ev(k, n, s));
    let (job, web, db) = ("demo-job-1", "demo-web-1", "demo-db-1");
    view.event(line(Container, job, Status::Removing), t(0.0));
    view.event(line(Container, job, Status::Removed), t(0.0));
    view.event(line(Container, web, Status::Stopping), t(0.0));
    view.event(line(Container, db, Status::Stopping), t(0.0));
    view.event(line(Container, db, Status::Stopped), t(10.0));
    view.event(line(Container, db, Status::Removing), t(10.01));
    view.event(line(Container, db, Status::Removed), t(10.2));
    view.frame(t(10.45), TERM);
    view.event(line(Container, web, Status::Stopped), t(10.46));
    view.event(line(Container, web, Status::Removing), t(10.47));
    view.event(line(Container, web, Status::Removed), t(10.5));
    view.event(line(Network, "demo_default", Status::Removing), t(10.52));
    let mut got = view.frame(t(10.55), TERM);
    got.push_str(&view.frame(t(10.65), TERM));
    view.event(line(Network, "demo_default", Status::Removed), t(10.72));
    got.push_str(&view.frame(t(10.75), TERM));
    let want = frames(include_str!("../testdata/progress-tty-down.txt"));
    assert_eq!(got, want[want.len() - 3..].concat());
}

#[test]
fn tty_without_terminal_size_does_not_align() {
    // `--ansi always` with stdout redirected: docker draws the view, but unaligned.
    let t0 = Instant::now();
    let t = |s: f64| t0 + Duration::from_secs_f64(s);
    let mut view = View::new("Running", Palette::new(true), false);
    let line = |k, n: &str, s| Line::from_event(&ev(k, n, s));
    view.event(line(Network, "demo_default", Status::Creating), t(0.0));
    view.event(line(Network, "demo_default", Status::Created), t(0.1));
    for c in ["demo-job-1", "demo-web-1", "demo-db-1"] {
        view.event(line(Container, c, Status::Creating), t(0.12));
    }
    let unknown = TermSize {
        width: -1,
        height: -1,
    };
    let got = view.frame(t(0.15), unknown);
    let want = frames(include_str!("../testdata/progress-tty-nowidth-up.txt"));
    assert_eq!(got, want[0]);
}

#[test]
fn tty_errors_warnings_and_truncated_status() {
    let t0 = Instant::now();
    let mut view = View::new("Pulling", Palette::new(false), false);
    let msg =
        "manifest for 127.0.0.1:5000/lab/nothere:1 not found: manifest unknown: manifest unknown";
    view.event(
        Line::from_event(&ev(Image, "missing", Status::Error).with_detail(msg)),
        t0,
    );
    view.event(
        Line::from_event(&ev(Container, "p-a-1", Status::Warning).with_detail("still in use")),
        t0,
    );
    let frame = view.frame(
        t0,
        TermSize {
            width: 60,
            height: 40,
        },
    );
    assert_eq!(
        frame,
        "\x1b[1A\x1b[1B\x1b[0G\x1b[?25l[+] Pulling 2/2\n \
         ✘ missing Error    manifest for 127...                0.0s \n \
         ! Container p-a-1  still in use                       0.0s \n\x1b[?25h"
    );
}

#[test]
fn tty_sink_draws_a_final_frame_on_finish() {
    let buf = SharedBuf::default();
    fn size() -> TermSize {
        TermSize {
            width: 40,
            height: 10,
        }
    }
    let sink = Tty::new(
        Box::new(buf.clone()),
        "Running",
        Palette::new(false),
        false,
        size,
    );
    sink.event(ev(Container, "p-a-1", Status::Creating));
    sink.event(ev(Container, "p-a-1", Status::Created));
    sink.finish();
    sink.finish();
    let text = buf.text();
    let last = frames(&text).pop().unwrap();
    assert!(
        last.contains("[+] Running 1/1\n ✔ Container p-a-1  Created"),
        "{last:?}"
    );
    assert_eq!(text.matches("Running 1/1").count(), frames(&text).len());
}

#[test]
fn mode_follows_docker_rules() {
    use Ansi::{Always, Auto, Never};
    assert_eq!(resolve_mode(None, Auto, true), Ok(Mode::Tty));
    assert_eq!(resolve_mode(None, Auto, false), Ok(Mode::Plain));
    assert_eq!(
        resolve_mode(Some(Progress::Auto), Always, false),
        Ok(Mode::Tty)
    );
    assert_eq!(resolve_mode(None, Never, true), Ok(Mode::Plain));
    assert_eq!(
        resolve_mode(Some(Progress::Tty), Auto, false),
        Ok(Mode::Tty)
    );
    assert_eq!(
        resolve_mode(Some(Progress::Tty), Never, true),
        Err(ProgressError::TtyWithoutAnsi)
    );
    assert_eq!(
        resolve_mode(Some(Progress::Plain), Always, true),
        Err(ProgressError::PlainWithAnsi)
    );
    assert_eq!(
        resolve_mode(Some(Progress::Plain), Auto, true),
        Ok(Mode::Plain)
    );
    assert_eq!(
        resolve_mode(Some(Progress::Json), Never, true),
        Ok(Mode::Json)
    );
    assert_eq!(
        resolve_mode(Some(Progress::Quiet), Always, true),
        Ok(Mode::Quiet)
    );
}

#[test]
fn progress_among_logs_matches_docker_mixed_writer() {
    // Captured from `docker compose up` in a terminal, Ctrl+C: the stop progress is printed as
    // log status lines with an empty container name.
    let mut printer =
        crate::cli::output::logs::LogPrinter::new(crate::cli::output::logs::LogOptions {
            color: true,
            prefix: true,
            timestamps: false,
            zone: crate::cli::output::Zone::Utc,
        });
    let mut out = Vec::new();
    for status in [Status::Stopping, Status::Stopped] {
        let text = log_status_text(&ev(Container, "mix-app-1", status), Palette::new(true));
        printer.status(&mut out, "", &text).unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\r\x1b[K Container mix-app-1  \x1b[32mStopping\x1b[0m\n\
         \r\x1b[K Container mix-app-1  \x1b[32mStopped\x1b[0m\n"
    );
    assert!(progress_in_logs(None, Ansi::Auto, true));
    assert!(!progress_in_logs(None, Ansi::Always, true));
    assert!(!progress_in_logs(Some(Progress::Plain), Ansi::Auto, true));
    assert!(!progress_in_logs(None, Ansi::Auto, false));
}
