//! What a batch of changes does to one service: [`Work`] collects it (merging batches that
//! arrive while the service is busy), [`Actions`] carries it out in docker compose's order:
//! rebuild, sync, restart, exec.
//!
//! * sync: [`super::sync`] into every container of the service (replicas, stopped ones too).
//! * restart: stop and start every container of the service (its ports withdrawn and
//!   published again), under the project lock.
//! * exec: the rule's `exec` hook in every running container, through the runtime's exec (the
//!   monitor spawns it in the container's namespaces and cgroup), output on ours.
//! * rebuild: `up` of that service alone with a forced build and recreate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::WatchOutput;
use super::rules::{Mapping, Rule, RuleSet};
use super::sync::{self, SyncItem};
use crate::compose::model::{ServiceHook, WatchAction};
use crate::engine::build::{BuildPolicy, UpBuild};
use crate::engine::observe::ProjectContainer;
use crate::engine::up::UpOptions;
use crate::engine::{Engine, EngineError, ProjectContext};
use crate::runtime::container::{ExecIo, ExecSpec, Runtime};

/// What one service has to do about the changes seen so far.
#[derive(Debug, Clone, Default)]
pub struct Work {
    /// Container path → (host path, rule index): the last change of a path wins.
    pub sync: BTreeMap<String, (PathBuf, usize)>,
    /// Distinct host paths that fired (docker compose counts these).
    pub changed: BTreeSet<PathBuf>,
    /// Rules that fired, by index in the [`RuleSet`].
    pub fired: BTreeSet<usize>,
    pub restart: bool,
    pub rebuild: bool,
    /// Rules whose `exec` hook runs.
    pub exec: BTreeSet<usize>,
}

impl Work {
    /// `mapping` of rule `index` fired.
    pub fn add(&mut self, index: usize, rule: &Rule, mapping: Mapping) {
        self.fired.insert(index);
        if let Some(container) = mapping.container.clone()
            && rule.syncs()
        {
            self.sync.insert(container, (mapping.host.clone(), index));
        }
        self.changed.insert(mapping.host);
        match rule.action {
            WatchAction::Rebuild => self.rebuild = true,
            WatchAction::Restart | WatchAction::SyncRestart => self.restart = true,
            WatchAction::SyncExec => {
                self.exec.insert(index);
            }
            WatchAction::Sync => {}
        }
    }

    /// Restarts, execs and rebuilds wait for a longer quiet period than copies.
    pub fn is_heavy(&self) -> bool {
        self.restart || self.rebuild || !self.exec.is_empty()
    }
}

/// Carries out [`Work`] for the services of one watch.
pub struct Actions {
    /// Acts without progress output (syncs, restarts: the watch log says what happened).
    pub quiet: Engine,
    /// Shows progress (a rebuild's recreate, like docker compose).
    pub loud: Engine,
    pub ctx: Arc<ProjectContext>,
    pub rules: Arc<RuleSet>,
    pub out: Arc<dyn WatchOutput>,
    /// `--prune`: drop the images a rebuild left dangling.
    pub prune: bool,
    /// How rebuilds build (its policy is forced to "always"; its output is the build log).
    pub build: UpBuild,
}

/// An action that failed; the watch goes on.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("syncing {container}: {source}")]
    Sync {
        container: String,
        #[source]
        source: crate::runtime::container::copy::CopyError,
    },
    #[error("exec {command:?} in {container}: exit code {code}")]
    Exec {
        command: Vec<String>,
        container: String,
        code: i32,
    },
}

impl Actions {
    /// Does `work` for `service`; the first failure ends this batch (the next change retries).
    pub fn run(&self, service: &str, work: &Work) -> Result<(), ActionError> {
        if work.rebuild {
            self.rebuild(service)?;
        }
        if !work.sync.is_empty() {
            self.sync(service, work)?;
        }
        if work.restart && !work.rebuild {
            self.restart(service, work)?;
        }
        for &i in &work.exec {
            let rule = &self.rules.rules[i];
            self.exec(service, &rule.exec)?;
        }
        Ok(())
    }

    fn containers(&self, service: &str) -> Result<Vec<ProjectContainer>, ActionError> {
        Ok(self
            .quiet
            .containers_of(&self.ctx, &[service.to_string()])?)
    }

    fn sync(&self, service: &str, work: &Work) -> Result<(), ActionError> {
        let started = Instant::now();
        self.out.log(&format!(
            "Syncing service {service:?} after {} changes were detected",
            work.changed.len()
        ));
        let items: Vec<SyncItem> = work
            .sync
            .iter()
            .map(|(c, (h, _))| SyncItem {
                container: c.clone(),
                host: h.clone(),
            })
            .collect();
        // Replicas in parallel: each is its own filesystem.
        let containers = self.containers(service)?;
        std::thread::scope(|scope| {
            let copies: Vec<_> = containers
                .iter()
                .map(|c| scope.spawn(|| self.sync_one(c.name(), &items)))
                .collect();
            copies.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EngineError::Other("a sync thread panicked".into()).into())
                })
            })
        })?;
        self.out.log(&self.describe_sync(work, started));
        Ok(())
    }

    /// Copies `items` into one container.
    pub fn sync_one(&self, container: &str, items: &[SyncItem]) -> Result<(), ActionError> {
        self.quiet
            .containers
            .with_container_fs(container, |root| {
                sync::apply(root, items).map_err(|e| {
                    crate::runtime::container::copy::CopyError::io(e.op, &e.path, e.source)
                })
            })
            .map(drop)
            .map_err(|source| ActionError::Sync {
                container: container.to_string(),
                source,
            })
    }

    /// `  develop.watch[0] ./src -> /app: copied a.txt, lib/b.js; deleted old.txt (1.2 ms)`
    fn describe_sync(&self, work: &Work, started: Instant) -> String {
        let mut per_rule: BTreeMap<usize, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (host, i) in work.sync.values() {
            let rule = &self.rules.rules[*i];
            let shown = relative(host, &rule.path);
            let (copied, deleted) = per_rule.entry(*i).or_default();
            match host.symlink_metadata().is_ok() {
                true => copied.push(shown),
                false => deleted.push(shown),
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut parts = Vec::new();
        for (i, (copied, deleted)) in per_rule {
            let rule = &self.rules.rules[i];
            let mut what = Vec::new();
            if !copied.is_empty() {
                what.push(format!("copied {}", list(&copied)));
            }
            if !deleted.is_empty() {
                what.push(format!("deleted {}", list(&deleted)));
            }
            parts.push(format!("  {}: {}", self.rule_name(rule), what.join("; ")));
        }
        format!("{} ({ms:.1} ms)", parts.join("\n"))
    }

    /// `develop.watch[0] (sync ./src -> /app)`
    pub fn rule_name(&self, rule: &Rule) -> String {
        let path = match rule.path.strip_prefix(&self.ctx.working_dir) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => rule.path.display().to_string(),
        };
        let action = action_name(rule.action);
        match &rule.target {
            Some(t) => format!("develop.watch[{}] ({action} {path} -> {t})", rule.index),
            None => format!("develop.watch[{}] ({action} {path})", rule.index),
        }
    }

    fn restart(&self, service: &str, work: &Work) -> Result<(), ActionError> {
        let fired: Vec<String> = work
            .fired
            .iter()
            .map(|&i| &self.rules.rules[i])
            .filter(|r| matches!(r.action, WatchAction::Restart | WatchAction::SyncRestart))
            .map(|r| self.rule_name(r))
            .collect();
        self.out.log(&format!(
            "Restarting service {service:?}: {}",
            fired.join(", ")
        ));
        let since = chrono::Utc::now();
        {
            let _lock = self.quiet.lock(&self.ctx.name)?;
            let containers = self.containers(service)?;
            self.quiet.each(&containers, |c| {
                if c.is_running() {
                    self.quiet.stop_container(c.name(), None)?;
                }
                self.quiet.start_container(c.name())
            })?;
        }
        self.out.containers_changed(service, since);
        self.out.log(&format!("service(s) [{service:?}] restarted"));
        Ok(())
    }

    fn exec(&self, service: &str, hook: &ServiceHook) -> Result<(), ActionError> {
        let spec = exec_spec(hook);
        let running: Vec<ProjectContainer> = self
            .containers(service)?
            .into_iter()
            .filter(|c| c.is_running())
            .collect();
        for c in running {
            let io = ExecIo {
                stdin: None,
                stdout: dup_std(libc::STDOUT_FILENO),
                stderr: dup_std(libc::STDERR_FILENO),
            };
            let code = self
                .quiet
                .containers
                .exec(c.name(), &spec, io)
                .map_err(EngineError::from)?;
            if code != 0 {
                return Err(ActionError::Exec {
                    command: spec.args.clone(),
                    container: c.name().to_string(),
                    code,
                });
            }
        }
        Ok(())
    }

    /// `up --build` of this service alone, its containers recreated (dependencies untouched).
    fn rebuild(&self, service: &str) -> Result<(), ActionError> {
        self.out.log(&format!(
            "Rebuilding service(s) [{service:?}] after changes were detected..."
        ));
        let old_images: BTreeSet<String> = self
            .containers(service)?
            .iter()
            .filter_map(|c| c.labels.image_id.clone())
            .collect();
        let opts = UpOptions {
            services: vec![service.to_string()],
            named: vec![service.to_string()],
            no_deps: true,
            force_recreate: true,
            build: UpBuild {
                policy: BuildPolicy::Always,
                ..self.build.clone()
            },
            ..UpOptions::default()
        };
        let since = chrono::Utc::now();
        let result = self.loud.up(&self.ctx, &opts);
        self.loud.progress().finish();
        if let Err(e) = result {
            self.out.log(&format!("Build failed. Error: {e}"));
            return Err(e.into());
        }
        self.out
            .log(&format!("service(s) [{service:?}] successfully built"));
        self.out.containers_changed(service, since);
        if self.prune {
            self.prune_replaced(&old_images);
        }
        Ok(())
    }

    /// Removes the images the rebuilt containers ran before, when nothing refers to them any
    /// more (untagged, no container holds them): docker compose's `--prune`, limited to the
    /// images this watch replaced.
    fn prune_replaced(&self, old: &BTreeSet<String>) {
        let images = &self.quiet.images;
        for id in old {
            let Ok(Some(img)) = images.resolve(id) else {
                continue;
            };
            let unused = images.holders(&img.id).is_ok_and(|h| h.is_empty());
            if img.references.is_empty() && unused {
                let _ = images.remove(id, false);
            }
        }
    }
}

fn action_name(a: WatchAction) -> &'static str {
    match a {
        WatchAction::Sync => "sync",
        WatchAction::Rebuild => "rebuild",
        WatchAction::Restart => "restart",
        WatchAction::SyncRestart => "sync+restart",
        WatchAction::SyncExec => "sync+exec",
    }
}

/// The exec hook as the runtime runs it. `privileged` has no equivalent in the runtime's exec
/// (the process gets the container's own capabilities).
pub fn exec_spec(hook: &ServiceHook) -> ExecSpec {
    ExecSpec {
        args: hook
            .command
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_default(),
        env: hook
            .environment
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect(),
        working_dir: (!hook.working_dir.is_empty()).then(|| hook.working_dir.clone()),
        user: (!hook.user.is_empty()).then(|| hook.user.clone()),
        ..ExecSpec::default()
    }
}

fn dup_std(fd: i32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: the standard streams stay open for the life of the process.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fd.try_clone_to_owned().ok()
}

fn relative(host: &Path, base: &Path) -> String {
    match host.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => host
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| host.display().to_string()),
        Ok(rel) => rel.display().to_string(),
        Err(_) => host.display().to_string(),
    }
}

/// Up to eight names, then how many more.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let head = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => head,
        more => format!("{head} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{ServiceConfig, StringList, Trigger};

    fn rule(action: WatchAction, target: &str) -> Rule {
        let mut s: ServiceConfig = serde_json::from_str(r#"{"image": "x"}"#).expect("service");
        s.name = "web".into();
        let exec = ServiceHook {
            command: Some(crate::compose::model::ShellCommand(vec!["true".into()])),
            ..ServiceHook::default()
        };
        let t = Trigger {
            path: "/p/src".into(),
            action,
            target: target.into(),
            exec,
            include: StringList::default(),
            ignore: StringList::default(),
            initial_sync: false,
        };
        Rule::compile(&s, 0, &t).expect("rule")
    }

    #[test]
    fn work_merges_and_knows_what_is_heavy() {
        let sync = rule(WatchAction::Sync, "/app");
        let mut w = Work::default();
        for f in ["/p/src/a", "/p/src/b", "/p/src/a"] {
            w.add(0, &sync, sync.matches(Path::new(f)).expect("match"));
        }
        assert_eq!(w.changed.len(), 2);
        assert_eq!(w.sync.len(), 2);
        assert!(!w.is_heavy());
        let restart = rule(WatchAction::SyncRestart, "/app");
        w.add(
            1,
            &restart,
            restart.matches(Path::new("/p/src/c")).expect("match"),
        );
        assert!(w.restart && w.is_heavy());
        let exec = rule(WatchAction::SyncExec, "/x");
        w.add(
            2,
            &exec,
            exec.matches(Path::new("/p/src/c")).expect("match"),
        );
        assert_eq!(w.exec.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(w.sync.len(), 4, "both targets of /p/src/c");
    }

    #[test]
    fn lists_are_bounded() {
        let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        assert_eq!(list(&names), "f0, f1, f2, f3, f4, f5, f6, f7 and 2 more");
        assert_eq!(list(&names[..1]), "f0");
    }

    #[test]
    fn exec_hooks_become_exec_specs() {
        let mut hook = ServiceHook {
            command: Some(crate::compose::model::ShellCommand(vec![
                "kill".into(),
                "-HUP".into(),
                "1".into(),
            ])),
            user: "1000".into(),
            ..ServiceHook::default()
        };
        hook.environment.0.insert("A".into(), Some("1".into()));
        hook.environment.0.insert("UNSET".into(), None);
        let spec = exec_spec(&hook);
        assert_eq!(spec.args, vec!["kill", "-HUP", "1"]);
        assert_eq!(spec.user.as_deref(), Some("1000"));
        assert_eq!(spec.working_dir, None);
        assert_eq!(spec.env.len(), 1);
    }
}
