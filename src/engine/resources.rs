//! A project's networks and volumes as the runtime needs them: full names, labels (with docker
//! compose's config hashes, so a changed definition can be detected), and the network settings the
//! runtime's IPv4 bridges can honour. What they cannot honour (another driver, IPv6, several
//! subnets, driver options other than the MTU, ...) is a [`ResourceError`] naming the resource.
//!
//! Like docker compose's `up` (compose-go `WithoutUnnecessaryResources`), only the networks and
//! volumes the project's services use are returned; the loader has already dropped the services
//! that are not selected, so "used" means used by a selected service or one of its dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::labels;
use crate::compose::model::{
    IpamConfig, NetworkConfig, Project, VolumeConfig, VolumeType, go_json_escape,
};
use crate::runtime::network::{Ipv4Net, NetworkSpec};

/// The docker driver option carrying a bridge's MTU.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// A network definition the runtime cannot create as written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    #[error("network {network:?}: {reason}")]
    Network { network: String, reason: String },
    #[error("volume {volume:?}: {reason}")]
    Volume { volume: String, reason: String },
}

/// One network of the project.
#[derive(Debug, Clone)]
pub struct ProjectNetwork {
    /// The key under `networks:`.
    pub key: String,
    /// The full name: `name:`, else `<project>_<key>` (the key itself when external).
    pub name: String,
    /// Must exist already; never created nor removed.
    pub external: bool,
    /// What to create (for an external network only `name` is set).
    pub spec: NetworkSpec,
}

/// Where a volume's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A directory the runtime manages (`<state_root>/volumes/<name>/_data`).
    Local,
    /// `driver_opts: {type: none, o: bind, device: PATH}`: the data is the host directory `device`.
    Bind { device: PathBuf },
}

/// One volume of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectVolume {
    pub key: String,
    pub name: String,
    pub external: bool,
    /// The volume's `labels:` plus docker compose's (none for an external volume).
    pub labels: BTreeMap<String, String>,
    pub source: VolumeSource,
}

/// `sha256(json.Marshal(network))`: docker compose's `NetworkHash`.
pub fn network_hash(network: &NetworkConfig) -> String {
    sha256_json(network)
}

/// docker compose's `VolumeHash`: the driver counts as `local` when unset.
pub fn volume_hash(volume: &VolumeConfig) -> String {
    let mut v = volume.clone();
    if v.driver.is_empty() {
        v.driver = "local".into();
    }
    sha256_json(&v)
}

fn sha256_json<T: serde::Serialize>(value: &T) -> String {
    // Plain data with string keys: serializing cannot fail.
    let json = serde_json::to_string(value).unwrap_or_default();
    let digest = Sha256::digest(go_json_escape(&json).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The full name of a resource: its `name:` (set by the loader), else the default.
fn full_name(project_name: &str, key: &str, name: &str, external: bool) -> String {
    match (name.is_empty(), external) {
        (false, _) => name.to_string(),
        (true, true) => key.to_string(),
        (true, false) => format!("{project_name}_{key}"),
    }
}

/// The networks the project's services use, in declaration order.
pub fn networks(
    project: &Project,
    project_name: &str,
) -> Result<Vec<ProjectNetwork>, ResourceError> {
    let used: BTreeSet<&str> = project
        .services
        .values()
        .flat_map(|s| s.networks.keys().map(String::as_str))
        .collect();
    project
        .networks
        .iter()
        .filter(|(key, _)| used.contains(key.as_str()))
        .map(|(key, cfg)| project_network(project_name, key, cfg))
        .collect()
}

fn project_network(
    project_name: &str,
    key: &str,
    cfg: &NetworkConfig,
) -> Result<ProjectNetwork, ResourceError> {
    let name = full_name(project_name, key, &cfg.name, cfg.external);
    let mut spec = NetworkSpec {
        name: name.clone(),
        ..NetworkSpec::default()
    };
    if !cfg.external {
        let err = |reason: String| ResourceError::Network {
            network: key.to_string(),
            reason,
        };
        check_network(cfg).map_err(err)?;
        apply_ipam(&cfg.ipam, &mut spec).map_err(err)?;
        spec.mtu = mtu(cfg).map_err(err)?;
        spec.internal = cfg.internal;
        let mut named = cfg.clone();
        named.name.clone_from(&name);
        spec.labels =
            labels::network_labels(project_name, key, &cfg.labels.0, &network_hash(&named));
    }
    Ok(ProjectNetwork {
        key: key.to_string(),
        name,
        external: cfg.external,
        spec,
    })
}

/// What an IPv4 Linux bridge cannot be.
fn check_network(cfg: &NetworkConfig) -> Result<(), String> {
    if !matches!(cfg.driver.as_str(), "" | "bridge") {
        return Err(format!(
            "driver {:?} is not supported: rcompose networks are Linux bridges",
            cfg.driver
        ));
    }
    if cfg.enable_ipv6 == Some(true) {
        return Err("enable_ipv6 is not supported: rcompose networks are IPv4 only".into());
    }
    if cfg.enable_ipv4 == Some(false) {
        return Err("enable_ipv4: false is not supported: rcompose networks are IPv4".into());
    }
    if !matches!(cfg.ipam.driver.as_str(), "" | "default") {
        return Err(format!(
            "ipam driver {:?} is not supported",
            cfg.ipam.driver
        ));
    }
    if let Some(k) = cfg.ipam.options.0.keys().next() {
        return Err(format!("ipam option {k:?} is not supported"));
    }
    Ok(())
}

/// Subnet, gateway and IP range from the one IPv4 pool rcompose supports.
fn apply_ipam(ipam: &IpamConfig, spec: &mut NetworkSpec) -> Result<(), String> {
    if ipam.config.len() > 1 {
        return Err("several ipam pools are not supported: give one IPv4 subnet".into());
    }
    let Some(pool) = ipam.config.first() else {
        return Ok(());
    };
    if pool.subnet.contains(':') {
        return Err(format!(
            "IPv6 subnet {:?} is not supported: rcompose networks are IPv4 only",
            pool.subnet
        ));
    }
    if !pool.auxiliary_addresses.is_empty() {
        return Err("ipam aux_addresses are not supported".into());
    }
    if pool.subnet.is_empty() && !(pool.gateway.is_empty() && pool.ip_range.is_empty()) {
        return Err("ipam gateway and ip_range need a subnet".into());
    }
    let net = |what: &str, s: &str| -> Result<Option<Ipv4Net>, String> {
        (!s.is_empty())
            .then(|| s.parse().map_err(|e| format!("invalid {what} {s:?}: {e}")))
            .transpose()
    };
    spec.subnet = net("subnet", &pool.subnet)?;
    spec.ip_range = net("ip_range", &pool.ip_range)?;
    spec.gateway = (!pool.gateway.is_empty())
        .then(|| {
            pool.gateway
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("invalid IPv4 gateway {:?}", pool.gateway))
        })
        .transpose()?;
    Ok(())
}

/// The MTU driver option; any other driver option cannot be honoured.
fn mtu(cfg: &NetworkConfig) -> Result<Option<u32>, String> {
    let mut mtu = None;
    for (k, v) in &cfg.driver_opts.0 {
        if k != MTU_OPTION {
            return Err(format!("driver option {k:?} is not supported"));
        }
        let n: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("invalid MTU {v:?}: expected a number"))?;
        mtu = Some(n);
    }
    Ok(mtu)
}

/// The named volumes the project's services mount, in declaration order.
pub fn volumes(project: &Project, project_name: &str) -> Result<Vec<ProjectVolume>, ResourceError> {
    let used: BTreeSet<&str> = project
        .services
        .values()
        .flat_map(|s| &s.volumes)
        .filter(|v| v.kind == VolumeType::Volume && !v.source.is_empty())
        .map(|v| v.source.as_str())
        .collect();
    project
        .volumes
        .iter()
        .filter(|(key, _)| used.contains(key.as_str()))
        .map(|(key, cfg)| project_volume(project_name, key, cfg))
        .collect()
}

fn project_volume(
    project_name: &str,
    key: &str,
    cfg: &VolumeConfig,
) -> Result<ProjectVolume, ResourceError> {
    let name = full_name(project_name, key, &cfg.name, cfg.external);
    let mut volume = ProjectVolume {
        key: key.to_string(),
        name: name.clone(),
        external: cfg.external,
        labels: BTreeMap::new(),
        source: VolumeSource::Local,
    };
    if cfg.external {
        return Ok(volume);
    }
    if !matches!(cfg.driver.as_str(), "" | "local") {
        return Err(ResourceError::Volume {
            volume: key.to_string(),
            reason: format!(
                "driver {:?} is not supported: only local volumes",
                cfg.driver
            ),
        });
    }
    volume.source = volume_source(&cfg.driver_opts.0).map_err(|reason| ResourceError::Volume {
        volume: key.to_string(),
        reason,
    })?;
    let mut named = cfg.clone();
    named.name = name;
    volume.labels = labels::volume_labels(project_name, key, &cfg.labels.0, &volume_hash(&named));
    Ok(volume)
}

/// `local` driver options: none, or exactly a bind of an absolute host directory.
fn volume_source(opts: &BTreeMap<String, String>) -> Result<VolumeSource, String> {
    if opts.is_empty() {
        return Ok(VolumeSource::Local);
    }
    let unsupported = || {
        format!(
            "driver_opts {opts:?} are not supported: only {{type: none, o: bind, device: PATH}}"
        )
    };
    let get = |k: &str| opts.get(k).map(String::as_str);
    let bind = get("o").is_some_and(|o| matches!(o, "bind" | "rbind"));
    if opts.len() != 3 || get("type") != Some("none") || !bind {
        return Err(unsupported());
    }
    let device = PathBuf::from(get("device").ok_or_else(unsupported)?);
    if !device.is_absolute() {
        return Err(format!(
            "device {:?} must be an absolute path",
            device.display()
        ));
    }
    Ok(VolumeSource::Bind { device })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::service_spec::test_support::load;

    /// The project of the lab check (`/tmp/spec-lab/p1`): docker compose v2.40.3 created
    /// `speclab_back`, `speclab_front`, `speclab_default` and `speclab_dbdata` with these hashes.
    const LAB: &str = r#"
name: speclab
services:
  db:
    image: lab/busybox:1
    volumes: [dbdata:/data, /anon]
    networks: {back: {}, front: {}}
  web:
    image: lab/busybox:1
volumes:
  dbdata:
    labels: {mine: "yes"}
  unused: {}
networks:
  back:
    ipam:
      config: [{subnet: 172.31.99.0/24, gateway: 172.31.99.254}]
    driver_opts: {com.docker.network.driver.mtu: "1400"}
    labels: {net: lbl}
  front: {}
  unusednet: {}
"#;

    #[test]
    fn only_used_networks_with_docker_compose_names_and_hashes() {
        let (_dir, loaded) = load(LAB);
        let nets = networks(&loaded.project, "speclab").unwrap();
        let names: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["speclab_back", "speclab_front", "speclab_default"]);
        let back = &nets[0].spec;
        assert_eq!(back.subnet, Some("172.31.99.0/24".parse().unwrap()));
        assert_eq!(back.gateway, Some(Ipv4Addr::new(172, 31, 99, 254)));
        assert_eq!(back.mtu, Some(1400));
        assert_eq!(back.labels["net"], "lbl");
        assert_eq!(back.labels[labels::NETWORK], "back");
        assert_eq!(back.labels[labels::PROJECT], "speclab");
        assert_eq!(
            back.labels[labels::CONFIG_HASH],
            "d2594d1fb4394a645cd3f1bd9091e680ce3726c6c713370362666a15a0add34e"
        );
        assert_eq!(
            nets[2].spec.labels[labels::CONFIG_HASH],
            "7d6afaab007c2d0fd3fdf78994b708e546fc3e68dd76caabf0b98bd0bcdb6193"
        );
    }

    #[test]
    fn only_used_volumes_with_docker_compose_labels() {
        let (_dir, loaded) = load(LAB);
        let vols = volumes(&loaded.project, "speclab").unwrap();
        assert_eq!(vols.len(), 1);
        let v = &vols[0];
        assert_eq!(
            (v.key.as_str(), v.name.as_str()),
            ("dbdata", "speclab_dbdata")
        );
        assert_eq!(v.source, VolumeSource::Local);
        assert_eq!(v.labels["mine"], "yes");
        assert_eq!(v.labels[labels::VOLUME], "dbdata");
        assert_eq!(
            v.labels[labels::CONFIG_HASH],
            "3b1e7660a27de06256b7ba5b845573cd18180d2aba93b9a6367e4419436b8583"
        );
    }

    #[test]
    fn external_and_named_resources() {
        let (_dir, loaded) = load(
            r#"
name: demo
services:
  app:
    image: x
    networks: [shared, custom]
    volumes: [ext:/a, named:/b]
networks:
  shared: {external: true}
  custom: {name: my-net, internal: true}
volumes:
  ext: {external: true, name: real-volume}
  named: {name: data}
"#,
        );
        let nets = networks(&loaded.project, "demo").unwrap();
        assert_eq!((nets[0].name.as_str(), nets[0].external), ("shared", true));
        assert!(nets[0].spec.labels.is_empty());
        assert_eq!(nets[1].name, "my-net");
        assert!(nets[1].spec.internal);
        let vols = volumes(&loaded.project, "demo").unwrap();
        assert_eq!(
            (vols[0].name.as_str(), vols[0].external),
            ("real-volume", true)
        );
        assert!(vols[0].labels.is_empty());
        assert_eq!(vols[1].name, "data");
    }

    #[test]
    fn bind_volumes() {
        let (_dir, loaded) = load(
            r#"
services: {app: {image: x, volumes: [logs:/logs]}}
volumes:
  logs:
    driver_opts: {type: none, o: bind, device: /srv/logs}
"#,
        );
        let vols = volumes(&loaded.project, "p").unwrap();
        assert_eq!(
            vols[0].source,
            VolumeSource::Bind {
                device: "/srv/logs".into()
            }
        );
    }

    fn network_error(def: &str) -> String {
        let yaml =
            format!("services: {{app: {{image: x, networks: [n]}}}}\nnetworks:\n  n: {def}\n");
        let (_dir, loaded) = load(&yaml);
        networks(&loaded.project, "p").unwrap_err().to_string()
    }

    #[test]
    fn networks_the_runtime_cannot_create() {
        let cases = [
            ("{driver: overlay}", "driver \"overlay\" is not supported"),
            ("{enable_ipv6: true}", "enable_ipv6 is not supported"),
            (
                "{ipam: {config: [{subnet: 'fd00::/64'}]}}",
                "IPv6 subnet \"fd00::/64\" is not supported",
            ),
            (
                "{ipam: {config: [{subnet: 10.1.0.0/16}, {subnet: 10.2.0.0/16}]}}",
                "several ipam pools",
            ),
            (
                "{driver_opts: {com.docker.network.bridge.name: br9}}",
                "driver option \"com.docker.network.bridge.name\" is not supported",
            ),
            ("{ipam: {driver: dhcp}}", "ipam driver \"dhcp\""),
            (
                "{ipam: {config: [{subnet: 10.1.0.0/33}]}}",
                "invalid subnet",
            ),
        ];
        for (def, want) in cases {
            let e = network_error(def);
            assert!(e.starts_with("network \"n\": "), "{e}");
            assert!(e.contains(want), "{def}: {e}");
        }
    }

    #[test]
    fn volumes_the_runtime_cannot_create() {
        for (def, want) in [
            ("{driver: nfs}", "driver \"nfs\" is not supported"),
            (
                "{driver_opts: {type: nfs, o: addr=1.2.3.4, device: ':/x'}}",
                "driver_opts",
            ),
            (
                "{driver_opts: {type: none, o: bind, device: rel}}",
                "absolute",
            ),
        ] {
            let yaml = format!(
                "services: {{app: {{image: x, volumes: ['vol:/v']}}}}\nvolumes:\n  vol: {def}\n"
            );
            let (_dir, loaded) = load(&yaml);
            let e = volumes(&loaded.project, "p").unwrap_err().to_string();
            assert!(
                e.starts_with("volume \"vol\": ") && e.contains(want),
                "{def}: {e}"
            );
        }
    }
}
