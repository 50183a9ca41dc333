//! `rcompose stats`: the resource usage of the project's containers, streamed (redrawn every
//! second) or once (`--no-stream`). CPU % needs two samples, as in docker: the first frame
//! comes after a short warm-up interval.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use clap::Args;

use super::GlobalArgs;
use super::output::stats::{StatsFormat, StatsRow, frame, render};
use super::session::{self, Session};
use crate::engine::observe::ProjectContainer;
use crate::engine::progress::Quiet;
use crate::runtime::container::stats::{Sample, Usage};

/// Time between the two samples of the first frame (and of `--no-stream`).
const WARM_UP: Duration = Duration::from_millis(500);
/// Time between frames of the streaming view (dockerd samples once a second).
const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long, default_value = "")]
    pub format: String,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
}

/// The containers to show, newest first (docker's order), with a sample of each running one.
fn measure(
    s: &Session,
    args: &StatsArgs,
) -> anyhow::Result<Vec<(ProjectContainer, Option<Sample>)>> {
    let mut list: Vec<ProjectContainer> = s
        .engine
        .project_containers(&s.ctx.name, true)?
        .into_iter()
        .filter(|c| args.service.as_deref().is_none_or(|svc| c.service() == svc))
        .filter(|c| args.all || c.is_running())
        .collect();
    list.sort_by_key(|c| std::cmp::Reverse(c.info.state.created_at));
    Ok(list
        .into_iter()
        .map(|c| {
            // Gone or stopped since the listing: shown as not running.
            let sample = s.engine.containers.stats_sample(c.id()).ok().flatten();
            (c, sample)
        })
        .collect())
}

fn rows(
    now: &[(ProjectContainer, Option<Sample>)],
    before: &HashMap<String, Sample>,
) -> Vec<StatsRow> {
    now.iter()
        .map(|(c, sample)| StatsRow {
            id: c.id().to_string(),
            name: c.name().to_string(),
            usage: sample
                .as_ref()
                .map(|cur| Usage::between(before.get(c.id()), cur)),
        })
        .collect()
}

fn remember(now: Vec<(ProjectContainer, Option<Sample>)>) -> HashMap<String, Sample> {
    now.into_iter()
        .filter_map(|(c, s)| Some((c.id().to_string(), s?)))
        .collect()
}

pub fn stats(global: &GlobalArgs, args: &StatsArgs) -> anyhow::Result<i32> {
    let format = StatsFormat::parse(&args.format)?;
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let mut before = remember(measure(&s, args)?);
    std::thread::sleep(WARM_UP);
    let mut out = std::io::stdout().lock();
    loop {
        let now = measure(&s, args)?;
        let text = render(&rows(&now, &before), &format, !args.no_trunc)?;
        if args.no_stream {
            out.write_all(text.as_bytes())?;
            out.flush()?;
            return Ok(0);
        }
        // A closed stdout (`stats | head`) ends the stream.
        if out
            .write_all(frame(&text).as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        before = remember(now);
        std::thread::sleep(INTERVAL);
    }
}
