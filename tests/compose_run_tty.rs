//! `rcompose run` at a terminal, and services with `tty: true`: the container's process gets a
//! pseudo-terminal (its size, resizes and Ctrl-C included), its exit code comes back, and its
//! output is in the log; `-T` and a pipe give plain streams, with stdin passed on. The user's
//! "terminal" is a pty the test holds, made rcompose's controlling terminal (so that a resize
//! signals rcompose, as a terminal emulator's does).

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::pty::{OpenptyResult, Winsize, openpty};
use support::compose::ComposeEnv;

const PROJECT: &str = r#"
services:
  app:
    image: lab/busybox:1
    command: ["sh"]
  term:
    image: lab/busybox:1
    tty: true
    command: ["sh", "-c", "test -t 0 && echo has-a-ter''minal; exec sh"]
"#;

/// The user's terminal: a pty whose slave is rcompose's stdin, stdout, stderr and controlling
/// terminal; the test types into and reads from the master.
struct Terminal {
    master: OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    fn new(rows: u16, cols: u16) -> (Self, OwnedFd) {
        let OpenptyResult { master, slave } =
            openpty(Some(&size(rows, cols)), None).expect("openpty");
        let mut f = File::from(master.try_clone().expect("dup"));
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = f.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let term = Terminal {
            master,
            output,
            seen: String::new(),
        };
        (term, slave)
    }

    /// Starts `cmd` on this terminal, in its own session with the terminal as its controlling
    /// terminal (what a shell in a terminal emulator gives a command).
    fn spawn(&self, slave: OwnedFd, mut cmd: Command) -> Child {
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().expect("spawn rcompose")
    }

    fn type_keys(&self, keys: &str) {
        File::from(self.master.try_clone().expect("dup"))
            .write_all(keys.as_bytes())
            .expect("type");
    }

    /// Collects output until `needle` shows up (generous deadline; a failure prints what came).
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("no {needle:?} on the terminal; it showed:\n{}", self.seen),
            }
        }
    }

    /// The window changes size (the kernel signals the terminal's foreground process group).
    fn resize(&self, rows: u16, cols: u16) {
        let ws = size(rows, cols);
        // SAFETY: TIOCSWINSZ reads one Winsize from the pointer, which outlives the call.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "resize the test terminal");
    }
}

fn size(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// The command's exit status (a generous deadline, after which it is killed: a failure, not a
/// hung test).
fn finished(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for rcompose") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rcompose did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The runtime's log file of container `name` (empty until there is one).
fn log_of(env: &ComposeEnv, name: &str) -> String {
    let dir = env.state_root().join("containers");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let state = std::fs::read(e.path().join("state.json")).unwrap_or_default();
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap_or_default();
        if state["name"] == name {
            return std::fs::read_to_string(e.path().join("container.log")).unwrap_or_default();
        }
    }
    String::new()
}

fn names(env: &ComposeEnv) -> Vec<String> {
    env.ps_json(&["-a"])
        .iter()
        .filter_map(|c| c["Name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn run_at_a_terminal_gets_an_interactive_shell() {
    require_root!();
    let env = ComposeEnv::new("runtty", PROJECT);
    let (mut term, slave) = Terminal::new(33, 101);
    let mut child = term.spawn(slave, env.command(&["run", "--rm", "app", "sh"]));

    // The shell's stdin is its controlling terminal, of our terminal's size; TERM is set.
    // (Quotes split the words to wait for, so the echo of the typed line does not match.)
    term.type_keys("test -t 0 && echo is-a-''tty; stty size; echo term=$TERM\r");
    term.wait_for("is-a-tty");
    term.wait_for("33 101");
    term.wait_for("term=xterm");
    term.type_keys("set -- $(cat /proc/self/stat); echo ct''ty=$7 end-of-''ctty\r");
    term.wait_for("end-of-ctty");
    let ctty = term
        .seen
        .rsplit("ctty=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    assert!(
        ctty != "0" && !ctty.is_empty(),
        "no controlling tty: {}",
        term.seen
    );

    // Our window grows: the container's terminal follows (the resize travels beside the keys,
    // so ask until it has arrived).
    term.resize(40, 120);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !term.seen.contains("40 120") {
        assert!(Instant::now() < deadline, "no resize: {}", term.seen);
        term.type_keys("stty size\r");
        std::thread::sleep(Duration::from_millis(200));
        while let Ok(chunk) = term.output.try_recv() {
            term.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    // Ctrl-C interrupts the foreground command in the container, not the shell.
    term.type_keys("sleep 60; echo sl''ept\r");
    std::thread::sleep(Duration::from_millis(300));
    term.type_keys("\x03");
    term.type_keys("echo after-inter''rupt\r");
    term.wait_for("\nafter-interrupt");
    assert!(!term.seen.contains("\nslept"), "{}", term.seen);

    // The shell's exit code is ours; --rm leaves nothing behind.
    term.type_keys("exit 7\r");
    let status = finished(&mut child);
    assert_eq!(status.code(), Some(7), "terminal showed:\n{}", term.seen);
    assert!(names(&env).is_empty(), "--rm removed it: {:?}", names(&env));
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn run_detached_at_a_terminal_keeps_its_terminal() {
    require_root!();
    let env = ComposeEnv::new("runttyd", PROJECT);
    let (term, slave) = Terminal::new(24, 80);
    let cmd = env.command(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "app",
        "sh",
        "-c",
        "test -t 0 && echo detached-with-a-tty; exec sh",
    ]);
    let status = finished(&mut term.spawn(slave, cmd));
    assert!(status.success(), "terminal showed:\n{}", term.seen);

    // The shell waits on its terminal, with nobody attached; its output is in the log (which
    // `logs` does not show for a one-off: read the runtime's file).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(&env, "keeper").contains("detached-with-a-tty") {
        assert!(Instant::now() < deadline, "{}", log_of(&env, "keeper"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let ps = env.ps_json(&["-a"]);
    let keeper = ps
        .iter()
        .find(|c| c["Name"] == "keeper")
        .expect("keeper listed");
    assert_eq!(keeper["State"], "running", "{keeper}");
    env.ok(&["down", "-t", "1"]);
    env.assert_clean();
}

#[test]
fn run_without_a_terminal_passes_stdin_and_plain_streams() {
    require_root!();
    let env = ComposeEnv::new("runpipe", PROJECT);

    // -T at a terminal: no TTY in the container, the exit code still comes back.
    let (mut term, slave) = Terminal::new(24, 80);
    let cmd = env.command(&[
        "run",
        "--rm",
        "-T",
        "app",
        "sh",
        "-c",
        "test -t 0 || echo no-tty-for-us; exit 3",
    ]);
    let status = finished(&mut term.spawn(slave, cmd));
    assert_eq!(status.code(), Some(3), "terminal showed:\n{}", term.seen);
    term.wait_for("no-tty-for-us");

    // From a pipe: what we pipe in is the command's stdin, until it ends.
    let mut child = env
        .command(&["run", "--rm", "app", "sh", "-c", "tr a-z A-Z; exit 4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"piped in\n").expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for run");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");
    assert!(names(&env).is_empty(), "{:?}", names(&env));
    env.ok(&["down"]);
    env.assert_clean();
}

#[test]
fn a_tty_service_under_up_has_a_terminal_and_logs_its_output() {
    require_root!();
    let env = ComposeEnv::new("uptty", PROJECT);
    env.ok(&["up", "-d", "term"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = env.ok(&["logs", "term"]);
        if logs.contains("has-a-terminal") {
            break;
        }
        assert!(Instant::now() < deadline, "not in the log:\n{logs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its shell waits on the terminal: still running.
    let ps = env.ps_json(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0]["State"], "running", "{:?}", ps[0]);
    env.ok(&["down", "-t", "1"]);
    env.assert_clean();
}
