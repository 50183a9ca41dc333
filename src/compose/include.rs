//! `include`: another Compose application loaded on its own (its own project directory, its own
//! `.env` or `env_file`) and its resources copied into this one. A resource defined on both
//! sides is an error unless both definitions are equal, as in docker compose v2.40.

use std::path::{Path, PathBuf};

use super::environment::{add_missing, read_env_files};
use super::error::LoadError;
use super::loader::{ConfigDetails, ConfigFile, Loader, load_yaml_model};
use super::node::{KeyPath, Map, Node, Value};
use super::paths::{PathResolver, clean};

pub fn apply_include(
    loader: &Loader,
    doc: &mut Node,
    included: &[PathBuf],
) -> Result<(), LoadError> {
    let Some(map) = doc.as_map_mut() else {
        return Ok(());
    };
    let Some(entries) = map.shift_remove("include") else {
        return Ok(());
    };
    let Some(items) = entries.as_seq() else {
        return Err(LoadError::at(
            Some(&entries),
            &KeyPath::root().key("include"),
            "expected a list",
        ));
    };
    for (i, entry) in items.iter().enumerate() {
        let path = KeyPath::root().key("include").index(i);
        let imported = load_included(loader, entry, &path, included)?;
        import_resources(imported, doc, entry, &path)?;
    }
    Ok(())
}

fn strings(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.value) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
        _ => Vec::new(),
    }
}

fn load_included(
    loader: &Loader,
    entry: &Node,
    path: &KeyPath,
    included: &[PathBuf],
) -> Result<Node, LoadError> {
    let resolver = PathResolver {
        working_dir: loader.working_dir,
        home: loader.opts.home.as_deref(),
    };
    let files: Vec<PathBuf> = match &entry.value {
        Value::String(s) => vec![s.clone()],
        _ => strings(entry.get("path")),
    }
    .iter()
    .map(|f| PathBuf::from(resolver.absolute(f)))
    .collect();
    let Some(main) = files.first() else {
        return Err(LoadError::at(Some(entry), path, "include needs a path"));
    };
    if included.contains(main) {
        let mut chain: Vec<String> = included.iter().map(|p| p.display().to_string()).collect();
        chain.push(main.display().to_string());
        return Err(LoadError::at(
            Some(entry),
            path,
            format!(
                "include cycle detected:\n{}\n include {}",
                chain[0],
                chain[1..].join("\n include ")
            ),
        ));
    }
    let project_dir = match entry.get("project_directory").and_then(Node::as_str) {
        Some(dir) => PathBuf::from(resolver.absolute(dir)),
        None => main.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let env_files = include_env_files(entry, &project_dir, loader.working_dir)?;
    let mut environment = loader.env.clone();
    let from_files = read_env_files(loader.env, &env_files)?;
    add_missing(&mut environment, from_files);
    let details = ConfigDetails {
        working_dir: clean(&project_dir),
        files: files
            .iter()
            .map(|f| ConfigFile::read(f))
            .collect::<Result<_, _>>()?,
        environment,
    };
    load_yaml_model(&details, loader.opts, included)
}

/// The include's `env_file` list, or the included project's `.env` when it has none.
fn include_env_files(
    entry: &Node,
    project_dir: &Path,
    working_dir: &Path,
) -> Result<Vec<PathBuf>, LoadError> {
    let declared = strings(entry.get("env_file"));
    if declared.is_empty() {
        let dotenv = project_dir.join(".env");
        return Ok(if dotenv.is_file() {
            vec![dotenv]
        } else {
            Vec::new()
        });
    }
    let mut files = Vec::new();
    for f in declared.iter().filter(|f| f.as_str() != "/dev/null") {
        let p = working_dir.join(f);
        if !p.is_file() {
            return Err(LoadError::at(
                Some(entry),
                &KeyPath::root().key("include"),
                format!("env file {} not found", p.display()),
            ));
        }
        files.push(p);
    }
    Ok(files)
}

fn import_resources(
    imported: Node,
    doc: &mut Node,
    entry: &Node,
    path: &KeyPath,
) -> Result<(), LoadError> {
    let Value::Map(source) = imported.value else {
        return Ok(());
    };
    let Some(target) = doc.as_map_mut() else {
        return Ok(());
    };
    for kind in [
        "services", "volumes", "networks", "secrets", "configs", "models",
    ] {
        let Some(from) = source.get(kind).and_then(Node::as_map) else {
            continue;
        };
        let to = target
            .entry(kind.to_string())
            .or_insert_with(|| Node::map(Map::new()));
        let Some(to) = to.as_map_mut() else { continue };
        for (name, resource) in from {
            match to.get(name) {
                None => {
                    to.insert(name.clone(), resource.clone());
                }
                Some(existing) if existing == resource => {}
                Some(_) => {
                    return Err(LoadError::at(
                        Some(entry),
                        path,
                        format!("{kind}.{name} conflicts with imported resource"),
                    ));
                }
            }
        }
    }
    Ok(())
}
