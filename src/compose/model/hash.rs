//! The service config hash docker compose stores in the `com.docker.compose.config-hash` label:
//! `sha256(json.Marshal(service))` after clearing what must not trigger a recreate (docker compose
//! `pkg/compose/hash.go` `ServiceHash`), and Go-compatible JSON text.

use sha2::{Digest, Sha256};

use super::service::ServiceConfig;

/// Escapes what Go's `encoding/json` escapes by default and serde_json does not: `<`, `>`, `&`, U+2028
/// and U+2029. These characters can only occur inside JSON strings, so replacing them anywhere is safe.
pub fn go_json_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// `value` as Go's `json.MarshalIndent(v, "", "  ")` prints it (what `config --format json` shows).
pub fn to_go_json_pretty<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(value).map(|s| go_json_escape(&s))
}

/// The config hash of a service, as docker compose computes it: build, pull policy, scale, replicas,
/// dependencies and profiles do not count.
pub fn config_hash(service: &ServiceConfig) -> String {
    let mut s = service.clone();
    s.build = None;
    s.pull_policy.clear();
    s.scale = None;
    if let Some(deploy) = s.deploy.as_mut() {
        deploy.replicas = None;
    }
    s.depends_on.clear();
    s.profiles.clear();
    // Serializing plain data to a string cannot fail: every map key is a string.
    let json = serde_json::to_string(&s).unwrap_or_default();
    let digest = Sha256::digest(go_json_escape(&json).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
