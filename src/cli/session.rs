//! What every project command starts with: load the Compose project, open the engine on the
//! state root with the right progress renderer, and turn engine errors into reports.

use std::sync::Arc;

use anyhow::Context;

use super::{GlobalArgs, host};
use crate::compose::{LoadSettings, Loaded, load_project};
use crate::engine::progress::ProgressSink;
use crate::engine::{Engine, ProjectContext};

/// A loaded project and the engine to act on it.
pub struct Session {
    pub loaded: Loaded,
    pub ctx: ProjectContext,
    pub engine: Engine,
}

/// The progress renderer `--progress`/`--ansi` ask for (stderr).
pub fn progress(global: &GlobalArgs) -> Arc<dyn ProgressSink> {
    super::output::progress::sink(global.progress, global.ansi)
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
    let env_files = global
        .env_files
        .iter()
        .map(|f| host.cwd.join(f))
        .collect();
    let ctx = ProjectContext::new(&loaded, env_files)?;
    let engine = engine(global, sink)?;
    Ok(Session {
        loaded,
        ctx,
        engine,
    })
}
