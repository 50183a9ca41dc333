//! `rcompose up` and `rcompose create`: converge the project (engine), then in attached mode
//! follow the containers' logs until they exit, stopping them on Ctrl-C.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::logs_follow::{self, Follow, FollowOptions};
use super::session;
use crate::engine::Engine;
use crate::engine::up::{UpOptions, UpReport};
use crate::runtime::container::Runtime;
use crate::runtime::image::PullPolicy;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long, conflicts_with = "build")]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Recreate dependent containers
    #[arg(long)]
    pub always_recreate_deps: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` in the Compose file)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Use this timeout in seconds for container shutdown
    #[arg(short, long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Stops all containers if any container was stopped
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Automatically attach to log output of dependent services
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short, long)]
    pub yes: bool,
    /// Watch source code and rebuild/refresh containers when files are updated
    #[arg(short, long, conflicts_with = "detach")]
    pub watch: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Assume "yes" as answer to all prompts
    #[arg(short, long)]
    pub yes: bool,
    pub services: Vec<String>,
}

/// `--scale web=3` pairs.
pub fn parse_scale(items: &[String]) -> anyhow::Result<Vec<(String, u32)>> {
    items
        .iter()
        .map(|s| {
            let (name, n) = s
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("invalid --scale {s:?}: expected SERVICE=NUM"))?;
            let n: u32 = n
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid --scale {s:?}: {n:?} is not a number"))?;
            Ok((name.to_string(), n))
        })
        .collect()
}

fn pull_policy(p: Option<&str>) -> anyhow::Result<Option<PullPolicy>> {
    Ok(match p {
        None => None,
        Some(p) => Some(
            p.parse::<PullPolicy>()
                .map_err(|e| anyhow::anyhow!("--pull: {e}"))?,
        ),
    })
}

/// Messages the attached loop reacts to.
enum Interrupt {
    Signal(u32),
}

pub fn create(global: &GlobalArgs, args: &CreateArgs) -> anyhow::Result<i32> {
    let s = session::open(
        global,
        &args.services,
        session::progress(global, "Running")?,
    )?;
    let opts = UpOptions {
        services: args.services.clone(),
        scale: parse_scale(&args.scale)?,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        pull: pull_policy(args.pull.as_deref())?,
        build: super::build::up_build(args.build, args.no_build, false),
        no_start: true,
        ..UpOptions::default()
    };
    let r = s.engine.up(&s.ctx, &opts);
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn up(global: &GlobalArgs, args: &UpArgs) -> anyhow::Result<i32> {
    if let Some(svc) = &args.exit_code_from
        && !args.services.is_empty()
        && !args.services.contains(svc)
    {
        bail!("exit code from {svc:?} requires the service to be started: add it to the services");
    }
    let (tx, rx) = mpsc::channel();
    super::signals::route(tx, Interrupt::Signal);
    let s = session::open(
        global,
        &args.services,
        session::progress(global, "Running")?,
    )?;
    let detach = args.detach || args.wait;
    let watchable = |svc: &crate::compose::model::ServiceConfig| {
        svc.develop.as_ref().is_some_and(|d| !d.watch.is_empty())
    };
    if args.watch && !s.ctx.project.services.values().any(watchable) {
        bail!(
            "none of the selected services is configured for watch, see https://docs.docker.com/compose/how-tos/file-watch/"
        );
    }
    let opts = UpOptions {
        services: if args.no_deps {
            args.services.clone()
        } else {
            Vec::new()
        },
        scale: parse_scale(&args.scale)?,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: args.always_recreate_deps,
        named: args.services.clone(),
        no_deps: args.no_deps,
        no_start: args.no_start,
        renew_anon_volumes: args.renew_anon_volumes,
        remove_orphans: args.remove_orphans,
        pull: pull_policy(args.pull.as_deref())?,
        build: super::build::up_build(args.build, args.no_build, false),
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
        timeout: session::seconds(args.timeout),
    };
    // A Ctrl-C during `up` cancels the remaining work; in attached mode it also stops the
    // containers (the loop below gets the count: a second one kills).
    let (sig_tx, sig_rx) = mpsc::channel::<u32>();
    let engine = s.engine.clone();
    std::thread::spawn(move || {
        while let Ok(Interrupt::Signal(n)) = rx.recv() {
            engine.cancel();
            if sig_tx.send(n).is_err() {
                break;
            }
        }
    });
    // Attaching shows what the containers print from now on, not what an earlier run of the same
    // container left in its log (docker compose attaches before it starts them).
    let began = chrono::Utc::now();
    let result = s.engine.up(&s.ctx, &opts);
    s.engine.progress().finish();
    if let Err(e) = &result {
        super::build::report_failure(&s.ctx, e);
    }
    let report = result?;
    if detach || args.no_start {
        return Ok(0);
    }
    attached(global, &s.engine, s.ctx, args, &report, sig_rx, began)
}

fn attached(
    global: &GlobalArgs,
    engine: &Engine,
    ctx: crate::engine::ProjectContext,
    args: &UpArgs,
    report: &UpReport,
    sig_rx: mpsc::Receiver<u32>,
    began: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<i32> {
    let project = ctx.name.clone();
    let wanted: BTreeSet<&str> = args.attach.iter().map(String::as_str).collect();
    let refused: BTreeSet<&str> = args.no_attach.iter().map(String::as_str).collect();
    let attach: Vec<String> = report
        .containers
        .iter()
        .filter(|(svc, _)| wanted.is_empty() || wanted.contains(svc.as_str()))
        .filter(|(svc, _)| !refused.contains(svc.as_str()))
        .map(|(_, c)| c.clone())
        .collect();
    let mut follow = Follow::start(
        engine,
        &attach,
        FollowOptions {
            prefix: !args.no_log_prefix,
            timestamps: args.timestamps,
            color: session::log_color(global, args.no_color),
            strip: format!("{project}-"),
            tail: None,
            since: Some(began),
            until: None,
            banner: true,
        },
    );
    let watch = match args.watch {
        true => Some(start_watch(global, engine, ctx, args, &mut follow)?),
        false => None,
    };
    let abort_on_exit = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut exit_code = 0;
    let mut stopping = false;
    let stop_all = |engine: &Engine, kill: bool| {
        let names = report.started.clone();
        let engine = engine.clone();
        let timeout = session::seconds(args.timeout);
        std::thread::spawn(move || {
            let _ = engine.each(&names, |n| {
                if kill {
                    let _ = engine.containers.kill(n, "SIGKILL");
                    Ok(())
                } else {
                    engine.stop_container(n, timeout)
                }
            });
            engine.progress().finish();
        });
    };
    loop {
        if let Ok(n) = sig_rx.try_recv() {
            // Ctrl-C ends the watch too, and the follow once the containers are down.
            if let Some((stopper, _)) = &watch {
                stopper.stop();
                follow.keep_alive(false);
            }
            if n == 1 {
                println!("{}", super::output::logs::GRACEFUL_STOP);
                stopping = true;
                stop_all(engine, false);
            } else {
                stop_all(engine, true);
            }
            exit_code = 130;
        }
        match follow.next(Duration::from_millis(100)) {
            logs_follow::Next::Exited { container, code } => {
                let service = report
                    .containers
                    .iter()
                    .find(|(_, c)| *c == container)
                    .map(|(s, _)| s.as_str());
                if args.exit_code_from.as_deref() == service && service.is_some() {
                    exit_code = code;
                }
                let failure = args.abort_on_container_failure && code != 0;
                if (abort_on_exit || failure) && !stopping {
                    stopping = true;
                    if args.exit_code_from.is_none() && code != 0 {
                        exit_code = code;
                    }
                    let _ = super::output::logs::aborting(
                        &mut std::io::stderr(),
                        !super::session::no_color_env(),
                    );
                    stop_all(engine, false);
                }
            }
            logs_follow::Next::Idle => {}
            logs_follow::Next::Done => break,
        }
    }
    follow.join();
    if let Some((_, running)) = watch {
        let _ = running.join();
    }
    Ok(exit_code)
}

/// `up --watch`: the watch runs on its own thread, its lines among the logs.
fn start_watch(
    global: &GlobalArgs,
    engine: &Engine,
    ctx: crate::engine::ProjectContext,
    args: &UpArgs,
    follow: &mut Follow,
) -> anyhow::Result<(crate::engine::watch::Stopper, std::thread::JoinHandle<()>)> {
    let ctx = std::sync::Arc::new(ctx);
    let out = super::watch::AttachedOutput {
        follow: follow.handle(),
        engine: engine.clone(),
        ctx: ctx.clone(),
    };
    let opts = super::watch::options(global, &args.services, true, false)?;
    let w = engine.watch(ctx, &opts, std::sync::Arc::new(out))?;
    follow.keep_alive(true);
    let stopper = w.stopper();
    Ok((stopper, std::thread::spawn(move || w.run())))
}
