//! `rcompose port SERVICE PRIVATE_PORT`: the public address of a running container's published
//! port, printed `0.0.0.0:8080` as docker compose prints it.

use anyhow::{anyhow, bail};
use clap::Args;

use super::GlobalArgs;
use super::session;
use crate::engine::progress::Quiet;
use crate::engine::query::PublishedPort;

#[derive(Debug, Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    pub service: String,
    /// The container port
    pub private_port: String,
}

/// The binding of `port`/`protocol`, or docker compose's error listing what is published.
pub fn find_port(
    container: &str,
    ports: &[PublishedPort],
    port: u16,
    protocol: &str,
) -> anyhow::Result<String> {
    if let Some(p) = ports
        .iter()
        .find(|p| p.container_port == port && p.protocol.to_string() == protocol)
    {
        return Ok(format!("{}:{}", p.host_ip, p.host_port));
    }
    let published: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p.host_port, p.protocol))
        .collect();
    Err(anyhow!(
        "no port {port}/{protocol} for container {container}: {}",
        published.join(", ")
    ))
}

pub fn port(global: &GlobalArgs, args: &PortArgs) -> anyhow::Result<i32> {
    let Ok(port) = args.private_port.parse::<u16>() else {
        bail!(
            "strconv.ParseUint: parsing {:?}: invalid syntax",
            args.private_port
        );
    };
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let c = s
        .engine
        .specified_container(&s.ctx.name, &args.service, args.index)?;
    let ports = s.engine.published_ports(c.name())?;
    let protocol = args.protocol.to_lowercase();
    println!("{}", find_port(c.name(), &ports, port, &protocol)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::network::Protocol;

    #[test]
    fn first_matching_binding_or_the_published_list() {
        let p = |protocol, ip: &str, host, container| PublishedPort {
            protocol,
            host_ip: ip.parse().unwrap(),
            host_port: host,
            container_port: container,
        };
        let ports = [
            p(Protocol::Tcp, "0.0.0.0", 18080, 8080),
            p(Protocol::Udp, "127.0.0.1", 32768, 9000),
        ];
        assert_eq!(
            find_port("x-web-1", &ports, 8080, "tcp").unwrap(),
            "0.0.0.0:18080"
        );
        assert_eq!(
            find_port("x-web-1", &ports, 9000, "udp").unwrap(),
            "127.0.0.1:32768"
        );
        assert_eq!(
            find_port("x-web-1", &ports, 9000, "tcp")
                .unwrap_err()
                .to_string(),
            "no port 9000/tcp for container x-web-1: 18080/tcp, 32768/udp"
        );
    }
}
