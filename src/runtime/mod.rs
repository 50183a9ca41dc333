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

pub mod build;
pub mod container;
pub mod image;
pub mod monitor;
pub mod network;
