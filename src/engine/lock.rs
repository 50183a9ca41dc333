//! One lock per project (`<state_root>/projects/<name>.lock`, a `flock`): two rcompose commands
//! never change one project at the same time. The second one waits and says for what: the
//! holder writes its pid and command line into the lock file (cleared when it lets go), so the
//! waiting command can name it, e.g. `Waiting for "rcompose up -d" (pid 4242) to finish`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::error::{EngineError, Result};

/// Held for the duration of a command; released on drop (and by the kernel if we die).
#[derive(Debug)]
pub struct ProjectLock {
    file: Flock<File>,
}

/// The command holding a project's lock, as it describes itself in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The command line (`rcompose up -d`).
    pub command: String,
}

impl Holder {
    /// This process: its pid and its command line, the program named by its file name.
    pub fn this_process() -> Self {
        let mut args = std::env::args();
        let program = args
            .next()
            .map(|a| a.rsplit('/').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "rcompose".into());
        let command = std::iter::once(program)
            .chain(
                args.map(|a| match a.contains(char::is_whitespace) || a.is_empty() {
                    true => format!("{a:?}"),
                    false => a,
                }),
            )
            .collect::<Vec<_>>()
            .join(" ");
        Holder {
            pid: std::process::id(),
            command,
        }
    }

    fn render(&self) -> String {
        format!("{}\n{}\n", self.pid, self.command)
    }

    /// The holder named in a lock file, if it is still alive (a holder killed before it could
    /// clear the file leaves a stale name behind).
    fn read(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let (pid, command) = text.split_once('\n')?;
        let pid: u32 = pid.trim().parse().ok()?;
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
        alive.then(|| Holder {
            pid,
            command: command.trim_end().to_string(),
        })
    }

    /// What a waiting command tells its user.
    pub fn waiting_message(holder: Option<&Holder>) -> String {
        match holder {
            Some(h) => format!(
                "Waiting for \"{}\" (pid {}) to finish with this project",
                h.command, h.pid
            ),
            None => "Waiting for another rcompose command to finish with this project".into(),
        }
    }
}

impl ProjectLock {
    /// Take the lock as `me`; when another command holds it, call `waiting` once with that
    /// command (when it could be named), then block.
    pub fn acquire(
        state_root: &Path,
        project: &str,
        me: &Holder,
        waiting: impl FnOnce(Option<Holder>),
    ) -> Result<Self> {
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
        let lock_err =
            |e: nix::Error| EngineError::io(format!("lock {}", path.display()), e.into());
        let file = match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, nix::Error::EWOULDBLOCK)) => {
                waiting(Holder::read(&path));
                Flock::lock(open()?, FlockArg::LockExclusive).map_err(|(_, e)| lock_err(e))?
            }
            Err((_, e)) => return Err(lock_err(e)),
        };
        // Naming ourselves is a courtesy to waiters: a failure to write does not fail the lock.
        let _ = file
            .set_len(0)
            .and_then(|()| (&*file).write_all(me.render().as_bytes()));
        Ok(ProjectLock { file })
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // The next holder rewrites it; cleared so that nobody is named after we are gone.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_for_the_first_and_can_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let me = Holder {
            pid: std::process::id(),
            command: "rcompose up -d".into(),
        };
        let first = ProjectLock::acquire(dir.path(), "p", &me, |_| panic!("free lock")).unwrap();
        let root = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let second_me = Holder {
            pid: std::process::id(),
            command: "rcompose down".into(),
        };
        let t = std::thread::spawn(move || {
            let _second =
                ProjectLock::acquire(&root, "p", &second_me, |h| tx.send(h).unwrap()).unwrap();
        });
        let holder = rx.recv().unwrap();
        assert_eq!(holder.as_ref(), Some(&me));
        assert_eq!(
            Holder::waiting_message(holder.as_ref()),
            format!(
                "Waiting for \"rcompose up -d\" (pid {}) to finish with this project",
                me.pid
            )
        );
        drop(first);
        t.join().unwrap();
        // Once let go, nobody is named.
        let path = dir.path().join("projects/p.lock");
        assert_eq!(Holder::read(&path), None);
        // Another project is independent.
        ProjectLock::acquire(dir.path(), "q", &me, |_| panic!("other project")).unwrap();
    }

    #[test]
    fn a_dead_holder_is_not_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.lock");
        // Above the kernel's largest pid (2^22): never a live process.
        fs::write(&path, "4194305\nrcompose up\n").unwrap();
        assert_eq!(Holder::read(&path), None);
        assert_eq!(
            Holder::waiting_message(None),
            "Waiting for another rcompose command to finish with this project"
        );
        let me = Holder::this_process();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.command.is_empty());
    }
}
