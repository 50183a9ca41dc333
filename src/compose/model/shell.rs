//! `shell_split`: turns a `command:`/`entrypoint:` string into argv the way compose-go does, which uses
//! `github.com/mattn/go-shellwords` (v1.0.x) with environment and backtick expansion disabled.

use super::error::ModelError;

/// Parser state; the flags mirror go-shellwords so that edge cases split identically.
#[derive(Default)]
struct Splitter {
    args: Vec<String>,
    buf: String,
    /// Whether the current word exists (a quoted empty string `""` is still a word).
    got: bool,
    escaped: bool,
    single: bool,
    double: bool,
    backtick: bool,
    dollar: bool,
}

impl Splitter {
    fn quoted(&self) -> bool {
        self.single || self.double || self.backtick || self.dollar
    }

    fn push_char(&mut self, c: char) {
        self.buf.push(c);
        self.got = true;
    }

    fn end_word(&mut self) {
        if self.got {
            self.args.push(std::mem::take(&mut self.buf));
            self.got = false;
        }
    }

    /// Handles one character; returns false when an unquoted shell operator ends the command.
    fn step(&mut self, c: char) -> Result<bool, ()> {
        if self.escaped {
            self.escaped = false;
            if self.backtick || self.dollar {
                self.buf.push('\\');
            }
            self.push_char(c);
            return Ok(true);
        }
        match c {
            '\\' if self.single => self.buf.push(c),
            '\\' => self.escaped = true,
            ' ' | '\t' | '\r' | '\n' if self.quoted() => self.buf.push(c),
            ' ' | '\t' | '\r' | '\n' => self.end_word(),
            '`' if !self.single && !self.double && !self.dollar => {
                self.backtick = !self.backtick;
                self.push_char(c);
            }
            ')' if !self.single && !self.double && !self.backtick => {
                if !self.dollar {
                    return Err(());
                }
                self.dollar = false;
                self.push_char(c);
            }
            '(' if !self.single && !self.double && !self.backtick => {
                if self.dollar || !self.buf.ends_with('$') {
                    return Err(());
                }
                self.dollar = true;
                self.push_char(c);
            }
            '"' if !self.single && !self.dollar && !self.backtick => {
                self.got |= self.double;
                self.double = !self.double;
            }
            '\'' if !self.double && !self.dollar && !self.backtick => {
                self.got |= self.single;
                self.single = !self.single;
            }
            ';' | '&' | '|' | '<' | '>' if !self.quoted() => {
                // go-shellwords stops at shell operators; a numeric redirect prefix (`2>`) is dropped.
                if c == '>' && !self.buf.is_empty() && self.buf.bytes().all(|b| b.is_ascii_digit())
                {
                    self.got = false;
                }
                return Ok(false);
            }
            _ => self.push_char(c),
        }
        Ok(true)
    }
}

/// Splits a command line into words like go-shellwords: quotes group, backslash escapes (except inside
/// single quotes), and parsing stops at the first unquoted `;`, `&`, `|`, `<` or `>`.
pub fn shell_split(line: &str) -> Result<Vec<String>, ModelError> {
    let fail = || ModelError::InvalidCommandLine(line.to_owned());
    let mut s = Splitter::default();
    for c in line.chars() {
        if !s.step(c).map_err(|()| fail())? {
            break;
        }
    }
    s.end_word();
    if s.escaped || s.quoted() {
        return Err(fail());
    }
    Ok(s.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        shell_split(s).unwrap()
    }

    #[test]
    fn matches_docker_compose() {
        // Expected values from `docker-compose-v2 config --format json` (v2.40.3).
        assert_eq!(
            split("echo \"hello world\" 'a b' c\\ d"),
            ["echo", "hello world", "a b", "c d"]
        );
        assert_eq!(split("echo a && echo b"), ["echo", "a"]);
        assert_eq!(
            split(r#"echo a\tb "c\"d" 'e\f' "g\h""#),
            ["echo", "atb", "c\"d", "e\\f", "gh"]
        );
        assert_eq!(split("echo `a b` $(x y)"), ["echo", "`a b`", "$(x y)"]);
        assert_eq!(split("echo 2>err x"), ["echo"]);
        assert_eq!(split("echo \"\" '' x\"y\"z"), ["echo", "", "", "xyz"]);
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("  a  "), ["a"]);
    }

    #[test]
    fn errors() {
        for bad in ["echo (a)", "echo 'a", "echo \"a", "a\\", "a)"] {
            let err = shell_split(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid command line"), "{bad}");
        }
    }
}
