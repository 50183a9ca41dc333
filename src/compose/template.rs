//! Variable interpolation in Compose strings, byte-for-byte as compose-go's `template` package
//! (docker compose v2): `$$`, `$VAR`, `${VAR}` and the `:-` `-` `:+` `+` `:?` `?` operators, nested
//! and lazily evaluated, plus the variable listing behind `config --variables`.
//!
//! compose-go matches one regular expression and then re-parses each match; its quirks (greedy
//! `${VAR:-...}` up to the last `}` of the line, a brace counter that skips the character after each
//! `{`, case-insensitive names that also admit `ſ` and `K`) decide real outputs, so they are
//! reproduced here on purpose rather than "fixed".

use indexmap::IndexMap;
use thiserror::Error;

/// Nesting limit for defaults inside defaults. compose-go has none (Go stacks grow); we stop far
/// beyond anything a real file contains so that hostile input cannot overflow our stack.
const MAX_DEPTH: usize = 500;

/// A failed substitution. `Display` is compose-go's template-level text; the interpolation layer
/// wraps it with the attribute path, see [`TemplateError::at_path`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `${` that does not open a valid expression. `template` is the text compose-go reports: the
    /// (sub-)template being scanned when the bad `${` was met.
    #[error("Invalid template: {}", go_quote(.template))]
    InvalidFormat { template: String },
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing; `message` is already
    /// interpolated.
    #[error("required variable {variable} is missing a value{}", reason_suffix(.message))]
    RequiredMissing { variable: String, message: String },
}

impl TemplateError {
    /// The message compose-go's interpolation layer prints for a value at `path` (dotted, e.g.
    /// `services.web.image`).
    pub fn at_path(&self, path: &str) -> String {
        match self {
            Self::InvalidFormat { template } => format!(
                "invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{template}"
            ),
            Self::RequiredMissing { .. } => format!("error while interpolating {path}: {self}"),
        }
    }
}

fn reason_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// One variable reference found by [`variables`], as compose-go's `template.Variable`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variable {
    pub name: String,
    /// Raw (not interpolated) text after `:-` / `-`; empty when there is none.
    pub default_value: String,
    /// Raw text after `:+` / `+` ("ALTERNATE VALUE" in `config --variables`).
    pub presence_value: String,
    /// `:?` or `?` was used.
    pub required: bool,
}

/// Substitutes variables in `template`; `lookup` returns `None` for an unset variable.
/// An unset variable without operator becomes the empty string; use [`substitute_reporting`]
/// to learn which ones, so the caller can print compose's warning.
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    substitute_reporting(template, lookup, &mut |_| {})
}

/// [`substitute`], calling `on_unset(name)` exactly where compose-go logs
/// `The "NAME" variable is not set. Defaulting to a blank string.` (once per occurrence, only for
/// `$VAR` / `${VAR}` actually evaluated; never for an operator's own variable).
pub fn substitute_reporting(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    on_unset: &mut dyn FnMut(&str),
) -> Result<String, TemplateError> {
    substitute_with(template, lookup, on_unset, ArgEvaluation::Lazy)
}

/// When an operator's argument (default, alternate value, error message) is substituted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgEvaluation {
    /// Only when used: compose-go since v2.10.1 (January 2026).
    #[default]
    Lazy,
    /// Always, before the variable is looked up, so errors and warnings inside unused arguments
    /// fire: compose-go up to v2.10.0, i.e. docker compose v2.40.x and earlier.
    Eager,
}

/// [`substitute_reporting`] with an explicit [`ArgEvaluation`].
pub fn substitute_with(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    on_unset: &mut dyn FnMut(&str),
    evaluation: ArgEvaluation,
) -> Result<String, TemplateError> {
    let mut engine = Engine {
        lookup,
        on_unset,
        evaluation,
        depth: 0,
    };
    engine.run(template)
}

/// Variables referenced by `template` (including those nested in defaults), for
/// `config --variables`. Order is compose-go's discovery order, which lists text after an
/// operator expression before the expression's own variable; duplicates keep their first
/// position and take the last occurrence's fields, as compose-go's map assignment does.
pub fn variables(template: &str) -> Vec<Variable> {
    let mut unique: IndexMap<String, Variable> = IndexMap::new();
    for var in extract(template, 0) {
        unique.insert(var.name.clone(), var);
    }
    unique.into_values().collect()
}

/// The operators of `${NAME<op>arg}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    DefaultIfEmpty,
    DefaultIfUnset,
    AltIfNotEmpty,
    AltIfSet,
    RequiredNotEmpty,
    RequiredSet,
}

impl Op {
    /// Reads an operator at the start of `s`.
    fn parse(s: &str) -> Option<Op> {
        let b = s.as_bytes();
        let colon = b.first() == Some(&b':');
        let at = usize::from(colon);
        let op = match (b.get(at), colon) {
            (Some(b'-'), true) => Op::DefaultIfEmpty,
            (Some(b'-'), false) => Op::DefaultIfUnset,
            (Some(b'+'), true) => Op::AltIfNotEmpty,
            (Some(b'+'), false) => Op::AltIfSet,
            (Some(b'?'), true) => Op::RequiredNotEmpty,
            (Some(b'?'), false) => Op::RequiredSet,
            _ => return None,
        };
        Some(op)
    }

    fn len(self) -> usize {
        match self {
            Op::DefaultIfEmpty | Op::AltIfNotEmpty | Op::RequiredNotEmpty => 2,
            Op::DefaultIfUnset | Op::AltIfSet | Op::RequiredSet => 1,
        }
    }
}

/// One match of compose-go's pattern
/// `\$(?i:(\$)|([_a-z][_a-z0-9]*)|{(?:([_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|()))`.
#[derive(Debug, Clone, Copy)]
enum Match<'a> {
    /// `$$`
    Escaped,
    /// `$NAME` or `${NAME}`
    Plain { name: &'a str },
    /// `${NAME<op>...}`; `full` is the whole greedy match, `$` to the line's last `}`.
    Operator {
        name: &'a str,
        op: Op,
        full: &'a str,
    },
    /// `${` not followed by a valid expression.
    Invalid,
}

/// Under `(?i)` Go's `[a-z]` also matches the case-fold partners of `s` and `k`.
fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || c == '\u{17F}' || c == '\u{212A}'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Byte length of the variable name at the start of `s` (0 if none).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !is_name_char(c))
        .map_or(s.len(), |(i, _)| i)
}

/// Tries the pattern at `pos` (where `s` has a `$`); returns the match and its end.
fn match_at(s: &str, pos: usize) -> Option<(Match<'_>, usize)> {
    let after = &s[pos + 1..];
    if after.starts_with('$') {
        return Some((Match::Escaped, pos + 2));
    }
    let n = name_len(after);
    if n > 0 {
        let name = &after[..n];
        return Some((Match::Plain { name }, pos + 1 + n));
    }
    if !after.starts_with('{') {
        return None;
    }
    Some(match_braced(s, pos))
}

/// Matches `${...}` at `pos`; anything malformed is the pattern's empty `invalid` group.
fn match_braced(s: &str, pos: usize) -> (Match<'_>, usize) {
    let body_start = pos + 2;
    let body = &s[body_start..];
    let n = name_len(body);
    let invalid = (Match::Invalid, body_start);
    if n == 0 {
        return invalid;
    }
    let name = &body[..n];
    let after_name = &body[n..];
    if let Some(op) = Op::parse(after_name) {
        // `(.*)}` is greedy and `.` stops at a newline: the match runs to the line's last `}`.
        let op_len = op.len();
        let tail = &after_name[op_len..];
        let line = tail.split('\n').next().unwrap_or_default();
        if let Some(last) = line.rfind('}') {
            let end = body_start + n + op_len + last + 1;
            let full = &s[pos..end];
            return (Match::Operator { name, op, full }, end);
        }
        return invalid;
    }
    if after_name.starts_with('}') {
        return (Match::Plain { name }, body_start + n + 1);
    }
    invalid
}

/// compose-go's `getFirstBraceClosingIndex`: counts braces but skips the character following
/// each `{`, which is why `${A:-{}}` keeps `{}` as its default.
fn first_brace_closing_index(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut open = 0i64;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// State of one top-level substitution: the lookup, the warning sink and the nesting depth.
struct Engine<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    on_unset: &'a mut dyn FnMut(&str),
    evaluation: ArgEvaluation,
    depth: usize,
}

/// The text after an operator expression's first balanced `}` (up to the end of its greedy
/// match), which compose-go substitutes as a separate template. We scan it in place instead of
/// recursing, but an invalid `${` inside it must report only that text, as compose-go does.
#[derive(Clone, Copy)]
struct RestRegion {
    start: usize,
    end: usize,
}

impl Engine<'_> {
    /// compose-go's `SubstituteWithOptions`: every match is replaced, scanning goes on after an
    /// error (so later warnings still fire) and the first error wins.
    fn run(&mut self, t: &str) -> Result<String, TemplateError> {
        if self.depth > MAX_DEPTH {
            return Err(TemplateError::InvalidFormat {
                template: t.to_owned(),
            });
        }
        let mut out = String::with_capacity(t.len());
        let mut first_err = None;
        let mut region: Option<RestRegion> = None;
        let mut pos = 0;
        while let Some(off) = t[pos..].find('$') {
            let at = pos + off;
            out.push_str(&t[pos..at]);
            region = region.filter(|r| at < r.end);
            let Some((m, end)) = match_at(t, at) else {
                out.push('$');
                pos = at + 1;
                continue;
            };
            pos = end;
            let scope = region.map_or(t, |r| &t[r.start..r.end]);
            match self.replace(m, scope) {
                Ok((value, rest_start)) => {
                    out.push_str(&value);
                    if let Some(rest_start) = rest_start {
                        // Resume right after the head: the rest is part of this match.
                        region = Some(RestRegion {
                            start: at + rest_start,
                            end,
                        });
                        pos = at + rest_start;
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        out.push_str(&t[pos..]);
        first_err.map_or(Ok(out), Err)
    }

    /// Value of one match. For an operator with a balanced head, also returns where its rest
    /// starts (relative to the match) so the caller scans it next.
    fn replace(
        &mut self,
        m: Match<'_>,
        scope: &str,
    ) -> Result<(String, Option<usize>), TemplateError> {
        match m {
            Match::Escaped => Ok(("$".to_owned(), None)),
            Match::Invalid => Err(TemplateError::InvalidFormat {
                template: scope.to_owned(),
            }),
            Match::Plain { name } => Ok((self.plain(name), None)),
            Match::Operator { name, op, full } => {
                let head_end = first_brace_closing_index(full).map(|i| i + 1);
                let head = &full[..head_end.unwrap_or(full.len())];
                let arg = &head[2 + name.len() + op.len()..head.len() - 1];
                let value = self.apply(name, op, arg)?;
                Ok((value, head_end.filter(|&e| e < full.len())))
            }
        }
    }

    fn plain(&mut self, name: &str) -> String {
        (self.lookup)(name).unwrap_or_else(|| {
            (self.on_unset)(name);
            String::new()
        })
    }

    /// Evaluates `${name<op>arg}`; in lazy mode `arg` is substituted only when it is used.
    fn apply(&mut self, name: &str, op: Op, arg: &str) -> Result<String, TemplateError> {
        let early = match self.evaluation {
            ArgEvaluation::Eager => Some(self.nested(arg)?),
            ArgEvaluation::Lazy => None,
        };
        let value = (self.lookup)(name);
        let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
        let use_arg = match op {
            Op::DefaultIfEmpty | Op::RequiredNotEmpty => !non_empty,
            Op::DefaultIfUnset | Op::RequiredSet => value.is_none(),
            Op::AltIfNotEmpty => non_empty,
            Op::AltIfSet => value.is_some(),
        };
        if !use_arg {
            return Ok(value.unwrap_or_default());
        }
        let evaluated = match early {
            Some(evaluated) => evaluated,
            None => self.nested(arg)?,
        };
        match op {
            Op::RequiredNotEmpty | Op::RequiredSet => Err(TemplateError::RequiredMissing {
                variable: name.to_owned(),
                message: evaluated,
            }),
            _ => Ok(evaluated),
        }
    }

    fn nested(&mut self, t: &str) -> Result<String, TemplateError> {
        self.depth += 1;
        let result = self.run(t);
        self.depth -= 1;
        result
    }
}

/// compose-go's `extractVariable`, in its discovery order and with duplicates.
fn extract(s: &str, depth: usize) -> Vec<Variable> {
    let mut out = Vec::new();
    if depth > MAX_DEPTH {
        return out;
    }
    // compose-go recurses into the text after an operator expression's first balanced `}` and
    // lists that text's variables before the expression's own. We scan that text in place and
    // hold the expressions' groups on a stack, emitted innermost first once the shared end of
    // the chain (the line's last `}`) is passed.
    let mut pending: Vec<Vec<Variable>> = Vec::new();
    let mut chain_end = 0;
    let mut pos = 0;
    while let Some(off) = s[pos..].find('$') {
        let at = pos + off;
        if at >= chain_end {
            out.extend(pending.drain(..).rev().flatten());
        }
        let Some((m, end)) = match_at(s, at) else {
            pos = at + 1;
            continue;
        };
        pos = end;
        let val = match m {
            Match::Escaped => continue,
            Match::Plain { name } => name,
            Match::Invalid => "",
            Match::Operator { full, .. } => match first_brace_closing_index(full) {
                Some(i) if i > 0 => {
                    pending.push(variable_group(&full[2..i], depth));
                    chain_end = end;
                    pos = at + i + 1;
                    continue;
                }
                _ => &full[2..full.len() - 1],
            },
        };
        out.extend(variable_group(val, depth));
    }
    out.extend(pending.drain(..).rev().flatten());
    out
}

/// The variable of one expression body followed by those nested in its default / alternate value.
fn variable_group(val: &str, depth: usize) -> Vec<Variable> {
    let var = variable_from(val);
    let default = extract(&var.default_value, depth + 1);
    let presence = extract(&var.presence_value, depth + 1);
    let mut group = vec![var];
    group.extend(default);
    group.extend(presence);
    group
}

/// Splits `NAME<op>value` the way `extractVariable` does: at the first byte outside
/// `[A-Za-z0-9_]`, so a non-ASCII name letter ends the name there.
fn variable_from(val: &str) -> Variable {
    let split = val
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|(i, _)| i);
    let mut var = Variable {
        name: val.to_owned(),
        ..Variable::default()
    };
    let Some(i) = split.filter(|&i| i > 0) else {
        return var;
    };
    var.name = val[..i].to_owned();
    let rest = &val[i..];
    if rest.starts_with(":?") || rest.starts_with('?') {
        var.required = true;
    } else if let Some(d) = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')) {
        var.default_value = d.to_owned();
    } else if let Some(p) = rest.strip_prefix(":+").or_else(|| rest.strip_prefix('+')) {
        var.presence_value = p.to_owned();
    }
    var
}

/// Go's `strconv.Quote` (what `%q` and `%#v` print for a string), used in compose-go's messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_go_escaped(&mut out, c);
    }
    out.push('"');
    out
}

fn push_go_escaped(out: &mut String, c: char) {
    match c {
        '"' | '\\' => {
            out.push('\\');
            out.push(c);
        }
        c if is_go_printable(c) => out.push(c),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space. Rust's
/// `escape_debug` leaves exactly those categories alone (for a non-initial char), so it serves as
/// the category table we do not otherwise have.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let probe: String = ['a', c].iter().collect();
    probe.escape_debug().to_string() == probe
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// compose-go's test mapping: FOO set, BAR set but empty, JSON with braces.
    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            "JSON" => Some(r#"{"json":2}"#.into()),
            _ => None,
        }
    }

    fn sub(t: &str) -> String {
        match substitute(t, &env) {
            Ok(s) => s,
            Err(e) => panic!("{t:?} failed: {e}"),
        }
    }

    fn err(t: &str) -> TemplateError {
        match substitute(t, &env) {
            Ok(s) => panic!("{t:?} should fail, gave {s:?}"),
            Err(e) => e,
        }
    }

    fn check_all(cases: &[(&str, &str)]) {
        for (t, want) in cases {
            assert_eq!(sub(t), *want, "template {t:?}");
        }
    }

    #[test]
    fn escaping_and_lone_dollars_case_005() {
        check_all(&[
            ("$${foo}", "${foo}"),
            ("a $ string", "a $ string"),
            ("^REGEX$", "^REGEX$"),
            ("$}", "$}"),
            ("$", "$"),
            ("$1", "$1"),
            ("$$$$", "$$"),
            ("$$FOO", "$FOO"),
            ("$FOO-bar", "first-bar"),
            ("foo", "foo"),
        ]);
    }

    #[test]
    fn plain_and_defaults_case_006() {
        check_all(&[
            ("This ${missing} var", "This  var"),
            ("This ${BAR} var", "This  var"),
            ("This $FOO var", "This first var"),
            ("This ${FOO} var", "This first var"),
            ("ok ${missing:-def}", "ok def"),
            ("ok ${missing-def}", "ok def"),
            ("ok ${BAR:-def}", "ok def"),
            ("ok ${FOO:-def}", "ok first"),
            ("ok ${BAR-def}", "ok "),
            ("ok ${UNSET_VAR:+presence_value}", "ok "),
            ("ok ${UNSET_VAR+presence_value}", "ok "),
            ("ok ${FOO:+presence_value}", "ok presence_value"),
            ("ok ${FOO+presence_value}", "ok presence_value"),
            ("ok ${BAR+presence_value}", "ok presence_value"),
            ("ok ${BAR:+presence_value}", "ok "),
            ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
            (r#"ok ${missing:-{"json":1}}"#, r#"ok {"json":1}"#),
            (r#"ok ${missing-{"json":1}}"#, r#"ok {"json":1}"#),
            (r#"ok ${JSON:-{"json":1}}"#, r#"ok {"json":2}"#),
            (r#"ok ${JSON-{"json":1}}"#, r#"ok {"json":2}"#),
            ("ok ${FOO:?err}", "ok first"),
            ("ok ${FOO?err}", "ok first"),
            ("ok ${BAR?err}", "ok "),
            ("${A:+${A},}B", "B"),
            ("${A:-${B}}", ""),
        ]);
    }

    #[test]
    fn defaults_with_unset_variables_case_003() {
        check_all(&[
            ("{{{ ${FOO2:-foo_} }}}", "{{{ foo_ }}}"),
            ("{{{ ${FOO2:-foo-bar-value} }}}", "{{{ foo-bar-value }}}"),
            ("{{{ ${FOO2:-foo?bar?value} }}}", "{{{ foo?bar?value }}}"),
            (
                "{{{ ${FOO2:-foo:?bar:?value} }}}",
                "{{{ foo:?bar:?value }}}",
            ),
            (
                "{{{ ${FOO2:-foo} ${B:-DEFAULT_VALUE} }}}",
                "{{{ foo DEFAULT_VALUE }}}",
            ),
            ("{{{ ${B} }}}", "{{{  }}}"),
            ("${FOO2:-baz} }}}", "baz }}}"),
            ("${FOO2-baz} }}}", "baz }}}"),
            ("${X:-${Y:-${Z:-qix}}}", "qix"),
            ("${X:-${Y:-x}_test_${Y:-y}}", "x_test_y"),
            ("${X:-${Y:-x}_test}", "x_test"),
            ("${X:-${Y:-${Z:-x}}_test}", "x_test"),
        ]);
    }

    #[test]
    fn set_variables_ignore_defaults_case_004() {
        let lookup = |k: &str| match k {
            "USER" => Some("jenny".to_owned()),
            "FOO" => Some("bar".to_owned()),
            _ => None,
        };
        let cases = [
            ("{{{ ${FOO:-foo_} }}}", "{{{ bar }}}"),
            (
                "{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}",
                "{{{ bar DEFAULT_VALUE }}}",
            ),
            ("{{{ ${BAR} }}}", "{{{  }}}"),
            ("${FOO-baz} }}}", "bar }}}"),
            ("{{{ ${FOO:-foo} ${USER:-bar} }}}", "{{{ bar jenny }}}"),
        ];
        for (t, want) in cases {
            assert_eq!(substitute(t, &lookup), Ok(want.to_owned()), "{t:?}");
        }
    }

    #[test]
    fn operators_outside_braces_and_nesting_case_007() {
        check_all(&[
            ("-ok ${BAR:-defaultValue}", "-ok defaultValue"),
            ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
            ("-ok ${FOO:-defaultValue}", "-ok first"),
            (":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
            (":-ok ${BAR-defaultValue}", ":-ok "),
            (":?ok ${BAR-defaultValue}", ":?ok "),
            (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
            ("?ok ${BAR:-defaultValue}", "?ok defaultValue"),
            ("ok ${UNSET_VAR-$FOO}", "ok first"),
            ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
            ("ok ${BAR:-$FOO}", "ok first"),
            ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
            ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
            ("${FOO?bar-baz}", "first"),
            ("ok ${SUBDOMAIN:-redis}.${FOO:?}", "ok redis.first"),
        ]);
    }

    #[test]
    fn greedy_match_and_brace_counter_quirks() {
        check_all(&[
            // The default runs to the first balanced `}`; the rest is substituted afterwards.
            ("${U:-a}-${FOO}-${U:-b}", "a-first-b"),
            // The counter skips the char after `{`, so `{}` does not close and the
            // default becomes `{}} x`.
            ("${U:-{}} x}", "{}} x"),
            ("${U:-{}}", "{}"),
            // A newline stops the greedy match: the second line is scanned on its own.
            ("${U:-a}\n${FOO}", "a\nfirst"),
            ("${FOO:-a}}", "first}"),
        ]);
    }

    #[test]
    fn case_fold_names_include_long_s_and_kelvin() {
        let lookup = |k: &str| Some(format!("<{k}>"));
        assert_eq!(substitute("$ſx ${K}", &lookup), Ok("<ſx> <K>".to_owned()));
        assert_eq!(substitute("$é", &lookup), Ok("$é".to_owned()));
    }

    #[test]
    fn required_errors_cases_008_009() {
        let cases = [
            ("{{{ ${U:?foo_} }}}", "U", "foo_"),
            (
                "not ok ${BAR:?Mandatory Variable Empty}",
                "BAR",
                "Mandatory Variable Empty",
            ),
            ("not ok ${UNSET_VAR:?}", "UNSET_VAR", ""),
            ("not ok ${UNSET_VAR?}", "UNSET_VAR", ""),
            ("not ok ${UNSET_VAR?baz}", "UNSET_VAR", "baz"),
            (
                "not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}",
                "UNSET_VAR",
                "Mandatory Variable first",
            ),
            ("${UNSET_VAR?bar-baz}", "UNSET_VAR", "bar-baz"),
        ];
        for (t, variable, message) in cases {
            let want = TemplateError::RequiredMissing {
                variable: variable.into(),
                message: message.into(),
            };
            assert_eq!(err(t), want, "{t:?}");
        }
        assert_eq!(
            err("${U:?foo_}").to_string(),
            "required variable U is missing a value: foo_"
        );
        assert_eq!(
            err("${U?}").to_string(),
            "required variable U is missing a value"
        );
    }

    #[test]
    fn lazy_arguments_do_not_fail_when_unused() {
        check_all(&[
            ("${FOO:-${U:?boom}}", "first"),
            ("${U:+${U:?boom}}", ""),
            ("${FOO?${}}", "first"),
        ]);
        assert!(matches!(
            err("${U:-${V:?boom}}"),
            TemplateError::RequiredMissing { .. }
        ));
    }

    #[test]
    fn eager_mode_evaluates_unused_arguments_like_docker_compose_2_40() {
        let mut unset = Vec::new();
        let mut report = |n: &str| unset.push(n.to_owned());
        let eager = ArgEvaluation::Eager;
        assert_eq!(
            substitute_with("${FOO-x$$-${C:?}}", &env, &mut report, eager),
            Err(TemplateError::RequiredMissing {
                variable: "C".into(),
                message: String::new()
            })
        );
        assert_eq!(
            substitute_with("${FOO:-${V}}", &env, &mut report, eager),
            Ok("first".into())
        );
        assert_eq!(unset, ["V"]);
        let lazy = ArgEvaluation::Lazy;
        assert_eq!(
            substitute_with("${FOO-x$$-${C:?}}", &env, &mut |_| {}, lazy),
            Ok("first".into())
        );
    }

    #[test]
    fn invalid_templates_case_010() {
        for t in [
            "${",
            "${}",
            "${ }",
            "${ foo}",
            "${foo }",
            "${foo!}",
            "${FOO:-a",
            "${FOO:-a\n}",
        ] {
            assert!(
                matches!(err(t), TemplateError::InvalidFormat { .. }),
                "{t:?}"
            );
        }
        assert_eq!(err("${").to_string(), r#"Invalid template: "${""#);
        assert_eq!(
            err("${").at_path("services.servicea.image"),
            "invalid interpolation format for services.servicea.image.\nYou may need to escape any $ with another $.\n${"
        );
    }

    #[test]
    fn invalid_template_names_the_innermost_text() {
        let e = err("a ${U:-${x}");
        assert_eq!(
            e,
            TemplateError::InvalidFormat {
                template: "${x".into()
            }
        );
        let e = err("${U:-x} ${ }");
        assert_eq!(
            e,
            TemplateError::InvalidFormat {
                template: " ${ }".into()
            }
        );
        let e = err("x ${");
        assert_eq!(
            e,
            TemplateError::InvalidFormat {
                template: "x ${".into()
            }
        );
    }

    #[test]
    fn first_error_wins_and_later_warnings_still_fire() {
        let mut unset = Vec::new();
        let mut report = |n: &str| unset.push(n.to_owned());
        let r = substitute_reporting("${U:?one}\n${V}\n${W:?two}", &env, &mut report);
        assert_eq!(
            r,
            Err(TemplateError::RequiredMissing {
                variable: "U".into(),
                message: "one".into()
            })
        );
        assert_eq!(unset, ["V"]);
        // On one line the failing expression's greedy match swallows `${V}`, which is then
        // never evaluated.
        unset.clear();
        let mut report = |n: &str| unset.push(n.to_owned());
        let r = substitute_reporting("${U:?one} ${V} ${W:?two}", &env, &mut report);
        assert!(r.is_err());
        assert!(unset.is_empty());
    }

    #[test]
    fn warnings_only_for_evaluated_plain_variables() {
        let mut unset = Vec::new();
        let r = substitute_reporting("$A ${A} ${B:-x} ${C:-${D}} ${FOO:-$E}", &env, &mut |n| {
            unset.push(n.to_owned())
        });
        assert_eq!(r, Ok("  x  first".to_owned()));
        assert_eq!(unset, ["A", "A", "D"]);
    }

    #[test]
    fn deep_nesting_is_bounded_not_a_crash() {
        let deep = format!("{}x{}", "${U:-".repeat(2000), "}".repeat(2000));
        assert!(matches!(
            substitute(&deep, &env),
            Err(TemplateError::InvalidFormat { .. })
        ));
        let ok = format!("{}x{}", "${U:-".repeat(100), "}".repeat(100));
        assert_eq!(substitute(&ok, &env), Ok("x".to_owned()));
    }

    #[test]
    fn many_operator_expressions_on_one_line() {
        let t = "${U:-a}".repeat(5000);
        assert_eq!(substitute(&t, &env), Ok("a".repeat(5000)));
    }

    fn var(name: &str, default: &str, presence: &str, required: bool) -> Variable {
        Variable {
            name: name.into(),
            default_value: default.into(),
            presence_value: presence.into(),
            required,
        }
    }

    #[test]
    fn variables_like_compose_go() {
        assert_eq!(variables("foo $$bar"), []);
        assert_eq!(variables("$bar_1"), [var("bar_1", "", "", false)]);
        assert_eq!(variables("${bar?:foo}"), [var("bar", "", "", true)]);
        assert_eq!(variables("${bar-foo}"), [var("bar", "foo", "", false)]);
        assert_eq!(variables("${bar:+foo}"), [var("bar", "", "foo", false)]);
        assert_eq!(
            variables("$docker:${project:-cli}"),
            [
                var("docker", "", "", false),
                var("project", "cli", "", false)
            ]
        );
        // compose-go lists what follows an operator expression before the expression itself.
        assert_eq!(
            variables("${SUBDOMAIN:-redis}.${ROOTDOMAIN:?}"),
            [
                var("ROOTDOMAIN", "", "", true),
                var("SUBDOMAIN", "redis", "", false)
            ]
        );
        assert_eq!(
            variables("${SUBDOMAIN:-$ROOTDOMAIN}"),
            [
                var("SUBDOMAIN", "$ROOTDOMAIN", "", false),
                var("ROOTDOMAIN", "", "", false)
            ]
        );
        // Duplicates: first position, last fields.
        assert_eq!(
            variables("${A:-x} $B $A"),
            [var("A", "", "", false), var("B", "", "", false)]
        );
        assert_eq!(variables("${"), [var("", "", "", false)]);
    }

    #[test]
    fn variables_of_long_operator_chains_keep_compose_go_order() {
        let t = "${A:-1}${B:-2} $C ${D:-3}".repeat(3000);
        let names: Vec<_> = variables(&t).into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["C", "D", "B", "A"]);
        assert_eq!(
            variables("${A:-x} ${B:-y} ${A:-z}")[0],
            var("A", "x", "", false)
        );
    }

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\n\t\u{1}\u{7f}"), r#""\n\t\x01\x7f""#);
        assert_eq!(go_quote("é€\u{a0}\u{200b}"), "\"é€\\u00a0\\u200b\"");
        assert_eq!(go_quote("\u{301}"), "\"\u{301}\"");
        assert_eq!(go_quote("\u{10ffff}"), r#""\U0010ffff""#);
    }

    proptest! {
        #[test]
        fn never_panics(t in "\\PC*", vals in proptest::collection::hash_map("[A-Z]{1,2}", ".{0,3}", 0..4)) {
            let map: HashMap<String, String> = vals;
            let lookup = |k: &str| map.get(k).cloned();
            let _ = substitute(&t, &lookup);
            let _ = variables(&t);
        }

        #[test]
        fn never_panics_on_template_syntax(t in "[$\\{\\}:?+\\-A-Ba\\n ]{0,40}") {
            let _ = substitute(&t, &env);
            let _ = variables(&t);
        }

        #[test]
        fn text_without_dollar_is_unchanged(t in "[^$]*") {
            prop_assert_eq!(substitute(&t, &env), Ok(t.clone()));
        }
    }
}
