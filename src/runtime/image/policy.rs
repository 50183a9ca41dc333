//! Compose `pull_policy` values and the decision whether to pull, build or use the local image.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use super::error::ImageError;
use super::store::LocalImage;

/// A Compose `pull_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull only when the image is not present (the default).
    #[default]
    Missing,
    /// Never pull; a missing image is an error.
    Never,
    /// Build the image (from the service's `build` section) instead of pulling.
    Build,
    /// Pull when the local image is older than a day.
    Daily,
    /// Pull when the local image is older than a week.
    Weekly,
    /// `every_<duration>`: pull when the local image is older than the duration.
    Every(Duration),
    /// Legacy spelling of `missing`.
    IfNotPresent,
}

impl FromStr for PullPolicy {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, ImageError> {
        Ok(match s {
            "always" => PullPolicy::Always,
            "missing" => PullPolicy::Missing,
            "never" => PullPolicy::Never,
            "build" => PullPolicy::Build,
            "daily" => PullPolicy::Daily,
            "weekly" => PullPolicy::Weekly,
            "if_not_present" => PullPolicy::IfNotPresent,
            other => match other.strip_prefix("every_").map(parse_duration) {
                Some(Some(d)) if !d.is_zero() => PullPolicy::Every(d),
                _ => return Err(ImageError::InvalidPullPolicy(s.to_string())),
            },
        })
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullPolicy::Always => f.write_str("always"),
            PullPolicy::Missing => f.write_str("missing"),
            PullPolicy::Never => f.write_str("never"),
            PullPolicy::Build => f.write_str("build"),
            PullPolicy::Daily => f.write_str("daily"),
            PullPolicy::Weekly => f.write_str("weekly"),
            PullPolicy::Every(d) => write!(f, "every_{}s", d.as_secs()),
            PullPolicy::IfNotPresent => f.write_str("if_not_present"),
        }
    }
}

/// Parse a Go-style duration (`90s`, `1h30m`, `500ms`) plus `d` and `w` units.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(n * unit).ok()?;
    }
    Some(total)
}

/// What is known locally about the image a service wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalImageState {
    pub present: bool,
    /// When the local image was last pulled or tagged (docker's `LastTagTime`).
    pub last_updated: Option<SystemTime>,
}

impl LocalImageState {
    pub fn missing() -> Self {
        LocalImageState::default()
    }
    pub fn of(image: Option<&LocalImage>) -> Self {
        match image {
            None => LocalImageState::missing(),
            Some(i) => LocalImageState {
                present: true,
                last_updated: i.last_pulled.max(i.last_tagged),
            },
        }
    }
}

/// The outcome of [`should_pull`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullDecision {
    Pull,
    UseLocal,
    /// Build from the service's build section.
    Build,
    /// `never` with no local image: the caller reports "no such image".
    Fail,
}

/// Decide what to do for `policy` given the local image state at time `now`.
pub fn should_pull(policy: PullPolicy, local: LocalImageState, now: SystemTime) -> PullDecision {
    let stale = |max_age: Duration| match local.last_updated {
        None => true,
        // a timestamp in the future (clock skew) counts as fresh
        Some(t) => now.duration_since(t).is_ok_and(|age| age >= max_age),
    };
    match policy {
        PullPolicy::Always => PullDecision::Pull,
        PullPolicy::Build => PullDecision::Build,
        PullPolicy::Never if local.present => PullDecision::UseLocal,
        PullPolicy::Never => PullDecision::Fail,
        _ if !local.present => PullDecision::Pull,
        PullPolicy::Missing | PullPolicy::IfNotPresent => PullDecision::UseLocal,
        PullPolicy::Daily if stale(Duration::from_secs(86_400)) => PullDecision::Pull,
        PullPolicy::Weekly if stale(Duration::from_secs(7 * 86_400)) => PullDecision::Pull,
        PullPolicy::Every(d) if stale(d) => PullDecision::Pull,
        PullPolicy::Daily | PullPolicy::Weekly | PullPolicy::Every(_) => PullDecision::UseLocal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_policies() {
        for (s, p) in [
            ("always", PullPolicy::Always),
            ("missing", PullPolicy::Missing),
            ("never", PullPolicy::Never),
            ("build", PullPolicy::Build),
            ("daily", PullPolicy::Daily),
            ("weekly", PullPolicy::Weekly),
            ("if_not_present", PullPolicy::IfNotPresent),
            ("every_12h", PullPolicy::Every(Duration::from_secs(43_200))),
            ("every_1h30m", PullPolicy::Every(Duration::from_secs(5_400))),
            ("every_90s", PullPolicy::Every(Duration::from_secs(90))),
            ("every_2d", PullPolicy::Every(Duration::from_secs(172_800))),
            ("every_500ms", PullPolicy::Every(Duration::from_millis(500))),
        ] {
            assert_eq!(s.parse::<PullPolicy>().ok(), Some(p), "{s}");
        }
        for bad in [
            "",
            "sometimes",
            "every_",
            "every_0s",
            "every_5",
            "every_5x",
            "every_h",
            "Always",
        ] {
            assert!(bad.parse::<PullPolicy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000_000);
        let hours_ago = |h: u64| LocalImageState {
            present: true,
            last_updated: Some(now - Duration::from_secs(h * 3600)),
        };
        let missing = LocalImageState::missing();
        let unknown_age = LocalImageState {
            present: true,
            last_updated: None,
        };
        use PullDecision::*;
        use PullPolicy as P;
        let table: &[(PullPolicy, LocalImageState, PullDecision)] = &[
            (P::Always, hours_ago(0), Pull),
            (P::Always, missing, Pull),
            (P::Missing, missing, Pull),
            (P::Missing, hours_ago(1000), UseLocal),
            (P::IfNotPresent, missing, Pull),
            (P::IfNotPresent, hours_ago(1), UseLocal),
            (P::Never, missing, Fail),
            (P::Never, hours_ago(1000), UseLocal),
            (P::Build, missing, Build),
            (P::Build, hours_ago(1), Build),
            (P::Daily, missing, Pull),
            (P::Daily, hours_ago(23), UseLocal),
            (P::Daily, hours_ago(24), Pull),
            (P::Daily, unknown_age, Pull),
            (P::Weekly, hours_ago(24 * 6), UseLocal),
            (P::Weekly, hours_ago(24 * 7 + 1), Pull),
            (P::Every(Duration::from_secs(3600)), hours_ago(0), UseLocal),
            (P::Every(Duration::from_secs(3600)), hours_ago(2), Pull),
            (P::Every(Duration::from_secs(3600)), missing, Pull),
        ];
        for (policy, state, want) in table {
            assert_eq!(
                should_pull(*policy, *state, now),
                *want,
                "{policy} {state:?}"
            );
        }
        // clock skew: an image "from the future" is fresh
        let future = LocalImageState {
            present: true,
            last_updated: Some(now + Duration::from_secs(60)),
        };
        assert_eq!(should_pull(P::Daily, future, now), UseLocal);
    }
}
