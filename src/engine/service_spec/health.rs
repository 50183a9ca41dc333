//! The container's healthcheck: the service's `healthcheck` merged with the image's
//! `Healthcheck` the way dockerd merges them (an unset service field takes the image's value; no
//! service healthcheck takes the image's whole), then docker's defaults for what is still unset.
//! `disable: true` is the test `["NONE"]`. docker compose v2.40.3 refuses `start_interval`
//! without `start_period`.

use std::time::Duration;

use serde_json::Value;

use super::{SpecError, duration};
use crate::compose::model::{HealthCheckConfig, ServiceConfig};
use crate::runtime::container::{HealthTest, Healthcheck};

/// A healthcheck as dockerd's `HealthConfig` holds it: zero means unset.
#[derive(Debug, Default, Clone, PartialEq)]
struct Probe {
    test: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    start_interval: Duration,
    retries: u32,
}

pub(super) fn healthcheck(
    s: &ServiceConfig,
    raw_image_config: Option<&Value>,
) -> Result<Option<Healthcheck>, SpecError> {
    let image = raw_image_config.and_then(image_probe);
    let probe = match &s.health_check {
        None => image,
        Some(hc) => Some(merge(service_probe(s, hc)?, image)),
    };
    let Some(p) = probe.filter(|p| !p.test.is_empty()) else {
        return Ok(None);
    };
    let mut h = Healthcheck::new(test(s, &p.test)?);
    let or = |v: Duration, default: Duration| if v.is_zero() { default } else { v };
    h.interval = or(p.interval, h.interval);
    h.timeout = or(p.timeout, h.timeout);
    h.start_period = or(p.start_period, h.start_period);
    h.start_interval = or(p.start_interval, h.start_interval);
    if p.retries != 0 {
        h.retries = p.retries;
    }
    Ok(Some(h))
}

fn service_probe(s: &ServiceConfig, hc: &HealthCheckConfig) -> Result<Probe, SpecError> {
    if hc.start_interval.is_some() && hc.start_period.is_none() {
        return Err(SpecError::invalid(
            &s.name,
            "healthcheck.start_interval",
            hc.start_interval.map(|d| d.to_string()).unwrap_or_default(),
            "healthcheck.start_interval requires healthcheck.start_period to be set",
        ));
    }
    let d = |key: &str, v: Option<crate::compose::model::Duration>| {
        v.map_or(Ok(Duration::ZERO), |v| duration(&s.name, key, v.as_nanos()))
    };
    let retries = hc.retries.unwrap_or(0);
    Ok(Probe {
        test: if hc.disable {
            vec!["NONE".to_string()]
        } else {
            hc.test.0.clone()
        },
        interval: d("healthcheck.interval", hc.interval)?,
        timeout: d("healthcheck.timeout", hc.timeout)?,
        start_period: d("healthcheck.start_period", hc.start_period)?,
        start_interval: d("healthcheck.start_interval", hc.start_interval)?,
        retries: u32::try_from(retries).map_err(|_| {
            SpecError::invalid(
                &s.name,
                "healthcheck.retries",
                retries.to_string(),
                "too large",
            )
        })?,
    })
}

/// `config.Healthcheck` of a docker image config (durations in nanoseconds).
fn image_probe(raw: &Value) -> Option<Probe> {
    let h = raw.get("config")?.get("Healthcheck")?;
    let ns = |k: &str| Duration::from_nanos(h.get(k).and_then(Value::as_u64).unwrap_or(0));
    Some(Probe {
        test: h
            .get("Test")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        interval: ns("Interval"),
        timeout: ns("Timeout"),
        start_period: ns("StartPeriod"),
        start_interval: ns("StartInterval"),
        retries: h
            .get("Retries")
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0),
    })
}

/// dockerd's merge: each unset field of the service's healthcheck takes the image's.
fn merge(mut p: Probe, image: Option<Probe>) -> Probe {
    let Some(i) = image else {
        return p;
    };
    if p.test.is_empty() {
        p.test = i.test;
    }
    for (mine, theirs) in [
        (&mut p.interval, i.interval),
        (&mut p.timeout, i.timeout),
        (&mut p.start_period, i.start_period),
        (&mut p.start_interval, i.start_interval),
    ] {
        if mine.is_zero() {
            *mine = theirs;
        }
    }
    if p.retries == 0 {
        p.retries = i.retries;
    }
    p
}

/// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]` (a string `test` is already
/// `CMD-SHELL` in the model).
fn test(s: &ServiceConfig, t: &[String]) -> Result<HealthTest, SpecError> {
    let bad =
        |reason: &str| SpecError::invalid(&s.name, "healthcheck.test", format!("{t:?}"), reason);
    match t.split_first() {
        Some((kind, _)) if kind == "NONE" => Ok(HealthTest::None),
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => {
            Ok(HealthTest::Cmd(args.to_vec()))
        }
        Some((kind, args)) if kind == "CMD-SHELL" && !args.is_empty() => {
            Ok(HealthTest::CmdShell(args.join(" ")))
        }
        Some((kind, _)) if kind == "CMD" || kind == "CMD-SHELL" => Err(bad("no command")),
        _ => Err(bad("the first element must be NONE, CMD or CMD-SHELL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;
    use serde_json::json;

    fn service(yaml: &str) -> ServiceConfig {
        let p: Project = serde_norway::from_str(&format!("services: {{app: {yaml}}}")).unwrap();
        p.services["app"].clone()
    }

    fn check(yaml: &str, image: Option<Value>) -> Option<Healthcheck> {
        healthcheck(&service(yaml), image.as_ref()).unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The lab's `db`: `healthcheck: {test: "true", interval: 1s}` (docker inspect: CMD-SHELL).
    #[test]
    fn string_test_with_docker_defaults() {
        let h = check("{healthcheck: {test: 'true', interval: 1s}}", None).unwrap();
        assert_eq!(h.test, HealthTest::CmdShell("true".into()));
        assert_eq!(
            (
                h.interval,
                h.timeout,
                h.retries,
                h.start_period,
                h.start_interval
            ),
            (secs(1), secs(30), 3, secs(0), secs(5))
        );
    }

    #[test]
    fn every_field_and_test_form() {
        let h = check(
            "{healthcheck: {test: [CMD, wget, -q, localhost], interval: 2s, timeout: 3s, retries: 7, start_period: 4s, start_interval: 500ms}}",
            None,
        )
        .unwrap();
        assert_eq!(
            h.test,
            HealthTest::Cmd(vec!["wget".into(), "-q".into(), "localhost".into()])
        );
        assert_eq!(
            (
                h.interval,
                h.timeout,
                h.retries,
                h.start_period,
                h.start_interval
            ),
            (secs(2), secs(3), 7, secs(4), Duration::from_millis(500))
        );
        let shell = check(
            "{healthcheck: {test: [CMD-SHELL, 'curl -f x || exit 1']}}",
            None,
        )
        .unwrap();
        assert_eq!(
            shell.test,
            HealthTest::CmdShell("curl -f x || exit 1".into())
        );
        assert_eq!(
            check("{healthcheck: {test: [NONE]}}", None).unwrap().test,
            HealthTest::None
        );
    }

    fn image_with_check() -> Value {
        json!({"config": {"Healthcheck": {
            "Test": ["CMD-SHELL", "pg_isready"], "Interval": 10_000_000_000u64, "Retries": 5
        }}})
    }

    #[test]
    fn image_healthcheck_applies_and_merges() {
        let h = check("{image: x}", Some(image_with_check())).unwrap();
        assert_eq!(h.test, HealthTest::CmdShell("pg_isready".into()));
        assert_eq!((h.interval, h.retries, h.timeout), (secs(10), 5, secs(30)));
        let h = check("{healthcheck: {interval: 2s}}", Some(image_with_check())).unwrap();
        assert_eq!(
            (h.test.clone(), h.interval, h.retries),
            (HealthTest::CmdShell("pg_isready".into()), secs(2), 5)
        );
        let off = check("{healthcheck: {disable: true}}", Some(image_with_check())).unwrap();
        assert_eq!(off.test, HealthTest::None);
        assert_eq!(check("{image: x}", Some(json!({"config": {}}))), None);
        assert_eq!(check("{healthcheck: {interval: 2s}}", None), None);
    }

    #[test]
    fn what_docker_compose_refuses() {
        let e = healthcheck(
            &service("{healthcheck: {test: [CMD, x], start_interval: 1s}}"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("requires healthcheck.start_period"), "{e}");
        let e = healthcheck(&service("{healthcheck: {test: [WGET, x]}}"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be NONE, CMD or CMD-SHELL"), "{e}");
    }
}
