//! Deserialization helpers shared by the model: scalars the schema lets be strings (`["number","string"]`,
//! `["boolean","string"]`), and [`Short`], the string-or-map decoder behind every short syntax.
//!
//! No `#[serde(untagged)]`/`flatten` here: those buffer the input into serde's private `Content` and lose the
//! caller's error locations. Each helper is a visitor that forwards maps to the caller's own deserializer.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::ModelError;

/// A type with a short (scalar) syntax besides its long (map) form.
pub trait ShortSyntax: Sized {
    /// What the visitor expects, for serde's "invalid type" errors.
    const EXPECTING: &'static str;

    /// Decodes the string form (`build: ./dir`, `secrets: [db]`, …).
    fn from_short_str(s: &str) -> Result<Self, ModelError>;

    /// Decodes an integer form; `None` means integers are not accepted.
    fn from_short_int(_v: i64) -> Option<Result<Self, ModelError>> {
        None
    }

    /// JSON schema of the short form (a string by default).
    fn short_schema() -> Schema {
        json_schema!({"type": "string"})
    }
}

/// Decodes `T` from its short or long syntax.
pub struct Short<T>(pub T);

struct ShortVisitor<T>(PhantomData<T>);

impl<'de, T: ShortSyntax + Deserialize<'de>> Visitor<'de> for ShortVisitor<T> {
    type Value = Short<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Short<T>, E> {
        T::from_short_str(v).map(Short).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Short<T>, E> {
        match T::from_short_int(v) {
            Some(r) => r.map(Short).map_err(E::custom),
            None => Err(E::invalid_type(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Short<T>, E> {
        let v =
            i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))?;
        self.visit_i64(v)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Short<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Short)
    }
}

impl<'de, T: ShortSyntax + Deserialize<'de>> Deserialize<'de> for Short<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShortVisitor(PhantomData))
    }
}

impl<T: ShortSyntax + JsonSchema> JsonSchema for Short<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}OrShort", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [T::short_schema(), g.subschema_for::<T>()]})
    }
}

/// `Option<T>` field in short or long syntax (`null` is `None`).
pub(crate) fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortSyntax + Deserialize<'de>,
{
    Ok(Option::<Short<T>>::deserialize(d)?.map(|s| s.0))
}

/// List whose items are in short or long syntax; `null` is an empty list.
pub(crate) fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortSyntax + Deserialize<'de>,
{
    let items = Option::<Vec<Short<T>>>::deserialize(d)?.unwrap_or_default();
    Ok(items.into_iter().map(|s| s.0).collect())
}

/// Any collection where `null` means empty (compose-go decodes a YAML null into the zero value).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An integer that may be written as a string (`cpu_shares: "512"`).
struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i128, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(ModelError::InvalidInteger(v.to_owned())))
    }
}

fn int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    let v = d.deserialize_any(IntVisitor)?;
    T::try_from(v).map_err(|_| de::Error::custom(format!("integer {v} out of range")))
}

pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    int(d)
}

pub(crate) fn u16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    int(d)
}

pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Lenient<i64>>::deserialize(d)?.map(|l| l.0))
}

pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Lenient<u64>>::deserialize(d)?.map(|l| l.0))
}

/// Wrapper so that `Option<…>` of a lenient scalar can use serde's own null handling.
struct Lenient<T>(T);

impl<'de, T: TryFrom<i128>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Lenient)
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(ModelError::InvalidCpus(v.to_owned())))
    }
}

pub(crate) fn f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(d.deserialize_any(FloatVisitor)? as f32)
}

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    /// Go's `strconv.ParseBool` spellings.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(E::custom(ModelError::InvalidBool(v.to_owned()))),
        }
    }
}

pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

struct LenientBool(bool);

impl<'de> Deserialize<'de> for LenientBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bool(d).map(LenientBool)
    }
}

pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<LenientBool>::deserialize(d)?.map(|b| b.0))
}

/// Formats a YAML scalar like Go's `fmt.Sprint`, which compose-go uses to turn numbers and bools into strings.
pub(crate) fn go_float_string(v: f64) -> String {
    let abs = v.abs();
    if v != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Go's %v switches to exponent form with at least two exponent digits: 1e+21, 1e-05.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    v.to_string()
}

/// A string that may be written as a number or boolean in YAML (`uid: 1000`); kept as text.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(go_float_string(v))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}
