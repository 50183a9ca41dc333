//! Persisted allocations of one state root: networks (bridge name, subnet, gateway,
//! endpoints with their addresses and DNS names) and published ports.
//!
//! Layout: `<state_root>/network/state.json` (written atomically: temp file + rename) guarded
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

/// Everything rcompose networking allocated under one state root.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Networks by their (caller-given) name, e.g. `myproj_default`.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Published ports, in publication order.
    #[serde(default)]
    pub ports: Vec<PortRecord>,
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
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| NetError::State {
            path: path.to_path_buf(),
            source: e,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(NetError::io("read", path, e)),
    }
}
