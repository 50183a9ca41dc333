//! Parser directives (`# syntax=`, `# escape=`, `# check=`), as BuildKit's `DirectiveParser`
//! reads them: only in the leading comment lines, before any instruction, blank line or other
//! comment; each at most once; unknown names end the directive block like any comment.

use super::ast::Directives;

/// Recognizes directives line by line until the first line that is not one.
#[derive(Debug, Default)]
pub(super) struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// Looks at one physical line (newline and leading whitespace already trimmed). Returns
    /// whether it was a directive, after applying it to `directives`.
    pub fn parse_line(&mut self, line: &str, directives: &mut Directives) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value)) = line.strip_prefix('#').and_then(split_directive) else {
            self.done = true;
            return Ok(false);
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        match name.as_str() {
            "escape" => directives.escape = escape_token(value)?,
            "syntax" => directives.syntax = Some(value.to_string()),
            _ => directives.check = Some(value.to_string()),
        }
        self.seen.push(name);
        Ok(true)
    }
}

/// Go's `\s` (RE2, ASCII only).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Matches BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` against the comment text.
fn split_directive(comment: &str) -> Option<(&str, &str)> {
    let text = comment.trim_start();
    let name_len = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = text.split_at(name_len);
    let rest = rest.trim_start_matches(is_re_space).strip_prefix('=')?;
    let value = rest.trim_start_matches(is_re_space);
    if value.is_empty() {
        // The lazy `.+?` takes one character back from `\s*`: the value is the last one.
        let last = rest.chars().next_back()?;
        return Some((name, &rest[rest.len() - last.len_utf8()..]));
    }
    Some((name, value.trim_end_matches(is_re_space)))
}

fn escape_token(value: &str) -> Result<char, String> {
    match value {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        _ => Err(format!(
            "invalid escape token '{value}' does not match ` or \\"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Result<(Directives, Vec<bool>), String> {
        let mut parser = DirectiveParser::default();
        let mut directives = Directives::default();
        let mut seen = Vec::new();
        for line in lines {
            seen.push(parser.parse_line(line, &mut directives)?);
        }
        Ok((directives, seen))
    }

    #[test]
    fn recognizes_directives_at_the_top_only() {
        let (d, seen) = run(&[
            "# syntax = docker/dockerfile:1",
            "#escape=`",
            "# check=skip=all",
        ])
        .unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(d.check.as_deref(), Some("skip=all"));
        assert_eq!(seen, [true, true, true]);

        // A plain comment ends the block (BuildKit's directives_test `TestDirectivesAfterComment`).
        let (d, seen) = run(&["# a comment", "# escape=`"]).unwrap();
        assert_eq!((d.escape, seen), ('\\', vec![false, false]));
        // So does an unknown directive.
        let (d, _) = run(&["# foo=bar", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
        // And an instruction or an empty line.
        let (d, _) = run(&["", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn names_are_case_insensitive_values_trimmed() {
        let (d, _) = run(&["#   ESCAPE   =   `   "]).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(split_directive(" syntax=  "), Some(("syntax", " ")));
        assert_eq!(split_directive(" syntax="), None);
        assert_eq!(split_directive(" 1syntax=x"), None);
        assert_eq!(split_directive(" a1=x y "), Some(("a1", "x y")));
    }

    #[test]
    fn rejects_duplicates_and_bad_escapes() {
        assert_eq!(
            run(&["# escape=`", "# escape=\\"]).unwrap_err(),
            "only one escape parser directive can be used"
        );
        assert_eq!(
            run(&["# escape=x"]).unwrap_err(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }
}
