//! `develop.watch` rules, compiled: which rule a changed host path falls under, where it lands in
//! the container, and which directories need no watch at all.
//!
//! A path belongs to a rule when it is the rule's `path` or below it, matches `include` (when
//! given), and is not ignored. Ignored means, as in docker compose: the rule's `ignore` patterns
//! (dockerignore syntax, relative to the rule's `path`), the build context's `.dockerignore`
//! (`<Dockerfile>.dockerignore` first), any `.git` directory, and editors' temporary files (vim
//! swap files, emacs locks, JetBrains safe-write files, ...). Patterns match a path or any of its
//! parents, so an ignored directory ignores everything below it; such a directory is *pruned*
//! (never watched) unless a `!` exception could re-include something inside it.

use std::path::{Component, Path, PathBuf};

use crate::compose::model::{ServiceConfig, ServiceHook, Trigger, VolumeType, WatchAction};
use crate::runtime::build::ignore::DockerIgnore;

/// A `develop.watch` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("can't watch service {service:?} with action rebuild without a build context")]
    RebuildWithoutBuild { service: String },
    #[error("can't watch with action \"sync+exec\" on service {service} without a command")]
    ExecWithoutCommand { service: String },
    #[error(
        "service {service:?}: develop.watch[{index}].{field}: invalid pattern {pattern:?}: {message}"
    )]
    Pattern {
        service: String,
        index: usize,
        field: &'static str,
        pattern: String,
        message: String,
    },
    #[error("service {service:?}: {file}: {message}")]
    DockerIgnore {
        service: String,
        file: PathBuf,
        message: String,
    },
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: String,
    /// Position in the service's `develop.watch` (for messages).
    pub index: usize,
    pub action: WatchAction,
    /// Absolute host path (a directory or a single file).
    pub path: PathBuf,
    /// Absolute container path the rule's `path` maps to (sync actions).
    pub target: Option<String>,
    pub exec: ServiceHook,
    pub initial_sync: bool,
    ignore: DockerIgnore,
    include: Option<DockerIgnore>,
    /// The build context and its `.dockerignore`, when it has one.
    context_ignore: Option<(PathBuf, DockerIgnore)>,
}

/// A changed host path as a rule maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub host: PathBuf,
    /// Where it lands in the container (sync actions only).
    pub container: Option<String>,
}

impl Rule {
    /// Compiles `trigger`, the `index`th rule of `service`.
    pub fn compile(
        service: &ServiceConfig,
        index: usize,
        trigger: &Trigger,
    ) -> Result<Self, RuleError> {
        let name = &service.name;
        if trigger.action == WatchAction::Rebuild && service.build.is_none() {
            return Err(RuleError::RebuildWithoutBuild {
                service: name.clone(),
            });
        }
        let exec_empty = trigger.exec.command.as_ref().is_none_or(|c| c.0.is_empty());
        if trigger.action == WatchAction::SyncExec && exec_empty {
            return Err(RuleError::ExecWithoutCommand {
                service: name.clone(),
            });
        }
        let patterns = |field: &'static str, list: &[String]| {
            DockerIgnore::from_patterns(list).map_err(|e| RuleError::Pattern {
                service: name.clone(),
                index,
                field,
                pattern: list
                    .get(e.line.saturating_sub(1))
                    .cloned()
                    .unwrap_or_default(),
                message: e.message,
            })
        };
        let include = match trigger.include.0.is_empty() {
            true => None,
            false => Some(patterns("include", &trigger.include.0)?),
        };
        Ok(Rule {
            service: name.clone(),
            index,
            action: trigger.action,
            path: normalize(Path::new(&trigger.path)),
            target: (!trigger.target.is_empty()).then(|| trigger.target.clone()),
            exec: trigger.exec.clone(),
            initial_sync: trigger.initial_sync,
            ignore: patterns("ignore", &trigger.ignore.0)?,
            include,
            context_ignore: context_ignore(service)?,
        })
    }

    /// Whether the action copies files into the container.
    pub fn syncs(&self) -> bool {
        matches!(
            self.action,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        )
    }

    /// The mapping of `host` when this rule covers it.
    pub fn matches(&self, host: &Path) -> Option<Mapping> {
        let rel = host.strip_prefix(&self.path).ok()?;
        if let Some(include) = &self.include
            && !include.is_excluded(rel)
        {
            return None;
        }
        if self.ignored(host, rel) {
            return None;
        }
        let container = self.target.as_ref().map(|t| container_path(t, rel));
        Some(Mapping {
            host: host.to_path_buf(),
            container,
        })
    }

    /// Whether the directory `dir` (under the rule's path) and everything below it is ignored.
    pub fn prunes(&self, dir: &Path) -> bool {
        let Ok(rel) = dir.strip_prefix(&self.path) else {
            return true;
        };
        if rel.as_os_str().is_empty() {
            return false;
        }
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return true;
        }
        if self.ignore.is_excluded(rel) && !self.ignore.may_include_under(rel) {
            return true;
        }
        match &self.context_ignore {
            Some((ctx, di)) => dir.strip_prefix(ctx).is_ok_and(|r| {
                !r.as_os_str().is_empty() && di.is_excluded(r) && !di.may_include_under(r)
            }),
            None => false,
        }
    }

    fn ignored(&self, host: &Path, rel: &Path) -> bool {
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return true;
        }
        if host
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_ephemeral)
        {
            return true;
        }
        if !rel.as_os_str().is_empty() && self.ignore.is_excluded(rel) {
            return true;
        }
        match &self.context_ignore {
            Some((ctx, di)) => host
                .strip_prefix(ctx)
                .is_ok_and(|r| !r.as_os_str().is_empty() && di.is_excluded(r)),
            None => false,
        }
    }
}

/// The build context's ignore file: `<Dockerfile>.dockerignore` beside the context's
/// `.dockerignore` wins, as in BuildKit and docker compose.
fn context_ignore(service: &ServiceConfig) -> Result<Option<(PathBuf, DockerIgnore)>, RuleError> {
    let Some(build) = &service.build else {
        return Ok(None);
    };
    let ctx = normalize(Path::new(&build.context));
    let dockerfile = if build.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        &build.dockerfile
    };
    let candidates = [
        ctx.join(format!("{dockerfile}.dockerignore")),
        ctx.join(".dockerignore"),
    ];
    for file in candidates {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(RuleError::DockerIgnore {
                    service: service.name.clone(),
                    file,
                    message: e.to_string(),
                });
            }
        };
        let di = DockerIgnore::parse(&text).map_err(|e| RuleError::DockerIgnore {
            service: service.name.clone(),
            file: file.clone(),
            message: e.to_string(),
        })?;
        return Ok(Some((ctx, di)));
    }
    Ok(None)
}

/// Editors' temporary and lock files (docker compose's `EphemeralPathMatcher`): JetBrains
/// safe-write files, emacs locks and autosaves, vim's swap files and its `4913` probe, kate swap
/// files, backups ending in `~`, Go's umask probes.
pub fn is_ephemeral(name: &str) -> bool {
    let vim_swap = [".swp", ".swx", ".swo", ".swn"]
        .iter()
        .any(|s| name.starts_with('.') && name.ends_with(s));
    vim_swap
        || name == "4913"
        || name.ends_with('~')
        || name.ends_with("___jb_old___")
        || name.ends_with("___jb_tmp___")
        || name == ".idea"
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || (name.starts_with('.') && name.ends_with(".kate-swp"))
        || name.ends_with("-go-tmp-umask")
}

/// `target` joined with the relative path (always `/`-separated, as inside the container).
fn container_path(target: &str, rel: &Path) -> String {
    let mut out = target.trim_end_matches('/').to_string();
    for c in rel.components() {
        if let Component::Normal(n) = c {
            out.push('/');
            out.push_str(&n.to_string_lossy());
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

/// Lexically normalized (no `.` components, no trailing slash): what notify reports paths as.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// All rules of the selected services, and the questions the watcher asks of them.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Rules left out because their path is bind mounted (docker compose warns the same way).
    pub skipped: Vec<String>,
}

impl RuleSet {
    /// The rules of `services` that have a `develop.watch` section.
    pub fn compile<'a>(
        services: impl IntoIterator<Item = &'a ServiceConfig>,
    ) -> Result<Self, RuleError> {
        let mut set = RuleSet::default();
        for svc in services {
            let Some(develop) = &svc.develop else {
                continue;
            };
            for (i, trigger) in develop.watch.iter().enumerate() {
                let rule = Rule::compile(svc, i, trigger)?;
                if rule.syncs() && bind_mounted(svc, &rule.path) {
                    set.skipped.push(format!(
                        "path '{}' also declared by a bind mount volume, this path won't be monitored!",
                        trigger.path
                    ));
                    continue;
                }
                set.rules.push(rule);
            }
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The paths to watch: each rule's path, without those inside another.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.rules.iter().map(|r| r.path.clone()).collect();
        paths.sort();
        paths.dedup();
        let all = paths.clone();
        paths.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
        paths
    }

    /// Whether `dir` must be watched: it is inside some rule's path that does not prune it,
    /// or it is an ancestor of a rule's path (to see that path appear).
    pub fn wants_dir(&self, dir: &Path) -> bool {
        self.rules
            .iter()
            .any(|r| (dir.starts_with(&r.path) && !r.prunes(dir)) || r.path.starts_with(dir))
    }

    /// Every rule `host` falls under, with its mapping.
    pub fn matches<'a>(&'a self, host: &'a Path) -> impl Iterator<Item = (usize, Mapping)> + 'a {
        self.rules
            .iter()
            .enumerate()
            .filter_map(move |(i, r)| r.matches(host).map(|m| (i, m)))
    }
}

/// Whether `path` is at or below the source of one of the service's bind mounts.
fn bind_mounted(svc: &ServiceConfig, path: &Path) -> bool {
    svc.volumes
        .iter()
        .filter(|v| v.kind == VolumeType::Bind && !v.source.is_empty())
        .any(|v| path.starts_with(normalize(Path::new(&v.source))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{BuildConfig, DevelopConfig, StringList};

    fn service(rules: Vec<Trigger>) -> ServiceConfig {
        let mut s: ServiceConfig = serde_json::from_str(r#"{"image": "x"}"#).expect("service");
        s.name = "web".into();
        s.develop = Some(DevelopConfig { watch: rules });
        s
    }

    fn trigger(path: &str, action: WatchAction, target: &str) -> Trigger {
        Trigger {
            path: path.into(),
            action,
            target: target.into(),
            exec: ServiceHook::default(),
            include: StringList::default(),
            ignore: StringList::default(),
            initial_sync: false,
        }
    }

    #[test]
    fn maps_paths_under_the_rule_to_the_target() {
        let t = trigger("/p/src", WatchAction::Sync, "/app");
        let r = Rule::compile(&service(vec![]), 0, &t).expect("rule");
        let m = r.matches(Path::new("/p/src/a/b.js")).expect("match");
        assert_eq!(m.container.as_deref(), Some("/app/a/b.js"));
        assert_eq!(
            r.matches(Path::new("/p/src")).and_then(|m| m.container),
            Some("/app".into())
        );
        assert!(r.matches(Path::new("/p/srcx/a")).is_none());
        assert!(r.matches(Path::new("/p/other")).is_none());
    }

    #[test]
    fn ignores_git_and_editor_files_always() {
        let t = trigger("/p/src", WatchAction::Sync, "/app");
        let r = Rule::compile(&service(vec![]), 0, &t).expect("rule");
        for p in [
            "/p/src/.git/HEAD",
            "/p/src/sub/.git/index",
            "/p/src/.main.rs.swp",
            "/p/src/4913",
            "/p/src/a.txt~",
            "/p/src/.#lock",
            "/p/src/#auto#",
            "/p/src/x.rs___jb_tmp___",
        ] {
            assert!(r.matches(Path::new(p)).is_none(), "{p}");
        }
        assert!(r.prunes(Path::new("/p/src/.git")));
        assert!(!r.prunes(Path::new("/p/src/lib")));
        assert!(!is_ephemeral("main.rs"));
        assert!(!is_ephemeral("#"));
    }

    #[test]
    fn sync_exec_needs_a_command_and_rebuild_a_build() {
        let t = trigger("/p/src", WatchAction::SyncExec, "/app");
        let e = Rule::compile(&service(vec![]), 0, &t).expect_err("no command");
        assert_eq!(
            e.to_string(),
            "can't watch with action \"sync+exec\" on service web without a command"
        );
        let t = trigger("/p", WatchAction::Rebuild, "");
        let e = Rule::compile(&service(vec![]), 0, &t).expect_err("no build");
        assert_eq!(
            e.to_string(),
            "can't watch service \"web\" with action rebuild without a build context"
        );
    }

    #[test]
    fn roots_drop_nested_paths_and_bind_mounted_sync_rules() {
        let mut svc = service(vec![
            trigger("/p/src", WatchAction::Sync, "/app"),
            trigger("/p/src/lib", WatchAction::SyncRestart, "/lib"),
            trigger("/p/Dockerfile", WatchAction::Rebuild, ""),
            trigger("/p/data", WatchAction::Sync, "/data"),
        ]);
        svc.build =
            Some(serde_json::from_str::<BuildConfig>(r#"{"context": "/p"}"#).expect("build"));
        svc.volumes = vec![
            serde_json::from_str(r#"{"type": "bind", "source": "/p/data", "target": "/data"}"#)
                .expect("volume"),
        ];
        let set = RuleSet::compile([&svc]).expect("rules");
        assert_eq!(set.rules.len(), 3);
        assert_eq!(set.skipped.len(), 1, "{:?}", set.skipped);
        assert_eq!(
            set.roots(),
            vec![PathBuf::from("/p/Dockerfile"), PathBuf::from("/p/src")]
        );
        assert!(set.wants_dir(Path::new("/p")), "ancestor of a root");
        assert!(set.wants_dir(Path::new("/p/src/lib/deep")));
        assert!(!set.wants_dir(Path::new("/p/src/.git")));
        assert_eq!(set.matches(Path::new("/p/src/lib/x.c")).count(), 2);
    }

    #[test]
    fn ignore_patterns_and_the_dockerignore_of_the_build_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path();
        std::fs::write(ctx.join(".dockerignore"), "**/*.log\nsrc/gen/\n").expect("write");
        let mut t = trigger(
            &ctx.join("src").to_string_lossy(),
            WatchAction::Sync,
            "/app",
        );
        t.ignore = StringList(vec![
            "node_modules/".into(),
            "dist".into(),
            "!dist/keep".into(),
        ]);
        let mut svc = service(vec![t.clone()]);
        svc.build = Some(
            serde_json::from_str::<BuildConfig>(&format!(r#"{{"context": "{}"}}"#, ctx.display()))
                .expect("build"),
        );
        let r = Rule::compile(&svc, 0, &t).expect("rule");
        let src = ctx.join("src");
        assert!(r.matches(&src.join("node_modules/a/index.js")).is_none());
        assert!(r.prunes(&src.join("node_modules")));
        assert!(r.matches(&src.join("dist/bundle.js")).is_none());
        assert!(
            !r.prunes(&src.join("dist")),
            "an exception may re-include below it"
        );
        assert!(r.matches(&src.join("dist/keep")).is_some());
        // The context's .dockerignore is relative to the context, not to the rule's path.
        assert!(r.matches(&src.join("debug.log")).is_none());
        assert!(r.matches(&src.join("gen/out.c")).is_none());
        assert!(r.prunes(&src.join("gen")));
        assert!(r.matches(&src.join("main.c")).is_some());
        let include = Trigger {
            include: StringList(vec!["*.c".into()]),
            ..t
        };
        let r = Rule::compile(&svc, 0, &include).expect("rule");
        assert!(r.matches(&src.join("main.c")).is_some());
        assert!(r.matches(&src.join("main.h")).is_none());
    }
}
