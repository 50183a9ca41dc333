//! `rcompose exec` at a terminal: the command gets a pseudo-terminal as its controlling
//! terminal (so an interactive shell works), keys typed reach it, its output comes back, and
//! its exit code is passed through. The "terminal" here is a pty the test holds, as a user's
//! terminal emulator would.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::pty::{OpenptyResult, Winsize, openpty};
use support::compose::ComposeEnv;

const PROJECT: &str = r#"
services:
  app:
    image: lab/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done"]
"#;

/// Everything the process writes to the terminal, collected by a thread.
fn reader(master: &OwnedFd) -> mpsc::Receiver<Vec<u8>> {
    let mut f = File::from(master.try_clone().expect("dup"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = f.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects output until `needle` shows up (generous deadline; a failure prints what came).
fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => panic!("no {needle:?} on the terminal; it showed:\n{seen}"),
        }
    }
}

#[test]
fn exec_at_a_terminal_gets_an_interactive_shell() {
    let env = ComposeEnv::new("tty", PROJECT);
    env.ok(&["up", "-d", "--wait"]);

    let size = Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let OpenptyResult { master, slave } = openpty(Some(&size), None).expect("openpty");
    let mut cmd = env.command(&["exec", "app", "sh"]);
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("spawn rcompose exec");
    let rx = reader(&master);
    let mut keys = File::from(master.try_clone().expect("dup"));
    let mut seen = String::new();

    // The shell's stdin is a terminal of the size ours has, and its controlling terminal
    // (field 7 of /proc/self/stat, tty_nr, is not 0).
    keys.write_all(b"test -t 0 && echo is-a-tty; stty size; echo term=$TERM\r")
        .expect("type");
    wait_for(&rx, &mut seen, "is-a-tty");
    wait_for(&rx, &mut seen, "33 101");
    wait_for(&rx, &mut seen, "term=xterm");
    keys.write_all(b"set -- $(cat /proc/self/stat); echo ctty=$7\r")
        .expect("type");
    wait_for(&rx, &mut seen, "ctty=");
    let ctty = seen
        .rsplit("ctty=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("");
    assert!(
        ctty != "0" && !ctty.is_empty(),
        "no controlling tty: {seen}"
    );

    // Ctrl-C interrupts the foreground command, not the shell.
    keys.write_all(b"sleep 60; echo slept\r").expect("type");
    std::thread::sleep(Duration::from_millis(300));
    keys.write_all(b"\x03").expect("type");
    keys.write_all(b"echo after-interrupt\r").expect("type");
    wait_for(&rx, &mut seen, "\nafter-interrupt");
    assert!(!seen.contains("\nslept"), "{seen}");

    keys.write_all(b"exit 7\r").expect("type");
    let status = child.wait().expect("wait for exec");
    assert_eq!(status.code(), Some(7), "terminal showed:\n{seen}");
}

#[test]
fn exec_with_no_tty_flag_or_no_terminal_uses_plain_streams() {
    let env = ComposeEnv::new("notty", PROJECT);
    env.ok(&["up", "-d", "--wait"]);
    // The test's stdin is no terminal: no TTY even without -T.
    let out = env.run(&[
        "exec",
        "app",
        "sh",
        "-c",
        "test -t 0 || echo no-tty; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no-tty");
}
