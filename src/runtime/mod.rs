//! Runtime stage: what actually runs a project on this host (images, containers, networks,
//! volumes). Each sub-module owns one kind of kernel or on-disk object.

pub mod network;
