//! `rcompose logs`: the selected services' container logs, optionally followed.

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Args;

use super::GlobalArgs;
use super::logs_follow::{Follow, FollowOptions};
use super::session;
use crate::engine::progress::Quiet;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

/// docker's `--since`/`--until`: RFC 3339, a Unix timestamp, or a duration ago (`42m`, `1h30m`).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as u32;
        return DateTime::from_timestamp(whole, nanos)
            .ok_or_else(|| anyhow!("timestamp {s:?} out of range"));
    }
    let d = crate::runtime::image::policy::parse_duration(s).ok_or_else(|| {
        anyhow!("invalid time {s:?}: expected RFC 3339, a Unix timestamp or a duration like 42m")
    })?;
    let d = chrono::Duration::from_std(d).map_err(|_| anyhow!("duration {s:?} too large"))?;
    Ok(now - d)
}

pub fn logs(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let now = Utc::now();
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow!("invalid --tail {n:?}"))?,
        ),
    };
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()?;
    let containers: Vec<String> = s
        .engine
        .containers_of(&s.ctx, &args.services)?
        .into_iter()
        .filter(|c| args.index.is_none_or(|i| c.labels.number == Some(i)))
        .map(|c| c.name().to_string())
        .collect();
    if args.index.is_some() && containers.is_empty() {
        bail!("no container with index {:?}", args.index);
    }
    let opts = FollowOptions {
        prefix: !args.no_log_prefix,
        timestamps: args.timestamps,
        color: session::log_color(global, args.no_color),
        strip: format!("{}-", s.ctx.name),
        tail,
        since,
        until,
        banner: false,
    };
    Follow::start_with(&s.engine, &containers, opts, args.follow).run_to_end();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_like_docker() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("42m", now).unwrap().to_rfc3339(),
            "2026-11-23T09:18:00+00:00"
        );
        assert_eq!(
            parse_time("2013-01-02T13:23:37Z", now)
                .unwrap()
                .to_rfc3339(),
            "2013-01-02T13:23:37+00:00"
        );
        assert_eq!(parse_time("0", now).unwrap().timestamp(), 0);
        assert!(parse_time("yesterday", now).is_err());
    }
}
