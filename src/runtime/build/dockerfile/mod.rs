//! The Dockerfile front end: source text to typed stages, as BuildKit's dockerfile frontend
//! (`moby/buildkit` `frontend/dockerfile/parser` and `instructions`) reads it. Parsing runs in
//! BuildKit's two passes, so errors come in the same order: first the whole file is split into
//! syntax nodes, then each node is given meaning.
//!
//! - [`ast`]: the typed result ([`Dockerfile`], [`Stage`], [`Instruction`], ...).
//! - `lines`: physical lines to nodes (directives, comments, continuations, heredoc bodies).
//! - `directives`: `# syntax=` / `# escape=` / `# check=`.
//! - `words`: keyword, flags and quote-aware words of one line; `node`: per-instruction
//!   argument splitting (JSON vs shell form, `ENV` pairs, ...).
//! - `heredoc`: `<<EOF` markers; `flags`: `--name=value` checks; `duration`: Go durations.
//! - `instruction`: one node to one [`Instruction`], with BuildKit's argument checks.
//! - [`expand`]: `$var` / `${var:-default}` expansion and word splitting, and which instructions
//!   expand (the executor applies it with the ARG/ENV scope of each instruction).
//! - [`error`]: [`ParseError`] and [`ExpandError`].

pub mod ast;
mod directives;
mod duration;
pub mod error;
pub mod expand;
mod flags;
mod heredoc;
mod instruction;
mod lines;
mod node;
mod suggest;
mod words;

pub use ast::{
    Add, ArgDecl, CommandForm, Copy, Directives, Dockerfile, FromImage, HealthCmd, Healthcheck,
    Heredoc, Instruction, Located, Run, RunScript, Stage,
};
pub use error::{ExpandError, ExpandErrorKind, ParseError};
pub use expand::{
    expand_for_display, expand_heredoc, expand_instruction, expand_word, expand_words,
    expands_variables,
};

use instruction::{Parsed, interpret};

/// Parses a whole Dockerfile. Errors name the 1-based line of the offending instruction.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let (directives, nodes) = lines::scan(source)?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &nodes {
        let parsed = interpret(node).map_err(|msg| ParseError::new(node.start_line, msg))?;
        let source = node.original.trim().to_string();
        match (parsed, stages.last_mut()) {
            (Parsed::From { from, name }, _) => stages.push(Stage {
                index: stages.len(),
                name,
                from,
                line: node.start_line,
                source,
                instructions: Vec::new(),
            }),
            (Parsed::Instruction(Instruction::Arg(args)), None) => global_args.extend(args),
            (Parsed::Instruction(_), None) => {
                return Err(ParseError::new(
                    node.start_line,
                    "no build stage in current context",
                ));
            }
            (Parsed::Instruction(instruction), Some(stage)) => {
                stage.instructions.push(Located {
                    line: node.start_line,
                    end_line: node.end_line,
                    source,
                    node: instruction,
                });
            }
        }
    }
    if stages.is_empty() {
        let last = nodes.last().map_or(1, |n| n.end_line);
        return Err(ParseError::new(
            last,
            "dockerfile contains no stages to build",
        ));
    }
    Ok(Dockerfile {
        directives,
        global_args,
        stages,
    })
}

#[cfg(test)]
mod tests;
