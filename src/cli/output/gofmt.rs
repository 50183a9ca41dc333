//! Go's text renderings that docker compose's output is made of: go-units' `HumanDuration` and
//! `HumanSizeWithPrecision`, `time.Time.String()`, the RFC 3339 "nano fixed" timestamps of
//! docker logs, and the local time zone those use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// go-units `HumanDuration`: "Less than a second", "1 second", "About a minute", "3 hours",
/// "2 weeks"... (docker's `CREATED` and `STATUS` columns).
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let hours_f = d.as_secs_f64() / 3600.0;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Hours round to the nearest, unlike seconds and minutes (go-units does `int(d.Hours() + 0.5)`).
    let hours = (hours_f + 0.5) as u64;
    match hours {
        1 => "About an hour".into(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", hours_f as u64 / 24 / 365),
    }
}

/// `units.HumanDuration(now - then)`, zero when `then` is in the future.
pub fn human_since(now: SystemTime, then: SystemTime) -> String {
    human_duration(now.duration_since(then).unwrap_or_default())
}

/// go-units `HumanSizeWithPrecision`: decimal units, `%.{precision}g` ("0B", "1.23kB", "12.5MB").
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_format_g(size, precision), UNITS[i])
}

/// Go's `fmt.Sprintf("%.{prec}g", v)` for finite non-negative `v`.
pub(super) fn go_format_g(v: f64, prec: usize) -> String {
    let prec = prec.max(1);
    // `{:e}` rounds the exact binary value half-to-even at `prec` significant digits, as Go does.
    let sci = format!("{:.*e}", prec - 1, v);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if v == 0.0 {
        return "0".into();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{first}{dot}{rest}e{sign}{:02}", exp.abs());
    }
    fixed_from_digits(&digits, dp)
}

/// Digits `d1d2...` with the decimal point after `dp` of them, without trailing zeros.
fn fixed_from_digits(digits: &str, dp: i32) -> String {
    if dp <= 0 {
        return format!("0.{}{digits}", "0".repeat((-dp) as usize));
    }
    let dp = dp as usize;
    if digits.len() <= dp {
        return format!("{digits}{}", "0".repeat(dp - digits.len()));
    }
    format!("{}.{}", &digits[..dp], &digits[dp..])
}

/// The zone docker prints local times in (Go's `time.Local`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    Utc,
    /// The process's local zone (`TZ`, else `/etc/localtime`), looked up per instant.
    Local,
    Fixed {
        offset_secs: i32,
        abbrev: String,
    },
}

impl Zone {
    /// UTC offset and abbreviation ("CET", "UTC") in effect at `unix` seconds.
    pub fn at(&self, unix: i64) -> (i32, String) {
        match self {
            Zone::Utc => (0, "UTC".into()),
            Zone::Fixed {
                offset_secs,
                abbrev,
            } => (*offset_secs, abbrev.clone()),
            Zone::Local => local_zone_at(unix),
        }
    }

    fn datetime(&self, t: SystemTime) -> (DateTime<FixedOffset>, String) {
        let (secs, nanos) = unix_parts(t);
        let (offset, abbrev) = self.at(secs);
        let fixed = FixedOffset::east_opt(offset).unwrap_or_else(|| Utc.fix());
        let utc = DateTime::from_timestamp(secs, nanos).unwrap_or_default();
        (utc.with_timezone(&fixed), abbrev)
    }
}

fn unix_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let nanos = d.subsec_nanos();
            if nanos == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// The C library's view of the local zone; it reads `TZ` and `/etc/localtime` as Go does, and
/// unlike chrono it knows the zone's abbreviation.
fn local_zone_at(unix: i64) -> (i32, String) {
    let t: libc::time_t = unix as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: `t` and `tm` are valid for the call; localtime_r is the reentrant variant.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return (0, "UTC".into());
    }
    let abbrev = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated static string owned by the C library.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    (tm.tm_gmtoff as i32, abbrev)
}

/// Go's `time.Unix(secs, 0).String()` in `zone`: `2026-11-23 03:22:48 +0000 UTC`.
pub fn go_time_string(t: SystemTime, zone: &Zone) -> String {
    let (secs, _) = unix_parts(t);
    let whole = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    let (dt, abbrev) = zone.datetime(whole);
    format!("{} {}", dt.format("%Y-%m-%d %H:%M:%S %z"), abbrev)
}

/// Go's `jsonmessage.RFC3339NanoFixed` (`2006-01-02T15:04:05.000000000Z07:00`): the timestamps
/// of `logs --timestamps` and `up --timestamps`.
pub fn rfc3339_nano_fixed(t: SystemTime, zone: &Zone) -> String {
    let (dt, _) = zone.datetime(t);
    let offset = dt.offset().local_minus_utc();
    let base = dt.format("%Y-%m-%dT%H:%M:%S%.9f");
    if offset == 0 {
        return format!("{base}Z");
    }
    format!("{base}{}", dt.format("%:z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn human_duration_matches_go_units() {
        let cases = [
            (Duration::from_millis(999), "Less than a second"),
            (secs(1), "1 second"),
            (secs(59), "59 seconds"),
            (secs(60), "About a minute"),
            (secs(119), "About a minute"),
            (secs(120), "2 minutes"),
            (secs(59 * 60 + 59), "59 minutes"),
            (secs(3600), "About an hour"),
            (secs(3600 + 1799), "About an hour"),
            (secs(3600 + 1800), "2 hours"),
            (secs(47 * 3600), "47 hours"),
            (secs(48 * 3600), "2 days"),
            (secs(14 * 24 * 3600), "2 weeks"),
            (secs(60 * 24 * 3600), "2 months"),
            (secs(2 * 365 * 24 * 3600), "2 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn human_size_matches_go_g_verb() {
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(1.0, 3), "1B");
        assert_eq!(human_size_with_precision(100.0, 3), "100B");
        assert_eq!(human_size_with_precision(1234.0, 3), "1.23kB");
        assert_eq!(human_size_with_precision(12_500_000.0, 3), "12.5MB");
        assert_eq!(human_size_with_precision(999_900.0, 3), "1e+03kB");
        assert_eq!(human_size_with_precision(2_000_000_000.0, 4), "2GB");
    }

    #[test]
    fn go_time_string_in_utc_and_fixed_zone() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_404_168) + Duration::from_millis(500);
        assert_eq!(
            go_time_string(t, &Zone::Utc),
            "2026-11-23 03:22:48 +0000 UTC"
        );
        let cet = Zone::Fixed {
            offset_secs: 3600,
            abbrev: "CET".into(),
        };
        assert_eq!(go_time_string(t, &cet), "2026-11-23 04:22:48 +0100 CET");
    }

    #[test]
    fn rfc3339_nano_fixed_keeps_nine_digits() {
        let t = UNIX_EPOCH + Duration::new(1_795_404_246, 576_932_810);
        assert_eq!(
            rfc3339_nano_fixed(t, &Zone::Utc),
            "2026-11-23T03:24:06.576932810Z"
        );
        let t0 = UNIX_EPOCH + Duration::new(1_795_404_246, 0);
        let minus = Zone::Fixed {
            offset_secs: -5 * 3600 - 1800,
            abbrev: String::new(),
        };
        assert_eq!(
            rfc3339_nano_fixed(t0, &minus),
            "2026-11-22T21:54:06.000000000-05:30"
        );
    }

    #[test]
    fn local_zone_follows_tz_database() {
        // Only checks that the lookup answers; the machine's zone is whatever it is.
        let (offset, abbrev) = Zone::Local.at(1_795_404_168);
        assert!(offset.abs() <= 14 * 3600);
        assert!(!abbrev.is_empty());
    }
}
