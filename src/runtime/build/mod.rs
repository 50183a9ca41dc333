//! rcompose's own image builder: turns a build context and a Dockerfile into an image in the local
//! store, without a daemon and without BuildKit.
//!
//! The front half is pure and lives here:
//! - [`dockerfile`]: the Dockerfile parser (directives, continuations, heredocs, flags, JSON vs
//!   shell forms) producing typed [`dockerfile::Stage`]s, plus BuildKit-compatible variable
//!   expansion that the executor applies per instruction.
//! - [`ignore`]: `.dockerignore` matching, as docker's patternmatcher does it.
//!
//! The executor (stages, RUN in containers, layers, cache) builds on these types.

pub mod dockerfile;
pub mod ignore;
