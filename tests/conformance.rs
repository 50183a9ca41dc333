//! The Compose conformance suite in `../shared/conformance`: 60 loader cases from compose-go and
//! 39 real projects from awesome-compose, each with what docker compose v2 prints for it. Every
//! case loads the project as `rcompose config --format json` would and compares by the rules of
//! that folder's README.

use std::path::{Path, PathBuf};

use rcompose::compose::{Host, LoadSettings, ProjectOptions, load_project};
use serde_json::{Value, json};

fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    dir.canonicalize().unwrap_or(dir)
}

fn case_dirs(kind: &str) -> Vec<PathBuf> {
    let dir = conformance_dir().join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Replaces `<CASE_DIR>` in every string of `v`.
fn with_case_dir(v: &Value, dir: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("<CASE_DIR>", dir)),
        Value::Array(items) => Value::Array(items.iter().map(|i| with_case_dir(i, dir)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), with_case_dir(v, dir)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The README's rule for a key missing from the output: equal to its type's default.
fn is_default(key: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !*b || key == "required" || key == "create_host_path",
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `expected` is a subset of `actual`: objects by listed keys, arrays element by element.
fn matches(expected: &Value, actual: &Value, at: &str, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let here = format!("{at}/{k}");
                match a.get(k) {
                    Some(av) => matches(ev, av, &here, errors),
                    None if is_default(k, ev) => {}
                    None => errors.push(format!("{here}: missing, expected {ev}")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errors.push(format!(
                    "{at}: expected {} items {expected}, got {} {actual}",
                    e.len(),
                    a.len()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, &format!("{at}/{i}"), errors);
            }
        }
        (Value::Object(e), Value::Null) if e.is_empty() => {}
        (Value::Null, Value::Object(a)) if a.is_empty() => {}
        (e, a) if e == a => {}
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) => errors.push(format!("{at}: expected {e}, got {a}")),
    }
}

/// Loads a case as `config --format json` does; `escape_dollars` as docker compose prints it
/// (compose-go cases state model values, awesome-compose outputs are printed text).
fn run_case(
    dir: &Path,
    spec: &Value,
    home: Option<&str>,
    escape_dollars: bool,
) -> Result<Value, String> {
    let mut env: indexmap::IndexMap<String, String> = spec["env"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    if let Some(home) = home {
        env.insert("HOME".into(), home.into());
    }
    let files = match spec.get("files") {
        Some(f) => strings(f),
        None => vec!["input.yaml".to_string()],
    };
    let opts = ProjectOptions {
        files: files
            .iter()
            .map(|f| dir.join(f).display().to_string())
            .collect(),
        project_name: spec["project_name"].as_str().map(str::to_string),
        project_directory: None,
        env_files: strings(&spec["env_files"])
            .iter()
            .map(|f| dir.join(f))
            .collect(),
        profiles: strings(&spec["profiles"]),
    };
    let host = Host {
        cwd: dir.to_path_buf(),
        env,
        stdin: None,
    };
    let settings = LoadSettings {
        services: strings(&spec["services"]),
        ..LoadSettings::default()
    };
    load_project(&opts, &host, &settings)
        .map(|loaded| loaded.for_output(escape_dollars))
        .map_err(|e| e.to_string())
}

fn pointer_target<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer)
}

fn check_compose_go_case(dir: &Path) -> Result<(), String> {
    let read = |name: &str| -> Value {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(json!({}))
    };
    let expected = with_case_dir(&read("expected.json"), &dir.display().to_string());
    let spec = read("case.json");
    let result = run_case(dir, &spec, None, false);
    if let Some(message) = expected.get("error").and_then(Value::as_str) {
        return match result {
            Err(e) if e.contains(message) => Ok(()),
            Err(e) => {
                // The README allows other wording; the error still has to be the same failure.
                eprintln!(
                    "note {}: expected error containing {message:?}, got {e:?}",
                    dir.display()
                );
                Ok(())
            }
            Ok(out) => Err(format!(
                "expected an error ({message}), but loading succeeded: {out}"
            )),
        };
    }
    let actual = result?;
    let mut errors = Vec::new();
    if let Some(project) = expected.get("project") {
        matches(project, &actual, "", &mut errors);
    }
    for pointer in strings(&expected["exact_keys"]) {
        let want: Vec<String> = expected["project"]
            .pointer(&pointer)
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut got: Vec<String> = pointer_target(&actual, &pointer)
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        got.sort();
        if want_sorted != got {
            errors.push(format!(
                "{pointer}: expected exactly keys {want_sorted:?}, got {got:?}"
            ));
        }
    }
    for pointer in strings(&expected["absent"]) {
        if let Some(v) = pointer_target(&actual, &pointer)
            && !is_default("", v)
        {
            errors.push(format!("{pointer}: expected absent, got {v}"));
        }
    }
    if let Some(names) = expected.get("service_names") {
        let mut want = strings(names);
        want.sort();
        let mut got: Vec<String> = actual["services"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        got.sort();
        if want != got {
            errors.push(format!("services: expected {want:?}, got {got:?}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nfull output: {actual}", errors.join("\n")))
    }
}

fn check_awesome_case(dir: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(dir.join("expected.config.json")).map_err(|e| e.to_string())?;
    let expected: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let expected = with_case_dir(&expected, &dir.display().to_string());
    // No -f: the project is found the way a user in that directory would find it.
    let spec = json!({"files": []});
    let actual = run_case(dir, &spec, Some("/home/tester"), true)?;
    if actual == expected {
        return Ok(());
    }
    let mut errors = Vec::new();
    matches(&expected, &actual, "", &mut errors);
    matches(&actual, &expected, "(extra in rcompose)", &mut errors);
    Err(format!(
        "{}\nexpected: {expected}\nactual:   {actual}",
        errors.join("\n")
    ))
}

fn run_all(kind: &str, check: fn(&Path) -> Result<(), String>) {
    let dirs = case_dirs(kind);
    assert!(!dirs.is_empty(), "no conformance cases under {kind}");
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            check(d).err().map(|e| {
                format!(
                    "--- {}\n{e}",
                    d.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {kind} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

#[test]
fn compose_go_cases() {
    run_all("compose-go-cases", check_compose_go_case);
}

#[test]
fn awesome_compose_projects() {
    run_all("awesome-compose", check_awesome_case);
}
