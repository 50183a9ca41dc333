//! `rcompose exec`: run a command in a service's running container, its exit code passed
//! through. At an interactive terminal (and without `-T`) the command gets a pseudo-terminal as
//! its controlling terminal (see [`super::tty`]); otherwise this process's stdin/stdout/stderr
//! are handed to it as they are.

use std::os::fd::OwnedFd;

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::GlobalArgs;
use super::session;
use super::tty;
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
    // Like docker compose: a TTY unless -T, -d, or this is not an interactive terminal.
    let tty = !args.detach && !args.no_tty && tty::interactive_terminal();
    let mut spec = ExecSpec {
        args: args.command.clone(),
        env: parse_env(&args.env)?.into_iter().collect(),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        tty,
    };
    if args.detach {
        if std::env::var_os(DETACHED_ENV).is_none() {
            return detach();
        }
        return Ok(s
            .engine
            .containers
            .exec(container.name(), &spec, ExecIo::default())?);
    }
    if !tty {
        use std::os::fd::AsFd;
        let io = ExecIo {
            stdin: Some(dup(std::io::stdin().as_fd())?),
            stdout: Some(dup(std::io::stdout().as_fd())?),
            stderr: Some(dup(std::io::stderr().as_fd())?),
        };
        return Ok(s.engine.containers.exec(container.name(), &spec, io)?);
    }
    // dockerd sets TERM for a TTY exec unless the caller did.
    spec.env
        .entry("TERM".into())
        .or_insert_with(|| "xterm".into());
    let (relay, [stdin, stdout, stderr]) = tty::open()?;
    let io = ExecIo {
        stdin: Some(stdin),
        stdout: Some(stdout),
        stderr: Some(stderr),
    };
    let code = s.engine.containers.exec(container.name(), &spec, io);
    relay.finish();
    Ok(code?)
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
