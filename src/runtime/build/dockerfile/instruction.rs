//! Syntax nodes to typed instructions, with the argument checks of BuildKit's
//! `instructions/parse.go`: argument counts, flags, stage names, healthcheck options, ONBUILD
//! triggers. Error messages are BuildKit's.

use std::time::Duration;

use super::ast::{
    Add, ArgDecl, CommandForm, Copy, FromImage, HealthCmd, Healthcheck, Heredoc, Instruction, Run,
};
use super::duration::parse_go_duration;
use super::flags::{Flags, Kind};
use super::heredoc::{RawHeredoc, parse_heredoc, strip_leading_tabs};
use super::node::{Args, Node};
use super::suggest::with_hint;

/// What one node means.
#[derive(Debug)]
pub(super) enum Parsed {
    /// `FROM`: a new stage.
    From {
        from: FromImage,
        name: Option<String>,
    },
    Instruction(Instruction),
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

type Result<T> = std::result::Result<T, String>;

/// Interprets one node; `Err` is BuildKit's message for it.
pub(super) fn interpret(node: &Node) -> Result<Parsed> {
    let keyword = node.keyword.to_ascii_lowercase();
    let instruction = match keyword.as_str() {
        "from" => return parse_from(node),
        "env" => Instruction::Env(pairs(node, "ENV")?),
        "label" => Instruction::Label(pairs(node, "LABEL")?),
        "maintainer" => Instruction::Maintainer(exactly_one(node, "MAINTAINER", true)?),
        "workdir" => Instruction::Workdir(exactly_one(node, "WORKDIR", true)?),
        "user" => Instruction::User(exactly_one(node, "USER", true)?),
        // BuildKit never checks STOPSIGNAL's flags.
        "stopsignal" => Instruction::StopSignal(exactly_one(node, "STOPSIGNAL", false)?),
        "add" => Instruction::Add(parse_add(node)?),
        "copy" => Instruction::Copy(parse_copy(node)?),
        "run" => Instruction::Run(parse_run(node)?),
        "cmd" => {
            no_flags(node)?;
            Instruction::Cmd(command_form(node.args.words(), node.json))
        }
        "entrypoint" => {
            no_flags(node)?;
            Instruction::Entrypoint(command_form(node.args.words(), node.json))
        }
        "shell" => Instruction::Shell(parse_shell(node)?),
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            let mut ports = at_least_one(node, "EXPOSE")?;
            no_flags(node)?;
            ports.sort();
            Instruction::Expose(ports)
        }
        "volume" => Instruction::Volume(parse_volume(node)?),
        "arg" => Instruction::Arg(parse_arg(node)?),
        "onbuild" => Instruction::OnBuild(parse_onbuild(node)?),
        _ => {
            let message = format!("unknown instruction: {}", node.keyword);
            return Err(with_hint(
                message,
                &node.keyword,
                KEYWORDS.iter().copied(),
                false,
            ));
        }
    };
    Ok(Parsed::Instruction(instruction))
}

fn no_flags(node: &Node) -> Result<()> {
    Flags::parse(&node.flags, &[]).map(drop)
}

fn at_least_one(node: &Node, name: &str) -> Result<Vec<String>> {
    match node.args.words() {
        [] => Err(format!("{name} requires at least one argument")),
        words => Ok(words.to_vec()),
    }
}

fn exactly_one(node: &Node, name: &str, check_flags: bool) -> Result<String> {
    let [word] = node.args.words() else {
        return Err(format!("{name} requires exactly one argument"));
    };
    if check_flags {
        no_flags(node)?;
    }
    Ok(word.clone())
}

fn pairs(node: &Node, name: &str) -> Result<Vec<(String, String)>> {
    no_flags(node)?;
    let Args::Pairs { pairs, .. } = &node.args else {
        return Err(format!("{name} requires at least one argument"));
    };
    if pairs.is_empty() {
        return Err(format!("{name} requires at least one argument"));
    }
    if pairs.iter().any(|(key, _)| key.is_empty()) {
        return Err(format!("{name} names can not be blank"));
    }
    Ok(pairs.clone())
}

/// Exec form for a JSON array; otherwise the shell string (the line parser gives one word).
fn command_form(words: &[String], json: bool) -> CommandForm {
    if json {
        CommandForm::Exec(words.to_vec())
    } else {
        CommandForm::Shell(words.join(" "))
    }
}

fn parse_from(node: &Node) -> Result<Parsed> {
    let args = node.args.words();
    let name = match args {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = Flags::parse(&node.flags, &[("platform", Kind::String)])?;
    Ok(Parsed::From {
        from: FromImage {
            image: args[0].clone(),
            platform: flags.string("platform").filter(|p| !p.is_empty()),
        },
        name,
    })
}

/// BuildKit's `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Sources, destination and inline heredoc files of COPY/ADD.
struct Paths {
    sources: Vec<String>,
    dest: String,
    heredocs: Vec<Heredoc>,
}

fn require_dest(node: &Node, name: &str) -> Result<()> {
    if node.args.words().len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    Ok(())
}

fn paths(node: &Node, name: &str) -> Result<Paths> {
    require_dest(node, name)?;
    let Some((dest, sources)) = node.args.words().split_last() else {
        return Err(format!("{name} requires a destination"));
    };
    if marker(dest).is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut out = Paths {
        sources: Vec::new(),
        dest: dest.clone(),
        heredocs: Vec::new(),
    };
    for source in sources {
        match marker(source) {
            Some(doc) => out.heredocs.push(inline_file(&doc, &node.heredocs)),
            None => out.sources.push(source.clone()),
        }
    }
    Ok(out)
}

fn marker(word: &str) -> Option<RawHeredoc> {
    parse_heredoc(word).ok().flatten()
}

/// A `COPY <<name` source: the body read for that name (empty if none was), tabs stripped
/// for `<<-`.
fn inline_file(marker: &RawHeredoc, bodies: &[RawHeredoc]) -> Heredoc {
    let body = bodies
        .iter()
        .find(|b| b.name == marker.name)
        .map_or("", |b| b.content.as_str());
    finish_heredoc(marker, body)
}

fn finish_heredoc(marker: &RawHeredoc, body: &str) -> Heredoc {
    Heredoc {
        name: marker.name.clone(),
        content: if marker.chomp {
            strip_leading_tabs(body)
        } else {
            body.to_string()
        },
        expand: marker.expand,
        strip_tabs: marker.chomp,
        fd: marker.fd,
    }
}

fn parse_copy(node: &Node) -> Result<Copy> {
    require_dest(node, "COPY")?;
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::String),
            ("from", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("exclude", Kind::Strings),
            ("parents", Kind::Bool),
        ],
    )?;
    let paths = paths(node, "COPY")?;
    Ok(Copy {
        sources: paths.sources,
        dest: paths.dest,
        from: non_empty(flags.string("from")),
        chown: non_empty(flags.string("chown")),
        chmod: non_empty(flags.string("chmod")),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        excludes: flags.strings("exclude"),
        heredocs: paths.heredocs,
    })
}

fn parse_add(node: &Node) -> Result<Add> {
    require_dest(node, "ADD")?;
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("unpack", Kind::Bool),
            ("exclude", Kind::Strings),
        ],
    )?;
    let paths = paths(node, "ADD")?;
    Ok(Add {
        sources: paths.sources,
        dest: paths.dest,
        chown: non_empty(flags.string("chown")),
        chmod: non_empty(flags.string("chmod")),
        link: flags.bool("link").unwrap_or(false),
        excludes: flags.strings("exclude"),
        heredocs: paths.heredocs,
        checksum: non_empty(flags.string("checksum")),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
    })
}

/// BuildKit treats an empty string flag like an absent one.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn parse_run(node: &Node) -> Result<Run> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
        ],
    )?;
    let network = flags.string("network");
    if let Some(mode) = network
        .as_deref()
        .filter(|m| !matches!(*m, "default" | "none" | "host"))
    {
        return Err(format!("invalid network mode {mode:?}"));
    }
    let security = flags.string("security");
    if let Some(mode) = security
        .as_deref()
        .filter(|m| !matches!(*m, "sandbox" | "insecure"))
    {
        return Err(format!("security {mode:?} is not valid"));
    }
    let heredocs = node
        .heredocs
        .iter()
        .map(|doc| finish_heredoc(doc, &doc.content))
        .collect();
    Ok(Run {
        command: command_form(node.args.words(), node.json),
        heredocs,
        mounts: flags.strings("mount"),
        network,
        security,
    })
}

fn parse_shell(node: &Node) -> Result<Vec<String>> {
    no_flags(node)?;
    let words = node.args.words();
    if words.is_empty() {
        return Err("SHELL requires at least one argument".into());
    }
    if !node.json {
        return Err("SHELL requires the arguments to be in JSON form".into());
    }
    Ok(words.to_vec())
}

fn parse_volume(node: &Node) -> Result<Vec<String>> {
    let words = at_least_one(node, "VOLUME")?;
    no_flags(node)?;
    words
        .iter()
        .map(|v| match v.trim() {
            "" => Err("VOLUME specified can not be an empty string".to_string()),
            v => Ok(v.to_string()),
        })
        .collect()
}

fn parse_arg(node: &Node) -> Result<Vec<ArgDecl>> {
    at_least_one(node, "ARG")?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: word,
                default: None,
            }),
        })
        .collect()
}

/// The trigger's text as BuildKit stores it: the line without `ONBUILD`, then each heredoc
/// body and terminator.
fn parse_onbuild(node: &Node) -> Result<String> {
    let Some(trigger) = &node.trigger else {
        return Err("ONBUILD requires at least one argument".into());
    };
    no_flags(node)?;
    let keyword = trigger.keyword.to_uppercase();
    match keyword.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{keyword} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let text = node.original.trim_start_matches(is_space);
    let mut expression = text
        .get(7..)
        .unwrap_or("")
        .trim_start_matches(is_space)
        .to_string();
    for doc in &node.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    Ok(expression)
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck> {
    let Some((kind, command)) = node.args.words().split_first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    let kind = kind.to_uppercase();
    if kind == "NONE" {
        if !command.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    if command.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let duration = |name: &str| health_duration(name, flags.string(name));
    Ok(Healthcheck::Cmd(HealthCmd {
        test: command_form(command, node.json),
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start-period")?,
        start_interval: duration("start-interval")?,
        retries: retries(flags.string("retries"))?,
    }))
}

/// A healthcheck duration: None when absent or zero (the image config's "inherit").
fn health_duration(name: &str, value: Option<String>) -> Result<Option<Duration>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&value)?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < 1_000_000 {
        return Err(format!("Interval {name:?} cannot be less than 1ms"));
    }
    Ok(Some(Duration::from_nanos(nanos.unsigned_abs())))
}

fn retries(value: Option<String>) -> Result<Option<u32>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let n: i32 = value
        .parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {value:?}: invalid syntax"))?;
    u32::try_from(n)
        .map(Some)
        .map_err(|_| format!("--retries cannot be negative ({n})"))
}
