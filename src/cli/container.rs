//! `rcompose container …`: single containers of the bundled runtime, outside any project
//! (`docker run`-style). The orchestrator drives the same runtime for `up`; these commands are for
//! trying images, debugging and benchmarking the runtime alone.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::runtime::container::logs::LogStream;
use crate::runtime::container::{
    ContainerRuntime, ContainerSpec, LogOptions, RemoveOptions, Runtime,
};
use crate::runtime::image::{ImageId, ImageStore};

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and start a container from a stored image, wait for it, print its output
    Run(RunArgs),
    /// List containers
    Ls,
    /// Print a container's logs
    Logs { container: String },
    /// Stop a running container
    Stop { container: String },
    /// Remove containers
    Rm {
        /// Kill a running container first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    /// Start and return the container ID without waiting
    #[arg(short, long)]
    pub detach: bool,
    /// Image reference or ID
    pub image: String,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

fn runtime(global: &GlobalArgs) -> anyhow::Result<ContainerRuntime> {
    let rt =
        ContainerRuntime::with_current_exe(&global.root, &global.run_root).with_context(|| {
            format!(
                "opening the container runtime under {}",
                global.root.display()
            )
        })?;
    rt.reconcile_all()?;
    Ok(rt)
}

/// Runs the command; returns the process exit code to use.
pub fn run(global: &GlobalArgs, cmd: &ContainerCommand) -> anyhow::Result<i32> {
    let rt = runtime(global)?;
    match cmd {
        ContainerCommand::Run(args) => run_container(global, &rt, args),
        ContainerCommand::Ls => {
            let listed = rt.list()?;
            // The name column is as wide as the longest name, so columns never run together.
            let width = listed
                .iter()
                .map(|i| i.spec.name.len() + 2)
                .max()
                .unwrap_or(0)
                .max(24);
            println!(
                "{:<14}{:<width$}{:<12}EXIT",
                "CONTAINER ID", "NAME", "STATUS"
            );
            for info in listed {
                let state = &info.state;
                let exit = state.exit_code.map(|c| c.to_string()).unwrap_or_default();
                println!(
                    "{:<14}{:<width$}{:<12}{exit}",
                    &state.id[..12.min(state.id.len())],
                    info.spec.name,
                    format!("{:?}", state.status).to_lowercase()
                );
            }
            Ok(0)
        }
        ContainerCommand::Logs { container } => {
            print_logs(&rt, container)?;
            Ok(0)
        }
        ContainerCommand::Stop { container } => {
            rt.stop(container, None)?;
            Ok(0)
        }
        ContainerCommand::Rm { force, containers } => {
            for c in containers {
                rt.remove(
                    c,
                    RemoveOptions {
                        force: *force,
                        volumes: false,
                    },
                )?;
                println!("{c}");
            }
            Ok(0)
        }
    }
}

fn run_container(
    global: &GlobalArgs,
    rt: &ContainerRuntime,
    args: &RunArgs,
) -> anyhow::Result<i32> {
    let store = ImageStore::open(&global.root)?;
    let image = store.inspect(&args.image)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("run-{}", std::process::id()));
    let mut spec = ContainerSpec::new(name, image.config.clone(), image.layer_dirs.clone());
    if !args.command.is_empty() {
        spec.command = Some(args.command.clone());
    }
    let id = rt.create(&spec)?;
    let outcome = hold_start_wait(rt, &store, &image.id, &id, args);
    // With `--rm` nothing stays behind, also when the container never started.
    if !args.rm || (args.detach && outcome.is_ok()) {
        return outcome;
    }
    let removed = rt
        .remove(
            &id,
            RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(store.release(&image.id, &id)?));
    // The run's own failure is the one to report; a failed removal only when the run went well.
    let code = outcome?;
    removed.map(|()| code)
}

/// Everything of `container run` after the create: the image hold, start, and (attached) the wait
/// and the logs. The exit code of the container, or 0 when detached.
fn hold_start_wait(
    rt: &ContainerRuntime,
    store: &ImageStore,
    image: &ImageId,
    id: &str,
    args: &RunArgs,
) -> anyhow::Result<i32> {
    store.hold(image, id)?;
    rt.start(id)?;
    if args.detach {
        println!("{id}");
        return Ok(0);
    }
    let code = rt.wait(id)?;
    print_logs(rt, id)?;
    Ok(code)
}

fn print_logs(rt: &ContainerRuntime, id: &str) -> anyhow::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for entry in rt.logs(id, &LogOptions::default())? {
        match entry.stream {
            LogStream::Stderr => err.write_all(entry.log.as_bytes())?,
            LogStream::Stdout => out.write_all(entry.log.as_bytes())?,
        }
    }
    Ok(())
}
