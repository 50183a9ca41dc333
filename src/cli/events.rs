//! `rcompose events`: the project's container events (create, start, die, kill, stop, restart,
//! pause, unpause, destroy, health_status, exec_create, exec_start, exec_die) as docker compose
//! prints them, read from the runtime's
//! event log (see [`crate::runtime::container::events`]): the history since `--since`, then
//! new events as they are appended, until `--until` or forever.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, FixedOffset, Utc};
use clap::Args;

use super::GlobalArgs;
use super::logs::parse_time;
use super::output::Zone;
use super::session;
use crate::engine::labels::{ONEOFF, PROJECT, SERVICE};
use crate::engine::progress::Quiet;
use crate::runtime::container::events::{EventFollower, EventRecord};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

/// One event as docker compose hands it to its printer.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeEvent {
    pub time: DateTime<Utc>,
    pub service: String,
    pub id: String,
    pub action: String,
    /// The actor's attributes minus the `com.docker.compose.*` labels.
    pub attributes: BTreeMap<String, String>,
}

/// What to keep of the log: this project's service containers (not `run` ones), of the chosen
/// services; `image` names the image as the project does (docker records the name given).
pub struct Filter<'a> {
    pub project: &'a str,
    pub services: &'a [String],
    pub image_of: &'a dyn Fn(&str) -> String,
}

impl Filter<'_> {
    pub fn apply(&self, rec: &EventRecord) -> Option<ComposeEvent> {
        let a = &rec.attributes;
        if a.get(PROJECT).map(String::as_str) != Some(self.project)
            || a.get(ONEOFF).is_some_and(|v| v == "True")
        {
            return None;
        }
        let service = a.get(SERVICE).cloned().unwrap_or_default();
        if !self.services.is_empty() && !self.services.contains(&service) {
            return None;
        }
        let mut attributes: BTreeMap<String, String> = a
            .iter()
            .filter(|(k, _)| !k.starts_with("com.docker.compose."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attributes
            .entry("image".into())
            .or_insert_with(|| (self.image_of)(&service));
        Some(ComposeEvent {
            time: DateTime::from_timestamp_nanos(rec.time_nano),
            service,
            id: rec.id.clone(),
            action: rec.action.clone(),
            attributes,
        })
    }
}

fn in_zone(t: DateTime<Utc>, zone: &Zone) -> DateTime<FixedOffset> {
    let (offset, _) = zone.at(t.timestamp());
    match FixedOffset::east_opt(offset) {
        Some(o) => t.with_timezone(&o),
        None => t.fixed_offset(),
    }
}

/// docker compose's text line (`api.Event.String()` plus `Println`'s newline: a blank line
/// follows each event).
pub fn text_line(e: &ComposeEvent, zone: &Zone) -> String {
    let attrs: Vec<String> = e
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{} container {} {} ({})\n\n",
        in_zone(e.time, zone).format("%Y-%m-%d %H:%M:%S%.6f"),
        e.action,
        e.id,
        attrs.join(", ")
    )
}

/// Go's `time.Time` JSON: RFC 3339 with nanoseconds, trailing zeros dropped, `Z` for UTC.
fn go_json_time(t: DateTime<Utc>, zone: &Zone) -> String {
    let local = in_zone(t, zone);
    let mut frac = format!("{:09}", t.timestamp_subsec_nanos());
    while frac.ends_with('0') {
        frac.pop();
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let offset = if local.offset().local_minus_utc() == 0 {
        "Z".to_string()
    } else {
        local.format("%:z").to_string()
    };
    format!("{}{frac}{offset}", local.format("%Y-%m-%dT%H:%M:%S"))
}

/// docker compose's `--json` line.
pub fn json_line(e: &ComposeEvent, zone: &Zone) -> String {
    // Go marshals a map: keys sorted.
    let v = serde_json::json!({
        "action": e.action,
        "attributes": e.attributes,
        "id": e.id,
        "service": e.service,
        "time": go_json_time(e.time, zone),
        "type": "container",
    });
    format!("{v}\n")
}

fn parse(arg: &Option<String>, now: DateTime<Utc>) -> anyhow::Result<Option<DateTime<Utc>>> {
    arg.as_deref()
        .map(|s| {
            parse_time(s, now)
                .map_err(|_| anyhow!("failed to parse value as time or duration: {s:?}"))
        })
        .transpose()
}

pub fn events(global: &GlobalArgs, args: &EventsArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let now = Utc::now();
    let since = parse(&args.since, now)?;
    let until = parse(&args.until, now)?;
    let image_of = |service: &str| {
        s.ctx
            .service(service)
            .map(|svc| svc.image.clone())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| format!("{}-{service}", s.ctx.name))
    };
    let filter = Filter {
        project: &s.ctx.name,
        services: &args.services,
        image_of: &image_of,
    };
    let zone = Zone::Local;
    let mut follower = EventFollower::open(s.engine.state_root(), since.is_some())?;
    let mut out = std::io::stdout().lock();
    let mut batch = if since.is_some() {
        follower.rotated_history()
    } else {
        Vec::new()
    };
    loop {
        for e in batch.iter().filter_map(|r| filter.apply(r)) {
            if until.is_some_and(|u| e.time > u) {
                return Ok(0);
            }
            if since.is_some_and(|t| e.time < t) {
                continue;
            }
            let line = if args.json {
                json_line(&e, &zone)
            } else {
                text_line(&e, &zone)
            };
            // A closed stdout (`events | head`) ends the stream.
            if out
                .write_all(line.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return Ok(0);
            }
        }
        let wait = match until {
            Some(u) => match (u - Utc::now()).to_std() {
                Ok(left) => left.min(Duration::from_secs(1)),
                // Past the end: only what the log already holds is left to print.
                Err(_) => Duration::ZERO,
            },
            None => Duration::from_secs(1),
        };
        let past_until = until.is_some_and(|u| Utc::now() > u);
        batch = follower.next_batch(wait);
        if past_until && batch.is_empty() {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, labels: &[(&str, &str)]) -> EventRecord {
        EventRecord {
            time_nano: 1_795_405_777_869_961_000,
            id: "2b54bb10e808".into(),
            action: action.into(),
            attributes: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    fn filter_for<'a>(services: &'a [String], image_of: &'a dyn Fn(&str) -> String) -> Filter<'a> {
        Filter {
            project: "refevs",
            services,
            image_of,
        }
    }

    #[test]
    fn lines_like_docker_compose() {
        let image_of = |_: &str| "lab/busybox:1".to_string();
        let f = filter_for(&[], &image_of);
        let rec = record(
            "create",
            &[
                (PROJECT, "refevs"),
                (SERVICE, "web"),
                ("com.docker.compose.config-hash", "x"),
                ("name", "refevs-web-1"),
                ("my.label", "x"),
            ],
        );
        let e = f.apply(&rec).unwrap();
        assert_eq!(
            text_line(&e, &Zone::Utc),
            "2026-11-23 03:49:37.869961 container create 2b54bb10e808 (image=lab/busybox:1, my.label=x, name=refevs-web-1)\n\n"
        );
        assert_eq!(
            json_line(&e, &Zone::Utc),
            "{\"action\":\"create\",\"attributes\":{\"image\":\"lab/busybox:1\",\"my.label\":\"x\",\"name\":\"refevs-web-1\"},\"id\":\"2b54bb10e808\",\"service\":\"web\",\"time\":\"2026-11-23T03:49:37.869961Z\",\"type\":\"container\"}\n"
        );
    }

    #[test]
    fn only_this_projects_service_containers() {
        let image_of = |s: &str| format!("img-{s}");
        let web = vec!["web".to_string()];
        let f = filter_for(&web, &image_of);
        assert!(
            f.apply(&record("start", &[(PROJECT, "other"), (SERVICE, "web")]))
                .is_none()
        );
        assert!(
            f.apply(&record("start", &[(PROJECT, "refevs"), (SERVICE, "db")]))
                .is_none()
        );
        let oneoff = [(PROJECT, "refevs"), (SERVICE, "web"), (ONEOFF, "True")];
        assert!(f.apply(&record("start", &oneoff)).is_none());
        let e = f
            .apply(&record("start", &[(PROJECT, "refevs"), (SERVICE, "web")]))
            .unwrap();
        assert_eq!(e.attributes["image"], "img-web");
    }

    #[test]
    fn go_json_times() {
        let t = DateTime::from_timestamp(1_795_405_789, 799_372_250).unwrap();
        assert_eq!(go_json_time(t, &Zone::Utc), "2026-11-23T03:49:49.79937225Z");
        let whole = DateTime::from_timestamp(1_795_405_789, 0).unwrap();
        let cet = Zone::Fixed {
            offset_secs: 3600,
            abbrev: "CET".into(),
        };
        assert_eq!(go_json_time(whole, &cet), "2026-11-23T04:49:49+01:00");
    }
}
