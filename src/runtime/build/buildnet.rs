//! The network RUN steps get by default: one bridge per state root with outbound NAT
//! (`rcompose_build`), like the NATed network docker gives a build's RUN steps, so `apt-get
//! install` and `wget` reach the internet while the step stays out of the host's network
//! namespace. Host networking would be cheaper, but a RUN step could then bind host ports and
//! see host interfaces, which docker's default does not allow; `build.network: host` and `none`
//! remain available.
//!
//! The bridge exists only while builds use it: each build holds a shared flock on
//! `<run root>/build/network.lock`; the last one out (an exclusive lock taken without waiting)
//! removes the network again, so no bridge or `netd` outlives the builds.

use std::fs;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::error::{BuildError, IoContext, Result};
use crate::runtime::network::{NetworkInfo, NetworkManager, NetworkSpec};

/// Name of the build network in the state root's network state.
pub const BUILD_NETWORK: &str = "rcompose_build";

/// The build network, held for one build.
pub struct BuildNetwork {
    manager: NetworkManager,
    lock_path: PathBuf,
    lock: Option<Flock<fs::File>>,
    pub info: NetworkInfo,
}

fn open_lock(path: &Path) -> Result<fs::File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at(dir)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at(path)
}

impl BuildNetwork {
    /// Create (or join) the build network.
    pub fn acquire(manager: &NetworkManager, run_root: &Path) -> Result<Self> {
        let lock_path = run_root.join("build").join("network.lock");
        let lock = Flock::lock(open_lock(&lock_path)?, FlockArg::LockShared)
            .map_err(|(_, e)| BuildError::sys(format!("flock {}", lock_path.display()), e))?;
        let info = manager.ensure_network(&NetworkSpec {
            name: BUILD_NETWORK.into(),
            ..NetworkSpec::default()
        })?;
        Ok(BuildNetwork {
            manager: manager.clone(),
            lock_path,
            lock: Some(lock),
            info,
        })
    }

    pub fn manager(&self) -> &NetworkManager {
        &self.manager
    }
}

impl Drop for BuildNetwork {
    fn drop(&mut self) {
        drop(self.lock.take());
        let _ = remove_unless_held(&self.manager, &self.lock_path);
    }
}

/// Removes the build network unless a build holds it. The last build out does this itself; a
/// killed build leaves the network, and the next `up` or `down` calls this.
pub fn reclaim(manager: &NetworkManager, run_root: &Path) -> Result<()> {
    if manager.network(BUILD_NETWORK)?.is_none() {
        return Ok(());
    }
    remove_unless_held(manager, &run_root.join("build").join("network.lock"))
}

fn remove_unless_held(manager: &NetworkManager, lock_path: &Path) -> Result<()> {
    // Another build still holds it shared: it removes the network when it is done.
    if let Ok(_last) = Flock::lock(open_lock(lock_path)?, FlockArg::LockExclusiveNonblock) {
        manager.remove_network(BUILD_NETWORK)?;
    }
    Ok(())
}
