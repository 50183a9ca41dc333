//! `.env` and `env_file` parsing, byte-for-byte as compose-go's `dotenv` package (the project
//! `.env` / `--env-file` files and `env_file` entries of the default format), plus the `raw`
//! `env_file` format that docker compose registers (docker/cli's `kvfile` semantics).
//!
//! compose-go's parser is a hand-written scanner with some surprising edges (a trailing `KEY`
//! without newline becomes the value of an empty key, text after a closing quote starts a new
//! statement, line numbers in errors drift); they are reproduced on purpose because they decide
//! what real projects load.

use indexmap::IndexMap;
use thiserror::Error;

use super::template::{self, ArgEvaluation, TemplateError, go_quote};

/// A file that compose-go rejects. `Display` is exactly compose-go's text (it starts with
/// `line N: ` only where compose-go's does); the caller adds `failed to read <path>: `
/// (default format) or `failed to parse env_file <path>: ` (`raw`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct DotenvError {
    /// 1-based line the parser had reached; compose-go counts it loosely, so treat it as a hint.
    pub line: usize,
    pub message: String,
    /// Set when `${...}` expansion in a value failed; `message` is then this error's text.
    pub template: Option<TemplateError>,
}

impl DotenvError {
    fn syntax(line: usize, message: String) -> Self {
        Self {
            line,
            message,
            template: None,
        }
    }
}

/// Parses a `.env` file. `${VAR}` expansion sees `lookup` first, then keys defined earlier in
/// this file (compose-go's order, so the process environment beats the file's own values).
/// A bare `KEY` line takes `lookup(KEY)` and is omitted when that is `None`.
pub fn parse(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let mut out = IndexMap::new();
    parse_into(content, lookup, &mut out, &mut |_| {})?;
    Ok(out)
}

/// [`parse`] into an existing map, as compose-go does when several files (or a service's
/// `environment` plus its `env_file`s) accumulate: values already in `out` are visible to
/// expansion after `lookup`, and keys are overwritten in place. `on_unset` receives each variable
/// compose-go would warn about ("The \"X\" variable is not set...").
pub fn parse_into(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut IndexMap<String, String>,
    on_unset: &mut dyn FnMut(&str),
) -> Result<(), DotenvError> {
    parse_into_with(content, lookup, out, on_unset, ArgEvaluation::Lazy)
}

/// [`parse_into`] with an explicit [`ArgEvaluation`] for `${VAR:-...}` arguments in values.
pub fn parse_into_with(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut IndexMap<String, String>,
    on_unset: &mut dyn FnMut(&str),
    evaluation: ArgEvaluation,
) -> Result<(), DotenvError> {
    let src = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let mut parser = Parser {
        line: 1,
        lookup,
        on_unset,
        evaluation,
    };
    parser.run(src, out)
}

/// Parses an `env_file` with `format: raw`: `KEY=VALUE` lines taken literally (no quotes,
/// escapes, comments after values or expansion). A line holding only `KEY` is omitted.
pub fn parse_raw(content: &str) -> Result<IndexMap<String, String>, DotenvError> {
    parse_raw_with_lookup(content, &|_| None)
}

/// [`parse_raw`] where a bare `KEY` line takes `lookup(KEY)` (docker compose passes the
/// project environment, then the service's `environment`) and is omitted when that is `None`.
pub fn parse_raw_with_lookup(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let mut out = IndexMap::new();
    for (index, raw) in scan_lines(content).enumerate() {
        let line = index + 1;
        // The scanner needs room for the whole line plus its newline (or to see end of input).
        if raw.len() >= MAX_RAW_LINE {
            let message = "bufio.Scanner: token too long".to_owned();
            return Err(DotenvError::syntax(line, message));
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let raw = if line == 1 {
            raw.strip_prefix('\u{FEFF}').unwrap_or(raw)
        } else {
            raw
        };
        raw_line(raw, line, lookup, &mut out)?;
    }
    Ok(out)
}

/// bufio.Scanner's longest token; docker's kvfile inherits the limit.
const MAX_RAW_LINE: usize = 64 * 1024;

/// Lines as Go's `bufio.ScanLines` sees them: split on `\n`, no empty token after a final
/// newline (the caller drops the trailing `\r` ScanLines removes).
fn scan_lines(content: &str) -> impl Iterator<Item = &str> {
    let body = content.strip_suffix('\n').unwrap_or(content);
    let lines = (!content.is_empty()).then(|| body.split('\n'));
    lines.into_iter().flatten()
}

fn raw_line(
    raw: &str,
    line: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut IndexMap<String, String>,
) -> Result<(), DotenvError> {
    let text = raw.trim_start();
    if text.is_empty() || text.starts_with('#') {
        return Ok(());
    }
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (text, None),
    };
    if key.is_empty() {
        return Err(DotenvError::syntax(
            line,
            format!("no variable name on line '{text}'"),
        ));
    }
    if key.contains([' ', '\t']) {
        return Err(DotenvError::syntax(
            line,
            format!("variable '{key}' contains whitespaces"),
        ));
    }
    if let Some(value) = value.map(str::to_owned).or_else(|| lookup(text)) {
        out.insert(key.to_owned(), value);
    }
    Ok(())
}

/// compose-go's `isSpace`: blanks that are not line breaks.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Go's `unicode.IsLetter` (category L). Rust's `is_alphabetic` adds Other_Alphabetic: combining
/// marks, which `char::escape_debug` escapes as grapheme extenders, and circled/squared letters
/// (symbols), excluded by range. Spacing marks (Mc, e.g. Devanagari vowel signs) remain accepted,
/// unlike Go: std has no category table for them.
fn is_go_letter(c: char) -> bool {
    const SYMBOL_LETTERS: [(char, char); 4] = [
        ('\u{24B6}', '\u{24E9}'),
        ('\u{1F130}', '\u{1F149}'),
        ('\u{1F150}', '\u{1F169}'),
        ('\u{1F170}', '\u{1F189}'),
    ];
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    c.is_alphabetic()
        && c.escape_debug().count() == 1
        && !SYMBOL_LETTERS
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Scanner state: compose-go keeps a running line counter and advances through slices.
struct Parser<'a> {
    line: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    on_unset: &'a mut dyn FnMut(&str),
    evaluation: ArgEvaluation,
}

impl Parser<'_> {
    fn run(&mut self, src: &str, out: &mut IndexMap<String, String>) -> Result<(), DotenvError> {
        let mut cut = src;
        loop {
            cut = self.statement_start(cut);
            if cut.is_empty() {
                return Ok(());
            }
            let (key, left, inherited) = self.key_name(cut)?;
            if key.contains(' ') {
                let message = format!("line {}: key cannot contain a space", self.line);
                return Err(DotenvError::syntax(self.line, message));
            }
            if inherited {
                if let Some(value) = (self.lookup)(key) {
                    out.insert(key.to_owned(), value);
                }
                cut = left;
                continue;
            }
            let (value, left) = self.value(left, out)?;
            out.insert(key.to_owned(), value);
            cut = left;
        }
    }

    /// Skips blank space and `#` comment lines, counting newlines; "" at end of input.
    fn statement_start<'s>(&mut self, mut src: &'s str) -> &'s str {
        loop {
            let Some(pos) = src.find(|c: char| !c.is_whitespace()) else {
                self.line += src.matches('\n').count();
                return "";
            };
            self.line += src[..pos].matches('\n').count();
            src = &src[pos..];
            if !src.starts_with('#') {
                return src;
            }
            match src.find('\n') {
                Some(nl) => src = &src[nl..],
                None => return "",
            }
        }
    }

    /// Reads `[export ]KEY` up to `=`, `:` or a newline (the latter: a bare `KEY`, "inherited").
    /// Returns the key, the text after the separator and whether it is inherited.
    fn key_name<'s>(&mut self, src: &'s str) -> Result<(&'s str, &'s str, bool), DotenvError> {
        let src = strip_export(src);
        let mut key = "";
        let mut offset = 0;
        let mut inherited = false;
        for (i, c) in src.char_indices() {
            if is_blank(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key = &src[..i];
                    offset = i + 1;
                    inherited = c == '\n';
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if is_go_letter(c) || c.is_numeric() => {}
                c => return Err(self.bad_key_char(c, src)),
            }
        }
        if src.is_empty() {
            return Err(DotenvError::syntax(self.line, "zero length string".into()));
        }
        // compose-go skips the count when the untrimmed key has a space; later lines drift.
        if inherited && !key.contains(' ') {
            self.line += 1;
        }
        let key = key.trim_end_matches(char::is_whitespace);
        Ok((key, src[offset..].trim_start_matches(is_blank), inherited))
    }

    fn bad_key_char(&self, c: char, src: &str) -> DotenvError {
        let first_line = src.split('\n').next().unwrap_or_default();
        let message = format!(
            "line {}: unexpected character {} in variable name {}",
            self.line,
            go_quote(c.encode_utf8(&mut [0; 4])),
            go_quote(first_line)
        );
        DotenvError::syntax(self.line, message)
    }

    /// Reads a value (unquoted to end of line, or quoted, possibly over several lines) and
    /// returns it expanded together with the remaining input.
    fn value<'s>(
        &mut self,
        src: &'s str,
        vars: &IndexMap<String, String>,
    ) -> Result<(String, &'s str), DotenvError> {
        match src.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => self.quoted(src, q, vars),
            _ => self.unquoted(src, vars),
        }
    }

    fn unquoted<'s>(
        &mut self,
        src: &'s str,
        vars: &IndexMap<String, String>,
    ) -> Result<(String, &'s str), DotenvError> {
        let (value, rest) = src.split_once('\n').unwrap_or((src, ""));
        self.line += 1;
        // Only ` #` starts a comment: `a#b` and a tab before `#` keep the text.
        let value = value.split(" #").next().unwrap_or_default();
        let value = value.trim_end_matches(char::is_whitespace);
        Ok((self.expand(value, vars)?, rest))
    }

    /// Walks to the closing quote; a backslash protects the quote (and is dropped before it),
    /// anything else keeps its backslash for the escape pass.
    fn quoted<'s>(
        &mut self,
        src: &'s str,
        quote: u8,
        vars: &IndexMap<String, String>,
    ) -> Result<(String, &'s str), DotenvError> {
        let bytes = src.as_bytes();
        let mut chars = Vec::new();
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if b == b'\n' {
                self.line += 1;
            }
            if b == quote && !escaped {
                let value = String::from_utf8_lossy(&chars).into_owned();
                let value = if quote == b'"' {
                    self.expand(&expand_escapes(&value), vars)?
                } else {
                    value
                };
                return Ok((value, &src[i + 1..]));
            }
            if b == quote || escaped {
                if b != quote {
                    chars.push(b'\\');
                }
                escaped = false;
                chars.push(b);
            } else if b == b'\\' {
                escaped = true;
            } else {
                chars.push(b);
            }
        }
        let first_line = src.split('\n').next().unwrap_or_default();
        let message = format!("line {}: unterminated quoted value {first_line}", self.line);
        Err(DotenvError::syntax(self.line, message))
    }

    fn expand(
        &mut self,
        value: &str,
        vars: &IndexMap<String, String>,
    ) -> Result<String, DotenvError> {
        let lookup = self.lookup;
        let resolve = |k: &str| lookup(k).or_else(|| vars.get(k).cloned());
        template::substitute_with(value, &resolve, self.on_unset, self.evaluation).map_err(|e| {
            DotenvError {
                line: self.line,
                message: e.to_string(),
                template: Some(e),
            }
        })
    }
}

/// Drops a leading `export` keyword: Go's `^export\s+` (`\s` includes `\n`, not `\v`), then
/// only non-newline blanks.
fn strip_export(src: &str) -> &str {
    match src.strip_prefix("export") {
        Some(rest) if rest.starts_with(['\t', '\n', '\u{c}', '\r', ' ']) => {
            rest.trim_start_matches(is_blank)
        }
        _ => src,
    }
}

/// compose-go's `expandEscapes` on a double-quoted value: the escapes matched by
/// `\\(?:[abcfnrtv$"\\]|0\d{0,3})` are decoded as Go would, `\$` becomes `$$` for the template
/// engine, `\c` stays as written and an undecodable `\0...` loses its `0` (`\01` gives `\1`).
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let len = escape_len(tail);
        if len == 0 {
            out.push('\\');
            rest = &tail[1..];
            continue;
        }
        out.push_str(&decode_escape(&tail[..len]));
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Length of the escape sequence at the start of `s` (which starts with `\`), 0 if none.
fn escape_len(s: &str) -> usize {
    let b = s.as_bytes();
    match b.get(1) {
        Some(b'a' | b'b' | b'c' | b'f' | b'n' | b'r' | b't' | b'v' | b'$' | b'"' | b'\\') => 2,
        Some(b'0') => {
            2 + b[2..]
                .iter()
                .take(3)
                .take_while(|d| d.is_ascii_digit())
                .count()
        }
        _ => 0,
    }
}

fn decode_escape(seq: &str) -> String {
    let decoded = match seq {
        "\\$" => return "$$".to_owned(),
        "\\a" => '\u{7}',
        "\\b" => '\u{8}',
        "\\f" => '\u{c}',
        "\\n" => '\n',
        "\\r" => '\r',
        "\\t" => '\t',
        "\\v" => '\u{b}',
        "\\\"" => '"',
        "\\\\" => '\\',
        // compose-go rewrites `\0` to `\` before decoding and returns the rewritten text on failure.
        _ if seq.starts_with("\\0") => match octal(&seq[2..]) {
            Some(c) => c,
            None => return format!("\\{}", &seq[2..]),
        },
        _ => return seq.to_owned(),
    };
    decoded.to_string()
}

/// `\0ddd` is rewritten to Go's `\ddd`, which needs exactly three octal digits up to 255.
fn octal(digits: &str) -> Option<char> {
    if digits.len() != 3 {
        return None;
    }
    let value = u32::from_str_radix(digits, 8).ok()?;
    (value <= 255).then(|| char::from_u32(value)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn ok(content: &str) -> Vec<(String, String)> {
        ok_with(content, &no_env)
    }

    fn ok_with(content: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        match parse(content, lookup) {
            Ok(m) => m.into_iter().collect(),
            Err(e) => panic!("{content:?} failed: {e}"),
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(content: &str) -> DotenvError {
        match parse(content, &no_env) {
            Ok(m) => panic!("{content:?} should fail, gave {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn plain_values_spaces_and_inline_comments_case_014() {
        let content = "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\n\
                       OPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n";
        let want = [
            ("OPTION_A", "1"),
            ("OPTION_B", "2"),
            ("OPTION_C", "3"),
            ("OPTION_D", "4"),
            ("OPTION_E", "5"),
            ("456", "ABC"),
            ("OPTION_F", ""),
            ("OPTION_G", ""),
            ("OPTION_H", "my string"),
        ];
        assert_eq!(ok(content), pairs(&want));
    }

    #[test]
    fn quoted_values_case_014() {
        let content = "A='1'\nC=''\nD='\\n'\nE=\"1\"\nG=\"\"\nH=\"\\n\"\nI = \"echo 'asd'\" # c\n\
                       J = 'first line\nsecond line'\nK='Let\\'s go!'\nZ = \"last value\"\n";
        let want = [
            ("A", "1"),
            ("C", ""),
            ("D", "\\n"),
            ("E", "1"),
            ("G", ""),
            ("H", "\n"),
            ("I", "echo 'asd'"),
            ("J", "first line\nsecond line"),
            ("K", "Let's go!"),
            ("Z", "last value"),
        ];
        assert_eq!(ok(content), pairs(&want));
    }

    #[test]
    fn export_prefix_and_yaml_style_separator() {
        let content = "export A=2\nexport B='\\n'\n  export  C=3\nexportD=4\nE: 5\nF:x:y\n";
        let want = [
            ("A", "2"),
            ("B", "\\n"),
            ("C", "3"),
            ("exportD", "4"),
            ("E", "5"),
            ("F", "x:y"),
        ];
        assert_eq!(ok(content), pairs(&want));
    }

    #[test]
    fn double_quote_escapes() {
        let content =
            "A=\"x\\ty\\0123\\c\\a\\v\\\\\"\nB=\"\\0\\01\\0777\\08\\01234\"\nC=\"\\\"q\\\"\"\n";
        let want = [
            ("A", "x\tyS\\c\u{7}\u{b}\\"),
            ("B", "\\\\1\\777\\8S4"),
            ("C", "\"q\""),
        ];
        assert_eq!(ok(content), pairs(&want));
    }

    #[test]
    fn single_quotes_are_literal() {
        let content = "A='$FOO ${FOO} \\\\ \\n'\n";
        let env = |k: &str| (k == "FOO").then(|| "x".to_owned());
        assert_eq!(
            ok_with(content, &env),
            pairs(&[("A", "$FOO ${FOO} \\\\ \\n")])
        );
    }

    #[test]
    fn expansion_in_unquoted_and_double_quoted_values() {
        let content = "A=1\nB=${A}\nC=$B\nD=${A}_${B}\nE=${NOPE}\nF=\"${A:-x}-${NOPE:-d}\"\n\
                       G=\\$A\nH=\"\\$A $$A\"\n";
        let want = [
            ("A", "1"),
            ("B", "1"),
            ("C", "1"),
            ("D", "1_1"),
            ("E", ""),
            ("F", "1-d"),
            ("G", "\\1"),
            ("H", "$A $A"),
        ];
        assert_eq!(ok(content), pairs(&want));
    }

    #[test]
    fn lookup_wins_over_earlier_values_in_the_file_case_015() {
        let env = |k: &str| (k == "FOO").then(|| "zot".to_owned());
        let content = "FOO=foo\nBAR=${FOO}\n";
        assert_eq!(
            ok_with(content, &env),
            pairs(&[("FOO", "foo"), ("BAR", "zot")])
        );
        assert_eq!(ok(content), pairs(&[("FOO", "foo"), ("BAR", "foo")]));
    }

    #[test]
    fn bare_key_takes_lookup_or_is_omitted() {
        let env = |k: &str| match k {
            "SET" => Some("v".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let content = "SET\nEMPTY\nMISSING\nexport SET\nA=1\nA\n";
        assert_eq!(
            ok_with(content, &env),
            pairs(&[("SET", "v"), ("EMPTY", ""), ("A", "1")])
        );
    }

    #[test]
    fn trailing_bare_key_without_newline_is_the_value_of_an_empty_key() {
        assert_eq!(ok("FOO=1\nBAR"), pairs(&[("FOO", "1"), ("", "BAR")]));
        assert_eq!(ok("export FOO"), pairs(&[("", "FOO")]));
    }

    #[test]
    fn text_after_a_closing_quote_is_a_new_statement() {
        assert_eq!(ok("Q=\"a\" B=c\n"), pairs(&[("Q", "a"), ("B", "c")]));
        assert_eq!(ok("A=\"x\" # c\n"), pairs(&[("A", "x")]));
    }

    #[test]
    fn comments_blank_lines_bom_and_crlf() {
        let content = "\u{feff}# c\r\n\r\n  #B=2\r\nA=1\r\nC=x#y\r\nD= #z\r\nE=a\t#b\r\n";
        let want = [("A", "1"), ("C", "x#y"), ("D", "#z"), ("E", "a\t#b")];
        assert_eq!(ok(content), pairs(&want));
        assert_eq!(ok(""), pairs(&[]));
        assert_eq!(ok("   # only"), pairs(&[]));
    }

    #[test]
    fn unicode_keys_follow_go_letter_and_number_classes() {
        assert_eq!(
            ok("ñame=1\nⅫ=2\n٣=3\n"),
            pairs(&[("ñame", "1"), ("Ⅻ", "2"), ("٣", "3")])
        );
        assert!(err("Ⓐ=1\n").message.contains("unexpected character"));
        assert!(err("a\u{301}=1\n").message.contains("unexpected character"));
    }

    #[test]
    fn syntax_errors_carry_compose_go_messages() {
        let cases = [
            ("K EY=1\n", 1, "line 1: key cannot contain a space"),
            (
                "KEY\nB$=1\n",
                2,
                r#"line 2: unexpected character "$" in variable name "B$=1""#,
            ),
            (
                "A=\"abc\nB=2\nC=3\n",
                4,
                "line 4: unterminated quoted value \"abc",
            ),
            ("export   ", 1, "zero length string"),
            // compose-go does not count the line of a bare key written with a trailing space.
            (
                "FOO \nA=1\nB$=2\n",
                2,
                r#"line 2: unexpected character "$" in variable name "B$=2""#,
            ),
        ];
        for (content, line, message) in cases {
            let e = err(content);
            assert_eq!(
                (e.line, e.to_string()),
                (line, message.to_owned()),
                "{content:?}"
            );
            assert_eq!(e.template, None);
        }
    }

    #[test]
    fn template_errors_are_reported_unprefixed() {
        let e = err("A=${\n");
        assert_eq!(e.to_string(), r#"Invalid template: "${""#);
        assert!(matches!(
            e.template,
            Some(TemplateError::InvalidFormat { .. })
        ));
        let e = err("A=\"${B:?oops}\"\n");
        assert_eq!(
            e.to_string(),
            "required variable B is missing a value: oops"
        );
        assert_eq!(ok("A='${'\n"), pairs(&[("A", "${")]));
    }

    #[test]
    fn parse_into_sees_existing_values_and_reports_unset() {
        let mut out = IndexMap::from([("BASE".to_owned(), "b".to_owned())]);
        let mut unset = Vec::new();
        let r = parse_into("X=${BASE}-${NOPE}\nBASE=c\n", &no_env, &mut out, &mut |n| {
            unset.push(n.to_owned())
        });
        assert_eq!(r, Ok(()));
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            pairs(&[("BASE", "c"), ("X", "b-")])
        );
        assert_eq!(unset, ["NOPE"]);
    }

    #[test]
    fn raw_format_takes_lines_literally() {
        let content =
            "\u{feff}  A=\"x\" # not a comment \r\n# c\n\nB=${X}\n C==y\nSET\nMISSING\nD=";
        let env = |k: &str| (k == "SET").then(|| "v".to_owned());
        let got: Vec<_> = match parse_raw_with_lookup(content, &env) {
            Ok(m) => m.into_iter().collect(),
            Err(e) => panic!("{e}"),
        };
        let want = [
            ("A", "\"x\" # not a comment "),
            ("B", "${X}"),
            ("C", "=y"),
            ("SET", "v"),
            ("D", ""),
        ];
        assert_eq!(got, pairs(&want));
        assert_eq!(parse_raw("SET\n").map(|m| m.len()), Ok(0));
    }

    #[test]
    fn raw_format_errors() {
        let msg = |c: &str| parse_raw(c).map_err(|e| (e.line, e.to_string()));
        assert_eq!(
            msg("A=1\n=x\n"),
            Err((2, "no variable name on line '=x'".into()))
        );
        assert_eq!(
            msg("A B=1\n"),
            Err((1, "variable 'A B' contains whitespaces".into()))
        );
        assert_eq!(
            msg("A\tB\n"),
            Err((1, "variable 'A\tB' contains whitespaces".into()))
        );
        let long = format!("A={}\r", "x".repeat(MAX_RAW_LINE - 3));
        assert_eq!(msg(&long), Err((1, "bufio.Scanner: token too long".into())));
    }

    proptest! {
        #[test]
        fn parse_never_panics(content in "\\PC*") {
            let _ = parse(&content, &no_env);
            let _ = parse_raw(&content);
        }

        #[test]
        fn parse_never_panics_on_dotenv_syntax(content in "[AB= :#'\"\\\\$\\{\\}\\-\\n\\r\\t0x]{0,40}") {
            let lookup = |k: &str| (k == "A").then(|| "a".to_owned());
            let _ = parse(&content, &lookup);
            let _ = parse_raw_with_lookup(&content, &lookup);
        }
    }
}
