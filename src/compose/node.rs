//! The located YAML tree every loader stage works on: plain values (like `serde_json::Value`) that
//! remember the file, line and column they came from and the Compose tags (`!reset`, `!override`)
//! written on them. Interpolation, `extends`, `include` and merging rewrite this tree; the typed
//! model is decoded from it at the end (see [`super::decode`]), so every error can point at a line.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

/// Where a value starts in its source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The Compose-specific YAML tags. Other tags are resolved while parsing and not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: remove the value inherited from earlier files or the extended service.
    Reset,
    /// `!override`: replace the inherited value instead of merging with it.
    Override,
}

pub type Map = IndexMap<String, Node>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Map),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub loc: Option<Location>,
    pub tag: Option<Tag>,
}

/// Equality ignores locations and tags: two files saying the same thing are equal.
impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Node {
    pub fn new(value: Value) -> Self {
        Node {
            value,
            loc: None,
            tag: None,
        }
    }

    pub fn at(value: Value, loc: Option<Location>) -> Self {
        Node {
            value,
            loc,
            tag: None,
        }
    }

    pub fn null() -> Self {
        Node::new(Value::Null)
    }

    pub fn string(s: impl Into<String>) -> Self {
        Node::new(Value::String(s.into()))
    }

    pub fn map(map: Map) -> Self {
        Node::new(Value::Map(map))
    }

    pub fn seq(items: Vec<Node>) -> Self {
        Node::new(Value::Seq(items))
    }

    /// The same value placed at `loc` (keeps the original location when it has one).
    pub fn located(mut self, loc: &Option<Location>) -> Self {
        if self.loc.is_none() {
            self.loc = loc.clone();
        }
        self
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// `map[key]` when this is a map holding `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }

    /// A scalar rendered as text the way Go's `fmt.Sprint` would, for list/map conversions.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short description of the kind of value, for "expected X, got Y" errors.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON (used for output and for comparing with docker compose's output).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Builds an unlocated tree from JSON (used to put canonical typed values back in the tree).
    pub fn from_json(json: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        Node::new(match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::String(s.clone()),
            J::Array(items) => Value::Seq(items.iter().map(Node::from_json).collect()),
            J::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        })
    }
}

/// Go prints whole floats without a fractional part (`3`), others in shortest form (`3.14`).
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A position in the tree, rendered `services.web.ports[0]` in messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<PathSeg>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }

    pub fn push_front(&mut self, seg: PathSeg) {
        self.0.insert(0, seg);
    }

    pub fn segments(&self) -> &[PathSeg] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Matches a dotted pattern where `*` stands for any one key or index
    /// (`services.*.ports` matches `services.web.ports`).
    pub fn matches(&self, pattern: &str) -> bool {
        let parts: Vec<&str> = pattern.split('.').collect();
        parts.len() == self.0.len()
            && parts.iter().zip(&self.0).all(|(p, s)| match s {
                _ if *p == "*" => true,
                PathSeg::Key(k) => p == k,
                PathSeg::Index(_) => false,
            })
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_and_match() {
        let p = KeyPath::root()
            .key("services")
            .key("web")
            .key("ports")
            .index(0);
        assert_eq!(p.to_string(), "services.web.ports[0]");
        assert!(
            KeyPath::root()
                .key("services")
                .key("web")
                .matches("services.*")
        );
        assert!(!p.matches("services.*.ports"));
        assert!(p.matches("services.*.ports.*"));
    }

    #[test]
    fn json_round_trip() {
        let j = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {}});
        assert_eq!(Node::from_json(&j).to_json(), j);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(3.14), "3.14");
    }
}
