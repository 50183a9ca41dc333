//! Log printing against docker compose v2.40.3 captures (`testdata/logs-*`): project `att`,
//! `web` printing `web hello`, `web err` (stderr) and `web bye` a second apart, `database`
//! printing `db ready` after half a second and exiting 2.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn at(h: u64, m: u64, s: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_795_392_000 + h * 3600 + m * 60 + s, nanos)
}

fn opts(color: bool, prefix: bool, timestamps: bool) -> LogOptions {
    LogOptions {
        color,
        prefix,
        timestamps,
        zone: Zone::Utc,
    }
}

/// Replays the captured `up` session; returns (stdout, stderr) as printed.
fn replay_up(opts: LogOptions, times: [SystemTime; 4]) -> (String, String) {
    let mut p = LogPrinter::new(opts);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    attaching(&mut out, &["web-1", "database-1"]).unwrap();
    p.write_line(&mut out, "web-1", times[0], b"web hello")
        .unwrap();
    p.write_line(&mut out, "database-1", times[1], b"db ready")
        .unwrap();
    p.write_line(&mut err, "web-1", times[2], b"web err")
        .unwrap();
    p.write_line(&mut out, "web-1", times[3], b"web bye")
        .unwrap();
    p.exited(&mut out, "web-1", 0, false).unwrap();
    p.exited(&mut out, "database-1", 2, false).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn last_line(s: &str) -> String {
    format!("{}\n", s.lines().last().unwrap())
}

#[test]
fn attached_up_without_colors() {
    let t = at(3, 24, 0, 0);
    let (out, err) = replay_up(opts(false, true, false), [t; 4]);
    assert_eq!(out, include_str!("testdata/logs-up-attached.stdout"));
    assert_eq!(
        err,
        last_line(include_str!("testdata/logs-up-attached.stderr"))
    );
}

#[test]
fn attached_up_with_colors() {
    let t = at(3, 24, 0, 0);
    let (out, err) = replay_up(opts(true, true, false), [t; 4]);
    assert_eq!(out, include_str!("testdata/logs-up-attached-color.stdout"));
    assert_eq!(err, include_str!("testdata/logs-up-attached-color.stderr"));
}

#[test]
fn attached_up_without_prefix() {
    let t = at(3, 24, 0, 0);
    let (out, _) = replay_up(opts(true, false, false), [t; 4]);
    assert_eq!(out, include_str!("testdata/logs-up-noprefix-color.stdout"));
}

#[test]
fn attached_up_with_timestamps() {
    let times = [
        at(3, 25, 53, 837_577_950),
        at(3, 25, 54, 370_075_210),
        at(3, 25, 55, 0),
        at(3, 25, 55, 840_425_635),
    ];
    let (out, _) = replay_up(opts(false, true, true), times);
    assert_eq!(out, include_str!("testdata/logs-up-nocolor-ts.stdout"));

    let times = [
        at(3, 25, 57, 335_195_564),
        at(3, 25, 57, 813_044_186),
        at(3, 25, 58, 0),
        at(3, 25, 59, 338_397_745),
    ];
    let (out, _) = replay_up(opts(true, true, true), times);
    assert_eq!(out, include_str!("testdata/logs-up-color-ts.stdout"));
}

#[test]
fn logs_command_interleaving_and_timestamps() {
    // `logs` streams each container's whole log; web's lines came first, then database's
    // (its prefix widened the column from then on).
    let captured = include_str!("testdata/logs-logs-ts-color.stdout");
    let mut p = LogPrinter::new(opts(true, true, true));
    let mut out = Vec::new();
    let lines = [
        ("web-1", at(3, 24, 6, 576_932_810), "web hello"),
        ("web-1", at(3, 24, 7, 579_952_760), "web err"),
        ("database-1", at(3, 24, 7, 90_295_849), "db ready"),
        ("web-1", at(3, 24, 8, 581_209_280), "web bye"),
        ("web-1", at(3, 24, 12, 666_458_812), "web hello"),
        ("web-1", at(3, 24, 13, 668_663_853), "web err"),
        ("web-1", at(3, 24, 14, 669_974_829), "web bye"),
        ("database-1", at(3, 24, 13, 166_853_128), "db ready"),
    ];
    // database-1 registered (first line) between web's second and third line, but docker
    // printed it later: the registration order is what the prefixes show.
    let mut database_out = Vec::new();
    for (name, ts, line) in lines {
        if name == "database-1" {
            p.write_line(&mut database_out, name, ts, line.as_bytes())
                .unwrap();
        } else {
            p.write_line(&mut out, name, ts, line.as_bytes()).unwrap();
        }
    }
    out.extend(database_out);
    assert_eq!(String::from_utf8(out).unwrap(), captured);
}

#[test]
fn logs_command_without_colors() {
    // Here database's stream registered first, so every line has the wide prefix.
    let mut p = LogPrinter::new(opts(false, true, false));
    let mut out = Vec::new();
    let t = at(3, 24, 0, 0);
    for _ in 0..2 {
        p.write_line(&mut out, "database-1", t, b"db ready")
            .unwrap();
    }
    for _ in 0..2 {
        for line in ["web hello", "web err", "web bye"] {
            p.write_line(&mut out, "web-1", t, line.as_bytes()).unwrap();
        }
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("testdata/logs-logs.stdout")
    );
}

#[test]
fn status_lines_and_child_names() {
    let mut p = LogPrinter::new(opts(true, true, false));
    let mut out = Vec::new();
    p.write_line(&mut out, "web-1 post_start", at(0, 0, 0, 0), b"hook")
        .unwrap();
    p.exited(&mut out, "web-1", 1, true).unwrap();
    p.recreated(&mut out, "db-1").unwrap();
    let got = String::from_utf8(out).unwrap();
    assert_eq!(
        got,
        "\x1b[36mweb-1 post_start  | \x1b[0mhook\n\
         \x1b[36m\r\x1b[Kweb-1 exited with code 1 (restarting)\n\x1b[0m\
         \x1b[33m\r\x1b[Kdb-1 has been recreated\n\x1b[0m"
    );
}

#[test]
fn palette_cycles_through_ten_colors() {
    let mut p = LogPrinter::new(opts(true, false, false));
    let mut out = Vec::new();
    for i in 0..11 {
        p.status(&mut out, &format!("c{i}"), "x").unwrap();
    }
    let got = String::from_utf8(out).unwrap();
    let codes: Vec<&str> = got
        .split("\x1b[0m")
        .filter_map(|s| s.strip_prefix("\x1b[")?.split('m').next())
        .collect();
    assert_eq!(
        codes,
        [
            "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1", "36"
        ]
    );
}

#[test]
fn color_rule_follows_ansi_flag_and_no_color() {
    assert!(use_color(Ansi::Auto, true, false, false));
    assert!(!use_color(Ansi::Auto, false, false, false));
    assert!(use_color(Ansi::Always, false, false, false));
    assert!(!use_color(Ansi::Always, true, true, false));
    assert!(!use_color(Ansi::Always, true, false, true));
    assert!(!use_color(Ansi::Never, true, false, false));
}

#[test]
fn banner_sorts_names_and_abort_notice() {
    let mut out = Vec::new();
    attaching(&mut out, &["web-1", "db-1", "api-1"]).unwrap();
    aborting(&mut out, true).unwrap();
    aborting(&mut out, false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Attaching to api-1, db-1, web-1\n\
         \x1b[31m\x1b[1mAborting on container exit...\x1b[0m\n\
         Aborting on container exit...\n"
    );
}
