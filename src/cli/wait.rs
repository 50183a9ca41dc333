//! `rcompose wait SERVICE...`: block until the services' running containers have all exited,
//! printing each exit as docker compose does; the exit status is that of the container that
//! exited last (docker compose 2.40 keeps overwriting it). `--down-project` then takes the
//! project down.

use std::sync::mpsc;

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::down::DownOptions;
use crate::runtime::container::Runtime;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true, value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub fn wait(global: &GlobalArgs, args: &WaitArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], session::progress(global, "Running")?)?;
    let containers: Vec<(String, String)> = s
        .engine
        .project_containers(&s.ctx.name, true)?
        .into_iter()
        .filter(|c| c.is_running() && args.services.iter().any(|x| x == c.service()))
        .map(|c| (c.name().to_string(), c.id().to_string()))
        .collect();
    if containers.is_empty() {
        bail!("no containers for project {:?}", s.ctx.name);
    }
    let (tx, rx) = mpsc::channel();
    for (name, id) in &containers {
        let (tx, rt, name, id) = (
            tx.clone(),
            s.engine.containers.clone(),
            name.clone(),
            id.clone(),
        );
        std::thread::spawn(move || {
            let _ = tx.send((id, rt.wait(&name)));
        });
    }
    drop(tx);
    let mut status = 0;
    for (id, result) in rx {
        let code = result?;
        println!("container {id:?} exited with status code {code}");
        status = code;
    }
    if args.down_project {
        let opts = DownOptions {
            remove_orphans: true,
            ..DownOptions::default()
        };
        let r = s.engine.down(&s.ctx, &opts);
        s.engine.progress().finish();
        r?;
    }
    Ok(status)
}
