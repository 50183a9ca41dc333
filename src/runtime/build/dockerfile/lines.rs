//! Physical lines to syntax nodes, as BuildKit's `parser.Parse` reads a Dockerfile: a leading
//! BOM is dropped, parser directives are taken from the top, comment lines are skipped (also
//! inside continuations), the escape character at the end of a line continues it (empty
//! continuation lines are skipped), and heredoc bodies follow the line that opens them.

use super::ast::Directives;
use super::directives::DirectiveParser;
use super::error::ParseError;
use super::heredoc::heredocs_from_line;
use super::node::Node;

/// BuildKit reads lines with a `bufio.Scanner`, whose tokens are at most 64 KiB.
const MAX_LINE: usize = 64 * 1024;

/// The directives and the instruction nodes of a Dockerfile, in order.
pub(super) fn scan(source: &str) -> Result<(Directives, Vec<Node>), ParseError> {
    let mut reader = Reader {
        lines: source
            .strip_prefix('\u{feff}')
            .unwrap_or(source)
            .split_inclusive('\n'),
        line_no: 0,
    };
    let mut directive_parser = DirectiveParser::default();
    let mut directives = Directives::default();
    let mut nodes = Vec::new();
    while let Some(raw) = reader.next()? {
        let start = reader.line_no;
        let line = trim_newline(raw).trim_start();
        directive_parser
            .parse_line(line, &mut directives)
            .map_err(|msg| ParseError::new(start, msg))?;
        let escape = directives.escape;
        let (first, mut done) = trim_continuation(uncomment(line), escape);
        if done && first.is_empty() {
            continue;
        }
        let mut text = first.to_string();
        while !done {
            let Some(raw) = reader.next()? else { break };
            let line = trim_newline(raw);
            if is_comment(line) || line.trim_start().is_empty() {
                continue;
            }
            let (more, end) = trim_continuation(line, escape);
            text.push_str(more);
            done = end;
        }
        let mut node = Node::from_line(&text, escape).map_err(|msg| ParseError::new(start, msg))?;
        if node.takes_heredocs() && text.contains("<<") {
            let markers = heredocs_from_line(&text).map_err(|msg| ParseError::new(start, msg))?;
            for mut doc in markers {
                doc.content = reader.heredoc_body(&doc.name, doc.chomp, start)?;
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = reader.line_no;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(ParseError::new(
            reader.line_no.max(1),
            "file with no instructions",
        ));
    }
    Ok((directives, nodes))
}

/// Physical lines with their line endings, numbered from 1.
struct Reader<'a> {
    lines: std::str::SplitInclusive<'a, char>,
    line_no: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<Option<&'a str>, ParseError> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        self.line_no += 1;
        if line.len() > MAX_LINE {
            return Err(ParseError::new(
                self.line_no,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
            ));
        }
        Ok(Some(line))
    }

    /// Lines up to the terminator `name` (alone on its line; leading tabs ignored with `<<-`),
    /// with their line endings.
    fn heredoc_body(
        &mut self,
        name: &str,
        chomp: bool,
        start: usize,
    ) -> Result<String, ParseError> {
        let mut content = String::new();
        while let Some(raw) = self.next()? {
            let line = trim_newline(raw);
            let line = if chomp {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line == name {
                return Ok(content);
            }
            content.push_str(raw);
        }
        Err(ParseError::new(
            start,
            format!("unterminated heredoc: no line {name:?} ends it"),
        ))
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn uncomment(line: &str) -> &str {
    if is_comment(line) { "" } else { line }
}

/// Strips a trailing escape character (and blanks after it) that continues the line; returns
/// whether the line ends the instruction. An escaped escape (`\\`) does not continue, as in
/// BuildKit's `([^\\])\\[ \t]*$|^\\[ \t]*$`.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let Some(before) = line.trim_end_matches([' ', '\t']).strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        (line, true)
    } else {
        (before, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("RUN a \\", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\  \t", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("RUN a \\\\", '\\'), ("RUN a \\\\", true));
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\", '`'), ("RUN a \\", true));
        assert_eq!(trim_continuation("RUN a \\ x", '\\'), ("RUN a \\ x", true));
    }

    fn lines(source: &str) -> Vec<(usize, usize, String)> {
        scan(source)
            .unwrap()
            .1
            .into_iter()
            .map(|n| (n.start_line, n.end_line, n.original))
            .collect()
    }

    #[test]
    fn joins_continuations_skipping_comments_and_blank_lines() {
        let source = "FROM x\nRUN a \\\n# comment\n\n   \n  b \\\n  # indented comment\nc\nRUN d\n";
        assert_eq!(
            lines(source),
            [
                (1, 1, "FROM x".to_string()),
                (2, 8, "RUN a   b c".to_string()),
                (9, 9, "RUN d".to_string())
            ]
        );
        // Continuation at end of file (BuildKit's continue-at-eof testfile).
        assert_eq!(
            lines("FROM x\nRUN a \\"),
            [(1, 1, "FROM x".into()), (2, 2, "RUN a ".into())]
        );
    }

    #[test]
    fn bom_crlf_and_errors() {
        assert_eq!(
            lines("\u{feff}FROM x\r\nRUN a\r\n")[1],
            (2, 2, "RUN a".into())
        );
        let err = scan("# just a comment\n\n").unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (2, "file with no instructions")
        );
        let err = scan("FROM x\nRUN <<EOF\nabc\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("unterminated heredoc"), "{err}");
        let long = format!("FROM x\nRUN {}\n", "a".repeat(MAX_LINE));
        assert_eq!(scan(&long).unwrap_err().line, 2);
    }
}
