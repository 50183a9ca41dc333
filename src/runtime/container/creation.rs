//! The creation lock of a run root (`<run_root>/create.lock`): a container's outside resources
//! (its network namespace, network endpoints, injected files) are made before the container
//! exists, so for a moment they have no owner anyone could see. Whoever makes them holds this
//! lock shared until the container exists; a sweep that reclaims ownerless resources runs only
//! when it gets the lock exclusively without waiting, so it never takes what a creation in
//! flight is about to hand to its container.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::error::{ContainerError, IoContext, Result};

/// A held creation lock (shared or exclusive); released on drop.
#[derive(Debug)]
pub struct CreationLock {
    _lock: Flock<File>,
}

fn lock_path(run_root: &Path) -> PathBuf {
    run_root.join("create.lock")
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx("create run root", dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx("open the creation lock", path)
}

impl CreationLock {
    /// Shared: held while making a container's outside resources (waits for a sweep to end).
    pub fn shared(run_root: &Path) -> Result<Self> {
        let path = lock_path(run_root);
        Flock::lock(open(&path)?, FlockArg::LockShared)
            .map(|l| CreationLock { _lock: l })
            .map_err(|(_, e)| ContainerError::sys(format!("flock {}", path.display()), e))
    }

    /// Exclusive, without waiting: `None` while any creation is in flight.
    pub fn try_exclusive(run_root: &Path) -> Result<Option<Self>> {
        let path = lock_path(run_root);
        match Flock::lock(open(&path)?, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(CreationLock { _lock: l })),
            Err((_, nix::Error::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(ContainerError::sys(format!("flock {}", path.display()), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creation_in_flight_keeps_sweeps_out() {
        let d = tempfile::tempdir().expect("tempdir");
        let creating = CreationLock::shared(d.path()).expect("shared");
        let other = CreationLock::shared(d.path()).expect("creations run side by side");
        assert!(
            CreationLock::try_exclusive(d.path())
                .expect("try")
                .is_none()
        );
        drop((creating, other));
        assert!(
            CreationLock::try_exclusive(d.path())
                .expect("try")
                .is_some()
        );
    }
}
