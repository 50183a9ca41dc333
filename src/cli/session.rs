//! What every project command starts with: load the Compose project, open the engine on the
//! state root with the right progress renderer, and turn engine errors into reports.

use std::sync::Arc;

use anyhow::Context;

use super::output::progress::{ProgressConfig, new_sink};
use super::{GlobalArgs, host};
use crate::compose::{LoadSettings, load_project};
use crate::engine::progress::ProgressSink;
use crate::engine::{Engine, ProjectContext};

/// A loaded project and the engine to act on it.
pub struct Session {
    pub ctx: ProjectContext,
    pub engine: Engine,
}

/// The progress renderer `--progress`/`--ansi` ask for, on stderr; `title` heads the live
/// view (`Running`, `Stopping`, ...).
pub fn progress(global: &GlobalArgs, title: &str) -> anyhow::Result<Arc<dyn ProgressSink>> {
    use std::io::IsTerminal;
    let cfg = ProgressConfig {
        progress: global.progress,
        ansi: global.ansi,
        stderr_is_tty: std::io::stderr().is_terminal(),
        no_color: no_color_env(),
        dry_run: global.dry_run,
        title: title.to_string(),
    };
    Ok(Arc::from(new_sink(&cfg, Box::new(std::io::stderr()))?))
}

/// `NO_COLOR` set and not empty.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether container log output is coloured (`--ansi`, `--no-color`, `NO_COLOR`, stdout a tty).
pub fn log_color(global: &GlobalArgs, no_color_flag: bool) -> bool {
    use std::io::IsTerminal;
    super::output::logs::use_color(
        global.ansi,
        std::io::stdout().is_terminal(),
        no_color_flag,
        no_color_env(),
    )
}

/// Open the engine with `sink` for progress.
pub fn engine(global: &GlobalArgs, sink: Arc<dyn ProgressSink>) -> anyhow::Result<Engine> {
    let engine = Engine::open(&global.root, &global.run_root, sink)
        .with_context(|| format!("opening the runtime under {}", global.root.display()))?
        .with_parallel(global.parallel);
    engine.containers.reconcile_all()?;
    Ok(engine)
}

/// Load the project (only `services` and what they need, when given) and open the engine.
pub fn open(
    global: &GlobalArgs,
    services: &[String],
    sink: Arc<dyn ProgressSink>,
) -> anyhow::Result<Session> {
    let host = host(global)?;
    let settings = LoadSettings {
        services: services.to_vec(),
        ..LoadSettings::default()
    };
    let loaded = load_project(&global.project_options(), &host, &settings)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let env_files = global.env_files.iter().map(|f| host.cwd.join(f)).collect();
    let ctx = ProjectContext::new(&loaded, env_files)?;
    let engine = engine(global, sink)?;
    Ok(Session { ctx, engine })
}

/// `-t/--timeout SECONDS` (negative means no grace period, as docker treats it).
pub fn seconds(t: Option<i64>) -> Option<std::time::Duration> {
    t.map(|t| std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0)))
}
