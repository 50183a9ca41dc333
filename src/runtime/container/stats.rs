//! Resource usage of a running container, read the way dockerd reads it: cgroup files (v1
//! hierarchies or the v2 unified tree, detected by `/sys/fs/cgroup/cgroup.controllers`) at
//! `/<cgroup_parent>/<id>`, the network counters of its namespace (`/proc/<pid>/net/dev`), and
//! the host's CPU time (`/proc/stat`), plus the figures docker's CLI derives from two samples.

use std::fs;
use std::path::{Path, PathBuf};

use super::cleanup::cgroup_dirs;
use super::error::Result;
use super::runtime::ContainerRuntime;
use super::spec::NetworkMode;

/// Raw counters of one container at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// CPU time used by the container, in nanoseconds.
    pub cpu_ns: u64,
    /// CPU time of the whole host (all CPUs, idle included), in nanoseconds.
    pub system_ns: u64,
    pub online_cpus: u32,
    /// Memory charged to the cgroup, and the part of it that is reclaimable page cache.
    pub mem_usage: u64,
    pub mem_inactive_file: u64,
    /// The cgroup's limit, capped at the host's memory like dockerd does.
    pub mem_limit: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub pids: u64,
}

/// What `stats` shows for a container (docker CLI's `StatsEntry`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
}

impl Usage {
    /// docker's figures from the previous and the current sample (no previous: CPU 0 %).
    pub fn between(prev: Option<&Sample>, cur: &Sample) -> Usage {
        let cpu_percent = prev.map_or(0.0, |p| {
            let cpu = cur.cpu_ns as f64 - p.cpu_ns as f64;
            let system = cur.system_ns as f64 - p.system_ns as f64;
            if cpu > 0.0 && system > 0.0 {
                cpu / system * f64::from(cur.online_cpus) * 100.0
            } else {
                0.0
            }
        });
        // docker's CLI leaves reclaimable page cache out of the usage.
        let memory = if cur.mem_inactive_file < cur.mem_usage {
            (cur.mem_usage - cur.mem_inactive_file) as f64
        } else {
            cur.mem_usage as f64
        };
        let memory_limit = cur.mem_limit as f64;
        Usage {
            cpu_percent,
            memory,
            memory_limit,
            memory_percent: if memory_limit > 0.0 {
                memory / memory_limit * 100.0
            } else {
                0.0
            },
            net_rx: cur.net_rx as f64,
            net_tx: cur.net_tx as f64,
            block_read: cur.blk_read as f64,
            block_write: cur.blk_write as f64,
            pids: cur.pids,
        }
    }
}

/// The cgroup files of one container.
struct Cgroup {
    v2: bool,
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    fn new(parent: &str, id: &str) -> Self {
        Cgroup {
            v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            dirs: cgroup_dirs(parent, id),
        }
    }

    /// The content of `file` in whichever hierarchy has it.
    fn read(&self, file: &str) -> Option<String> {
        self.dirs
            .iter()
            .find_map(|d| fs::read_to_string(d.join(file)).ok())
    }

    fn num(&self, file: &str) -> Option<u64> {
        self.read(file)?.trim().parse().ok()
    }

    fn cpu_ns(&self) -> u64 {
        if self.v2 {
            return self
                .read("cpu.stat")
                .and_then(|s| keyed(&s, "usage_usec"))
                .map_or(0, |us| us * 1000);
        }
        self.num("cpuacct.usage").unwrap_or(0)
    }

    /// (usage, inactive_file, limit).
    fn memory(&self) -> (u64, u64, u64) {
        let (usage, stat_key, limit) = if self.v2 {
            let limit = self
                .read("memory.max")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(u64::MAX);
            (self.num("memory.current"), "inactive_file", limit)
        } else {
            let limit = self.num("memory.limit_in_bytes").unwrap_or(u64::MAX);
            (
                self.num("memory.usage_in_bytes"),
                "total_inactive_file",
                limit,
            )
        };
        let inactive = self
            .read("memory.stat")
            .and_then(|s| keyed(&s, stat_key))
            .unwrap_or(0);
        (usage.unwrap_or(0), inactive, limit)
    }

    /// (read, write) bytes.
    fn block_io(&self) -> (u64, u64) {
        if self.v2 {
            let Some(s) = self.read("io.stat") else {
                return (0, 0);
            };
            let sum = |key: &str| -> u64 {
                s.split_whitespace()
                    .filter_map(|kv| kv.strip_prefix(key)?.parse::<u64>().ok())
                    .sum()
            };
            return (sum("rbytes="), sum("wbytes="));
        }
        let text = self
            .read("blkio.throttle.io_service_bytes_recursive")
            .filter(|s| s.lines().count() > 1)
            .or_else(|| self.read("blkio.io_service_bytes_recursive"))
            .unwrap_or_default();
        let (mut r, mut w) = (0, 0);
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [_dev, op, v] = f.as_slice() {
                let v: u64 = v.parse().unwrap_or(0);
                match op.as_bytes().first() {
                    Some(b'r' | b'R') => r += v,
                    Some(b'w' | b'W') => w += v,
                    _ => {}
                }
            }
        }
        (r, w)
    }
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Host CPU time from the `cpu` line of `/proc/stat`, in nanoseconds (as dockerd computes it).
fn system_ns() -> u64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks.saturating_mul(1_000_000_000 / hz)
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(1).max(1)
}

/// The host's memory (`MemTotal`), in bytes.
fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// Received and sent bytes over the interfaces of a `/proc/net/dev` table, loopback excepted
/// (dockerd counts the container's network endpoints only).
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

impl ContainerRuntime {
    /// A sample of container `key`, or `None` when it is not running (nothing to measure).
    pub fn stats_sample(&self, key: &str) -> Result<Option<Sample>> {
        let id = self.resolve(key)?;
        let state = self.reconcile(&id)?;
        let Some(pid) = state.pid.filter(|_| state.status.needs_monitor()) else {
            return Ok(None);
        };
        let stored = self.load_stored(&id)?;
        let cg = Cgroup::new(&stored.cgroup_parent, &id);
        let (mem_usage, mem_inactive_file, limit) = cg.memory();
        let (blk_read, blk_write) = cg.block_io();
        // With the host's network there is no endpoint of its own to count, as in docker.
        let (net_rx, net_tx) = match stored.spec.network {
            NetworkMode::Host => (0, 0),
            _ => parse_net_dev(
                &fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default(),
            ),
        };
        let sample = Sample {
            cpu_ns: cg.cpu_ns(),
            system_ns: system_ns(),
            online_cpus: online_cpus(),
            mem_usage,
            mem_inactive_file,
            mem_limit: limit.min(host_memory()),
            blk_read,
            blk_write,
            net_rx,
            net_tx,
            pids: cg.num("pids.current").unwrap_or(0),
        };
        Ok(Some(sample))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_like_dockers_cli() {
        let prev = Sample {
            cpu_ns: 1_000_000_000,
            system_ns: 100_000_000_000,
            online_cpus: 2,
            ..Sample::default()
        };
        let cur = Sample {
            cpu_ns: 1_500_000_000,
            system_ns: 102_000_000_000,
            online_cpus: 2,
            mem_usage: 3 << 20,
            mem_inactive_file: 1 << 20,
            mem_limit: 8 << 20,
            ..Sample::default()
        };
        let u = Usage::between(Some(&prev), &cur);
        // 0.5 s of CPU over 2 s of two CPUs' time: 50 % of one CPU.
        assert!((u.cpu_percent - 50.0).abs() < 1e-9, "{}", u.cpu_percent);
        assert_eq!(u.memory, (2 << 20) as f64);
        assert!((u.memory_percent - 25.0).abs() < 1e-9);
        assert_eq!(Usage::between(None, &cur).cpu_percent, 0.0);
    }

    #[test]
    fn net_dev_skips_loopback_and_reads_long_names() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0:     430       5    0    0    0     0          0         0      266       3    0    0    0     0       0          0\nbr-432caa274e24:10 0 0 0 0 0 0 0 20 0 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (440, 286));
    }

    #[test]
    fn keyed_files() {
        assert_eq!(
            keyed("cache 5\ntotal_inactive_file 42\n", "total_inactive_file"),
            Some(42)
        );
        assert_eq!(keyed("usage_usec 7\n", "usage_usec"), Some(7));
        assert_eq!(keyed("x 1", "y"), None);
    }
}
