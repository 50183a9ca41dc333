//! rcompose's own image builder: turns a build context and a Dockerfile into an image in the local
//! store, without a daemon and without BuildKit.
//!
//! The front half is pure and lives here:
//! - [`dockerfile`]: the Dockerfile parser (directives, continuations, heredocs, flags, JSON vs
//!   shell forms) producing typed [`dockerfile::Stage`]s, plus BuildKit-compatible variable
//!   expansion that the executor applies per instruction.
//! - [`ignore`]: `.dockerignore` matching, as docker's patternmatcher does it.
//!
//! The back half executes it:
//! - [`builder`]: the entry point ([`Builder::build`]); [`session`]: one build's shared state;
//!   [`stage`]: which stages a target needs; [`executor`]: one stage, instruction by instruction.
//! - [`instructions`]: what each instruction does (config changes, COPY/ADD, RUN's command).
//! - [`context`]: source trees, `.dockerignore` walks and content checksums.
//! - [`overlay`]: build overlays; [`sandbox`] and [`buildnet`]: RUN in a container on the NATed
//!   build network; [`layer`]: an upper dir to a stored layer; [`cache`]: the step cache;
//!   [`config`] and [`commit`]: the image config and the final image; [`progress`]: BuildKit-style
//!   output; [`fsops`]: safe `*at` file operations; [`error`]: [`BuildError`].

pub mod builder;
pub mod buildnet;
pub mod cache;
pub mod commit;
pub mod config;
pub mod context;
pub mod dockerfile;
pub mod error;
pub mod executor;
pub mod fsops;
pub mod ignore;
pub mod instructions;
pub mod layer;
pub mod overlay;
pub mod progress;
pub mod sandbox;
pub mod session;
pub mod stage;

pub use builder::{BuildRequest, Builder, DockerfileSource};
pub use cache::BuildCache;
pub use error::BuildError;
pub use progress::{BuildEvent, BuildProgress, PlainProgress, QuietProgress, Reporter};
pub use sandbox::StepNetwork;
