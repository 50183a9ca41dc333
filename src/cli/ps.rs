//! `rcompose ps`: the project's containers as docker compose lists them (table, JSON lines,
//! Go templates, `-q`, `--services`), built from the runtime's state and the network state.

use std::collections::BTreeSet;
use std::time::SystemTime;

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::output::ps::{
    ContainerState, Health, PsFormat, PsRow, PsView, write_ps, write_quiet, write_services,
};
use super::output::{Publisher, Zone};
use super::session;
use crate::engine::observe::ProjectContainer;
use crate::engine::progress::Quiet;
use crate::runtime::container::{HealthStatus, MountKind, Status};
use crate::runtime::network::state::State as NetState;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    pub all: bool,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    pub filter: Option<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub orphans: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    pub status: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub selected: Vec<String>,
}

fn state_of(c: &ProjectContainer) -> ContainerState {
    match c.status() {
        Status::Created => ContainerState::Created,
        Status::Running => ContainerState::Running,
        Status::Paused => ContainerState::Paused,
        Status::Restarting => ContainerState::Restarting,
        Status::Exited => ContainerState::Exited,
    }
}

/// One `ps` row for a container.
pub fn row(c: &ProjectContainer, image: &str, net: &NetState) -> PsRow {
    let st = &c.info.state;
    let spec = &c.info.spec;
    let publishers = if c.is_running() {
        net.ports
            .iter()
            .filter(|p| p.owner == c.name())
            .map(|p| Publisher {
                url: p.host_ip.to_string(),
                target_port: p.container_port,
                published_port: p.host_port,
                protocol: p.protocol.to_string(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let volumes: Vec<String> = spec
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Volume { name, .. } => Some(name.clone()),
            MountKind::Bind { source, .. } => Some(source.display().to_string()),
            _ => None,
        })
        .chain(c.info.anonymous_volumes.iter().cloned())
        .collect();
    let local_volumes = spec
        .mounts
        .iter()
        .filter(|m| {
            matches!(
                m.kind,
                MountKind::Volume { .. } | MountKind::Anonymous { .. }
            )
        })
        .count()
        + c.info.anonymous_volumes.len().saturating_sub(
            spec.mounts
                .iter()
                .filter(|m| matches!(m.kind, MountKind::Anonymous { .. }))
                .count(),
        );
    PsRow {
        id: st.id.clone(),
        name: c.name().to_string(),
        image: image.to_string(),
        command: PsRow::command_from_argv(&spec.effective_args()),
        project: c.labels.project.clone(),
        service: c.labels.service.clone(),
        created: st.created_at.into(),
        state: state_of(c),
        health: match st.health.as_ref().map(|h| h.status) {
            None => Health::None,
            Some(HealthStatus::Starting) => Health::Starting,
            Some(HealthStatus::Healthy) => Health::Healthy,
            Some(HealthStatus::Unhealthy) => Health::Unhealthy,
        },
        exit_code: st.exit_code.unwrap_or(0),
        started_at: st.started_at.map(Into::into),
        finished_at: st.finished_at.map(Into::into),
        publishers,
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        local_volumes,
        mounts: volumes,
        networks: net
            .networks
            .values()
            .filter(|n| n.endpoints.contains_key(c.name()))
            .map(|n| n.name.clone())
            .collect(),
        size_rw: 0,
        size_root_fs: 0,
    }
}

fn wanted_states(args: &PsArgs) -> anyhow::Result<BTreeSet<String>> {
    let mut states: BTreeSet<String> = args.status.iter().cloned().collect();
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("status", v)) => {
                states.insert(v.to_string());
            }
            _ => bail!("invalid filter {f:?}: only status=STATE is supported"),
        }
    }
    const KNOWN: [&str; 7] = [
        "paused",
        "restarting",
        "removing",
        "running",
        "dead",
        "created",
        "exited",
    ];
    if let Some(bad) = states.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        bail!(
            "invalid status {bad:?}: expected one of {}",
            KNOWN.join(", ")
        );
    }
    Ok(states)
}

pub fn ps(global: &GlobalArgs, args: &PsArgs) -> anyhow::Result<i32> {
    let format = PsFormat::parse(&args.format)?;
    let states = wanted_states(args)?;
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    for svc in &args.selected {
        if s.ctx.service(svc).is_none() {
            bail!("no such service: {svc}");
        }
    }
    let net = s.engine.network.state()?;
    let rows: Vec<PsRow> = s
        .engine
        .project_containers(&s.ctx.name, args.all)?
        .iter()
        .filter(|c| args.selected.is_empty() || args.selected.iter().any(|x| x == c.service()))
        .filter(|c| args.orphans || s.ctx.service(c.service()).is_some())
        .filter(|c| args.all || !states.is_empty() || c.is_running())
        .map(|c| {
            let image = s
                .ctx
                .service(c.service())
                .map(|svc| svc.image.clone())
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("{}-{}", s.ctx.name, c.service()));
            row(c, &image, &net)
        })
        .filter(|r| states.is_empty() || states.contains(r.state.as_str()))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.quiet {
        write_quiet(&mut out, &rows)?;
    } else if args.services {
        write_services(&mut out, &rows)?;
    } else {
        let view = PsView {
            format,
            trunc: !args.no_trunc,
            now: SystemTime::now(),
            zone: Zone::Local,
        };
        write_ps(&mut out, &rows, &view)?;
    }
    Ok(0)
}
