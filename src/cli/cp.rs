//! `rcompose cp`: copy files and directories between a service container (running or stopped)
//! and the local filesystem, `-` being a tar stream on stdin or stdout, like `docker compose cp`.
//! Copying into a service copies into each of its containers (or the `--index` one); copying
//! out of it reads its first container.

use std::io::Read;
use std::path::Path;

use anyhow::bail;
use clap::Args;

use super::session;
use super::{GlobalArgs, Progress};
use crate::engine::observe::ProjectContainer;
use crate::engine::progress::Quiet;
use crate::runtime::container::copy::{CopyError, CopyOptions};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Include containers created by the run command
    #[arg(long)]
    pub all: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// SERVICE:SRC_PATH, or a local SRC_PATH (`-`: a tar stream on stdin)
    #[arg(value_name = "SRC")]
    pub source: String,
    /// SERVICE:DEST_PATH, or a local DEST_PATH (`-`: a tar stream on stdout)
    #[arg(value_name = "DEST")]
    pub destination: String,
}

/// docker's split of a `cp` argument: a path that is absolute, relative with a leading `.`, or
/// without `:` is local; otherwise `SERVICE:PATH`.
pub fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((svc, path)) if !svc.starts_with('.') => (Some(svc), path),
        _ => (None, arg),
    }
}

/// Which way the copy goes.
enum Direction<'a> {
    Into {
        service: &'a str,
        src: &'a str,
        dest: &'a str,
    },
    Out {
        service: &'a str,
        src: &'a str,
        dest: &'a str,
    },
}

fn direction(args: &CpArgs) -> anyhow::Result<Direction<'_>> {
    match (split_arg(&args.source), split_arg(&args.destination)) {
        ((Some(_), _), (Some(_), _)) => bail!("copying between services is not supported"),
        ((None, _), (None, _)) => bail!("unknown copy direction"),
        ((Some(service), src), (None, dest)) => Ok(Direction::Out { service, src, dest }),
        ((None, src), (Some(service), dest)) => Ok(Direction::Into { service, src, dest }),
    }
}

/// The containers a copy targets: `--index`, else all of the service's (into) or its first (out).
fn targets(
    s: &session::Session,
    args: &CpArgs,
    service: &str,
    out: bool,
) -> anyhow::Result<Vec<ProjectContainer>> {
    let all: Vec<ProjectContainer> = s
        .engine
        .project_containers(&s.ctx.name, args.all)?
        .into_iter()
        .filter(|c| c.service() == service)
        .collect();
    if args.index > 0 {
        return match all
            .into_iter()
            .find(|c| c.labels.number == Some(args.index))
        {
            Some(c) => Ok(vec![c]),
            None => bail!(
                "service {service:?} is not running container #{}",
                args.index
            ),
        };
    }
    if all.is_empty() {
        bail!("no container found for service {service:?}");
    }
    Ok(if out {
        all.into_iter().take(1).collect()
    } else {
        all
    })
}

pub fn cp(global: &GlobalArgs, args: &CpArgs) -> anyhow::Result<i32> {
    let dir = direction(args)?;
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let rt = &s.engine.containers;
    let quiet = matches!(global.progress, Some(Progress::Quiet));
    let report = |name: &str, what: &str, status: &str| {
        if !quiet {
            eprintln!(" {name} copy {what} {status}");
        }
    };
    match dir {
        Direction::Out { service, src, dest } => {
            for c in targets(&s, args, service, true)? {
                let what = format!("{}:{src} to {dest}", c.name());
                report(c.name(), &what, "Copying");
                if dest == "-" {
                    rt.copy_tar_out(c.name(), src, std::io::stdout(), opts)?;
                } else {
                    rt.copy_out(c.name(), src, Path::new(dest), opts)?;
                }
                report(c.name(), &what, "Copied");
            }
        }
        Direction::Into { service, src, dest } => {
            let containers = targets(&s, args, service, false)?;
            // Standard input can be read once: keep it when there are several containers.
            let stdin_tar = if src == "-" && containers.len() > 1 {
                let mut v = Vec::new();
                std::io::stdin().read_to_end(&mut v)?;
                Some(v)
            } else {
                None
            };
            for c in containers {
                let what = format!("{src} to {}:{dest}", c.name());
                report(c.name(), &what, "Copying");
                let r: Result<(), CopyError> = match (&stdin_tar, src) {
                    (Some(tar), _) => rt.copy_tar_into(c.name(), &tar[..], dest, opts),
                    (None, "-") => rt.copy_tar_into(c.name(), std::io::stdin(), dest, opts),
                    (None, _) => rt.copy_into(c.name(), Path::new(src), dest, opts),
                };
                r?;
                report(c.name(), &what, "Copied");
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::split_arg;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(split_arg("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split_arg("/abs:name"), (None, "/abs:name"));
        assert_eq!(split_arg("./file:name.txt"), (None, "./file:name.txt"));
        assert_eq!(split_arg("file.txt"), (None, "file.txt"));
        assert_eq!(split_arg("-"), (None, "-"));
        assert_eq!(split_arg("web:rel"), (Some("web"), "rel"));
    }
}
