//! `cp`: copying files and directories between the host and a container, with `docker cp`'s
//! rules for where things land, and never reading or writing outside the container's root.
//!
//! A copy is a tar stream from [`pack`] (the source tree, entries renamed for the destination)
//! into [`unpack`] (extraction under the destination directory), through a pipe between two
//! threads; `-` on either side is that stream on stdin or stdout. The container side is
//! reached through [`access`] (running: its `/proc/<pid>/root`; stopped: a private mount of its
//! rootfs and volumes). Paths are resolved with [`root::FsRoot`] (`RESOLVE_IN_ROOT`), and on the
//! host the extraction is rooted at the destination directory, so a hostile container cannot
//! make `cp` write elsewhere on the host.
//!
//! Where a copy lands (docker's rules): a source directory ending in `/.` copies its contents;
//! an existing destination directory receives the source under its own name; otherwise the
//! destination's parent must exist and the source is created (or a file replaced) under the
//! destination's name. A directory never replaces a file, nor the reverse.

pub mod access;
pub mod pack;
pub mod root;
pub mod unpack;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::error::ContainerError;
use super::runtime::ContainerRuntime;
use pack::Source;
use root::FsRoot;
use unpack::Target;

#[derive(Debug, Error)]
pub enum CopyError {
    #[error("Could not find the file {path} in container {container}")]
    NotInContainer { path: String, container: String },
    #[error("no such directory")]
    NoSuchDirectory,
    #[error("cannot copy directory")]
    CannotCopyDirectory,
    #[error("invalid output path: directory {dir:?} does not exist")]
    InvalidOutputPath { dir: String },
    #[error("destination {dest:?} must be a directory")]
    MustBeDirectory { dest: String },
    #[error("invalid symlink {path:?} -> {target:?}")]
    Breakout { path: String, target: String },
    #[error("cannot overwrite directory {path:?} with non-directory")]
    OverwriteDir { path: String },
    #[error("cannot overwrite non-directory {path:?} with directory")]
    OverwriteNonDir { path: String },
    #[error("unsafe archive entry {name:?}: {reason}")]
    UnsafeEntry { name: String, reason: String },
    #[error("reading the archive: {0}")]
    Archive(io::Error),
    #[error("{op} {path}: {}", go_errno(.source))]
    Io {
        op: String,
        path: String,
        source: io::Error,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("{0}")]
    Other(String),
}

impl CopyError {
    pub fn io(op: &str, path: &str, source: io::Error) -> Self {
        CopyError::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }
}

/// An OS error as Go prints it (`no such file or directory`), as docker's messages have it.
fn go_errno(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `cp -a` and `cp -L`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Keep the archive's uid/gid when copying into a container.
    pub archive: bool,
    /// Follow a symlink named as the source.
    pub follow_link: bool,
}

/// A source path as given: its name in the archive and whether only its contents are copied.
struct SrcPath {
    contents_only: bool,
    name: Vec<u8>,
}

impl SrcPath {
    fn parse(p: &str) -> Self {
        let contents_only = p == "." || p.ends_with("/.");
        let trimmed = p.trim_end_matches("/.").trim_end_matches('/');
        let name = trimmed.rsplit('/').next().unwrap_or("");
        SrcPath {
            contents_only: contents_only || name.is_empty(),
            name: name.as_bytes().to_vec(),
        }
    }
}

/// Where a stream is extracted: a directory path and the name the source gets in it (`None`:
/// the source's contents go straight in).
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    base: String,
    top: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Host,
    Container,
}

fn split_parent(p: &str) -> (&str, &str) {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", t),
    }
}

/// docker's destination rules (see the module doc) for a source that `is_dir`.
fn plan(
    root: &FsRoot,
    dest: &str,
    is_dir: bool,
    src: &SrcPath,
    side: Side,
) -> Result<Plan, CopyError> {
    let wants_dir = dest.ends_with('/') || dest.ends_with("/.");
    match root
        .resolve(dest.as_bytes(), true)
        .and_then(|fd| root::stat_fd(&fd))
    {
        Ok(st) if st.is_dir() => Ok(Plan {
            base: dest.to_string(),
            top: (!(is_dir && src.contents_only)).then(|| src.name.clone()),
        }),
        Ok(_) if is_dir => Err(CopyError::CannotCopyDirectory),
        Ok(_) if wants_dir => Err(CopyError::io(
            "stat",
            dest,
            io::Error::from_raw_os_error(libc::ENOTDIR),
        )),
        Ok(_) => {
            let (parent, name) = split_parent(dest);
            Ok(Plan {
                base: parent.to_string(),
                top: Some(name.as_bytes().to_vec()),
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            if wants_dir && !is_dir {
                return Err(CopyError::NoSuchDirectory);
            }
            let (parent, name) = split_parent(dest);
            let parent_ok = root
                .resolve(parent.as_bytes(), true)
                .and_then(|fd| root::stat_fd(&fd))
                .is_ok_and(|st| st.is_dir());
            if !parent_ok {
                return Err(match side {
                    Side::Host => CopyError::InvalidOutputPath { dir: parent.into() },
                    Side::Container => CopyError::NoSuchDirectory,
                });
            }
            Ok(Plan {
                base: parent.to_string(),
                top: Some(name.as_bytes().to_vec()),
            })
        }
        Err(e) => Err(CopyError::io("stat", dest, e)),
    }
}

/// A container path: relative ones are taken from the container's root, as docker does.
fn in_container(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

fn absolute(p: &Path) -> Result<PathBuf, CopyError> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| CopyError::io("getwd", ".", e))?;
    // Keep a trailing `/` or `/.`: it carries meaning for docker's rules.
    Ok(PathBuf::from(format!("{}/{}", cwd.display(), p.display())))
}

fn host_root() -> Result<FsRoot, CopyError> {
    FsRoot::open(Path::new("/")).map_err(|e| CopyError::io("open", "/", e))
}

/// Runs `produce` (writing a tar stream) on a thread and `consume` (reading it) here.
fn stream(
    produce: impl FnOnce(File) -> io::Result<()> + Send,
    consume: impl FnOnce(&mut File) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ContainerError::sys("pipe", e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || produce(File::from(w)));
        let mut r = File::from(r);
        let consumed = consume(&mut r).and_then(|()| {
            // The end-of-archive blocks: read them so the writer never sees a closed pipe.
            io::copy(&mut r, &mut io::sink())
                .map(|_| ())
                .map_err(CopyError::Archive)
        });
        drop(r);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the archiving thread panicked")));
        consumed?;
        produced.map_err(|e| CopyError::io("archive", "source", e))
    })
}

impl ContainerRuntime {
    /// `cp HOST_SRC CONTAINER:DEST`.
    pub fn copy_into(
        &self,
        key: &str,
        src: &Path,
        dest: &str,
        opts: CopyOptions,
    ) -> Result<(), CopyError> {
        let abs = absolute(src)?;
        let shown = abs.display().to_string();
        let src_path = SrcPath::parse(&shown);
        let source = Source::resolve(&host_root()?, shown.as_bytes(), opts.follow_link)
            .map_err(|e| CopyError::io("lstat", shown.trim_end_matches("/."), e))?;
        let is_dir = source.stat.is_dir();
        let dest = in_container(dest);
        self.with_container_fs(key, |root| {
            let p = plan(root, &dest, is_dir, &src_path, Side::Container)?;
            let t = Target {
                root,
                base: p.base.clone().into_bytes(),
                display: p.base.clone(),
                preserve_owner: opts.archive,
            };
            stream(
                |w| pack::pack(w, source, p.top.as_deref()).map(drop),
                |r| unpack::unpack(r, &t),
            )
        })
    }

    /// `cp CONTAINER:SRC HOST_DEST`.
    pub fn copy_out(
        &self,
        key: &str,
        src: &str,
        dest: &Path,
        opts: CopyOptions,
    ) -> Result<(), CopyError> {
        let src = in_container(src);
        let src_path = SrcPath::parse(&src);
        let dest = absolute(dest)?.display().to_string();
        let host = host_root()?;
        self.with_container_fs(key, |root| {
            let source = self.container_source(root, key, &src, opts.follow_link)?;
            let p = plan(&host, &dest, source.stat.is_dir(), &src_path, Side::Host)?;
            // Rooted at the destination directory: nothing in the stream reaches above it.
            let base_root =
                FsRoot::open(Path::new(&p.base)).map_err(|e| CopyError::io("open", &p.base, e))?;
            let t = Target {
                root: &base_root,
                base: b"/".to_vec(),
                display: p.base.clone(),
                preserve_owner: false,
            };
            stream(
                |w| pack::pack(w, source, p.top.as_deref()).map(drop),
                |r| unpack::unpack(r, &t),
            )
        })
    }

    /// `cp - CONTAINER:DEST`: a tar stream extracted into the directory `dest`.
    pub fn copy_tar_into(
        &self,
        key: &str,
        tar: impl Read + Send,
        dest: &str,
        opts: CopyOptions,
    ) -> Result<(), CopyError> {
        let dest = in_container(dest);
        self.with_container_fs(key, |root| {
            match root
                .resolve(dest.as_bytes(), true)
                .and_then(|fd| root::stat_fd(&fd))
            {
                Ok(st) if st.is_dir() => {}
                Ok(_) => {
                    return Err(CopyError::MustBeDirectory {
                        dest: format!("{key}:{dest}"),
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    return Err(CopyError::NotInContainer {
                        path: dest.clone(),
                        container: key.into(),
                    });
                }
                Err(e) => return Err(CopyError::io("stat", &dest, e)),
            }
            let t = Target {
                root,
                base: dest.clone().into_bytes(),
                display: dest.clone(),
                preserve_owner: opts.archive,
            };
            unpack::unpack(tar, &t)
        })
    }

    /// `cp CONTAINER:SRC -`: the source as a tar stream on `out`.
    pub fn copy_tar_out(
        &self,
        key: &str,
        src: &str,
        out: impl Write + Send,
        opts: CopyOptions,
    ) -> Result<(), CopyError> {
        let src = in_container(src);
        let src_path = SrcPath::parse(&src);
        self.with_container_fs(key, |root| {
            let source = self.container_source(root, key, &src, opts.follow_link)?;
            let top = (!(source.stat.is_dir() && src_path.contents_only)).then_some(&src_path.name);
            let mut out = pack::pack(out, source, top.map(|t| t.as_slice()))
                .map_err(|e| CopyError::io("write", "-", e))?;
            out.flush().map_err(|e| CopyError::io("write", "-", e))
        })
    }

    fn container_source(
        &self,
        root: &FsRoot,
        key: &str,
        src: &str,
        follow: bool,
    ) -> Result<Source, CopyError> {
        let path = src.trim_end_matches("/.");
        let path = if path.is_empty() { "/" } else { path };
        Source::resolve(root, path.as_bytes(), follow).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => CopyError::NotInContainer {
                path: src.into(),
                container: key.into(),
            },
            _ => CopyError::io("lstat", src, e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(dirs: &[&str], files: &[&str]) -> (tempfile::TempDir, FsRoot) {
        let d = tempfile::tempdir().unwrap();
        for x in dirs {
            std::fs::create_dir_all(d.path().join(x)).unwrap();
        }
        for f in files {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        let r = FsRoot::open(d.path()).unwrap();
        (d, r)
    }

    fn p(base: &str, top: Option<&str>) -> Plan {
        Plan {
            base: base.into(),
            top: top.map(|t| t.as_bytes().to_vec()),
        }
    }

    #[test]
    fn destinations_follow_dockers_rules() {
        let (_d, r) = root_with(&["dir", "tmp"], &["tmp/file"]);
        let file = SrcPath::parse("/src/a.txt");
        let dir = SrcPath::parse("/src/tree");
        let contents = SrcPath::parse("/src/tree/.");
        let c = Side::Container;
        assert_eq!(
            plan(&r, "/dir", false, &file, c).unwrap(),
            p("/dir", Some("a.txt"))
        );
        assert_eq!(
            plan(&r, "/dir/new", false, &file, c).unwrap(),
            p("/dir", Some("new"))
        );
        assert_eq!(
            plan(&r, "/tmp/file", false, &file, c).unwrap(),
            p("/tmp", Some("file"))
        );
        assert_eq!(
            plan(&r, "/dir", true, &dir, c).unwrap(),
            p("/dir", Some("tree"))
        );
        assert_eq!(
            plan(&r, "/dir", true, &contents, c).unwrap(),
            p("/dir", None)
        );
        assert_eq!(
            plan(&r, "/dir/new/", true, &contents, c).unwrap(),
            p("/dir", Some("new"))
        );
        let err = |dest, is_dir, s: &SrcPath, side| {
            plan(&r, dest, is_dir, s, side).unwrap_err().to_string()
        };
        assert_eq!(err("/tmp/file", true, &dir, c), "cannot copy directory");
        assert_eq!(err("/nope/", false, &file, c), "no such directory");
        assert_eq!(err("/nope/x", false, &file, c), "no such directory");
        assert_eq!(
            err("/nope/x", false, &file, Side::Host),
            "invalid output path: directory \"/nope\" does not exist"
        );
    }

    #[test]
    fn source_names() {
        let s = SrcPath::parse("/a/b/");
        assert_eq!((s.name.as_slice(), s.contents_only), (&b"b"[..], false));
        let s = SrcPath::parse("/a/b/.");
        assert_eq!((s.name.as_slice(), s.contents_only), (&b"b"[..], true));
        assert!(SrcPath::parse("/").contents_only);
        assert_eq!(split_parent("/x"), ("/", "x"));
        assert_eq!(split_parent("/a/b/"), ("/a", "b"));
    }

    #[test]
    fn go_style_errors() {
        let e = CopyError::io("lstat", "/x", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "lstat /x: no such file or directory");
    }
}
