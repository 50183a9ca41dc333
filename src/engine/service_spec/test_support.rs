//! Test fixtures: a Compose file loaded from a temp dir with the real loader, its resources, a
//! [`SpecContext`] over them, and a [`LocalImage`] built from an image config.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{OneOff, SpecContext};
use crate::compose::{Host, LoadSettings, Loaded, ProjectOptions, load_project};
use crate::engine::resources::{self, ProjectNetwork, ProjectVolume};
use crate::runtime::image::{Digest, LocalImage};

/// `yaml` written to `compose.yaml` in a new temp dir and loaded as `rcompose` would.
pub(crate) fn load(yaml: &str) -> (TempDir, Loaded) {
    load_with_env(yaml, &[])
}

fn load_with_env(yaml: &str, env: &[(&str, &str)]) -> (TempDir, Loaded) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
    let host = Host {
        cwd: dir.path().to_path_buf(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stdin: None,
    };
    let loaded = load_project(&ProjectOptions::default(), &host, &LoadSettings::default())
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    (dir, loaded)
}

/// A loaded project with everything a [`SpecContext`] borrows.
pub(crate) struct Fixture {
    pub dir: TempDir,
    pub loaded: Loaded,
    pub networks: Vec<ProjectNetwork>,
    pub volumes: Vec<ProjectVolume>,
    pub env_files: Vec<PathBuf>,
    pub oneoff: Option<OneOff>,
}

impl Fixture {
    pub fn new(yaml: &str) -> Self {
        Self::with_env(yaml, &[])
    }

    pub fn with_env(yaml: &str, env: &[(&str, &str)]) -> Self {
        let (dir, loaded) = load_with_env(yaml, env);
        let networks = resources::networks(&loaded.project, &loaded.name).unwrap();
        let volumes = resources::volumes(&loaded.project, &loaded.name).unwrap();
        Fixture {
            dir,
            loaded,
            networks,
            volumes,
            env_files: Vec::new(),
            oneoff: None,
        }
    }

    pub fn ctx(&self) -> SpecContext<'_> {
        SpecContext {
            project: &self.loaded.project,
            project_name: &self.loaded.name,
            working_dir: &self.loaded.working_dir,
            config_files: &self.loaded.config_files,
            env_files: &self.env_files,
            environment: &self.loaded.environment,
            networks: &self.networks,
            volumes: &self.volumes,
            oneoff: self.oneoff.as_ref(),
        }
    }
}

/// The lab busybox image's ID.
pub(crate) const IMAGE_ID: &str =
    "sha256:646eb33b9859217829d1d51603f6a6bcf37b97feb69faf1c6b22421972e675ed";

/// An image with this config (`Cmd`, `Entrypoint`, ... under `config`).
pub(crate) fn image(config: serde_json::Value) -> LocalImage {
    let full = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []}
    });
    LocalImage {
        id: Digest::parse(IMAGE_ID).unwrap(),
        manifest_digest: Digest::of(b"manifest"),
        references: Vec::new(),
        config: serde_json::from_value(full).unwrap(),
        layer_dirs: vec!["/layers/base".into(), "/layers/top".into()],
        diff_ids: Vec::new(),
        size: 0,
        created: None,
        last_pulled: None,
        last_tagged: None,
    }
}

/// The lab busybox image: `Cmd: ["sh"]`, a `PATH`.
pub(crate) fn busybox() -> LocalImage {
    image(serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
        "WorkingDir": "/"
    }))
}
