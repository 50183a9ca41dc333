//! `rcompose config`: the project as docker compose v2 renders it, or one facet of it
//! (`--services`, `--volumes`, `--hash`…).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::Value as Json;

use super::GlobalArgs;
use crate::compose::model::{self, to_go_json_pretty};
use crate::compose::node::{Node, Value};
use crate::compose::template;
use crate::compose::yaml::parse_documents;
use crate::compose::{Host, LoadSettings, Loaded, load_project};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Format the output
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Save to file (default to stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub profiles: bool,
    /// Print the service config hash, one per line ("*" for all services)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize the compose model
    #[arg(long)]
    pub no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check model consistency
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't resolve service env files
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Print the environment used for interpolation
    #[arg(long)]
    pub environment: bool,
    /// Print the model variables and their default values
    #[arg(long)]
    pub variables: bool,
    /// Services to render (with their dependencies)
    pub service_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum Format {
    Yaml,
    Json,
}

pub fn run(global: &GlobalArgs, host: &Host, args: &ConfigArgs) -> anyhow::Result<()> {
    let settings = LoadSettings {
        interpolate: !args.no_interpolate,
        normalize: !args.no_normalize,
        resolve_paths: !args.no_path_resolution,
        consistency: !args.no_consistency,
        resolve_env_files: !args.no_env_resolution,
        services: args.service_names.clone(),
    };
    let opts = global.project_options();
    if args.variables {
        return emit(args, &variables_table(&opts, host)?);
    }
    let loaded = load_project(&opts, host, &settings)?;
    if args.quiet {
        return Ok(());
    }
    let text = render(&loaded, args)?;
    emit(args, &text)
}

fn emit(args: &ConfigArgs, text: &str) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(out.flush()?)
        }
    }
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = names.cloned().collect();
    v.sort();
    v
}

fn lines<I: IntoIterator<Item = String>>(items: I) -> String {
    items.into_iter().map(|s| s + "\n").collect()
}

fn render(loaded: &Loaded, args: &ConfigArgs) -> anyhow::Result<String> {
    let project = &loaded.project;
    let used = loaded.used_resources_only();
    if args.services {
        return Ok(lines(sorted(project.services.keys())));
    }
    if args.volumes {
        return Ok(lines(sorted(used.volumes.keys())));
    }
    if args.networks {
        return Ok(lines(sorted(used.networks.keys())));
    }
    if args.images {
        return Ok(lines(images(loaded)));
    }
    if args.profiles {
        return Ok(lines(all_profiles(loaded)));
    }
    if let Some(selection) = &args.hash {
        return hashes(project, selection);
    }
    if args.environment {
        let mut env: Vec<_> = loaded
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.sort();
        return Ok(lines(env));
    }
    let pruned = loaded.for_output(!args.no_interpolate);
    match args.format {
        Format::Json => Ok(to_go_json_pretty(&pruned)? + "\n"),
        Format::Yaml => yaml(&pruned),
    }
}

fn images(loaded: &Loaded) -> Vec<String> {
    let json = serde_json::to_value(&loaded.project).unwrap_or(Json::Null);
    let mut out: Vec<String> = json["services"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, svc)| match svc["image"].as_str() {
            Some(image) => image.to_string(),
            None => format!("{}-{name}", loaded.name),
        })
        .collect();
    out.sort();
    out
}

fn all_profiles(loaded: &Loaded) -> BTreeSet<String> {
    let services = loaded
        .tree
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten();
    services
        .chain(loaded.disabled.iter())
        .flat_map(|(_, svc)| {
            svc.get("profiles")
                .and_then(Node::as_seq)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.scalar_text())
        .collect()
}

fn hashes(project: &model::Project, selection: &str) -> anyhow::Result<String> {
    let mut names: Vec<&String> = if selection == "*" {
        project.services.keys().collect()
    } else {
        selection
            .split(',')
            .map(str::trim)
            .map(|n| {
                project
                    .services
                    .get_key_value(n)
                    .map(|(k, _)| k)
                    .ok_or_else(|| anyhow::anyhow!("no such service: {n}"))
            })
            .collect::<Result<_, _>>()?
    };
    names.sort();
    Ok(lines(names.into_iter().map(|n| {
        format!("{n} {}", model::config_hash(&project.services[n]))
    })))
}

/// YAML in docker compose's key order (`name`, `services`, `networks`, `volumes`, `secrets`,
/// `configs`, then extensions) and without the `null` command/entrypoint the JSON form shows.
fn yaml(json: &Json) -> anyhow::Result<String> {
    let mut json = json.clone();
    for svc in json["services"]
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        if let Some(map) = svc.as_object_mut() {
            map.retain(|k, v| !(v.is_null() && (k == "command" || k == "entrypoint")));
        }
    }
    let Json::Object(mut top) = json else {
        return Ok(String::new());
    };
    let mut ordered = serde_json::Map::new();
    for key in [
        "name", "services", "networks", "volumes", "secrets", "configs",
    ] {
        if let Some(v) = top.remove(key) {
            ordered.insert(key.to_string(), v);
        }
    }
    ordered.extend(top);
    Ok(serde_norway::to_string(&Json::Object(ordered))?)
}

/// `config --variables`: every variable the files reference, in order of first use.
fn variables_table(opts: &crate::compose::ProjectOptions, host: &Host) -> anyhow::Result<String> {
    let discovered = crate::compose::discovery::discover(opts, host)?;
    let mut seen: Vec<template::Variable> = Vec::new();
    for file in &discovered.files {
        for doc in parse_documents(&file.content, &file.display_name())? {
            collect_variables(&doc, &mut seen);
        }
    }
    let row = |cells: [&str; 4]| {
        format!(
            "{:<20}{:<20}{:<20}{}\n",
            cells[0], cells[1], cells[2], cells[3]
        )
    };
    let mut out = row(["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"]);
    for v in &seen {
        let required = if v.required { "true" } else { "false" };
        out += &row([&v.name, required, &v.default_value, &v.presence_value]);
    }
    Ok(out)
}

fn collect_variables(node: &Node, seen: &mut Vec<template::Variable>) {
    match &node.value {
        Value::String(s) => {
            for v in template::variables(s) {
                if !seen.iter().any(|x| x.name == v.name) {
                    seen.push(v);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| collect_variables(i, seen)),
        Value::Map(m) => m.values().for_each(|v| collect_variables(v, seen)),
        _ => {}
    }
}
