//! `label_file`: labels read from files, folded into each service's `labels` (docker compose
//! `config` prints the result and drops `label_file`). Files use the `.env` syntax; a label
//! declared in `labels` wins over the same label from a file, and a later file wins over an
//! earlier one.

use std::path::Path;

use indexmap::IndexMap;

use super::dotenv;
use super::environment::{Environment, environment_entries};
use super::error::LoadError;
use super::node::{Map, Node, Value};

/// Resolves every service's `label_file` (paths are already absolute after normalization).
pub fn resolve_service_label_files(
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
        let Some(files) = svc.shift_remove("label_file") else {
            continue;
        };
        let mut labels: IndexMap<String, String> = IndexMap::new();
        for file in files.as_seq().into_iter().flatten() {
            if let Some(path) = file.as_str() {
                labels.extend(read_label_file(Path::new(path), project_env)?);
            }
        }
        let declared = environment_entries(svc.get("labels"));
        labels.extend(
            declared
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default())),
        );
        write_labels(svc, labels);
    }
    Ok(())
}

fn read_label_file(path: &Path, project_env: &Environment) -> Result<Environment, LoadError> {
    let content = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            LoadError::invalid(format!("label file {} not found", path.display()))
        }
        _ => LoadError::io(path, e),
    })?;
    let lookup = |k: &str| project_env.get(k).cloned();
    dotenv::parse(&content, &lookup).map_err(|e| LoadError::EnvFile {
        file: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })
}

fn write_labels(svc: &mut Map, labels: IndexMap<String, String>) {
    if labels.is_empty() {
        return;
    }
    let loc = svc.get("labels").and_then(|n| n.loc.clone());
    let map: Map = labels
        .into_iter()
        .map(|(k, v)| (k, Node::string(v)))
        .collect();
    svc.insert("labels".into(), Node::at(Value::Map(map), loc));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    #[test]
    fn declared_labels_win_over_files_and_later_files_over_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::write(&one, "a=1\n# comment\nb=from-one\nq=\"quoted value\"\n").unwrap();
        std::fs::write(&two, "b=from-two\nc=${FROM_PROJECT}\nexport d=2\n").unwrap();
        let text = format!(
            "services:\n  s:\n    label_file: [{}, {}]\n    labels: [c=mine]\n",
            one.display(),
            two.display()
        );
        let mut dict = parse_documents(&text, "l.yaml").unwrap().remove(0);
        let project: Environment = [("FROM_PROJECT".to_string(), "p".to_string())].into();
        resolve_service_label_files(&mut dict, &project).unwrap();
        let s = dict.to_json()["services"]["s"].clone();
        assert_eq!(s.get("label_file"), None);
        assert_eq!(
            s["labels"],
            serde_json::json!({"a": "1", "b": "from-two", "q": "quoted value", "c": "mine", "d": "2"})
        );
    }

    #[test]
    fn a_missing_label_file_is_an_error_naming_it() {
        let text = "services:\n  s:\n    label_file: [/nonexistent/labels]\n";
        let mut dict = parse_documents(text, "l.yaml").unwrap().remove(0);
        let err = resolve_service_label_files(&mut dict, &Environment::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("label file /nonexistent/labels not found"),
            "{err}"
        );
    }
}
