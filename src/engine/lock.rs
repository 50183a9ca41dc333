//! One lock per project (`<state_root>/projects/<name>.lock`, a `flock`): two rcompose commands
//! never change one project at the same time. The second one waits and says why.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::error::{EngineError, Result};

/// Held for the duration of a command; released on drop (and by the kernel if we die).
#[derive(Debug)]
pub struct ProjectLock {
    _lock: Flock<File>,
}

impl ProjectLock {
    /// Take the lock; when another command holds it, call `waiting` once, then block.
    pub fn acquire(state_root: &Path, project: &str, waiting: impl FnOnce()) -> Result<Self> {
        let dir = state_root.join("projects");
        fs::create_dir_all(&dir)
            .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(format!("{project}.lock"));
        let open = || {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| EngineError::io(format!("open {}", path.display()), e))
        };
        match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(ProjectLock { _lock: l }),
            Err((_, nix::Error::EWOULDBLOCK)) => {
                waiting();
                Flock::lock(open()?, FlockArg::LockExclusive)
                    .map(|l| ProjectLock { _lock: l })
                    .map_err(|(_, e)| EngineError::io(format!("lock {}", path.display()), e.into()))
            }
            Err((_, e)) => Err(EngineError::io(
                format!("lock {}", path.display()),
                e.into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::acquire(dir.path(), "p", || panic!("free lock")).unwrap();
        let root = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _second = ProjectLock::acquire(&root, "p", || tx.send(()).unwrap()).unwrap();
        });
        rx.recv().unwrap();
        drop(first);
        t.join().unwrap();
        // Another project is independent.
        ProjectLock::acquire(dir.path(), "q", || panic!("other project")).unwrap();
    }
}
