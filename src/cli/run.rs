//! `rcompose run SERVICE [COMMAND...]`: a one-off container of a service. Its dependencies come
//! up first (unless `--no-deps`), then the container is created and started with this command
//! attached; its exit code becomes ours (`--rm` removes it then); detached (`-d`), its ID is
//! printed.
//!
//! As in docker compose, the container gets a pseudo-terminal when our stdout is a terminal
//! (`-T` never, `-t` always), and its stdin stays open (`-i` is the default). With a terminal,
//! ours is put in raw mode and relayed both ways to the container's (keys, Ctrl-C, window
//! size; see [`super::tty`]). Without one, our stdin is passed on until it ends and the
//! container's stdout and stderr are copied to ours from its log. `--rm` with `-d` leaves a
//! background copy of this command waiting to remove the container (there is no daemon to do
//! it).

use std::io::{IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::{GlobalArgs, session, tty};
use crate::compose::model::shell_split;
use crate::engine::labels;
use crate::engine::progress::{Event, ProgressSink, Quiet, ResourceKind};
use crate::engine::run::{RunOptions, Start, Started};
use crate::engine::{Engine, ProjectContext};
use crate::runtime::container::{LogOptions, LogStream, Runtime};
use crate::runtime::monitor::protocol::WindowSize;

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Set environment variables from file
    #[arg(long, value_name = "FILE")]
    pub env_from_file: Vec<PathBuf>,
    /// Add or override a label
    #[arg(short, long = "label", alias = "labels", value_name = "KEY=VAL")]
    pub label: Vec<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Bind mount a volume
    #[arg(short, long = "volume", alias = "volumes")]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Use the service's network aliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, default_value = "policy")]
    pub pull: String,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    pub quiet: bool,
    /// Suppress progress output from the build process
    #[arg(long)]
    pub quiet_build: bool,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Keep STDIN open even if not attached (the default)
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long, hide = true)]
    pub tty: bool,
    pub service: String,
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Set in the background copy that removes a detached `--rm` container when it exits.
const AUTOREMOVE_ENV: &str = "RCOMPOSE_RUN_AUTOREMOVE";

/// Passes the engine's events on, except those about the one-off container itself (docker
/// compose shows only the dependencies' progress) and, with `--quiet-pull`, image pulls.
struct RunProgress {
    inner: Arc<dyn ProgressSink>,
    /// Set once the project (and so the container's name prefix) is known.
    oneoff: OnceLock<OneOffName>,
    quiet_pull: bool,
}

/// How the one-off container is recognised before its slug is known.
enum OneOffName {
    Exact(String),
    Prefix(String),
}

impl OneOffName {
    fn matches(&self, name: &str) -> bool {
        match self {
            OneOffName::Exact(n) => n == name,
            OneOffName::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

impl ProgressSink for RunProgress {
    fn event(&self, e: Event) {
        let own = e.kind == ResourceKind::Container
            && self.oneoff.get().is_some_and(|o| o.matches(&e.name))
            && e.status != crate::engine::progress::Status::Warning;
        let pull = self.quiet_pull && e.kind == ResourceKind::Image;
        if !own && !pull {
            self.inner.event(e);
        }
    }

    fn finish(&self) {
        self.inner.finish();
    }
}

/// docker's own conflicts between flags.
fn check_flags(args: &RunArgs) -> anyhow::Result<()> {
    if !args.publish.is_empty() && args.service_ports {
        bail!("--service-ports and --publish are incompatible");
    }
    if args.tty && args.no_tty {
        bail!("--tty and --no-TTY can't be used together");
    }
    Ok(())
}

/// docker compose's rule: a TTY with `-t`, none with `-T`, else when our stdout is a terminal.
/// Attached to a TTY, our stdin must be a terminal too (keys are relayed as typed).
fn wants_tty(args: &RunArgs, stdin_terminal: bool, stdout_terminal: bool) -> anyhow::Result<bool> {
    let tty = args.tty || (!args.no_tty && stdout_terminal);
    if tty && !args.detach && !stdin_terminal {
        bail!("the input device is not a TTY (run with -T to run without a terminal)");
    }
    Ok(tty)
}

/// `KEY=VAL` labels.
fn parse_labels(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("label must be set as KEY=VALUE"))
        })
        .collect()
}

/// `-e KEY=VAL`, `-e KEY` (from the project's environment, dropped when it has none), then the
/// `--env-from-file` files for the keys not set yet.
fn environment(args: &RunArgs, ctx: &ProjectContext) -> anyhow::Result<Vec<(String, String)>> {
    let mut env: indexmap::IndexMap<String, String> = indexmap::IndexMap::new();
    for kv in &args.env {
        match kv.split_once('=') {
            Some((k, v)) => {
                env.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Some(v) = ctx.environment.get(kv.as_str()) {
                    env.insert(kv.clone(), v.clone());
                }
            }
        }
    }
    for file in &args.env_from_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("read env file {}", file.display()))?;
        let lookup = |k: &str| env.get(k).cloned();
        let vars = crate::compose::dotenv::parse(&text, &lookup)
            .map_err(|e| anyhow!("failed to read {}: {e}", file.display()))?;
        for (k, v) in vars {
            env.entry(k).or_insert(v);
        }
    }
    Ok(env.into_iter().collect())
}

/// What `--pull`, `--build` and `--cap-add/--cap-drop` change in the loaded project, as docker
/// compose applies them before it runs.
fn apply_to_project(args: &RunArgs, ctx: &mut ProjectContext) -> anyhow::Result<()> {
    const POLICIES: [&str; 5] = ["always", "never", "build", "missing", "if_not_present"];
    if args.pull != "policy" {
        if !POLICIES.contains(&args.pull.as_str()) {
            bail!("invalid --pull option {:?}", args.pull);
        }
        for s in ctx.project.services.values_mut() {
            s.pull_policy = args.pull.clone();
        }
    }
    if let Some(s) = ctx.project.services.get_mut(&args.service) {
        s.cap_drop.retain(|c| !args.cap_add.contains(c));
        s.cap_add.extend(args.cap_add.iter().cloned());
        s.cap_add.retain(|c| !args.cap_drop.contains(c));
        s.cap_drop.extend(args.cap_drop.iter().cloned());
    }
    Ok(())
}

/// `--remove-orphans`: the project's service containers whose service the file no longer has.
fn remove_orphans(engine: &Engine, ctx: &ProjectContext) -> anyhow::Result<()> {
    let orphans: Vec<String> = engine
        .project_containers(&ctx.name, false)?
        .into_iter()
        .filter(|c| !ctx.declares(c.service()))
        .map(|c| c.name().to_string())
        .collect();
    engine.each(&orphans, |name| {
        let _ = engine.stop_container(name, None);
        engine.remove_container(name, false)
    })?;
    Ok(())
}

fn run_options(args: &RunArgs, ctx: &ProjectContext, tty: bool) -> anyhow::Result<RunOptions> {
    let entrypoint = args
        .entrypoint
        .as_deref()
        .map(shell_split)
        .transpose()
        .map_err(|e| anyhow!("--entrypoint: {e}"))?;
    // docker compose drops the service's command when the entrypoint is overridden.
    let command = match (&entrypoint, args.command.is_empty()) {
        (_, false) => Some(args.command.clone()),
        (Some(_), true) => Some(Vec::new()),
        (None, true) => None,
    };
    Ok(RunOptions {
        service: args.service.clone(),
        command,
        entrypoint,
        env: environment(args, ctx)?,
        labels: parse_labels(&args.label)?,
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        name: args.name.clone(),
        publish: args.publish.clone(),
        service_ports: args.service_ports,
        volumes: args.volume.clone(),
        no_deps: true,
        use_aliases: args.use_aliases,
        build: super::build::up_build(args.build, false, args.quiet_build || args.quiet),
        tty,
        // docker compose's `-i` defaults to true: there is no way to turn it off.
        interactive: true,
        start: match args.detach {
            true => Start::Detached,
            false => Start::Attached {
                window: tty.then(tty::terminal_size).flatten().map(|ws| WindowSize {
                    rows: ws.ws_row,
                    cols: ws.ws_col,
                }),
            },
        },
    })
}

pub fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<i32> {
    if let Some(name) = std::env::var_os(AUTOREMOVE_ENV) {
        return autoremove(global, &name.to_string_lossy());
    }
    check_flags(args)?;
    let tty = wants_tty(
        args,
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
    )?;
    // Before any thread exists, so that every thread inherits the blocked mask.
    tty::block_window_changes();
    let (tx, signals) = mpsc::channel();
    super::signals::route(tx, |n| n);
    let inner = match args.quiet {
        true => Arc::new(Quiet) as Arc<dyn ProgressSink>,
        false => session::progress(global, "Running")?,
    };
    let sink = Arc::new(RunProgress {
        inner,
        oneoff: OnceLock::new(),
        quiet_pull: args.quiet_pull,
    });
    let session::Session { mut ctx, engine } =
        session::open(global, std::slice::from_ref(&args.service), sink.clone())?;
    let _ = sink.oneoff.set(match &args.name {
        Some(n) => OneOffName::Exact(n.clone()),
        None => OneOffName::Prefix(format!("{}-{}-run-", ctx.name, args.service)),
    });
    let target = Arc::new(Mutex::new(None));
    forward_signals(signals, engine.clone(), target.clone());
    apply_to_project(args, &mut ctx)?;
    let opts = run_options(args, &ctx, tty)?;
    let started = (|| -> anyhow::Result<Started> {
        if args.remove_orphans {
            remove_orphans(&engine, &ctx)?;
        }
        if !args.no_deps {
            engine.start_run_dependencies(&ctx, &args.service)?;
        }
        Ok(engine.run_oneoff(&ctx, &opts)?)
    })();
    engine.progress().finish();
    let started = started?;
    if let Ok(mut t) = target.lock() {
        *t = Some(started.name.clone());
    }
    if args.detach {
        return detached(&engine, &started.name, args);
    }
    attached(&engine, started, args, tty)
}

/// Relay the container's terminal, or pass our stdin on and copy its output, until it has
/// exited; its exit code; `--rm` removes it.
fn attached(engine: &Engine, started: Started, args: &RunArgs, tty: bool) -> anyhow::Result<i32> {
    let name = started.name;
    match (started.stream, tty) {
        (Some(stream), true) => relay_terminal(engine, &name, stream)?,
        (stream, false) => {
            if let Some(stream) = stream {
                feed_stdin(stream);
            }
            copy_output(engine, &name, args)?;
        }
        (None, true) => bail!("run {name}: the container was started without its terminal"),
    }
    let code = engine.containers.wait(&name)?;
    if args.rm {
        remove_oneoff(engine, &name)?;
    }
    Ok(code)
}

/// Our terminal relayed to the container's until the container has exited for good.
fn relay_terminal(engine: &Engine, name: &str, stream: UnixStream) -> anyhow::Result<()> {
    let containers = engine.containers.clone();
    let target = name.to_string();
    let relay = tty::attach(stream, move |ws| {
        let size = WindowSize {
            rows: ws.ws_row,
            cols: ws.ws_col,
        };
        // The container may be gone already: its terminal went with it.
        let _ = containers.resize(&target, size);
    })?;
    relay.wait_output();
    Ok(())
}

/// Passes our stdin to the container's until it ends (then the container's stdin ends too).
fn feed_stdin(stream: UnixStream) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let _ = std::io::copy(&mut stdin, &mut &stream);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    });
}

/// Ctrl-C: while the container is prepared it cancels the engine's work; once `target` names
/// the container it goes to the container (SIGINT, then SIGKILL from the second one on).
fn forward_signals(
    signals: mpsc::Receiver<u32>,
    engine: Engine,
    target: Arc<Mutex<Option<String>>>,
) {
    std::thread::spawn(move || {
        for n in signals {
            match target.lock().ok().and_then(|t| t.clone()) {
                Some(name) => {
                    let signal = if n == 1 { "SIGINT" } else { "SIGKILL" };
                    let _ = engine.containers.kill(&name, signal);
                }
                None => engine.cancel(),
            }
        }
    });
}

/// `-d`: print the container's ID; with `--rm`, leave a background copy to remove it.
fn detached(engine: &Engine, name: &str, args: &RunArgs) -> anyhow::Result<i32> {
    let id = engine.containers.inspect(name)?.state.id;
    if !args.quiet {
        println!("{id}");
    }
    if args.rm {
        spawn_autoremove(name)?;
    }
    Ok(0)
}

/// Copy the container's output (from its log) to ours until it has exited.
fn copy_output(engine: &Engine, name: &str, args: &RunArgs) -> anyhow::Result<()> {
    let logs = engine.containers.logs(
        name,
        &LogOptions {
            follow: true,
            tail: None,
            since: None,
        },
    )?;
    for entry in logs {
        let bytes = entry.log.as_bytes();
        let _ = match entry.stream {
            LogStream::Stdout if args.quiet => Ok(()),
            LogStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            LogStream::Stderr => std::io::stderr().lock().write_all(bytes),
        };
    }
    Ok(())
}

/// `--rm`: remove the exited container and its anonymous volumes, under the project's lock
/// (a `down` may be removing it at the same time: then there is nothing left to do).
fn remove_oneoff(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let Ok(info) = engine.containers.inspect(name) else {
        return Ok(());
    };
    let project = info
        .spec
        .labels
        .get(labels::PROJECT)
        .cloned()
        .unwrap_or_default();
    let _lock = engine.lock(&project)?;
    if engine.containers.inspect(name).is_ok() {
        engine.remove_container(name, true)?;
    }
    Ok(())
}

/// Run this same command line again, detached from us, to remove `name` once it exits.
fn spawn_autoremove(name: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locate the rcompose executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(AUTOREMOVE_ENV, name)
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
    cmd.spawn().context("start the --rm watcher")?;
    Ok(())
}

/// The background copy: wait for the container, then remove it with its anonymous volumes.
fn autoremove(global: &GlobalArgs, name: &str) -> anyhow::Result<i32> {
    let engine = session::engine(global, Arc::new(Quiet))?;
    // A container removed meanwhile (by `down`) cannot be waited for: nothing to do then.
    let _ = engine.containers.wait(name);
    remove_oneoff(&engine, name)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap()
            .run
    }

    #[test]
    fn flags_after_the_service_belong_to_the_command() {
        let a = parse(&["--rm", "-e", "A=1", "web", "sh", "-c", "echo -e hi", "--rm"]);
        assert!(a.rm);
        assert_eq!(a.service, "web");
        assert_eq!(a.command, ["sh", "-c", "echo -e hi", "--rm"]);
        assert_eq!(a.env, ["A=1"]);
    }

    #[test]
    fn docker_conflicts() {
        let err = |args: &[&str]| check_flags(&parse(args)).unwrap_err().to_string();
        assert_eq!(
            err(&["-p", "80:80", "-P", "web"]),
            "--service-ports and --publish are incompatible"
        );
        assert_eq!(
            err(&["-t", "-T", "web"]),
            "--tty and --no-TTY can't be used together"
        );
        assert!(check_flags(&parse(&["-T", "-i", "web", "true"])).is_ok());
        assert_eq!(
            parse_labels(&["a".into()]).unwrap_err().to_string(),
            "label must be set as KEY=VALUE"
        );
    }

    #[test]
    fn a_terminal_is_allocated_like_docker_compose_does() {
        let tty = |args: &[&str], stdin: bool, stdout: bool| {
            wants_tty(&parse(args), stdin, stdout).map_err(|e| e.to_string())
        };
        assert_eq!(tty(&["web"], true, true), Ok(true));
        assert_eq!(tty(&["web"], false, false), Ok(false));
        assert_eq!(tty(&["-T", "web"], true, true), Ok(false));
        assert_eq!(tty(&["-t", "-d", "web"], false, false), Ok(true));
        assert_eq!(tty(&["-d", "web"], false, true), Ok(true));
        // Keys cannot be relayed from a pipe as typed: docker's error, with the way out.
        assert!(
            tty(&["web"], false, true)
                .unwrap_err()
                .contains("not a TTY")
        );
        assert!(
            tty(&["-t", "web"], false, false)
                .unwrap_err()
                .contains("-T")
        );
    }

    #[test]
    fn the_oneoff_container_events_are_hidden() {
        let rec = Arc::new(crate::engine::progress::Recorder::default());
        let sink = RunProgress {
            inner: rec.clone(),
            oneoff: OneOffName::Prefix("p-web-run-".into()).into(),
            quiet_pull: true,
        };
        use crate::engine::progress::Status;
        sink.event(Event::new(
            ResourceKind::Container,
            "p-db-1",
            Status::Started,
        ));
        sink.event(Event::new(
            ResourceKind::Container,
            "p-web-run-0a1b",
            Status::Started,
        ));
        sink.event(Event::new(ResourceKind::Image, "web", Status::Pulling));
        let names: Vec<String> = rec.events().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["p-db-1"]);
    }
}
