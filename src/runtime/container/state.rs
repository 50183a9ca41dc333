//! The persisted container state (`state.json`): versioned, written atomically (temp + rename),
//! readable without the monitor.

use std::fs;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ContainerError, IoContext, Result};

/// Current `state.json` format version.
pub const STATE_VERSION: u32 = 1;

/// Lifecycle status, as docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }

    /// Whether a live monitor must exist for this status to be true.
    pub fn needs_monitor(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

/// One healthcheck probe result (docker keeps the last five).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<ProbeResult>,
}

/// A process identity robust against pid reuse: pid plus its start time in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcId {
    /// The identity of a live process, if it exists.
    pub fn of(pid: i32) -> Option<ProcId> {
        proc_start_time(pid).map(|start_time| ProcId { pid, start_time })
    }

    /// Whether this very process is still alive (not a zombie, not a reused pid).
    pub fn is_alive(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start_time)
    }
}

/// `starttime` (field 22) of `/proc/<pid>/stat`, or `None` when gone or a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state).
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The kernel boot id, to detect state written before a reboot.
pub fn boot_id() -> String {
    // Fixed for the life of the process (of the boot, even): read once, not once per container
    // a listing reconciles.
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Persisted state of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub version: u32,
    pub id: String,
    pub name: String,
    pub status: Status,
    /// Host pid of the container's init while running.
    pub pid: Option<i32>,
    pub init: Option<ProcId>,
    pub monitor: Option<ProcId>,
    pub boot_id: String,
    pub exit_code: Option<i32>,
    /// Why the container is not running as asked (start failure, monitor death, reboot).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restart_count: u32,
    /// Set by `stop` (and `kill` with SIGKILL): the restart policy no longer applies.
    pub stopped_by_user: bool,
    pub health: Option<HealthState>,
}

impl ContainerState {
    pub fn new_created(id: &str, name: &str) -> Self {
        ContainerState {
            version: STATE_VERSION,
            id: id.to_string(),
            name: name.to_string(),
            status: Status::Created,
            pid: None,
            init: None,
            monitor: None,
            boot_id: boot_id(),
            exit_code: None,
            error: None,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            restart_count: 0,
            stopped_by_user: false,
            health: None,
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let data = fs::read(path).ctx("read container state", path)?;
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version =
            serde_json::from_slice(&data).map_err(|e| ContainerError::CorruptState {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if v.version != STATE_VERSION {
            return Err(ContainerError::CorruptState {
                path: path.to_path_buf(),
                reason: format!("unsupported state version {}", v.version),
            });
        }
        serde_json::from_slice(&data).map_err(|e| ContainerError::CorruptState {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(|e| ContainerError::CorruptState {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &data)
    }
}

/// Writes `data` to `path` via a temp file in the same directory and a rename, so readers see
/// the old or the new content, never a torn file, whatever process is killed when.
///
/// No fsync: a state write happens several times per container start and an fsync costs
/// milliseconds on a VM disk; on ext4 (`auto_da_alloc`, the default) a rename over an existing
/// file already flushes the new data first, and after a power loss the state is reconciled
/// anyway (boot id check).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut f = fs::File::create(&tmp).ctx("create temp file", &tmp)?;
    f.write_all(data).ctx("write temp file", &tmp)?;
    drop(f);
    fs::rename(&tmp, path).ctx("rename temp file", path)
}
