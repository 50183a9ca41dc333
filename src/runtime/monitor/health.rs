//! When the monitor runs the next healthcheck probe: docker's schedule plus rcompose's extra
//! "fast start" probes (the rule is documented in [`super::server`], "Healthcheck probes").
//!
//! Pure timing logic over `Instant`s, so it is unit-tested without a container; the monitor
//! runs the probes and keeps the health state.

use std::time::{Duration, Instant};

use crate::runtime::container::spec::Healthcheck;

/// Offsets of the first extra probes from the container start; after the last one they come
/// every [`EXTRA_EVERY`].
const EXTRA_LADDER: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];
const EXTRA_EVERY: Duration = Duration::from_millis(500);

/// A probe on docker's schedule (counted, logged) or an extra one while `starting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Regular,
    Extra,
}

/// Offset of extra probe `k` from the container start.
fn extra_offset(k: usize) -> Duration {
    match EXTRA_LADDER.get(k) {
        Some(d) => *d,
        None => {
            EXTRA_LADDER[EXTRA_LADDER.len() - 1] + EXTRA_EVERY * (k + 1 - EXTRA_LADDER.len()) as u32
        }
    }
}

/// Time between extra probe `k - 1` (or the start) and extra probe `k`.
fn extra_gap(k: usize) -> Duration {
    match k {
        0 => extra_offset(0),
        _ => extra_offset(k) - extra_offset(k - 1),
    }
}

/// The probe timetable of one run of a container.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    hc: Healthcheck,
    started: Instant,
    /// When the next regular probe is due; `None` while one runs.
    regular_due: Option<Instant>,
    /// Index of the next extra probe not yet passed.
    extra_idx: usize,
}

impl ProbeSchedule {
    /// The schedule of a container started at `started`: the first regular probe comes one
    /// period later, as in docker.
    pub fn new(hc: &Healthcheck, started: Instant) -> Self {
        let mut s = ProbeSchedule {
            hc: hc.clone(),
            started,
            regular_due: None,
            extra_idx: 0,
        };
        s.regular_due = Some(started + s.period(started, true));
        s
    }

    /// docker's period at `now`: `start_interval` while starting within `start_period`, else
    /// `interval`.
    fn period(&self, now: Instant, starting: bool) -> Duration {
        if starting && now.saturating_duration_since(self.started) < self.hc.start_period {
            self.hc.start_interval
        } else {
            self.hc.interval
        }
    }

    /// When the next regular probe is due (`None` while one runs).
    pub fn regular_due(&self) -> Option<Instant> {
        self.regular_due
    }

    /// The next extra probe, if extra probes apply: only while `starting`, and only the ones
    /// spaced closer than docker's own period (a shorter own schedule is never added to).
    fn next_extra(&self, now: Instant, starting: bool) -> Option<Instant> {
        if !self.hc.fast_start || !starting {
            return None;
        }
        let period = self.period(now, starting);
        let mut k = self.extra_idx;
        loop {
            if extra_gap(k) < period {
                return Some(self.started + extra_offset(k));
            }
            if k >= EXTRA_LADDER.len() {
                // The gap no longer changes: no extra probe will ever be closer.
                return None;
            }
            k += 1;
        }
    }

    /// The next probe to run and when; a regular probe wins a tie.
    pub fn next(&self, now: Instant, starting: bool) -> Option<(Instant, ProbeKind)> {
        let regular = self.regular_due.map(|t| (t, ProbeKind::Regular));
        let extra = self
            .next_extra(now, starting)
            .map(|t| (t, ProbeKind::Extra));
        match (regular, extra) {
            (Some(r), Some(e)) if e.0 < r.0 => Some(e),
            (Some(r), _) => Some(r),
            (None, e) => e,
        }
    }

    /// A probe of `kind` starts (or is skipped) at `now`: a regular probe is no longer due
    /// until it ends.
    pub fn begin(&mut self, kind: ProbeKind, now: Instant) {
        self.skip_passed_extras(now);
        if kind == ProbeKind::Regular {
            self.regular_due = None;
        }
    }

    /// A probe of `kind` ended (or was skipped) at `now`: after a regular one the next is one
    /// period later; extra steps that passed meanwhile are dropped, not run back to back.
    pub fn end(&mut self, kind: ProbeKind, now: Instant, starting: bool) {
        self.skip_passed_extras(now);
        if kind == ProbeKind::Regular {
            self.regular_due = Some(now + self.period(now, starting));
        }
    }

    fn skip_passed_extras(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        while extra_offset(self.extra_idx) <= elapsed {
            self.extra_idx += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::container::spec::HealthTest;

    fn hc(interval_ms: u64) -> Healthcheck {
        let mut h = Healthcheck::new(HealthTest::Cmd(vec!["true".into()]));
        h.interval = Duration::from_millis(interval_ms);
        h
    }

    /// Probe start offsets (ms) over `until_ms` when every probe fails instantly and health
    /// stays `starting`.
    fn timeline(h: &Healthcheck, until_ms: u64) -> Vec<(u64, ProbeKind)> {
        let t0 = Instant::now();
        let mut s = ProbeSchedule::new(h, t0);
        let mut out = Vec::new();
        while let Some((at, kind)) = s.next(t0, true) {
            let ms = (at - t0).as_millis() as u64;
            if ms > until_ms {
                break;
            }
            out.push((ms, kind));
            s.begin(kind, at);
            s.end(kind, at, true);
        }
        out
    }

    #[test]
    fn extra_probes_follow_the_ladder_until_the_regular_one() {
        use ProbeKind::*;
        assert_eq!(
            timeline(&hc(2000), 2100),
            vec![
                (100, Extra),
                (200, Extra),
                (400, Extra),
                (900, Extra),
                (1400, Extra),
                (1900, Extra),
                (2000, Regular)
            ]
        );
    }

    #[test]
    fn a_shorter_own_schedule_is_not_added_to() {
        use ProbeKind::*;
        // Interval 200 ms: only the 100 ms gaps are closer than docker's own probes.
        assert_eq!(
            timeline(&hc(200), 1000),
            vec![
                (100, Extra),
                (200, Regular),
                (400, Regular),
                (600, Regular),
                (800, Regular),
                (1000, Regular)
            ]
        );
        // Interval 100 ms: no extra probe at all.
        assert!(timeline(&hc(100), 500).iter().all(|(_, k)| *k == Regular));
    }

    #[test]
    fn off_when_disabled_or_no_longer_starting() {
        let mut h = hc(30_000);
        h.fast_start = false;
        let t0 = Instant::now();
        let s = ProbeSchedule::new(&h, t0);
        assert_eq!(
            s.next(t0, true),
            Some((t0 + Duration::from_secs(30), ProbeKind::Regular))
        );
        let s = ProbeSchedule::new(&hc(30_000), t0);
        assert_eq!(s.next(t0, false).map(|(_, k)| k), Some(ProbeKind::Regular));
    }

    #[test]
    fn start_interval_applies_during_the_start_period() {
        let mut h = hc(30_000);
        h.start_period = Duration::from_secs(10);
        h.start_interval = Duration::from_secs(1);
        h.fast_start = false;
        let t0 = Instant::now();
        let mut s = ProbeSchedule::new(&h, t0);
        assert_eq!(s.regular_due(), Some(t0 + Duration::from_secs(1)));
        s.begin(ProbeKind::Regular, t0 + Duration::from_secs(1));
        assert_eq!(s.regular_due(), None);
        s.end(ProbeKind::Regular, t0 + Duration::from_secs(11), true);
        assert_eq!(s.regular_due(), Some(t0 + Duration::from_secs(41)));
    }

    #[test]
    fn a_slow_extra_probe_skips_the_missed_ladder_steps() {
        let t0 = Instant::now();
        let mut s = ProbeSchedule::new(&hc(30_000), t0);
        s.begin(ProbeKind::Extra, t0 + Duration::from_millis(100));
        // The probe took until 1 s: the next extra is the first ladder step after that.
        s.end(ProbeKind::Extra, t0 + Duration::from_millis(1000), true);
        assert_eq!(
            s.next(t0 + Duration::from_millis(1000), true),
            Some((t0 + Duration::from_millis(1400), ProbeKind::Extra))
        );
    }
}
