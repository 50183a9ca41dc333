//! The image config document a stage builds up: docker's `config` fields (Env, Cmd, Entrypoint,
//! WorkingDir, User, ExposedPorts, Volumes, Labels, Healthcheck, StopSignal, OnBuild, Shell), the
//! rootfs diff_ids and the history, on top of the base image's document (fields rcompose does
//! not know are kept as they are).

use serde_json::{Map, Value, json};

/// The config document of an image being built.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    doc: Map<String, Value>,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub created: String,
    pub created_by: String,
    /// True when the step added no layer.
    pub empty_layer: bool,
}

const PATH_DEFAULT: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ImageConfig {
    /// `FROM scratch`: no layers, no history, BuildKit's default `PATH`.
    pub fn scratch() -> Self {
        let mut c = ImageConfig::from_document(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [PATH_DEFAULT]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }));
        c.doc.remove("created");
        c
    }

    /// The config document of a base image (as stored).
    pub fn from_document(doc: Value) -> Self {
        let mut doc = match doc {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if !doc.get("config").is_some_and(Value::is_object) {
            doc.insert("config".into(), json!({}));
        }
        ImageConfig { doc }
    }

    fn cfg(&self) -> Option<&Map<String, Value>> {
        self.doc.get("config").and_then(Value::as_object)
    }

    fn cfg_mut(&mut self) -> &mut Map<String, Value> {
        let v = self
            .doc
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m,
            _ => unreachable!("just made an object"),
        }
    }

    fn strings(&self, key: &str) -> Option<Vec<String>> {
        let arr = self.cfg()?.get(key)?.as_array()?;
        Some(
            arr.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    }

    fn string(&self, key: &str) -> String {
        self.cfg()
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn set(&mut self, key: &str, v: Value) {
        self.cfg_mut().insert(key.to_string(), v);
    }

    /// `Env` as (name, value) pairs, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.strings("Env")
            .unwrap_or_default()
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect()
    }

    /// Set (or replace in place) one environment variable.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(k, _)| k == name) {
            Some(e) => e.1 = value.to_string(),
            None => env.push((name.to_string(), value.to_string())),
        }
        let list: Vec<Value> = env
            .into_iter()
            .map(|(k, v)| Value::String(format!("{k}={v}")))
            .collect();
        self.set("Env", Value::Array(list));
    }

    pub fn cmd(&self) -> Option<Vec<String>> {
        self.strings("Cmd")
    }

    pub fn set_cmd(&mut self, cmd: Option<Vec<String>>) {
        self.set("Cmd", cmd.map_or(Value::Null, |c| json!(c)));
    }

    pub fn entrypoint(&self) -> Option<Vec<String>> {
        self.strings("Entrypoint")
    }

    pub fn set_entrypoint(&mut self, ep: Vec<String>) {
        self.set("Entrypoint", json!(ep));
    }

    /// `WorkingDir`; empty means `/`.
    pub fn working_dir(&self) -> String {
        self.string("WorkingDir")
    }

    pub fn set_working_dir(&mut self, dir: &str) {
        self.set("WorkingDir", json!(dir));
    }

    pub fn user(&self) -> String {
        self.string("User")
    }

    pub fn set_user(&mut self, user: &str) {
        self.set("User", json!(user));
    }

    fn add_to_set(&mut self, key: &str, item: &str) {
        let cfg = self.cfg_mut();
        let entry = cfg
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(m) = entry {
            m.insert(item.to_string(), json!({}));
        }
    }

    /// Add `80/tcp` style port keys.
    pub fn expose(&mut self, port: &str) {
        self.add_to_set("ExposedPorts", port);
    }

    pub fn add_volume(&mut self, path: &str) {
        self.add_to_set("Volumes", path);
    }

    pub fn set_label(&mut self, key: &str, value: &str) {
        let cfg = self.cfg_mut();
        let entry = cfg
            .entry("Labels".to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(m) = entry {
            m.insert(key.to_string(), json!(value));
        }
    }

    pub fn set_stop_signal(&mut self, sig: &str) {
        self.set("StopSignal", json!(sig));
    }

    /// `Healthcheck` in docker's form (durations in nanoseconds; `None`: `["NONE"]`).
    pub fn set_healthcheck(&mut self, hc: Value) {
        self.set("Healthcheck", hc);
    }

    pub fn on_build(&self) -> Vec<String> {
        self.strings("OnBuild").unwrap_or_default()
    }

    pub fn add_on_build(&mut self, trigger: &str) {
        let mut all = self.on_build();
        all.push(trigger.to_string());
        self.set("OnBuild", json!(all));
    }

    /// Triggers run by a child build are not inherited further.
    pub fn clear_on_build(&mut self) {
        self.cfg_mut().remove("OnBuild");
    }

    pub fn shell(&self) -> Option<Vec<String>> {
        self.strings("Shell")
    }

    pub fn set_shell(&mut self, shell: &[String]) {
        self.set("Shell", json!(shell));
    }

    pub fn set_author(&mut self, author: &str) {
        self.doc.insert("author".into(), json!(author));
    }

    /// The `config` object as oci-spec sees it (for the RUN containers).
    pub fn oci_config(&self) -> oci_spec::image::ImageConfiguration {
        serde_json::from_value(Value::Object(self.doc.clone())).unwrap_or_default()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.doc
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Append a layer to `rootfs.diff_ids`.
    pub fn push_layer(&mut self, diff_id: &str) {
        let mut ids = self.diff_ids();
        ids.push(diff_id.to_string());
        self.doc
            .insert("rootfs".into(), json!({"type": "layers", "diff_ids": ids}));
    }

    pub fn push_history(&mut self, h: &History) {
        let mut entry = json!({
            "created": h.created,
            "created_by": h.created_by,
            "comment": "buildkit.dockerfile.v0",
        });
        if h.empty_layer
            && let Value::Object(m) = &mut entry
        {
            m.insert("empty_layer".into(), json!(true));
        }
        match self.doc.get_mut("history") {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                self.doc.insert("history".into(), json!([entry]));
            }
        }
    }

    /// The time of the newest history entry (the image's `created`).
    fn newest_history(&self) -> Option<String> {
        self.doc
            .get("history")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|h| h.get("created").and_then(Value::as_str))
            .max()
            .map(str::to_string)
    }

    /// The final document: `created` is the newest history time (stable across cached builds),
    /// platform amd64/linux.
    pub fn finish(mut self) -> Value {
        if let Some(t) = self.newest_history() {
            self.doc.insert("created".into(), json!(t));
        }
        self.doc.insert("architecture".into(), json!("amd64"));
        self.doc.insert("os".into(), json!("linux"));
        // Docker drops these when building (they describe the build container, not the image).
        for k in [
            "container",
            "container_config",
            "docker_version",
            "id",
            "parent",
        ] {
            self.doc.remove(k);
        }
        Value::Object(self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_replaces_in_place() {
        let mut c = ImageConfig::scratch();
        c.set_env("A", "1");
        c.set_env("PATH", "/bin");
        c.set_env("A", "2");
        assert_eq!(
            c.env(),
            vec![("PATH".into(), "/bin".into()), ("A".into(), "2".into())]
        );
    }

    #[test]
    fn base_fields_are_kept_and_build_fields_dropped() {
        let base = json!({
            "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
            "container": "abc", "variant": "x",
            "config": {"Cmd": ["sh"], "Custom": 1},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "base"}],
        });
        let mut c = ImageConfig::from_document(base);
        c.set_label("k", "v");
        c.expose("80/tcp");
        c.add_volume("/data");
        c.push_layer("sha256:bb");
        c.push_history(&History {
            created: "2021-05-05T00:00:00Z".into(),
            created_by: "COPY x /x # buildkit".into(),
            empty_layer: false,
        });
        let doc = c.finish();
        assert_eq!(doc["created"], "2021-05-05T00:00:00Z");
        assert_eq!(doc["variant"], "x");
        assert!(doc.get("container").is_none());
        assert_eq!(doc["config"]["Custom"], 1);
        assert_eq!(doc["config"]["Labels"]["k"], "v");
        assert_eq!(doc["config"]["ExposedPorts"]["80/tcp"], json!({}));
        assert_eq!(doc["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert_eq!(doc["history"][1]["created_by"], "COPY x /x # buildkit");
        assert!(doc["history"][1].get("empty_layer").is_none());
    }
}
