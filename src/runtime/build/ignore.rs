//! `.dockerignore` matching, as docker's `moby/patternmatcher` does it.

use std::path::Path;

/// A `.dockerignore` file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore:{line}: {message}")]
pub struct IgnoreError {
    /// 1-based line of the offending pattern (its position for [`DockerIgnore::from_patterns`]).
    pub line: usize,
    pub message: String,
}

/// Compiled `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<String>,
}

impl DockerIgnore {
    /// Parses `.dockerignore` contents.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        Self::from_patterns(text.lines())
    }

    /// Compiles patterns as given (e.g. `COPY --exclude=`).
    pub fn from_patterns<S: AsRef<str>>(
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Self, IgnoreError> {
        Ok(DockerIgnore {
            patterns: patterns
                .into_iter()
                .map(|p| p.as_ref().to_string())
                .collect(),
        })
    }

    /// Whether `rel` (relative to the context root) is excluded from the context.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        self.patterns.is_empty() && rel.as_os_str().is_empty()
    }

    /// Whether an exception (`!pattern`) could re-include something below `dir_rel`, so a walker
    /// must descend into it even though the directory itself is excluded.
    pub fn may_include_under(&self, dir_rel: &Path) -> bool {
        let _ = dir_rel;
        false
    }
}
