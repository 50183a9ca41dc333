//! `.dockerignore` (and `COPY --exclude`) matching, ported from what docker uses:
//! `moby/patternmatcher` (`ignorefile.ReadAll` to read the file, `New` + `MatchesOrParentMatches`
//! to match) and `tonistiigi/fsutil`'s walker shortcut for directories.
//!
//! Patterns are Go `filepath.Match` patterns (`*`, `?`, `[a-z]`, `[^a]`, `\` escapes) plus `**`
//! for any number of directories. A pattern that matches a directory excludes everything below
//! it. `!pattern` re-includes; the last matching pattern wins.

use std::path::Path;

/// A pattern that cannot be used, with the 1-based line (or position) it came from.
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
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`.
    exclusion: bool,
    /// The cleaned pattern without `!`.
    text: String,
    matcher: Matcher,
}

/// How a pattern matches, as patternmatcher's `compile` classifies it.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `dir/**`: the path starts with `dir/`.
    Prefix(String),
    /// `**/name` or `**name`: the path ends with the rest.
    Suffix(String),
    Regex(regex::Regex),
}

impl DockerIgnore {
    /// Parses `.dockerignore` contents as docker reads them: a UTF-8 BOM is dropped, lines
    /// starting with `#` are comments, blank lines are skipped, patterns are trimmed and cleaned
    /// (`./a/../b` is `b`) and a leading `/` is dropped, also after `!`.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let invert = pattern.starts_with('!');
            if invert {
                pattern = pattern[1..].trim();
            }
            let mut cleaned = if pattern.is_empty() {
                String::new()
            } else {
                go_clean(pattern)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            if invert {
                cleaned.insert(0, '!');
            }
            lines.push((index + 1, cleaned));
        }
        Self::compile(lines)
    }

    /// Compiles patterns as given (for `COPY --exclude=`): trimmed and cleaned, not otherwise
    /// rewritten.
    pub fn from_patterns<S: AsRef<str>>(
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Self, IgnoreError> {
        Self::compile(
            patterns
                .into_iter()
                .enumerate()
                .map(|(i, p)| (i + 1, p.as_ref().to_string())),
        )
    }

    /// patternmatcher's `New`.
    fn compile(lines: impl IntoIterator<Item = (usize, String)>) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        for (line, raw) in lines {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = go_clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(IgnoreError {
                        line,
                        message: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned.clone()),
            };
            let bad = |message: String| IgnoreError { line, message };
            if !valid_go_pattern(&text) {
                return Err(bad(format!("syntax error in pattern {text:?}")));
            }
            let matcher = compile(&text).map_err(|e| bad(format!("pattern {text:?}: {e}")))?;
            patterns.push(Pattern {
                exclusion,
                text,
                matcher,
            });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `rel` (relative to the context root, `/`-separated) is excluded: the last
    /// pattern matching it or one of its parent directories decides.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        let file = go_clean(&rel.to_string_lossy());
        if file == "." || self.patterns.is_empty() {
            return false;
        }
        let parents: Vec<&str> = match file.rfind('/') {
            Some(end) if end > 0 => file[..end]
                .match_indices('/')
                .map(|(i, _)| &file[..i])
                .chain([&file[..end]])
                .collect(),
            _ => Vec::new(),
        };
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only patterns that could flip the current answer matter.
            if pattern.exclusion != excluded {
                continue;
            }
            if pattern.matches(&file) || parents.iter().any(|dir| pattern.matches(dir)) {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }

    /// Whether a `!` exception could re-include something below `dir_rel`, so a walker must
    /// descend into it even though the directory itself is excluded. False lets a walker skip an
    /// excluded directory (e.g. `node_modules`) entirely. Conservative as fsutil's walker: any
    /// exception with wildcards (before a trailing `/*` or `/**`) may match anywhere.
    pub fn may_include_under(&self, dir_rel: &Path) -> bool {
        let dir = go_clean(&dir_rel.to_string_lossy());
        let dir_slash = format!("{dir}/");
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let base = p.without_trailing_glob();
            base.contains(['*', '[', ']', '?', '^', '\\'])
                || dir == "."
                || format!("{base}/").starts_with(&dir_slash)
        })
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    fn without_trailing_glob(&self) -> &str {
        let text = self.text.as_str();
        let text = text.strip_suffix("/**").unwrap_or(text);
        text.strip_suffix("/*").unwrap_or(text)
    }
}

/// patternmatcher's `compile`: exact, prefix (`dir/**`), suffix (`**/x`) or a regex.
fn compile(pattern: &str) -> Result<Matcher, regex::Error> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => {
                re.push('\\');
                if let Some(escaped) = chars.next() {
                    re.push(escaped);
                    kind = Kind::Regex;
                }
            }
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            _ => re.push(ch),
        }
        first = false;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            re.push('$');
            Matcher::Regex(regex::Regex::new(&re)?)
        }
    })
}

/// Whether Go's `filepath.Match` accepts the pattern's syntax (it reports `ErrBadPattern` for
/// a trailing `\`, an unclosed or empty `[...]`, and ranges missing an end).
fn valid_go_pattern(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if chars.next().is_none() => return false,
            '[' => {
                chars.next_if_eq(&'^');
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    if !class_char(&mut chars) {
                        return false;
                    }
                    if chars.next_if_eq(&'-').is_some() && !class_char(&mut chars) {
                        return false;
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    true
}

/// One (possibly escaped) character in a `[...]` class, which must be followed by more.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    match chars.next() {
        None | Some('-' | ']') => false,
        Some('\\') => chars.next().is_some() && chars.peek().is_some(),
        Some(_) => chars.peek().is_some(),
    }
}

/// Go's `filepath.Clean` for `/`-separated paths: collapse `//`, drop `.`, resolve `..`
/// lexically, no trailing `/`; `""` is `.`.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str], path: &str) -> bool {
        DockerIgnore::from_patterns(patterns)
            .unwrap()
            .is_excluded(Path::new(path))
    }

    /// moby/patternmatcher `TestMatches` (single patterns, run through `MatchesOrParentMatches`).
    #[test]
    fn patternmatcher_matches_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(excluded(&[pattern], path), *want, "{pattern:?} on {path:?}");
        }
    }

    /// moby/patternmatcher's multi-pattern and exception tests.
    #[test]
    fn exceptions_last_match_wins() {
        assert!(!excluded(
            &["**", "!util/docker/web"],
            "util/docker/web/foo"
        ));
        assert!(excluded(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo"
        ));
        assert!(!excluded(
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3-py3-none-any.whl"
        ));
        assert!(excluded(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!excluded(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(!excluded(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(excluded(&["docs", "!docs/README.md"], "docs/other.md"));
        assert!(!excluded(&["*.go"], "."));
        assert!(!excluded(&[], "any/path/there"));
    }

    /// Go's `filepath.Match` cases as patternmatcher's `TestMatch` runs them.
    #[test]
    fn go_match_cases_and_bad_patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(excluded(&[pattern], path), *want, "{pattern:?} on {path:?}");
        }
        for bad in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "!",
        ] {
            assert!(DockerIgnore::from_patterns([bad]).is_err(), "{bad:?}");
        }
        let err = DockerIgnore::parse("ok\n\n[\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".dockerignore:3: syntax error in pattern \"[\""
        );
    }

    #[test]
    fn reads_dockerignore_like_docker() {
        let ignore = DockerIgnore::parse(
            "\u{feff}# comment\n  # not a comment\n\n/node_modules\n./build/\n!  /build/keep.txt\n*.log\n  **/tmp  \n",
        )
        .unwrap();
        let texts: Vec<(bool, &str)> = ignore
            .patterns
            .iter()
            .map(|p| (p.exclusion, p.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (false, "# not a comment"),
                (false, "node_modules"),
                (false, "build"),
                (true, "build/keep.txt"),
                (false, "*.log"),
                (false, "**/tmp")
            ]
        );
        let is = |p: &str| ignore.is_excluded(Path::new(p));
        assert!(is("node_modules/a/b.js"));
        assert!(is("build/out.o"));
        assert!(!is("build/keep.txt"));
        assert!(is("x.log"));
        assert!(!is("sub/x.log"));
        assert!(is("a/b/tmp/c"));
        assert!(!is("src/main.rs"));
        assert!(!is("./src/../src/main.rs"));
    }

    /// The context docker 20.10 with BuildKit sent for this `.dockerignore` (`COPY . /ctx` then
    /// `find`): the same files are kept here.
    #[test]
    fn same_context_as_docker() {
        let ignore = DockerIgnore::parse(
            "docs\n!docs/README.md\n*.md\n**/*.log\nnode_modules\nbuild\n!build/keep/*\n!logs/z.log\n",
        )
        .unwrap();
        let files = [
            ".dockerignore",
            "Dockerfile",
            "a.md",
            "build/keep/k.txt",
            "build/out.o",
            "docs/README.md",
            "docs/other.md",
            "keepme.txt",
            "logs/z.log",
            "node_modules/pkg/i.js",
            "sub/deep/y.log",
            "sub/x.md",
            "x.log",
        ];
        let kept: Vec<&str> = files
            .into_iter()
            .filter(|f| !ignore.is_excluded(Path::new(f)))
            .collect();
        assert_eq!(
            kept,
            [
                ".dockerignore",
                "Dockerfile",
                "build/keep/k.txt",
                "docs/README.md",
                "keepme.txt",
                "logs/z.log",
                "sub/x.md"
            ]
        );
        assert!(!ignore.may_include_under(Path::new("node_modules")));
        assert!(ignore.may_include_under(Path::new("build")));
    }

    /// fsutil's walker shortcut: skip an excluded directory unless an exception may apply.
    #[test]
    fn walker_may_skip_excluded_dirs() {
        let ignore = DockerIgnore::parse("node_modules\nbuild\n!build/keep/*\n").unwrap();
        assert!(!ignore.may_include_under(Path::new("node_modules")));
        assert!(ignore.may_include_under(Path::new("build")));
        assert!(ignore.may_include_under(Path::new("build/keep")));
        assert!(!ignore.may_include_under(Path::new("build/other")));
        let wild = DockerIgnore::parse("*\n!*.md\n").unwrap();
        assert!(wild.may_include_under(Path::new("anything")));
        let none = DockerIgnore::parse("node_modules\n").unwrap();
        assert!(!none.may_include_under(Path::new("node_modules")));
    }

    #[test]
    fn clean_like_go() {
        for (path, want) in [
            ("", "."),
            ("a//b/./c/", "a/b/c"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("./", "."),
            ("/", "/"),
            ("a/b/..", "a"),
        ] {
            assert_eq!(go_clean(path), want, "{path:?}");
        }
    }
}
