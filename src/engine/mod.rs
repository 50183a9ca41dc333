//! The engine: executes a project against the runtime. It turns Compose services into container
//! specs, creates networks and volumes, runs the plan's actions concurrently level by level with
//! `depends_on` gating, and reports every state change as a [`progress::Event`].

pub mod labels;
pub mod progress;
pub mod resources;
pub mod service_spec;
