//! One logical line to a syntax node: the keyword, its flags and its arguments split the way
//! each instruction's line parser in BuildKit's `parser/line_parsers.go` splits them. Nothing is
//! validated here beyond what BuildKit's parser itself rejects; [`super::instruction`] gives the
//! nodes meaning.

use super::heredoc::RawHeredoc;
use super::words::{parse_words, split_command, split_first, split_whitespace};

/// A parsed but uninterpreted instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    /// The keyword as written (`run`, `RUN`, `RUNN`).
    pub keyword: String,
    /// `--name[=value]` words before the arguments, unquoted.
    pub flags: Vec<String>,
    pub args: Args,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The logical line, continuations joined (heredoc bodies not included).
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<RawHeredoc>,
    /// `ONBUILD`'s trigger instruction.
    pub trigger: Option<Box<Node>>,
}

/// Arguments as the instruction's line parser split them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Args {
    Words(Vec<String>),
    /// `ENV`/`LABEL` key-value pairs, quotes kept; `legacy` for the `ENV key value` form.
    Pairs {
        pairs: Vec<(String, String)>,
        legacy: bool,
    },
}

impl Args {
    pub fn words(&self) -> &[String] {
        match self {
            Args::Words(words) => words,
            Args::Pairs { .. } => &[],
        }
    }
}

/// The BuildKit parse errors that come before instruction parsing.
const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

impl Node {
    /// Splits one logical line; `Err` is a message for the line.
    pub fn from_line(line: &str, escape: char) -> Result<Node, String> {
        let (keyword, flags, rest) = split_command(line, escape);
        let mut node = Node {
            keyword,
            flags,
            args: Args::Words(Vec::new()),
            json: false,
            original: line.to_string(),
            start_line: 0,
            end_line: 0,
            heredocs: Vec::new(),
            trigger: None,
        };
        let (args, json) = match node.keyword.to_ascii_lowercase().as_str() {
            "add" | "copy" | "volume" => maybe_json_list(&rest)?,
            "cmd" | "entrypoint" | "run" | "shell" => maybe_json(&rest)?,
            "env" => (name_values(&rest, "ENV", escape)?, false),
            "label" => (name_values(&rest, "LABEL", escape)?, false),
            "arg" => (Args::Words(parse_words(&rest, escape)), false),
            "expose" | "from" => (Args::Words(split_whitespace(&rest)), false),
            "healthcheck" => health(&rest)?,
            "maintainer" | "stopsignal" | "user" | "workdir" => (single(&rest), false),
            "onbuild" => {
                if !rest.is_empty() {
                    node.trigger = Some(Box::new(Node::from_line(&rest, escape)?));
                }
                (Args::Words(Vec::new()), false)
            }
            // Unknown keywords parse as empty nodes; instruction parsing reports them.
            _ => (Args::Words(Vec::new()), false),
        };
        node.args = args;
        node.json = json;
        Ok(node)
    }

    /// Whether heredoc markers in this line have bodies (`RUN`, `COPY`, `ADD` in shell form,
    /// also as an `ONBUILD` trigger).
    pub fn takes_heredocs(&self) -> bool {
        let node = self.trigger.as_deref().unwrap_or(self);
        let keyword = node.keyword.to_ascii_lowercase();
        matches!(keyword.as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// The whole rest as one argument (`parseString`).
fn single(rest: &str) -> Args {
    Args::Words(if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_string()]
    })
}

/// A JSON array of strings, `None` when `rest` is not a JSON array at all.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRING_ARRAY.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Exec form when `rest` is a JSON array of strings, else the whole rest as one shell string
/// (invalid JSON falls back to the shell form, as in docker).
fn maybe_json(rest: &str) -> Result<(Args, bool), String> {
    if rest.is_empty() {
        return Ok((Args::Words(Vec::new()), false));
    }
    Ok(match json_array(rest)? {
        Some(words) => (Args::Words(words), true),
        None => (single(rest), false),
    })
}

/// A JSON array of strings, else whitespace-separated words (quotes are not special).
fn maybe_json_list(rest: &str) -> Result<(Args, bool), String> {
    Ok(match json_array(rest)? {
        Some(words) => (Args::Words(words), true),
        None => (Args::Words(split_whitespace(rest)), false),
    })
}

/// `ENV`/`LABEL`: `k=v k2=v2`, or the legacy `k v with spaces` when the first word has no `=`.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Args, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::Pairs {
            pairs: Vec::new(),
            legacy: false,
        });
    };
    if !first.contains('=') {
        let (key, value) = split_first(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(Args::Pairs {
            pairs: vec![(key.to_string(), value.to_string())],
            legacy: true,
        });
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect::<Result<_, _>>()
        .map(|pairs| Args::Pairs {
            pairs,
            legacy: false,
        })
}

/// `HEALTHCHECK TYPE cmd...`: the type word, then the command as for `CMD`.
fn health(rest: &str) -> Result<(Args, bool), String> {
    if rest.is_empty() {
        return Ok((Args::Words(Vec::new()), false));
    }
    let split = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (kind, command) = (&rest[..split], rest[split..].trim_start());
    let (args, json) = maybe_json(command)?;
    let mut words = vec![kind.to_string()];
    words.extend(args.words().iter().cloned());
    Ok((Args::Words(words), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(line: &str) -> Node {
        Node::from_line(line, '\\').unwrap()
    }

    fn words(line: &str) -> Vec<String> {
        node(line).args.words().to_vec()
    }

    #[test]
    fn json_and_shell_forms() {
        let n = node("CMD [\"echo\", \"hi\"]");
        assert!(n.json);
        assert_eq!(n.args.words(), ["echo", "hi"]);
        // Invalid JSON falls back to the shell form (BuildKit's jeztah-invalid-json-* testfiles).
        for line in [
            "CMD ['echo', 'hi']",
            "CMD [\"echo\", \"hi\"",
            "CMD [\"echo\", \"hi]",
            "CMD [\"a\"] trailing",
        ] {
            let n = node(line);
            assert!(!n.json, "{line}");
            assert_eq!(n.args.words().len(), 1, "{line}");
        }
        assert_eq!(
            Node::from_line("CMD [\"a\", 1]", '\\').unwrap_err(),
            NOT_STRING_ARRAY
        );
        assert_eq!(words("COPY a  b\tc"), ["a", "b", "c"]);
        assert_eq!(words("COPY [\"a b\", \"c\"]"), ["a b", "c"]);
        assert_eq!(words("RUN"), Vec::<String>::new());
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            node("ENV a=b c=\"d e\"").args,
            Args::Pairs {
                pairs: vec![("a".into(), "b".into()), ("c".into(), "\"d e\"".into())],
                legacy: false
            }
        );
        assert_eq!(
            node("ENV a b  c").args,
            Args::Pairs {
                pairs: vec![("a".into(), "b  c".into())],
                legacy: true
            }
        );
        assert_eq!(
            Node::from_line("ENV a", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
        assert_eq!(
            Node::from_line("LABEL a=b c", '\\').unwrap_err(),
            "Syntax error - can't find = in \"c\". Must be of the form: name=value"
        );
    }

    #[test]
    fn healthcheck_onbuild_and_heredoc_capability() {
        assert_eq!(words("HEALTHCHECK CMD curl -f x"), ["CMD", "curl -f x"]);
        let n = node("HEALTHCHECK --interval=5s CMD [\"a\", \"b\"]");
        assert_eq!((n.json, n.flags.len()), (true, 1));
        assert_eq!(n.args.words(), ["CMD", "a", "b"]);
        let n = node("ONBUILD RUN <<EOF");
        assert_eq!(n.trigger.as_ref().unwrap().keyword, "RUN");
        assert!(n.takes_heredocs());
        assert!(!node("RUN [\"<<EOF\"]").takes_heredocs());
        assert!(!node("CMD <<EOF").takes_heredocs());
    }
}
