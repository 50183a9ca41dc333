//! Arbitrary bytes as the JSON documents `pull` and `load` read: an image index (manifest list,
//! a layout's `index.json`), a manifest, an image config, a docker-save `manifest.json`. Each is
//! parsed and then used the way the store uses it: platform pick, digests, references; a config
//! goes on through a service's container plan and the OCI spec built from it; the bytes are
//! loaded as the `index.json` of an OCI layout and as the `manifest.json` of a docker-save
//! directory. Anything may be refused; nothing may panic.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use rcompose::compose::{Host, LoadSettings, Loaded, ProjectOptions, load_project};
use rcompose::engine::resources::{self, ProjectNetwork, ProjectVolume};
use rcompose::engine::service_spec::{SpecContext, container_plan};
use rcompose::runtime::container::oci::{self, OciInputs};
use rcompose::runtime::container::user::ResolvedUser;
use rcompose::runtime::image::layout::{self, ConfigHead, Index, Manifest};
use rcompose::runtime::image::{Digest, ImageStore, LocalImage, Reference};

/// Services that take from the image what a Compose file leaves unset.
const PROJECT: &str = "services:
  plain:
    image: fuzz
  override:
    image: fuzz
    user: '1000'
    working_dir: /srv
    healthcheck:
      interval: 2s
    volumes: [data:/data]
volumes:
  data: {}
";

struct Fixture {
    scratch: PathBuf,
    loaded: Loaded,
    networks: Vec<ProjectNetwork>,
    volumes: Vec<ProjectVolume>,
}

impl Fixture {
    fn new() -> Self {
        let scratch = std::env::temp_dir().join("rcompose-fuzz-manifest");
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(scratch.join("project")).expect("scratch dir");
        fs::write(scratch.join("project/compose.yaml"), PROJECT).expect("compose.yaml");
        let host = Host {
            cwd: scratch.join("project"),
            env: Default::default(),
            stdin: None,
        };
        let loaded = load_project(&ProjectOptions::default(), &host, &LoadSettings::default())
            .expect("fixture project");
        let networks = resources::networks(&loaded.project, &loaded.name).expect("networks");
        let volumes = resources::volumes(&loaded.project, &loaded.name).expect("volumes");
        Fixture {
            scratch,
            loaded,
            networks,
            volumes,
        }
    }

    fn ctx(&self) -> SpecContext<'_> {
        SpecContext {
            project: &self.loaded.project,
            project_name: &self.loaded.name,
            working_dir: &self.loaded.working_dir,
            config_files: &self.loaded.config_files,
            env_files: &[],
            environment: &self.loaded.environment,
            networks: &self.networks,
            volumes: &self.volumes,
            oneoff: None,
        }
    }
}

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

/// What pull does with a registry's answer.
fn as_registry_documents(data: &[u8]) {
    let _ = layout::sniff_manifest_media_type(data);
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        if let Some(d) = layout::pick_platform(&index) {
            let _ = d.digest();
        }
        for d in &index.manifests {
            let _ = d.digest();
            for v in d.annotations.values() {
                let _ = Reference::parse(v);
            }
        }
    }
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        let _ = m.config.digest();
        for l in &m.layers {
            let _ = (l.digest(), layout::is_manifest_media_type(&l.media_type));
        }
    }
    if let Ok(head) = serde_json::from_slice::<ConfigHead>(data) {
        for d in &head.rootfs.diff_ids {
            let _ = Digest::parse(d);
        }
    }
}

/// An image config on its way into a container's OCI spec.
fn as_image_config(f: &Fixture, data: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(config) = serde_json::from_value(raw.clone()) else {
        return;
    };
    let image = LocalImage {
        id: Digest::of(data),
        manifest_digest: Digest::of(b"manifest"),
        references: Vec::new(),
        config,
        layer_dirs: vec!["/layers/base".into()],
        diff_ids: Vec::new(),
        size: 0,
        created: None,
        last_pulled: None,
        last_tagged: None,
    };
    let ctx = f.ctx();
    for service in f.loaded.project.services.values() {
        let Ok(plan) = container_plan(&ctx, service, 1, &image, Some(&raw)) else {
            continue;
        };
        let spec = plan.spec;
        let _ = (spec.effective_stop_signal(), spec.effective_env());
        let _ = oci::parse_signal(&spec.effective_stop_signal());
        let image_volumes: Vec<(String, PathBuf)> = spec
            .image
            .config()
            .as_ref()
            .and_then(|c| c.volumes().clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t, PathBuf::from("/volumes/anon")))
            .collect();
        let sources: Vec<Option<PathBuf>> = spec
            .mounts
            .iter()
            .map(|_| Some(PathBuf::from("/volumes/v")))
            .collect();
        let user = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        };
        let _ = oci::build_spec(
            &spec,
            &OciInputs {
                id: "0123456789abcdef",
                rootfs: Path::new("/rootfs"),
                user: &user,
                volume_sources: &sources,
                etc_files: &[],
                cgroup_parent: "fuzz",
                image_volumes: &image_volumes,
            },
        );
    }
}

/// `load` of a layout whose `index.json` is the input, and of a docker-save directory whose
/// `manifest.json` is, each into an empty store (so runs do not depend on each other).
fn as_load_input(f: &Fixture, data: &[u8]) {
    for (dir, file) in [("oci", "index.json"), ("docker", "manifest.json")] {
        let store_dir = f.scratch.join("store");
        let _ = fs::remove_dir_all(&store_dir);
        let store = ImageStore::open(&store_dir).expect("store");
        let dir = f.scratch.join(dir);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        fs::write(dir.join(file), data).expect("document");
        let _ = store.load(&dir);
    }
}

fuzz_target!(|data: &[u8]| {
    as_registry_documents(data);
    FIXTURE.with(|f| {
        as_image_config(f, data);
        as_load_input(f, data);
    });
});
