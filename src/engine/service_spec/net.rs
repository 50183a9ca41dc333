//! A container's networking: `network_mode`, one [`Attachment`] per service network (primary
//! first, by `priority` then name, like compose-go's `NetworksByPriority`), published ports, and
//! the inputs of `/etc/resolv.conf` and `/etc/hosts`. Joining another container's namespace
//! (`service:`/`container:`) conflicts with the settings dockerd refuses there.

use std::net::{IpAddr, Ipv4Addr};

use super::{PortRequest, SpecContext, SpecError};
use crate::compose::model::{self, ServiceConfig, ServiceNetworkConfig, ServicePortConfig};
use crate::runtime::network::{Attachment, HostsFile, NetworkMode, Protocol, ResolvConf};

/// What [`plan`] decided.
#[derive(Debug)]
pub(super) struct NetPlan {
    pub mode: NetworkMode,
    pub attachments: Vec<Attachment>,
    pub ports: Vec<PortRequest>,
    pub resolv: ResolvConf,
    pub hosts: HostsFile,
    pub host_gateway_hosts: Vec<String>,
    pub warnings: Vec<String>,
}

pub(super) fn plan(
    ctx: &SpecContext,
    s: &ServiceConfig,
    container: &str,
) -> Result<NetPlan, SpecError> {
    let mut mode = NetworkMode::parse(&s.network_mode)
        .map_err(|e| SpecError::invalid(&s.name, "network_mode", &s.network_mode, e.to_string()))?;
    if matches!(mode, NetworkMode::Service(_) | NetworkMode::Container(_)) {
        check_joined_namespace(s)?;
    }
    let mut attachments = Vec::new();
    if mode == NetworkMode::Bridge {
        attachments = service_attachments(ctx, s, container)?;
        // A project without networks runs its containers without any (docker compose: "none").
        if attachments.is_empty() {
            mode = NetworkMode::None;
        }
    }
    let mut warnings = Vec::new();
    let ports = if mode == NetworkMode::Bridge {
        s.ports
            .iter()
            .map(|p| port(&s.name, p))
            .collect::<Result<_, _>>()?
    } else {
        if !s.ports.is_empty() {
            warnings.push(format!(
                "service {:?}: published ports are discarded with network_mode {:?}",
                s.name, s.network_mode
            ));
        }
        Vec::new()
    };
    let (hosts, host_gateway_hosts) = hosts(s)?;
    Ok(NetPlan {
        mode,
        attachments,
        ports,
        resolv: resolv(s)?,
        hosts,
        host_gateway_hosts,
        warnings,
    })
}

/// dockerd's `validateNetContainerMode`: a joined namespace brings its own of all these.
fn check_joined_namespace(s: &ServiceConfig) -> Result<(), SpecError> {
    let dns = !(s.dns.is_empty() && s.dns_search.is_empty() && s.dns_opt.is_empty());
    for (set, key, what) in [
        (!s.hostname.is_empty(), "hostname", "hostname"),
        (dns, "dns", "dns"),
        (
            !s.extra_hosts.is_empty(),
            "extra_hosts",
            "custom host-to-IP mapping",
        ),
        (!s.ports.is_empty(), "ports", "port publishing"),
        (!s.expose.is_empty(), "expose", "port exposing"),
        (!s.mac_address.is_empty(), "mac_address", "mac-address"),
        (!s.links.is_empty(), "links", "links"),
    ] {
        if set {
            return Err(SpecError::invalid(
                &s.name,
                key,
                &s.network_mode,
                format!("conflicting options: {what} and the network mode"),
            ));
        }
    }
    Ok(())
}

/// The service's networks, primary first; the project's `default` when it lists none.
fn by_priority(s: &ServiceConfig) -> Vec<(&str, ServiceNetworkConfig)> {
    let mut v: Vec<(&str, ServiceNetworkConfig)> = s
        .networks
        .iter()
        .map(|(k, c)| (k.as_str(), c.clone().unwrap_or_default()))
        .collect();
    v.sort_by(|a, b| b.1.priority.cmp(&a.1.priority).then(a.0.cmp(b.0)));
    v
}

fn service_attachments(
    ctx: &SpecContext,
    s: &ServiceConfig,
    container: &str,
) -> Result<Vec<Attachment>, SpecError> {
    let mut nets = by_priority(s);
    if nets.is_empty() && !ctx.networks.is_empty() {
        nets.push(("default", ServiceNetworkConfig::default()));
    }
    let mut out = Vec::new();
    for (i, (key, cfg)) in nets.into_iter().enumerate() {
        let network = ctx
            .networks
            .iter()
            .find(|n| n.key == key)
            .ok_or_else(|| SpecError::undefined(&s.name, "network", key))?;
        out.push(attachment(
            ctx,
            s,
            container,
            &network.name,
            key,
            &cfg,
            i == 0,
        )?);
    }
    Ok(out)
}

fn attachment(
    ctx: &SpecContext,
    s: &ServiceConfig,
    container: &str,
    network: &str,
    key: &str,
    cfg: &ServiceNetworkConfig,
    primary: bool,
) -> Result<Attachment, SpecError> {
    let field = |f: &str| format!("networks.{key}.{f}");
    for (set, f, reason) in [
        (
            !cfg.ipv6_address.is_empty(),
            "ipv6_address",
            "networks are IPv4 only",
        ),
        (
            !cfg.link_local_ips.is_empty(),
            "link_local_ips",
            "no link-local addresses",
        ),
        (
            !cfg.driver_opts.is_empty(),
            "driver_opts",
            "no endpoint driver options",
        ),
        (
            cfg.gateway_priority != 0,
            "gw_priority",
            "the default route goes through the primary network",
        ),
    ] {
        if set {
            return Err(SpecError::unsupported(&s.name, &field(f), reason));
        }
    }
    let ipv4 = (!cfg.ipv4_address.is_empty())
        .then(|| {
            cfg.ipv4_address.parse::<Ipv4Addr>().map_err(|_| {
                SpecError::invalid(
                    &s.name,
                    &field("ipv4_address"),
                    &cfg.ipv4_address,
                    "not an IPv4 address",
                )
            })
        })
        .transpose()?;
    let mac = endpoint_mac(s, key, cfg, primary)?;
    let aliases = match ctx.oneoff {
        Some(o) if !o.use_aliases => vec![container.to_string()],
        _ => Attachment::service_aliases(ctx.project_name, &s.name, container, &cfg.aliases),
    };
    Ok(Attachment {
        network: network.to_string(),
        ifname: (!cfg.interface_name.is_empty()).then(|| cfg.interface_name.clone()),
        ipv4,
        aliases,
        mac,
    })
}

/// The endpoint's `mac_address`; the service-level one goes to the primary network and must agree
/// with it (docker compose's `prepareContainerMACAddress`).
fn endpoint_mac(
    s: &ServiceConfig,
    key: &str,
    cfg: &ServiceNetworkConfig,
    primary: bool,
) -> Result<Option<[u8; 6]>, SpecError> {
    let mut text = cfg.mac_address.as_str();
    if primary && !s.mac_address.is_empty() {
        if !text.is_empty() && text != s.mac_address {
            return Err(SpecError::invalid(
                &s.name,
                "mac_address",
                &s.mac_address,
                format!(
                    "the service-level mac_address should have the same value as network {key}"
                ),
            ));
        }
        text = &s.mac_address;
    }
    if text.is_empty() {
        return Ok(None);
    }
    parse_mac(text).map(Some).ok_or_else(|| {
        SpecError::invalid(
            &s.name,
            "mac_address",
            text,
            "expected six hex bytes like 02:42:ac:11:00:02",
        )
    })
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

fn port(service: &str, p: &ServicePortConfig) -> Result<PortRequest, SpecError> {
    let protocol = match p.protocol.unwrap_or_default() {
        model::Protocol::Tcp => Protocol::Tcp,
        model::Protocol::Udp => Protocol::Udp,
        model::Protocol::Sctp => {
            return Err(SpecError::unsupported(
                service,
                "ports",
                format!("SCTP (port {})", p.target),
            ));
        }
    };
    let host_ip = (!p.host_ip.is_empty())
        .then(|| {
            p.host_ip.parse::<IpAddr>().map_err(|_| {
                SpecError::invalid(service, "ports.host_ip", &p.host_ip, "not an IP address")
            })
        })
        .transpose()?;
    Ok(PortRequest {
        protocol,
        host_ip,
        host: published(service, &p.published)?,
        container: (p.target, p.target),
    })
}

/// `"8080"` or `"8000-8010"`; empty or `0` means any free port.
fn published(service: &str, s: &str) -> Result<Option<(u16, u16)>, SpecError> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        SpecError::invalid(
            service,
            "ports.published",
            s,
            "expected a port or a range like 8000-8010",
        )
    };
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    match (a, b) {
        (0, 0) => Ok(None),
        (a, b) if a <= b && a > 0 => Ok(Some((a, b))),
        _ => Err(bad()),
    }
}

fn resolv(s: &ServiceConfig) -> Result<ResolvConf, SpecError> {
    let dns = s
        .dns
        .0
        .iter()
        .map(|d| {
            d.parse::<IpAddr>()
                .map_err(|_| SpecError::invalid(&s.name, "dns", d, "not an IP address"))
        })
        .collect::<Result<_, _>>()?;
    Ok(ResolvConf {
        gateway: None,
        dns,
        search: s.dns_search.0.clone(),
        options: s.dns_opt.clone(),
    })
}

/// `/etc/hosts` inputs; `host-gateway` entries are returned apart for the engine to resolve.
fn hosts(s: &ServiceConfig) -> Result<(HostsFile, Vec<String>), SpecError> {
    let mut extra = Vec::new();
    let mut gateway = Vec::new();
    for (name, ips) in &s.extra_hosts.0 {
        for ip in ips {
            if ip == "host-gateway" {
                gateway.push(name.clone());
                continue;
            }
            let addr = ip.parse::<IpAddr>().map_err(|_| {
                SpecError::invalid(
                    &s.name,
                    "extra_hosts",
                    format!("{name}={ip}"),
                    "not an IP address",
                )
            })?;
            extra.push((name.clone(), addr));
        }
    }
    let hosts = HostsFile {
        hostname: s.hostname.clone(),
        domainname: (!s.domainname.is_empty()).then(|| s.domainname.clone()),
        addresses: Vec::new(),
        extra_hosts: extra,
    };
    Ok((hosts, gateway))
}

#[cfg(test)]
mod tests {
    use super::super::OneOff;
    use super::super::test_support::Fixture;
    use super::*;

    fn net_of(yaml: &str, service: &str) -> Result<NetPlan, SpecError> {
        let f = Fixture::new(yaml);
        plan(
            &f.ctx(),
            &f.loaded.project.services[service],
            "speclab-app-1",
        )
    }

    /// The lab's `db`: on `back` (priority 10, alias `database`) and `front` (priority 100).
    #[test]
    fn attachments_by_priority_with_aliases() {
        let n = net_of(
            r#"
name: speclab
services:
  app:
    image: x
    networks:
      back: {aliases: [database], priority: 10, ipv4_address: 172.31.99.9}
      front: {priority: 100, mac_address: "02:42:ac:11:00:99", interface_name: eth7}
      zeta: {}
      alpha: {}
networks:
  back: {ipam: {config: [{subnet: 172.31.99.0/24}]}}
  front: {}
  zeta: {}
  alpha: {}
"#,
            "app",
        )
        .unwrap();
        assert_eq!(n.mode, NetworkMode::Bridge);
        let order: Vec<&str> = n.attachments.iter().map(|a| a.network.as_str()).collect();
        assert_eq!(
            order,
            [
                "speclab_front",
                "speclab_back",
                "speclab_alpha",
                "speclab_zeta"
            ]
        );
        let (front, back) = (&n.attachments[0], &n.attachments[1]);
        assert_eq!(front.mac, Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x99]));
        assert_eq!(front.ifname.as_deref(), Some("eth7"));
        assert_eq!(back.ipv4, Some(Ipv4Addr::new(172, 31, 99, 9)));
        assert_eq!(
            back.aliases,
            ["app", "speclab-app-1", "app.speclab", "database"]
        );
    }

    #[test]
    fn default_network_and_modes() {
        let n = net_of(
            "name: p\nservices: {app: {image: x, ports: ['8080:80']}}",
            "app",
        )
        .unwrap();
        assert_eq!(n.attachments[0].network, "p_default");
        assert_eq!(n.ports.len(), 1);
        let host = net_of(
            "services: {app: {image: x, network_mode: host, ports: ['80']}}",
            "app",
        )
        .unwrap();
        assert_eq!(
            (host.mode, host.attachments.len(), host.ports.len()),
            (NetworkMode::Host, 0, 0)
        );
        assert_eq!(host.warnings.len(), 1, "ports are discarded with a warning");
        let none = net_of("services: {app: {image: x, network_mode: none}}", "app").unwrap();
        assert_eq!(none.mode, NetworkMode::None);
        let joined = net_of(
            "services: {db: {image: x}, app: {image: x, network_mode: 'service:db'}}",
            "app",
        )
        .unwrap();
        assert_eq!(joined.mode, NetworkMode::Service("db".into()));
        let e = net_of("services: {db: {image: x}, app: {image: x, network_mode: 'service:db', ports: ['80']}}", "app")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("conflicting options: port publishing and the network mode"),
            "{e}"
        );
    }

    #[test]
    fn oneoff_answers_to_its_name_only_unless_use_aliases() {
        let mut f = Fixture::new(
            "name: p\nservices: {app: {image: x, networks: {default: {aliases: [a]}}}}",
        );
        let slug = "c30cee8719cc08786efd5c1281f35ab139e73ac7c0877b0f35a4192fe60bb522".to_string();
        f.oneoff = Some(OneOff {
            slug: slug.clone(),
            use_aliases: false,
        });
        let n = plan(
            &f.ctx(),
            &f.loaded.project.services["app"],
            "p-app-run-c30cee8719cc",
        )
        .unwrap();
        assert_eq!(n.attachments[0].aliases, ["p-app-run-c30cee8719cc"]);
        f.oneoff = Some(OneOff {
            slug,
            use_aliases: true,
        });
        let n = plan(
            &f.ctx(),
            &f.loaded.project.services["app"],
            "p-app-run-c30cee8719cc",
        )
        .unwrap();
        assert_eq!(
            n.attachments[0].aliases,
            ["app", "p-app-run-c30cee8719cc", "app.p", "a"]
        );
    }

    /// The lab's `web`: `["8089:80", "127.0.0.1:9001-9002:81-82/udp", "83"]`.
    #[test]
    fn ports() {
        let n = net_of(
            "services: {app: {image: x, ports: ['8089:80', '127.0.0.1:9001-9002:81-82/udp', '83', '8000-8010:90', '[::1]:5353:53/udp']}}",
            "app",
        )
        .unwrap();
        let p = |protocol, host_ip: Option<&str>, host, c: u16| PortRequest {
            protocol,
            host_ip: host_ip.map(|i| i.parse().unwrap()),
            host,
            container: (c, c),
        };
        assert_eq!(
            n.ports,
            [
                p(Protocol::Tcp, None, Some((8089, 8089)), 80),
                p(Protocol::Udp, Some("127.0.0.1"), Some((9001, 9001)), 81),
                p(Protocol::Udp, Some("127.0.0.1"), Some((9002, 9002)), 82),
                p(Protocol::Tcp, None, None, 83),
                p(Protocol::Tcp, None, Some((8000, 8010)), 90),
                p(Protocol::Udp, Some("::1"), Some((5353, 5353)), 53),
            ]
        );
        let e = net_of("services: {app: {image: x, ports: ['80/sctp']}}", "app")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SCTP"), "{e}");
    }

    #[test]
    fn resolv_and_hosts() {
        let n = net_of(
            r#"
services:
  app:
    image: x
    hostname: web
    domainname: example.org
    dns: [1.1.1.1, "::1"]
    dns_search: [example.org]
    dns_opt: [ndots:2]
    extra_hosts: ["db.local:10.9.9.9", "host.docker.internal:host-gateway", "v6=::2"]
"#,
            "app",
        )
        .unwrap();
        assert_eq!(
            n.resolv.dns,
            ["1.1.1.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert_eq!(
            (n.resolv.search.clone(), n.resolv.options.clone()),
            (vec!["example.org".to_string()], vec!["ndots:2".to_string()])
        );
        assert_eq!(n.resolv.gateway, None);
        assert_eq!(
            (n.hosts.hostname.as_str(), n.hosts.domainname.as_deref()),
            ("web", Some("example.org"))
        );
        assert_eq!(
            n.hosts.extra_hosts,
            [
                ("db.local".to_string(), "10.9.9.9".parse().unwrap()),
                ("v6".to_string(), "::2".parse().unwrap())
            ]
        );
        assert_eq!(n.host_gateway_hosts, ["host.docker.internal"]);
        let e = net_of("services: {app: {image: x, dns: [resolver.local]}}", "app")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid `dns` \"resolver.local\""), "{e}");
    }

    #[test]
    fn endpoint_options_the_runtime_cannot_honour() {
        let e = net_of(
            "services: {app: {image: x, networks: {default: {ipv6_address: 'fd00::2'}}}}",
            "app",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`networks.default.ipv6_address` is not supported"),
            "{e}"
        );
        let e = net_of("services: {app: {image: x, mac_address: '02:42:ac:11:00:01', networks: {default: {mac_address: '02:42:ac:11:00:02'}}}}", "app")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("should have the same value as network default"),
            "{e}"
        );
        assert_eq!(
            parse_mac("02-42-AC-11-00-02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
    }
}
