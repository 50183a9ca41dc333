//! The Compose model: everything between a set of Compose files on disk and a validated, normalized
//! project. This stage is pure: it reads files and the environment values handed to it, nothing else.

pub mod decode;
pub mod node;
pub mod yaml;
