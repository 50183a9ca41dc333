//! Build overlays: an overlayfs of a stage's layer directories, writable (COPY, ADD and WORKDIR
//! write into its merged view; the upper dir becomes the step's layer) or read-only (the source
//! side of `COPY --from`).
//!
//! Mounted with `index=off,redirect_dir=off,metacopy=off`: a renamed lower directory then leaves
//! a full copy in the upper dir and a copied-up file carries its data, so the upper dir alone
//! is the step's diff. Lower dirs are passed as `/proc/self/fd/<n>` paths of descriptors held
//! for the mount call: the option string stays short (the legacy mount API takes one page) and
//! needs no escaping, with no `chdir` (unsafe in a process that builds stages on threads).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::error::{BuildError, IoContext, Result};
use super::fsops;

/// The options every build overlay gets (see the module docs).
pub const BUILD_OVERLAY_OPTIONS: &str = "index=off,redirect_dir=off,metacopy=off";

/// A mounted overlay in its own scratch directory; dropping it unmounts and removes the scratch
/// directory (whatever of it was not taken with [`Overlay::take_upper`]).
#[derive(Debug)]
pub struct Overlay {
    dir: PathBuf,
    mounted: bool,
}

impl Overlay {
    /// A writable overlay of `lowers` (bottom layer first; may be empty) in a new directory
    /// under `scratch_parent`.
    pub fn writable(scratch_parent: &Path, lowers: &[PathBuf]) -> Result<Self> {
        Self::mount(scratch_parent, lowers, true)
    }

    /// A read-only view of `lowers` (bottom first).
    pub fn read_only(scratch_parent: &Path, lowers: &[PathBuf]) -> Result<Self> {
        Self::mount(scratch_parent, lowers, false)
    }

    fn mount(scratch_parent: &Path, lowers: &[PathBuf], writable: bool) -> Result<Self> {
        let dir = scratch_parent.join(crate::runtime::image::layout::unique_name("ovl"));
        let overlay = Overlay {
            dir,
            mounted: false,
        };
        for d in ["merged", "upper", "work", "empty"] {
            let p = overlay.dir.join(d);
            std::fs::create_dir_all(&p).at(&p)?;
        }
        // overlayfs needs a lower dir, and two when there is no upper: an empty one at the
        // bottom serves `FROM scratch` and single-layer read-only views alike.
        let mut fds: Vec<OwnedFd> = Vec::with_capacity(lowers.len() + 1);
        for l in lowers.iter().rev() {
            fds.push(fsops::open_dir(l).at(l)?);
        }
        let empty = overlay.dir.join("empty");
        fds.push(fsops::open_dir(&empty).at(&empty)?);
        let lowerdir: Vec<String> = fds
            .iter()
            .map(|f| fsops::fd_path(f.as_fd()).display().to_string())
            .collect();
        let mut options = format!("lowerdir={}", lowerdir.join(":"));
        if writable {
            options.push_str(&format!(
                ",upperdir={},workdir={}",
                overlay.upper().display(),
                overlay.dir.join("work").display()
            ));
        }
        options.push(',');
        options.push_str(BUILD_OVERLAY_OPTIONS);
        let flags = if writable {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        let mut overlay = overlay;
        nix::mount::mount(
            Some("overlay"),
            &overlay.merged(),
            Some("overlay"),
            flags,
            Some(options.as_str()),
        )
        .map_err(|e| {
            BuildError::sys(
                format!("mount build overlay on {}", overlay.merged().display()),
                e,
            )
        })?;
        overlay.mounted = true;
        Ok(overlay)
    }

    /// The merged view (the image root as the step sees it).
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// The upper dir: what the step changed, in overlayfs form.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// Unmount (idempotent). Lazily, so a stray reference cannot keep the build from going on.
    pub fn unmount(&mut self) -> Result<()> {
        if self.mounted {
            nix::mount::umount2(&self.merged(), MntFlags::MNT_DETACH)
                .map_err(|e| BuildError::sys(format!("unmount {}", self.merged().display()), e))?;
            self.mounted = false;
        }
        Ok(())
    }

    /// Unmount and move the upper dir to `dest` (same filesystem).
    pub fn take_upper(&mut self, dest: &Path) -> Result<()> {
        self.unmount()?;
        std::fs::rename(self.upper(), dest).at(dest)
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = self.unmount();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn writable_overlay_records_changes_in_upper() {
        if !is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (l1, l2) = (dir.path().join("l1"), dir.path().join("l2"));
        std::fs::create_dir_all(l1.join("etc")).unwrap();
        std::fs::create_dir_all(&l2).unwrap();
        std::fs::write(l1.join("etc/a"), "a").unwrap();
        std::fs::write(l2.join("b"), "b").unwrap();
        let mut o = Overlay::writable(dir.path(), &[l1, l2]).unwrap();
        let m = o.merged();
        assert_eq!(std::fs::read_to_string(m.join("etc/a")).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(m.join("b")).unwrap(), "b");
        std::fs::remove_file(m.join("etc/a")).unwrap();
        std::fs::write(m.join("c"), "c").unwrap();
        let out = dir.path().join("taken");
        o.take_upper(&out).unwrap();
        assert!(out.join("c").is_file());
        let st = nix::sys::stat::lstat(&out.join("etc/a")).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFCHR, "whiteout");
        let scratch = o.dir.clone();
        drop(o);
        assert!(!scratch.exists());
    }

    #[test]
    fn scratch_and_single_layer_views_mount() {
        if !is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let o = Overlay::writable(dir.path(), &[]).unwrap();
        std::fs::write(o.merged().join("x"), "x").unwrap();
        let l = dir.path().join("l");
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join("f"), "f").unwrap();
        let ro = Overlay::read_only(dir.path(), &[l]).unwrap();
        assert_eq!(std::fs::read_to_string(ro.merged().join("f")).unwrap(), "f");
        assert!(std::fs::write(ro.merged().join("g"), "g").is_err());
    }
}
