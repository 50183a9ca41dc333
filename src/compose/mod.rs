//! The Compose model: everything between a set of Compose files on disk and a validated, normalized
//! [`Project`]. This stage is pure: it reads files and environment values handed to it, nothing else.
