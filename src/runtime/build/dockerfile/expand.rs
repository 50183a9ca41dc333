//! Variable expansion and word splitting, ported from BuildKit's shell lexer
//! (`moby/buildkit` `frontend/dockerfile/shell/lex.go`): quotes, the escape character,
//! `$var`, `${var}`, `${var:-word}`, `${var-word}`, `${var:+word}`, `${var+word}`,
//! `${var:?msg}`, `${var?msg}`, `${var#pat}`, `${var##pat}`, `${var%pat}`, `${var%%pat}`,
//! `${var/pat/repl}` and `${var//pat/repl}`.
//!
//! The parser keeps every value unexpanded; the executor expands per instruction with the ARG and
//! ENV scope in force there. BuildKit expands these (see [`expand_instruction`], which applies
//! exactly this table):
//!
//! | instruction | expanded | how |
//! | --- | --- | --- |
//! | `FROM` image, `--platform` | yes, with the global ARGs only | [`expand_word`] |
//! | `ENV`, `LABEL` | keys and values | [`expand_word`] |
//! | `ARG` | defaults (not names; a `--build-arg` value replaces the default unexpanded) | [`expand_word`] |
//! | `WORKDIR`, `USER`, `STOPSIGNAL`, `VOLUME` | yes | [`expand_word`] per value |
//! | `EXPOSE` | yes, and split | [`expand_words`] per value |
//! | `COPY`/`ADD` sources, dest, `--chown`, `--chmod`, `--checksum` | yes | [`expand_word`] |
//! | `COPY`/`ADD` heredoc bodies | when the delimiter is unquoted | [`expand_heredoc`] |
//! | `RUN --mount` | per mount field, by the executor's mount parser | [`expand_word`] |
//! | `COPY --from` | never: BuildKit rejects a value that would change | — |
//! | `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `ONBUILD`, `MAINTAINER` | no (the shell does it at run time) | — |

use super::ast::{Add, ArgDecl, Copy, Heredoc, Instruction};
use super::error::{ExpandError, ExpandErrorKind};

/// A variable lookup: `Some(value)` when set (possibly empty), `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands one word: variables substituted, quotes and escapes removed, whitespace kept
/// (BuildKit's `ProcessWord`). Used for WORKDIR, USER, COPY/ADD paths and flags, ENV/LABEL/ARG.
pub fn expand_word(word: &str, lookup: Lookup<'_>, escape: char) -> Result<String, ExpandError> {
    Lexer::new(escape)
        .process(word, lookup)
        .map(|(word, _)| word)
}

/// Expands and splits into words on unquoted whitespace, including whitespace that came from a
/// variable's value (BuildKit's `ProcessWords`, as for EXPOSE).
pub fn expand_words(
    text: &str,
    lookup: Lookup<'_>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(escape)
        .process(text, lookup)
        .map(|(_, words)| words)
}

/// Expands a `COPY`/`ADD` heredoc body: only `$` substitutions and `\` escapes, quotes are kept
/// (BuildKit's `ExpandRaw`, which always uses `\` whatever the escape directive says).
pub fn expand_heredoc(content: &str, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    let lexer = Lexer {
        skip_process_quotes: true,
        ..Lexer::new('\\')
    };
    lexer.process(content, lookup).map(|(word, _)| word)
}

/// A `RUN` line as BuildKit names it in progress output: set variables substituted, unset ones
/// and quotes left as written (`RUN echo "hello-${C:-def}"`); the text itself if it does not
/// lex.
pub fn expand_for_display(text: &str, lookup: Lookup<'_>, escape: char) -> String {
    let lexer = Lexer {
        raw_quotes: true,
        skip_unset_env: true,
        ..Lexer::new(escape)
    };
    lexer
        .process(text, lookup)
        .map_or_else(|_| text.to_string(), |(word, _)| word)
}

/// Whether BuildKit expands variables in this instruction's arguments (see the module table).
pub fn expands_variables(instruction: &Instruction) -> bool {
    !matches!(
        instruction,
        Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Shell(_)
            | Instruction::Healthcheck(_)
            | Instruction::OnBuild(_)
            | Instruction::Maintainer(_)
    )
}

/// The instruction with its variables expanded as BuildKit does before dispatching it. `RUN` is
/// returned unchanged: its command is for the shell, and its `--mount` values are expanded field
/// by field by the executor's mount parser.
pub fn expand_instruction(
    instruction: &Instruction,
    lookup: Lookup<'_>,
    escape: char,
) -> Result<Instruction, ExpandError> {
    let word = |w: &str| expand_word(w, lookup, escape);
    let all = |ws: &[String]| ws.iter().map(|w| word(w)).collect::<Result<Vec<_>, _>>();
    let pairs = |kvs: &[(String, String)]| {
        kvs.iter()
            .map(|(k, v)| Ok((word(k)?, word(v)?)))
            .collect::<Result<Vec<_>, ExpandError>>()
    };
    Ok(match instruction {
        Instruction::Env(kvs) => Instruction::Env(pairs(kvs)?),
        Instruction::Label(kvs) => Instruction::Label(pairs(kvs)?),
        Instruction::Arg(decls) => Instruction::Arg(
            decls
                .iter()
                .map(|d| {
                    Ok(ArgDecl {
                        name: d.name.clone(),
                        default: d.default.as_deref().map(word).transpose()?,
                    })
                })
                .collect::<Result<_, ExpandError>>()?,
        ),
        Instruction::Workdir(path) => Instruction::Workdir(word(path)?),
        Instruction::User(user) => Instruction::User(word(user)?),
        Instruction::StopSignal(signal) => Instruction::StopSignal(word(signal)?),
        Instruction::Volume(paths) => Instruction::Volume(all(paths)?),
        Instruction::Expose(ports) => {
            let mut out = Vec::new();
            for port in ports {
                out.extend(expand_words(port, lookup, escape)?);
            }
            Instruction::Expose(out)
        }
        Instruction::Copy(copy) => Instruction::Copy(Copy {
            sources: all(&copy.sources)?,
            dest: word(&copy.dest)?,
            chown: copy.chown.as_deref().map(word).transpose()?,
            chmod: copy.chmod.as_deref().map(word).transpose()?,
            heredocs: expand_heredocs(&copy.heredocs, lookup)?,
            ..copy.clone()
        }),
        Instruction::Add(add) => Instruction::Add(Add {
            sources: all(&add.sources)?,
            dest: word(&add.dest)?,
            chown: add.chown.as_deref().map(word).transpose()?,
            chmod: add.chmod.as_deref().map(word).transpose()?,
            checksum: add.checksum.as_deref().map(word).transpose()?,
            heredocs: expand_heredocs(&add.heredocs, lookup)?,
            ..add.clone()
        }),
        other => other.clone(),
    })
}

fn expand_heredocs(docs: &[Heredoc], lookup: Lookup<'_>) -> Result<Vec<Heredoc>, ExpandError> {
    docs.iter()
        .map(|doc| {
            let content = if doc.expand {
                expand_heredoc(&doc.content, lookup)?
            } else {
                doc.content.clone()
            };
            Ok(Heredoc {
                content,
                ..doc.clone()
            })
        })
        .collect()
}

/// Lexer options, as the fields of BuildKit's `shell.Lex`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave `$unset` references as written instead of expanding them to "".
    pub skip_unset_env: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The expanded text and its split words.
    pub fn process(
        &self,
        text: &str,
        lookup: Lookup<'_>,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut scan = Scan {
            chars: text.chars().collect(),
            pos: 0,
            lexer: *self,
            raw_escapes: self.raw_escapes,
            lookup,
            depth: 0,
        };
        scan.until(None, self.raw_escapes)
            .map_err(|kind| ExpandError {
                word: text.to_string(),
                kind,
            })
    }
}

type Step<T> = Result<T, ExpandErrorKind>;

/// The scanning state of one [`Lexer::process`] call.
struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    lexer: Lexer,
    /// Current escape handling; substitution modifiers switch it for their operand.
    raw_escapes: bool,
    lookup: Lookup<'a>,
    /// `${...}` nesting, bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deeper `${a:-${b:-...}}` nesting than any real Dockerfile uses.
const MAX_NESTING: usize = 64;

/// Word splitting state: whitespace from unquoted text and from `$` values splits words.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Processes up to `stop` (consumed) or the end when `stop` is None (`processStopOn`).
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Step<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.until_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn until_inner(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        let quotes = !self.lexer.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    words.add_string(&value);
                    result.push_str(&value);
                }
                '<' => {
                    let text = self.possible_heredoc();
                    words.add_raw_string(&text);
                    result.push_str(&text);
                }
                '\'' if quotes => {
                    let text = self.single_quoted()?;
                    words.add_raw_string(&text);
                    result.push_str(&text);
                }
                '"' if quotes => {
                    let text = self.double_quoted()?;
                    words.add_raw_string(&text);
                    result.push_str(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch != self.lexer.escape {
                        words.add_char(ch);
                        result.push(ch);
                        continue;
                    }
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // The escape character escapes anything, except at the very end.
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                }
            }
        }
        match stop {
            Some(stop) => Err(ExpandErrorKind::Unterminated(stop.to_string())),
            None => Ok((result, words.finish())),
        }
    }

    /// `'...'`: everything literal, no escapes.
    fn single_quoted(&mut self) -> Step<String> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpandErrorKind::Unterminated("single-quote".into())),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    /// `"..."`: `$` expands; the escape character only escapes `"`, `$` and itself.
    fn double_quoted(&mut self) -> Step<String> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpandErrorKind::Unterminated("double-quote".into())),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                self.pos += 1;
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<<` and the whitespace after it stay together, so `<< EOF` is one word.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(ch @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(ch);
            self.pos += 1;
        }
        out
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Step<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandErrorKind::BadSubstitution),
            Some(_) => {}
        }
        if self.depth >= MAX_NESTING {
            return Err(ExpandErrorKind::TooDeep(MAX_NESTING));
        }
        self.depth += 1;
        let value = self.braced();
        self.depth -= 1;
        value
    }

    /// `${...}` after the `{`.
    fn braced(&mut self) -> Step<String> {
        let name = self.name();
        match self.next() {
            None => Err(ExpandErrorKind::MissingBrace),
            Some('}') => Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let op = self.next();
                let mut modifier = String::from(":");
                modifier.extend(op);
                self.modifier(&name, op, modifier, true)
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                self.modifier(&name, Some(op), op.to_string(), false)
            }
            Some('/') => self.replace(&name),
            Some(other) => Err(ExpandErrorKind::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name<modifier>word}` after the modifier; `null_is_unset` for the `:` forms.
    fn modifier(
        &mut self,
        name: &str,
        op: Option<char>,
        modifier: String,
        null_is_unset: bool,
    ) -> Step<String> {
        let pattern_op = matches!(op, Some('#' | '%'));
        if null_is_unset && pattern_op {
            return Err(ExpandErrorKind::UnsupportedModifier(modifier));
        }
        let word = self.operand('}', pattern_op, ExpandErrorKind::MissingBrace)?;
        let value = self.get(name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        match op {
            Some('-') => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') => match value {
                None => Err(required(name, word, "is not allowed to be unset")),
                Some(v) if v.is_empty() && null_is_unset => {
                    Err(required(name, word, "is not allowed to be empty"))
                }
                Some(v) => Ok(v),
            },
            Some(op @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                let (pattern, greedy) = match word.strip_prefix(op) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                if op == '%' {
                    trim_suffix(pattern, &value, greedy)
                } else {
                    trim_prefix(pattern, &value, greedy)
                }
            }
            _ => Err(ExpandErrorKind::UnsupportedModifier(modifier)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}` after the first `/`.
    fn replace(&mut self, name: &str) -> Step<String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.operand('/', true, ExpandErrorKind::MissingSlash)?;
        let replacement = self.operand('}', true, ExpandErrorKind::MissingBrace)?;
        let Some(value) = self.get(name) else {
            return Ok(if self.lexer.skip_unset_env {
                format!("${{{name}/{pattern}/{replacement}}}")
            } else {
                String::new()
            });
        };
        let re = shell_pattern_regex(&pattern, true, false)?;
        Ok(if all {
            re.replace_all(&value, replacement.as_str()).into_owned()
        } else {
            match re.find(&value) {
                Some(m) => format!("{}{replacement}{}", &value[..m.start()], &value[m.end()..]),
                None => value,
            }
        })
    }

    /// A substitution operand up to `stop`; running out of input is `at_eof`.
    fn operand(&mut self, stop: char, raw: bool, at_eof: ExpandErrorKind) -> Step<String> {
        match self.until(Some(stop), raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(at_eof),
            Err(err) => Err(err),
        }
    }

    /// A variable name: letters, digits and `_`; or all leading digits (positional); or one
    /// special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn required(name: &str, word: String, default: &str) -> ExpandErrorKind {
    ExpandErrorKind::Required {
        name: name.to_string(),
        message: if word.is_empty() {
            default.to_string()
        } else {
            word
        },
    }
}

/// A shell wildcard pattern (`*`, `?`, `\` escapes; no bracket expressions) as a regex, the way
/// BuildKit's `convertShellPatternToRegex` builds it. The `regex` crate has Go's RE2 semantics
/// (leftmost-first, lazy `.*?`), so matches are the same.
fn shell_pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> Step<regex::Regex> {
    let invalid = |reason: String| ExpandErrorKind::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '*' => out.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => out.push('.'),
            '\\' => {
                // `}` and `/` are escaped to get them past `${...}`, not for the pattern.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(escaped);
                    }
                    other => {
                        let shown = other.map(String::from).unwrap_or_default();
                        return Err(invalid(format!("invalid escape '\\{shown}'")));
                    }
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    regex::Regex::new(&out).map_err(|e| invalid(e.to_string()))
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Step<String> {
    let re = shell_pattern_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Regexes cannot find the shortest match at the end, so both sides are reversed and the
/// prefix is trimmed instead (as BuildKit does).
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Step<String> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern keeping each `\x` escape pair in order: `a\*c` becomes `c\*a`.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units: Vec<&[char]> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() {
            2
        } else {
            1
        };
        units.push(&chars[i..i + len]);
        i += len;
    }
    units.iter().rev().flat_map(|u| u.iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word_with(text: &str, vars: &HashMap<String, String>) -> Result<String, ExpandError> {
        expand_word(text, &|k| vars.get(k).cloned(), '\\')
    }

    /// BuildKit's `shell/envVarTest` table (`TestShellParser4EnvVars`), Unix and all-platform rows.
    #[test]
    fn buildkit_env_var_table() {
        let vars = env(&[
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("NULL", ""),
        ]);
        let mut checked = 0;
        for (n, line) in include_str!("testdata/envVarTest").lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('|').collect();
            assert_eq!(cols.len(), 3, "line {}", n + 1);
            if cols[0].trim() == "W" {
                continue;
            }
            let (source, expected) = (cols[1].trim(), cols[2].trim());
            let got = word_with(source, &vars);
            if expected == "error" {
                assert!(got.is_err(), "line {}: {source:?} gave {got:?}", n + 1);
            } else {
                assert_eq!(got.as_deref(), Ok(expected), "line {}: {source:?}", n + 1);
            }
            checked += 1;
        }
        assert!(checked > 200);
    }

    /// BuildKit's `shell/wordsTest` table (`TestShellParser4Words`), in its normal mode.
    #[test]
    fn buildkit_words_table() {
        let mut vars = HashMap::new();
        for line in include_str!("testdata/wordsTest").lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(def) = line.strip_prefix("ENV ") {
                let (k, v) = def.trim_start_matches(' ').split_once('=').unwrap();
                vars.insert(k.to_string(), v.to_string());
                continue;
            }
            let (test, expected) = line.split_once('|').unwrap();
            let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
            let got = expand_words(test.trim(), &|k| vars.get(k).cloned(), '\\')
                .unwrap_or_else(|_| vec!["error".into()]);
            assert_eq!(got, expected, "{test:?}");
        }
    }

    /// Cases from BuildKit's `TestProcessWithMatches` and `TestShellParserMandatoryEnvVars`.
    #[test]
    fn substitution_modifiers() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            ("x ${UNUSED}", &[], Some("x ")),
            (
                "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
                &[("FOO", "xxx"), ("BAR", "")],
                Some("xxx  ccc"),
            ),
            (
                "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
                &[("FOO", "xxx"), ("BAR", "")],
                Some("xxx bbb ccc"),
            ),
            (
                "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
                &[("FOO", "xxx"), ("BAR", "")],
                Some("aaa bbb "),
            ),
            (
                "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
                &[("FOO", "xxx"), ("BAR", "")],
                Some("aaa  "),
            ),
            ("${BAR?bbb}", &[("BAR", "")], Some("")),
            ("${BAZ?ccc}", &[], None),
            ("${BAR:?bbb}", &[("BAR", "")], None),
            ("${BAZ:?}", &[], None),
            ("${FOO=aaa}", &[("FOO", "xxx")], None),
            ("${FOO=}", &[], None),
            (
                "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
                &[("FOO", "()[]{}^$.*?|\\x")],
                Some("x"),
            ),
            ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx")),
            ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
            ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
            ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
            ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y")),
            (
                "${ABC:-.}${FOO%x}${ABC:-.}",
                &[("FOO", "xxyy")],
                Some(".xxyy."),
            ),
            ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a")),
            (
                "${FOO%%$BAR}",
                &[("FOO", "xxyy"), ("BAR", "")],
                Some("xxyy"),
            ),
            ("${FOO:#}", &[], None),
            ("${FOO:%%}", &[], None),
            (
                "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
                &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
                Some("/foo.*/*.txt - /foo..*.txt"),
            ),
            (
                "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
                &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
                Some("/tmp/bar.txt - /bar.txt"),
            ),
            (
                "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
                &[
                    ("FOO", "/a/foo/b/c.txt"),
                    ("NEEDLE", "/?/"),
                    ("REPLACEMENT", "/"),
                ],
                Some("/foo/b/c.txt - /foo/c.txt"),
            ),
            (
                "${FOO//\\//\\/}",
                &[("FOO", "/tmp/foo.txt")],
                Some("\\/tmp\\/foo.txt"),
            ),
            (
                "${FOO/$BAR/ww}",
                &[("FOO", "xxyy"), ("BAR", "")],
                Some("wwxxyy"),
            ),
            ("${FOO//ww}", &[("FOO", "xxyy")], None),
            ("${FOO//}", &[("FOO", "xxyy")], None),
            ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO///}", &[], Some("")),
            (
                "${VAR:?message here$ARG}",
                &[("VAR", "plain"), ("ARG", "x")],
                Some("plain"),
            ),
        ];
        for (input, vars, expected) in cases {
            let got = word_with(input, &env(vars));
            match expected {
                Some(want) => assert_eq!(got.as_deref(), Ok(*want), "{input:?}"),
                None => assert!(got.is_err(), "{input:?} gave {got:?}"),
            }
        }
        let err = word_with(
            "${VAR:?message here$ARG}",
            &env(&[("VAR", ""), ("ARG", "x")]),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "failed to process \"${VAR:?message here$ARG}\": VAR: message herex"
        );
    }

    #[test]
    fn pattern_conversion_and_reversal() {
        for (pattern, want) in [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ] {
            assert_eq!(
                shell_pattern_regex(pattern, true, true).unwrap().as_str(),
                want
            );
        }
        for invalid in ["\\", "\\x", "\\\\\\"] {
            assert!(
                shell_pattern_regex(invalid, true, true).is_err(),
                "{invalid}"
            );
        }
        for (pattern, want) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "${a:-".repeat(MAX_NESTING + 1) + &"}".repeat(MAX_NESTING + 1);
        let err = word_with(&deep, &HashMap::new()).unwrap_err();
        assert_eq!(err.kind, ExpandErrorKind::TooDeep(MAX_NESTING));
        let ok = "${a:-".repeat(MAX_NESTING) + "x" + &"}".repeat(MAX_NESTING);
        assert_eq!(word_with(&ok, &HashMap::new()).unwrap(), "x");
    }

    #[test]
    fn backtick_escape_and_raw_heredoc_bodies() {
        let vars = env(&[("A", "1")]);
        let lookup = |k: &str| vars.get(k).cloned();
        assert_eq!(expand_word("a`$A`\"", &lookup, '`').unwrap(), "a$A\"");
        assert_eq!(
            expand_word("C:\\dir\\$A", &lookup, '`').unwrap(),
            "C:\\dir\\1"
        );
        assert_eq!(
            expand_heredoc("echo \"$A\" '$A' \\$A\n", &lookup).unwrap(),
            "echo \"1\" '1' $A\n"
        );
    }

    /// What docker 20.10's BuildKit printed for `RUN echo "RESULT ${A}-${B:-no}-${C:-def}-${A:+set}"`.
    #[test]
    fn progress_names_keep_unset_variables() {
        let vars = env(&[("A", "hello"), ("B", "x y")]);
        let lookup = |k: &str| vars.get(k).cloned();
        assert_eq!(
            expand_for_display(
                "RUN echo \"RESULT ${A}-${B:-no}-${C:-def}-${A:+set}\"",
                &lookup,
                '\\'
            ),
            "RUN echo \"RESULT hello-x y-${C:-def}-set\""
        );
        assert_eq!(
            expand_for_display("RUN echo 'open", &lookup, '\\'),
            "RUN echo 'open"
        );
    }

    #[test]
    fn which_instructions_expand() {
        use crate::runtime::build::dockerfile::CommandForm;
        assert!(expands_variables(&Instruction::Workdir("$A".into())));
        assert!(!expands_variables(&Instruction::Cmd(CommandForm::Shell(
            "$A".into()
        ))));
        let vars = env(&[("PORTS", "80 443/udp")]);
        let lookup = |k: &str| vars.get(k).cloned();
        let expose = Instruction::Expose(vec!["$PORTS".into(), "8080".into()]);
        assert_eq!(
            expand_instruction(&expose, &lookup, '\\').unwrap(),
            Instruction::Expose(vec!["80".into(), "443/udp".into(), "8080".into()])
        );
        let env_instr = Instruction::Env(vec![("K".into(), "\"a $PORTS\"".into())]);
        assert_eq!(
            expand_instruction(&env_instr, &lookup, '\\').unwrap(),
            Instruction::Env(vec![("K".into(), "a 80 443/udp".into())])
        );
    }
}
