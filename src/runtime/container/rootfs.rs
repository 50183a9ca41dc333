//! The container rootfs: an overlayfs of the image's lower dirs with a per-container upper and
//! work dir (kept across restarts, removed with the container).
//!
//! The legacy mount(2) option string must fit in one page; when the absolute lower paths are too
//! long we mount through short per-container symlinks `l/<n>` and relative paths after `chdir`
//! into the container dir (the monitor is single-threaded, so `chdir` is safe there).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::error::{ContainerError, IoContext, Result};
use super::paths::ContainerPaths;

/// Above this the option string goes through `l/<n>` symlinks and relative paths.
const MAX_DIRECT_OPTIONS: usize = 3000;

/// Whether `path` is a mount point (per `/proc/self/mountinfo`).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(|mp| unescape_mountinfo(mp) == want)
            .unwrap_or(false)
    })
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v as char);
            i += 4;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Mounts the overlay rootfs at `paths.rootfs()` unless already mounted.
pub fn mount_rootfs(paths: &ContainerPaths, lower_dirs: &[PathBuf]) -> Result<()> {
    let target = paths.rootfs();
    if is_mounted(&target) {
        return Ok(());
    }
    if lower_dirs.is_empty() {
        return Err(ContainerError::InvalidSpec(
            "no lower dirs (image layers)".into(),
        ));
    }
    for d in [paths.upper(), paths.work(), target.clone()] {
        fs::create_dir_all(&d).ctx("create overlay dir", &d)?;
    }
    // overlayfs lists the top layer first.
    let lowers: Vec<String> = lower_dirs
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let direct = format!(
        "lowerdir={},upperdir={},workdir={},index=off",
        lowers.join(":"),
        paths.upper().display(),
        paths.work().display()
    );
    if direct.len() <= MAX_DIRECT_OPTIONS {
        return do_mount(&target, &direct);
    }
    // Long: short symlinks l/0, l/1, ... (bottom = 0) and paths relative to the container dir.
    let links = paths.lower_links();
    let _ = fs::remove_dir_all(&links);
    fs::create_dir_all(&links).ctx("create lower link dir", &links)?;
    for (i, d) in lower_dirs.iter().enumerate() {
        let l = links.join(i.to_string());
        symlink(d, &l).ctx("create lower link", &l)?;
    }
    let rel: Vec<String> = (0..lower_dirs.len())
        .rev()
        .map(|i| format!("l/{i}"))
        .collect();
    let opts = format!("lowerdir={},upperdir=u,workdir=w,index=off", rel.join(":"));
    let cwd = std::env::current_dir().ctx("get cwd", ".")?;
    std::env::set_current_dir(paths.dir()).ctx("chdir", paths.dir())?;
    let res = do_mount(Path::new("r"), &opts);
    std::env::set_current_dir(&cwd).ctx("chdir back", &cwd)?;
    res
}

fn do_mount(target: &Path, opts: &str) -> Result<()> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts),
    )
    .map_err(|e| ContainerError::Mount {
        what: format!("overlay on {}", target.display()),
        source: e,
    })
}

/// Unmounts the rootfs (lazily, so a straggler cannot block cleanup). Idempotent.
pub fn unmount_rootfs(paths: &ContainerPaths) -> Result<()> {
    let target = paths.rootfs();
    while is_mounted(&target) {
        nix::mount::umount2(&target, MntFlags::MNT_DETACH).map_err(|e| ContainerError::Mount {
            what: format!("unmount {}", target.display()),
            source: e,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unescape_mountinfo;

    #[test]
    fn unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }
}
