//! The Compose model: everything between a set of Compose files on disk and a validated, normalized
//! project. This stage is pure: it reads files and the environment values handed to it, nothing else.
//!
//! The pipeline, in the order a load runs it:
//! [`discovery`] (files, directory, name, `.env`) → [`yaml`] (located tree) → [`reset`] →
//! [`interpolate`] → [`include`] → [`extends`] → [`merge`] → [`canonical`] → [`defaults`] →
//! [`paths`] → [`normalize`] → [`consistency`] → [`select`] (profiles) → [`environment`]
//! (env files) → [`decode`] into the typed [`model`]. [`project::load_project`] runs it all.

pub mod canonical;
pub mod consistency;
pub mod decode;
pub mod defaults;
pub mod discovery;
pub mod dotenv;
pub mod environment;
pub mod error;
pub mod extends;
pub mod include;
pub mod interpolate;
pub mod label_files;
pub mod loader;
pub mod merge;
pub mod model;
pub mod node;
pub mod normalize;
pub mod paths;
pub mod project;
pub mod reset;
pub mod select;
pub mod template;
pub mod yaml;

pub use discovery::{Host, ProjectOptions};
pub use error::LoadError;
pub use project::{LoadSettings, Loaded, load_project};
