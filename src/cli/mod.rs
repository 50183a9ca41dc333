//! The `rcompose` command line: clap definitions of docker compose's global flags and
//! subcommands, each subcommand a thin layer over the pipeline stages.

mod build;
mod config;
mod container;
mod cp;
mod events;
mod exec;
mod image;
mod lifecycle;
mod logs;
mod logs_follow;
mod ls;
pub mod output;
mod port;
mod project_images;
mod ps;
mod push;
mod run;
mod scale;
mod session;
mod signals;
mod stats;
mod top;
mod tty;
mod up;
mod volumes;
mod wait;
mod watch;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::compose::{Host, ProjectOptions};

#[derive(Debug, Parser)]
#[command(
    name = "rcompose",
    version,
    about = "Define and run multi-container applications, with a bundled daemonless runtime"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts, as docker compose has them.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    // `-f` and `-p` go before the subcommand, as in docker compose: `rm -f` and `run -p` are
    // the subcommands' own flags.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first Compose file)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Maximum parallelism, -1 for unlimited
    #[arg(long, global = true, default_value_t = -1, env = "COMPOSE_PARALLEL_LIMIT", allow_negative_numbers = true)]
    pub parallel: i64,
    /// Progress output type
    #[arg(long, global = true, value_enum, env = "COMPOSE_PROGRESS")]
    pub progress: Option<Progress>,
    /// When to print ANSI control characters
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "COMPOSE_ANSI"
    )]
    pub ansi: Ansi,
    /// Execute commands in dry run mode
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Run compose in backward compatibility mode
    #[arg(long, global = true, env = "COMPOSE_COMPATIBILITY")]
    pub compatibility: bool,
    /// Include all resources, even those not used by services
    #[arg(long, global = true)]
    pub all_resources: bool,
    /// State root of the bundled runtime
    #[arg(
        long,
        global = true,
        env = "RCOMPOSE_ROOT",
        default_value = "/var/lib/rcompose",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// Runtime state (sockets, pids) of the bundled runtime
    #[arg(
        long,
        global = true,
        env = "RCOMPOSE_RUN_ROOT",
        default_value = "/run/rcompose",
        value_name = "DIR"
    )]
    pub run_root: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Progress {
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Ansi {
    Never,
    Always,
    Auto,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, resolve and render the Compose file in canonical format
    Config(config::ConfigArgs),
    /// Manage the images of the bundled image store
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Run single containers of the bundled runtime
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Build or rebuild services
    Build(build::BuildArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// Stop and remove containers, networks
    Down(lifecycle::DownArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Start services
    Start(lifecycle::ServicesArgs),
    /// Stop services
    Stop(lifecycle::StopArgs),
    /// Restart service containers
    Restart(lifecycle::StopArgs),
    /// Force stop service containers
    Kill(lifecycle::KillArgs),
    /// Pause services
    Pause(lifecycle::ServicesArgs),
    /// Unpause services
    Unpause(lifecycle::ServicesArgs),
    /// Removes stopped service containers
    Rm(lifecycle::RmArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Pull service images
    Pull(image::PullArgs),
    /// Push service images
    Push(push::PushArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(cp::CpArgs),
    /// Receive real time events from containers
    Events(events::EventsArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Print the public port for a port binding
    Port(port::PortArgs),
    /// Display the running processes
    Top(top::TopArgs),
    /// List images used by the created containers
    Images(project_images::ImagesArgs),
    /// List running compose projects
    Ls(ls::LsArgs),
    /// Block until containers of all (or specified) services stop
    Wait(wait::WaitArgs),
    /// Scale services
    Scale(scale::ScaleArgs),
    /// List volumes
    Volumes(volumes::VolumesArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(watch::WatchArgs),
    /// Show the rcompose version information
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output
    #[arg(long, value_parser = ["pretty", "json"], default_value = "pretty")]
    pub format: String,
    /// Shows only the version number
    #[arg(long)]
    pub short: bool,
}

impl GlobalArgs {
    pub fn project_options(&self) -> ProjectOptions {
        ProjectOptions {
            files: self.files.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_files.clone(),
            profiles: self.profiles.clone(),
        }
    }
}

/// The process's view of the world: working directory, environment and (if a file is `-`) stdin.
fn host(global: &GlobalArgs) -> anyhow::Result<Host> {
    let cwd = std::env::current_dir()?;
    let env = std::env::vars().collect();
    let stdin = if global.files.iter().any(|f| f == "-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Some(text)
    } else {
        None
    };
    Ok(Host { cwd, env, stdin })
}

fn version(args: &VersionArgs) {
    let v = env!("CARGO_PKG_VERSION");
    match (args.short, args.format.as_str()) {
        (true, _) => println!("{v}"),
        (false, "json") => println!("{{\"version\":\"v{v}\"}}"),
        _ => println!("rcompose version v{v}"),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let coded = match &cli.command {
        Command::Container(cmd) => Some(container::run(g, cmd)),
        Command::Build(a) => Some(build::build(g, a)),
        Command::Up(a) => Some(up::up(g, a)),
        Command::Create(a) => Some(up::create(g, a)),
        Command::Down(a) => Some(lifecycle::down(g, a)),
        Command::Ps(a) => Some(ps::ps(g, a)),
        Command::Logs(a) => Some(logs::logs(g, a)),
        Command::Start(a) => Some(lifecycle::start(g, a)),
        Command::Stop(a) => Some(lifecycle::stop(g, a)),
        Command::Restart(a) => Some(lifecycle::restart(g, a)),
        Command::Kill(a) => Some(lifecycle::kill(g, a)),
        Command::Pause(a) => Some(lifecycle::pause(g, a, true)),
        Command::Unpause(a) => Some(lifecycle::pause(g, a, false)),
        Command::Rm(a) => Some(lifecycle::rm(g, a)),
        Command::Exec(a) => Some(exec::exec(g, a)),
        Command::Cp(a) => Some(cp::cp(g, a)),
        Command::Events(a) => Some(events::events(g, a)),
        Command::Stats(a) => Some(stats::stats(g, a)),
        Command::Run(a) => Some(run::run(g, a)),
        Command::Port(a) => Some(port::port(g, a)),
        Command::Top(a) => Some(top::top(g, a)),
        Command::Images(a) => Some(project_images::images(g, a)),
        Command::Ls(a) => Some(ls::ls(g, a)),
        Command::Wait(a) => Some(wait::wait(g, a)),
        Command::Scale(a) => Some(scale::scale(g, a)),
        Command::Volumes(a) => Some(volumes::volumes(g, a)),
        Command::Watch(a) => Some(watch::watch(g, a)),
        _ => None,
    };
    if let Some(result) = coded {
        return match result {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match &cli.command {
        Command::Config(args) => host(&cli.global).and_then(|h| config::run(&cli.global, &h, args)),
        Command::Image(cmd) => image::run(&cli.global, cmd),
        Command::Pull(args) => host(&cli.global).and_then(|h| image::pull(&cli.global, &h, args)),
        Command::Push(args) => host(&cli.global).and_then(|h| push::push(&cli.global, &h, args)),
        Command::Version(args) => {
            version(args);
            Ok(())
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
