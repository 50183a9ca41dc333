//! Persisted allocations of one state root: networks (bridge name, subnet, gateway,
//! endpoints with their addresses and DNS names) and published ports.
//!
//! Layout: `<state_root>/network/state.json` (versioned, written atomically: temp file + rename) guarded
//! by an exclusive `flock` on `<state_root>/network/state.lock`. Every mutation of the manager
//! is load → change → save under that lock, so concurrent `up`s of different projects never
//! get the same subnet, address or port. The helper process (`netd`) only reads the file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{NetError, Result};
use super::ipam::Ipv4Net;
use super::ports::Protocol;

/// Current `state.json` format version. Files written before the field existed read as 1.
pub const STATE_VERSION: u32 = 1;

fn first_version() -> u32 {
    1
}

/// Everything rcompose networking allocated under one state root.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// The format version ([`STATE_VERSION`]); a newer one is refused, not misread.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Networks by their (caller-given) name, e.g. `myproj_default`.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Published ports, in publication order.
    #[serde(default)]
    pub ports: Vec<PortRecord>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            networks: BTreeMap::new(),
            ports: Vec::new(),
        }
    }
}

impl State {
    /// Nothing left to serve: the helper process may exit and the firewall tables go.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.ports.is_empty()
    }
}

/// One network (one Linux bridge).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub name: String,
    /// Linux bridge name (`rc-<hash>`, at most 15 bytes).
    pub ifname: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Endpoints by container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

/// One container's interface on a network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EndpointRecord {
    pub container: String,
    /// Interface name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    /// Host end of the veth pair.
    pub host_ifname: String,
    pub ipv4: Ipv4Addr,
    pub mac: String,
    /// DNS names (service, container name, aliases, links) answering with `ipv4` on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// One published port (a single host port to a single container port).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortRecord {
    /// Who published it (the container id); `unpublish(owner)` removes all of them.
    pub owner: String,
    pub protocol: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// The state directory of one state root.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
}

/// An exclusive lock on the state; released on drop.
pub struct StateLock {
    _file: File,
}

impl StateStore {
    /// `<state_root>/network`, created if missing.
    pub fn open(state_root: &Path) -> Result<Self> {
        let dir = state_root.join("network");
        std::fs::create_dir_all(&dir).map_err(|e| NetError::io("create", &dir, e))?;
        Ok(StateStore { dir })
    }

    /// The directory holding the state.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the JSON state file.
    pub fn file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Take the exclusive lock (blocks while another process holds it).
    pub fn lock(&self) -> Result<StateLock> {
        let path = self.dir.join("state.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetError::io("open", &path, e))?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(NetError::io("lock", &path, std::io::Error::last_os_error()));
        }
        Ok(StateLock { _file: file })
    }

    /// Read the state (empty when the file does not exist yet).
    pub fn load(&self) -> Result<State> {
        load_file(&self.file())
    }

    /// Write the state atomically. Requires the lock (enforced by the argument).
    pub fn save(&self, _lock: &StateLock, state: &State) -> Result<()> {
        let path = self.file();
        // One writer at a time (the lock), so one temp name is enough.
        let tmp = self.dir.join("state.json.tmp");
        let data = serde_json::to_vec_pretty(state).map_err(|e| NetError::State {
            path: path.clone(),
            source: e,
        })?;
        let mut f = File::create(&tmp).map_err(|e| NetError::io("create", &tmp, e))?;
        // No fsync: rename keeps the file consistent, and the kernel objects it describes do not
        // survive a crash of the machine either (it costs milliseconds per attach).
        f.write_all(&data)
            .map_err(|e| NetError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| NetError::io("rename", &path, e))
    }

    /// Remove the state directory when nothing is allocated any more.
    pub fn remove_if_empty(&self, _lock: &StateLock, state: &State) -> Result<()> {
        if !state.is_empty() {
            return Ok(());
        }
        for f in ["state.json", "state.json.tmp"] {
            let p = self.dir.join(f);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NetError::io("remove", &p, e)),
            }
        }
        Ok(())
    }
}

/// Read a state file (empty state when missing).
pub fn load_file(path: &Path) -> Result<State> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(NetError::io("read", path, e)),
    };
    let parse_err = |e| NetError::State {
        path: path.to_path_buf(),
        source: e,
    };
    // The version alone first: a newer format may not parse as this one at all.
    #[derive(Deserialize)]
    struct Version {
        #[serde(default = "first_version")]
        version: u32,
    }
    let v: Version = serde_json::from_slice(&data).map_err(parse_err)?;
    if v.version != STATE_VERSION {
        return Err(NetError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: v.version,
            supported: STATE_VERSION,
        });
    }
    serde_json::from_slice(&data).map_err(parse_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_round_trips_with_its_version() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(d.path()).expect("open");
        let lock = store.lock().expect("lock");
        let mut st = State::default();
        st.ports.push(PortRecord {
            owner: "c".into(),
            protocol: Protocol::Tcp,
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            host_port: 8080,
            container_ip: Ipv4Addr::new(10, 0, 0, 2),
            container_port: 80,
        });
        store.save(&lock, &st).expect("save");
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(store.file()).expect("read")).expect("json");
        assert_eq!(raw["version"], STATE_VERSION);
        assert_eq!(store.load().expect("load"), st);
        assert!(!store.dir().join("state.json.tmp").exists());
    }

    #[test]
    fn a_file_without_a_version_is_the_first_format() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        std::fs::write(&p, r#"{"networks":{},"ports":[]}"#).expect("write");
        assert_eq!(load_file(&p).expect("load").version, 1);
    }

    #[test]
    fn a_newer_format_is_refused_by_name_not_misread() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        std::fs::write(&p, r#"{"version":7,"networks":"a different shape"}"#).expect("write");
        let err = load_file(&p).expect_err("newer version");
        assert!(matches!(err, NetError::UnsupportedVersion { found: 7, .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("version 7") && msg.contains("state.json"),
            "{msg}"
        );
    }
}
