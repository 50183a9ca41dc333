//! nftables rules, all inside rcompose's own tables `ip rcompose_nat_<tag>` and
//! `inet rcompose_<tag>` (`<tag>` = 8 hex digits of the state root, so two state roots never
//! overwrite each other's rules), so nothing rcompose did not create is ever touched. The whole ruleset is rendered from the
//! state and replaced in one atomic `nft -f -` transaction (`table …; delete table …; table … {…}`),
//! which makes every change idempotent and a crash never leaves half a ruleset. When the state is
//! empty both tables are deleted.
//!
//! Rules:
//! * `postrouting`: `masquerade` of each non-internal subnet leaving through another interface,
//!   plus hairpin masquerade of DNAT'ed traffic between containers of the same bridge.
//! * `prerouting`/`output` → `published`: DNAT of published IPv4 ports for traffic addressed to
//!   a local address (from other hosts, and from the host itself to a non-loopback address).
//!   Loopback and IPv6 are left to the userland proxy (see the module doc of [`super`]).
//! * `inet rcompose forward`: internal networks may only talk inside their bridge; different
//!   rcompose bridges are isolated from each other, except for DNAT'ed (published) ports.
//!
//! Also sets `net.ipv4.ip_forward=1` when a non-internal network exists (never reset: other
//! software may rely on it, dockerd behaves the same).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use super::error::{NetError, Result};
use super::state::State;

/// Names of the NAT (family `ip`) and filter (family `inet`) tables of the state root `tag`.
pub fn table_names(tag: &str) -> (String, String) {
    (format!("rcompose_nat_{tag}"), format!("rcompose_{tag}"))
}

/// The full `nft -f` script for `state` (tables deleted when the state is empty).
pub fn render(state: &State, tag: &str) -> String {
    let (nat, filter) = table_names(tag);
    let (nat_table, filter_table) = (nat.as_str(), filter.as_str());
    let mut s = String::new();
    // Create-then-delete makes the delete valid whether or not the table exists.
    let _ = writeln!(s, "table ip {nat_table}\ndelete table ip {nat_table}");
    let _ = writeln!(
        s,
        "table inet {filter_table}\ndelete table inet {filter_table}"
    );
    if state.is_empty() {
        return s;
    }
    let _ = writeln!(s, "table ip {nat_table} {{");
    let _ = writeln!(s, "  chain published {{");
    for p in &state.ports {
        let daddr = match p.host_ip {
            IpAddr::V4(ip) if ip.is_loopback() => continue,
            IpAddr::V4(ip) if ip.is_unspecified() => String::new(),
            IpAddr::V4(ip) => format!("ip daddr {ip} "),
            IpAddr::V6(_) => continue,
        };
        let _ = writeln!(
            s,
            "    {daddr}{} dport {} dnat to {}:{}",
            p.protocol, p.host_port, p.container_ip, p.container_port
        );
    }
    let _ = writeln!(s, "  }}");
    let _ = writeln!(
        s,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump published\n  }}"
    );
    let _ = writeln!(
        s,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n    ip daddr != 127.0.0.0/8 fib daddr type local jump published\n  }}"
    );
    let _ = writeln!(
        s,
        "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
    );
    for n in state.networks.values() {
        let (sub, br) = (n.subnet, &n.ifname);
        let _ = writeln!(
            s,
            "    ct status dnat ip saddr {sub} ip daddr {sub} oifname \"{br}\" masquerade"
        );
        if !n.internal {
            let _ = writeln!(s, "    ip saddr {sub} oifname != \"{br}\" masquerade");
        }
    }
    let _ = writeln!(s, "  }}\n}}");
    let _ = writeln!(
        s,
        "table inet {filter_table} {{\n  chain forward {{\n    type filter hook forward priority filter; policy accept;"
    );
    for n in state.networks.values().filter(|n| n.internal) {
        let br = &n.ifname;
        let _ = writeln!(s, "    iifname \"{br}\" oifname != \"{br}\" drop");
        let _ = writeln!(s, "    oifname \"{br}\" iifname != \"{br}\" drop");
    }
    // Published ports are public: DNAT'ed connections may cross bridges.
    let _ = writeln!(s, "    ct status dnat accept");
    for n in state.networks.values().filter(|n| !n.internal) {
        let br = &n.ifname;
        let _ = writeln!(
            s,
            "    iifname \"{br}\" oifname != \"{br}\" oifname \"rc-*\" drop"
        );
    }
    let _ = writeln!(s, "  }}\n}}");
    s
}

/// Apply the ruleset for `state` (atomically) and enable forwarding if needed.
pub fn apply(state: &State, tag: &str) -> Result<()> {
    if state.networks.values().any(|n| !n.internal) {
        let p = "/proc/sys/net/ipv4/ip_forward";
        if std::fs::read_to_string(p)
            .map(|v| v.trim() != "1")
            .unwrap_or(true)
        {
            std::fs::write(p, "1").map_err(|e| NetError::io("write", p, e))?;
        }
    }
    run_nft(&render(state, tag))
}

fn run_nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Firewall(format!("cannot run nft (install nftables): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Firewall(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Firewall(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        return Err(NetError::Firewall(format!(
            "{}\n--- script ---\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::network::ports::Protocol;
    use crate::runtime::network::state::{NetworkRecord, PortRecord};

    #[test]
    fn renders_tables() {
        assert!(!render(&State::default(), "t").contains('{'));
        let mut st = State::default();
        st.networks.insert(
            "p_default".into(),
            NetworkRecord {
                name: "p_default".into(),
                ifname: "rc-0123456789".into(),
                subnet: "10.5.0.0/24".parse().unwrap(),
                gateway: "10.5.0.1".parse().unwrap(),
                ip_range: None,
                internal: false,
                mtu: None,
                labels: Default::default(),
                endpoints: Default::default(),
            },
        );
        st.ports.push(PortRecord {
            owner: "c1".into(),
            protocol: Protocol::Tcp,
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 8080,
            container_ip: "10.5.0.2".parse().unwrap(),
            container_port: 80,
        });
        st.ports.push(PortRecord {
            owner: "c1".into(),
            protocol: Protocol::Udp,
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 5353,
            container_ip: "10.5.0.2".parse().unwrap(),
            container_port: 53,
        });
        let s = render(&st, "t");
        assert!(s.contains("table ip rcompose_nat_t {"));
        assert!(s.contains("tcp dport 8080 dnat to 10.5.0.2:80"), "{s}");
        assert!(!s.contains("5353"), "{s}");
        assert!(s.contains("ip saddr 10.5.0.0/24 oifname != \"rc-0123456789\" masquerade"));
    }
}
