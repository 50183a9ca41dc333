//! Service mounts: [`ServiceVolumeConfig`] and its per-type options, and [`parse_volume_spec`], the short
//! `SRC:DST:OPTS` syntax parsed exactly like compose-go's `format.ParseVolume` (including its quirk that
//! a one-letter source such as `a:/a` is taken for a Windows drive, leaving an anonymous volume).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::lenient::{self, ShortSyntax};
use super::mapping::Mapping;
use super::units::ByteSize;

/// Kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    #[default]
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

/// SELinux relabeling of a bind mount: `z` shared, `Z` private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SeLinux {
    #[serde(rename = "z")]
    Shared,
    #[serde(rename = "Z")]
    Private,
}

/// Mount propagation of a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Rprivate,
    Private,
    Rshared,
    Shared,
    Rslave,
    Slave,
}

impl Propagation {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rprivate" => Propagation::Rprivate,
            "private" => Propagation::Private,
            "rshared" => Propagation::Rshared,
            "shared" => Propagation::Shared,
            "rslave" => Propagation::Rslave,
            "slave" => Propagation::Slave,
            _ => return None,
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One entry of `services.*.volumes` (compose-go `ServiceVolumeConfig`, Go field order).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeConfig {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeBind {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<SeLinux>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub create_host_path: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recursive: String,
}

/// Options of a named or anonymous volume mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeVolume {
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "is_false"
    )]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

fn is_zero_size(b: &ByteSize) -> bool {
    b.0 == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn mode_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = lenient::i64(d)?;
    u32::try_from(v).map_err(|_| serde::de::Error::custom(format!("invalid tmpfs mode {v}")))
}

/// Options of a tmpfs mount; `mode` is printed as a plain number, as compose-go does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub size: ByteSize,
    #[serde(
        default,
        deserialize_with = "mode_u32",
        skip_serializing_if = "is_zero_u32"
    )]
    #[schemars(with = "u32")]
    pub mode: u32,
}

/// Options of an image mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeImage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

impl ShortSyntax for ServiceVolumeConfig {
    const EXPECTING: &'static str = "a volume \"[SOURCE:]TARGET[:OPTIONS]\" or a map";

    fn from_short_str(s: &str) -> Result<Self, ModelError> {
        parse_volume_spec(s)
    }
}

/// Splits a short spec on `:` like `format.ParseVolume`: not inside `${…}`, and not after a one-letter
/// first field (a Windows drive).
fn split_volume_fields(spec: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut buf = String::new();
    let mut depth = 0usize;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        let drive = c == ':' && buf.chars().count() == 1 && buf.chars().all(char::is_alphabetic);
        match c {
            '$' if chars.peek() == Some(&'{') => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ':' if depth == 0 && !drive => {
                fields.push(std::mem::take(&mut buf));
                continue;
            }
            _ => {}
        }
        buf.push(c);
    }
    fields.push(buf);
    fields
}

/// Parses the short volume syntax into its long form, as compose-go does: short binds get
/// `bind.create_host_path: true`, named/anonymous volumes get `volume: {}`, the target is cleaned.
pub fn parse_volume_spec(spec: &str) -> Result<ServiceVolumeConfig, ModelError> {
    let fail = |reason: &str| ModelError::InvalidVolume {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    match spec.len() {
        0 => return Err(fail("empty volume spec")),
        1 | 2 => {
            return Ok(ServiceVolumeConfig {
                kind: VolumeType::Volume,
                target: spec.to_owned(),
                ..Default::default()
            });
        }
        _ => {}
    }
    let fields = split_volume_fields(spec);
    if fields.iter().any(String::is_empty) {
        return Err(fail("empty section between colons"));
    }
    let mut vol = ServiceVolumeConfig::default();
    match fields.as_slice() {
        [target] => vol.target = target.clone(),
        [source, target] => (vol.source, vol.target) = (source.clone(), target.clone()),
        [source, target, options] => {
            (vol.source, vol.target) = (source.clone(), target.clone());
            apply_volume_options(&mut vol, options);
        }
        _ => return Err(fail("too many colons")),
    }
    vol.target = clean_path(&vol.target);
    set_volume_type(&mut vol);
    Ok(vol)
}

/// `ro`, `rw`, `nocopy`, SELinux labels and propagation modes; others are ignored, like compose-go.
fn apply_volume_options(vol: &mut ServiceVolumeConfig, options: &str) {
    for option in options.split(',') {
        match option {
            "ro" => vol.read_only = true,
            "rw" => vol.read_only = false,
            "nocopy" => {
                vol.volume = Some(ServiceVolumeVolume {
                    nocopy: true,
                    ..Default::default()
                })
            }
            "z" => vol.bind.get_or_insert_default().selinux = Some(SeLinux::Shared),
            "Z" => vol.bind.get_or_insert_default().selinux = Some(SeLinux::Private),
            other => {
                if let Some(p) = Propagation::parse(other) {
                    vol.bind.get_or_insert_default().propagation = Some(p);
                }
            }
        }
    }
}

fn set_volume_type(vol: &mut ServiceVolumeConfig) {
    if is_file_path(&vol.source) {
        vol.kind = VolumeType::Bind;
        // docker-compose v1 compatibility: short binds create a missing host path.
        vol.bind.get_or_insert_default().create_host_path = true;
    } else {
        vol.kind = VolumeType::Volume;
        vol.volume.get_or_insert_default();
    }
}

/// A bind source: relative, absolute, home-relative, a Windows named pipe or drive path.
fn is_file_path(source: &str) -> bool {
    if source.starts_with(['.', '/', '~']) || source.starts_with("\\\\") {
        return true;
    }
    let mut chars = source.chars();
    matches!((chars.next(), chars.next()), (Some(first), Some(':')) if first.is_alphabetic())
}

/// Go's `path.Clean`: lexical `.`/`..`/`//` removal on slash paths.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn vol(spec: &str) -> Value {
        serde_json::to_value(parse_volume_spec(spec).unwrap()).unwrap()
    }

    // Expected values from `docker-compose-v2 config --format json` (v2.40.3), before the loader makes
    // relative sources absolute and expands `~`.
    #[test]
    fn short_syntax() {
        assert_eq!(
            vol("/anon"),
            json!({"type": "volume", "target": "/anon", "volume": {}})
        );
        assert_eq!(
            vol("named:/n"),
            json!({"type": "volume", "source": "named", "target": "/n", "volume": {}})
        );
        assert_eq!(
            vol("./rel:/r:ro,z"),
            json!({"type": "bind", "source": "./rel", "target": "/r", "read_only": true,
                   "bind": {"selinux": "z", "create_host_path": true}})
        );
        assert_eq!(
            vol("../up:/u:rw,rshared"),
            json!({"type": "bind", "source": "../up", "target": "/u",
                   "bind": {"propagation": "rshared", "create_host_path": true}})
        );
        assert_eq!(
            vol("/abs:/a:Z,nocopy"),
            json!({"type": "bind", "source": "/abs", "target": "/a",
                   "bind": {"selinux": "Z", "create_host_path": true}, "volume": {"nocopy": true}})
        );
        assert_eq!(
            vol("~/home:/h"),
            json!({"type": "bind", "source": "~/home", "target": "/h", "bind": {"create_host_path": true}})
        );
        assert_eq!(
            vol("a:/a"),
            json!({"type": "volume", "target": "a:/a", "volume": {}})
        );
        assert_eq!(
            vol("named2:/n2:nocopy"),
            json!({"type": "volume", "source": "named2", "target": "/n2", "volume": {"nocopy": true}})
        );
        assert_eq!(
            vol("c:\\data:/data"),
            json!({"type": "bind", "source": "c:\\data", "target": "/data", "bind": {"create_host_path": true}})
        );
        assert_eq!(
            vol("/x/../y//z/"),
            json!({"type": "volume", "target": "/y/z", "volume": {}})
        );
        assert_eq!(vol("ab"), json!({"type": "volume", "target": "ab"}));
        assert_eq!(
            vol("${A:-x:y}:/t"),
            json!({"type": "volume", "source": "${A:-x:y}", "target": "/t", "volume": {}})
        );
    }

    #[test]
    fn errors() {
        let msg = |s: &str| parse_volume_spec(s).unwrap_err().to_string();
        assert_eq!(msg(""), "invalid volume \"\": empty volume spec");
        assert_eq!(
            msg("ab::c"),
            "invalid volume \"ab::c\": empty section between colons"
        );
        assert_eq!(
            msg("xy:/a:ro:z"),
            "invalid volume \"xy:/a:ro:z\": too many colons"
        );
    }

    #[test]
    fn clean() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("a/../.."), "..");
    }
}
