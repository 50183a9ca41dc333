//! `rcompose scale SERVICE=REPLICAS...`: set how many containers the services run, creating or
//! removing the highest-numbered ones and leaving the others as they are (`up -d --no-recreate
//! --scale` for those services).

use anyhow::{anyhow, bail};
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::up::UpOptions;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub services: Vec<String>,
}

/// `SERVICE=N` pairs, with docker compose's messages (a later pair for a service wins).
pub fn parse_replicas(args: &[String]) -> anyhow::Result<Vec<(String, u32)>> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for arg in args {
        let (key, val) = arg
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| anyhow!("invalid scale specifier: {arg}"))?;
        let n: i64 = val.parse().map_err(|_| {
            anyhow!("invalid scale specifier: can't parse replica value as int: {arg}")
        })?;
        let n = u32::try_from(n).map_err(|_| {
            anyhow!("invalid scale specifier: {arg}: replicas must not be negative")
        })?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), n));
    }
    out.sort();
    Ok(out)
}

pub fn scale(global: &GlobalArgs, args: &ScaleArgs) -> anyhow::Result<i32> {
    let replicas = parse_replicas(&args.services)?;
    let names: Vec<String> = replicas.iter().map(|(s, _)| s.clone()).collect();
    let s = session::open(global, &names, session::progress(global, "Running")?)?;
    if let Some(bad) = names.iter().find(|n| s.ctx.service(n).is_none()) {
        bail!("no such service: {bad}");
    }
    let opts = UpOptions {
        services: if args.no_deps { names } else { Vec::new() },
        no_deps: args.no_deps,
        scale: replicas,
        no_recreate: true,
        ..UpOptions::default()
    };
    let r = s.engine.up(&s.ctx, &opts);
    s.engine.progress().finish();
    r?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_like_docker_compose() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_replicas(&args(&["web=3", "db=0", "web=2"])).unwrap(),
            [("db".to_string(), 0), ("web".to_string(), 2)]
        );
        assert_eq!(
            parse_replicas(&args(&["web"])).unwrap_err().to_string(),
            "invalid scale specifier: web"
        );
        assert_eq!(
            parse_replicas(&args(&["web=x"])).unwrap_err().to_string(),
            "invalid scale specifier: can't parse replica value as int: web=x"
        );
        assert!(parse_replicas(&args(&["=2"])).is_err());
    }
}
