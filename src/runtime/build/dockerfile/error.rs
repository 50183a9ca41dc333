//! Errors of the Dockerfile parser and of variable expansion.

/// A Dockerfile that cannot be parsed. Displays as `Dockerfile:7: unknown instruction: RUNN`;
/// use [`ParseError::in_file`] to name the real file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.as_deref().unwrap_or("Dockerfile"))]
pub struct ParseError {
    /// 1-based line where the offending instruction starts.
    pub line: usize,
    /// What is wrong, naming the instruction and what was expected.
    pub message: String,
    /// The file name for display; `Dockerfile` when unset.
    pub file: Option<String>,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
            file: None,
        }
    }

    /// The same error, displayed with `file` instead of `Dockerfile`.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

/// A word that cannot be expanded, as BuildKit's shell lexer reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {kind}")]
pub struct ExpandError {
    /// The text being expanded.
    pub word: String,
    pub kind: ExpandErrorKind,
}

/// What is wrong with an expanded word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// A quote or `${...}` operand runs to the end: names what was being looked for.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(String),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${name:?message}` with `name` unset (or empty).
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("substitutions nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}
