//! The container runtime: images (this worktree), containers, networks and volumes.

pub mod image;
