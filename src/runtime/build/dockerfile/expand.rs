//! Variable expansion as BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`) does it.

use super::ast::Instruction;
use super::error::ExpandError;

/// Expands one word: variables substituted, quotes and escapes removed, no word splitting.
/// Used for WORKDIR, USER, COPY/ADD paths and flags, ENV/LABEL/ARG values.
pub fn expand_word(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    let _ = (word, lookup, escape);
    Ok(String::new())
}

/// Expands and splits into words on unquoted whitespace (EXPOSE, VOLUME, ...).
pub fn expand_words(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    let _ = (text, lookup, escape);
    Ok(Vec::new())
}

/// Whether BuildKit expands variables in this instruction's arguments.
pub fn expands_variables(instruction: &Instruction) -> bool {
    let _ = instruction;
    false
}
