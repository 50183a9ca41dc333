//! Go's `time.ParseDuration`, which BuildKit uses for `HEALTHCHECK --interval=1m30s` and the
//! other healthcheck durations (so `1.5h`, `300ms`, `2h45m` and `µs` all work as in docker).

/// Nanoseconds, possibly negative, or Go's error message.
pub(super) fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, rest) = leading_int(s).ok_or_else(invalid)?;
        let has_whole = rest.len() != s.len();
        s = rest;
        let (mut fraction, mut scale, mut has_fraction) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let (f, sc, after) = leading_fraction(rest);
            has_fraction = after.len() != rest.len();
            (fraction, scale, s) = (f, sc, after);
        }
        if !has_whole && !has_fraction {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let (unit_name, rest) = s.split_at(unit_len);
        s = rest;
        let unit = unit_nanos(unit_name)
            .ok_or_else(|| format!("time: unknown unit {unit_name:?} in duration {text:?}"))?;
        let limit = 1u64 << 63;
        if whole > limit / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > limit {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(value)
            .filter(|t| *t <= limit)
            .ok_or_else(invalid)?;
    }
    if negative {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid())
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Leading decimal digits; None on overflow past 2^63.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut value: u64 = 0;
    for digit in s[..end].bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        if value > 1 << 63 {
            return None;
        }
    }
    Some((value, &s[end..]))
}

/// Leading fraction digits as (value, 10^digits kept, rest); digits past u64 precision are
/// consumed but dropped, as in Go.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (mut value, mut scale, mut overflow) = (0u64, 1f64, false);
    for digit in s[..end].bytes() {
        if overflow {
            continue;
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .filter(|v| *v <= 1 << 63)
        {
            Some(v) => {
                value = v;
                scale *= 10.0;
            }
            None => overflow = true,
        }
    }
    (value, scale, &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Go's `time` package tests (parseDurationTests).
    #[test]
    fn go_durations() {
        for (text, nanos) in [
            ("0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.100000000000000000000h", 360_000_000_000),
        ] {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "9223372036854775808ns",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_go_duration("3").unwrap_err(),
            "time: missing unit in duration \"3\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
    }
}
