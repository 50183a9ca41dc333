//! The RUN step: its cache key (command, environment, user, working directory, network and
//! mounts), and, on a miss, the container that runs it with its `--mount`s, the output it
//! streams, and the layer its upper dir becomes.

use std::collections::VecDeque;
use std::path::PathBuf;

use indexmap::IndexMap;
use sha2::{Digest as _, Sha256};

use super::{Exec, RemoveOnDrop, Source, StageRun};
use crate::runtime::build::cache::KeyBuilder;
use crate::runtime::build::context::SourceTree;
use crate::runtime::build::dockerfile::{self, Instruction, Located, Run};
use crate::runtime::build::error::{BuildError, IoContext, Origin, Result};
use crate::runtime::build::instructions::run::{self as runcmd, Command, Mount};
use crate::runtime::build::layer::{self, StoredLayer};
use crate::runtime::build::overlay::Overlay;
use crate::runtime::build::progress::Vertex;
use crate::runtime::build::sandbox::{StepNetwork, StepSpec};
use crate::runtime::build::session::{NamedContext, Session};
use crate::runtime::build::stage::{self, StageRef};
use crate::runtime::container::{MountKind, MountSpec};
use crate::runtime::image::layout::unique_name;

/// How many of a failing step's last output lines its error repeats.
const ERROR_TAIL: usize = 20;

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

impl StageRun<'_> {
    pub(super) fn run(
        &mut self,
        ins: &Located<Instruction>,
        r: &Run,
        origin: &Origin,
    ) -> Result<()> {
        let step = self.run_inputs(ins, r, origin)?;
        let key = self.run_key(&step, origin)?;
        let history = match &step.command {
            Command::Argv(argv) => format!("RUN {} # buildkit", argv.join(" ")),
            Command::Script { body, .. } => format!("RUN {body} # buildkit"),
        };
        // BuildKit names the step with the variables that are set substituted.
        let name = {
            let lookup = self.scope.lookup(&self.st.config);
            dockerfile::expand_for_display(&ins.source, &lookup, self.scope.escape)
        };
        let s = self.s;
        let exec: Exec<'_> = Box::new(move |vertex| s.run_step(step, vertex, origin));
        self.fs_step(&name, key, None, history, exec)
    }

    fn run_inputs(&self, ins: &Located<Instruction>, r: &Run, origin: &Origin) -> Result<RunStep> {
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
        // Build args are the step's environment; ENV wins over an ARG of the same name.
        let mut env: IndexMap<String, String> = self
            .scope
            .env_args()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(self.st.config.env());
        Ok(RunStep {
            command: runcmd::command(r, &self.vars),
            env,
            user: self.st.config.user(),
            workdir,
            network,
            mounts,
            lowers: self.s.lower_dirs(&self.st.layers),
            instruction: ins.source.clone(),
        })
    }

    fn run_key(
        &self,
        step: &RunStep,
        origin: &Origin,
    ) -> Result<crate::runtime::build::cache::CacheKey> {
        let mut key = KeyBuilder::new("run", Some(&self.st.key));
        key = match &step.command {
            Command::Argv(argv) => key.str("argv").strs(argv),
            Command::Script { path, body } => key.str("script").str(path).str(body),
        };
        let env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        key = key
            .str(&step.user)
            .str(&step.workdir)
            .strs(env.iter())
            .str(&format!("{:?}", step.network));
        for m in &step.mounts {
            key = key.str(&self.mount_identity(m, origin)?);
        }
        Ok(key.finish())
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
                let checksum = |tree: &SourceTree| -> Result<String> {
                    let mut h = Sha256::new();
                    tree.checksum(source, &mut h)?;
                    Ok(format!("{:x}", h.finalize()))
                };
                let src = match from {
                    None => checksum(&self.s.context)?,
                    Some(f) => match self.source(f, origin)? {
                        Source::Layers { key, .. } => key.to_string(),
                        Source::Context(tree) => checksum(tree)?,
                    },
                };
                format!("bind:{target}:{}:{src}", source.display())
            }
        })
    }
}

impl Session<'_> {
    /// Run a RUN step in a container; its layer.
    fn run_step(
        &self,
        step: RunStep,
        vertex: &Vertex,
        origin: &Origin,
    ) -> Result<Option<StoredLayer>> {
        let mut views = Vec::new();
        let mut mounts = Vec::new();
        let files = self.scratch.join(unique_name("run"));
        let _files = RemoveOnDrop(files.clone());
        for m in &step.mounts {
            mounts.push(self.mount_spec(m, &mut views, origin)?);
        }
        let argv = match &step.command {
            Command::Argv(a) => a.clone(),
            Command::Script { path, body } => {
                mounts.push(script_mount(&files, path, body)?);
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
        let upper = self.scratch.join(unique_name("upper"));
        let mut tail: VecDeque<String> = VecDeque::new();
        let cancelled = || self.stopped();
        let result =
            self.sandbox()?
                .run(&spec, network.as_deref(), &upper, &cancelled, &mut |line| {
                    vertex.output(line);
                    if tail.len() == ERROR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line.to_string());
                });
        drop(views);
        let result = result.inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&upper);
        })?;
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
        let target = m.target().to_string();
        Ok(match m {
            Mount::Tmpfs { size, .. } => MountSpec {
                target,
                kind: MountKind::Tmpfs {
                    size: *size,
                    mode: None,
                },
                read_only: false,
            },
            Mount::Cache {
                id, mode, uid, gid, ..
            } => bind(target, self.cache_mount_dir(id, *mode, *uid, *gid)?, false),
            Mount::Bind { source, from, .. } => {
                let root = self.bind_root(from.as_deref(), views, origin)?;
                let resolved = SourceTree::rootfs(&root).resolve(source)?;
                bind(target, root.join(resolved), true)
            }
        })
    }

    /// `RUN --mount=type=cache`: a directory kept under the state root, per id.
    fn cache_mount_dir(&self, id: &str, mode: u32, uid: u32, gid: u32) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let h = KeyBuilder::new("cache-mount", None).str(id).finish();
        let dir = self.cache_mounts.join(h.as_str());
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).at(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).at(&dir)?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).at(&dir)?;
        }
        Ok(dir)
    }

    /// The root a bind mount's `source` is in: the context, a named context, or a read-only
    /// view of a stage or image (kept mounted in `views`).
    fn bind_root(
        &self,
        from: Option<&str>,
        views: &mut Vec<Overlay>,
        origin: &Origin,
    ) -> Result<PathBuf> {
        let Some(f) = from else {
            return Ok(self.context.root().to_path_buf());
        };
        let layers = match stage::resolve(self.df, f, None) {
            StageRef::Stage(i) => self
                .stage_result(i)
                .ok_or_else(|| {
                    BuildError::instruction(origin, format!("stage {f:?} was not built"))
                })?
                .layers
                .clone(),
            StageRef::Other(name) => match self.named.get(&name) {
                Some(NamedContext::Dir(t)) => return Ok(t.root().to_path_buf()),
                Some(NamedContext::Image(i)) => {
                    self.image_result(&self.image(i, None, origin)?)?.layers
                }
                None => self.image_result(&self.image(&name, None, origin)?)?.layers,
            },
        };
        let view = Overlay::read_only(&self.scratch, &self.lower_dirs(&layers))?;
        let root = view.merged();
        views.push(view);
        Ok(root)
    }
}

fn bind(target: String, source: PathBuf, read_only: bool) -> MountSpec {
    MountSpec {
        target,
        kind: MountKind::Bind {
            source,
            create_host_path: false,
            propagation: None,
        },
        read_only,
    }
}

/// A `#!` heredoc: written to an executable file, bind-mounted at `path` in the step.
fn script_mount(dir: &std::path::Path, path: &str, body: &str) -> Result<MountSpec> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).at(dir)?;
    let f = dir.join("script");
    std::fs::write(&f, body).at(&f)?;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).at(&f)?;
    Ok(bind(path.to_string(), f, true))
}
