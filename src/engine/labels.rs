//! docker compose's `com.docker.compose.*` labels: their keys, the label sets docker compose v2.40.3
//! writes on containers, networks and volumes, container names, and the reverse reading of a
//! container's labels ([`ContainerLabels`]), which is how the engine finds a project's containers.
//!
//! Checked against docker compose v2.40.3 on dockerd 20.10 (`docker inspect` of what it created):
//! * containers: `project`, `service`, `container-number` (not on one-offs), `oneoff` (`False` /
//!   `True`), `slug` (one-offs), `config-hash`, `image` (the image ID `sha256:…`), `depends_on`
//!   (`db:service_healthy:true,cache:service_started:false`, i.e. `name:condition:restart`, empty
//!   when none), `project.working_dir`, `project.config_files` (comma-joined),
//!   `project.environment_file` (only with `--env-file`: absolute paths, comma-joined), `version`;
//!   `replace` (`<service>-<n>` or `container_name`) on a container created to replace another.
//!   Compose labels override the service's own `labels` of the same key.
//! * networks: `network` (the Compose key), `project`, `version`, `config-hash`, plus `labels:`.
//! * volumes: `volume` (the Compose key), `project`, `version`, `config-hash`, plus `labels:`.
//!
//! docker compose orders `depends_on` by Go map iteration (random); we sort by service name.
//! `version` carries rcompose's own version: the key is kept so tools that look for it find it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::compose::model::{Condition, ServiceConfig, config_hash};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const SLUG: &str = "com.docker.compose.slug";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const IMAGE: &str = "com.docker.compose.image";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const REPLACE: &str = "com.docker.compose.replace";

/// The value of the `version` label.
pub const VERSION_VALUE: &str = env!("CARGO_PKG_VERSION");

/// docker compose's name separator (`api.Separator`).
const SEPARATOR: &str = "-";

/// What every container of a project is labelled with, whatever its service.
#[derive(Debug, Clone, Copy)]
pub struct ProjectLabels<'a> {
    pub project: &'a str,
    pub working_dir: &'a Path,
    pub config_files: &'a [PathBuf],
    /// Files given with `--env-file` (absolute); not the implicit `.env`, which is not labelled.
    pub env_files: &'a [PathBuf],
}

/// Which container of a service the labels are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// Replica `n` (1-based) of the service.
    Replica(u32),
    /// A `run` container with its 64-hex slug.
    OneOff { slug: &'a str },
}

/// `<project>-<service>-<number>`.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}{SEPARATOR}{service}{SEPARATOR}{number}")
}

/// `<project>-<service>-run-<first 12 characters of the slug>`.
pub fn oneoff_name(project: &str, service: &str, slug: &str) -> String {
    let short: String = slug.chars().take(12).collect();
    format!("{project}{SEPARATOR}{service}{SEPARATOR}run{SEPARATOR}{short}")
}

/// A new one-off slug: 64 random hex characters, like docker's `stringid.GenerateRandomID`.
pub fn new_slug() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `replace` label a container recreated in place of replica `number` carries: docker compose
/// names the old container by `container_name`, else `<service>-<number>` (no project prefix).
pub fn replace_label(service: &ServiceConfig, number: u32) -> (String, String) {
    let replaced = if service.container_name.is_empty() {
        format!("{}{SEPARATOR}{number}", service.name)
    } else {
        service.container_name.clone()
    };
    (REPLACE.to_string(), replaced)
}

/// `depends_on` as docker compose labels it: `name:condition:restart`, comma-joined.
pub fn depends_on_value(service: &ServiceConfig) -> String {
    let mut deps: Vec<String> = service
        .depends_on
        .iter()
        .map(|(name, d)| format!("{name}:{}:{}", condition_str(d.condition), d.restart))
        .collect();
    deps.sort();
    deps.join(",")
}

fn condition_str(c: Condition) -> &'static str {
    match c {
        Condition::ServiceStarted => "service_started",
        Condition::ServiceHealthy => "service_healthy",
        Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    let parts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    parts.join(",")
}

/// The labels of a service container: the service's `labels`, then docker compose's on top.
/// The config hash is the hash of `service` as given (a one-off's service already has the
/// changes `run` makes to it).
pub fn container_labels(
    p: &ProjectLabels,
    service: &ServiceConfig,
    role: Role,
    image_id: &str,
) -> BTreeMap<String, String> {
    let mut labels = service.labels.0.clone();
    let mut set = |k: &str, v: String| {
        labels.insert(k.to_string(), v);
    };
    set(PROJECT, p.project.to_string());
    set(SERVICE, service.name.clone());
    set(VERSION, VERSION_VALUE.to_string());
    set(WORKING_DIR, p.working_dir.display().to_string());
    set(CONFIG_FILES, join_paths(p.config_files));
    if !p.env_files.is_empty() {
        set(ENVIRONMENT_FILE, join_paths(p.env_files));
    }
    set(IMAGE, image_id.to_string());
    set(CONFIG_HASH, config_hash(service));
    set(DEPENDS_ON, depends_on_value(service));
    match role {
        Role::Replica(n) => {
            set(ONEOFF, "False".to_string());
            set(CONTAINER_NUMBER, n.to_string());
        }
        Role::OneOff { slug } => {
            set(ONEOFF, "True".to_string());
            set(SLUG, slug.to_string());
        }
    }
    labels
}

/// Labels of a project network: its `labels:`, then `network`, `project`, `version` and the
/// network's config hash.
pub fn network_labels(
    project: &str,
    key: &str,
    user: &BTreeMap<String, String>,
    hash: &str,
) -> BTreeMap<String, String> {
    resource_labels(NETWORK, project, key, user, hash)
}

/// Labels of a project volume, like [`network_labels`] with `volume`.
pub fn volume_labels(
    project: &str,
    key: &str,
    user: &BTreeMap<String, String>,
    hash: &str,
) -> BTreeMap<String, String> {
    resource_labels(VOLUME, project, key, user, hash)
}

fn resource_labels(
    kind_label: &str,
    project: &str,
    key: &str,
    user: &BTreeMap<String, String>,
    hash: &str,
) -> BTreeMap<String, String> {
    let mut labels = user.clone();
    labels.insert(kind_label.to_string(), key.to_string());
    labels.insert(PROJECT.to_string(), project.to_string());
    labels.insert(VERSION.to_string(), VERSION_VALUE.to_string());
    labels.insert(CONFIG_HASH.to_string(), hash.to_string());
    labels
}

/// One `depends_on` label entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDependency {
    pub service: String,
    /// As written (`service_healthy`, …).
    pub condition: String,
    pub restart: bool,
}

/// What a compose container's labels say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLabels {
    pub project: String,
    pub service: String,
    /// `None` for one-offs.
    pub number: Option<u32>,
    pub oneoff: bool,
    pub slug: Option<String>,
    pub config_hash: String,
    pub image_id: Option<String>,
    pub depends_on: Vec<LabelDependency>,
    pub working_dir: Option<PathBuf>,
    pub config_files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub version: Option<String>,
    /// Set on a container created to replace another (the old one's short name).
    pub replace: Option<String>,
}

impl ContainerLabels {
    /// `None` unless the container has the project, service and config-hash labels (docker
    /// compose only lists containers with a config hash as the project's).
    pub fn parse(labels: &BTreeMap<String, String>) -> Option<ContainerLabels> {
        let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
        let list = |k: &str| -> Vec<PathBuf> {
            get(k)
                .map(|v| v.split(',').map(PathBuf::from).collect())
                .unwrap_or_default()
        };
        Some(ContainerLabels {
            project: get(PROJECT)?,
            service: get(SERVICE)?,
            config_hash: labels.get(CONFIG_HASH)?.clone(),
            number: labels.get(CONTAINER_NUMBER).and_then(|n| n.parse().ok()),
            oneoff: labels.get(ONEOFF).is_some_and(|v| v == "True"),
            slug: get(SLUG),
            image_id: get(IMAGE),
            depends_on: get(DEPENDS_ON)
                .map(|v| v.split(',').filter_map(parse_dependency).collect())
                .unwrap_or_default(),
            working_dir: get(WORKING_DIR).map(PathBuf::from),
            config_files: list(CONFIG_FILES),
            env_files: list(ENVIRONMENT_FILE),
            version: get(VERSION),
            replace: get(REPLACE),
        })
    }
}

fn parse_dependency(entry: &str) -> Option<LabelDependency> {
    let mut parts = entry.splitn(3, ':');
    let service = parts.next().filter(|s| !s.is_empty())?.to_string();
    let condition = parts.next().unwrap_or("service_started").to_string();
    let restart = parts.next() == Some("true");
    Some(LabelDependency {
        service,
        condition,
        restart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;

    fn project(yaml: &str) -> Project {
        serde_norway::from_str(yaml).unwrap()
    }

    fn meta<'a>(files: &'a [PathBuf], env_files: &'a [PathBuf]) -> ProjectLabels<'a> {
        ProjectLabels {
            project: "speclab",
            working_dir: Path::new("/tmp/spec-lab/p1"),
            config_files: files,
            env_files,
        }
    }

    const WEB: &str = r#"
services:
  web:
    image: lab/busybox:1
    labels: {com.docker.compose.project: spoofed, team: a}
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
"#;

    /// The labels docker compose v2.40.3 put on `speclab-web-1` (minus the image's own labels,
    /// which dockerd merges in, and `version`, which is ours).
    #[test]
    fn replica_labels_match_docker_compose() {
        let p = project(WEB);
        let files = [PathBuf::from("/tmp/spec-lab/p1/compose.yaml")];
        let id = "sha256:646eb33b9859217829d1d51603f6a6bcf37b97feb69faf1c6b22421972e675ed";
        let labels = container_labels(&meta(&files, &[]), &p.services["web"], Role::Replica(1), id);
        let want: BTreeMap<String, String> = [
            (CONFIG_HASH, config_hash(&p.services["web"]).as_str()),
            (CONTAINER_NUMBER, "1"),
            (
                DEPENDS_ON,
                "cache:service_started:false,db:service_healthy:true",
            ),
            (IMAGE, id),
            (ONEOFF, "False"),
            (PROJECT, "speclab"),
            (CONFIG_FILES, "/tmp/spec-lab/p1/compose.yaml"),
            (WORKING_DIR, "/tmp/spec-lab/p1"),
            (SERVICE, "web"),
            (VERSION, VERSION_VALUE),
            ("team", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, want);
    }

    #[test]
    fn oneoff_labels_have_a_slug_and_no_number() {
        let p = project("services: {cache: {image: x}}");
        let env = [PathBuf::from("/p/my.env"), PathBuf::from("/p/b.env")];
        let slug = "c30cee8719cc08786efd5c1281f35ab139e73ac7c0877b0f35a4192fe60bb522";
        let labels = container_labels(
            &meta(&[], &env),
            &p.services["cache"],
            Role::OneOff { slug },
            "sha256:1",
        );
        assert_eq!(labels[ONEOFF], "True");
        assert_eq!(labels[SLUG], slug);
        assert_eq!(labels[DEPENDS_ON], "");
        assert_eq!(labels[ENVIRONMENT_FILE], "/p/my.env,/p/b.env");
        assert!(!labels.contains_key(CONTAINER_NUMBER));
        assert_eq!(
            oneoff_name("speclab", "cache", slug),
            "speclab-cache-run-c30cee8719cc"
        );
    }

    #[test]
    fn names() {
        assert_eq!(container_name("speclab", "web", 2), "speclab-web-2");
        let slug = new_slug().unwrap();
        assert_eq!(slug.len(), 64);
        assert!(slug.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(slug, new_slug().unwrap());
        let p = project("services: {web: {image: x}, db: {image: x, container_name: pg}}");
        assert_eq!(
            replace_label(&p.services["web"], 3),
            (REPLACE.to_string(), "web-3".to_string())
        );
        assert_eq!(replace_label(&p.services["db"], 1).1, "pg");
    }

    /// `docker network inspect speclab_back`'s labels, for `labels: {net: lbl}`.
    #[test]
    fn network_and_volume_labels() {
        let user = BTreeMap::from([("net".to_string(), "lbl".to_string())]);
        let l = network_labels("speclab", "back", &user, "d259");
        assert_eq!(
            l.keys().collect::<Vec<_>>(),
            [CONFIG_HASH, NETWORK, PROJECT, VERSION, "net"]
        );
        assert_eq!(
            (l[NETWORK].as_str(), l[CONFIG_HASH].as_str()),
            ("back", "d259")
        );
        let v = volume_labels("speclab", "dbdata", &BTreeMap::new(), "3b1e");
        assert_eq!(v[VOLUME], "dbdata");
        assert_eq!(v[PROJECT], "speclab");
    }

    #[test]
    fn container_labels_read_back() {
        let p = project(WEB);
        let files = [PathBuf::from("/w/a.yaml"), PathBuf::from("/w/b.yaml")];
        let mut labels = container_labels(
            &meta(&files, &[]),
            &p.services["web"],
            Role::Replica(2),
            "sha256:abc",
        );
        labels.insert(REPLACE.into(), "web-2".into());
        let parsed = ContainerLabels::parse(&labels).unwrap();
        assert_eq!(parsed.project, "speclab");
        assert_eq!(parsed.service, "web");
        assert_eq!(parsed.number, Some(2));
        assert!(!parsed.oneoff);
        assert_eq!(parsed.config_hash, config_hash(&p.services["web"]));
        assert_eq!(parsed.image_id.as_deref(), Some("sha256:abc"));
        assert_eq!(parsed.config_files, files);
        assert!(parsed.env_files.is_empty());
        assert_eq!(parsed.replace.as_deref(), Some("web-2"));
        assert_eq!(
            parsed.depends_on[1],
            LabelDependency {
                service: "db".into(),
                condition: "service_healthy".into(),
                restart: true
            }
        );
    }

    #[test]
    fn non_compose_containers_are_not_parsed() {
        let mut labels = BTreeMap::from([(PROJECT.to_string(), "p".to_string())]);
        assert_eq!(ContainerLabels::parse(&labels), None);
        labels.insert(SERVICE.into(), "web".into());
        assert_eq!(ContainerLabels::parse(&labels), None, "no config hash");
        labels.insert(CONFIG_HASH.into(), "h".into());
        let c = ContainerLabels::parse(&labels).unwrap();
        assert_eq!((c.number, c.oneoff, c.depends_on.len()), (None, false, 0));
    }
}
