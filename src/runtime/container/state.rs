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

/// Whether the process named at the start of `tag` (`<pid>-...`, the tail of a `.new-`/`.rm-`
/// directory name) is gone; a tag without a pid counts as gone.
pub fn writer_gone(tag: &str) -> bool {
    tag.split('-')
        .next()
        .and_then(|p| p.parse::<i32>().ok())
        .is_none_or(|pid| proc_start_time(pid).is_none())
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
        parse_versioned(path, &data, STATE_VERSION)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_json(path)?)
    }

    /// [`ContainerState::save`] for a new container: see [`write_synced`].
    pub fn save_synced(&self, path: &Path) -> Result<()> {
        write_synced(path, &self.to_json(path)?)
    }

    fn to_json(&self, path: &Path) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| ContainerError::CorruptState {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// Parses a versioned JSON document (a top-level `version` field): the version alone first, so
/// a file of another format version is refused by name instead of misread.
pub fn parse_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    data: &[u8],
    supported: u32,
) -> Result<T> {
    let corrupt = |e: serde_json::Error| ContainerError::CorruptState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_slice(data).map_err(corrupt)?;
    if v.version != supported {
        return Err(ContainerError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: v.version,
            supported,
        });
    }
    serde_json::from_slice(data).map_err(corrupt)
}

/// Writes `data` to `path` via a temp file in the same directory and a rename, so readers see
/// the old or the new content, never a torn file, whatever process is killed when.
///
/// No fsync: a state write happens several times per container start and an fsync costs
/// milliseconds on a VM disk; on ext4 (`auto_da_alloc`, the default) a rename over an existing
/// file already flushes the new data first, and after a power loss the state is reconciled
/// anyway (boot id check). New files use [`write_synced`].
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, false)
}

/// [`write_atomic`] with the data flushed to disk before the rename: for a file that replaces
/// nothing (a new container's `spec.json` and first `state.json`), where no filesystem
/// heuristic orders data before the rename and a power loss could leave it empty.
pub fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, true)
}

fn write_via_temp(path: &Path, data: &[u8], sync: bool) -> Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut f = fs::File::create(&tmp).ctx("create temp file", &tmp)?;
    f.write_all(data).ctx("write temp file", &tmp)?;
    if sync {
        f.sync_data().ctx("flush temp file", &tmp)?;
    }
    drop(f);
    fs::rename(&tmp, path).ctx("rename temp file", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        let st = ContainerState::new_created(&"a".repeat(64), "c");
        st.save_synced(&p).expect("save new");
        st.save(&p).expect("save again");
        assert_eq!(ContainerState::load(&p).expect("load"), st);
        let names: Vec<_> = fs::read_dir(d.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn another_format_version_is_refused_by_name() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        fs::write(&p, r#"{"version":2,"id":{"a":"new shape"}}"#).expect("write");
        let err = ContainerState::load(&p).expect_err("version 2");
        assert!(
            matches!(
                err,
                ContainerError::UnsupportedVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("format version 2"), "{err}");
    }

    #[test]
    fn a_torn_file_is_reported_as_corrupt() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        fs::write(&p, r#"{"version":1,"id":"#).expect("write");
        assert!(matches!(
            ContainerState::load(&p),
            Err(ContainerError::CorruptState { .. })
        ));
    }
}
