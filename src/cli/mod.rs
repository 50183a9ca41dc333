//! The `rcompose` command line: thin clap commands over the pipeline stages.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
