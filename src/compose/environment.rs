//! The variables a project sees, and how they are layered. For interpolation the shell wins over
//! `.env`/`--env-file` files (later files win over earlier ones); for a container,
//! `environment:` wins over `env_file:`, which wins over the image. Reading env files goes
//! through [`super::dotenv`].

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::dotenv;
use super::error::LoadError;
use super::node::{Map, Node, Value};

/// Variables by name, in the order they were defined.
pub type Environment = IndexMap<String, String>;

/// Reads env files in order; a later file overrides an earlier one. `${VAR}` inside a file sees
/// `current` first, then what earlier files defined.
pub fn read_env_files(current: &Environment, files: &[PathBuf]) -> Result<Environment, LoadError> {
    let mut read = Environment::new();
    for file in files {
        let content = read_env_file(file)?;
        let lookup = |k: &str| current.get(k).or_else(|| read.get(k)).cloned();
        let vars = dotenv::parse(&content, &lookup).map_err(|e| env_error(file, e))?;
        read.extend(vars);
    }
    Ok(read)
}

fn read_env_file(file: &Path) -> Result<String, LoadError> {
    if file.is_dir() {
        return Err(LoadError::invalid(format!(
            "{} is a directory, not an env file",
            file.display()
        )));
    }
    std::fs::read_to_string(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            LoadError::invalid(format!("couldn't find env file: {}", file.display()))
        }
        _ => LoadError::io(file, e),
    })
}

fn env_error(file: &Path, e: dotenv::DotenvError) -> LoadError {
    LoadError::EnvFile {
        file: file.to_path_buf(),
        line: e.line,
        message: e.message,
    }
}

/// Adds `extra` to `env` where `env` does not already define a name (the shell wins).
pub fn add_missing(env: &mut Environment, extra: Environment) {
    for (k, v) in extra {
        env.entry(k).or_insert(v);
    }
}

/// Folds each service's `env_file` entries into its `environment` (docker compose `config`
/// prints the result and drops `env_file`). `project_env` resolves `${VAR}` inside the files.
pub fn resolve_service_env_files(
    dict: &mut Node,
    project_env: &Environment,
) -> Result<(), LoadError> {
    let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) else {
        return Ok(());
    };
    for service in services.values_mut() {
        let Some(svc) = service.as_map_mut() else {
            continue;
        };
        let env_files = svc.shift_remove("env_file");
        let mut declared = environment_entries(svc.get("environment"));
        for (k, v) in declared.iter_mut() {
            if v.is_none() {
                *v = project_env.get(k).cloned();
            }
        }
        let Some(files) = env_files else {
            write_environment(svc, declared);
            continue;
        };
        let mut from_files: Environment = declared
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        for entry in files.as_seq().into_iter().flatten() {
            load_service_env_file(entry, &mut from_files, project_env, &declared)?;
        }
        let mut merged: IndexMap<String, Option<String>> =
            from_files.into_iter().map(|(k, v)| (k, Some(v))).collect();
        merged.extend(declared);
        write_environment(svc, merged);
    }
    Ok(())
}

fn load_service_env_file(
    entry: &Node,
    into: &mut Environment,
    project_env: &Environment,
    declared: &IndexMap<String, Option<String>>,
) -> Result<(), LoadError> {
    let Some(path) = entry.get("path").and_then(Node::as_str) else {
        return Ok(());
    };
    let required = !matches!(
        entry.get("required").map(|n| &n.value),
        Some(Value::Bool(false))
    );
    let raw = entry.get("format").and_then(Node::as_str) == Some("raw");
    let file = PathBuf::from(path);
    if !file.exists() {
        if required {
            return Err(LoadError::at(
                Some(entry),
                &super::node::KeyPath::root(),
                format!("env file {} not found", file.display()),
            ));
        }
        return Ok(());
    }
    let content = read_env_file(&file)?;
    let vars = if raw {
        dotenv::parse_raw(&content)
    } else {
        let lookup = |k: &str| {
            project_env
                .get(k)
                .cloned()
                .or_else(|| declared.get(k).cloned().flatten())
                .or_else(|| into.get(k).cloned())
        };
        dotenv::parse(&content, &lookup)
    }
    .map_err(|e| env_error(&file, e))?;
    into.extend(vars);
    Ok(())
}

/// `environment` as ordered name → optional value, from its list or mapping form.
pub fn environment_entries(node: Option<&Node>) -> IndexMap<String, Option<String>> {
    let mut out = IndexMap::new();
    match node.map(|n| &n.value) {
        Some(Value::Map(m)) => {
            for (k, v) in m {
                out.insert(k.clone(), v.scalar_text());
            }
        }
        Some(Value::Seq(items)) => {
            for item in items {
                let Some(text) = item.scalar_text() else {
                    continue;
                };
                match text.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(text, None),
                };
            }
        }
        _ => {}
    }
    out
}

fn write_environment(svc: &mut Map, entries: IndexMap<String, Option<String>>) {
    if entries.is_empty() {
        return;
    }
    let loc = svc.get("environment").and_then(|n| n.loc.clone());
    let map: Map = entries
        .into_iter()
        .map(|(k, v)| (k, v.map_or_else(Node::null, Node::string)))
        .collect();
    svc.insert("environment".into(), Node::at(Value::Map(map), loc));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    #[test]
    fn environment_wins_over_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let env_path = dir.path().join("a.env");
        std::fs::write(&env_path, "A=file\nB=file\nC=${FROM_PROJECT}\n").unwrap();
        let text = format!(
            "services:\n  s:\n    env_file: [{{path: {}, required: true}}]\n    environment: {{A: mine, D: null}}\n",
            env_path.display()
        );
        let mut dict = parse_documents(&text, "e.yaml").unwrap().remove(0);
        let mut project = Environment::new();
        project.insert("FROM_PROJECT".into(), "p".into());
        project.insert("D".into(), "shell".into());
        resolve_service_env_files(&mut dict, &project).unwrap();
        let env = dict.to_json()["services"]["s"]["environment"].clone();
        assert_eq!(
            env,
            serde_json::json!({"A": "mine", "B": "file", "C": "p", "D": "shell"})
        );
        assert!(dict.to_json()["services"]["s"].get("env_file").is_none());
    }

    #[test]
    fn missing_optional_env_file_is_fine_required_is_not() {
        let text = "services:\n  s:\n    env_file: [{path: /nonexistent/x.env, required: false}]\n";
        let mut dict = parse_documents(text, "e.yaml").unwrap().remove(0);
        resolve_service_env_files(&mut dict, &Environment::new()).unwrap();
        let text = "services:\n  s:\n    env_file: [{path: /nonexistent/x.env, required: true}]\n";
        let mut dict = parse_documents(text, "e.yaml").unwrap().remove(0);
        let err = resolve_service_env_files(&mut dict, &Environment::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("env file /nonexistent/x.env not found"),
            "{err}"
        );
    }
}
