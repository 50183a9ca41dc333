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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Project;

    /// `testdata/hash_project.json` is `docker-compose-v2 -f hash_project.yaml --profile p1 config
    /// --format json` (v2.40.3) with `$$` unescaped back to `$`; the hashes below are that tool's
    /// `config --hash '*'` output for the same file.
    const EXPECTED: &[(&str, &str)] = &[
        (
            "deploy",
            "fee834d1c2e31f47fa53dd7d10921f427e1d2a4cf5e4126da9947deef5b3ddaa",
        ),
        (
            "env",
            "1e10f276b6952bd9833d29145f12f187fd6ecc5f3965da7ddd5c391f85de43ab",
        ),
        (
            "health",
            "d0236327f949447925943958ef6461262893764662c882f1f67046b6f3981024",
        ),
        (
            "labels",
            "2235fb0be2c21a34addec97e3b83d714566c8a59132e7dd48bab60b4b6fcfdcc",
        ),
        (
            "ports",
            "0ffd360f0d7b9bb4e06fbb78ba5ba9c2b8b385043624736186cac453f8f7330e",
        ),
        (
            "volumes",
            "896c142fe77517508630c051d12984eae329cf15bd84a2bb16d5ecae8916d8b8",
        ),
    ];

    #[test]
    fn matches_docker_compose_hashes() {
        let project: Project =
            serde_json::from_str(include_str!("testdata/hash_project.json")).unwrap();
        for (name, want) in EXPECTED {
            assert_eq!(
                config_hash(&project.services[*name]),
                *want,
                "service {name}"
            );
        }
    }

    /// `config --hash '*'` of `testdata/syntax.yaml` (v2.40.3), checked on its `config` output
    /// `testdata/syntax.json`: nearly every service field takes part.
    #[test]
    fn matches_docker_compose_hashes_for_every_field() {
        let expected = [
            (
                "a",
                "98221255122921de1470f6c93e3fec2508ce0a5a92a5f6fa01ca215a07608731",
            ),
            (
                "b",
                "4a5c5483c45a2827dd58dd8dfcb999751b1718cfc8104c229ae6c50c72849e58",
            ),
            (
                "c",
                "60ceff211ef80f189be11bc509974a48185e3a72b043b967e11f97a2727e91d6",
            ),
            (
                "d",
                "ebd1edae8ea4c568477e002b4c8fae5b57cde5338b7b126de2227da72d3d9d51",
            ),
        ];
        let project: Project = serde_json::from_str(include_str!("testdata/syntax.json")).unwrap();
        for (name, want) in expected {
            assert_eq!(config_hash(&project.services[name]), want, "service {name}");
        }
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            go_json_escape(r#"{"a":"<b>&"}"#),
            r#"{"a":"\u003cb\u003e\u0026"}"#
        );
    }

    /// `config --format json` output is reproduced byte for byte, Go escaping included.
    #[test]
    fn pretty_output_is_byte_identical() {
        let text = include_str!("testdata/hash_project.json");
        let project: Project = serde_json::from_str(text).unwrap();
        assert_eq!(to_go_json_pretty(&project).unwrap(), text.trim_end());
    }
}
