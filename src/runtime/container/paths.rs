//! On-disk layout of the runtime: persistent state under the state root, volatile run files
//! (sockets, libcontainer state) under the run root, which may be wiped by a reboot.
//!
//! ```text
//! <state_root>/containers/<id>/spec.json      ContainerSpec (plus resolved anonymous volume names)
//!                              state.json     ContainerState, versioned, written by temp + rename
//!                              lock           flock for client-side mutations
//!                              u/ w/          overlay upper and work dirs (kept across restarts)
//!                              r/             overlay mount point (the container's rootfs)
//!                              l/<n>          short symlinks to the lower dirs (long option strings)
//!                              etc/{hostname,hosts,resolv.conf}
//!                              container.log[.N]  json-file log
//!                              monitor.log    monitor diagnostics
//! <state_root>/volumes/<name>/_data
//! <run_root>/<id>/sock                         monitor socket
//! <run_root>/<id>/b/config.json                OCI bundle generated at each start
//! <run_root>/lc/<id>/                          libcontainer state
//! ```

use std::path::{Path, PathBuf};

/// Paths of the runtime roots.
#[derive(Debug, Clone)]
pub struct Layout {
    pub state_root: PathBuf,
    pub run_root: PathBuf,
}

impl Layout {
    pub fn new(state_root: impl Into<PathBuf>, run_root: impl Into<PathBuf>) -> Self {
        Layout {
            state_root: state_root.into(),
            run_root: run_root.into(),
        }
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.state_root.join("containers")
    }

    pub fn container(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.containers_dir().join(id),
            run_dir: self.run_root.join(id),
            lc_root: self.libcontainer_root(),
        }
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.state_root.join("volumes")
    }

    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    /// libcontainer's root path (its per-container state dirs live below).
    pub fn libcontainer_root(&self) -> PathBuf {
        self.run_root.join("lc")
    }
}

/// Paths of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
    pub run_dir: PathBuf,
    pub lc_root: PathBuf,
}

impl ContainerPaths {
    pub fn spec(&self) -> PathBuf {
        self.dir.join("spec.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("u")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("w")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("r")
    }
    pub fn lower_links(&self) -> PathBuf {
        self.dir.join("l")
    }
    /// The OCI bundle (`config.json`), rewritten at every start: volatile, so it lives in the
    /// run dir (a tmpfs by default) rather than on the state disk.
    pub fn bundle(&self) -> PathBuf {
        self.run_dir.join("b")
    }
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("sock")
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
