//! `rcompose push [SERVICE...]`: push the images of a project's buildable services, like
//! `docker compose push`.

use clap::Args;

use super::GlobalArgs;
use crate::compose::{Host, LoadSettings, load_project};
use crate::engine::images::pull_options;
use crate::engine::push::{PushEvent, push_services};
use crate::runtime::image::ImageStore;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Also push images of services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn push(global: &GlobalArgs, host: &Host, args: &PushArgs) -> anyhow::Result<()> {
    let settings = LoadSettings {
        services: args.services.clone(),
        ..LoadSettings::default()
    };
    let loaded = load_project(&global.project_options(), host, &settings)?;
    let store = ImageStore::open(&global.root)?;
    let selected = loaded.project.services.iter().filter(|(name, _)| {
        args.services.is_empty() || args.include_deps || args.services.contains(name)
    });
    let quiet = args.quiet;
    push_services(
        &store,
        selected.map(|(_, service)| service),
        &pull_options(),
        args.ignore_push_failures,
        |event| match event {
            PushEvent::Skipped { service } if !quiet => println!(" ✔ {service} Skipped"),
            PushEvent::Pushing { tag } if !quiet => println!(" - {tag} Pushing"),
            PushEvent::Pushed { tag, digest } if !quiet => println!(" ✔ {tag} Pushed {digest}"),
            PushEvent::Failed { tag, error } => eprintln!(" ! {tag} {error}"),
            _ => {}
        },
    )?;
    Ok(())
}
