//! Variable interpolation over a parsed file: every string *value* (never a key) goes through
//! [`template::substitute`](super::template::substitute), then strings at the paths where compose-go
//! casts (`ports[].target`, `deploy.replicas`, `privileged`…) become integers, floats or booleans,
//! so `replicas: ${N}` decodes as a number. Errors name the key path and line.

use super::node::{KeyPath, Node, Value};
use super::template::{self, TemplateError};

/// An interpolation failure at a given place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{path}: {message}", loc.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct InterpolationError {
    pub path: KeyPath,
    pub loc: Option<super::node::Location>,
    pub message: String,
}

/// Interpolates every string value under `node` in place.
pub fn interpolate(
    node: &mut Node,
    path: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), InterpolationError> {
    match &mut node.value {
        Value::String(s) => {
            let substituted = template::substitute(s, lookup).map_err(|e| InterpolationError {
                path: path.clone(),
                loc: node.loc.clone(),
                message: describe(&e, path),
            })?;
            node.value = cast(substituted, path).map_err(|message| InterpolationError {
                path: path.clone(),
                loc: node.loc.clone(),
                message,
            })?;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &path.index(i), lookup)?;
            }
        }
        Value::Map(map) => {
            for (k, v) in map.iter_mut() {
                interpolate(v, &path.key(k), lookup)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
    }
    Ok(())
}

fn describe(e: &TemplateError, path: &KeyPath) -> String {
    match e {
        TemplateError::InvalidFormat { template } => {
            format!(
                "invalid interpolation format for {path}: {template:?}; you may need to escape any $ with another $"
            )
        }
        other => other.to_string(),
    }
}

#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

const CASTS: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.depends_on.*.required", Cast::Bool),
    ("services.*.depends_on.*.restart", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.*.target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.*.read_only", Cast::Bool),
    ("services.*.volumes.*.volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// Converts an interpolated string to the type compose-go casts it to at `path`.
fn cast(s: String, path: &KeyPath) -> Result<Value, String> {
    let Some((_, how)) = CASTS.iter().find(|(p, _)| path.matches(p)) else {
        return Ok(Value::String(s));
    };
    match how {
        Cast::Int => s
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("expected an integer, got {s:?}")),
        Cast::Float => s
            .trim()
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, got {s:?}")),
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "n" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("expected a boolean, got {s:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse_documents;

    fn run(text: &str, vars: &[(&str, &str)]) -> Result<serde_json::Value, InterpolationError> {
        let mut n = parse_documents(text, "i.yaml").unwrap().remove(0);
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        interpolate(&mut n, &KeyPath::root(), &lookup)?;
        Ok(n.to_json())
    }

    #[test]
    fn values_not_keys() {
        let j = run(
            "services: {web: {image: '${IMG}', labels: {'$K': x}}}",
            &[("IMG", "nginx"), ("K", "k")],
        )
        .unwrap();
        assert_eq!(j["services"]["web"]["image"], "nginx");
        assert_eq!(j["services"]["web"]["labels"]["$K"], "x");
    }

    #[test]
    fn casts_at_known_paths_only() {
        let j = run(
            "services: {web: {scale: '$N', tty: '$B', image: '$N', ports: [{target: '$N'}]}}",
            &[("N", "3"), ("B", "yes")],
        )
        .unwrap();
        assert_eq!(j["services"]["web"]["scale"], 3);
        assert_eq!(j["services"]["web"]["tty"], true);
        assert_eq!(j["services"]["web"]["image"], "3");
        assert_eq!(j["services"]["web"]["ports"][0]["target"], 3);
    }

    #[test]
    fn errors_name_the_path_and_line() {
        let err = run("services:\n  web:\n    image: ${FOO:?must be set}\n", &[]).unwrap_err();
        assert_eq!(err.path.to_string(), "services.web.image");
        assert_eq!(err.loc.as_ref().map(|l| l.line), Some(3));
        let err = run("services:\n  web:\n    scale: ${N}\n", &[("N", "many")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("services.web.scale: expected an integer"),
            "{err}"
        );
    }
}
