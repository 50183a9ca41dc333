//! Relative paths made absolute against the directory they were written relative to: build
//! contexts, bind mount sources, env files, secret and config files, watch paths, `extends.file`
//! and include paths. `~` expands to the user's home, as docker compose does.

use std::path::{Component, Path, PathBuf};

use super::node::{KeyPath, Node, Value};

/// What relative paths resolve against.
pub struct PathResolver<'a> {
    pub working_dir: &'a Path,
    pub home: Option<&'a str>,
}

impl PathResolver<'_> {
    /// Resolves every path-valued place under the project tree `node`.
    pub fn resolve(&self, node: &mut Node, path: &KeyPath) {
        if let Some(kind) = path_kind(path) {
            self.resolve_value(node, kind);
            return;
        }
        match &mut node.value {
            Value::Map(map) => {
                for (k, v) in map.iter_mut() {
                    self.resolve(v, &path.key(k));
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    self.resolve(v, &path.index(i));
                }
            }
            _ => {}
        }
    }

    fn resolve_value(&self, node: &mut Node, kind: Kind) {
        match kind {
            Kind::Plain => self.resolve_string(node),
            Kind::Context => {
                if node.as_str().is_some_and(|s| !is_remote_context(s)) {
                    self.resolve_string(node);
                }
            }
            Kind::Volume => {
                if node.get("type").and_then(Node::as_str) == Some("bind") {
                    if let Some(source) = node.get_mut("source") {
                        self.resolve_string(source);
                    }
                }
            }
            Kind::DriverOpts => {
                let bind = node.get("driver").and_then(Node::as_str) == Some("local")
                    && node
                        .get("driver_opts")
                        .and_then(|o| o.get("o"))
                        .and_then(Node::as_str)
                        == Some("bind");
                if let Some(device) = node
                    .get_mut("driver_opts")
                    .and_then(|o| o.get_mut("device"))
                    .filter(|_| bind)
                {
                    self.resolve_string(device);
                }
            }
        }
    }

    fn resolve_string(&self, node: &mut Node) {
        match &mut node.value {
            Value::String(s) if !s.is_empty() => *s = self.absolute(s),
            Value::Seq(items) => items.iter_mut().for_each(|i| self.resolve_string(i)),
            _ => {}
        }
    }

    /// `s` made absolute: `~` expanded, relative paths joined to the working dir and cleaned.
    pub fn absolute(&self, s: &str) -> String {
        let expanded = expand_user(s, self.home);
        let p = Path::new(&expanded);
        if p.is_absolute() {
            // Go's filepath.IsAbs path is returned as written (a trailing `/` stays).
            return expanded;
        }
        clean(&self.working_dir.join(p))
            .to_string_lossy()
            .into_owned()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Context,
    Volume,
    DriverOpts,
}

fn path_kind(path: &KeyPath) -> Option<Kind> {
    let table: &[(&str, Kind)] = &[
        ("services.*.build.context", Kind::Context),
        ("services.*.build.additional_contexts.*", Kind::Context),
        ("services.*.build.ssh.*", Kind::Plain),
        ("services.*.env_file.*.path", Kind::Plain),
        ("services.*.label_file.*", Kind::Plain),
        ("services.*.extends.file", Kind::Plain),
        ("services.*.develop.watch.*.path", Kind::Plain),
        ("services.*.volumes.*", Kind::Volume),
        ("configs.*.file", Kind::Plain),
        ("secrets.*.file", Kind::Plain),
        ("include.*.path", Kind::Plain),
        ("include.*.project_directory", Kind::Plain),
        ("include.*.env_file", Kind::Plain),
        ("volumes.*", Kind::DriverOpts),
    ];
    table.iter().find(|(p, _)| path.matches(p)).map(|(_, k)| *k)
}

/// Git URLs, HTTP URLs and `service:`/`docker-image://` references are not local paths.
fn is_remote_context(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("service:")
        || [
            "https://",
            "http://",
            "git://",
            "ssh://",
            "github.com/",
            "git@",
        ]
        .iter()
        .any(|p| s.starts_with(p))
}

pub fn expand_user(s: &str, home: Option<&str>) -> String {
    match (s.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => s.to_string(),
    }
}

/// Lexical cleaning like Go's `filepath.Clean` (no symlink resolution).
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !p.is_absolute() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    #[test]
    fn resolves_known_places() {
        let mut n = parse_documents(
            "services:\n  a:\n    build: {context: ./app}\n    volumes:\n      - {type: bind, source: ../data, target: /d}\n      - {type: volume, source: v, target: /v}\n    env_file: [{path: x.env}]\nsecrets: {s: {file: ~/secret}}\n",
            "p.yaml",
        )
        .unwrap()
        .remove(0);
        let r = PathResolver {
            working_dir: Path::new("/proj/sub"),
            home: Some("/home/me"),
        };
        r.resolve(&mut n, &KeyPath::root());
        let j = n.to_json();
        assert_eq!(j["services"]["a"]["build"]["context"], "/proj/sub/app");
        assert_eq!(j["services"]["a"]["volumes"][0]["source"], "/proj/data");
        assert_eq!(j["services"]["a"]["volumes"][1]["source"], "v");
        assert_eq!(j["services"]["a"]["env_file"][0]["path"], "/proj/sub/x.env");
        assert_eq!(j["secrets"]["s"]["file"], "/home/me/secret");
    }

    #[test]
    fn remote_contexts_untouched() {
        let r = PathResolver {
            working_dir: Path::new("/p"),
            home: None,
        };
        let mut n = parse_documents(
            "services: {a: {build: {context: 'https://github.com/x/y.git'}}}",
            "r.yaml",
        )
        .unwrap()
        .remove(0);
        r.resolve(&mut n, &KeyPath::root());
        assert_eq!(
            n.to_json()["services"]["a"]["build"]["context"],
            "https://github.com/x/y.git"
        );
    }
}
