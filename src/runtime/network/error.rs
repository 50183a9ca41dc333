//! Typed errors of the networking layer. Every variant carries the object it is about
//! (network, interface, port, file) so a message is actionable without a backtrace.

use std::net::IpAddr;
use std::path::PathBuf;

use super::ports::Protocol;

/// Errors of [`super::NetworkManager`] and the helpers around it.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// An I/O error on a file or socket, with what we were doing.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be parsed or written.
    #[error("network state {}: {source}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The state file was written by a newer (or unknown) format.
    #[error(
        "network state {}: format version {found} is not one this rcompose reads (version \
         {supported}); use the rcompose that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A netlink request failed.
    #[error("netlink: {what}: {message}")]
    Netlink { what: String, message: String },
    /// The nftables ruleset could not be applied.
    #[error("nftables: {0}")]
    Firewall(String),
    /// No free subnet left in the address pools.
    #[error("network {network}: no free subnet left in the address pools {pools}")]
    PoolExhausted { network: String, pools: String },
    /// The requested subnet overlaps another network or a host route.
    #[error("network {network}: subnet {subnet} overlaps {other}")]
    SubnetOverlap {
        network: String,
        subnet: String,
        other: String,
    },
    /// No free address left in a network.
    #[error("network {network}: no free IPv4 address left in {range}")]
    AddressExhausted { network: String, range: String },
    /// A static address is outside the subnet, reserved or taken.
    #[error("network {network}: address {address} is not available: {reason}")]
    AddressUnavailable {
        network: String,
        address: String,
        reason: String,
    },
    /// A value given by the caller is malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// A network is not known in this state root.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// A host port is already taken (found by [`super::NetworkManager::check_ports`]).
    #[error("port {proto} {addr}:{port} is already in use{}", holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse {
        proto: Protocol,
        addr: IpAddr,
        port: u16,
        holder: Option<String>,
    },
    /// The helper process (DNS + port proxies) failed or could not be reached.
    #[error("network helper (netd): {0}")]
    Daemon(String),
    /// A named container or service to share a namespace with is not running.
    #[error("network_mode {mode}: {reason}")]
    NetworkMode { mode: String, reason: String },
}

impl NetError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn netlink(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        NetError::Netlink {
            what: what.into(),
            message: err.to_string(),
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
