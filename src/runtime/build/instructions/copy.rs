//! COPY and ADD into an image root: source selection (globs with Go's `filepath.Match` rules,
//! symlinks resolved inside the source tree), docker's destination rules, `--chown`/`--chmod`,
//! and ADD's extraction of local tar archives.
//!
//! Destination rules (docker's): a source directory's *contents* are copied; with several
//! sources the destination must be a directory written with a trailing `/`; a single file goes
//! to `dest/<name>` when `dest` ends in `/` or is an existing directory, else it becomes `dest`.
//! Files from the build context are owned by root unless `--chown` says otherwise; files from a
//! stage or image keep their owners.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use sha2::{Digest as _, Sha256};

use super::super::context::SourceTree;
use super::super::error::{BuildError, IoContext, Origin, Result};
use super::super::fsops;
use super::super::ignore::DockerIgnore;

/// One source after glob expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Relative to the tree root, symlinks resolved.
    pub rel: PathBuf,
    pub is_dir: bool,
    /// Whether this is an archive ADD should unpack instead of copying.
    pub unpack: bool,
}

/// COPY/ADD options after expansion.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// (uid, gid) for everything copied; `None`: root for context files, kept otherwise.
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
    /// `--exclude` patterns.
    pub excludes: Option<DockerIgnore>,
}

/// Whether a pattern uses `filepath.Match` metacharacters.
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[...]` classes with ranges and
/// `^`/`!` negation, `\` escapes. A malformed pattern matches nothing.
pub fn component_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(&p[pi..], n[ni])
                        && ok
                    {
                        pi += next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Match `c` against the class at the start of `p` (`[...]`); (matched, class length).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|h| *h != ']') {
            i += 1;
            let h = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            h
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

/// Expand the sources against `tree`: wildcards are matched component by component (excluded
/// entries never match), plain paths are resolved (symlinks inside the tree) and must exist.
pub fn select(tree: &SourceTree, sources: &[String], origin: &Origin) -> Result<Vec<Selected>> {
    let mut out = Vec::new();
    for src in sources {
        let rel = fsops::relative(Path::new(src));
        if has_wildcards(src) {
            let matches = glob(tree, &rel)?;
            if matches.is_empty() {
                return Err(BuildError::SourceNotFound {
                    origin: origin.clone(),
                    path: src.clone(),
                });
            }
            out.extend(matches);
            continue;
        }
        let resolved = tree.resolve(&rel)?;
        let md = tree
            .stat(&resolved)?
            .filter(|_| !tree.is_excluded(&rel))
            .ok_or_else(|| BuildError::SourceNotFound {
                origin: origin.clone(),
                path: src.clone(),
            })?;
        out.push(Selected {
            rel: resolved,
            is_dir: md.is_dir(),
            unpack: false,
        });
    }
    Ok(out)
}

fn glob(tree: &SourceTree, pattern: &Path) -> Result<Vec<Selected>> {
    let comps: Vec<String> = pattern
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for dir in &current {
            if has_wildcards(comp) {
                let abs = tree.root().join(dir);
                if !abs.is_dir() {
                    continue;
                }
                for (child, md) in tree.list(dir)? {
                    let name = child
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if component_match(comp, &name)
                        && !tree.is_excluded(&child)
                        && (last || md.is_dir() || md.file_type().is_symlink())
                    {
                        next.push(child);
                    }
                }
            } else {
                let unescaped = comp.replace('\\', "");
                next.push(dir.join(unescaped));
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    for rel in current {
        let resolved = tree.resolve(&rel)?;
        if let Some(md) = tree.stat(&resolved)? {
            out.push(Selected {
                rel: resolved,
                is_dir: md.is_dir(),
                unpack: false,
            });
        }
    }
    Ok(out)
}

/// Feed what copying `sel` from `tree` depends on into `h` (names, modes, contents).
pub fn checksum(tree: &SourceTree, sel: &[Selected], h: &mut Sha256) -> Result<()> {
    for s in sel {
        h.update(s.rel.as_os_str().as_encoded_bytes());
        h.update([u8::from(s.is_dir), u8::from(s.unpack)]);
        tree.checksum(&s.rel, h)?;
    }
    Ok(())
}

/// Resolve `--chown=user[:group]` against the image root's `/etc/passwd` and `/etc/group`.
/// Like docker, a user without a group gives the same number as gid.
pub fn resolve_chown(root: &Path, spec: &str, origin: &Origin) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<u32> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        let fd = fsops::open_dir(root).at(root)?;
        let text = fsops::open_in_root(fd.as_fd(), Path::new(file), OFlag::O_RDONLY)
            .map(File::from)
            .and_then(io::read_to_string)
            .unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(field).and_then(|v| v.parse().ok()))
            .ok_or_else(|| {
                BuildError::instruction(
                    origin,
                    format!("unable to convert {name:?} to a uid/gid: not found in /{file}"),
                )
            })
    };
    let uid = lookup("etc/passwd", user, 2)?;
    let gid = match group {
        Some(g) if !g.is_empty() => lookup("etc/group", g, 2)?,
        _ => uid,
    };
    Ok((uid, gid))
}

/// Parse `--chmod` (octal).
pub fn parse_chmod(s: &str, origin: &Origin) -> Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            BuildError::instruction(
                origin,
                format!("invalid chmod {s:?}: expected an octal mode"),
            )
        })
}

/// Copy `sel` from `tree` to `dest` (absolute, in the image) inside the image root `root`.
pub fn copy_into(
    tree: &SourceTree,
    sel: &[Selected],
    dest: &str,
    root: &Path,
    opts: &CopyOptions,
    origin: &Origin,
) -> Result<()> {
    let dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "/";
    if sel.len() > 1 && !dest_is_dir {
        return Err(BuildError::instruction(
            origin,
            "When using COPY with more than one source file, the destination must be a directory and end with a /",
        ));
    }
    let root_fd = fsops::open_dir(root).at(root)?;
    let root_fd = root_fd.as_fd();
    let dest_rel = fsops::relative(Path::new(dest));
    let created_owner = opts.owner.unwrap_or((0, 0));
    for s in sel {
        let into_dir = s.is_dir
            || s.unpack
            || dest_is_dir
            || fsops::open_in_root(root_fd, &dest_rel, OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok();
        if into_dir {
            let dir = fsops::ensure_dir_in_root(root_fd, &dest_rel, created_owner)
                .map_err(|e| BuildError::instruction(origin, format!("{dest}: {e}")))?;
            if s.unpack {
                unpack_archive(tree, &s.rel, &dir, origin)?;
            } else if s.is_dir {
                copy_tree(tree, &s.rel, root_fd, &dest_rel, opts)?;
            } else {
                let name = s.rel.file_name().unwrap_or_default();
                copy_one(tree, &s.rel, dir.as_fd(), name, opts)?;
            }
        } else {
            let parent = dest_rel.parent().unwrap_or(Path::new(""));
            let name = dest_rel.file_name().unwrap_or_default();
            let dir = fsops::ensure_dir_in_root(root_fd, parent, created_owner)
                .map_err(|e| BuildError::instruction(origin, format!("{dest}: {e}")))?;
            copy_one(tree, &s.rel, dir.as_fd(), name, opts)?;
        }
    }
    Ok(())
}

/// Copy the contents of directory `src` to `dest_rel` (which exists).
fn copy_tree(
    tree: &SourceTree,
    src: &Path,
    root_fd: BorrowedFd<'_>,
    dest_rel: &Path,
    opts: &CopyOptions,
) -> Result<()> {
    let excludes = opts.excludes.as_ref();
    let mut skip_under: Option<PathBuf> = None;
    tree.walk(src, &mut |e| {
        if e.rel == src {
            return Ok(());
        }
        if skip_under.as_ref().is_some_and(|s| e.rel.starts_with(s)) {
            return Ok(());
        }
        let below = e.rel.strip_prefix(src).unwrap_or(e.rel);
        if let Some(x) = excludes
            && x.is_excluded(below)
        {
            if e.metadata.is_dir() && !x.may_include_under(below) {
                skip_under = Some(e.rel.to_path_buf());
            }
            return Ok(());
        }
        let target = dest_rel.join(below);
        let parent = target.parent().unwrap_or(Path::new(""));
        let dir =
            fsops::open_in_root(root_fd, parent, OFlag::O_PATH | OFlag::O_DIRECTORY).at(parent)?;
        copy_one(
            tree,
            e.rel,
            dir.as_fd(),
            target.file_name().unwrap_or_default(),
            opts,
        )
    })
}

/// Copy one entry (not recursing) from `tree` to `name` in `dir`, with owner, mode and mtime.
fn copy_one(
    tree: &SourceTree,
    rel: &Path,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    opts: &CopyOptions,
) -> Result<()> {
    let abs = tree.root().join(rel);
    let md = fs::symlink_metadata(&abs).at(&abs)?;
    let ft = md.file_type();
    let owner = opts.owner.unwrap_or(if tree.keeps_owner() {
        (md.uid(), md.gid())
    } else {
        (0, 0)
    });
    let mode = opts.mode.unwrap_or(md.mode() & 0o7777);
    let target = || PathBuf::from(name);
    if ft.is_dir() {
        match fsops::lstat_at(dir, name).at(target())? {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Some(_) => {
                fsops::remove_non_dir(dir, name).at(target())?;
                nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o700))
                    .at(target())?;
            }
            None => {
                nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o700))
                    .at(target())?
            }
        }
        fsops::set_owner_mode(dir, name, owner, Some(mode)).at(target())?;
    } else if ft.is_file() {
        let mut src = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&abs)
            .at(&abs)?;
        let mut out = fsops::create_file(dir, name).at(target())?;
        io::copy(&mut src, &mut out).at(&abs)?;
        drop(out);
        fsops::set_owner_mode(dir, name, owner, Some(mode)).at(target())?;
    } else if ft.is_symlink() {
        let link = fs::read_link(&abs).at(&abs)?;
        fsops::remove_non_dir(dir, name).at(target())?;
        nix::unistd::symlinkat(link.as_path(), dir, name).at(target())?;
        fsops::set_owner_mode(dir, name, owner, None).at(target())?;
    } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        fsops::remove_non_dir(dir, name).at(target())?;
        let kind = if ft.is_fifo() {
            nix::sys::stat::SFlag::S_IFIFO
        } else if ft.is_char_device() {
            nix::sys::stat::SFlag::S_IFCHR
        } else {
            nix::sys::stat::SFlag::S_IFBLK
        };
        nix::sys::stat::mknodat(
            dir,
            name,
            kind,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            md.rdev(),
        )
        .at(target())?;
        fsops::set_owner_mode(dir, name, owner, Some(mode)).at(target())?;
    } else {
        return Ok(()); // sockets are not copied
    }
    fsops::set_mtime(dir, name, md.mtime(), md.mtime_nsec()).at(target())
}

/// Compression or container formats ADD recognizes by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

/// Sniff whether the file at `path` is an archive ADD unpacks (a tar, possibly compressed).
pub fn archive_kind(path: &Path) -> io::Result<Option<ArchiveKind>> {
    use std::io::Read;
    let mut head = [0u8; 512];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let h = &head[..n];
    Ok(if h.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::Gzip)
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(ArchiveKind::Zstd)
    } else if h.starts_with(b"BZh") {
        Some(ArchiveKind::Bzip2)
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(ArchiveKind::Xz)
    } else if n == 512 && &h[257..262] == b"ustar" {
        Some(ArchiveKind::Tar)
    } else {
        None
    })
}

/// Extract archive `rel` of `tree` into the directory `dir` (already resolved in the image root),
/// with the image store's hostile-archive-safe unpacker.
fn unpack_archive(tree: &SourceTree, rel: &Path, dir: &OwnedFd, origin: &Origin) -> Result<()> {
    let abs = tree.root().join(rel);
    if matches!(
        archive_kind(&abs).at(&abs)?,
        Some(ArchiveKind::Bzip2 | ArchiveKind::Xz)
    ) {
        return Err(BuildError::instruction(
            origin,
            format!(
                "{}: bzip2 and xz archives are not supported by ADD here (use gzip or zstd)",
                rel.display()
            ),
        ));
    }
    let file = File::open(&abs).at(&abs)?;
    let reader = crate::runtime::image::unpack::decompress(file).at(&abs)?;
    let target = fsops::fd_path(dir.as_fd());
    let opts = crate::runtime::image::unpack::UnpackOptions {
        overlay_whiteouts: false,
        preserve_owner: true,
    };
    crate::runtime::image::unpack::unpack_layer(
        reader,
        &target,
        &rel.display().to_string(),
        &opts,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_rules() {
        assert!(component_match("*.txt", "a.txt"));
        assert!(!component_match("*.txt", "a.txt.bak"));
        assert!(component_match("a?c", "abc"));
        assert!(component_match("[a-c]x", "bx"));
        assert!(!component_match("[^a-c]x", "bx"));
        assert!(component_match("[!a-c]x", "dx"));
        assert!(component_match("\\*", "*"));
        assert!(!component_match("\\*", "a"));
        assert!(component_match("*", ""));
        assert!(component_match("a*b*c", "aXbYbZc"));
        assert!(!component_match("[", "["));
    }

    fn origin() -> Origin {
        Origin {
            file: "Dockerfile".into(),
            line: 3,
        }
    }

    fn context() -> (tempfile::TempDir, SourceTree) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("src/sub")).unwrap();
        fs::write(r.join("src/a.txt"), "a").unwrap();
        fs::write(r.join("src/b.md"), "b").unwrap();
        fs::write(r.join("src/sub/c.txt"), "c").unwrap();
        fs::write(r.join("top.txt"), "t").unwrap();
        fs::write(r.join("secret.txt"), "s").unwrap();
        let ignore = DockerIgnore::default();
        let t = SourceTree::context(r, ignore, None);
        (dir, t)
    }

    #[test]
    fn selection_globs_and_missing_sources() {
        let (_d, t) = context();
        let sel = select(&t, &["src/*.txt".into(), "top.txt".into()], &origin()).unwrap();
        let rels: Vec<_> = sel.iter().map(|s| s.rel.display().to_string()).collect();
        assert_eq!(rels, ["src/a.txt", "top.txt"]);
        let sel = select(&t, &["*".into()], &origin()).unwrap();
        assert_eq!(sel.len(), 3, "src, secret.txt, top.txt");
        let err = select(&t, &["nope.txt".into()], &origin()).unwrap_err();
        assert!(err.to_string().contains("Dockerfile:3"), "{err}");
        assert!(select(&t, &["*.none".into()], &origin()).is_err());
    }

    #[test]
    fn destination_rules() {
        let (_d, t) = context();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let opts = CopyOptions {
            owner: Some(me),
            ..CopyOptions::default()
        };
        let o = origin();
        // A directory's contents; a file to a new name; a file into a dir.
        copy_into(
            &t,
            &select(&t, &["src".into()], &o).unwrap(),
            "/app",
            r,
            &opts,
            &o,
        )
        .unwrap();
        assert!(r.join("app/a.txt").is_file());
        assert!(r.join("app/sub/c.txt").is_file());
        assert!(!r.join("app/src").exists());
        copy_into(
            &t,
            &select(&t, &["top.txt".into()], &o).unwrap(),
            "/renamed",
            r,
            &opts,
            &o,
        )
        .unwrap();
        assert_eq!(fs::read_to_string(r.join("renamed")).unwrap(), "t");
        copy_into(
            &t,
            &select(&t, &["top.txt".into()], &o).unwrap(),
            "/app",
            r,
            &opts,
            &o,
        )
        .unwrap();
        assert!(r.join("app/top.txt").is_file(), "existing dir: into it");
        copy_into(
            &t,
            &select(&t, &["top.txt".into()], &o).unwrap(),
            "/new/",
            r,
            &opts,
            &o,
        )
        .unwrap();
        assert!(r.join("new/top.txt").is_file());
        let two = select(&t, &["top.txt".into(), "secret.txt".into()], &o).unwrap();
        let err = copy_into(&t, &two, "/single", r, &opts, &o).unwrap_err();
        assert!(err.to_string().contains("must be a directory"), "{err}");
        // --exclude
        let ex = CopyOptions {
            excludes: Some(DockerIgnore::default()),
            ..opts.clone()
        };
        copy_into(
            &t,
            &select(&t, &["src".into()], &o).unwrap(),
            "/ex/",
            r,
            &ex,
            &o,
        )
        .unwrap();
        assert!(r.join("ex/b.md").exists());
    }

    #[test]
    fn modes_and_mtimes_are_kept_or_forced() {
        use std::os::unix::fs::PermissionsExt;
        let (d, t) = context();
        fs::set_permissions(d.path().join("top.txt"), fs::Permissions::from_mode(0o751)).unwrap();
        let root = tempfile::tempdir().unwrap();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let o = origin();
        let sel = select(&t, &["top.txt".into()], &o).unwrap();
        let opts = CopyOptions {
            owner: Some(me),
            ..CopyOptions::default()
        };
        copy_into(&t, &sel, "/a", root.path(), &opts, &o).unwrap();
        let src = fs::metadata(d.path().join("top.txt")).unwrap();
        let got = fs::metadata(root.path().join("a")).unwrap();
        assert_eq!(got.mode() & 0o7777, 0o751);
        assert_eq!(got.mtime(), src.mtime());
        let forced = CopyOptions {
            mode: Some(0o600),
            ..opts
        };
        copy_into(&t, &sel, "/b", root.path(), &forced, &o).unwrap();
        assert_eq!(
            fs::metadata(root.path().join("b")).unwrap().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn chown_names_and_numbers() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let o = origin();
        assert_eq!(resolve_chown(root.path(), "app", &o).unwrap(), (1000, 1000));
        assert_eq!(
            resolve_chown(root.path(), "app:staff", &o).unwrap(),
            (1000, 50)
        );
        assert_eq!(resolve_chown(root.path(), "7:8", &o).unwrap(), (7, 8));
        assert!(resolve_chown(root.path(), "ghost", &o).is_err());
        assert_eq!(parse_chmod("755", &o).unwrap(), 0o755);
        assert!(parse_chmod("u+x", &o).is_err());
    }
}
