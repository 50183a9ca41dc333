//! Scalar newtypes with a unit: [`Duration`] (Go duration syntax), [`ByteSize`] (go-units sizes),
//! [`FileMode`] (octal modes), [`NanoCpus`] (fractional CPUs) and [`DeviceCount`] (`all` or a number).
//! Each parses what compose-go accepts and prints what docker compose prints.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ModelError;

const NS_PER_SEC: u64 = 1_000_000_000;

/// A Go `time.Duration` in nanoseconds. Parses Go syntax plus `d`/`w` units (compose-go uses
/// `go-str2duration`), prints like Go's `Duration.String()` (`1m30s`, `1h0m0s`, `1.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

impl Duration {
    /// Parses `"10s"`, `"1h30m"`, `"1.5s"`, `"-2m"`, `"0"`, `"3d"`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        parse_duration(s)
            .map(Duration)
            .map_err(|reason| ModelError::InvalidDuration {
                value: s.to_owned(),
                reason: reason.to_owned(),
            })
    }

    pub fn from_secs(secs: i64) -> Self {
        Duration(secs * NS_PER_SEC as i64)
    }

    pub fn as_nanos(self) -> i64 {
        self.0
    }
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3_600 * NS_PER_SEC,
        "d" => 86_400 * NS_PER_SEC,
        "w" => 7 * 86_400 * NS_PER_SEC,
        _ => return None,
    })
}

/// Splits the leading run of ASCII digits off `s`.
fn leading_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// One `<number>[.<fraction>]<unit>` component, in nanoseconds (Go's `time.ParseDuration` loop body).
fn parse_component(s: &str) -> Result<(u64, &str), &'static str> {
    let (int, rest) = leading_digits(s);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => leading_digits(r),
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return Err("invalid duration");
    }
    let unit_end = rest
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_end);
    if unit.is_empty() {
        return Err("missing unit in duration");
    }
    let unit = unit_nanos(unit).ok_or("unknown unit in duration")?;
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| "invalid duration")?
    };
    let mut nanos = whole.checked_mul(unit).ok_or("invalid duration")?;
    if !frac.is_empty() {
        let (f, scale) = leading_fraction(frac);
        // Same arithmetic as Go's ParseDuration, so results agree to the nanosecond.
        let extra = (f as f64 * (unit as f64 / scale)) as u64;
        nanos = nanos.checked_add(extra).ok_or("invalid duration")?;
    }
    Ok((nanos, rest))
}

/// Fraction digits as an integer and its scale (Go's `leadingFraction`: digits that would overflow
/// are ignored).
fn leading_fraction(digits: &str) -> (u64, f64) {
    let (mut f, mut scale) = (0u64, 1f64);
    for d in digits.bytes() {
        let Some(next) = f
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        else {
            break;
        };
        if next > i64::MAX as u64 {
            break;
        }
        f = next;
        scale *= 10.0;
    }
    (f, scale)
}

fn parse_duration(s: &str) -> Result<i64, &'static str> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("invalid duration");
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (nanos, r) = parse_component(rest)?;
        total = total.checked_add(nanos).ok_or("invalid duration")?;
        rest = r;
    }
    let total = i64::try_from(total).map_err(|_| "invalid duration")?;
    Ok(if neg { -total } else { total })
}

/// Writes `v % 10^prec` as a fraction without trailing zeros (Go's `fmtFrac`); returns `v / 10^prec`.
fn push_frac(out: &mut String, v: u64, prec: u32) -> u64 {
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac != 0 {
        let digits = format!("{frac:0width$}", width = prec as usize);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    v / p
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        let u = self.0.unsigned_abs();
        if u < NS_PER_SEC {
            let (prec, unit) = match u {
                0..1_000 => (0, "ns"),
                1_000..1_000_000 => (3, "\u{b5}s"),
                _ => (6, "ms"),
            };
            let mut frac = String::new();
            let int = push_frac(&mut frac, u, prec);
            return write!(f, "{sign}{int}{frac}{unit}");
        }
        let mut frac = String::new();
        let secs = push_frac(&mut frac, u, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        match (h, secs / 60) {
            (0, 0) => write!(f, "{sign}{s}{frac}s"),
            (0, _) => write!(f, "{sign}{m}m{s}{frac}s"),
            _ => write!(f, "{sign}{h}h{m}m{s}{frac}s"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"10s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            // compose-go formats numbers with fmt.Sprint then parses them, so only 0 is valid.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as \"10s\", \"1m30s\" or \"1h\" (units ns, us, ms, s, m, h, d, w).",
            "pattern": "^[-+]?(0|([0-9]*(\\.[0-9]*)?(ns|us|\u{b5}s|\u{3bc}s|ms|s|m|h|d|w))+)$"
        })
    }
}

/// A size in bytes (compose-go `UnitBytes`). Parses go-units `RAMInBytes` syntax (`512m`, `2gb`, `1.5GiB`,
/// binary multiples); prints as a decimal string. Signed because `memswap_limit: -1` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub i64);

impl ByteSize {
    /// Parses `"2gb"`, `"512m"`, `"10 MiB"`, `"1000"`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let err = |reason: &str| ModelError::InvalidByteSize {
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let sep = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
        let sep = sep.ok_or_else(|| err("no number"))?;
        let (num, suffix) = if s.as_bytes()[sep] == b' ' {
            (&s[..sep], &s[sep + 1..])
        } else {
            (&s[..=sep], &s[sep + 1..])
        };
        // A plain integer is exact (go-units goes through float64, losing precision above 2^53 bytes).
        if suffix.is_empty() && !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            return num.parse().map(ByteSize).map_err(|_| err("too large"));
        }
        let size: f64 = num.parse().map_err(|_| err("not a number"))?;
        if size < 0.0 || !size.is_finite() {
            return Err(err("negative size"));
        }
        let mul = size_multiplier(suffix).ok_or_else(|| err("invalid suffix"))?;
        Ok(ByteSize((size * mul as f64) as i64))
    }
}

/// go-units binary multipliers: `b`, `k`, `kb`, `kib`, … up to `p`; case-insensitive.
fn size_multiplier(suffix: &str) -> Option<u64> {
    let sfx = suffix.to_ascii_lowercase();
    let mut chars = sfx.chars();
    let Some(first) = chars.next() else {
        return Some(1);
    };
    if first == 'b' {
        return (sfx.len() == 1).then_some(1);
    }
    let power = "kmgtp".find(first)? as u32 + 1;
    match chars.as_str() {
        "" | "b" | "ib" => Some(1024u64.pow(power)),
        _ => None,
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size like \"512m\", \"2gb\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                i64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("byte size too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                Ok(ByteSize(v as i64))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "integer"],
            "description": "A size in bytes, or a string with a unit such as \"512m\" or \"2gb\"."
        })
    }
}

/// A Unix file mode. YAML ints are taken as the mode's value (a YAML `0555` is octal 365), strings are
/// parsed as octal (`"0555"`); printed like compose-go's `FileMode.String()`: `"0555"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileMode(pub u32);

impl FileMode {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        u32::from_str_radix(s, 8)
            .map(FileMode)
            .map_err(|_| ModelError::InvalidFileMode(s.to_owned()))
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0{:o}", self.0)
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file mode: an integer or an octal string like \"0444\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileMode, E> {
                FileMode::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(ModelError::InvalidFileMode(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(ModelError::InvalidFileMode(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for FileMode {
    fn schema_name() -> Cow<'static, str> {
        "FileMode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "integer"], "description": "A file mode: octal string like \"0444\" or a number."})
    }
}

/// Serializes an `f32` the way Go's `encoding/json` does: shortest decimal, integral values without `.0`.
pub(crate) fn serialize_go_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return s.serialize_i64(*v as i64);
    }
    // Going through the shortest f32 decimal keeps 0.1 as 0.1 rather than 0.10000000149011612.
    let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(*v));
    s.serialize_f64(shortest)
}

/// A number of CPUs (`cpus`, `deploy.resources.*.cpus`): a number or a numeric string; printed as a number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct NanoCpus(pub f32);

impl Serialize for NanoCpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_go_f32(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for NanoCpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::f32(d).map(NanoCpus)
    }
}

impl JsonSchema for NanoCpus {
    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["number", "string"], "description": "A number of CPUs, such as 0.5."})
    }
}

/// How many devices a device request wants: `all` (stored as -1, as compose-go does) or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct DeviceCount(pub i64);

impl DeviceCount {
    pub const ALL: DeviceCount = DeviceCount(-1);

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Self::ALL);
        }
        s.parse()
            .map(DeviceCount)
            .map_err(|_| ModelError::InvalidDeviceCount(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for DeviceCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DeviceCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a device count: \"all\" or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeviceCount, E> {
                DeviceCount::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DeviceCount, E> {
                Ok(DeviceCount(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DeviceCount, E> {
                i64::try_from(v).map(DeviceCount).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DeviceCount {
    fn schema_name() -> Cow<'static, str> {
        "DeviceCount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"oneOf": [{"type": "string", "enum": ["all"]}, {"type": "integer"}]})
    }
}

use super::lenient;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_go_format() {
        let cases = [
            ("90s", "1m30s"),
            ("1h30m", "1h30m0s"),
            ("1500ms", "1.5s"),
            ("1m", "1m0s"),
            ("120s", "2m0s"),
            ("5s", "5s"),
            ("0", "0s"),
            ("1.5h", "1h30m0s"),
            ("2us", "2\u{b5}s"),
            ("1.5ms", "1.5ms"),
            ("100ns", "100ns"),
            ("1d", "24h0m0s"),
            ("1w", "168h0m0s"),
            ("-3s", "-3s"),
            ("1h2m3.5s", "1h2m3.5s"),
            (".5s", "500ms"),
        ];
        for (input, want) in cases {
            assert_eq!(Duration::parse(input).unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn duration_errors() {
        let e = Duration::parse("10").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a duration like \"10s\" or \"1m30s\", got \"10\": missing unit in duration"
        );
        assert!(
            Duration::parse("10x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
        let from_int: Result<Duration, _> = serde_json::from_str("10");
        assert!(from_int.unwrap_err().to_string().contains("missing unit"));
        assert_eq!(serde_json::from_str::<Duration>("0").unwrap(), Duration(0));
    }

    #[test]
    fn byte_sizes() {
        let cases = [
            ("2gb", 2_147_483_648),
            ("512m", 536_870_912),
            ("50M", 52_428_800),
            ("12mb", 12_582_912),
            ("10m", 10_485_760),
            ("1000", 1000),
            ("1.5k", 1536),
            ("1KiB", 1024),
            ("10 MB", 10_485_760),
            ("7b", 7),
        ];
        for (input, want) in cases {
            assert_eq!(ByteSize::parse(input).unwrap(), ByteSize(want), "{input}");
        }
        for bad in ["", "abc", "1x", "1kbb", "1mib2", "-1m"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&ByteSize(1000)).unwrap(), "\"1000\"");
    }

    #[test]
    fn file_modes() {
        assert_eq!(
            serde_json::from_str::<FileMode>("365").unwrap().to_string(),
            "0555"
        );
        assert_eq!(
            serde_json::from_str::<FileMode>("\"0440\"").unwrap(),
            FileMode(0o440)
        );
        assert_eq!(FileMode(0).to_string(), "00");
        assert!(FileMode::parse("9").is_err());
    }

    #[test]
    fn cpus_and_counts() {
        assert_eq!(serde_json::to_string(&NanoCpus(2.0)).unwrap(), "2");
        assert_eq!(serde_json::to_string(&NanoCpus(0.1)).unwrap(), "0.1");
        assert_eq!(
            serde_json::from_str::<NanoCpus>("\"0.5\"").unwrap(),
            NanoCpus(0.5)
        );
        assert_eq!(
            serde_json::from_str::<DeviceCount>("\"all\"").unwrap(),
            DeviceCount::ALL
        );
        assert!(serde_json::from_str::<DeviceCount>("\"some\"").is_err());
    }

    proptest::proptest! {
        /// Printing then parsing gives the same duration, for any value Go can represent.
        #[test]
        fn duration_round_trips(nanos in proptest::num::i64::ANY) {
            let d = Duration(nanos.max(i64::MIN + 1));
            proptest::prop_assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn byte_size_round_trips(n in 0i64..i64::MAX) {
            proptest::prop_assert_eq!(ByteSize::parse(&ByteSize(n).to_string()).unwrap(), ByteSize(n));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,12}") {
            let _ = Duration::parse(&s);
            let _ = ByteSize::parse(&s);
            let _ = FileMode::parse(&s);
            let _ = crate::compose::model::shell_split(&s);
            let _ = crate::compose::model::parse_port_spec(&s);
            let _ = crate::compose::model::parse_volume_spec(&s);
        }
    }
}
