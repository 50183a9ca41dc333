//! Planning `up`: the services' dependency graph ([`graph`]) and the difference between what the
//! project wants and what the runtime has ([`diff`]). Pure: no runtime calls, so every decision
//! about ordering, recreation and scaling is tested here without containers.

pub mod diff;
pub mod graph;
