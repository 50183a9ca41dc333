//! A container's published ports as `ps` shows them: the `Publishers` records of the JSON output
//! and docker's `PORTS` column text, where consecutive ports published on the same address and
//! port collapse into ranges (`127.0.0.1:9000-9002->9000-9002/tcp`).

use std::collections::HashMap;

use serde::Serialize;

/// One exposed or published port (docker compose's `PortPublisher`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publisher {
    /// Host address (`0.0.0.0`, `::`, `127.0.0.1`); empty for a port that is only exposed.
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(rename = "TargetPort")]
    pub target_port: u16,
    /// Host port; 0 for a port that is only exposed.
    #[serde(rename = "PublishedPort")]
    pub published_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Protocol")]
    pub protocol: String,
}

impl Publisher {
    /// Go's `%v` of the struct: `{0.0.0.0 80 8080 tcp}`.
    pub fn go_value(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.url, self.target_port, self.published_port, self.protocol
        )
    }
}

/// docker/cli's `DisplayablePorts`: the `PORTS` column.
pub fn displayable_ports(publishers: &[Publisher]) -> String {
    let mut ports: Vec<&Publisher> = publishers.iter().collect();
    ports.sort_by(|a, b| {
        (a.target_port, &a.url, a.published_port, &a.protocol).cmp(&(
            b.target_port,
            &b.url,
            b.published_port,
            &b.protocol,
        ))
    });
    let mut groups: HashMap<String, (u16, u16)> = HashMap::new();
    // Keys in the order their first group appeared; docker lists groups that way, after the
    // groups it had to close early because the range broke.
    let mut keys: Vec<String> = Vec::new();
    let mut result: Vec<String> = Vec::new();
    let mut host_mappings: Vec<String> = Vec::new();
    for p in ports {
        let current = p.target_port;
        let mut key = p.protocol.clone();
        if !p.url.is_empty() {
            if p.published_port != current {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.url, &p.published_port.to_string()),
                    p.target_port,
                    p.protocol
                ));
                continue;
            }
            key = format!("{}/{}", p.url, p.protocol);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (current, current));
                keys.push(key);
            }
            Some(g) if u32::from(current) == u32::from(g.1) + 1 => g.1 = current,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (current, current);
            }
        }
    }
    for key in &keys {
        if let Some(&(first, last)) = groups.get(key) {
            result.push(form_group(key, first, last));
        }
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = match key.split_once('/') {
        Some((ip, proto)) => (ip, proto),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{proto}")
}

/// Go's `net.JoinHostPort`: brackets hosts that contain a colon.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str, target: u16, published: u16, proto: &str) -> Publisher {
        Publisher {
            url: url.into(),
            target_port: target,
            published_port: published,
            protocol: proto.into(),
        }
    }

    #[test]
    fn ranges_then_host_mappings_as_captured_from_docker() {
        // docker compose 2.40.3, ports "8080:80" and "127.0.0.1:9000-9002:9000-9002".
        let ports = [
            p("0.0.0.0", 80, 8080, "tcp"),
            p("::", 80, 8080, "tcp"),
            p("127.0.0.1", 9000, 9000, "tcp"),
            p("127.0.0.1", 9001, 9001, "tcp"),
            p("127.0.0.1", 9002, 9002, "tcp"),
        ];
        assert_eq!(
            displayable_ports(&ports),
            "127.0.0.1:9000-9002->9000-9002/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn ipv6_groups_udp_ranges_and_random_host_ports() {
        // ports "7000-7002:7000-7002/udp", "127.0.0.1::6000", "6001", "[::1]:6500:6500".
        let mut ports = vec![
            p("127.0.0.1", 6000, 32770, "tcp"),
            p("0.0.0.0", 6001, 32769, "tcp"),
            p("::", 6001, 32769, "tcp"),
            p("::1", 6500, 6500, "tcp"),
        ];
        for port in 7000..=7002 {
            ports.push(p("0.0.0.0", port, port, "udp"));
            ports.push(p("::", port, port, "udp"));
        }
        assert_eq!(
            displayable_ports(&ports),
            "[::1]:6500->6500/tcp, 0.0.0.0:7000-7002->7000-7002/udp, [::]:7000-7002->7000-7002/udp, \
             127.0.0.1:32770->6000/tcp, 0.0.0.0:32769->6001/tcp, [::]:32769->6001/tcp"
        );
    }

    #[test]
    fn exposed_only_ports_and_broken_ranges() {
        assert_eq!(displayable_ports(&[p("", 5432, 0, "tcp")]), "5432/tcp");
        let ports = [
            p("", 80, 0, "tcp"),
            p("", 81, 0, "tcp"),
            p("", 90, 0, "tcp"),
            p("", 53, 0, "udp"),
        ];
        // The closed 80-81 group comes first, then the open groups in first-seen order.
        assert_eq!(displayable_ports(&ports), "80-81/tcp, 53/udp, 90/tcp");
        assert_eq!(displayable_ports(&[]), "");
    }
}
