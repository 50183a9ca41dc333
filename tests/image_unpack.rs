//! Layer unpacking: the normal rules (metadata, links, devices, xattrs, whiteouts in overlay form,
//! checked by mounting an overlay) and a set of hostile layers that must be refused or neutralized
//! without anything landing outside the target.

mod support;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcompose::runtime::image::ImageError;
use rcompose::runtime::image::unpack::{UnpackOptions, unpack_layer};
use support::oci::sha256;
use support::tarball::{MTIME, TarBuilder};

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and buffer.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return None;
    }
    buf.truncate(rc as usize);
    Some(buf)
}

fn unpack(tar: &[u8], target: &Path) -> Result<String, ImageError> {
    unpack_layer(tar, target, "test-layer", &UnpackOptions::default())
        .map(|u| u.diff_id.to_string())
}

#[test]
fn metadata_links_devices_xattrs() {
    require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("root");
    fs::create_dir(&t).expect("mkdir");
    let tar = TarBuilder::new()
        .dir("./", 0o755)
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .file_owned("usr/bin/su", 0o4755, 0, 0, MTIME, b"#!/bin/sh\n")
        .file_owned("home-file", 0o640, 1000, 2000, 1_000_000_000, b"data")
        .hardlink("usr/bin/su-again", "usr/bin/su")
        .symlink("usr/bin/sh", "/bin/busybox")
        .char_dev("dev-null", 0o666, 1, 3)
        .fifo("pipe", 0o600)
        .pax(&[
            ("SCHILY.xattr.user.greeting", b"hello"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
        ])
        .file("with-xattr", 0o644, b"x")
        // implicit parent directories are created
        .file("deep/er/file", 0o600, b"deep")
        .dir("sticky/", 0o1777)
        .finish();
    let diff_id = unpack(&tar, &t).expect("unpack");
    assert_eq!(
        diff_id,
        sha256(&tar),
        "diff_id is the sha256 of the tar stream"
    );

    let su = fs::metadata(t.join("usr/bin/su")).expect("su");
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(su.mtime(), MTIME as i64);
    let hf = fs::metadata(t.join("home-file")).expect("home-file");
    assert_eq!(
        (hf.uid(), hf.gid(), hf.mode() & 0o7777, hf.mtime()),
        (1000, 2000, 0o640, 1_000_000_000)
    );
    let again = fs::metadata(t.join("usr/bin/su-again")).expect("hardlink");
    assert_eq!(again.ino(), su.ino(), "hardlink shares the inode");
    assert_eq!(
        fs::read_link(t.join("usr/bin/sh")).expect("symlink"),
        PathBuf::from("/bin/busybox")
    );
    let dn = fs::symlink_metadata(t.join("dev-null")).expect("dev");
    assert!(dn.file_type().is_char_device());
    assert_eq!(dn.rdev(), libc::makedev(1, 3));
    assert!(
        fs::symlink_metadata(t.join("pipe"))
            .expect("fifo")
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        getxattr(&t.join("with-xattr"), "user.greeting").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        getxattr(&t.join("with-xattr"), "trusted.overlay.redirect"),
        None,
        "overlay xattrs from archives are dropped"
    );
    assert_eq!(fs::read(t.join("deep/er/file")).expect("deep"), b"deep");
    assert_eq!(
        fs::metadata(t.join("deep")).expect("deep").mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(t.join("sticky")).expect("sticky").mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::metadata(t.join("usr")).expect("usr").mtime(),
        MTIME as i64,
        "dir mtimes set last"
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("root");
    fs::create_dir(&t).expect("mkdir");
    let tar = TarBuilder::new()
        .file("x", 0o644, b"one")
        .file("x", 0o600, b"two")
        .dir("d/", 0o755)
        .file("d/inner", 0o644, b"inner")
        .file("d", 0o644, b"now a file")
        .symlink("s", "x")
        .dir("s/", 0o700)
        .finish();
    unpack(&tar, &t).expect("unpack");
    assert_eq!(fs::read(t.join("x")).expect("x"), b"two");
    assert_eq!(fs::read(t.join("d")).expect("d"), b"now a file");
    let s = fs::symlink_metadata(t.join("s")).expect("s");
    assert!(
        s.is_dir(),
        "a directory entry replaces a symlink, it does not follow it"
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_overlay_honours_them() {
    require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let lower = dir.path().join("lower");
    let upper_layer = dir.path().join("layer2");
    fs::create_dir(&lower).expect("mkdir");
    fs::create_dir(&upper_layer).expect("mkdir");
    let base = TarBuilder::new()
        .file("gone", 0o644, b"gone")
        .file("kept", 0o644, b"kept")
        .dir("opaque/", 0o755)
        .file("opaque/old", 0o644, b"old")
        .dir("plain/", 0o755)
        .file("plain/old", 0o644, b"old")
        .finish();
    unpack(&base, &lower).expect("unpack base");
    let top = TarBuilder::new()
        .file(".wh.gone", 0o644, b"")
        .dir("opaque/", 0o755)
        .file("opaque/.wh..wh..opq", 0o644, b"")
        .file("opaque/new", 0o644, b"new")
        .file("plain/new", 0o644, b"new")
        .file("newdir/.wh.never-existed", 0o644, b"")
        .finish();
    unpack(&top, &upper_layer).expect("unpack top");

    let wh = fs::symlink_metadata(upper_layer.join("gone")).expect("whiteout");
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert!(!upper_layer.join(".wh.gone").exists());
    assert_eq!(
        getxattr(&upper_layer.join("opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!upper_layer.join("opaque/.wh..wh..opq").exists());
    assert_eq!(
        getxattr(&upper_layer.join("plain"), "trusted.overlay.opaque"),
        None
    );

    // Mount them as a read-only overlay and look through it.
    let merged = dir.path().join("merged");
    fs::create_dir(&merged).expect("mkdir");
    let opts = format!("lowerdir={}:{}", upper_layer.display(), lower.display());
    let src = CString::new("overlay").expect("cstr");
    let tgt = CString::new(merged.as_os_str().as_bytes()).expect("cstr");
    let data = CString::new(opts).expect("cstr");
    // SAFETY: valid C strings.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            libc::MS_RDONLY,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount overlay: {}", std::io::Error::last_os_error());
    let seen = (|| {
        let mut names: Vec<String> = fs::read_dir(&merged)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut op: Vec<String> = fs::read_dir(merged.join("opaque"))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        op.sort();
        let mut pl: Vec<String> = fs::read_dir(merged.join("plain"))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        pl.sort();
        Ok::<_, std::io::Error>((names, op, pl))
    })();
    // SAFETY: valid C string.
    unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) };
    let (names, op, pl) = seen.expect("read merged");
    assert_eq!(names, ["kept", "newdir", "opaque", "plain"]);
    assert_eq!(op, ["new"], "opaque dir hides the lower contents");
    assert_eq!(pl, ["new", "old"], "non-opaque dir merges");
}

// ---------------------------------------------------------------------------------------------
// Hostile layers

struct Scene {
    _dir: tempfile::TempDir,
    base: PathBuf,
    target: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonicalize");
        let target = base.join("root");
        let outside = base.join("outside");
        fs::create_dir(&target).expect("mkdir");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("secret"), b"secret").expect("write");
        Scene {
            _dir: dir,
            base,
            target,
            outside,
        }
    }

    /// Nothing outside the target changed: `outside/` holds only the untouched secret, `base`
    /// holds only `root` and `outside`, and no absolute host path was created.
    fn assert_clean(&self, host_paths: &[&str]) {
        let mut names: Vec<String> = fs::read_dir(&self.outside)
            .expect("read outside")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret"], "something landed in outside/");
        assert_eq!(
            fs::read(self.outside.join("secret")).expect("secret"),
            b"secret"
        );
        let meta = fs::metadata(self.outside.join("secret")).expect("secret");
        assert_eq!(meta.nlink(), 1, "secret was hardlinked");
        assert_eq!(meta.mode() & 0o7777, 0o644, "secret mode changed");
        assert_eq!(getxattr(&self.outside, "trusted.overlay.opaque"), None);
        let mut top: Vec<String> = fs::read_dir(&self.base)
            .expect("read base")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["outside", "root"],
            "something landed next to the target"
        );
        for p in host_paths {
            assert!(
                fs::symlink_metadata(p).is_err(),
                "{p} was created on the host"
            );
        }
    }

    fn out(&self, rel: &str) -> String {
        self.outside.join(rel).display().to_string()
    }
}

fn hostile(
    name: &str,
    build: impl FnOnce(&Scene, &mut TarBuilder),
    must_refuse: bool,
    host_paths: &[&str],
) {
    let s = Scene::new();
    let mut b = TarBuilder::new();
    build(&s, &mut b);
    let tar = b.finish();
    let r = unpack(&tar, &s.target);
    if must_refuse {
        assert!(r.is_err(), "{name}: expected the layer to be refused");
    }
    s.assert_clean(host_paths);
}

#[test]
fn hostile_dotdot_paths_are_refused() {
    require_root!();
    hostile(
        "../",
        |_, b| {
            b.file("../pwned", 0o644, b"x");
        },
        true,
        &[],
    );
    hostile(
        "a/../../",
        |_, b| {
            b.dir("a/", 0o755).file("a/../../pwned", 0o644, b"x");
        },
        true,
        &[],
    );
    hostile(
        "dir ../",
        |_, b| {
            b.dir("../pwned/", 0o755);
        },
        true,
        &[],
    );
    hostile(
        "device ../",
        |_, b| {
            b.char_dev("../pwned", 0o666, 1, 3);
        },
        true,
        &[],
    );
    hostile(
        "symlink named ../",
        |_, b| {
            b.symlink("../pwned", "/etc/passwd");
        },
        true,
        &[],
    );
}

#[test]
fn hostile_absolute_paths_land_inside() {
    require_root!();
    let s = Scene::new();
    let abs = s.out("pwned");
    let tar = TarBuilder::new().file(&abs, 0o644, b"x").finish();
    unpack(&tar, &s.target).expect("absolute names are taken relative to the root");
    assert_eq!(
        fs::read(s.target.join(abs.trim_start_matches('/'))).expect("inside"),
        b"x"
    );
    s.assert_clean(&[]);
}

#[test]
fn hostile_symlinks_are_never_followed_out() {
    require_root!();
    let pid = std::process::id();
    let etc_pwned = format!("/etc/rcompose-pwned-{pid}");
    let tmp_pwned = format!("/tmp/rcompose-pwned-{pid}");
    // absolute symlink to a host dir, then a write through it
    hostile(
        "abs symlink dir",
        |s, b| {
            b.symlink("escape", &s.out(""))
                .file("escape/pwned", 0o644, b"x");
        },
        false,
        &[],
    );
    // relative symlink climbing out, then a write through it
    hostile(
        "rel symlink dir",
        |_, b| {
            b.symlink("escape", "../../../../../../../..").file(
                "escape/tmp/rcompose-pwned",
                0o644,
                b"x",
            );
        },
        false,
        &[],
    );
    hostile(
        "symlink to /",
        |_, b| {
            b.symlink("escape", "/").dir("escape/etc/", 0o755).file(
                &format!("escape/etc/rcompose-pwned-{}", std::process::id()),
                0o644,
                b"x",
            );
        },
        false,
        &[&etc_pwned],
    );
    hostile(
        "symlink to /tmp",
        |_, b| {
            b.symlink("t", "/tmp").file(
                &format!("t/rcompose-pwned-{}", std::process::id()),
                0o644,
                b"x",
            );
        },
        false,
        &[&tmp_pwned],
    );
    // a symlink to a host file, then a regular file with the same name: replaces the link
    hostile(
        "symlink then file",
        |s, b| {
            b.symlink("f", &s.out("secret"))
                .file("f", 0o600, b"overwritten");
        },
        false,
        &[],
    );
    // symlink to a host file, then a directory entry at it (would chmod through the link)
    hostile(
        "symlink then dir",
        |s, b| {
            b.symlink("m", &s.out("secret")).dir("m/", 0o777);
        },
        false,
        &[],
    );
    // directory replaced by a symlink, then a write below it
    hostile(
        "dir then symlink",
        |s, b| {
            b.dir("d/", 0o755)
                .symlink("d", &s.out(""))
                .file("d/pwned", 0o644, b"x");
        },
        false,
        &[],
    );
    // symlink chains and loops
    hostile(
        "symlink chain",
        |s, b| {
            b.symlink("a", "b")
                .symlink("b", &s.out(""))
                .file("a/pwned", 0o644, b"x");
        },
        false,
        &[],
    );
    hostile(
        "symlink loop",
        |_, b| {
            b.symlink("a", "b")
                .symlink("b", "a")
                .file("a/pwned", 0o644, b"x");
        },
        true,
        &[],
    );
    // whiteouts and opaque markers through a symlink
    hostile(
        "whiteout via symlink",
        |s, b| {
            b.symlink("s", &s.out("")).file("s/.wh.secret", 0o644, b"");
        },
        false,
        &[],
    );
    hostile(
        "opaque via symlink",
        |s, b| {
            b.symlink("s", &s.out(""))
                .file("s/.wh..wh..opq", 0o644, b"");
        },
        false,
        &[],
    );
    hostile(
        "bad whiteout name",
        |_, b| {
            b.file(".wh..", 0o644, b"");
        },
        true,
        &[],
    );
    // devices through a symlink
    hostile(
        "device via symlink",
        |s, b| {
            b.symlink("s", &s.out("")).char_dev("s/pwned", 0o666, 1, 3);
        },
        false,
        &[],
    );
}

#[test]
fn hostile_symlink_writes_stay_in_root() {
    require_root!();
    // The write through "escape" is resolved inside the root (RESOLVE_IN_ROOT), like chroot would.
    let s = Scene::new();
    let tar = TarBuilder::new()
        .symlink("escape", "../../../../../../../..")
        .dir("tmp/", 0o755)
        .file("escape/tmp/inside", 0o644, b"x")
        .finish();
    unpack(&tar, &s.target).expect("unpack");
    assert_eq!(fs::read(s.target.join("tmp/inside")).expect("inside"), b"x");
    s.assert_clean(&[]);
}

#[test]
fn hostile_hardlinks_are_refused() {
    require_root!();
    hostile(
        "hardlink ../",
        |_, b| {
            b.hardlink("hl", "../outside/secret");
        },
        true,
        &[],
    );
    hostile(
        "hardlink absolute host path",
        |s, b| {
            b.hardlink("hl", &s.out("secret"));
        },
        true,
        &[],
    );
    hostile(
        "hardlink /etc/passwd",
        |_, b| {
            b.hardlink("hl", "/etc/passwd");
        },
        true,
        &[],
    );
    hostile(
        "hardlink not yet extracted",
        |_, b| {
            b.hardlink("hl", "later").file("later", 0o644, b"x");
        },
        true,
        &[],
    );
    hostile(
        "hardlink through symlink dir",
        |s, b| {
            b.symlink("d", &s.out("")).hardlink("hl", "d/secret");
        },
        true,
        &[],
    );
    hostile(
        "hardlink to dir",
        |_, b| {
            b.dir("d/", 0o755).hardlink("hl", "d");
        },
        true,
        &[],
    );
    // A hardlink to a symlink links the symlink itself; rewriting it never touches the target.
    hostile(
        "hardlink to symlink",
        |s, b| {
            b.symlink("l", &s.out("secret"))
                .hardlink("h", "l")
                .file("h", 0o644, b"overwritten");
        },
        false,
        &[],
    );
}
