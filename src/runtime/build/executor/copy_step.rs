//! The COPY and ADD steps: their words expanded, inline (heredoc) and downloaded sources put in a
//! scratch tree, the cache key from the sources' content (or, for `--from`, the source stage's
//! state with a content checksum as second chance), and the copy on a build overlay.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{AltKey, Exec, RemoveOnDrop, Source, StageRun};
use crate::runtime::build::cache::{CacheKey, KeyBuilder};
use crate::runtime::build::context::SourceTree;
use crate::runtime::build::dockerfile::{Add, Copy, Instruction, Located};
use crate::runtime::build::error::{IoContext, Origin, Result};
use crate::runtime::build::ignore::DockerIgnore;
use crate::runtime::build::instructions::copy::{self, CopyOptions, Selected};
use crate::runtime::build::instructions::{self, fetch};
use crate::runtime::build::overlay::Overlay;
use crate::runtime::image::layout::unique_name;

/// COPY and ADD, merged (ADD adds URLs and archive unpacking).
struct CopySpec {
    sources: Vec<String>,
    dest: String,
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
    link: bool,
    excludes: Vec<String>,
    /// (name, content, expand)
    heredocs: Vec<(String, String, bool)>,
    add: bool,
    unpack: bool,
}

/// A COPY/ADD with its words expanded.
struct Expanded {
    /// Local sources (URLs went to the extra tree).
    local: Vec<String>,
    dest: String,
    chown: Option<String>,
    chmod: Option<u32>,
    excludes: Vec<String>,
    from: Option<String>,
}

/// Heredoc files and downloads, copied like context files; removed with this.
struct Extra {
    tree: SourceTree,
    sel: Vec<Selected>,
    _dir: RemoveOnDrop,
}

impl<'a> StageRun<'a> {
    pub(super) fn copy(
        &mut self,
        ins: &Located<Instruction>,
        c: &Copy,
        origin: &Origin,
    ) -> Result<()> {
        let spec = CopySpec {
            sources: c.sources.clone(),
            dest: c.dest.clone(),
            from: c.from.clone(),
            chown: c.chown.clone(),
            chmod: c.chmod.clone(),
            link: c.link,
            excludes: c.excludes.clone(),
            heredocs: heredocs(&c.heredocs),
            add: false,
            unpack: false,
        };
        self.copy_like(ins, spec, origin)
    }

    pub(super) fn add(
        &mut self,
        ins: &Located<Instruction>,
        a: &Add,
        origin: &Origin,
    ) -> Result<()> {
        let spec = CopySpec {
            sources: a.sources.clone(),
            dest: a.dest.clone(),
            from: None,
            chown: a.chown.clone(),
            chmod: a.chmod.clone(),
            link: a.link,
            excludes: a.excludes.clone(),
            heredocs: heredocs(&a.heredocs),
            add: true,
            unpack: a.unpack.unwrap_or(true),
        };
        self.copy_like(ins, spec, origin)
    }

    fn copy_like(
        &mut self,
        ins: &Located<Instruction>,
        c: CopySpec,
        origin: &Origin,
    ) -> Result<()> {
        let (e, extra) = self.expand_copy(&c, origin)?;
        let main = match &e.from {
            None => Source::Context(&self.s.context),
            Some(f) => self.source(f, origin)?,
        };
        let base = KeyBuilder::new(
            if c.add { "add" } else { "copy" },
            (!c.link).then_some(&self.st.key),
        )
        .str(&e.dest)
        .str(e.chown.as_deref().unwrap_or(""))
        .str(&format!("{:?}", e.chmod))
        .strs(e.excludes.iter())
        .str(&format!("unpack={}", c.unpack));
        let mut h = Sha256::new();
        copy::checksum(&extra.tree, &extra.sel, &mut h)?;
        let alt = self.content_key(&main, &e.local, base.clone(), h.clone(), origin);
        let main_sel = match &main {
            Source::Context(tree) => {
                let mut sel = copy::select(tree, &e.local, origin)?;
                if c.add && c.unpack {
                    mark_archives(tree, &mut sel)?;
                }
                copy::checksum(tree, &sel, &mut h)?;
                sel
            }
            Source::Layers { key, .. } => {
                h.update(key.as_str().as_bytes());
                for s in &e.local {
                    h.update(s.as_bytes());
                    h.update([0]);
                }
                Vec::new()
            }
        };
        let key = base.field(&h.finalize()).finish();
        let history = format!("{} # buildkit", ins.source);
        let exec = self.copy_exec(c.link, e, extra, main, main_sel, origin)?;
        self.fs_step(&ins.source, key, alt, history, exec)
    }

    /// Expand the words, write heredoc sources and fetch URLs into the extra tree.
    fn expand_copy(&self, c: &CopySpec, origin: &Origin) -> Result<(Expanded, Extra)> {
        let word = |t: &str| self.scope.word(&self.st.config, t, origin);
        let dest = instructions::dest_path(&self.st.config.working_dir(), &word(&c.dest)?);
        let chown = c
            .chown
            .as_deref()
            .map(word)
            .transpose()?
            .filter(|s| !s.is_empty());
        let chmod = match c.chmod.as_deref().map(word).transpose()? {
            Some(m) if !m.is_empty() => Some(copy::parse_chmod(&m, origin)?),
            _ => None,
        };
        let excludes = c
            .excludes
            .iter()
            .map(|x| word(x))
            .collect::<Result<Vec<_>>>()?;
        let from = c.from.as_deref().map(word).transpose()?;
        let dir = self.s.scratch.join(unique_name("src"));
        std::fs::create_dir_all(&dir).at(&dir)?;
        let guard = RemoveOnDrop(dir.clone());
        let mut names = Vec::new();
        for (name, content, expand) in &c.heredocs {
            let body = if *expand {
                self.scope.heredoc(&self.st.config, content, origin)?
            } else {
                content.clone()
            };
            let p = dir.join(name);
            std::fs::write(&p, body).at(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).at(&p)?;
            names.push(name.clone());
        }
        let mut local = Vec::new();
        for s in &c.sources {
            let s = word(s)?;
            if c.add && fetch::is_url(&s) {
                let p = fetch::fetch(&s, &dir)?;
                names.push(
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            } else {
                local.push(s);
            }
        }
        let tree = SourceTree::context(&dir, DockerIgnore::default(), None);
        let sel = copy::select(&tree, &names, origin)?;
        let e = Expanded {
            local,
            dest,
            chown,
            chmod,
            excludes,
            from,
        };
        Ok((
            e,
            Extra {
                tree,
                sel,
                _dir: guard,
            },
        ))
    }

    /// For `--from` a stage or image: the key from the content of what is copied, computed
    /// (mounting a read-only view) only if the key from the stage's state misses.
    fn content_key(
        &self,
        main: &Source<'a>,
        local: &[String],
        base: KeyBuilder,
        mut h: Sha256,
        origin: &'a Origin,
    ) -> Option<AltKey<'a>> {
        let Source::Layers { layers, .. } = main else {
            return None;
        };
        let (s, layers, local) = (self.s, layers.clone(), local.to_vec());
        Some(Box::new(move || -> Result<CacheKey> {
            let view = Overlay::read_only(&s.scratch, &s.lower_dirs(&layers))?;
            let tree = SourceTree::rootfs(&view.merged());
            let sel = copy::select(&tree, &local, origin)?;
            h.update(b"content");
            copy::checksum(&tree, &sel, &mut h)?;
            Ok(base.field(&h.finalize()).finish())
        }))
    }

    /// The copy itself, on a writable overlay of the stage (of nothing with `--link`).
    fn copy_exec(
        &self,
        link: bool,
        e: Expanded,
        extra: Extra,
        main: Source<'a>,
        main_sel: Vec<Selected>,
        origin: &'a Origin,
    ) -> Result<Exec<'a>> {
        let s = self.s;
        let parent = s.lower_dirs(&self.st.layers);
        let lowers = if link { Vec::new() } else { parent.clone() };
        let excludes = if e.excludes.is_empty() {
            None
        } else {
            Some(DockerIgnore::from_patterns(&e.excludes)?)
        };
        Ok(Box::new(move |_vertex| {
            // The whole of `extra` (not just the fields used below): its guard keeps the files.
            let extra = &extra;
            let mut ovl = Overlay::writable(&s.scratch, &lowers)?;
            let merged = ovl.merged();
            let owner = match &e.chown {
                // `--link` copies onto nothing: names resolve in the stage it lands on.
                Some(spec) if link => {
                    let view = Overlay::read_only(&s.scratch, &parent)?;
                    Some(copy::resolve_chown(&view.merged(), spec, origin)?)
                }
                Some(spec) => Some(copy::resolve_chown(&merged, spec, origin)?),
                None => None,
            };
            let opts = CopyOptions {
                owner,
                mode: e.chmod,
                excludes,
            };
            copy::copy_into(&extra.tree, &extra.sel, &e.dest, &merged, &opts, origin)?;
            match main {
                Source::Context(tree) => {
                    copy::copy_into(tree, &main_sel, &e.dest, &merged, &opts, origin)?
                }
                Source::Layers { layers, .. } => {
                    let view = Overlay::read_only(&s.scratch, &s.lower_dirs(&layers))?;
                    let tree = SourceTree::rootfs(&view.merged());
                    let sel = copy::select(&tree, &e.local, origin)?;
                    copy::copy_into(&tree, &sel, &e.dest, &merged, &opts, origin)?;
                }
            }
            s.commit_overlay(&mut ovl)
        }))
    }
}

fn heredocs(docs: &[crate::runtime::build::dockerfile::Heredoc]) -> Vec<(String, String, bool)> {
    docs.iter()
        .map(|h| (h.name.clone(), h.content.clone(), h.expand))
        .collect()
}

/// ADD unpacks local archives (tar, gzip/zstd-compressed tar) instead of copying them.
fn mark_archives(tree: &SourceTree, sel: &mut [Selected]) -> Result<()> {
    for s in sel.iter_mut().filter(|s| !s.is_dir) {
        let abs: PathBuf = tree.root().join(&s.rel);
        s.unpack = copy::archive_kind(&abs).at(&abs)?.is_some();
    }
    Ok(())
}
