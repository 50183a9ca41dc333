//! Registry credentials from docker's client config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`): `auths.<host>.auth` (base64 `user:password`), or
//! `username`/`password`, or `identitytoken`. Credential helpers are not supported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::error::ImageError;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), sent as the password of user `<token>`.
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

impl Credentials {
    pub(crate) fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        match self {
            Credentials::Basic { username, password } => {
                oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::IdentityToken(t) => {
                oci_client::secrets::RegistryAuth::Basic("<token>".into(), t.clone())
            }
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Normalize an `auths` key (`https://index.docker.io/v1/`, `http://host:5000`, `host`) to a
/// registry host as used in references (`docker.io`, `host:5000`).
pub fn normalize_auth_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Credentials for `registry` (a reference domain) from the config file at `path`.
/// A missing file means no credentials.
pub fn credentials_for(path: &Path, registry: &str) -> Result<Option<Credentials>, ImageError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ImageError::io(path, e)),
    };
    let cfg: ConfigFile = serde_json::from_slice(&text).map_err(|e| ImageError::json(path, e))?;
    let want = normalize_auth_key(registry);
    let Some(entry) = cfg
        .auths
        .iter()
        .find(|(k, _)| normalize_auth_key(k) == want)
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let bad = |reason: &str| ImageError::BadCredentials {
        path: path.to_path_buf(),
        host: registry.to_string(),
        reason: reason.to_string(),
    };
    if let Some(t) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::IdentityToken(t.clone())));
    }
    if let Some(a) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|_| bad("auth is not valid base64"))?;
        let s = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| bad("auth is not user:password"))?;
        return Ok(Some(Credentials::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok(Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_lookup() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            normalize_auth_key("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(
            normalize_auth_key("http://localhost:5000/v2/"),
            "localhost:5000"
        );
        assert_eq!(normalize_auth_key("ghcr.io"), "ghcr.io");
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &p,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "localhost:5000":{{"username":"bob","password":"pw"}},
                "bad.example":{{"auth":"!!!"}}}}}}"#
            ),
        )?;
        assert_eq!(
            credentials_for(&p, "docker.io")?,
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "s3cr:et".into()
            })
        );
        assert_eq!(
            credentials_for(&p, "localhost:5000")?,
            Some(Credentials::Basic {
                username: "bob".into(),
                password: "pw".into()
            })
        );
        assert_eq!(credentials_for(&p, "quay.io")?, None);
        assert!(credentials_for(&p, "bad.example").is_err());
        assert_eq!(
            credentials_for(&dir.path().join("missing.json"), "docker.io")?,
            None
        );
        Ok(())
    }
}
