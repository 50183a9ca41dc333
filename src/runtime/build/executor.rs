//! Building one stage: its base (scratch, an earlier stage or an image, pulled when missing),
//! ONBUILD triggers of that base, then each instruction in order. Config-only instructions
//! change the config; RUN, COPY, ADD and WORKDIR are filesystem steps, each looked up in the
//! build cache first and otherwise executed on a build overlay (COPY, ADD, WORKDIR) or in a
//! container (RUN), their upper dir becoming the step's layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use sha2::{Digest as _, Sha256};

use super::cache::{CacheKey, CacheRecord, KeyBuilder};
use super::config::{History, ImageConfig};
use super::context::SourceTree;
use super::dockerfile::{self, Add, Copy, Instruction, Located, Run, Stage};
use super::error::{BuildError, IoContext, Origin, Result};
use super::instructions::copy::{self, CopyOptions, Selected};
use super::instructions::run::{self as runcmd, Command, Mount};
use super::instructions::{self, Scope, StageVars, fetch};
use super::layer::{self, StoredLayer};
use super::overlay::Overlay;
use super::progress::Vertex;
use super::sandbox::{StepNetwork, StepSpec};
use super::session::{NamedContext, Session};
use super::stage::{self, StageRef};
use crate::runtime::container::{MountKind, MountSpec};
use crate::runtime::image::layout::{Descriptor, MEDIA_OCI_LAYER};
use crate::runtime::image::{Digest, LocalImage};

/// One layer of a stage: its diff_id and the blob that carries it.
#[derive(Debug, Clone)]
pub struct LayerDesc {
    pub diff_id: Digest,
    pub blob: Descriptor,
}

/// A built (or inherited) stage.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub config: ImageConfig,
    pub layers: Vec<LayerDesc>,
    /// The cache key of its filesystem.
    pub key: CacheKey,
    /// Time of its newest layer (the history time of config-only steps).
    pub last_created: String,
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

impl StageResult {
    fn scratch() -> Self {
        StageResult {
            config: ImageConfig::scratch(),
            layers: Vec::new(),
            key: KeyBuilder::new("scratch", None).finish(),
            last_created: EPOCH.into(),
        }
    }

    fn add_layer(&mut self, layer: &StoredLayer) {
        self.config.push_layer(layer.diff_id.as_str());
        self.layers.push(LayerDesc {
            diff_id: layer.diff_id.clone(),
            blob: Descriptor::new(MEDIA_OCI_LAYER, &layer.diff_id, layer.size),
        });
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// What a filesystem step does when it is not cached: produce a layer (or nothing).
type Exec<'e> = Box<dyn FnOnce(&Vertex) -> Result<Option<StoredLayer>> + 'e>;

/// A second cache key from the content of a step's sources, computed only when the first one
/// (from the identity of its inputs) misses: `COPY --from` a stage that changed elsewhere.
type AltKey<'e> = Box<dyn FnOnce() -> Result<CacheKey> + 'e>;

/// The state of a stage while its instructions run.
struct StageRun<'a> {
    s: &'a Session<'a>,
    stage: &'a Stage,
    label: Option<String>,
    total: usize,
    step: usize,
    st: StageResult,
    scope: Scope,
    vars: StageVars,
}

impl Session<'_> {
    /// Build stage `index`; `done` holds the results of the stages it depends on.
    pub fn build_stage(
        &self,
        index: usize,
        done: &BTreeMap<usize, Arc<StageResult>>,
    ) -> Result<StageResult> {
        let stage = &self.df.stages[index];
        let origin = self.origin(stage.line);
        let base_name = self
            .global
            .word(&ImageConfig::scratch(), &stage.from.image, &origin)?;
        if let Some(p) = &stage.from.platform {
            let p = self.global.word(&ImageConfig::scratch(), p, &origin)?;
            if !p.is_empty() && p != "linux/amd64" {
                return Err(BuildError::instruction(
                    &origin,
                    format!("platform {p:?} is not supported: this builder builds linux/amd64"),
                ));
            }
        }
        let label = (self.df.stages.len() > 1).then(|| stage::display_name(self.df, index));
        let fs_steps = stage
            .instructions
            .iter()
            .filter(|i| {
                matches!(
                    i.node,
                    Instruction::Run(_)
                        | Instruction::Copy(_)
                        | Instruction::Add(_)
                        | Instruction::Workdir(_)
                )
            })
            .count();
        let base = match stage::resolve(self.df, &base_name, Some(index)) {
            StageRef::Stage(i) => Base::Stage(done.get(&i).cloned().ok_or_else(|| {
                BuildError::instruction(&origin, format!("stage {base_name:?} was not built"))
            })?),
            StageRef::Other(n) if n.eq_ignore_ascii_case("scratch") => Base::Scratch,
            StageRef::Other(n) => Base::Image(n),
        };
        let total = fs_steps + usize::from(matches!(base, Base::Image(_)));
        let mut run = StageRun {
            s: self,
            stage,
            label,
            total,
            step: 0,
            st: StageResult::scratch(),
            scope: Scope::new(self.df.directives.escape),
            vars: StageVars::new(&ImageConfig::scratch()),
        };
        run.st = match base {
            Base::Scratch => StageResult::scratch(),
            Base::Stage(r) => (*r).clone(),
            Base::Image(name) => run.base_image(&name, &origin)?,
        };
        run.vars = StageVars::new(&run.st.config);
        run.onbuild(&origin)?;
        for ins in &stage.instructions {
            if self.stopped() {
                return Err(BuildError::Interrupted);
            }
            run.instruction(ins)?;
        }
        Ok(run.st)
    }

    pub fn origin(&self, line: usize) -> Origin {
        Origin {
            file: self.file.clone(),
            line,
        }
    }

    /// The layer dirs of `layers`, bottom first; an empty dir for a stage with none (the
    /// runtime needs at least one lower dir).
    pub fn lower_dirs(&self, layers: &[LayerDesc]) -> Vec<PathBuf> {
        if layers.is_empty() {
            return vec![self.empty_dir.clone()];
        }
        layers
            .iter()
            .map(|l| self.builder.store.layer_dir(&l.diff_id))
            .collect()
    }

    /// The stage result for image `name` (pulled when missing or with `--pull`).
    pub fn image_result(&self, image: &LocalImage) -> Result<StageResult> {
        let store = &self.builder.store;
        let manifest = store.read_manifest(&image.manifest_digest)?;
        let layers = manifest
            .layers
            .iter()
            .zip(&image.diff_ids)
            .map(|(b, d)| LayerDesc {
                diff_id: d.clone(),
                blob: b.clone(),
            })
            .collect();
        let config = ImageConfig::from_document(store.config_json(&image.id)?);
        Ok(StageResult {
            config,
            layers,
            key: KeyBuilder::new("image", None)
                .str(image.id.as_str())
                .finish(),
            last_created: image.created.clone().unwrap_or_else(|| EPOCH.into()),
        })
    }
}

enum Base {
    Scratch,
    Stage(Arc<StageResult>),
    Image(String),
}

/// Where a COPY reads from.
enum Source<'t> {
    Context(&'t SourceTree),
    /// A stage or image: mounted read-only when the step runs; `key` identifies its content.
    Layers {
        layers: Vec<LayerDesc>,
        key: CacheKey,
    },
}

impl<'a> StageRun<'a> {
    fn origin(&self, line: usize) -> Origin {
        self.s.origin(line)
    }

    fn next_label(&mut self) -> Option<String> {
        self.step += 1;
        let n = format!("{}/{}", self.step, self.total);
        Some(match &self.label {
            Some(l) => format!("{l} {n}"),
            None => n,
        })
    }

    fn base_image(&mut self, name: &str, origin: &Origin) -> Result<StageResult> {
        let name = match self.s.named.get(name) {
            Some(NamedContext::Image(i)) => i.clone(),
            Some(NamedContext::Dir(_)) => {
                return Err(BuildError::instruction(
                    origin,
                    format!("FROM {name}: a directory context cannot be a base image"),
                ));
            }
            None => name.to_string(),
        };
        let label = self.next_label();
        let image = self.s.image(&name, label.as_deref(), origin)?;
        self.s.image_result(&image)
    }

    /// Run the base image's ONBUILD triggers, then drop them from the config.
    fn onbuild(&mut self, origin: &Origin) -> Result<()> {
        let triggers = self.st.config.on_build();
        if triggers.is_empty() {
            return Ok(());
        }
        self.st.config.clear_on_build();
        for t in triggers {
            let df = dockerfile::parse(&format!("FROM scratch\n{t}\n")).map_err(|e| {
                BuildError::instruction(origin, format!("ONBUILD trigger {t:?}: {e}"))
            })?;
            for ins in df.stages.into_iter().flat_map(|s| s.instructions) {
                self.total += usize::from(matches!(
                    ins.node,
                    Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_)
                ));
                let ins = Located {
                    line: origin.line,
                    end_line: origin.line,
                    ..ins
                };
                self.instruction(&ins)?;
            }
        }
        Ok(())
    }

    fn instruction(&mut self, ins: &Located<Instruction>) -> Result<()> {
        let origin = self.origin(ins.line);
        match &ins.node {
            Instruction::Arg(decls) => {
                for d in decls {
                    let value = match self.s.req.args.get(&d.name) {
                        Some(v) => Some(v.clone()),
                        None => match &d.default {
                            Some(def) => Some(self.scope.word(&self.st.config, def, &origin)?),
                            None => self.s.global.args.get(&d.name).cloned().flatten(),
                        },
                    };
                    self.scope.args.insert(d.name.clone(), value);
                }
                Ok(())
            }
            Instruction::Run(r) => self.run(ins, r, &origin),
            Instruction::Copy(c) => self.copy(ins, c, &origin),
            Instruction::Add(a) => self.add(ins, a, &origin),
            Instruction::Workdir(w) => self.workdir(ins, w, &origin),
            other => {
                let text = instructions::apply_metadata(
                    other,
                    &mut self.st.config,
                    &mut self.vars,
                    &self.scope,
                    &origin,
                )?;
                if let Some(created_by) = text {
                    let created = self.st.last_created.clone();
                    self.st.config.push_history(&History {
                        created,
                        created_by,
                        empty_layer: true,
                    });
                }
                Ok(())
            }
        }
    }

    /// A filesystem step: reuse the cached layer for `key` (or, when given, for the content key
    /// `alt` computes on a miss), else `exec` it and record it under both keys.
    fn fs_step(
        &mut self,
        ins: &Located<Instruction>,
        key: CacheKey,
        alt: Option<AltKey<'_>>,
        history: String,
        exec: Exec<'_>,
    ) -> Result<()> {
        let label = self.next_label();
        let vertex = self.s.reporter.vertex(label.as_deref(), &ins.source);
        match self.lookup_or_exec(&vertex, &key, alt, exec) {
            Ok(rec) => {
                if rec.1 {
                    vertex.cached();
                } else {
                    vertex.done();
                }
                self.record(rec.0, history);
                Ok(())
            }
            Err(e) => {
                vertex.failed(&error_line(&e));
                Err(e)
            }
        }
    }

    /// The step's record and whether it came from the cache.
    fn lookup_or_exec(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
        alt: Option<AltKey<'_>>,
        exec: Exec<'_>,
    ) -> Result<(CacheRecord, bool)> {
        let cache = &self.s.cache;
        let store = &self.s.builder.store;
        let use_cache = !self.s.req.no_cache;
        if use_cache && let Some(rec) = cache.get(store, key) {
            return Ok((rec, true));
        }
        let alt = alt.map(|f| f()).transpose()?;
        if use_cache
            && let Some(a) = &alt
            && let Some(rec) = cache.get(store, a)
        {
            cache.put(key, &rec)?;
            return Ok((rec, true));
        }
        let layer = exec(vertex)?;
        let rec = CacheRecord {
            size: layer.as_ref().map_or(0, |l| l.size),
            diff_id: layer.map(|l| l.diff_id),
            created: now(),
        };
        cache.put(key, &rec)?;
        if let Some(a) = &alt {
            cache.put(a, &rec)?;
        }
        Ok((rec, false))
    }

    /// Apply a step's record: its layer, history entry and the new filesystem state key, which
    /// depends on the layer's content only (two ways to the same files are the same state).
    fn record(&mut self, rec: CacheRecord, history: String) {
        if let Some(d) = &rec.diff_id {
            self.st.add_layer(&StoredLayer {
                diff_id: d.clone(),
                size: rec.size,
            });
            self.st.last_created = rec.created.clone();
            self.st.key = KeyBuilder::new("state", Some(&self.st.key))
                .str(d.as_str())
                .finish();
        }
        self.st.config.push_history(&History {
            created: rec.created,
            created_by: history,
            empty_layer: rec.diff_id.is_none(),
        });
    }

    fn workdir(&mut self, ins: &Located<Instruction>, w: &str, origin: &Origin) -> Result<()> {
        let expanded = self.scope.word(&self.st.config, w, origin)?;
        let path = instructions::workdir_path(&self.st.config.working_dir(), &expanded);
        self.st.config.set_working_dir(&path);
        let key = KeyBuilder::new("workdir", Some(&self.st.key))
            .str(&path)
            .finish();
        let lowers = self.s.lower_dirs(&self.st.layers);
        let s = self.s;
        let exec: Exec<'_> = Box::new(move |_v| {
            let mut ovl = Overlay::writable(&s.scratch, &lowers)?;
            let root = super::fsops::open_dir(&ovl.merged()).at(ovl.merged())?;
            super::fsops::ensure_dir_in_root(
                std::os::fd::AsFd::as_fd(&root),
                Path::new(&path),
                (0, 0),
            )
            .map_err(|e| BuildError::instruction(origin, format!("WORKDIR {path}: {e}")))?;
            drop(root);
            s.commit_overlay(&mut ovl)
        });
        let history = format!("WORKDIR {}", self.st.config.working_dir());
        self.fs_step(ins, key, None, history, exec)
    }

    fn run(&mut self, ins: &Located<Instruction>, r: &Run, origin: &Origin) -> Result<()> {
        let command = runcmd::command(r, &self.vars);
        let network = match &r.network {
            Some(n) => n
                .parse::<StepNetwork>()
                .map_err(|e| BuildError::instruction(origin, e))?,
            None => self.s.req.network,
        };
        let workdir = self.st.config.working_dir();
        let mut mounts = Vec::new();
        for m in &r.mounts {
            let m = self.scope.word(&self.st.config, m, origin)?;
            mounts.push(runcmd::parse_mount(&m, &workdir, origin)?);
        }
        let mut env: IndexMap<String, String> = self
            .scope
            .env_args()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in self.st.config.env() {
            env.insert(k, v);
        }
        let user = self.st.config.user();
        let mut key = KeyBuilder::new("run", Some(&self.st.key));
        key = match &command {
            Command::Argv(argv) => key.str("argv").strs(argv),
            Command::Script { path, body } => key.str("script").str(path).str(body),
        };
        key = key
            .str(&user)
            .str(&workdir)
            .strs(
                env.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .str(&format!("{network:?}"));
        for m in &mounts {
            key = key.str(&self.mount_identity(m, origin)?);
        }
        let key = key.finish();
        let history = match &command {
            Command::Argv(argv) => format!("RUN {} # buildkit", argv.join(" ")),
            Command::Script { body, .. } => format!("RUN {body} # buildkit"),
        };
        let lowers = self.s.lower_dirs(&self.st.layers);
        let instruction = ins.source.clone();
        let s = self.s;
        let exec: Exec<'_> = Box::new(move |vertex| {
            s.run_step(
                RunStep {
                    command,
                    env,
                    user,
                    workdir,
                    network,
                    mounts,
                    lowers,
                    instruction,
                },
                vertex,
                origin,
            )
        });
        self.fs_step(ins, key, None, history, exec)
    }

    /// What a `--mount` contributes to the step's cache key.
    fn mount_identity(&self, m: &Mount, origin: &Origin) -> Result<String> {
        Ok(match m {
            Mount::Cache { target, id, .. } => format!("cache:{target}:{id}"),
            Mount::Tmpfs { target, size } => format!("tmpfs:{target}:{size:?}"),
            Mount::Bind {
                target,
                source,
                from,
            } => {
                let src = match from {
                    None => {
                        let mut h = Sha256::new();
                        self.s.context.checksum(source, &mut h)?;
                        format!("{:x}", h.finalize())
                    }
                    Some(f) => match self.source(f, origin)? {
                        Source::Layers { key, .. } => key.to_string(),
                        Source::Context(tree) => {
                            let mut h = Sha256::new();
                            tree.checksum(source, &mut h)?;
                            format!("{:x}", h.finalize())
                        }
                    },
                };
                format!("bind:{target}:{}:{src}", source.display())
            }
        })
    }

    /// The tree `--from=<name>` names: a stage, a named context or an image.
    fn source(&self, from: &str, origin: &Origin) -> Result<Source<'a>> {
        match stage::resolve(self.s.df, from, Some(self.stage.index)) {
            StageRef::Stage(i) => {
                let r = self.s.stage_result(i).ok_or_else(|| {
                    BuildError::instruction(origin, format!("stage {from:?} was not built"))
                })?;
                Ok(Source::Layers {
                    layers: r.layers.clone(),
                    key: r.key.clone(),
                })
            }
            StageRef::Other(name) => {
                let image = match self.s.named.get(&name) {
                    Some(NamedContext::Dir(tree)) => return Ok(Source::Context(tree)),
                    Some(NamedContext::Image(i)) => i.clone(),
                    None => name,
                };
                let img = self.s.image(&image, None, origin)?;
                let r = self.s.image_result(&img)?;
                Ok(Source::Layers {
                    layers: r.layers,
                    key: r.key,
                })
            }
        }
    }

    fn copy(&mut self, ins: &Located<Instruction>, c: &Copy, origin: &Origin) -> Result<()> {
        let spec = CopySpec {
            sources: c.sources.clone(),
            dest: c.dest.clone(),
            from: c.from.clone(),
            chown: c.chown.clone(),
            chmod: c.chmod.clone(),
            link: c.link,
            excludes: c.excludes.clone(),
            heredocs: c
                .heredocs
                .iter()
                .map(|h| (h.name.clone(), h.content.clone(), h.expand))
                .collect(),
            add: false,
            unpack: false,
        };
        self.copy_like(ins, spec, origin)
    }

    fn add(&mut self, ins: &Located<Instruction>, a: &Add, origin: &Origin) -> Result<()> {
        let spec = CopySpec {
            sources: a.sources.clone(),
            dest: a.dest.clone(),
            from: None,
            chown: a.chown.clone(),
            chmod: a.chmod.clone(),
            link: a.link,
            excludes: a.excludes.clone(),
            heredocs: a
                .heredocs
                .iter()
                .map(|h| (h.name.clone(), h.content.clone(), h.expand))
                .collect(),
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
        let word = |t: &str| self.scope.word(&self.st.config, t, origin);
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(word(s)?);
        }
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
        let mut excludes = Vec::new();
        for x in &c.excludes {
            excludes.push(word(x)?);
        }
        let from = c.from.as_deref().map(word).transpose()?;
        // Inline (heredoc) and downloaded sources go to a scratch tree copied like the context.
        let extra = self
            .s
            .scratch
            .join(crate::runtime::image::layout::unique_name("src"));
        let _extra_guard = RemoveOnDrop(extra.clone());
        let mut extra_sources = Vec::new();
        for (name, content, expand) in &c.heredocs {
            let body = if *expand {
                self.scope.heredoc(&self.st.config, content, origin)?
            } else {
                content.clone()
            };
            std::fs::create_dir_all(&extra).at(&extra)?;
            let p = extra.join(name);
            std::fs::write(&p, body).at(&p)?;
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .at(&p)?;
            extra_sources.push(name.clone());
        }
        let mut local = Vec::new();
        for s in sources {
            if c.add && fetch::is_url(&s) {
                std::fs::create_dir_all(&extra).at(&extra)?;
                let p = fetch::fetch(&s, &extra)?;
                extra_sources.push(
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            } else {
                local.push(s);
            }
        }
        let extra_tree = SourceTree::context(&extra, Default::default(), None);
        let main = match &from {
            None => Source::Context(&self.s.context),
            Some(f) => self.source(f, origin)?,
        };
        let key = KeyBuilder::new(
            if c.add { "add" } else { "copy" },
            (!c.link).then_some(&self.st.key),
        )
        .str(&dest)
        .str(chown.as_deref().unwrap_or(""))
        .str(&format!("{chmod:?}"))
        .strs(excludes.iter())
        .str(&format!("unpack={}", c.unpack));
        let excludes = if excludes.is_empty() {
            None
        } else {
            Some(super::ignore::DockerIgnore::from_patterns(&excludes)?)
        };
        let mut h = Sha256::new();
        let extra_sel = copy::select(&extra_tree, &extra_sources, origin)?;
        copy::checksum(&extra_tree, &extra_sel, &mut h)?;
        let (h_extra, key_base) = (h.clone(), key.clone());
        let main_sel = match &main {
            Source::Context(tree) => {
                let mut sel = copy::select(tree, &local, origin)?;
                if c.add && c.unpack {
                    mark_archives(tree, &mut sel)?;
                }
                copy::checksum(tree, &sel, &mut h)?;
                Some(sel)
            }
            Source::Layers { key: k, .. } => {
                h.update(k.as_str().as_bytes());
                for s in &local {
                    h.update(s.as_bytes());
                    h.update([0]);
                }
                None
            }
        };
        let key = key.field(&h.finalize()).finish();
        let s = self.s;
        let alt: Option<AltKey<'_>> = match &main {
            Source::Layers { layers, .. } => {
                let (layers, local) = (layers.clone(), local.clone());
                Some(Box::new(move || {
                    let view = Overlay::read_only(&s.scratch, &s.lower_dirs(&layers))?;
                    let tree = SourceTree::rootfs(&view.merged());
                    let sel = copy::select(&tree, &local, origin)?;
                    let mut h = h_extra;
                    h.update(b"content");
                    copy::checksum(&tree, &sel, &mut h)?;
                    Ok(key_base.field(&h.finalize()).finish())
                }))
            }
            Source::Context(_) => None,
        };
        let history = format!("{} # buildkit", ins.source);
        let lowers = if c.link {
            Vec::new()
        } else {
            self.s.lower_dirs(&self.st.layers)
        };
        let parent_lowers = self.s.lower_dirs(&self.st.layers);
        let s = self.s;
        let opts_base = CopyOptions {
            owner: None,
            mode: chmod,
            excludes,
        };
        let exec: Exec<'_> = Box::new(move |_v| {
            let mut ovl = Overlay::writable(&s.scratch, &lowers)?;
            let merged = ovl.merged();
            let mut opts = opts_base;
            if let Some(spec) = &chown {
                opts.owner = Some(if c.link {
                    let view = Overlay::read_only(&s.scratch, &parent_lowers)?;
                    copy::resolve_chown(&view.merged(), spec, origin)?
                } else {
                    copy::resolve_chown(&merged, spec, origin)?
                });
            }
            copy::copy_into(&extra_tree, &extra_sel, &dest, &merged, &opts, origin)?;
            match (main, main_sel) {
                (Source::Context(tree), Some(sel)) => {
                    copy::copy_into(tree, &sel, &dest, &merged, &opts, origin)?;
                }
                (Source::Layers { layers, .. }, _) => {
                    let view = Overlay::read_only(&s.scratch, &s.lower_dirs(&layers))?;
                    let tree = SourceTree::rootfs(&view.merged());
                    let sel = copy::select(&tree, &local, origin)?;
                    copy::copy_into(&tree, &sel, &dest, &merged, &opts, origin)?;
                }
                (Source::Context(_), None) => {}
            }
            s.commit_overlay(&mut ovl)
        });
        self.fs_step(ins, key, alt, history, exec)
    }
}

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

fn mark_archives(tree: &SourceTree, sel: &mut [Selected]) -> Result<()> {
    for s in sel.iter_mut().filter(|s| !s.is_dir) {
        let abs = tree.root().join(&s.rel);
        s.unpack = copy::archive_kind(&abs).at(&abs)?.is_some();
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first line of an error, for a vertex's `ERROR:` line.
fn error_line(e: &BuildError) -> String {
    match e {
        BuildError::RunFailed {
            command, exit_code, ..
        } => format!("process {command:?} did not complete successfully: exit code: {exit_code}"),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Everything a RUN step needs once it is decided it must run.
pub struct RunStep {
    pub command: Command,
    pub env: IndexMap<String, String>,
    pub user: String,
    pub workdir: String,
    pub network: StepNetwork,
    pub mounts: Vec<Mount>,
    pub lowers: Vec<PathBuf>,
    pub instruction: String,
}

impl Session<'_> {
    /// Unmount a step's overlay and store its upper dir as a layer.
    fn commit_overlay(&self, ovl: &mut Overlay) -> Result<Option<StoredLayer>> {
        let upper = self
            .scratch
            .join(crate::runtime::image::layout::unique_name("upper"));
        ovl.take_upper(&upper)?;
        layer::commit_upper(&self.builder.store, &upper)
    }

    fn run_step(
        &self,
        step: RunStep,
        vertex: &Vertex,
        origin: &Origin,
    ) -> Result<Option<StoredLayer>> {
        let mut views = Vec::new();
        let mut mounts = Vec::new();
        let scratch_files = self
            .scratch
            .join(crate::runtime::image::layout::unique_name("run"));
        let _files = RemoveOnDrop(scratch_files.clone());
        for m in &step.mounts {
            mounts.push(self.mount_spec(m, &mut views, origin)?);
        }
        let argv = match &step.command {
            Command::Argv(a) => a.clone(),
            Command::Script { path, body } => {
                std::fs::create_dir_all(&scratch_files).at(&scratch_files)?;
                let f = scratch_files.join("script");
                std::fs::write(&f, body).at(&f)?;
                std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .at(&f)?;
                mounts.push(MountSpec {
                    target: path.clone(),
                    kind: MountKind::Bind {
                        source: f,
                        create_host_path: false,
                        propagation: None,
                    },
                    read_only: true,
                });
                vec![path.clone()]
            }
        };
        let network = match step.network {
            StepNetwork::Default => Some(self.network()?),
            _ => None,
        };
        let spec = StepSpec {
            argv: argv.clone(),
            env: step.env,
            user: step.user,
            working_dir: step.workdir,
            network: step.network,
            extra_hosts: self.req.extra_hosts.clone(),
            shm_size: self.req.shm_size,
            lower_dirs: step.lowers,
            mounts,
        };
        let upper = self
            .scratch
            .join(crate::runtime::image::layout::unique_name("upper"));
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let sandbox = self.sandbox()?;
        let cancelled = || self.stopped();
        let result = sandbox.run(&spec, network.as_deref(), &upper, &cancelled, &mut |line| {
            vertex.output(line);
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        });
        drop(views);
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&upper);
                return Err(e);
            }
        };
        if result.exit_code != 0 {
            let _ = std::fs::remove_dir_all(&result.upper);
            return Err(BuildError::RunFailed {
                origin: origin.clone(),
                instruction: step.instruction,
                command: argv.join(" "),
                exit_code: result.exit_code,
                output: tail.into_iter().collect(),
            });
        }
        layer::commit_upper(&self.builder.store, &result.upper)
    }

    /// The runtime mount for a `--mount`; stage views stay mounted while `views` lives.
    fn mount_spec(
        &self,
        m: &Mount,
        views: &mut Vec<Overlay>,
        origin: &Origin,
    ) -> Result<MountSpec> {
        let bind = |source: PathBuf, read_only| MountSpec {
            target: m.target().to_string(),
            kind: MountKind::Bind {
                source,
                create_host_path: false,
                propagation: None,
            },
            read_only,
        };
        Ok(match m {
            Mount::Tmpfs { target, size } => MountSpec {
                target: target.clone(),
                kind: MountKind::Tmpfs {
                    size: *size,
                    mode: None,
                },
                read_only: false,
            },
            Mount::Cache {
                id, mode, uid, gid, ..
            } => {
                let h = KeyBuilder::new("cache-mount", None).str(id).finish();
                let dir = self.cache_mounts.join(h.as_str());
                if !dir.is_dir() {
                    std::fs::create_dir_all(&dir).at(&dir)?;
                    std::fs::set_permissions(
                        &dir,
                        std::os::unix::fs::PermissionsExt::from_mode(*mode),
                    )
                    .at(&dir)?;
                    std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid)).at(&dir)?;
                }
                bind(dir, false)
            }
            Mount::Bind { source, from, .. } => {
                let root = match from.as_deref() {
                    None => self.context.root().to_path_buf(),
                    Some(f) => match stage::resolve(self.df, f, None) {
                        StageRef::Stage(i) => {
                            let r = self.stage_result(i).ok_or_else(|| {
                                BuildError::instruction(
                                    origin,
                                    format!("stage {f:?} was not built"),
                                )
                            })?;
                            let v = Overlay::read_only(&self.scratch, &self.lower_dirs(&r.layers))?;
                            let p = v.merged();
                            views.push(v);
                            p
                        }
                        StageRef::Other(name) => match self.named.get(&name) {
                            Some(NamedContext::Dir(t)) => t.root().to_path_buf(),
                            _ => {
                                let img = self.image(&name, None, origin)?;
                                let r = self.image_result(&img)?;
                                let v =
                                    Overlay::read_only(&self.scratch, &self.lower_dirs(&r.layers))?;
                                let p = v.merged();
                                views.push(v);
                                p
                            }
                        },
                    },
                };
                let tree = SourceTree::rootfs(&root);
                let resolved = tree.resolve(source)?;
                bind(root.join(resolved), true)
            }
        })
    }
}
