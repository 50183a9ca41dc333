//! `rcompose image …` (the bundled image store, like `docker image …`) and `rcompose pull`
//! (the images of a project's services, like `docker compose pull`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::GlobalArgs;
use crate::compose::{Host, LoadSettings, load_project};
use crate::engine::images::pull_options;
use crate::engine::prune::{ImagePruneOptions, prune_images};
use crate::runtime::image::{Ensured, ImageStore, LocalImage, PullEvent, PullPolicy, Reference};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Load images from a docker-save or oci-archive tarball, or an OCI layout directory
    Load(LoadArgs),
    /// Create an image from a root filesystem tarball
    Import {
        /// The tarball (optionally gzip-compressed)
        file: PathBuf,
        /// The reference to give the image
        reference: String,
    },
    /// Remove images
    #[command(alias = "remove")]
    Rm {
        /// Remove even if containers use the image (untags it)
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Pull an image from a registry
    Pull {
        /// Suppress progress output
        #[arg(short, long)]
        quiet: bool,
        reference: String,
    },
    /// Push an image to a registry
    Push {
        /// Local image (reference or ID)
        image: String,
        /// Where to push it (default: the image's own reference)
        target: Option<String>,
    },
    /// Show an image's configuration as JSON
    Inspect { image: String },
    /// Remove unused images
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this tarball or directory
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Same as --input
    pub file: Option<PathBuf>,
}

/// `rcompose pull`: the project's service images.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Apply pull policy: "missing" pulls only absent images, "always" every one
    #[arg(long, value_parser = ["missing", "always"])]
    pub policy: Option<String>,
    /// Ignore images that can be built
    #[arg(long)]
    pub ignore_buildable: bool,
    /// Pull what it can and ignore images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn open_store(root: &Path) -> anyhow::Result<ImageStore> {
    ImageStore::open(root)
        .with_context(|| format!("opening the image store under {}", root.display()))
}

pub fn run(global: &GlobalArgs, cmd: &ImageCommand) -> anyhow::Result<()> {
    let store = open_store(&global.root)?;
    match cmd {
        ImageCommand::Ls(args) => list(&store, args),
        ImageCommand::Load(args) => {
            let Some(path) = args.input.as_ref().or(args.file.as_ref()) else {
                bail!("rcompose image load needs a file: rcompose image load -i IMAGE.tar");
            };
            for image in store.load(path)? {
                match image.references.is_empty() {
                    true => println!("Loaded image ID: {}", image.id),
                    false => image
                        .references
                        .iter()
                        .for_each(|r| println!("Loaded image: {}", r.familiar())),
                }
            }
            Ok(())
        }
        ImageCommand::Import { file, reference } => {
            let id = store.import(file, &Reference::parse(reference)?)?;
            println!("{id}");
            Ok(())
        }
        ImageCommand::Rm { force, images } => {
            for image in images {
                let removed = store.remove(image, *force)?;
                removed
                    .untagged
                    .iter()
                    .for_each(|r| println!("Untagged: {}", r.familiar()));
                removed
                    .deleted
                    .iter()
                    .for_each(|id| println!("Deleted: {id}"));
            }
            Ok(())
        }
        ImageCommand::Pull { quiet, reference } => {
            let reference = Reference::parse(reference)?;
            let id = runtime()?.block_on(store.pull(
                &reference,
                &pull_options(),
                progress_printer(*quiet, &reference.familiar()),
            ))?;
            if !quiet {
                println!(
                    "Digest: {id}\nStatus: image is up to date for {}",
                    reference.familiar()
                );
            }
            Ok(())
        }
        ImageCommand::Push { image, target } => {
            let target = match target {
                Some(t) => Reference::parse(t)?,
                None => Reference::parse(image)?,
            };
            let digest = runtime()?.block_on(store.push(image, &target, &pull_options()))?;
            println!("{}: digest: {digest}", target.familiar());
            Ok(())
        }
        ImageCommand::Inspect { image } => {
            let local = store.inspect(image)?;
            let config = store.config_json(&local.id)?;
            let out = serde_json::json!({
                "Id": local.id.to_string(),
                "RepoTags": local.references.iter().map(Reference::familiar).collect::<Vec<_>>(),
                "ManifestDigest": local.manifest_digest.to_string(),
                "Size": local.size,
                "Created": local.created,
                "Config": config,
            });
            println!("{}", serde_json::to_string_pretty(&[out])?);
            Ok(())
        }
        ImageCommand::Prune(args) => prune(&store, args),
    }
}

const ALL_IMAGES_WARNING: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";
const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

/// `rcompose image prune [-a] [-f]`, worded like `docker image prune`.
fn prune(store: &ImageStore, args: &PruneArgs) -> anyhow::Result<()> {
    let warning = if args.all {
        ALL_IMAGES_WARNING
    } else {
        DANGLING_WARNING
    };
    if !args.force && !confirm(warning)? {
        bail!("image prune has been cancelled");
    }
    let report = prune_images(store, &ImagePruneOptions { all: args.all })?;
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        println!("Deleted Images:");
        for reference in &report.untagged {
            println!("untagged: {}", reference.familiar());
        }
        for id in &report.deleted {
            println!("deleted: {id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        go_human_size(report.reclaimed_bytes)
    );
    Ok(())
}

/// docker's `[y/N]` prompt: only `y` or `yes` (any case) confirms; end of input declines.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// go-units' `HumanSize`: decimal units, 4 significant digits (`0B`, `1.5kB`, `7.812MB`).
fn go_human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let integer_digits = if size < 1.0 {
        1
    } else {
        size.log10().floor() as usize + 1
    };
    let text = format!("{size:.*}", 4usize.saturating_sub(integer_digits));
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", UNITS[unit])
}

fn list(store: &ImageStore, args: &LsArgs) -> anyhow::Result<()> {
    let images = store.list()?;
    if args.quiet {
        images
            .iter()
            .for_each(|i| println!("{}", &i.id.hex()[..12]));
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            for i in &images {
                let (repo, tag) = repo_and_tag(i);
                let line = serde_json::json!({"Repository": repo, "Tag": tag, "ID": &i.id.hex()[..12], "Size": human_size(i.size), "CreatedAt": i.created});
                println!("{line}");
            }
        }
        ListFormat::Table => {
            println!(
                "{:<40}{:<12}{:<16}{:<24}SIZE",
                "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
            );
            for i in &images {
                let (repo, tag) = repo_and_tag(i);
                let created = i.created.clone().unwrap_or_default();
                println!(
                    "{repo:<40}{tag:<12}{:<16}{created:<24}{}",
                    &i.id.hex()[..12],
                    human_size(i.size)
                );
            }
        }
    }
    Ok(())
}

fn repo_and_tag(image: &LocalImage) -> (String, String) {
    match image.references.first() {
        None => ("<none>".into(), "<none>".into()),
        Some(r) => {
            let familiar = r.familiar();
            match familiar.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                Some((repo, tag)) => (repo.to_string(), tag.to_string()),
                None => (familiar, "<none>".into()),
            }
        }
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{size:.3}{}", UNITS[unit]).replace(".000", "")
}

fn progress_printer(quiet: bool, name: &str) -> impl FnMut(PullEvent) + use<> {
    let name = name.to_string();
    move |event| {
        if quiet {
            return;
        }
        match event {
            PullEvent::LayerDownloaded { digest, .. } => {
                println!("{}: Pull complete ({name})", digest.short())
            }
            PullEvent::LayerExists { digest } => {
                println!("{}: Already exists ({name})", digest.short())
            }
            _ => {}
        }
    }
}

/// `rcompose pull`: every selected service's image, by the service's `pull_policy` unless
/// `--policy` says otherwise.
pub fn pull(global: &GlobalArgs, host: &Host, args: &PullArgs) -> anyhow::Result<()> {
    let settings = LoadSettings {
        services: args.services.clone(),
        ..LoadSettings::default()
    };
    let loaded = load_project(&global.project_options(), host, &settings)?;
    let store = open_store(&global.root)?;
    let rt = runtime()?;
    let mut failures = Vec::new();
    for (name, service) in &loaded.project.services {
        let explicit =
            args.services.is_empty() || args.services.contains(name) || args.include_deps;
        let buildable = service.build.is_some();
        let image = service.image.as_str();
        if image.is_empty() || !explicit || (args.ignore_buildable && buildable) {
            continue;
        }
        let policy = match args.policy.as_deref() {
            Some(p) => p.parse::<PullPolicy>()?,
            None if service.pull_policy.is_empty() => PullPolicy::Missing,
            None => service.pull_policy.parse::<PullPolicy>()?,
        };
        let policy = if buildable && policy == PullPolicy::Missing {
            PullPolicy::Build
        } else {
            policy
        };
        let reference = Reference::parse(image)?;
        let result = rt.block_on(store.ensure_image(
            &reference,
            policy,
            &pull_options(),
            SystemTime::now(),
            |_| {},
        ));
        match result {
            Ok(Ensured::Pulled(_)) if !args.quiet => println!(" ✔ {name} Pulled"),
            Ok(Ensured::Local(_)) if !args.quiet => {
                println!(" ✔ {name} Skipped - Image is already present locally")
            }
            Ok(Ensured::NeedsBuild(_)) if !args.quiet => {
                println!(" - {name} Skipped - Image will be built")
            }
            Ok(_) => {}
            Err(e) if args.ignore_pull_failures => eprintln!(" ✘ {name} Error {e}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::go_human_size;

    #[test]
    fn sizes_like_go_units() {
        for (bytes, want) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1500, "1.5kB"),
            (7_812_345, "7.812MB"),
            (123_456_789, "123.5MB"),
            (2_000_000_000, "2GB"),
        ] {
            assert_eq!(go_human_size(bytes), want, "{bytes}");
        }
    }
}
