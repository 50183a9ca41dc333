//! The processes of a running container, as `docker top` shows them (dockerd runs `ps -ef` and
//! keeps the container's pids): read from `/proc` for every pid of the container's cgroup
//! (found through its init's `/proc/<pid>/cgroup`), with `ps -ef`'s columns
//! `UID PID PPID C STIME TTY TIME CMD`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Local, TimeZone};

use super::Engine;
use super::error::Result;

/// `ps -ef`'s column titles.
pub const TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One running container's processes (`top`).
#[derive(Debug, Clone)]
pub struct ContainerTop {
    pub name: String,
    pub service: String,
    /// The container number; empty for a one-off container.
    pub replica: String,
    /// One row per process, in [`TITLES`] order.
    pub processes: Vec<Vec<String>>,
}

/// What `/proc/<pid>/stat` and friends say about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    pid: i32,
    ppid: i32,
    comm: String,
    tty_nr: u64,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    /// Since boot, in clock ticks.
    start_ticks: u64,
}

/// Parses `/proc/<pid>/stat` (the command name may hold spaces and parentheses).
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // f[0] is field 3 (state).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        comm,
        tty_nr: num(4)?,
        cpu_ticks: num(11)? + num(12)?,
        start_ticks: num(19)?,
    })
}

/// The host's clock facts `ps` computes with.
#[derive(Debug, Clone, Copy)]
struct Clock {
    hertz: u64,
    /// Seconds since the epoch at boot.
    boot_time: i64,
    /// Seconds since boot, now.
    uptime: f64,
    now: i64,
}

impl Clock {
    fn read() -> Option<Clock> {
        let hertz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|h| u64::try_from(h).ok())
            .filter(|h| *h > 0)?;
        let boot_time = fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let uptime = fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Clock {
            hertz,
            boot_time,
            uptime,
            now: chrono::Utc::now().timestamp(),
        })
    }
}

/// `ps`'s `C`: lifetime CPU use in percent, at most 99.
fn cpu_percent(stat: &Stat, clock: &Clock) -> u64 {
    let elapsed = clock.uptime - stat.start_ticks as f64 / clock.hertz as f64;
    if elapsed <= 0.0 {
        return 0;
    }
    let per_mille = (stat.cpu_ticks as f64 * 1000.0 / clock.hertz as f64) / elapsed;
    ((per_mille / 10.0) as u64).min(99)
}

/// `ps`'s `STIME`: `HH:MM` today, `MonDD` this year, else the year (local time).
fn start_time<Tz: TimeZone>(started: DateTime<Tz>, now: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if started.year() != now.year() {
        started.format("%Y").to_string()
    } else if started.ordinal() != now.ordinal() {
        started.format("%b%d").to_string()
    } else {
        started.format("%H:%M").to_string()
    }
}

/// `ps`'s `TIME`: cumulative CPU time, `[DD-]HH:MM:SS`.
fn cpu_time(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match d {
        0 => format!("{h:02}:{m:02}:{s:02}"),
        d => format!("{d}-{h:02}:{m:02}:{s:02}"),
    }
}

/// `ps`'s `TTY` from `tty_nr`: `?` without one, `pts/N`, `ttyN`, `ttySN`.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// User names by uid from the host's `/etc/passwd` (ps shows the host's names).
fn user_names() -> BTreeMap<u32, String> {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// Effective uid from `/proc/<pid>/status`.
fn effective_uid(pid: i32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The command line, or `[comm]` when it is empty (kernel threads, zombies).
fn command_line(pid: i32, comm: &str) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        format!("[{comm}]")
    } else {
        args.join(" ")
    }
}

/// The cgroup directories (with sub-cgroups) holding `pid`, from `/proc/<pid>/cgroup`: the
/// `pids` or `memory` hierarchy on cgroup v1, the unified one otherwise.
fn cgroup_dirs_of(pid: i32) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        match controllers {
            "" => {
                candidates.push(root.join("unified").join(rel));
                candidates.push(root.join(rel));
            }
            c if c.split(',').any(|c| c == "pids" || c == "memory") => {
                candidates.insert(0, root.join(c).join(rel));
            }
            _ => {}
        }
    }
    candidates
        .into_iter()
        .find(|d| pids_under(d).contains(&pid))
        .map(|d| walk(&d))
        .unwrap_or_default()
}

fn pids_under(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `dir` and its sub-cgroups.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

/// The processes of the container whose init is `init_pid`, by pid, as `ps -ef` rows.
pub fn container_processes(init_pid: i32) -> Vec<Vec<String>> {
    let mut pids: Vec<i32> = cgroup_dirs_of(init_pid)
        .iter()
        .flat_map(|d| pids_under(d))
        .collect();
    if pids.is_empty() {
        pids.push(init_pid);
    }
    pids.sort_unstable();
    pids.dedup();
    let Some(clock) = Clock::read() else {
        return Vec::new();
    };
    let users = user_names();
    pids.into_iter()
        .filter_map(|pid| {
            let stat = parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
            Some(ps_row(&stat, &clock, &users))
        })
        .collect()
}

fn ps_row(stat: &Stat, clock: &Clock, users: &BTreeMap<u32, String>) -> Vec<String> {
    let uid = effective_uid(stat.pid);
    // ps prints the numeric uid when the name does not fit its 8 columns.
    let user = uid
        .and_then(|u| users.get(&u).filter(|n| n.len() <= 8).cloned())
        .or_else(|| uid.map(|u| u.to_string()))
        .unwrap_or_else(|| "?".into());
    let started = clock.boot_time + (stat.start_ticks / clock.hertz) as i64;
    let stime = match (
        Local.timestamp_opt(started, 0).single(),
        Local.timestamp_opt(clock.now, 0).single(),
    ) {
        (Some(s), Some(n)) => start_time(s, n),
        _ => "?".into(),
    };
    vec![
        user,
        stat.pid.to_string(),
        stat.ppid.to_string(),
        cpu_percent(stat, clock).to_string(),
        stime,
        tty_name(stat.tty_nr),
        cpu_time(stat.cpu_ticks / clock.hertz),
        command_line(stat.pid, &stat.comm),
    ]
}

impl Engine {
    /// The processes of the project's running containers (one-offs included) of `services`
    /// (all when empty), sorted by container name.
    pub fn top(&self, project: &str, services: &[String]) -> Result<Vec<ContainerTop>> {
        let mut out: Vec<ContainerTop> = self
            .project_containers(project, true)?
            .into_iter()
            .filter(|c| c.is_running())
            .filter(|c| services.is_empty() || services.iter().any(|s| s == c.service()))
            .filter_map(|c| {
                let pid = c.info.state.pid?;
                Some(ContainerTop {
                    name: c.name().to_string(),
                    service: c.service().to_string(),
                    replica: c.labels.number.map(|n| n.to_string()).unwrap_or_default(),
                    processes: container_processes(pid),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn stat_with_spaces_in_the_name() {
        let text = "42 (my (odd) name) S 7 42 42 34816 42 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000 10 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 42,
                ppid: 7,
                comm: "my (odd) name".into(),
                tty_nr: 34816,
                cpu_ticks: 300,
                start_ticks: 12345,
            }
        );
        assert_eq!(tty_name(s.tty_nr), "pts/0");
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(4 << 8 | 1), "tty1");
    }

    #[test]
    fn times_as_ps_prints_them() {
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(3723), "01:02:03");
        assert_eq!(cpu_time(2 * 86400 + 61), "2-00:01:01");
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        let at = |mo, d, h, mi| Utc.with_ymd_and_hms(2026, mo, d, h, mi, 0).unwrap();
        assert_eq!(start_time(at(11, 23, 3, 47), now), "03:47");
        assert_eq!(start_time(at(11, 22, 23, 59), now), "Nov22");
        let last_year = Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(start_time(last_year, now), "2025");
    }

    #[test]
    fn cpu_percent_is_lifetime_share_capped() {
        let clock = Clock {
            hertz: 100,
            boot_time: 0,
            uptime: 200.0,
            now: 0,
        };
        let stat = |cpu, start| Stat {
            pid: 1,
            ppid: 0,
            comm: "x".into(),
            tty_nr: 0,
            cpu_ticks: cpu,
            start_ticks: start,
        };
        // 10 s of CPU over 100 s of life.
        assert_eq!(cpu_percent(&stat(1000, 10000), &clock), 10);
        assert_eq!(cpu_percent(&stat(100000, 10000), &clock), 99);
        assert_eq!(cpu_percent(&stat(5, 20000), &clock), 0);
    }

    #[test]
    fn this_process_is_listed() {
        let me = std::process::id() as i32;
        let rows = container_processes(me);
        let mine = rows
            .iter()
            .find(|r| r[1] == me.to_string())
            .expect("own row");
        assert_eq!(mine.len(), TITLES.len());
        assert!(!mine[7].is_empty());
    }
}
