//! Command-like values: [`ShellCommand`] (`command`, `entrypoint`, hook commands: a string is shell-split,
//! a list is kept) and [`HealthCheckTest`] (a string becomes `["CMD-SHELL", s]`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::shell::shell_split;

/// Reads a string (handed to `from_str`) or a list of strings.
struct StrOrSeq<F> {
    expecting: &'static str,
    from_str: F,
}

impl<'de, F: FnOnce(&str) -> Result<Vec<String>, String>> Visitor<'de> for StrOrSeq<F> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
        (self.from_str)(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            out.push(s);
        }
        Ok(out)
    }
}

/// A command as argv. In a service it is `Option<ShellCommand>`: `None` (`null`, or not set) keeps the
/// image's default and is printed as `null`; an empty list clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ShellCommand(pub Vec<String>);

impl<'de> Deserialize<'de> for ShellCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let visitor = StrOrSeq {
            expecting: "a command string or a list of strings",
            from_str: |s: &str| shell_split(s).map_err(|e| e.to_string()),
        };
        d.deserialize_any(visitor).map(ShellCommand)
    }
}

impl JsonSchema for ShellCommand {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [
            {"type": "null"},
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}}
        ]})
    }
}

/// `healthcheck.test`: `["CMD", …]`, `["CMD-SHELL", cmd]`, `["NONE"]`, or a string meaning `CMD-SHELL`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct HealthCheckTest(pub Vec<String>);

impl HealthCheckTest {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for HealthCheckTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let visitor = StrOrSeq {
            expecting: "a command string or a list like [\"CMD\", \"curl\", …]",
            from_str: |s: &str| Ok(vec!["CMD-SHELL".to_owned(), s.to_owned()]),
        };
        d.deserialize_any(visitor).map(HealthCheckTest)
    }
}

impl JsonSchema for HealthCheckTest {
    fn schema_name() -> Cow<'static, str> {
        "HealthCheckTest".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
    }
}
