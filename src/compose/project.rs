//! Loading a whole project: discovery, the project name, the load pipeline, normalization,
//! profiles and service selection, consistency checks, env files folded into `environment`,
//! and finally the typed [`model::Project`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::consistency;
use super::decode::decode;
use super::discovery::{Discovered, Host, ProjectOptions, discover, normalize_project_name};
use super::environment::{Environment, resolve_service_env_files};
use super::error::LoadError;
use super::interpolate::interpolate;
use super::label_files;
use super::loader::{ConfigDetails, LoadOptions, Warnings, load_yaml_model};
use super::model;
use super::node::{KeyPath, Map, Node};
use super::normalize::normalize;
use super::select::{Selection, select};

/// Which stages run (each can be turned off from `rcompose config`).
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub interpolate: bool,
    pub normalize: bool,
    pub resolve_paths: bool,
    pub consistency: bool,
    /// Fold `env_file` contents into `environment` and drop `env_file`.
    pub resolve_env_files: bool,
    /// Services named on the command line (with their dependencies); empty means all.
    pub services: Vec<String>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            interpolate: true,
            normalize: true,
            resolve_paths: true,
            consistency: true,
            resolve_env_files: true,
            services: Vec::new(),
        }
    }
}

/// A loaded project: the canonical tree (for output and hashing) and its typed form.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// The variables interpolation used (`config --environment`).
    pub environment: Environment,
    pub profiles: Vec<String>,
    /// Enabled services and the project's resources, canonical form.
    pub tree: Node,
    /// Services left out by profiles or selection.
    pub disabled: Map,
    pub project: model::Project,
    /// Things the user should know that did not stop the load.
    pub warnings: Vec<String>,
}

pub fn load_project(
    opts: &ProjectOptions,
    host: &Host,
    settings: &LoadSettings,
) -> Result<Loaded, LoadError> {
    let discovered = discover(opts, host)?;
    let load_opts = LoadOptions {
        interpolate: settings.interpolate,
        resolve_paths: settings.resolve_paths,
        home: host.env.get("HOME").cloned(),
    };
    let name = project_name(&discovered, &load_opts)?;
    let mut environment = discovered.environment.clone();
    environment
        .entry("COMPOSE_PROJECT_NAME".into())
        .or_insert_with(|| name.clone());
    let details = ConfigDetails {
        working_dir: discovered.working_dir.clone(),
        files: discovered.files.clone(),
        environment,
    };
    let warnings = Warnings::default();
    let mut tree = load_yaml_model(&details, &load_opts, &[], &warnings)?;
    if tree.as_map().is_none_or(Map::is_empty) {
        return Err(LoadError::invalid("empty compose file"));
    }
    if settings.normalize {
        if let Some(map) = tree.as_map_mut() {
            map.insert("name".into(), Node::string(name.clone()));
        }
        normalize(&mut tree, &name, &details.environment);
    }
    if settings.consistency {
        consistency::check(&tree)?;
    }
    let selection: Selection = select(&mut tree, &discovered.profiles, &settings.services)?;
    if settings.resolve_env_files {
        resolve_service_env_files(&mut tree, &details.environment)?;
        label_files::resolve_service_label_files(&mut tree, &details.environment)?;
    }
    strip_extensions(&mut tree);
    let project: model::Project = decode(&tree, &KeyPath::root())?;
    Ok(Loaded {
        name,
        working_dir: details.working_dir,
        config_files: discovered.files.iter().map(|f| f.path.clone()).collect(),
        environment: details.environment,
        profiles: selection.active_profiles,
        tree,
        disabled: selection.disabled,
        project,
        warnings: warnings.take(),
    })
}

impl Loaded {
    /// The project with only the networks, volumes, secrets and configs its services use, as
    /// docker compose prints and creates them.
    pub fn used_resources_only(&self) -> model::Project {
        let mut out = self.project.clone();
        let json = serde_json::to_value(&self.project).unwrap_or_default();
        let services: Vec<&serde_json::Value> = json["services"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .collect();
        let mut networks = BTreeSet::new();
        let mut volumes = BTreeSet::new();
        let mut secrets = BTreeSet::new();
        let mut configs = BTreeSet::new();
        let source = |v: &serde_json::Value| {
            v["source"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        for svc in services {
            networks.extend(
                svc["networks"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys().cloned()),
            );
            let named = svc["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["type"] == "volume");
            volumes.extend(named.filter_map(source));
            secrets.extend(
                svc["secrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(source),
            );
            secrets.extend(
                svc["build"]["secrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(source),
            );
            configs.extend(
                svc["configs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(source),
            );
        }
        out.networks.retain(|k, _| networks.contains(k));
        out.volumes.retain(|k, _| volumes.contains(k));
        out.secrets.retain(|k, _| secrets.contains(k));
        out.configs.retain(|k, _| configs.contains(k));
        out
    }

    /// What `config` prints: used resources only, and (after interpolation) every literal `$`
    /// written `$$` so the output can be read back without being interpolated again.
    pub fn for_output(&self, escape_dollars: bool) -> serde_json::Value {
        let mut json = serde_json::to_value(self.used_resources_only()).unwrap_or_default();
        if escape_dollars {
            escape(&mut json);
        }
        json
    }
}

fn escape(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        serde_json::Value::Array(items) => items.iter_mut().for_each(escape),
        serde_json::Value::Object(m) => m.values_mut().for_each(escape),
        _ => {}
    }
}

/// `-p`/`COMPOSE_PROJECT_NAME` if given; else the last `name:` in the files (interpolated);
/// else the project directory's name.
fn project_name(d: &Discovered, opts: &LoadOptions) -> Result<String, LoadError> {
    if let Some(name) = &d.imperative_name {
        return Ok(name.clone());
    }
    let mut from_files = None;
    for file in &d.files {
        let Ok(docs) = file.documents() else { continue };
        for doc in docs {
            if let Some(name) = doc
                .get("name")
                .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()))
            {
                from_files = Some(name.clone());
            }
        }
    }
    let Some(mut node) = from_files else {
        return Ok(d.default_name.clone());
    };
    if opts.interpolate {
        let lookup = |k: &str| d.environment.get(k).cloned();
        interpolate(
            &mut node,
            &KeyPath::root().key("name"),
            &lookup,
            &mut |_| {},
        )?;
    }
    let name = normalize_project_name(node.as_str().unwrap_or_default());
    Ok(if name.is_empty() {
        d.default_name.clone()
    } else {
        name
    })
}

/// `x-*` keys are free-form extensions: kept at the top level for YAML output, never decoded.
/// Maps whose keys are user data (`environment`, `labels`…) keep theirs.
fn strip_extensions(tree: &mut Node) {
    const FREE_FORM: &[&str] = &[
        "environment",
        "labels",
        "annotations",
        "sysctls",
        "args",
        "driver_opts",
        "options",
        "extra_hosts",
        "additional_contexts",
        "ssh",
    ];
    fn strip(node: &mut Node, top: bool) {
        if let Some(map) = node.as_map_mut() {
            if !top {
                map.retain(|k, _| !k.starts_with("x-"));
            }
            for (k, v) in map.iter_mut() {
                if !FREE_FORM.contains(&k.as_str()) {
                    strip(v, false);
                }
            }
        } else if let Some(items) = node.as_seq_mut() {
            items.iter_mut().for_each(|i| strip(i, false));
        }
    }
    strip(tree, true);
}
