//! `rcompose build [SERVICE...]`: build the services' images with the bundled builder, printing
//! BuildKit's plain progress on stderr (`--progress plain`; `-q` prints nothing). On a failed
//! step the Dockerfile lines around it are shown, as BuildKit does.

use std::sync::Arc;
use std::sync::mpsc;

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::build::{self, BuildOptions, BuildOutput, BuildPolicy, UpBuild};
use crate::engine::error::EngineError;
use crate::engine::progress::ProgressSink;
use crate::runtime::build::{DockerfileSource, PlainProgress, progress};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Set build-time variables for services
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    pub quiet: bool,
    /// Also build dependencies (transitively)
    #[arg(long)]
    pub with_dependencies: bool,
    pub services: Vec<String>,
}

/// `--build-arg KEY=VALUE` / `--build-arg KEY` (value from the environment).
pub fn parse_build_args(items: &[String]) -> anyhow::Result<Vec<(String, Option<String>)>> {
    items
        .iter()
        .map(|a| {
            let (k, v) = match a.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            if k.is_empty() {
                bail!("invalid --build-arg {a:?}: expected KEY=VALUE");
            }
            Ok((k.to_string(), v))
        })
        .collect()
}

/// Build progress on stderr unless quiet (`-q`, `--progress quiet`).
fn output(global: &GlobalArgs, quiet: bool) -> Option<BuildOutput> {
    let quiet = quiet || matches!(global.progress, Some(super::Progress::Quiet));
    (!quiet).then(|| BuildOutput(Arc::new(PlainProgress::new(std::io::stderr()))))
}

/// What `up`, `create` and `run` pass on about building (`--build`, `--no-build`).
pub fn up_build(build: bool, no_build: bool, quiet: bool) -> UpBuild {
    let policy = if build {
        BuildPolicy::Always
    } else if no_build {
        BuildPolicy::Never
    } else {
        BuildPolicy::Missing
    };
    UpBuild {
        policy,
        options: BuildOptions::default(),
        output: (!quiet).then(|| BuildOutput(Arc::new(PlainProgress::new(std::io::stderr())))),
    }
}

pub fn build(global: &GlobalArgs, args: &BuildArgs) -> anyhow::Result<i32> {
    let (tx, rx) = mpsc::channel::<u32>();
    super::signals::route(tx, |n| n);
    let quiet_events: Arc<dyn ProgressSink> = Arc::new(crate::engine::progress::Quiet);
    let s = session::open(global, &args.services, quiet_events)?;
    let engine = s.engine.clone();
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            engine.cancel();
        }
    });
    let mut names: Vec<String> = if args.services.is_empty() {
        s.ctx.project.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    if args.with_dependencies {
        let mut i = 0;
        while i < names.len() {
            if let Some(svc) = s.ctx.service(&names[i]) {
                for d in svc.depends_on.keys() {
                    if !names.contains(d) {
                        names.push(d.clone());
                    }
                }
            }
            i += 1;
        }
    }
    let mut services = Vec::new();
    for n in &names {
        let svc = s
            .ctx
            .service(n)
            .ok_or_else(|| EngineError::NoSuchService(n.clone()))?;
        services.push(svc);
    }
    let opts = BuildOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        args: parse_build_args(&args.build_arg)?,
    };
    let out = output(global, args.quiet);
    match s
        .engine
        .build_services(&s.ctx, &services, &opts, out.as_ref())
    {
        Ok(_) => Ok(0),
        Err(e) => {
            report_failure(&s.ctx, &e);
            Err(e.into())
        }
    }
}

/// For a failed build, print the Dockerfile lines around the failing instruction on stderr.
pub fn report_failure(ctx: &crate::engine::ProjectContext, e: &EngineError) {
    let EngineError::Build { service, error } = e else {
        return;
    };
    let Some(origin) = error.origin() else {
        return;
    };
    let Some(svc) = ctx.service(service) else {
        return;
    };
    let Ok(req) = build::build_request(&ctx.name, svc, &BuildOptions::default()) else {
        return;
    };
    let text = match &req.dockerfile {
        DockerfileSource::Inline(t) => t.clone(),
        DockerfileSource::Path(p) => {
            std::fs::read_to_string(req.context.join(p)).unwrap_or_default()
        }
    };
    if !text.is_empty() {
        eprint!("{}", progress::excerpt(&origin.file, &text, origin.line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_parse() {
        assert_eq!(
            parse_build_args(&["A=1".into(), "B".into(), "C=x=y".into()]).unwrap(),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("x=y".into()))
            ]
        );
        assert!(parse_build_args(&["=x".into()]).is_err());
    }
}
