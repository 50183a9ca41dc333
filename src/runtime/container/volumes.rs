//! Named and anonymous volumes: `<state_root>/volumes/<name>/_data`, created on first use and,
//! like docker, populated from the image's content at the mount target the first time (unless
//! `nocopy`).

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use super::error::{ContainerError, IoContext, Result};
use super::inroot;
use super::paths::Layout;

/// Checks a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as docker does.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidSpec(format!(
            "invalid volume name {name:?}"
        )))
    }
}

/// Creates the volume if missing. Returns whether it was created now.
pub fn ensure_volume(layout: &Layout, name: &str) -> Result<bool> {
    validate_name(name)?;
    let data = layout.volume_data(name);
    if data.is_dir() {
        return Ok(false);
    }
    fs::create_dir_all(&data).ctx("create volume", &data)?;
    Ok(true)
}

/// Lists volume names.
pub fn list_volumes(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.volumes_dir();
    let mut out = Vec::new();
    match fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.ctx("list volumes", &dir)?;
                let name = e.file_name().to_string_lossy().into_owned();
                // Dot-dirs are volumes being removed (see `remove_volume`).
                if !name.starts_with('.') {
                    out.push(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ContainerError::io("list volumes", dir, e)),
    }
    out.sort();
    Ok(out)
}

/// Removes a volume and its data. The volume is renamed out of the way first, so a kill
/// mid-removal leaves no half-removed volume under its name, only a `.rm-<pid>-<name>`
/// directory that [`sweep_removed`] finishes.
pub fn remove_volume(layout: &Layout, name: &str) -> Result<()> {
    validate_name(name)?;
    let dir = layout.volumes_dir().join(name);
    let doomed = layout
        .volumes_dir()
        .join(format!(".rm-{}-{name}", std::process::id()));
    match fs::rename(&dir, &doomed) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContainerError::NotFound(format!("volume {name}")));
        }
        Err(e) => return Err(ContainerError::io("remove volume", dir, e)),
    }
    fs::remove_dir_all(&doomed).ctx("remove volume", doomed)
}

/// Finishes removals a kill interrupted (`.rm-<pid>-*` directories of [`remove_volume`] whose
/// process is gone).
pub fn sweep_removed(layout: &Layout) {
    let Ok(rd) = fs::read_dir(layout.volumes_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name
            .strip_prefix(".rm-")
            .is_some_and(super::state::writer_gone)
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Copies the content of directory `target` of the container's `rootfs` into the empty volume
/// directory `dst`, keeping owners, modes and symlinks; `dst` takes the source's owner and mode.
///
/// `target` is resolved inside the rootfs (an image may make any of its components a symlink
/// to a host directory), the same directory the volume is then mounted on. Below it, nothing is
/// followed: entries are examined with `lstat` and only real directories are entered.
pub fn populate(rootfs: &Path, target: &str, dst: &Path) -> Result<()> {
    let dir = inroot::open_dir(rootfs, target).ctx("resolve volume target", target)?;
    let Some(dir) = dir else {
        return Ok(());
    };
    let src = dir.path();
    let meta = fs::metadata(&src).ctx("stat", &src)?;
    copy_dir_contents(&src, dst)?;
    chown(dst, meta.uid(), meta.gid())?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .ctx("chmod volume", dst)
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| ContainerError::InvalidSpec(format!("path with NUL: {}", path.display())))?;
    // SAFETY: valid NUL-terminated path; lchown does not follow symlinks.
    if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
        return Err(ContainerError::io(
            "chown",
            path,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn copy_dir_contents(src: &Path, dst: &Path) -> Result<()> {
    for entry in fs::read_dir(src).ctx("read dir", src)? {
        let entry = entry.ctx("read dir", src)?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).ctx("stat", &from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&to).ctx("create dir", &to)?;
            copy_dir_contents(&from, &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .ctx("chmod", &to)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&from).ctx("read link", &from)?;
            symlink(&target, &to).ctx("create symlink", &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to).ctx("copy file", &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .ctx("chmod", &to)?;
        } else {
            // Device nodes, fifos and sockets are not copied into volumes.
            continue;
        }
        chown(&to, meta.uid(), meta.gid())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_cut_short_is_finished_once_its_process_is_gone() {
        let d = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(d.path().join("s"), d.path().join("r"));
        assert!(ensure_volume(&layout, "kept").expect("create"));
        assert!(ensure_volume(&layout, "gone").expect("create"));
        remove_volume(&layout, "gone").expect("remove");
        // What a killed removal leaves, and one still in progress in a live process.
        let dead = layout.volumes_dir().join(".rm-999999999-x/_data/f");
        let live = layout
            .volumes_dir()
            .join(format!(".rm-{}-y/_data", std::process::id()));
        for p in [&dead, &live] {
            fs::create_dir_all(p).expect("mkdir");
        }
        assert_eq!(list_volumes(&layout).expect("list"), ["kept"]);
        sweep_removed(&layout);
        assert!(!layout.volumes_dir().join(".rm-999999999-x").exists());
        assert!(live.exists(), "a live remover's directory stays");
        assert!(matches!(
            remove_volume(&layout, "gone"),
            Err(ContainerError::NotFound(_))
        ));
    }
}
