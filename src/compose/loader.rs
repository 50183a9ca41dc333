//! The loading pipeline for a set of Compose files, step for step as compose-go runs it (so the
//! result matches docker compose): per document, collect `!reset`/`!override`, interpolate,
//! `include`, `extends`, merge into what earlier files built, enforce uniqueness, canonical
//! forms; then defaults, checks, relative paths and environment for the whole model.

use std::path::{Path, PathBuf};

use super::canonical::canonical;
use super::environment::Environment;
use super::error::LoadError;
use super::interpolate::interpolate;
use super::merge::{enforce_unicity, merge};
use super::node::{KeyPath, Map, Node, Value};
use super::paths::PathResolver;
use super::reset::Resets;
use super::yaml::parse_documents;
use super::{defaults, extends, include};

/// One Compose file: its path (`-` for stdin) and content.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub content: String,
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<ConfigFile, LoadError> {
        let content = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            content,
        })
    }

    /// The name shown in errors and locations.
    pub fn display_name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Which optional steps run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub interpolate: bool,
    pub resolve_paths: bool,
    pub home: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            interpolate: true,
            resolve_paths: true,
            home: std::env::var("HOME").ok(),
        }
    }
}

/// A set of files read together, with the directory relative paths resolve against and the
/// variables they are interpolated with.
#[derive(Debug, Clone)]
pub struct ConfigDetails {
    pub working_dir: PathBuf,
    pub files: Vec<ConfigFile>,
    pub environment: Environment,
}

/// The settings shared by every file loaded for one project (including extended and included
/// files, which each bring their own working directory and environment).
pub struct Loader<'a> {
    pub opts: &'a LoadOptions,
    pub env: &'a Environment,
    pub working_dir: &'a Path,
    pub skip_include: bool,
    pub skip_extends: bool,
}

/// Loads and merges `details.files` into one model tree (compose-go's `loadYamlModel`).
pub fn load_yaml_model(
    details: &ConfigDetails,
    opts: &LoadOptions,
    included: &[PathBuf],
) -> Result<Node, LoadError> {
    let loader = Loader {
        opts,
        env: &details.environment,
        working_dir: &details.working_dir,
        skip_include: false,
        skip_extends: false,
    };
    let mut dict = Node::map(Map::new());
    for file in &details.files {
        dict = loader.load_file(file, dict, included)?.0;
    }
    defaults::set_default_values(&mut dict, &KeyPath::root());
    defaults::validate(&dict)?;
    if opts.resolve_paths {
        let resolver = PathResolver {
            working_dir: &details.working_dir,
            home: opts.home.as_deref(),
        };
        resolver.resolve(&mut dict, &KeyPath::root());
    }
    defaults::resolve_environment(&mut dict, &details.environment);
    Ok(dict)
}

impl Loader<'_> {
    /// Loads every document of `file` and merges it into `dict`. Also returns the last
    /// document's resets, which an `extends` from another file applies to its base.
    pub fn load_file(
        &self,
        file: &ConfigFile,
        mut dict: Node,
        included: &[PathBuf],
    ) -> Result<(Node, Resets), LoadError> {
        let name = file.display_name();
        let docs = parse_documents(&file.content, &name)?;
        let mut last = Resets::default();
        for mut doc in docs {
            if doc.is_null() {
                continue;
            }
            let resets = Resets::collect(&mut doc);
            dict = self.process_document(file, doc, dict, &resets, included)?;
            last = resets;
        }
        Ok((dict, last))
    }

    fn process_document(
        &self,
        file: &ConfigFile,
        mut doc: Node,
        dict: Node,
        resets: &Resets,
        included: &[PathBuf],
    ) -> Result<Node, LoadError> {
        if doc.as_map().is_none() {
            return Err(LoadError::at(
                Some(&doc),
                &KeyPath::root(),
                "top-level object must be a mapping",
            ));
        }
        if self.opts.interpolate {
            let lookup = |k: &str| self.env.get(k).cloned();
            interpolate(&mut doc, &KeyPath::root(), &lookup)?;
        }
        if !self.skip_include {
            let mut chain = included.to_vec();
            chain.push(file.path.clone());
            include::apply_include(self, &mut doc, &chain)?;
        }
        let mut dict = dict;
        resets.apply(&mut dict, &KeyPath::root());
        if !self.skip_extends {
            extends::apply_extends(self, &mut doc, &file.path, resets)?;
        }
        let mut dict = merge(dict, doc, &KeyPath::root());
        enforce_unicity(&mut dict, &KeyPath::root());
        if let Some(map) = dict.as_map_mut() {
            map.shift_remove("version");
        }
        canonical(&mut dict, &KeyPath::root())?;
        omit_empty_dns(&mut dict);
        enforce_unicity(&mut dict, &KeyPath::root());
        Ok(dict)
    }
}

/// Empty `dns` entries are dropped (compose-go's `OmitEmpty`).
fn omit_empty_dns(dict: &mut Node) {
    let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) else {
        return;
    };
    for svc in services.values_mut() {
        if let Some(dns) = svc.get_mut("dns").and_then(Node::as_seq_mut) {
            dns.retain(|n| !matches!(&n.value, Value::Null) && n.as_str() != Some(""));
        }
    }
}
