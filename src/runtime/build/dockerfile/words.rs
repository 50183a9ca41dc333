//! Splitting an instruction line into keyword, flags and words, as BuildKit's
//! `parser/split_command.go` and `parseWords` (`line_parsers.go`) do. Quotes and escapes are
//! kept in words (expansion removes them later); flags are unquoted here.

/// Go's `reWhitespace`, `[\t\v\f\r ]+`.
pub(super) fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits off the first separator run: `(first, rest)`, `rest` empty when there is none.
pub(super) fn split_first(text: &str) -> (&str, &str) {
    match text.find(is_separator) {
        Some(i) => (&text[..i], text[i..].trim_start_matches(is_separator)),
        None => (text, ""),
    }
}

/// Splits on separator runs, dropping empty words (`FROM`, `EXPOSE`, shell-form `COPY`).
pub(super) fn split_whitespace(text: &str) -> Vec<String> {
    text.split(is_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// One logical line as `(keyword, flags, rest)`: `RUN --mount=a x y` gives
/// `("RUN", ["--mount=a"], "x y")`.
pub(super) fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let (keyword, rest) = split_first(line.trim());
    let (flags, rest) = extract_flags(rest, escape);
    (keyword.to_string(), flags, rest.trim().to_string())
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Leading `--flag` words (quotes removed, escapes applied) and the rest of the line after them.
/// A bare `--` ends the flags.
fn extract_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = line.char_indices().peekable();
    while let Some((pos, ch)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                if !line[pos..].starts_with("--") {
                    return (flags, &line[pos..]);
                }
                phase = Phase::Word;
                word.push(ch);
            }
            Phase::Word if ch.is_whitespace() => {
                phase = Phase::Spaces;
                if word == "--" {
                    return (flags, &line[pos..]);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            Phase::Word if ch == '\'' || ch == '"' => {
                phase = Phase::Quote(ch);
                blank_ok = true;
            }
            Phase::Quote(quote) if ch == quote => phase = Phase::Word,
            Phase::Word | Phase::Quote(_) => match (ch == escape, chars.peek()) {
                (true, None) => phase = Phase::Word,
                (true, Some(&(_, escaped))) => {
                    chars.next();
                    word.push(escaped);
                }
                (false, _) => word.push(ch),
            },
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    (flags, "")
}

/// Splits on whitespace outside quotes, keeping quotes and escapes (`parseWords`, for ENV,
/// LABEL and ARG).
pub(super) fn parse_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word if ch.is_whitespace() => {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            Phase::Word | Phase::Quote(_) => {
                match phase {
                    Phase::Word if ch == '\'' || ch == '"' => {
                        phase = Phase::Quote(ch);
                        blank_ok = true;
                    }
                    Phase::Quote(quote) if ch == quote => phase = Phase::Word,
                    _ => {}
                }
                // Escapes are kept with what they escape; single quotes escape nothing.
                if ch == escape && phase != Phase::Quote('\'') {
                    match chars.next() {
                        None => {
                            phase = Phase::Word;
                            continue;
                        }
                        Some(escaped) => {
                            word.push(ch);
                            word.push(escaped);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keyword_flags_and_rest() {
        assert_eq!(
            split_command(
                "  RUN --mount=type=cache,target=/x  --network=none echo hi ",
                '\\'
            ),
            (
                "RUN".into(),
                vec![
                    "--mount=type=cache,target=/x".into(),
                    "--network=none".into()
                ],
                "echo hi".into()
            )
        );
        assert_eq!(
            split_command("COPY --chown=\"a b\" x y", '\\'),
            ("COPY".into(), vec!["--chown=a b".into()], "x y".into())
        );
        // `--` ends the flags; a lone `-` word is not a flag.
        assert_eq!(
            split_command("RUN --a -- --b c", '\\'),
            ("RUN".into(), vec!["--a".into()], "--b c".into())
        );
        assert_eq!(split_command("RUN -x", '\\').2, "-x");
        assert_eq!(
            split_command("RUN --a\\ b --", '\\'),
            ("RUN".into(), vec!["--a b".into()], "".into())
        );
        assert_eq!(
            split_command("HEALTHCHECK", '\\'),
            ("HEALTHCHECK".into(), vec![], "".into())
        );
    }

    #[test]
    fn parse_words_keeps_quotes_and_escapes() {
        assert_eq!(
            parse_words("a=\"b c\" d='e f'", '\\'),
            ["a=\"b c\"", "d='e f'"]
        );
        assert_eq!(parse_words("a=b\\ c d", '\\'), ["a=b\\ c", "d"]);
        assert_eq!(parse_words("a='b\\' c", '\\'), ["a='b\\'", "c"]);
        assert_eq!(parse_words("x \"\"", '\\'), ["x", "\"\""]);
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
        assert_eq!(parse_words("a`\"b c", '`'), ["a`\"b", "c"]);
    }
}
