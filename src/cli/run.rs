//! `rcompose run SERVICE [COMMAND...]`: a one-off container of a service. Its dependencies come
//! up first (unless `--no-deps`), then the container is created and started; attached, its
//! stdout and stderr are copied to ours until it exits and its exit code becomes ours (`--rm`
//! removes it then); detached (`-d`), its ID is printed.
//!
//! The bundled runtime cannot attach a terminal or a stdin to a container: `-t` and `-i` fail
//! with a message saying so, and a run from a terminal (where docker compose would allocate a
//! TTY) warns that the command runs without one. `--rm` with `-d` leaves a background copy of
//! this command waiting to remove the container (there is no daemon to do it).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::output::warn::{WarnStyle, warning_line};
use super::{GlobalArgs, session};
use crate::compose::model::shell_split;
use crate::engine::labels;
use crate::engine::progress::{Event, ProgressSink, Quiet, ResourceKind};
use crate::engine::run::RunOptions;
use crate::engine::{Engine, ProjectContext};
use crate::runtime::container::{LogOptions, LogStream, Runtime};

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
    /// Disable pseudo-TTY allocation (the bundled runtime never allocates one)
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
    /// Keep STDIN open (not supported by the bundled runtime: stdin is never attached)
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (not supported by the bundled runtime)
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

/// The flags that ask for what the runtime cannot do, and docker's own conflicts.
fn check_flags(args: &RunArgs) -> anyhow::Result<()> {
    if !args.publish.is_empty() && args.service_ports {
        bail!("--service-ports and --publish are incompatible");
    }
    if args.tty && args.no_tty {
        bail!("--tty and --no-TTY can't be used together");
    }
    if args.tty {
        bail!(
            "run --tty: the bundled runtime cannot allocate a pseudo-TTY for a container; run without -t (output is still shown)"
        );
    }
    if args.interactive && !args.detach {
        bail!(
            "run --interactive: the bundled runtime cannot attach stdin to a container; run without -i (the command gets an empty stdin)"
        );
    }
    Ok(())
}

/// Warn when docker compose would have attached this terminal (or piped input) and we cannot.
fn warn_unattached(args: &RunArgs) {
    if args.detach || args.no_tty || args.quiet {
        return;
    }
    let stdin = std::io::stdin();
    let piped = std::fs::metadata("/proc/self/fd/0")
        .map(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo() || m.file_type().is_file()
        })
        .unwrap_or(false);
    let msg = if stdin.is_terminal() {
        "the bundled runtime cannot attach a terminal: the command runs without a TTY and with an empty stdin (use -T to silence this warning)"
    } else if piped {
        "the bundled runtime cannot attach stdin: the input piped to this command is not passed to the container (use -T to silence this warning)"
    } else {
        return;
    };
    let style = match std::io::stderr().is_terminal() {
        true => WarnStyle::Terminal {
            since_start: std::time::Duration::ZERO,
        },
        false => WarnStyle::Text {
            now: std::time::SystemTime::now(),
            zone: super::output::Zone::Local,
        },
    };
    eprint!("{}", warning_line(msg, &style));
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

fn run_options(args: &RunArgs, ctx: &ProjectContext) -> anyhow::Result<RunOptions> {
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
    })
}

pub fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<i32> {
    if let Some(name) = std::env::var_os(AUTOREMOVE_ENV) {
        return autoremove(global, &name.to_string_lossy());
    }
    check_flags(args)?;
    // Before any thread exists, so that every thread inherits the blocked mask.
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
    let opts = run_options(args, &ctx)?;
    warn_unattached(args);
    let started = (|| -> anyhow::Result<String> {
        if args.remove_orphans {
            remove_orphans(&engine, &ctx)?;
        }
        if !args.no_deps {
            engine.start_run_dependencies(&ctx, &args.service)?;
        }
        Ok(engine.run_oneoff(&ctx, &opts)?)
    })();
    engine.progress().finish();
    let name = started?;
    if let Ok(mut t) = target.lock() {
        *t = Some(name.clone());
    }
    if args.detach {
        return detached(&engine, &name, args);
    }
    attached(&engine, &name, args)
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

/// Copy the container's output to ours until it exits, then return
/// its exit code; `--rm` removes it.
fn attached(engine: &Engine, name: &str, args: &RunArgs) -> anyhow::Result<i32> {
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
    let code = engine.containers.wait(name)?;
    if args.rm {
        remove_oneoff(engine, name)?;
    }
    Ok(code)
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
    fn docker_conflicts_and_unsupported_terminals() {
        let err = |args: &[&str]| check_flags(&parse(args)).unwrap_err().to_string();
        assert_eq!(
            err(&["-p", "80:80", "-P", "web"]),
            "--service-ports and --publish are incompatible"
        );
        assert!(err(&["-t", "web"]).contains("pseudo-TTY"));
        assert!(err(&["-i", "web"]).contains("cannot attach stdin"));
        assert!(check_flags(&parse(&["-T", "web", "true"])).is_ok());
        assert_eq!(
            parse_labels(&["a".into()]).unwrap_err().to_string(),
            "label must be set as KEY=VALUE"
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
