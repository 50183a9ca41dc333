//! Project networking: Linux bridges with IPAM, veths into container network namespaces, an
//! embedded DNS server for service names, published ports and outbound NAT. Works on any
//! network namespace (a process pid or a netns path), so it needs no container to exist.
//!
//! # Pieces
//! * [`ipam`]: subnets from pools (dockerd's defaults, configurable), free addresses.
//! * [`state`]: allocations persisted under `<state_root>/network/` with a file lock.
//! * [`link`]: bridges and veths over rtnetlink (container end created inside the netns).
//! * [`firewall`]: nftables tables `ip rcompose_nat_<tag>` / `inet rcompose_<tag>` of this
//!   state root, replaced atomically.
//! * [`dns`], [`ports`]: DNS server and port proxies, both run by [`netd`], the one helper
//!   process per state root.
//! * [`files`]: `/etc/resolv.conf` and `/etc/hosts` content; [`mode`]: `network_mode`, `links`.
//! * [`netns`]: persistent (bind-mounted) namespaces that outlive container restarts.
//!
//! # Published ports: DNAT *and* a userland proxy (like dockerd)
//! * nftables DNAT (`prerouting` + `output` for local non-loopback destinations) carries traffic
//!   from other hosts and from the host to its own addresses at kernel speed, and keeps the
//!   client's source address visible to the container.
//! * DNAT cannot serve `127.0.0.1` without `route_localnet` (which exposes loopback services to
//!   the LAN) nor translate IPv6 host addresses to IPv4 containers; the proxy in `netd` binds
//!   `host_ip:port` and does both. Binding also *reserves* the port: no other process can take
//!   it while the project runs, and a second publish fails with a clear error.
//!
//! # State layout
//! * `<state_root>/network/state.json` + `state.lock`: networks (bridge `rc-<hash>` name,
//!   subnet, gateway, endpoints with address, MAC, host veth `rcv<hash>`, DNS names) and ports.
//! * `<run_root>/network/`: `netd.sock`, `netd.pid`, `netd.lock`, `netd.log`; removed when the
//!   last network and port are gone (netd exits then too).
//!
//! # Figures (debug build, 2 vCPUs under load average ~4, `tests/network_e2e.rs` bench)
//! `attach` of one interface (veth + address + routes + state + DNS update): median 5–8 ms
//! (min 2.6 ms); DNS answer from netd: median ~120 µs; `detach` ~20 ms (kernel veth teardown).
//!
//! The API is blocking (it runs short current-thread tokio runtimes inside); from async code
//! call it through `spawn_blocking`.

pub mod dns;
pub mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod mode;
pub mod netd;
pub mod netns;
pub mod ports;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use error::{NetError, Result};
pub use files::{HostsFile, ResolvConf, hosts_file, resolv_conf};
pub use ipam::{Ipv4Net, Pool};
pub use link::Netns;
pub use mode::{NetnsPlan, NetworkMode, link_aliases, netns_plan};
pub use ports::{HostPort, PortBinding, Protocol};

use state::{EndpointRecord, NetworkRecord, PortRecord, State, StateStore};

/// A network to create (Compose `networks.<name>` after normalization).
#[derive(Clone, Debug, Default)]
pub struct NetworkSpec {
    /// Full name, e.g. `myproj_default`.
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    /// No NAT, no default route, only traffic inside the bridge.
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub mtu: Option<u32>,
}

/// What exists for a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    /// The Linux bridge.
    pub ifname: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

impl From<&NetworkRecord> for NetworkInfo {
    fn from(n: &NetworkRecord) -> Self {
        NetworkInfo {
            name: n.name.clone(),
            ifname: n.ifname.clone(),
            subnet: n.subnet,
            gateway: n.gateway,
            internal: n.internal,
            labels: n.labels.clone(),
        }
    }
}

/// One interface to give a container.
#[derive(Clone, Debug, Default)]
pub struct Attachment {
    pub network: String,
    /// Interface name in the container; default the first free `ethN`.
    pub ifname: Option<String>,
    /// Compose `ipv4_address`.
    pub ipv4: Option<Ipv4Addr>,
    /// DNS names on this network (see [`Attachment::service_aliases`]).
    pub aliases: Vec<String>,
    /// Compose `mac_address`; default `02:42:` + the IPv4 address (like dockerd).
    pub mac: Option<[u8; 6]>,
}

impl Attachment {
    /// The names a Compose service container answers to on a network: the service, the
    /// container name, `<service>.<project>`, plus `extra` (network aliases, links).
    pub fn service_aliases(
        project: &str,
        service: &str,
        container_name: &str,
        extra: &[String],
    ) -> Vec<String> {
        let mut v = vec![
            service.to_string(),
            container_name.to_string(),
            format!("{service}.{project}"),
        ];
        for e in extra {
            if !v.contains(e) {
                v.push(e.clone());
            }
        }
        v
    }
}

/// A created interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub ifname: String,
    pub host_ifname: String,
    pub ipv4: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// Whether the default route goes through this interface.
    pub default_route: bool,
}

/// A published port as bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedPort {
    pub protocol: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Entry point of project networking for one state root.
#[derive(Clone, Debug)]
pub struct NetworkManager {
    store: StateStore,
    run_dir: PathBuf,
    pools: Vec<Pool>,
    netd_bin: PathBuf,
}

impl NetworkManager {
    /// Open (create) the state under `<state_root>/network` and the run dir
    /// `<run_root>/network`. netd is this executable (`std::env::current_exe`).
    pub fn open(state_root: &Path, run_root: &Path) -> Result<Self> {
        let store = StateStore::open(state_root)?;
        let netd_bin =
            std::env::current_exe().map_err(|e| NetError::io("locate", "current executable", e))?;
        Ok(NetworkManager {
            store,
            run_dir: run_root.join("network"),
            pools: ipam::default_pools(),
            netd_bin,
        })
    }

    /// Use these address pools instead of dockerd's defaults.
    pub fn with_pools(mut self, pools: Vec<Pool>) -> Self {
        self.pools = pools;
        self
    }

    /// Run netd from this binary (an rcompose executable; tests pass `CARGO_BIN_EXE_rcompose`).
    pub fn with_netd_binary(mut self, bin: impl Into<PathBuf>) -> Self {
        self.netd_bin = bin.into();
        self
    }

    /// The run dir (`<run_root>/network`).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// A snapshot of the persisted state.
    pub fn state(&self) -> Result<State> {
        self.store.load()
    }

    /// The network called `name`, if it exists.
    pub fn network(&self, name: &str) -> Result<Option<NetworkInfo>> {
        Ok(self.store.load()?.networks.get(name).map(NetworkInfo::from))
    }

    fn commit(&self, lock: &state::StateLock, st: &State, firewall: bool) -> Result<()> {
        self.store.save(lock, st)?;
        if firewall {
            firewall::apply(st, &self.firewall_tag())?;
        }
        netd::sync(&self.netd_bin, self.store.dir(), &self.run_dir, st)?;
        self.store.remove_if_empty(lock, st)
    }

    /// Suffix of this state root's nftables tables (see [`firewall::table_names`]).
    pub fn firewall_tag(&self) -> String {
        let h = Sha256::digest(self.store.dir().as_os_str().as_encoded_bytes());
        hex(&h)[..8].to_string()
    }

    /// The Linux bridge name of `network` under this state root (`rc-` + 12 hex digits).
    pub fn bridge_name(&self, network: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.store.dir().as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(network.as_bytes());
        format!("rc-{}", &hex(&h.finalize())[..12])
    }

    /// Create the network (bridge, subnet, NAT, DNS listener) unless it exists; idempotent.
    pub fn ensure_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        if let Some(n) = st.networks.get(&spec.name).cloned() {
            link::ensure_bridge(&n.ifname, n.gateway, n.subnet, n.mtu)?;
            self.commit(&lock, &st, true)?;
            return Ok(NetworkInfo::from(&n));
        }
        let others: Vec<(String, Ipv4Net)> = st
            .networks
            .values()
            .map(|n| (format!("network {}", n.name), n.subnet))
            .chain(
                ipam::host_routes()?
                    .into_iter()
                    .map(|r| (format!("host route {r}"), r)),
            )
            .collect();
        let subnet = match spec.subnet {
            Some(s) => {
                if let Some((what, _)) = others.iter().find(|(_, o)| o.overlaps(&s)) {
                    return Err(NetError::SubnetOverlap {
                        network: spec.name.clone(),
                        subnet: s.to_string(),
                        other: what.clone(),
                    });
                }
                s
            }
            None => {
                let taken: Vec<Ipv4Net> = others.iter().map(|(_, n)| *n).collect();
                ipam::pick_subnet(&spec.name, &self.pools, &taken)?
            }
        };
        if let Some(r) = spec
            .ip_range
            .filter(|r| !subnet.contains(r.network()) || r.prefix() < subnet.prefix())
        {
            return Err(NetError::Invalid {
                what: "ip_range",
                value: r.to_string(),
                reason: format!("not inside subnet {subnet}"),
            });
        }
        let gateway = match spec.gateway {
            Some(g) => {
                ipam::check_static(&spec.name, subnet, g, &BTreeSet::new())?;
                g
            }
            None => subnet.nth(1).ok_or_else(|| NetError::Invalid {
                what: "subnet",
                value: subnet.to_string(),
                reason: "too small".into(),
            })?,
        };
        let rec = NetworkRecord {
            name: spec.name.clone(),
            ifname: self.bridge_name(&spec.name),
            subnet,
            gateway,
            ip_range: spec.ip_range,
            internal: spec.internal,
            mtu: spec.mtu,
            labels: spec.labels.clone(),
            endpoints: BTreeMap::new(),
        };
        st.networks.insert(rec.name.clone(), rec.clone());
        // Recorded before the bridge exists: a kill in between leaves a record whose bridge the
        // next `ensure_network` creates and `remove_network` deletes, never an unrecorded bridge.
        self.store.save(&lock, &st)?;
        let made = link::ensure_bridge(&rec.ifname, gateway, subnet, spec.mtu)
            .and_then(|()| self.commit(&lock, &st, true));
        if let Err(e) = made {
            st.networks.remove(&rec.name);
            let _ = link::delete_link(&rec.ifname);
            let _ = self.commit(&lock, &st, true);
            return Err(e);
        }
        Ok(NetworkInfo::from(&rec))
    }

    /// Apply the persisted state again (firewall tables, netd, empty state files removed): what a
    /// command killed between saving the state and applying it left undone.
    pub fn resync(&self) -> Result<()> {
        let lock = self.store.lock()?;
        let st = self.store.load()?;
        self.commit(&lock, &st, true)
    }

    /// Remove a network: its endpoints' veths, the bridge, its rules, DNS records and state.
    /// Missing networks are not an error.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        let Some(n) = st.networks.remove(name) else {
            return Ok(());
        };
        for ep in n.endpoints.values() {
            link::delete_link(&ep.host_ifname)?;
        }
        link::delete_link(&n.ifname)?;
        self.commit(&lock, &st, true)
    }

    /// Give the container in `ns` one interface per attachment (in order: `eth0`, `eth1`, …).
    /// The default route goes via the first non-internal network's gateway unless the container
    /// already has one from an earlier attach.
    pub fn attach(
        &self,
        container: &str,
        ns: &Netns,
        attachments: &[Attachment],
    ) -> Result<Vec<Endpoint>> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        let mut used_ifnames: BTreeSet<String> = BTreeSet::new();
        let mut has_default = false;
        for n in st.networks.values() {
            if let Some(ep) = n.endpoints.get(container) {
                used_ifnames.insert(ep.ifname.clone());
                has_default |= !n.internal;
            }
        }
        let mut plans = Vec::new();
        let mut endpoints = Vec::new();
        for a in attachments {
            let n = st
                .networks
                .get_mut(&a.network)
                .ok_or_else(|| NetError::NoSuchNetwork(a.network.clone()))?;
            if n.endpoints.contains_key(container) {
                return Err(NetError::Invalid {
                    what: "attachment",
                    value: format!("{container} on {}", a.network),
                    reason: "already attached".into(),
                });
            }
            let mut used: BTreeSet<Ipv4Addr> = n.endpoints.values().map(|e| e.ipv4).collect();
            used.insert(n.gateway);
            let ip = match a.ipv4 {
                Some(ip) => {
                    ipam::check_static(&n.name, n.subnet, ip, &used)?;
                    ip
                }
                None => ipam::pick_address(&n.name, n.subnet, n.ip_range, &used)?,
            };
            let ifname = match &a.ifname {
                Some(i) => i.clone(),
                None => (0..)
                    .map(|k| format!("eth{k}"))
                    .find(|c| !used_ifnames.contains(c))
                    .unwrap_or_else(|| "eth0".into()),
            };
            used_ifnames.insert(ifname.clone());
            let o = ip.octets();
            let mac = a.mac.unwrap_or([0x02, 0x42, o[0], o[1], o[2], o[3]]);
            let mac_s = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            let host_ifname = {
                let mut h = Sha256::new();
                h.update(n.ifname.as_bytes());
                h.update([0]);
                h.update(container.as_bytes());
                format!("rcv{}", &hex(&h.finalize())[..12])
            };
            let default_route = !n.internal && !has_default;
            has_default |= default_route;
            plans.push(link::VethPlan {
                bridge: n.ifname.clone(),
                host_ifname: host_ifname.clone(),
                ifname: ifname.clone(),
                ipv4: ip,
                prefix: n.subnet.prefix(),
                mac,
                mtu: n.mtu,
                default_gateway: default_route.then_some(n.gateway),
            });
            n.endpoints.insert(
                container.to_string(),
                EndpointRecord {
                    container: container.to_string(),
                    ifname: ifname.clone(),
                    host_ifname: host_ifname.clone(),
                    ipv4: ip,
                    mac: mac_s.clone(),
                    aliases: a.aliases.clone(),
                },
            );
            endpoints.push(Endpoint {
                network: n.name.clone(),
                ifname,
                host_ifname,
                ipv4: ip,
                prefix: n.subnet.prefix(),
                gateway: n.gateway,
                mac: mac_s,
                default_route,
            });
        }
        if let Err(e) = link::plumb(ns, &plans) {
            for p in &plans {
                let _ = link::delete_link(&p.host_ifname);
            }
            return Err(e);
        }
        if let Err(e) = self.commit(&lock, &st, false) {
            for p in &plans {
                let _ = link::delete_link(&p.host_ifname);
            }
            return Err(e);
        }
        Ok(endpoints)
    }

    /// Remove the container's interfaces (all networks, or only `networks`) and its DNS names.
    pub fn detach(&self, container: &str, networks: Option<&[String]>) -> Result<()> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        let mut changed = false;
        for n in st.networks.values_mut() {
            if networks.is_some_and(|only| !only.contains(&n.name)) {
                continue;
            }
            if let Some(ep) = n.endpoints.remove(container) {
                link::delete_link(&ep.host_ifname)?;
                changed = true;
            }
        }
        if changed {
            self.commit(&lock, &st, false)?;
        }
        Ok(())
    }

    /// The preflight: fails with [`NetError::PortInUse`] naming the port and its holder if any
    /// fixed host port cannot be bound now. Call it before creating anything of a project.
    pub fn check_ports(&self, bindings: &[PortBinding]) -> Result<()> {
        ports::check_ports(bindings)
    }

    /// Publish ports for `owner` (a container id): DNAT rules + proxies. All or nothing.
    pub fn publish(&self, owner: &str, bindings: &[PortBinding]) -> Result<Vec<PublishedPort>> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        let before = st.clone();
        let mut out = Vec::new();
        for b in bindings {
            let taken: Vec<(Protocol, IpAddr, u16)> = st
                .ports
                .iter()
                .map(|p| (p.protocol, p.host_ip, p.host_port))
                .collect();
            let port = ports::choose_port(b, &taken)?;
            let rec = PortRecord {
                owner: owner.to_string(),
                protocol: b.protocol,
                host_ip: b.bind_ip(),
                host_port: port,
                container_ip: b.container_ip,
                container_port: b.container_port,
            };
            out.push(PublishedPort {
                protocol: rec.protocol,
                host_ip: rec.host_ip,
                host_port: rec.host_port,
                container_ip: rec.container_ip,
                container_port: rec.container_port,
            });
            st.ports.push(rec);
        }
        if let Err(e) = self.commit(&lock, &st, true) {
            let _ = self.commit(&lock, &before, true);
            return Err(e);
        }
        Ok(out)
    }

    /// Withdraw every port published by `owner`.
    pub fn unpublish(&self, owner: &str) -> Result<()> {
        let lock = self.store.lock()?;
        let mut st = self.store.load()?;
        let n = st.ports.len();
        st.ports.retain(|p| p.owner != owner);
        if st.ports.len() != n {
            self.commit(&lock, &st, true)?;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
