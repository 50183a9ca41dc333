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

/// Mappings keep their order (it is the order docker compose users see); foldhash because
/// every tree walk looks keys up and SipHash showed in profiles.
pub type Map = IndexMap<String, Node, foldhash::fast::RandomState>;

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
///
/// Every tree walk extends the path of every node it visits, so a path is a shared, immutable
/// list from leaf to root: extending it costs one small allocation instead of a copy.
#[derive(Clone, Default)]
pub struct KeyPath {
    last: Option<Arc<Link>>,
    len: usize,
}

struct Link {
    parent: Option<Arc<Link>>,
    seg: PathSeg,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn root() -> Self {
        KeyPath::default()
    }

    fn push(&self, seg: PathSeg) -> Self {
        KeyPath {
            last: Some(Arc::new(Link {
                parent: self.last.clone(),
                seg,
            })),
            len: self.len + 1,
        }
    }

    pub fn key(&self, k: &str) -> Self {
        self.push(PathSeg::Key(k.to_string()))
    }

    pub fn index(&self, i: usize) -> Self {
        self.push(PathSeg::Index(i))
    }

    /// The segments from the root down, innermost last.
    pub fn segments(&self) -> Vec<PathSeg> {
        let mut out = Vec::with_capacity(self.len);
        let mut link = self.last.as_deref();
        while let Some(l) = link {
            out.push(l.seg.clone());
            link = l.parent.as_deref();
        }
        out.reverse();
        out
    }

    fn from_segments(segs: Vec<PathSeg>) -> Self {
        segs.into_iter().fold(KeyPath::root(), |p, s| p.push(s))
    }

    /// Puts `seg` in front (errors gain their outer keys as they travel up).
    pub fn push_front(&mut self, seg: PathSeg) {
        let mut segs = self.segments();
        segs.insert(0, seg);
        *self = KeyPath::from_segments(segs);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segments equal `parts` (`*` matching any one), compared from the leaf up.
    fn matches_parts<'p>(&self, parts: impl DoubleEndedIterator<Item = &'p str>) -> bool {
        let mut link = self.last.as_deref();
        for p in parts.rev() {
            let Some(l) = link else { return false };
            let ok = p == "*" || matches!(&l.seg, PathSeg::Key(k) if k == p);
            if !ok {
                return false;
            }
            link = l.parent.as_deref();
        }
        link.is_none()
    }
}

impl PartialEq for KeyPath {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.segments() == other.segments()
    }
}

impl Eq for KeyPath {}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPath({self})")
    }
}

/// A table of dotted path patterns (`services.*.ports`) with a value each, split once and
/// grouped by depth, so that looking up a node's path costs a few comparisons. Tree walks use
/// [`PathTable::max_depth`] to stop descending where nothing can match any more.
pub struct PathTable<T> {
    by_depth: Vec<Vec<(Vec<&'static str>, T)>>,
}

impl<T> PathTable<T> {
    pub fn new(entries: impl IntoIterator<Item = (&'static str, T)>) -> Self {
        let mut by_depth: Vec<Vec<(Vec<&'static str>, T)>> = Vec::new();
        for (pattern, value) in entries {
            let parts: Vec<&'static str> = pattern.split('.').collect();
            if by_depth.len() <= parts.len() {
                by_depth.resize_with(parts.len() + 1, Vec::new);
            }
            by_depth[parts.len()].push((parts, value));
        }
        PathTable { by_depth }
    }

    /// The value of the first pattern matching `path`.
    pub fn find(&self, path: &KeyPath) -> Option<&T> {
        let candidates = self.by_depth.get(path.len())?;
        candidates
            .iter()
            .find(|(parts, _)| path.matches_parts(parts.iter().copied()))
            .map(|(_, v)| v)
    }

    pub fn max_depth(&self) -> usize {
        self.by_depth.len().saturating_sub(1)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments().iter().enumerate() {
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
        let table = PathTable::new([
            ("services.*", 1),
            ("services.*.ports.*", 2),
            ("services.*.ports", 3),
        ]);
        let web = KeyPath::root().key("services").key("web");
        assert_eq!(table.find(&web), Some(&1));
        assert_eq!(table.find(&p), Some(&2));
        assert_eq!(table.find(&web.key("image")), None);
        assert_eq!(table.max_depth(), 4);
    }

    #[test]
    fn json_round_trip() {
        let j = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {}});
        assert_eq!(Node::from_json(&j).to_json(), j);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(2.5), "2.5");
    }
}
