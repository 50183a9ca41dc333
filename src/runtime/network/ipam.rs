//! IPv4 address management: the [`Ipv4Net`] type, the subnet pools networks are carved from,
//! the choice of a free subnet (not overlapping other networks of the state root nor any host
//! route) and the choice of a free address inside a network.
//!
//! Pure functions over the persisted state; the caller holds the state lock while it uses them,
//! which is what makes concurrent `up`s of different projects safe.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{NetError, Result};

/// An IPv4 prefix such as `172.18.0.0/16` (the address is kept normalized to the network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// A prefix; host bits of `addr` are cleared. `prefix` must be at most 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 32 {
            return Err(NetError::Invalid {
                what: "prefix length",
                value: prefix.to_string(),
                reason: "must be 0..=32".into(),
            });
        }
        let mask = Self::mask_of(prefix);
        Ok(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }
    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// The broadcast (last) address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !Self::mask_of(self.prefix))
    }
    /// Whether `ip` is inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == u32::from(self.addr)
    }
    /// Whether the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
    /// The `n`-th address of the prefix (0 is the network address), if inside.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.addr).wrapping_add(n)))
    }
    /// Split into consecutive sub-prefixes of length `prefix` (empty when `prefix` is shorter).
    pub fn subnets(&self, prefix: u8) -> impl Iterator<Item = Ipv4Net> + use<> {
        let (base, mine) = (u32::from(self.addr), self.prefix);
        let count: u64 = if prefix < mine || prefix > 32 {
            0
        } else {
            1u64 << (prefix - mine)
        };
        let step: u64 = 1u64 << (32 - u32::from(prefix.min(32)));
        (0..count).map(move |i| Ipv4Net {
            addr: Ipv4Addr::from((u64::from(base) + i * step) as u32),
            prefix,
        })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| NetError::Invalid {
            what: "IPv4 subnet",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("bad IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        Ipv4Net::new(addr, prefix)
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = NetError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// One address pool: a base prefix split into subnets of `size` (like dockerd's
/// `default-address-pools`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub base: Ipv4Net,
    pub size: u8,
}

/// dockerd's default pools: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20.
pub fn default_pools() -> Vec<Pool> {
    vec![
        Pool {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 17, 0, 0),
                prefix: 16,
            },
            size: 16,
        },
        Pool {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 18, 0, 0),
                prefix: 15,
            },
            size: 16,
        },
        Pool {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 20, 0, 0),
                prefix: 14,
            },
            size: 16,
        },
        Pool {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 24, 0, 0),
                prefix: 13,
            },
            size: 16,
        },
        Pool {
            base: Ipv4Net {
                addr: Ipv4Addr::new(192, 168, 0, 0),
                prefix: 16,
            },
            size: 20,
        },
    ]
}

/// The IPv4 prefixes of the host's routing table (`/proc/net/route`), default route excluded.
pub fn host_routes() -> Result<Vec<Ipv4Net>> {
    let path = "/proc/net/route";
    let text = std::fs::read_to_string(path).map_err(|e| NetError::io("read", path, e))?;
    Ok(parse_proc_route(&text))
}

fn parse_proc_route(text: &str) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (
            u32::from_str_radix(cols[1], 16),
            u32::from_str_radix(cols[7], 16),
        ) else {
            continue;
        };
        // The kernel prints the address as a host-order u32 of the network-order bytes.
        if mask == 0 {
            continue;
        }
        let prefix = mask.count_ones() as u8;
        if let Ok(net) = Ipv4Net::new(Ipv4Addr::from(dst.to_ne_bytes()), prefix) {
            out.push(net);
        }
    }
    out
}

/// The first subnet of `pools` overlapping none of `taken`.
pub fn pick_subnet(network: &str, pools: &[Pool], taken: &[Ipv4Net]) -> Result<Ipv4Net> {
    for pool in pools {
        for cand in pool.base.subnets(pool.size) {
            if !taken.iter().any(|t| t.overlaps(&cand)) {
                return Ok(cand);
            }
        }
    }
    Err(NetError::PoolExhausted {
        network: network.to_string(),
        pools: pools
            .iter()
            .map(|p| format!("{}(/{})", p.base, p.size))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The first free host address of `range` (or of `subnet`) that is not the network or
/// broadcast address of `subnet`, nor in `used`.
pub fn pick_address(
    network: &str,
    subnet: Ipv4Net,
    range: Option<Ipv4Net>,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let size = 1u64 << (32 - u32::from(r.prefix()));
    for n in 0..size {
        let Some(ip) = r.nth(n as u32) else { break };
        if ip == subnet.network() || (subnet.prefix() < 31 && ip == subnet.broadcast()) {
            continue;
        }
        if !used.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(NetError::AddressExhausted {
        network: network.to_string(),
        range: r.to_string(),
    })
}

/// Check a static address: inside `subnet`, not reserved, not used.
pub fn check_static(
    network: &str,
    subnet: Ipv4Net,
    ip: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<()> {
    let reason = if !subnet.contains(ip) {
        Some(format!("not in subnet {subnet}"))
    } else if ip == subnet.network() || ip == subnet.broadcast() {
        Some("network or broadcast address".to_string())
    } else if used.contains(&ip) {
        Some("already in use".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NetError::AddressUnavailable {
            network: network.to_string(),
            address: ip.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn net_basics() {
        assert_eq!(n("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert!(n("10.1.0.0/16").overlaps(&n("10.1.5.0/24")));
        assert!(!n("10.1.0.0/24").overlaps(&n("10.1.1.0/24")));
        assert_eq!(n("10.0.0.0/24").broadcast(), Ipv4Addr::new(10, 0, 0, 255));
        let s: Vec<_> = n("10.0.0.0/23").subnets(24).collect();
        assert_eq!(s, vec![n("10.0.0.0/24"), n("10.0.1.0/24")]);
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn default_pool_order_and_collisions() {
        let pools = default_pools();
        assert_eq!(pick_subnet("x", &pools, &[]).unwrap(), n("172.17.0.0/16"));
        let taken = [n("172.17.0.0/16"), n("172.18.5.0/24")];
        assert_eq!(
            pick_subnet("x", &pools, &taken).unwrap(),
            n("172.19.0.0/16")
        );
        let all: Vec<_> = (17..32).map(|b| n(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(pick_subnet("x", &pools, &all).unwrap(), n("192.168.0.0/20"));
        let one = [Pool {
            base: n("10.9.0.0/24"),
            size: 24,
        }];
        assert!(matches!(
            pick_subnet("x", &one, &[n("10.0.0.0/8")]),
            Err(NetError::PoolExhausted { .. })
        ));
    }

    #[test]
    fn addresses() {
        let s = n("10.0.0.0/29");
        let mut used = BTreeSet::from([Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(
            pick_address("x", s, None, &used).unwrap(),
            Ipv4Addr::new(10, 0, 0, 2)
        );
        for i in 2..7 {
            used.insert(Ipv4Addr::new(10, 0, 0, i));
        }
        assert!(pick_address("x", s, None, &used).is_err());
        let r = Some(n("10.0.0.4/30"));
        let used = BTreeSet::new();
        assert_eq!(
            pick_address("x", s, r, &used).unwrap(),
            Ipv4Addr::new(10, 0, 0, 4)
        );
        assert!(check_static("x", s, Ipv4Addr::new(10, 0, 0, 7), &used).is_err());
        assert!(check_static("x", s, Ipv4Addr::new(10, 0, 1, 3), &used).is_err());
        assert!(check_static("x", s, Ipv4Addr::new(10, 0, 0, 3), &used).is_ok());
    }

    #[test]
    fn proc_route() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_route(text), vec![n("192.0.2.0/24")]);
    }
}
