//! The bundled, daemonless container runtime: what actually runs a project on this host. Each
//! sub-module owns one kind of kernel or on-disk object.
//!
//! - [`image`]: the content-addressed image store, layer unpacking, load/import, pull and push.
//! - [`container`]: container specs, rootfs, volumes, state and the client API ([`container::Runtime`]).
//! - [`monitor`]: the per-container monitor process (`rcompose __monitor ...`) that owns a running
//!   container: logs, restarts, stop, pause, healthchecks and exec.
//! - [`network`]: bridges, IPAM, veths, the embedded DNS, published ports and NAT, and the
//!   `rcompose __netd` helper process.
//! - [`build`]: the Dockerfile builder (parser, `.dockerignore`, executor).

/// A diagnostic line on stderr that never panics (`eprintln!` does when the write fails): the
/// helper processes' stderr is a file on the state disk, and a full disk must not take a monitor,
/// and with it its container, down.
macro_rules! diag {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod build;
pub mod container;
pub mod image;
pub mod monitor;
pub mod network;
