//! One container's life as the engine drives it: its persistent network namespace, network
//! attachments and `/etc/hosts`/`resolv.conf`, published ports (withdrawn while stopped), and
//! create / start / stop / remove with progress events. Every step undoes what it did when a
//! later step fails, so a failed `up` leaves nothing half-made behind.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, Result};
use super::images::ServiceImage;
use super::progress::{Event, ResourceKind, Status};
use super::project::ProjectContext;
use super::service_spec::{self, InjectedFile, OneOff, PortRequest, ServiceContainer};
use crate::compose::model::ServiceConfig;
use crate::runtime::container::{self, MountKind, MountSpec, RemoveOptions, Runtime};
use crate::runtime::network::{
    self, HostPort, NetworkMode, PortBinding, Protocol, hosts_file, netns, resolv_conf,
};

/// Label holding the ports to publish on each start (the runtime keeps no port config).
pub const PORTS_LABEL: &str = "io.rcompose.ports";

/// A port request as stored in [`PORTS_LABEL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPort {
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    host: Option<(u16, u16)>,
    container: (u16, u16),
}

impl From<&PortRequest> for StoredPort {
    fn from(p: &PortRequest) -> Self {
        StoredPort {
            protocol: p.protocol,
            host_ip: p.host_ip,
            host: p.host,
            container: p.container,
        }
    }
}

/// Whether the host has IPv6 at all (docker then publishes ports on `::` too).
fn ipv6_available() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|s| !s.trim().is_empty())
}

/// docker's default hostname is the short container id; ours is a short random id, known
/// before the container exists so `/etc/hosts` can name it.
fn random_hostname() -> Result<String> {
    let mut id =
        super::labels::new_slug().map_err(|e| EngineError::io("generate a hostname", e))?;
    id.truncate(12);
    Ok(id)
}

impl Engine {
    fn event(&self, name: &str, status: Status) {
        self.emit(Event::new(ResourceKind::Container, name, status));
    }

    /// Create (not start) container `number` of `service`. Returns its name.
    pub fn create_container(
        &self,
        ctx: &ProjectContext,
        service: &ServiceConfig,
        number: u32,
        image: &ServiceImage,
        oneoff: Option<&OneOff>,
        inherit_volumes: BTreeMap<String, String>,
    ) -> Result<String> {
        let plan = service_spec::container_plan(
            &ctx.spec_context(oneoff),
            service,
            number,
            &image.image,
            image.raw_config.as_ref(),
        )?;
        let mut plan = plan;
        plan.spec.inherit_volumes = inherit_volumes;
        let name = plan.name.clone();
        for w in &plan.warnings {
            self.emit(Event::new(ResourceKind::Container, &name, Status::Warning).with_detail(w));
        }
        self.event(&name, Status::Creating);
        match self.create_planned(ctx, plan, &image.image.id) {
            Ok(()) => {
                self.event(&name, Status::Created);
                Ok(name)
            }
            Err(e) => {
                self.emit(
                    Event::new(ResourceKind::Container, &name, Status::Error)
                        .with_detail(e.to_string()),
                );
                Err(e)
            }
        }
    }

    fn create_planned(
        &self,
        ctx: &ProjectContext,
        plan: ServiceContainer,
        image_id: &crate::runtime::image::ImageId,
    ) -> Result<()> {
        let ServiceContainer {
            name,
            mut spec,
            network_mode,
            attachments,
            ports,
            mut resolv,
            mut hosts,
            host_gateway_hosts,
            files,
            ..
        } = plan;
        // Until the image hold is taken, what is made here has no owner a sweep could see.
        let _creating = self.creating()?;
        let mut owns_netns = false;
        let cleanup = |owns: bool| {
            let _ = self.network.detach(&name, None);
            if owns {
                let _ = netns::remove(&self.netns_path(&name));
            }
        };
        let result = (|| -> Result<()> {
            match &network_mode {
                NetworkMode::Bridge | NetworkMode::None => {
                    let ns = netns::create(&self.netns_path(&name))?;
                    owns_netns = true;
                    if matches!(network_mode, NetworkMode::Bridge) && !attachments.is_empty() {
                        let eps = self.network.attach(&name, &ns, &attachments)?;
                        resolv.gateway = eps.first().map(|e| e.gateway);
                        hosts.addresses = eps.iter().map(|e| e.ipv4).collect();
                        // `host-gateway`: the host as the container sees it, its bridge address.
                        if let Some(gw) = resolv.gateway {
                            hosts.extra_hosts.extend(
                                host_gateway_hosts
                                    .iter()
                                    .map(|h| (h.clone(), IpAddr::V4(gw))),
                            );
                        }
                    }
                    spec.network = container::NetworkMode::Path(ns.path());
                }
                NetworkMode::Host => spec.network = container::NetworkMode::Host,
                NetworkMode::Service(s) => {
                    spec.network = container::NetworkMode::Path(self.service_netns(ctx, s)?)
                }
                NetworkMode::Container(c) => {
                    spec.network = container::NetworkMode::Path(self.container_netns(c)?)
                }
            }
            if hosts.hostname.is_empty() {
                hosts.hostname = random_hostname()?;
            }
            spec.hostname.get_or_insert_with(|| hosts.hostname.clone());
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").ok();
            spec.resolv_conf = Some(resolv_conf(&resolv, host_resolv.as_deref()));
            if !matches!(network_mode, NetworkMode::Host) {
                spec.etc_hosts = Some(hosts_file(&hosts));
            }
            if !ports.is_empty() {
                let stored: Vec<StoredPort> = ports.iter().map(StoredPort::from).collect();
                let json = serde_json::to_string(&stored)
                    .map_err(|e| EngineError::Other(format!("encode ports: {e}")))?;
                spec.labels.insert(PORTS_LABEL.to_string(), json);
            }
            spec.mounts.extend(self.write_injected(ctx, &name, &files)?);
            let id = self.containers.create(&spec)?;
            self.images.hold(image_id, &id)?;
            Ok(())
        })();
        if result.is_err() {
            cleanup(owns_netns);
        }
        result
    }

    /// Secrets and configs with inline or environment content: written under the state root and
    /// bind-mounted read-only at their targets.
    fn write_injected(
        &self,
        ctx: &ProjectContext,
        container: &str,
        files: &[InjectedFile],
    ) -> Result<Vec<MountSpec>> {
        use std::os::unix::fs::{PermissionsExt, chown};
        let dir = self.files_dir(&ctx.name, container);
        let _ = std::fs::remove_dir_all(&dir);
        let mut mounts = Vec::new();
        for (i, f) in files.iter().enumerate() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
            let path = dir.join(i.to_string());
            let io = |e| EngineError::io(format!("write {}", path.display()), e);
            std::fs::write(&path, &f.content).map_err(io)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).map_err(io)?;
            chown(&path, Some(f.uid), Some(f.gid)).map_err(io)?;
            mounts.push(MountSpec {
                target: f.target.clone(),
                kind: MountKind::Bind {
                    source: path,
                    create_host_path: false,
                    propagation: None,
                },
                read_only: true,
            });
        }
        Ok(mounts)
    }

    fn files_dir(&self, project: &str, container: &str) -> PathBuf {
        self.state_root()
            .join("projects")
            .join(project)
            .join("files")
            .join(container)
    }

    /// The netns of the first running container of `service` (`network_mode: service:NAME`).
    fn service_netns(&self, ctx: &ProjectContext, service: &str) -> Result<PathBuf> {
        let running = self
            .project_containers(&ctx.name, false)?
            .into_iter()
            .find(|c| c.service() == service && c.is_running());
        match running {
            Some(c) => self.container_netns(c.name()),
            None => Err(network::NetError::NetworkMode {
                mode: format!("service:{service}"),
                reason: format!("service {service:?} has no running container"),
            }
            .into()),
        }
    }

    fn container_netns(&self, container: &str) -> Result<PathBuf> {
        let info = self.containers.inspect(container)?;
        match info.spec.network {
            container::NetworkMode::Path(p) => Ok(p),
            _ => match info.state.pid {
                Some(pid) => Ok(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                None => Err(network::NetError::NetworkMode {
                    mode: format!("container:{container}"),
                    reason: format!("container {container} is not running"),
                }
                .into()),
            },
        }
    }

    /// The container's address on its first network (the target of its published ports).
    fn container_ip(&self, name: &str) -> Result<Option<Ipv4Addr>> {
        let st = self.network.state()?;
        Ok(st
            .networks
            .values()
            .filter_map(|n| {
                n.endpoints
                    .get(name)
                    .map(|e| (n.name.clone(), e.ifname.clone(), e.ipv4))
            })
            .min_by(|a, b| a.1.cmp(&b.1))
            .map(|(_, _, ip)| ip))
    }

    fn publish_ports(
        &self,
        name: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(json) = labels.get(PORTS_LABEL) else {
            return Ok(());
        };
        let stored: Vec<StoredPort> = serde_json::from_str(json)
            .map_err(|e| EngineError::Other(format!("container {name}: bad {PORTS_LABEL}: {e}")))?;
        let Some(ip) = self.container_ip(name)? else {
            return Ok(());
        };
        let mut bindings = Vec::new();
        for p in &stored {
            bindings.extend(PortBinding::expand_range(
                p.protocol,
                p.host_ip,
                p.host,
                p.container,
                ip,
            )?);
        }
        self.network.unpublish(name)?;
        let published = self.network.publish(name, &bindings)?;
        // Like dockerd, a port without host_ip is also published on IPv6 (`[::]:P`, the same
        // port), when the host has IPv6. Failing there is a warning, not an error.
        if !ipv6_available() {
            return Ok(());
        }
        let v6: Vec<PortBinding> = published
            .iter()
            .zip(&bindings)
            .filter(|(_, b)| b.host_ip.is_none())
            .map(|(p, b)| PortBinding {
                host_ip: Some(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
                host_port: HostPort::Fixed(p.host_port),
                ..b.clone()
            })
            .collect();
        if !v6.is_empty()
            && let Err(e) = self.network.publish(name, &v6)
        {
            self.emit(
                Event::new(ResourceKind::Container, name, Status::Warning)
                    .with_detail(format!("ports not published on IPv6: {e}")),
            );
        }
        Ok(())
    }

    /// Whether the container can start as it is: its network namespace still exists (a reboot
    /// wipes them; such a container is recreated instead).
    pub fn can_start(&self, name: &str) -> Result<bool> {
        let info = self.containers.inspect(name)?;
        Ok(match &info.spec.network {
            container::NetworkMode::Path(p) => p.exists() && netns::is_netns(p),
            _ => true,
        })
    }

    /// Publish the container's ports and start it.
    pub fn start_container(&self, name: &str) -> Result<()> {
        self.event(name, Status::Starting);
        let info = self.containers.inspect(name)?;
        let r = self
            .publish_ports(name, &info.spec.labels)
            .and_then(|()| Ok(self.containers.start(name)?));
        match r {
            Ok(()) => {
                self.event(name, Status::Started);
                Ok(())
            }
            Err(e) => {
                let _ = self.network.unpublish(name);
                self.emit(
                    Event::new(ResourceKind::Container, name, Status::Error)
                        .with_detail(e.to_string()),
                );
                Err(e)
            }
        }
    }

    /// Stop (stop signal, then SIGKILL after `timeout`) and withdraw its ports.
    pub fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        self.event(name, Status::Stopping);
        self.containers.stop(name, timeout)?;
        self.network.unpublish(name)?;
        self.event(name, Status::Stopped);
        Ok(())
    }

    /// Remove a container (killing it if needed) with its network endpoints, netns and ports.
    pub fn remove_container(&self, name: &str, volumes: bool) -> Result<()> {
        self.remove_container_with(name, volumes, true)
    }

    /// [`Engine::remove_container`]; with `detach` false the network endpoints stay for
    /// `remove_network` to sweep with the network (`down`: the kernel then tears the veths
    /// down with the namespace instead of one netlink round trip each under the state lock).
    pub fn remove_container_with(&self, name: &str, volumes: bool, detach: bool) -> Result<()> {
        self.event(name, Status::Removing);
        let info = self.containers.inspect(name)?;
        let project = info.spec.labels.get(super::labels::PROJECT).cloned();
        self.containers.remove(
            name,
            RemoveOptions {
                force: true,
                volumes,
            },
        )?;
        self.network.unpublish(name)?;
        if detach {
            self.network.detach(name, None)?;
        }
        netns::remove(&self.netns_path(name))?;
        if let Some(image) = info.spec.labels.get(super::labels::IMAGE)
            && let Ok(id) = image.parse::<crate::runtime::image::ImageId>()
        {
            let _ = self.images.release(&id, &info.state.id);
        }
        if let Some(p) = project {
            let _ = std::fs::remove_dir_all(self.files_dir(&p, name));
        }
        self.event(name, Status::Removed);
        Ok(())
    }
}
