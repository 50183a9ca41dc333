//! `rcompose exec`: run a command in a service's running container, with this terminal's
//! stdin/stdout/stderr handed to it (so an interactive shell works) and its exit code passed
//! through.

use std::os::fd::OwnedFd;

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::progress::Quiet;
use crate::runtime::container::{ExecIo, ExecSpec, Runtime};

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Disable pseudo-TTY allocation. By default `exec` allocates a TTY
    #[arg(short = 'T', long)]
    pub no_tty: bool,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub service: String,
    #[arg(required = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> anyhow::Result<OwnedFd> {
    fd.try_clone_to_owned()
        .context("duplicate a standard stream")
}

/// `KEY=VAL` (or `KEY`, taken from this process's environment, as docker does).
pub fn parse_env(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !kv.is_empty() => Ok((kv.clone(), std::env::var(kv).unwrap_or_default())),
            _ => Err(anyhow!(
                "invalid environment variable {kv:?}: expected KEY=VALUE"
            )),
        })
        .collect()
}

pub fn exec(global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    if s.ctx.service(&args.service).is_none() {
        bail!("no such service: {}", args.service);
    }
    let container = s
        .engine
        .containers_of(&s.ctx, std::slice::from_ref(&args.service))?
        .into_iter()
        .find(|c| c.labels.number == Some(args.index))
        .ok_or_else(|| {
            anyhow!(
                "service {:?} is not running (no container with index {})",
                args.service,
                args.index
            )
        })?;
    if !container.is_running() {
        bail!("container {} is not running", container.name());
    }
    let spec = ExecSpec {
        args: args.command.clone(),
        env: parse_env(&args.env)?.into_iter().collect(),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
    };
    let io = if args.detach {
        ExecIo::default()
    } else {
        use std::os::fd::AsFd;
        ExecIo {
            stdin: Some(dup(std::io::stdin().as_fd())?),
            stdout: Some(dup(std::io::stdout().as_fd())?),
            stderr: Some(dup(std::io::stderr().as_fd())?),
        }
    };
    if args.detach && std::env::var_os(DETACHED_ENV).is_none() {
        return detach();
    }
    Ok(s.engine.containers.exec(container.name(), &spec, io)?)
}

/// Set in the background copy of a detached `exec`.
const DETACHED_ENV: &str = "RCOMPOSE_EXEC_DETACHED";

/// `exec -d`: the same command line runs again in its own session with no terminal, and waits
/// for the command there; this one returns at once.
fn detach() -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locate the rcompose executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(DETACHED_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn().context("start the detached exec")?;
    Ok(0)
}
