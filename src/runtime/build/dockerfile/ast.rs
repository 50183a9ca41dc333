//! The typed Dockerfile: what [`parse`](super::parse) produces and the executor consumes.
//!
//! Values are kept as written (unexpanded): variable expansion depends on the ARG/ENV scope at
//! each instruction, which only the executor knows. [`super::expand`] says which fields expand.

use std::time::Duration;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// `ARG`s declared before the first `FROM`; only `FROM` lines see them (unless a stage
    /// re-declares them).
    pub global_args: Vec<ArgDecl>,
    /// Build stages in file order; never empty.
    pub stages: Vec<Stage>,
}

/// Parser directives (`# syntax=...`, `# escape=...`, `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` frontend image, if given (rcompose always uses its own parser).
    pub syntax: Option<String>,
    /// The escape / line-continuation character: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=` linter configuration, kept verbatim.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// One build stage: a `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages, from 0 (`COPY --from=0` refers to it).
    pub index: usize,
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    pub from: FromImage,
    /// 1-based line of the `FROM` instruction.
    pub line: usize,
    /// The `FROM` instruction text, continuation-joined (for progress lines).
    pub source: String,
    pub instructions: Vec<Located<Instruction>>,
}

/// The base of a stage. Named `FromImage` rather than `From` so that glob imports do not shadow
/// the prelude's `From` trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromImage {
    /// Image reference, stage name or `scratch`, unexpanded (global ARGs apply).
    pub image: String,
    /// `--platform=`, unexpanded.
    pub platform: Option<String>,
}

/// A node with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based line where it ends (continuations and heredoc bodies included).
    pub end_line: usize,
    /// The instruction as written, continuation lines joined (heredoc bodies excluded), trimmed;
    /// e.g. `RUN apk add x` for progress output.
    pub source: String,
    pub node: T,
}

/// A Dockerfile instruction other than `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    /// `ENV a=b c=d` or legacy `ENV a b`; values keep their quotes until expansion.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    /// Keys and values keep their quotes until expansion.
    Label(Vec<(String, String)>),
    /// Sorted as BuildKit sorts them.
    Expose(Vec<String>),
    User(String),
    Volume(Vec<String>),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Healthcheck(Healthcheck),
    StopSignal(String),
    /// Always exec (JSON) form: `SHELL` requires it.
    Shell(Vec<String>),
    /// The raw trigger instruction text (`RUN echo hi`), heredoc bodies appended as BuildKit
    /// stores them in the image config.
    OnBuild(String),
    Maintainer(String),
}

/// How a command was written: `["exec", "form"]` or a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// JSON array form: run as-is, no shell, no variable expansion.
    Exec(Vec<String>),
    /// Shell form: run with the stage's `SHELL` (default `/bin/sh -c`).
    Shell(String),
}

/// A heredoc body attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes (`EOF`); for `COPY <<EOF /dest` the file name.
    pub name: String,
    /// The body, each line ending in `\n`; leading tabs already removed when `strip_tabs`.
    pub content: String,
    /// Whether `$var` in the body is expanded: false when any part of the delimiter is quoted.
    pub expand: bool,
    /// `<<-EOF`: leading tabs are stripped from body lines and from the terminator.
    pub strip_tabs: bool,
    /// The file descriptor prefix of `3<<EOF` (0 when absent, which means stdin for RUN).
    pub fd: u32,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandForm,
    /// Heredocs in the order their `<<` markers appear.
    pub heredocs: Vec<Heredoc>,
    /// Raw `--mount=` values (`type=cache,target=/root/.cache`), unexpanded.
    pub mounts: Vec<String>,
    /// `--network=` (`default`, `none`, `host`).
    pub network: Option<String>,
    /// `--security=` (`sandbox`, `insecure`).
    pub security: Option<String>,
}

/// What a `RUN` executes once BuildKit's heredoc rules are applied (its `dispatchRun`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunScript<'a> {
    /// Exec form: this argv, no shell.
    Exec(&'a [String]),
    /// Run with the stage's shell: `SHELL` (default `/bin/sh -c`) plus this one argument.
    Shell(String),
    /// `RUN <<EOF` whose body starts with `#!`: write `content` to a file called `name`
    /// (mode 0755, e.g. under `/dev/pipes/`) and execute it directly.
    File { name: &'a str, content: &'a str },
}

impl Run {
    /// The command to run: `RUN <<EOF` alone runs the body as the script (or as a file when it
    /// has a shebang); other heredocs are appended to the command line, each body followed by
    /// its terminator, for the shell to read.
    pub fn script(&self) -> RunScript<'_> {
        let command = match &self.command {
            CommandForm::Exec(argv) => return RunScript::Exec(argv),
            CommandForm::Shell(command) => command,
        };
        let Some(first) = self.heredocs.first() else {
            return RunScript::Shell(command.clone());
        };
        if super::heredoc::parse_heredoc(command)
            .ok()
            .flatten()
            .is_some()
        {
            if first.content.starts_with("#!") {
                return RunScript::File {
                    name: &first.name,
                    content: &first.content,
                };
            }
            return RunScript::Shell(first.content.clone());
        }
        let mut script = command.clone();
        for doc in &self.heredocs {
            script.push('\n');
            script.push_str(&doc.content);
            script.push_str(&doc.name);
        }
        RunScript::Shell(script)
    }
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths (heredoc sources are in `heredocs`, not here).
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=` stage name, stage index or image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    /// `--exclude=` patterns, repeatable.
    pub excludes: Vec<String>,
    /// `COPY <<EOF /dest` inline files, each written as `dest/<name>`.
    pub heredocs: Vec<Heredoc>,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub sources: Vec<String>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub excludes: Vec<String>,
    pub heredocs: Vec<Heredoc>,
    /// `--checksum=` for remote sources.
    pub checksum: Option<String>,
    /// `--keep-git-dir` for git sources.
    pub keep_git_dir: bool,
    /// `--unpack=` (None: the default, unpack local archives only).
    pub unpack: Option<bool>,
}

/// One `ARG name[=default]`; the default is unexpanded and keeps its quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited healthcheck.
    None,
    Cmd(HealthCmd),
}

/// `HEALTHCHECK [--flags] CMD ...`. Durations are `None` when not given (zero means "inherit
/// the default", as in the image config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCmd {
    /// Exec form becomes `["CMD", ...]`, shell form `["CMD-SHELL", "..."]` in the image config.
    pub test: CommandForm,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

impl Instruction {
    /// The instruction keyword in upper case (`RUN`, `COPY`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Shell(_) => "SHELL",
            Instruction::OnBuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}
