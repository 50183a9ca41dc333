//! Service ports: [`ServicePortConfig`] (long syntax, as docker compose prints it) and
//! [`parse_port_spec`], which expands the short syntax like compose-go's `types.ParsePortConfig`
//! (docker/go-connections `nat.ParsePortSpecs`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::ModelError;
use super::lenient;

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// How a published port is exposed (swarm terms; docker compose only publishes `ingress` ports locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    #[default]
    Ingress,
    Host,
}

fn default_protocol() -> Option<Protocol> {
    Some(Protocol::Tcp)
}

fn default_mode() -> Option<PortMode> {
    Some(PortMode::Ingress)
}

/// One port (compose-go `ServicePortConfig`); field order is Go's, `published` is a string (it may be a
/// range like `"8000-9000"`). Missing `protocol`/`mode` default to `tcp`/`ingress` as compose-go does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePortConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default = "default_mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<PortMode>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    #[serde(deserialize_with = "lenient::u16")]
    #[schemars(with = "IntOrString")]
    pub target: u16,
    #[serde(
        default,
        deserialize_with = "published",
        skip_serializing_if = "String::is_empty"
    )]
    #[schemars(with = "IntOrString")]
    pub published: String,
    #[serde(default = "default_protocol", skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_protocol: String,
}

/// Schema helper: an integer or a string.
struct IntOrString;

impl JsonSchema for IntOrString {
    fn schema_name() -> Cow<'static, str> {
        "IntOrString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["integer", "string"]})
    }
}

/// `published` may be a number or a string; it is kept as a string.
fn published<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a port number or range")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

/// `START[-END]` as in `nat.ParsePortRange`.
fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid port number {p:?}"))
    };
    match s.split_once('-') {
        None => parse(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (start, end) = (parse(a)?, parse(b)?);
            if end < start {
                return Err(format!("invalid range {s:?}"));
            }
            Ok((start, end))
        }
    }
}

/// Splits `[IP:][HOST:]CONTAINER` like `nat.splitParts`: the IP may contain colons (IPv6).
fn split_parts(spec: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    }
}

/// `80/udp` → (`80`, udp); an empty protocol means tcp.
fn split_proto(container: &str) -> Result<(&str, Protocol), String> {
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    let proto = proto.split('/').next().unwrap_or("");
    if proto.is_empty() {
        return Ok((port, Protocol::Tcp));
    }
    Protocol::parse(proto)
        .map(|p| (port, p))
        .ok_or_else(|| format!("invalid protocol {proto:?}"))
}

/// Strips `[...]` around an IPv6 address and checks the result is an IP.
fn parse_host_ip(ip: String) -> Result<String, String> {
    let ip = match ip.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| format!("invalid IP address {ip:?}"))?
            .to_owned(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address {ip:?}"));
    }
    Ok(ip)
}

/// Expands a short port spec into one entry per container port, sorted like compose-go (by the string
/// `"<port>/<proto>"`, so `10` comes before `9`).
pub fn parse_port_spec(spec: &str) -> Result<Vec<ServicePortConfig>, ModelError> {
    expand_port_spec(spec).map_err(|reason| ModelError::InvalidPort {
        spec: spec.to_owned(),
        reason,
    })
}

fn expand_port_spec(spec: &str) -> Result<Vec<ServicePortConfig>, String> {
    let (ip, host, container) = split_parts(spec);
    let host_ip = parse_host_ip(ip)?;
    let (container, protocol) = split_proto(container)?;
    if container.is_empty() {
        return Err("no container port specified".to_owned());
    }
    let (start, end) = parse_range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host)?)
    };
    if let Some((hs, he)) = host_range
        && end != start
        && end - start != he - hs
    {
        return Err(format!(
            "container port range {container} and host port range {host} differ in size"
        ));
    }
    let mut ports: Vec<ServicePortConfig> = (start..=end)
        .map(|target| ServicePortConfig {
            mode: Some(PortMode::Ingress),
            host_ip: host_ip.clone(),
            target,
            published: published_for(target - start, start == end, host_range),
            protocol: Some(protocol),
            ..Default::default()
        })
        .collect();
    ports.sort_by_key(|p| format!("{}/{}", p.target, protocol.as_str()));
    Ok(ports)
}

/// The host side for the `offset`-th container port: one port of a parallel range, or the whole range
/// when a single container port may bind anywhere in it.
fn published_for(offset: u16, single: bool, host: Option<(u16, u16)>) -> String {
    match host {
        None => String::new(),
        Some((hs, he)) if single && hs != he => format!("{hs}-{he}"),
        Some((hs, _)) => (hs + offset).to_string(),
    }
}

/// The `ports:` list: short strings/ints expand to several entries, maps are one entry each.
pub(crate) fn deserialize_ports<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ServicePortConfig>, D::Error> {
    Ok(Option::<PortList>::deserialize(d)?
        .map(|l| l.0)
        .unwrap_or_default())
}

struct PortList(Vec<ServicePortConfig>);

impl<'de> Deserialize<'de> for PortList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of ports")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PortList, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element::<PortEntry>()? {
                    out.extend(entry.0);
                }
                Ok(PortList(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One item of `ports:`.
struct PortEntry(Vec<ServicePortConfig>);

impl<'de> Deserialize<'de> for PortEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port: \"[IP:][HOST:]CONTAINER[/PROTOCOL]\", a number or a map")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortEntry, E> {
                parse_port_spec(v).map(PortEntry).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PortEntry, A::Error> {
                ServicePortConfig::deserialize(MapAccessDeserializer::new(map))
                    .map(|p| PortEntry(vec![p]))
            }
        }
        d.deserialize_any(V)
    }
}

/// Schema of one `ports:` item in input syntax.
pub(crate) struct PortInput;

impl JsonSchema for PortInput {
    fn schema_name() -> Cow<'static, str> {
        "PortInput".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [
            {"type": "number"},
            {"type": "string", "description": "[IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTOCOL]"},
            g.subschema_for::<ServicePortConfig>()
        ]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports(spec: &str) -> serde_json::Value {
        serde_json::to_value(parse_port_spec(spec).unwrap()).unwrap()
    }

    fn p(target: u16, published: &str) -> serde_json::Value {
        let mut v = json!({"mode": "ingress", "target": target, "protocol": "tcp"});
        if !published.is_empty() {
            v["published"] = json!(published);
        }
        v
    }

    // Expected values from `docker-compose-v2 config --format json` (v2.40.3).
    #[test]
    fn short_syntax() {
        assert_eq!(ports("3000"), json!([p(3000, "")]));
        assert_eq!(
            ports("3000-3002"),
            json!([p(3000, ""), p(3001, ""), p(3002, "")])
        );
        assert_eq!(
            ports("9090-9091:8080-8081"),
            json!([p(8080, "9090"), p(8081, "9091")])
        );
        assert_eq!(ports("8000-9000:80"), json!([p(80, "8000-9000")]));
        assert_eq!(ports("9-10:9-10"), json!([p(10, "10"), p(9, "9")]));
        let mut local = p(8001, "8001");
        local["host_ip"] = json!("127.0.0.1");
        assert_eq!(ports("127.0.0.1:8001:8001"), json!([local]));
        let mut v6 = p(6001, "6001");
        v6["host_ip"] = json!("::1");
        assert_eq!(ports("[::1]:6001:6001"), json!([v6]));
        let mut udp = p(6060, "6060");
        udp["protocol"] = json!("udp");
        assert_eq!(ports("6060:6060/udp"), json!([udp]));
    }

    #[test]
    fn list_with_ints_and_maps() {
        let v: Vec<ServicePortConfig> = deserialize_ports(json!([
            5000, "80:80", {"target": 81, "published": 8081}, {"target": "82", "mode": "host", "protocol": "udp"}
        ]))
        .unwrap();
        let out = serde_json::to_value(v).unwrap();
        let mut host = json!({"mode": "host", "target": 82, "protocol": "udp"});
        host["mode"] = json!("host");
        assert_eq!(out, json!([p(5000, ""), p(80, "80"), p(81, "8081"), host]));
    }

    #[test]
    fn errors() {
        let msg = |s: &str| parse_port_spec(s).unwrap_err().to_string();
        assert_eq!(
            msg("80:x"),
            "invalid port \"80:x\": invalid port number \"x\""
        );
        assert!(msg("80/foo").contains("invalid protocol"));
        assert!(msg("1.2.3:80:80").contains("invalid IP address"));
        assert!(msg("10-5").contains("invalid range"));
        assert!(msg("1-3:1-2").contains("differ in size"));
        assert!(msg("70000").contains("invalid port number"));
        let unknown = deserialize_ports(json!([{"target": 1, "bogus": 2}])).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `bogus`"));
    }
}
