//! `rcompose watch [SERVICE...]`: bring the project up (unless `--no-up`), then sync, restart,
//! exec or rebuild as `develop.watch` says while files change, until Ctrl-C. The containers stay
//! up afterwards, as with docker compose. Also the watch's side of `up --watch`.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc;

use clap::{ArgAction, Args};

use super::GlobalArgs;
use super::logs_follow::FollowHandle;
use super::session;
use crate::engine::progress::ProgressSink;
use crate::engine::up::UpOptions;
use crate::engine::watch::watcher::Timings;
use crate::engine::watch::{WatchOptions, WatchOutput};
use crate::engine::{Engine, ProjectContext};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub prune: bool,
    /// hide build output
    #[arg(long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

/// `watch`'s own output: its log on stdout, problems on stderr (docker compose's streams).
struct PlainOutput;

impl WatchOutput for PlainOutput {
    fn log(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn error(&self, line: &str) {
        eprintln!("{line}");
    }
}

pub fn watch(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<i32> {
    let (tx, rx) = mpsc::channel();
    super::signals::route(tx, |n| n);
    let s = session::open(
        global,
        &args.services,
        session::progress(global, "Running")?,
    )?;
    if !args.no_up {
        // Services with a build and a develop section are built each time, as docker
        // compose does (cached steps cost milliseconds).
        let opts = UpOptions {
            services: Vec::new(),
            named: args.services.clone(),
            build: super::build::up_build(true, false, args.quiet),
            ..UpOptions::default()
        };
        let r = s.engine.up(&s.ctx, &opts);
        s.engine.progress().finish();
        r?;
    }
    let opts = options(global, &args.services, args.prune, args.quiet)?;
    let running = s
        .engine
        .watch(Arc::new(s.ctx), &opts, Arc::new(PlainOutput))?;
    let stopper = running.stopper();
    let engine = s.engine.clone();
    // Ctrl-C ends the watch once the actions under way are done; a second one at once.
    std::thread::spawn(move || {
        for n in rx {
            if n > 1 {
                std::process::exit(130);
            }
            engine.cancel();
            stopper.stop();
        }
    });
    running.run();
    Ok(0)
}

/// Progress of rebuilds (the recreated containers); none with `--quiet`.
pub fn rebuild_progress(global: &GlobalArgs, quiet: bool) -> anyhow::Result<Arc<dyn ProgressSink>> {
    match quiet {
        true => Ok(Arc::new(crate::engine::progress::Quiet)),
        false => session::progress(global, "Running"),
    }
}

/// The watch's options: `services` (all with a `develop.watch` section when empty), rebuilds
/// shown on stderr unless `quiet`.
pub fn options(
    global: &GlobalArgs,
    services: &[String],
    prune: bool,
    quiet: bool,
) -> anyhow::Result<WatchOptions> {
    Ok(WatchOptions {
        services: services.to_vec(),
        prune,
        timings: Timings::default(),
        progress: rebuild_progress(global, quiet)?,
        build: super::build::up_build(true, false, quiet),
    })
}

/// `up --watch`: the watch's lines go among the container logs (docker compose's `⦿` prefix),
/// and restarted or recreated containers are followed again.
pub struct AttachedOutput {
    pub follow: FollowHandle,
    pub engine: Engine,
    pub ctx: Arc<ProjectContext>,
}

impl WatchOutput for AttachedOutput {
    fn log(&self, line: &str) {
        self.follow.note(line);
    }

    fn error(&self, line: &str) {
        self.follow.note(line);
    }

    fn containers_changed(&self, service: &str, since: chrono::DateTime<chrono::Utc>) {
        if let Ok(cs) = self.engine.containers_of(&self.ctx, &[service.to_string()]) {
            let names = cs.iter().map(|c| c.name().to_string()).collect();
            self.follow.follow(names, since);
        }
    }
}
