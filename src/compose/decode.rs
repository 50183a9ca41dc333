//! Decoding a located [`Node`] tree into typed values with serde. Errors carry the key path
//! (`services.web.ports[0]`) and the file, line and column of the value that did not fit, so a
//! wrong type anywhere in a Compose file is reported where it is.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::node::{KeyPath, Location, Map, Node, PathSeg, Value};

/// A value that does not fit the Compose model.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub path: KeyPath,
    pub loc: Option<Location>,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            path: KeyPath::root(),
            loc: None,
            message: msg.to_string(),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::custom(format!(
            "additional property {field:?} is not allowed (expected one of: {})",
            expected.join(", ")
        ));
        e.path.push_front(PathSeg::Key(field.to_string()));
        e
    }
}

impl DecodeError {
    fn located(mut self, loc: &Option<Location>) -> Self {
        if self.loc.is_none() {
            self.loc = loc.clone();
        }
        self
    }

    fn under(mut self, seg: PathSeg) -> Self {
        self.path.push_front(seg);
        self
    }
}

/// Decodes `node` into `T`, reporting errors relative to `path`.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &KeyPath) -> Result<T, DecodeError> {
    T::deserialize(NodeDeserializer(node)).map_err(|mut e| {
        let mut full = path.clone();
        for seg in e.path.segments() {
            full = match seg {
                PathSeg::Key(k) => full.key(k),
                PathSeg::Index(i) => full.index(*i),
            };
        }
        e.path = full;
        e.located(&node.loc)
    })
}

/// A serde deserializer reading one node.
pub struct NodeDeserializer<'a>(pub &'a Node);

impl<'a> NodeDeserializer<'a> {
    fn invalid(&self, expected: &str) -> DecodeError {
        let shown = match &self.0.value {
            Value::String(s) => format!("{} {s:?}", self.0.kind()),
            Value::Int(i) => format!("{} {i}", self.0.kind()),
            Value::Bool(b) => format!("{} {b}", self.0.kind()),
            _ => self.0.kind().to_string(),
        };
        de::Error::custom(format!("expected {expected}, got {shown}"))
    }

    fn wrap<T>(&self, r: Result<T, DecodeError>) -> Result<T, DecodeError> {
        r.map_err(|e| e.located(&self.0.loc))
    }
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let r = match &self.0.value {
                Value::Int(i) => match <$ty>::try_from(*i) {
                    Ok(v) => visitor.$visit(v),
                    Err(_) => Err(self.invalid(concat!("an integer fitting ", stringify!($ty)))),
                },
                _ => Err(self.invalid("an integer")),
            };
            self.wrap(r)
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(NodeSeq::new(items)),
            Value::Map(map) => visitor.visit_map(NodeMap::new(map)),
        };
        self.wrap(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid("a boolean")),
        };
        self.wrap(r)
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Int(i) => visitor.visit_f64(*i as f64),
            _ => Err(self.invalid("a number")),
        };
        self.wrap(r)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::String(s) => visitor.visit_str(s),
            _ => Err(self.invalid("a string")),
        };
        self.wrap(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match self.0.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid("null")),
        };
        self.wrap(r)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(NodeSeq::new(items)),
            _ => Err(self.invalid("a list")),
        };
        self.wrap(r)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::Map(map) => visitor.visit_map(NodeMap::new(map)),
            _ => Err(self.invalid("a mapping")),
        };
        self.wrap(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let r = match &self.0.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(self.invalid("a string")),
        };
        self.wrap(r)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

struct NodeSeq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a> NodeSeq<'a> {
    fn new(items: &'a [Node]) -> Self {
        NodeSeq {
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> SeqAccess<'de> for NodeSeq<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(NodeDeserializer(node))
                .map(Some)
                .map_err(|e| e.located(&node.loc).under(PathSeg::Index(i))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct NodeMap<'a> {
    entries: indexmap::map::Iter<'a, String, Node>,
    current: Option<(&'a String, &'a Node)>,
}

impl<'a> NodeMap<'a> {
    fn new(map: &'a Map) -> Self {
        NodeMap {
            entries: map.iter(),
            current: None,
        }
    }
}

impl<'de> MapAccess<'de> for NodeMap<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.current = Some((k, v));
                seed.deserialize(k.as_str().into_deserializer())
                    .map(Some)
                    .map_err(|e: DecodeError| {
                        // unknown_field already names the key itself.
                        let e = e.located(&v.loc);
                        if e.path.segments().first() == Some(&PathSeg::Key(k.clone())) {
                            e
                        } else {
                            e.under(PathSeg::Key(k.clone()))
                        }
                    })
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let Some((k, v)) = self.current.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        seed.deserialize(NodeDeserializer(v))
            .map_err(|e| e.located(&v.loc).under(PathSeg::Key(k.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Svc {
        image: Option<String>,
        #[serde(default)]
        ports: Vec<u16>,
        #[serde(default)]
        tty: bool,
    }

    fn doc(text: &str) -> Node {
        parse_documents(text, "c.yaml").unwrap().remove(0)
    }

    #[test]
    fn decodes_typed_values() {
        let n = doc("services:\n  web:\n    image: nginx\n    ports: [80, 443]\n    tty: true\n");
        let s: BTreeMap<String, BTreeMap<String, Svc>> = decode(&n, &KeyPath::root()).unwrap();
        let web = &s["services"]["web"];
        assert_eq!(web.image.as_deref(), Some("nginx"));
        assert_eq!(web.ports, vec![80, 443]);
        assert!(web.tty);
    }

    #[test]
    fn wrong_type_names_path_and_line() {
        let n = doc("services:\n  web:\n    image: nginx\n    ports: [80, 'x']\n");
        let err =
            decode::<BTreeMap<String, BTreeMap<String, Svc>>>(&n, &KeyPath::root()).unwrap_err();
        assert_eq!(err.path.to_string(), "services.web.ports[1]");
        assert_eq!(err.loc.as_ref().map(|l| (l.line, l.column)), Some((4, 17)));
        assert!(
            err.message
                .contains("expected an integer, got a string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_named_once() {
        let n = doc("services:\n  web:\n    imag: nginx\n");
        let err =
            decode::<BTreeMap<String, BTreeMap<String, Svc>>>(&n, &KeyPath::root()).unwrap_err();
        assert_eq!(err.path.to_string(), "services.web.imag");
        assert!(
            err.message
                .contains("additional property \"imag\" is not allowed"),
            "{err}"
        );
        assert_eq!(err.loc.as_ref().map(|l| l.line), Some(3));
    }

    #[test]
    fn out_of_range_integer() {
        let n = doc("ports: [70000]\n");
        #[derive(Debug, Deserialize)]
        struct P {
            #[allow(dead_code)]
            ports: Vec<u16>,
        }
        let err = decode::<P>(&n, &KeyPath::root()).unwrap_err();
        assert!(err.message.contains("fitting u16"), "{err}");
    }
}
