//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) in RUN/COPY/ADD lines, found and
//! classified the way BuildKit's parser does (`ParseHeredoc`, `heredocsFromLine`). The bodies
//! are read by [`super::lines`].

use super::expand::{Lexer, Lookup};

/// A heredoc marker, and after reading, its body as written (tabs not yet stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawHeredoc {
    pub name: String,
    pub fd: u32,
    /// No part of the delimiter was quoted.
    pub expand: bool,
    /// `<<-`: strip leading tabs.
    pub chomp: bool,
    pub content: String,
}

const NO_VARS: Lookup<'static> = &|_| None;

/// The heredocs a line opens, in order. Words are split as the shell would (quotes and escapes
/// kept); a line that does not split (an open quote) opens none.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
    let lexer = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let Ok((_, words)) = lexer.process(line, NO_VARS) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in words {
        docs.extend(parse_heredoc(&word)?);
    }
    Ok(docs)
}

/// The heredoc a word names, if it is one: BuildKit's `^(\d*)<<(-?)\s*([^<]*)$` and a single
/// delimiter word after it. `expand` is false when quoting removed any quote character.
pub(super) fn parse_heredoc(word: &str) -> Result<Option<RawHeredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let unquoted = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let (_, words) = unquoted.process(rest, NO_VARS).map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer {
        raw_quotes: true,
        ..unquoted
    };
    let (_, raw_words) = raw.process(rest, NO_VARS).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    let expand = raw_words
        .first()
        .is_some_and(|raw| quotes(raw) == quotes(name));
    Ok(Some(RawHeredoc {
        name: name.clone(),
        // Like Go's ParseUint with the error ignored: out of range is 0.
        fd: word[..digits].parse().unwrap_or(0),
        expand,
        chomp,
        content: String::new(),
    }))
}

/// Removes leading tabs from every line (`<<-`).
pub(super) fn strip_leading_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Option<(String, u32, bool, bool)> {
        parse_heredoc(word)
            .unwrap()
            .map(|h| (h.name, h.fd, h.expand, h.chomp))
    }

    /// BuildKit's `TestParseHeredocHelpers` (parser/parser_heredoc_test.go), plus fds and quoting.
    #[test]
    fn markers() {
        for valid in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(
                marker(valid).map(|m| m.0).as_deref(),
                Some("EOF"),
                "{valid}"
            );
        }
        for invalid in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(invalid).is_err(), "{invalid}");
        }
        for not in [
            "", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh", "x<<EOF",
        ] {
            assert_eq!(marker(not), None, "{not}");
        }
        assert_eq!(marker("<<EOF"), Some(("EOF".into(), 0, true, false)));
        assert_eq!(marker("<<-'EOF'"), Some(("EOF".into(), 0, false, true)));
        assert_eq!(marker("<<E\"O\"F"), Some(("EOF".into(), 0, false, false)));
        assert_eq!(marker("3<<EOF"), Some(("EOF".into(), 3, true, false)));
        assert_eq!(marker("<<eo\\'f"), Some(("eo'f".into(), 0, true, false)));
    }

    #[test]
    fn markers_in_lines() {
        let names = |line: &str| -> Vec<String> {
            heredocs_from_line(line)
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        assert_eq!(names("RUN <<EOF1 <<-EOF2 cat"), ["EOF1", "EOF2"]);
        assert_eq!(names("RUN cat << EOF > /file"), ["EOF"]);
        assert_eq!(names("RUN 3<<IN1 4<<IN2 cat /dev/fd/3"), ["IN1", "IN2"]);
        assert_eq!(names("RUN echo \"<<EOF\""), Vec::<String>::new());
        assert_eq!(names("RUN '<<EOF'"), Vec::<String>::new());
        assert_eq!(names("RUN << -EOF"), ["-EOF"]);
        assert_eq!(names("RUN echo '<<EOF"), Vec::<String>::new());
        assert_eq!(
            names("COPY <<robots.txt <<humans.txt /dest/"),
            ["robots.txt", "humans.txt"]
        );
    }

    #[test]
    fn strips_tabs_per_line() {
        assert_eq!(strip_leading_tabs("\t\ta\n \tb\n\tc"), "a\n \tb\nc");
    }
}
