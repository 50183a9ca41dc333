//! Terminal output as docker compose v2.40 prints it: `ps` tables and JSON, progress views
//! (plain, JSON, live TTY, quiet), and container log lines. Everything here renders plain data
//! to a writer; nothing talks to the runtime.

mod gofmt;
pub mod logs;
mod ports;
pub mod progress;
pub mod ps;
pub mod stats;
mod tabwriter;
mod template;
pub mod warn;

pub use gofmt::{Zone, human_duration, human_size_with_precision, rfc3339_nano_fixed};
pub use ports::{Publisher, displayable_ports};
pub use tabwriter::align;
pub use template::TemplateError;
pub use template::{Fields, Template, Value};
