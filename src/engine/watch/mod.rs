//! `watch`: the Compose `develop.watch` dev loop. Files change on the host; the matching rules
//! of each service sync them into its containers, restart it, run a command in it, or rebuild
//! and recreate it.
//!
//! * [`rules`]: which rule a host path falls under (`path`, `include`, `ignore`, the build
//!   context's `.dockerignore`), where it lands (`target`), which directories need no watch.
//! * [`watcher`]: inotify through notify, one non-recursive watch per wanted directory, and the
//!   debouncer that turns event storms into batches.
//! * [`sync`]: copying into a container's filesystem (and deleting), safely rooted.
//! * [`actions`]: a batch's work for one service: rebuild, sync, restart, exec.
//!
//! One loop thread owns the watcher and the debouncer; each service has a worker thread that
//! carries out its batches one at a time. While a worker is busy (a restart, a rebuild) the
//! loop keeps collecting that service's changes, and hands them over as one batch when the
//! worker is done: a change that arrives during a rebuild is not lost, and a save storm during
//! a restart ends in one more restart, not one per file.

pub mod actions;
pub mod rules;
pub mod sync;
pub mod watcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use actions::{Actions, Work};
use rules::{RuleError, RuleSet};
use sync::SyncItem;
use watcher::{Debouncer, Timings, TreeWatcher, WatchError};

use super::{Engine, EngineError, ProjectContext};
use crate::engine::progress::ProgressSink;

/// Where the watch reports. Implemented by the CLI (plain lines for `watch`, the `⦿` log
/// prefix among container logs for `up --watch`).
pub trait WatchOutput: Send + Sync {
    /// A line of the watch's own log (`Watch enabled`, `Syncing service "web" after ...`).
    fn log(&self, line: &str);
    /// Something failed; the watch goes on.
    fn error(&self, line: &str);
    /// The containers of `service` were restarted or replaced at `since` (attached output
    /// follows them again from then on).
    fn containers_changed(&self, _service: &str, _since: chrono::DateTime<chrono::Utc>) {}
}

/// `watch` flags.
#[derive(Clone)]
pub struct WatchOptions {
    /// Services to watch (empty: every service with a `develop.watch` section).
    pub services: Vec<String>,
    /// `--prune`: remove images a rebuild left dangling.
    pub prune: bool,
    pub timings: Timings,
    /// Progress of rebuilds (recreated containers); syncs and restarts report through the
    /// watch log only.
    pub progress: Arc<dyn ProgressSink>,
    /// How rebuilds build: options and where the build log goes (`None`: `--quiet`).
    pub build: crate::engine::build::UpBuild,
}

/// A watch that could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "none of the selected services is configured for watch, consider setting a 'develop' section"
    )]
    NothingToWatch,
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

enum Input {
    Fs(notify::Result<notify::Event>),
    Done(String),
    Stop,
}

/// Ends a running watch (Ctrl-C).
#[derive(Clone)]
pub struct Stopper(Sender<Input>);

impl Stopper {
    pub fn stop(&self) {
        let _ = self.0.send(Input::Stop);
    }
}

/// A started watch: directories watched, initial syncs done. [`Watch::run`] runs the loop.
pub struct Watch {
    rx: Receiver<Input>,
    tx: Sender<Input>,
    tree: TreeWatcher,
    rules: Arc<RuleSet>,
    actions: Arc<Actions>,
    debouncer: Debouncer<String>,
    pending: BTreeMap<String, Work>,
    busy: BTreeSet<String>,
    workers: BTreeMap<String, (Sender<Work>, JoinHandle<()>)>,
    /// The watch limit was reported once; later failures are not repeated.
    limit_reported: bool,
}

impl Engine {
    /// Starts watching the selected services' `develop.watch` paths: watches set up, initial
    /// syncs done, `Watch enabled` logged. [`Watch::run`] then reacts to changes.
    pub fn watch(
        &self,
        ctx: Arc<ProjectContext>,
        opts: &WatchOptions,
        out: Arc<dyn WatchOutput>,
    ) -> Result<Watch, StartError> {
        let rules = Arc::new(compile_rules(&ctx, &opts.services)?);
        for w in &rules.skipped {
            out.error(w);
        }
        if rules.is_empty() {
            return Err(StartError::NothingToWatch);
        }
        let actions = Actions {
            quiet: self.clone().with_progress(Arc::new(super::progress::Quiet)),
            loud: self.clone().with_progress(opts.progress.clone()),
            ctx,
            rules: rules.clone(),
            out,
            prune: opts.prune,
            build: opts.build.clone(),
        };
        let mut watch = Watch::new(rules, actions, opts.timings)?;
        watch.watch_roots()?;
        watch.initial_sync();
        watch.announce();
        Ok(watch)
    }
}

/// The rules of the named services (all services when none are named).
fn compile_rules(ctx: &ProjectContext, names: &[String]) -> Result<RuleSet, StartError> {
    let services: Vec<_> = match names.is_empty() {
        true => ctx.project.services.values().collect(),
        false => names
            .iter()
            .map(|s| {
                ctx.service(s)
                    .ok_or_else(|| EngineError::NoSuchService(s.clone()))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(RuleSet::compile(services)?)
}

impl Watch {
    fn new(rules: Arc<RuleSet>, actions: Actions, timings: Timings) -> Result<Self, WatchError> {
        let (tx, rx) = mpsc::channel();
        let fs_tx = tx.clone();
        let tree = TreeWatcher::new(move |e| {
            let _ = fs_tx.send(Input::Fs(e));
        })?;
        Ok(Watch {
            rx,
            tx,
            tree,
            rules,
            actions: Arc::new(actions),
            debouncer: Debouncer::new(timings),
            pending: BTreeMap::new(),
            busy: BTreeSet::new(),
            workers: BTreeMap::new(),
            limit_reported: false,
        })
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(self.tx.clone())
    }

    /// How many directories are watched.
    pub fn watched_dirs(&self) -> usize {
        self.tree.len()
    }

    /// `Watch enabled` (docker compose's words), and what is watched.
    fn announce(&self) {
        let out = &self.actions.out;
        out.log("Watch enabled");
        let services: BTreeSet<&str> = self
            .rules
            .rules
            .iter()
            .map(|r| r.service.as_str())
            .collect();
        out.log(&format!(
            "  watching {} directories for {} rules (services: {})",
            self.tree.len(),
            self.rules.rules.len(),
            services.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }

    /// Each rule's path: a directory is watched with its wanted subdirectories, a file through
    /// its directory, a missing path through its nearest existing ancestor (to see it appear).
    fn watch_roots(&mut self) -> Result<(), WatchError> {
        let rules = self.rules.clone();
        let wants = |d: &Path| rules.wants_dir(d);
        for root in self.rules.roots() {
            if root.is_dir() {
                self.tree.add_tree(&root, &wants, &mut Vec::new())?;
                continue;
            }
            if let Some(dir) = root.ancestors().skip(1).find(|d| d.is_dir()) {
                self.tree.add_dir(dir)?;
            }
        }
        Ok(())
    }

    /// `initial_sync`: every file of the rule's path that a container does not already have as
    /// the host has it. Runs after the watches exist, so nothing changed meanwhile is lost.
    fn initial_sync(&self) {
        let (actions, out) = (&self.actions, &self.actions.out);
        for rule in self
            .rules
            .rules
            .iter()
            .filter(|r| r.initial_sync && r.syncs())
        {
            let items = initial_items(rule);
            let service = std::slice::from_ref(&rule.service);
            let containers = match actions.quiet.containers_of(&actions.ctx, service) {
                Ok(c) => c,
                Err(e) => {
                    out.error(&format!("initial sync of service {:?}: {e}", rule.service));
                    continue;
                }
            };
            for c in containers {
                let todo = self.stale_items(c.name(), &items);
                if todo.is_empty() {
                    continue;
                }
                match actions.sync_one(c.name(), &todo) {
                    Ok(()) => out.log(&format!(
                        "Initial sync of {} into {}: {} paths",
                        actions.rule_name(rule),
                        c.name(),
                        todo.len()
                    )),
                    Err(e) => out.error(&format!("initial sync: {e}")),
                }
            }
        }
    }

    /// The items of `items` that the container does not have as the host has them.
    fn stale_items(&self, container: &str, items: &[SyncItem]) -> Vec<SyncItem> {
        self.actions
            .quiet
            .containers
            .with_container_fs(container, |root| {
                Ok(items
                    .iter()
                    .filter(|i| !sync::up_to_date(root, i))
                    .cloned()
                    .collect())
            })
            .unwrap_or_else(|_| items.to_vec())
    }

    /// Runs until stopped; waits for the actions under way.
    pub fn run(mut self) {
        loop {
            let input = match self.debouncer.next_due() {
                Some(at) => match self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(i) => Some(i),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(i) => Some(i),
                    Err(_) => break,
                },
            };
            match input {
                Some(Input::Fs(Ok(event))) => self.on_event(&event),
                Some(Input::Fs(Err(e))) => self.on_watch_error(e),
                Some(Input::Done(service)) => {
                    self.busy.remove(&service);
                }
                Some(Input::Stop) => break,
                None => {}
            }
            self.dispatch_due();
        }
        self.actions.out.log("Watch disabled");
        for (_, (tx, handle)) in std::mem::take(&mut self.workers) {
            drop(tx);
            let _ = handle.join();
        }
    }

    /// notify reports a failure of its own (a directory it could not watch).
    fn on_watch_error(&mut self, e: notify::Error) {
        let error = match e.kind {
            notify::ErrorKind::MaxFilesWatch => WatchError::Limit {
                watched: self.tree.len(),
                dir: e.paths.first().cloned().unwrap_or_default(),
            },
            _ => WatchError::Watch {
                dir: e.paths.first().cloned().unwrap_or_default(),
                source: e,
            },
        };
        self.report_watch_error(error);
    }

    fn on_event(&mut self, event: &notify::Event) {
        let changes = watcher::classify(event);
        let now = Instant::now();
        if changes.rescan {
            // The kernel dropped events: everything under every rule may have changed, and
            // directories created meanwhile still need their watches.
            for root in self.rules.roots() {
                self.note(&root, now);
                self.watch_new_dir(&root, now);
            }
        }
        for dir in &changes.new_dirs {
            self.watch_new_dir(dir, now);
        }
        for p in &changes.paths {
            if self.tree.is_watched(p) && !p.is_dir() {
                self.tree.forget(p);
            }
            self.note(p, now);
        }
    }

    /// Watches a directory that appeared (and what it holds), and notes everything in it as
    /// changed: files written there before its watch existed are not missed.
    fn watch_new_dir(&mut self, dir: &Path, now: Instant) {
        if !dir.is_dir() || !self.rules.wants_dir(dir) {
            return;
        }
        let rules = self.rules.clone();
        let mut found = Vec::new();
        if let Err(e) = self.tree.add_tree(dir, &|d| rules.wants_dir(d), &mut found) {
            self.report_watch_error(e);
        }
        for p in found {
            self.note(&p, now);
        }
    }

    fn report_watch_error(&mut self, e: WatchError) {
        match e {
            WatchError::Limit { .. } if self.limit_reported => {}
            WatchError::Limit { .. } => {
                self.limit_reported = true;
                self.actions.out.error(&e.to_string());
            }
            e => self.actions.out.error(&e.to_string()),
        }
    }

    /// `path` changed: every rule it falls under adds to its service's pending work.
    fn note(&mut self, path: &Path, now: Instant) {
        let rules = self.rules.clone();
        for (i, mapping) in rules.matches(path) {
            let rule = &rules.rules[i];
            let work = self.pending.entry(rule.service.clone()).or_default();
            work.add(i, rule, mapping);
            let heavy = work.is_heavy();
            self.debouncer.note(rule.service.clone(), heavy, now);
        }
    }

    /// Hands due batches to idle workers.
    fn dispatch_due(&mut self) {
        let busy = &self.busy;
        let due = self
            .debouncer
            .take_due(Instant::now(), |s| !busy.contains(s));
        for service in due {
            let Some(work) = self.pending.remove(&service) else {
                continue;
            };
            let tx = self.worker(&service);
            if tx.send(work).is_ok() {
                self.busy.insert(service);
            }
        }
    }

    /// The worker thread of `service`, started on first use.
    fn worker(&mut self, service: &str) -> Sender<Work> {
        if let Some((tx, _)) = self.workers.get(service) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel::<Work>();
        let actions = self.actions.clone();
        let done = self.tx.clone();
        let name = service.to_string();
        let handle = std::thread::spawn(move || {
            for work in rx {
                if let Err(e) = actions.run(&name, &work) {
                    actions.out.error(&format!(
                        "Error handling changed files for service {name:?}: {e}"
                    ));
                }
                if done.send(Input::Done(name.clone())).is_err() {
                    break;
                }
            }
        });
        self.workers
            .insert(service.to_string(), (tx.clone(), handle));
        tx
    }
}

/// Everything below `root` (not `root` itself), descending only into directories `wants`
/// accepts.
fn walk(root: &Path, wants: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !e.file_type().is_dir() || wants(e.path()))
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .collect()
}

/// Everything `rule` would sync: its path and what is below it (ignored paths left out).
fn initial_items(rule: &rules::Rule) -> Vec<SyncItem> {
    let mut paths = vec![rule.path.clone()];
    if rule.path.is_dir() {
        paths.extend(walk(&rule.path, &|d| !rule.prunes(d)));
    }
    paths
        .iter()
        .filter_map(|p| rule.matches(p))
        .filter_map(|m| {
            Some(SyncItem {
                container: m.container?,
                host: m.host,
            })
        })
        .collect()
}
