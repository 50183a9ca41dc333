//! `down`, `start`, `stop`, `restart`, `kill`, `pause`, `unpause`, `rm`: thin layers over the
//! engine's lifecycle operations.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::down::{DownOptions, RemoveImages};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Don't restart dependent services (restart only)
    #[arg(long, hide = true)]
    pub no_deps: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

pub fn down(global: &GlobalArgs, args: &DownArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Running")?)?;
    let opts = DownOptions {
        remove_orphans: args.remove_orphans,
        volumes: args.volumes,
        rmi: match args.rmi.as_deref() {
            Some("local") => Some(RemoveImages::Local),
            Some("all") => Some(RemoveImages::All),
            _ => None,
        },
        timeout: session::seconds(args.timeout),
    };
    let r = if args.services.is_empty() {
        s.engine.down(&s.ctx, &opts)
    } else {
        s.engine.down_services(&s.ctx, &args.services, &opts)
    };
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn start(global: &GlobalArgs, args: &ServicesArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Running")?)?;
    let r = s.engine.start_services(&s.ctx, &args.services);
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn stop(global: &GlobalArgs, args: &StopArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Stopping")?)?;
    let r = s
        .engine
        .stop_services(&s.ctx, &args.services, session::seconds(args.timeout));
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn restart(global: &GlobalArgs, args: &StopArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Restarting")?)?;
    let r = s
        .engine
        .restart_services(&s.ctx, &args.services, session::seconds(args.timeout));
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn kill(global: &GlobalArgs, args: &KillArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Killing")?)?;
    let r = s.engine.kill_services(&s.ctx, &args.services, &args.signal);
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn pause(global: &GlobalArgs, args: &ServicesArgs, pause: bool) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Running")?)?;
    let r = s.engine.pause_services(&s.ctx, &args.services, pause);
    s.engine.progress().finish();
    r?;
    Ok(0)
}

pub fn rm(global: &GlobalArgs, args: &RmArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Removing")?)?;
    let all = s.engine.containers_of(&s.ctx, &args.services)?;
    let doomed: Vec<_> = all
        .into_iter()
        .filter(|c| args.stop || !c.is_running())
        .collect();
    if doomed.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !args.force {
        let names: Vec<&str> = doomed.iter().map(|c| c.name()).collect();
        if !std::io::stdin().is_terminal() {
            bail!(
                "Going to remove {}: confirmation needs a terminal; use --force",
                names.join(", ")
            );
        }
        eprint!(
            "Going to remove {}\n? Are you sure? (y/N) ",
            names.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let r = s
        .engine
        .remove_services(&s.ctx, &doomed, args.stop, args.volumes);
    s.engine.progress().finish();
    r?;
    Ok(0)
}
