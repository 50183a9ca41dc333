//! Building one stage: its base (scratch, an earlier stage or an image, pulled when missing),
//! ONBUILD triggers of that base, then each instruction in order. Config-only instructions
//! change the config; RUN, COPY, ADD and WORKDIR are filesystem steps, each looked up in the
//! build cache first and otherwise executed on a build overlay (COPY, ADD, WORKDIR) or in a
//! container (RUN), their upper dir becoming the step's layer. [`copy_step`] and [`run_step`]
//! hold the COPY/ADD and RUN steps.

mod copy_step;
mod run_step;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::{CacheKey, CacheRecord, KeyBuilder};
use super::config::{History, ImageConfig};
use super::context::SourceTree;
use super::dockerfile::{self, Instruction, Located, Stage};
use super::error::{BuildError, IoContext, Origin, Result};
use super::instructions::{self, Scope, StageVars};
use super::layer::{self, StoredLayer};
use super::overlay::Overlay;
use super::progress::Vertex;
use super::session::{NamedContext, Session};
use super::stage::{self, StageRef};
use crate::runtime::image::layout::{Descriptor, MEDIA_OCI_LAYER};
use crate::runtime::image::{Digest, LocalImage};

pub use run_step::RunStep;

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
        name: &str,
        key: CacheKey,
        alt: Option<AltKey<'_>>,
        history: String,
        exec: Exec<'_>,
    ) -> Result<()> {
        let label = self.next_label();
        let vertex = self.s.reporter.vertex(label.as_deref(), name);
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
        self.fs_step(&ins.source, key, None, history, exec)
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

impl Session<'_> {
    /// Unmount a step's overlay and store its upper dir as a layer.
    fn commit_overlay(&self, ovl: &mut Overlay) -> Result<Option<StoredLayer>> {
        let upper = self
            .scratch
            .join(crate::runtime::image::layout::unique_name("upper"));
        ovl.take_upper(&upper)?;
        layer::commit_upper(&self.builder.store, &upper)
    }
}
