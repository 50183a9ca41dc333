//! `network_mode` and `links`: what the container spec needs for each mode.

use std::path::PathBuf;

use super::error::{NetError, Result};
use super::link::Netns;

/// Compose `network_mode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkMode {
    /// Default: a new netns attached to the service's networks.
    Bridge,
    Host,
    None,
    /// `service:NAME`: share the netns of a running container of that service.
    Service(String),
    /// `container:NAME`: share the netns of that container.
    Container(String),
}

impl NetworkMode {
    /// Parse the Compose string (`bridge`/`default` and absent map to [`NetworkMode::Bridge`]).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "" | "bridge" | "default" => NetworkMode::Bridge,
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            _ => match s.split_once(':') {
                Some(("service", n)) if !n.is_empty() => NetworkMode::Service(n.to_string()),
                Some(("container", n)) if !n.is_empty() => NetworkMode::Container(n.to_string()),
                _ => {
                    return Err(NetError::Invalid {
                        what: "network_mode",
                        value: s.to_string(),
                        reason: "expected bridge, host, none, service:NAME or container:NAME"
                            .into(),
                    });
                }
            },
        })
    }
}

/// What the container runtime must do about the network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsPlan {
    /// Create a new netns; when `attach` is true, call `NetworkManager::attach` with its pid
    /// after creation; otherwise only bring `lo` up ([`super::link::loopback_up`]).
    New { attach: bool },
    /// Join this existing netns (the OCI spec's namespace `path`); no attachment, no DNS names.
    Join(PathBuf),
    /// Stay in the host's netns (no network namespace in the spec).
    Host,
}

/// Map a mode to a plan; `running` resolves a service or container name to the netns of one of
/// its running containers.
pub fn netns_plan(
    mode: &NetworkMode,
    running: impl Fn(&str) -> Option<Netns>,
) -> Result<NetnsPlan> {
    Ok(match mode {
        NetworkMode::Bridge => NetnsPlan::New { attach: true },
        NetworkMode::None => NetnsPlan::New { attach: false },
        NetworkMode::Host => NetnsPlan::Host,
        NetworkMode::Service(n) | NetworkMode::Container(n) => {
            let ns = running(n).ok_or_else(|| NetError::NetworkMode {
                mode: match mode {
                    NetworkMode::Service(_) => format!("service:{n}"),
                    _ => format!("container:{n}"),
                },
                reason: format!("{n} has no running container"),
            })?;
            NetnsPlan::Join(ns.path())
        }
    })
}

/// Compose `links` (`SERVICE` or `SERVICE:ALIAS`) as `(service, alias)` pairs: the alias is
/// added to the DNS names of the linked service's endpoints, as seen from the linking container's
/// networks.
pub fn link_aliases(links: &[String]) -> Vec<(String, String)> {
    links
        .iter()
        .map(|l| match l.split_once(':') {
            Some((s, a)) => (s.to_string(), a.to_string()),
            None => (l.clone(), l.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("service:db").unwrap(),
            NetworkMode::Service("db".into())
        );
        assert!(NetworkMode::parse("bogus").is_err());
        let p = netns_plan(&NetworkMode::Service("db".into()), |_| Some(Netns::Pid(42))).unwrap();
        assert_eq!(p, NetnsPlan::Join("/proc/42/ns/net".into()));
        assert!(netns_plan(&NetworkMode::Container("x".into()), |_| None).is_err());
        assert_eq!(
            link_aliases(&["db:database".into(), "cache".into()]),
            vec![
                ("db".into(), "database".into()),
                ("cache".into(), "cache".into())
            ]
        );
    }
}
