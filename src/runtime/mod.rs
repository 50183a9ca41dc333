//! The bundled, daemonless container runtime.
//!
//! - [`image`]: the content-addressed image store, layer unpacking, load/import, pull and push.
//! - [`container`]: container specs, rootfs, volumes, state and the client API ([`container::Runtime`]).
//! - [`monitor`]: the per-container monitor process (`rcompose __monitor ...`) that owns a running
//!   container: logs, restarts, stop, pause, healthchecks and exec.

pub mod container;
pub mod image;
pub mod monitor;
