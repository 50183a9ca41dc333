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
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ContainerError::io("list volumes", dir, e)),
    }
    out.sort();
    Ok(out)
}

/// Removes a volume and its data.
pub fn remove_volume(layout: &Layout, name: &str) -> Result<()> {
    validate_name(name)?;
    let dir = layout.volumes_dir().join(name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ContainerError::NotFound(format!("volume {name}")))
        }
        Err(e) => Err(ContainerError::io("remove volume", dir, e)),
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
