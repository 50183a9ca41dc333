//! A container's filesystem as its processes see it, for `cp`: the rootfs with its volume and
//! bind mounts.
//!
//! * Running (or paused) container: its root is `/proc/<init>/root`, which reaches into the
//!   container's mount namespace, volumes and tmpfs mounts included.
//! * Stopped container: a thread unshares its mount namespace (and filesystem attributes, so
//!   the rest of the process is untouched), mounts the overlay and binds the volumes there,
//!   runs the work, and unmounts. Nothing is visible outside that thread, and a crash leaves
//!   nothing mounted: the namespace dies with the thread. The container's lock is held
//!   throughout, so it cannot be started (mounting the same upper dir) or removed meanwhile.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::CopyError;
use super::root::FsRoot;
use crate::runtime::container::error::ContainerError;
use crate::runtime::container::rootfs;
use crate::runtime::container::runtime::{ContainerRuntime, lock};
use crate::runtime::container::spec::{MountKind, StoredSpec};
use crate::runtime::container::state::ContainerState;

impl ContainerRuntime {
    /// Runs `f` on the filesystem of container `key` (id, name or unique prefix), running or not.
    pub fn with_container_fs<T: Send>(
        &self,
        key: &str,
        f: impl FnOnce(&FsRoot) -> Result<T, CopyError> + Send,
    ) -> Result<T, CopyError> {
        let id = self.resolve(key)?;
        let state = self.reconcile(&id)?;
        if state.status.needs_monitor()
            && let Some(root) = live_root(&state)
        {
            return f(&root);
        }
        std::thread::scope(|s| {
            s.spawn(|| self.in_private_namespace(&id, f))
                .join()
                .unwrap_or_else(|_| Err(CopyError::Other("the copy thread panicked".into())))
        })
    }

    /// The stopped-container path (see the module doc); runs on its own thread.
    fn in_private_namespace<T>(
        &self,
        id: &str,
        f: impl FnOnce(&FsRoot) -> Result<T, CopyError>,
    ) -> Result<T, CopyError> {
        let paths = self.layout().container(id);
        let _lock = lock(&paths.lock())?;
        let state = ContainerState::load(&paths.state())?;
        if state.status.needs_monitor() {
            // Started between our check and the lock: use the live view after all.
            let root = live_root(&state).ok_or_else(|| ContainerError::InvalidState {
                id: id.to_string(),
                state: state.status.to_string(),
                action: "copy (it is changing state, try again)",
            })?;
            return f(&root);
        }
        let stored = self.load_stored(id)?;
        nix::sched::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS)
            .map_err(|e| ContainerError::sys("unshare a mount namespace for the copy", e))?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| ContainerError::sys("make the copy's mounts private", e))?;
        rootfs::mount_rootfs(&paths, &stored.spec.lower_dirs)?;
        let rootfs = paths.rootfs();
        let result = FsRoot::open(&rootfs)
            .map_err(|e| CopyError::io("open", &rootfs.display().to_string(), e))
            .and_then(|root| {
                let binds = self.bind_volumes(&root, &stored);
                let r = f(&root);
                drop(root);
                for m in binds.iter().rev() {
                    let _ = nix::mount::umount2(m, MntFlags::MNT_DETACH);
                }
                r
            });
        let _ = nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH);
        result
    }

    /// Binds the container's volumes and bind mounts over their targets (those that exist in
    /// the rootfs), parents first; returns the mount points to undo.
    fn bind_volumes(&self, root: &FsRoot, stored: &StoredSpec) -> Vec<PathBuf> {
        let layout = self.layout();
        let mut wanted: Vec<(String, PathBuf)> = stored
            .spec
            .mounts
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let src = match &m.kind {
                    MountKind::Volume { name, .. } => layout.volume_data(name),
                    MountKind::Anonymous { .. } => {
                        layout.volume_data(stored.anonymous_volumes.get(&i)?)
                    }
                    MountKind::Bind { source, .. } => source.clone(),
                    MountKind::Tmpfs { .. } => return None,
                };
                Some((m.target.clone(), src))
            })
            .chain(
                stored
                    .image_volumes
                    .iter()
                    .map(|(t, n)| (t.clone(), layout.volume_data(n))),
            )
            .collect();
        wanted.sort_by_key(|(t, _)| t.split('/').filter(|c| !c.is_empty()).count());
        let mut done = Vec::new();
        for (target, src) in wanted {
            if !src.exists() {
                continue;
            }
            // Resolved inside the rootfs, then mounted on through our own descriptor.
            let Ok(fd) = root.resolve(target.as_bytes(), true) else {
                continue;
            };
            let at = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            let bound = nix::mount::mount(
                Some(src.as_path()),
                &at,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            );
            if bound.is_ok()
                && let Ok(real) = std::fs::read_link(&at)
            {
                done.push(real);
            }
        }
        done
    }
}

/// `/proc/<init>/root` of a live container, checked to still be its init after opening.
fn live_root(state: &ContainerState) -> Option<FsRoot> {
    let init = state.init?;
    let root = FsRoot::open(Path::new(&format!("/proc/{}/root", init.pid))).ok()?;
    init.is_alive().then_some(root)
}
