//! YAML text to located [`Node`] trees, resolving what YAML itself defines: anchors and aliases,
//! merge keys (`<<: *base`, `<<: [*a, *b]`), scalar types, and keeping Compose's `!reset` and
//! `!override` tags on the nodes that carry them.
//!
//! Scalars resolve as Go's yaml.v3 (which docker compose uses) resolves them: only `true`/`false`
//! are booleans, integers accept `0x`, `0o`, `0b` and a leading `0` for octal, quoted scalars are
//! always strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::node::{Location, Map, Node, Tag, Value};

/// A YAML syntax error, with the offending line of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub loc: Location,
    pub message: String,
    /// The source line the error points at, for display.
    pub source_line: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.loc, self.message)?;
        writeln!(f, "  {} | {}", self.loc.line, self.source_line)?;
        let pad = self.loc.line.to_string().len() + self.loc.column + 3;
        write!(f, "{:pad$}^", "")
    }
}

impl std::error::Error for YamlError {}

/// Parses every document of `text`. `file` names the source in locations and errors.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        file: Arc::from(file),
        text,
        anchors: HashMap::new(),
    };
    builder.documents()
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    file: Arc<str>,
    text: &'a str,
    anchors: HashMap<usize, Node>,
}

type Ev<'a> = (Event<'a>, Span);

impl<'a> Builder<'a> {
    fn documents(&mut self) -> Result<Vec<Node>, YamlError> {
        let mut docs = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    let first = self.next()?;
                    if matches!(first.0, Event::DocumentEnd) {
                        continue;
                    }
                    docs.push(self.node(first)?);
                    self.anchors.clear();
                }
                other => return Err(self.error_at(&span, format!("unexpected {other:?}"))),
            }
        }
    }

    fn next(&mut self) -> Result<Ev<'a>, YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn node(&mut self, (ev, span): Ev<'a>) -> Result<Node, YamlError> {
        let loc = Some(self.location(&span));
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let (tag, core) = split_tag(tag.as_deref());
                let value = resolve_scalar(&text, style, core.as_deref())
                    .map_err(|m| self.error_at(&span, m))?;
                let node = Node { value, loc, tag };
                Ok(self.remember(anchor, node))
            }
            Event::SequenceStart(anchor, tag) => {
                let (tag, _) = split_tag(tag.as_deref());
                let mut items = Vec::new();
                loop {
                    let ev = self.next()?;
                    if matches!(ev.0, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev)?);
                }
                let node = Node {
                    value: Value::Seq(items),
                    loc,
                    tag,
                };
                Ok(self.remember(anchor, node))
            }
            Event::MappingStart(anchor, tag) => {
                let (tag, _) = split_tag(tag.as_deref());
                let map = self.mapping(&span)?;
                let node = Node {
                    value: Value::Map(map),
                    loc,
                    tag,
                };
                Ok(self.remember(anchor, node))
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => Ok(node.clone()),
                None => Err(self.error_at(&span, "unknown anchor".to_string())),
            },
            other => Err(self.error_at(&span, format!("unexpected {other:?}"))),
        }
    }

    /// Reads a mapping's entries, then applies its merge keys: explicit keys win over merged
    /// ones, and earlier maps in a `<<: [*a, *b]` list win over later ones.
    fn mapping(&mut self, start: &Span) -> Result<Map, YamlError> {
        let mut map = Map::new();
        let mut merges: Vec<(Node, Span)> = Vec::new();
        loop {
            let key_ev = self.next()?;
            if matches!(key_ev.0, Event::MappingEnd) {
                break;
            }
            let key_span = key_ev.1;
            let is_merge =
                matches!(&key_ev.0, Event::Scalar(k, ScalarStyle::Plain, _, _) if k == "<<");
            let key = self.node(key_ev)?;
            let value_ev = self.next()?;
            let value_span = value_ev.1;
            let value = self.node(value_ev)?;
            if is_merge {
                merges.push((value, value_span));
                continue;
            }
            let name = key.scalar_text().ok_or_else(|| {
                self.error_at(&key_span, "mapping keys must be scalars".to_string())
            })?;
            if map.contains_key(&name) {
                return Err(
                    self.error_at(&key_span, format!("mapping key {name:?} already defined"))
                );
            }
            map.insert(name, value);
        }
        for (merge, span) in merges {
            apply_merge(&mut map, merge).map_err(|m| {
                self.error_at(
                    if span == Span::default() {
                        start
                    } else {
                        &span
                    },
                    m,
                )
            })?;
        }
        Ok(map)
    }
}

fn apply_merge(map: &mut Map, merge: Node) -> Result<(), String> {
    {
        let sources = match merge.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => items
                .into_iter()
                .map(|n| match n.value {
                    Value::Map(m) => Ok(m),
                    _ => Err(merge_error()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(merge_error()),
        };
        for source in sources {
            for (k, v) in source {
                map.entry(k).or_insert(v);
            }
        }
        Ok(())
    }
}

impl Builder<'_> {
    fn remember(&mut self, anchor: usize, node: Node) -> Node {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        node
    }

    fn location(&self, span: &Span) -> Location {
        Location {
            file: self.file.clone(),
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }

    fn error_at(&self, span: &Span, message: String) -> YamlError {
        self.error_with(span.start.line(), span.start.col(), message)
    }

    fn scan_error(&self, e: &ScanError) -> YamlError {
        self.error_with(e.marker().line(), e.marker().col(), e.info().to_string())
    }

    fn error_with(&self, line: usize, col: usize, message: String) -> YamlError {
        let line = line.max(1);
        YamlError {
            loc: Location {
                file: self.file.clone(),
                line,
                column: col + 1,
            },
            message,
            source_line: self.text.lines().nth(line - 1).unwrap_or("").to_string(),
        }
    }
}

fn merge_error() -> String {
    "map merge requires map or sequence of maps as the value".to_string()
}

/// Splits a tag into the Compose tag we keep and the YAML core type it forces (`!!str`…).
fn split_tag(tag: Option<&saphyr_parser::Tag>) -> (Option<Tag>, Option<String>) {
    let Some(tag) = tag else { return (None, None) };
    match (tag.handle.as_str(), tag.suffix.as_str()) {
        ("!", "reset") => (Some(Tag::Reset), None),
        ("!", "override") => (Some(Tag::Override), None),
        ("tag:yaml.org,2002:", core) | ("!!", core) => (None, Some(core.to_string())),
        _ => (None, None),
    }
}

fn resolve_scalar(
    text: &Cow<str>,
    style: ScalarStyle,
    core: Option<&str>,
) -> Result<Value, String> {
    let text: &str = text;
    match core {
        Some("str") => return Ok(Value::String(text.to_string())),
        Some("int") => {
            return parse_int(text)
                .map(Value::Int)
                .ok_or_else(|| format!("cannot decode {text:?} as an integer"));
        }
        Some("float") => {
            return parse_float(text)
                .map(Value::Float)
                .ok_or_else(|| format!("cannot decode {text:?} as a float"));
        }
        Some("bool") => {
            return parse_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| format!("cannot decode {text:?} as a boolean"));
        }
        Some("null") => return Ok(Value::Null),
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    Ok(resolve_plain(text))
}

/// Plain-scalar resolution of Go's yaml.v3 when decoding into an untyped value.
pub fn resolve_plain(text: &str) -> Value {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = parse_float(text) {
        return Value::Float(f);
    }
    Value::String(text.to_string())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, `0x`/`0o`/`0b` prefixes, a leading `0` means
/// octal, underscores allowed between digits.
pub fn parse_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(&clean, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // YAML 1.2 core floats: digits with a dot and/or an exponent; no "inf"/"nan" words, no hex.
    let valid = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
        && text.chars().any(|c| c.is_ascii_digit());
    if !valid {
        return None;
    }
    text.replace('_', "").parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse_documents(text, "test.yaml").expect("parses");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn scalars_resolve_like_yaml_v3() {
        let n = one("a: 1\nb: '1'\nc: true\nd: yes\ne: 0555\nf: 1.5\ng: ~\nh:\ni: 0x1F\nj: 1e3\n");
        let m = n.as_map().unwrap();
        assert_eq!(m["a"].value, Value::Int(1));
        assert_eq!(m["b"].value, Value::String("1".into()));
        assert_eq!(m["c"].value, Value::Bool(true));
        assert_eq!(m["d"].value, Value::String("yes".into()));
        assert_eq!(m["e"].value, Value::Int(0o555));
        assert_eq!(m["f"].value, Value::Float(1.5));
        assert_eq!(m["g"].value, Value::Null);
        assert_eq!(m["h"].value, Value::Null);
        assert_eq!(m["i"].value, Value::Int(31));
        assert_eq!(m["j"].value, Value::Float(1000.0));
    }

    #[test]
    fn locations_are_one_based() {
        let n = one("services:\n  web:\n    image: nginx\n");
        let image = n
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("image")
            .unwrap();
        let loc = image.loc.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (3, 12));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = one(
            "x-base: &base\n  image: a\n  restart: always\nx-more: &more\n  image: b\n  tty: true\nsvc:\n  <<: [*base, *more]\n  restart: 'no'\n",
        );
        let svc = n.get("svc").unwrap();
        assert_eq!(svc.get("image").unwrap().as_str(), Some("a"));
        assert_eq!(svc.get("restart").unwrap().as_str(), Some("no"));
        assert_eq!(svc.get("tty").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn merge_key_with_scalar_is_rejected() {
        let err = parse_documents("x: &x 1\ny:\n  <<: *x\n", "f.yaml").unwrap_err();
        assert!(err.message.contains("map merge requires map"), "{err}");
        assert_eq!(err.loc.line, 3);
    }

    #[test]
    fn compose_tags_are_kept() {
        let n = one("a: !reset []\nb: !override {x: 1}\nc: !!str 12\n");
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
        assert_eq!(n.get("c").unwrap().value, Value::String("12".into()));
    }

    #[test]
    fn syntax_errors_show_the_line() {
        let err =
            parse_documents("services:\n  web:\n    image: [nginx\n", "bad.yaml").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("bad.yaml:"), "{shown}");
        assert!(shown.contains(" | "), "{shown}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse_documents("a: 1\na: 2\n", "d.yaml").unwrap_err();
        assert!(err.message.contains("already defined"), "{err}");
    }

    #[test]
    fn multiple_documents() {
        let docs = parse_documents("a: 1\n---\nb: 2\n", "m.yaml").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn go_int_parsing() {
        assert_eq!(parse_int("0o17"), Some(15));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("08"), None);
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("abc"), None);
    }
}
