//! rcompose: run docker-compose projects with a bundled, daemonless container runtime.
//!
//! The crate is a pipeline; each stage is a module that can be tested on its own:
//!
//! 1. [`compose`]: load, interpolate, merge, normalize and validate a Compose project (pure).
//! 2. [`plan`]: the dependency graph and the desired-vs-observed diff.
//! 3. [`engine`]: executes a plan concurrently.
//! 4. `runtime`: images, containers, networks and volumes.
//! 5. [`cli`]: the `rcompose` command line on top.

pub mod cli;
pub mod compose;
pub mod engine;
pub mod plan;
pub mod runtime;
