//! A service's mounts: `volumes` (binds, named, anonymous and tmpfs volumes), the `tmpfs` list,
//! and `secrets`/`configs`. File-based secrets and configs are read-only binds at
//! `/run/secrets/<target|source>` and `/<target|source>` (docker compose's rule); inline or
//! environment contents become [`InjectedFile`]s the engine writes into the container. Like
//! docker compose, a secret or config never replaces a volume at the same target.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{InjectedFile, SpecContext, SpecError};
use crate::compose::model::{
    self, ByteSize, FileReferenceConfig, ServiceConfig, ServiceVolumeConfig, VolumeType,
};
use crate::engine::resources::VolumeSource;
use crate::runtime::container::{MountKind, MountSpec, Propagation};

/// What [`plan`] decided.
#[derive(Debug, Default)]
pub(super) struct MountPlan {
    pub mounts: Vec<MountSpec>,
    pub files: Vec<InjectedFile>,
    pub warnings: Vec<String>,
}

pub(super) fn plan(ctx: &SpecContext, s: &ServiceConfig) -> Result<MountPlan, SpecError> {
    let mut out = MountPlan::default();
    let mut targets = BTreeSet::new();
    let own = s
        .volumes
        .iter()
        .map(|v| volume_mount(ctx, s, v, &mut out.warnings));
    let tmpfs = s.tmpfs.0.iter().map(|t| tmpfs_entry(&s.name, t));
    for m in own.chain(tmpfs) {
        let m = m?;
        if !targets.insert(m.target.clone()) {
            return Err(SpecError::invalid(
                &s.name,
                "volumes",
                &m.target,
                "duplicate mount point",
            ));
        }
        out.mounts.push(m);
    }
    for kind in [FileKind::Secret, FileKind::Config] {
        for r in kind.refs(s) {
            file_reference(ctx, s, kind, r, &mut targets, &mut out)?;
        }
    }
    Ok(out)
}

fn volume_mount(
    ctx: &SpecContext,
    s: &ServiceConfig,
    v: &ServiceVolumeConfig,
    warnings: &mut Vec<String>,
) -> Result<MountSpec, SpecError> {
    let kind = match v.kind {
        VolumeType::Bind => bind(ctx, s, v)?,
        VolumeType::Volume => volume(ctx, s, v)?,
        VolumeType::Tmpfs => {
            let t = v.tmpfs.clone().unwrap_or_default();
            MountKind::Tmpfs {
                size: size_option(&s.name, t.size)?,
                mode: (t.mode != 0).then_some(t.mode),
            }
        }
        other => {
            let kind = serde_json::to_value(other).unwrap_or_default();
            return Err(SpecError::unsupported(
                &s.name,
                "volumes",
                format!("mounts of type {kind} (at {})", v.target),
            ));
        }
    };
    warn_foreign_options(s, v, warnings);
    Ok(MountSpec {
        target: v.target.clone(),
        kind,
        read_only: v.read_only,
    })
}

/// docker compose warns when a mount carries another type's options, then ignores them.
fn warn_foreign_options(s: &ServiceConfig, v: &ServiceVolumeConfig, warnings: &mut Vec<String>) {
    let kind = serde_json::to_value(v.kind).unwrap_or_default();
    let kind = kind.as_str().unwrap_or_default();
    for (set, option) in [
        (v.bind.is_some() && v.kind != VolumeType::Bind, "bind"),
        (v.volume.is_some() && v.kind != VolumeType::Volume, "volume"),
        (v.tmpfs.is_some() && v.kind != VolumeType::Tmpfs, "tmpfs"),
    ] {
        if set {
            warnings.push(format!(
                "service {:?}: mount of type `{kind}` should not define `{option}` option",
                s.name
            ));
        }
    }
}

fn bind(
    ctx: &SpecContext,
    s: &ServiceConfig,
    v: &ServiceVolumeConfig,
) -> Result<MountKind, SpecError> {
    let opts = v.bind.clone().unwrap_or_default();
    if !matches!(opts.recursive.as_str(), "" | "enabled") {
        return Err(SpecError::unsupported(
            &s.name,
            "volumes.bind.recursive",
            format!("{:?} (binds are always recursive)", opts.recursive),
        ));
    }
    // SELinux relabelling (`z`/`Z`) has nothing to do on a host without SELinux, which is what
    // dockerd does there too.
    Ok(MountKind::Bind {
        source: ctx.working_dir.join(&v.source),
        create_host_path: opts.create_host_path,
        propagation: opts.propagation.map(propagation),
    })
}

fn propagation(p: model::Propagation) -> Propagation {
    match p {
        model::Propagation::Rprivate => Propagation::Rprivate,
        model::Propagation::Private => Propagation::Private,
        model::Propagation::Rshared => Propagation::Rshared,
        model::Propagation::Shared => Propagation::Shared,
        model::Propagation::Rslave => Propagation::Rslave,
        model::Propagation::Slave => Propagation::Slave,
    }
}

fn volume(
    ctx: &SpecContext,
    s: &ServiceConfig,
    v: &ServiceVolumeConfig,
) -> Result<MountKind, SpecError> {
    let opts = v.volume.clone().unwrap_or_default();
    if !opts.subpath.is_empty() {
        return Err(SpecError::unsupported(
            &s.name,
            "volumes.volume.subpath",
            "volume subpaths",
        ));
    }
    if !opts.labels.is_empty() {
        return Err(SpecError::unsupported(
            &s.name,
            "volumes.volume.labels",
            "labels on a mount's volume (declare them on the top-level volume)",
        ));
    }
    if v.source.is_empty() {
        return Ok(MountKind::Anonymous {
            nocopy: opts.nocopy,
        });
    }
    let declared = ctx
        .volumes
        .iter()
        .find(|pv| pv.key == v.source)
        .ok_or_else(|| SpecError::undefined(&s.name, "volume", &v.source))?;
    Ok(match &declared.source {
        VolumeSource::Local => MountKind::Volume {
            name: declared.name.clone(),
            nocopy: opts.nocopy,
        },
        VolumeSource::Bind { device } => MountKind::Bind {
            source: device.clone(),
            create_host_path: false,
            propagation: None,
        },
    })
}

fn size_option(service: &str, size: ByteSize) -> Result<Option<u64>, SpecError> {
    match size.0 {
        0 => Ok(None),
        n => u64::try_from(n)
            .map(Some)
            .map_err(|_| SpecError::invalid(service, "tmpfs", n.to_string(), "negative size")),
    }
}

/// A `tmpfs:` entry: `PATH[:OPTIONS]`, options as dockerd reads them (`size` in bytes or with a
/// binary unit, `mode` in octal).
fn tmpfs_entry(service: &str, entry: &str) -> Result<MountSpec, SpecError> {
    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
    let mut m = MountSpec {
        target: target.to_string(),
        kind: MountKind::Tmpfs {
            size: None,
            mode: None,
        },
        read_only: false,
    };
    let bad = |reason: &str| SpecError::invalid(service, "tmpfs", entry, reason);
    let (mut size, mut mode) = (None, None);
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => {
                size = Some(ByteSize::parse(v).map_err(|e| bad(&e.to_string()))?.0)
            }
            Some(("mode", v)) => {
                mode = Some(u32::from_str_radix(v, 8).map_err(|_| bad("mode must be octal"))?)
            }
            None if opt == "ro" => m.read_only = true,
            // What every tmpfs of the runtime already is.
            None if matches!(opt, "rw" | "nosuid" | "nodev") => {}
            _ => {
                return Err(SpecError::unsupported(
                    service,
                    "tmpfs",
                    format!("option {opt:?} in {entry:?} (size, mode, ro and rw are)"),
                ));
            }
        }
    }
    m.kind = MountKind::Tmpfs {
        size: size_option(service, ByteSize(size.unwrap_or(0)))?,
        mode,
    };
    Ok(m)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Secret,
    Config,
}

/// The fields of a top-level secret or config that matter here.
struct FileObject<'a> {
    file: &'a str,
    environment: &'a str,
    content: &'a str,
    external: bool,
    driver: &'a str,
    template_driver: &'a str,
}

impl FileKind {
    fn name(self) -> &'static str {
        match self {
            FileKind::Secret => "secret",
            FileKind::Config => "config",
        }
    }

    fn refs(self, s: &ServiceConfig) -> &[FileReferenceConfig] {
        match self {
            FileKind::Secret => &s.secrets,
            FileKind::Config => &s.configs,
        }
    }

    fn lookup<'a>(self, ctx: &SpecContext<'a>, source: &str) -> Option<FileObject<'a>> {
        macro_rules! view {
            ($o:expr) => {
                FileObject {
                    file: &$o.file,
                    environment: &$o.environment,
                    content: &$o.content,
                    external: $o.external,
                    driver: &$o.driver,
                    template_driver: &$o.template_driver,
                }
            };
        }
        match self {
            FileKind::Secret => ctx.project.secrets.get(source).map(|o| view!(o)),
            FileKind::Config => ctx.project.configs.get(source).map(|o| view!(o)),
        }
    }

    /// docker compose's targets: secrets under `/run/secrets/`, configs under `/`.
    fn target(self, r: &FileReferenceConfig) -> String {
        let base = match self {
            FileKind::Secret => "/run/secrets/",
            FileKind::Config => "/",
        };
        match r.target.as_str() {
            "" => format!("{base}{}", r.source),
            t if t.starts_with('/') => t.to_string(),
            t => format!("{base}{t}"),
        }
    }
}

fn file_reference(
    ctx: &SpecContext,
    s: &ServiceConfig,
    kind: FileKind,
    r: &FileReferenceConfig,
    targets: &mut BTreeSet<String>,
    out: &mut MountPlan,
) -> Result<(), SpecError> {
    let key = format!("{}s", kind.name());
    let obj = kind
        .lookup(ctx, &r.source)
        .ok_or_else(|| SpecError::undefined(&s.name, kind.name(), &r.source))?;
    for (set, what) in [
        (obj.external, "external"),
        (!obj.driver.is_empty(), "driver"),
        (!obj.template_driver.is_empty(), "template_driver"),
    ] {
        if set {
            return Err(SpecError::unsupported(
                &s.name,
                &key,
                format!(
                    "{} {:?} uses `{what}`, which docker compose does not support",
                    kind.name(),
                    r.source
                ),
            ));
        }
    }
    let target = kind.target(r);
    if let Some(content) = inline_content(ctx, s, kind, r, &obj)? {
        if !content.is_empty() {
            out.files.push(injected(s, &key, kind, r, target, content)?);
        }
        return Ok(());
    }
    if obj.file.is_empty() {
        return Err(SpecError::invalid(
            &s.name,
            &key,
            &r.source,
            "it has no file, content or environment",
        ));
    }
    if !r.uid.is_empty() || !r.gid.is_empty() || r.mode.is_some() {
        out.warnings.push(format!(
            "service {:?}: {key} `uid`, `gid` and `mode` are not supported, they will be ignored",
            s.name
        ));
    }
    if targets.insert(target.clone()) {
        out.mounts.push(MountSpec {
            target,
            kind: MountKind::Bind {
                source: ctx.working_dir.join(PathBuf::from(obj.file)),
                create_host_path: false,
                propagation: None,
            },
            read_only: true,
        });
    }
    Ok(())
}

/// Inline content, or the value of the environment variable the object names.
fn inline_content(
    ctx: &SpecContext,
    s: &ServiceConfig,
    kind: FileKind,
    r: &FileReferenceConfig,
    obj: &FileObject,
) -> Result<Option<String>, SpecError> {
    if !obj.content.is_empty() {
        return Ok(Some(obj.content.to_string()));
    }
    if obj.environment.is_empty() {
        return Ok(None);
    }
    match ctx.environment.get(obj.environment) {
        Some(v) => Ok(Some(v.clone())),
        None => Err(SpecError::invalid(
            &s.name,
            &format!("{}s", kind.name()),
            &r.source,
            format!(
                "environment variable {:?} required by {} {:?} is not set",
                obj.environment,
                kind.name(),
                r.source
            ),
        )),
    }
}

fn injected(
    s: &ServiceConfig,
    key: &str,
    kind: FileKind,
    r: &FileReferenceConfig,
    target: String,
    content: String,
) -> Result<InjectedFile, SpecError> {
    if s.read_only {
        return Err(SpecError::unsupported(
            &s.name,
            key,
            format!(
                "cannot create {} {:?} in a read_only service: `file` is the sole supported option",
                kind.name(),
                r.source
            ),
        ));
    }
    let id = |what: &str, v: &str| -> Result<u32, SpecError> {
        if v.is_empty() {
            return Ok(0);
        }
        v.parse()
            .map_err(|_| SpecError::invalid(&s.name, key, v, format!("{what} must be a number")))
    };
    Ok(InjectedFile {
        target,
        content,
        mode: r.mode.map_or(0o444, |m| m.0),
        uid: id("uid", &r.uid)?,
        gid: id("gid", &r.gid)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::Fixture;
    use super::*;

    fn mounts_of(yaml: &str) -> MountPlan {
        let f = Fixture::new(yaml);
        let ctx = f.ctx();
        plan(&ctx, &f.loaded.project.services["app"]).unwrap()
    }

    fn error_of(yaml: &str) -> String {
        let f = Fixture::new(yaml);
        plan(&f.ctx(), &f.loaded.project.services["app"])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn binds_named_anonymous_and_tmpfs_volumes() {
        let f = Fixture::new(
            r#"
name: speclab
services:
  app:
    image: x
    volumes:
      - dbdata:/data
      - /anon
      - ./data:/host:ro
      - {type: bind, source: /srv, target: /srv, bind: {propagation: rshared, create_host_path: false}}
      - {type: volume, source: dbdata, target: /nc, volume: {nocopy: true}}
      - {type: tmpfs, target: /tmpx, tmpfs: {size: 1m, mode: 0o1777}}
volumes:
  dbdata: {}
"#,
        );
        let m = plan(&f.ctx(), &f.loaded.project.services["app"])
            .unwrap()
            .mounts;
        let dir = f.dir.path();
        let want = [
            (
                "/data",
                MountKind::Volume {
                    name: "speclab_dbdata".into(),
                    nocopy: false,
                },
                false,
            ),
            ("/anon", MountKind::Anonymous { nocopy: false }, false),
            (
                "/host",
                MountKind::Bind {
                    source: dir.join("data"),
                    create_host_path: true,
                    propagation: None,
                },
                true,
            ),
            (
                "/srv",
                MountKind::Bind {
                    source: "/srv".into(),
                    create_host_path: false,
                    propagation: Some(Propagation::Rshared),
                },
                false,
            ),
            (
                "/nc",
                MountKind::Volume {
                    name: "speclab_dbdata".into(),
                    nocopy: true,
                },
                false,
            ),
            (
                "/tmpx",
                MountKind::Tmpfs {
                    size: Some(1 << 20),
                    mode: Some(0o1777),
                },
                false,
            ),
        ];
        assert_eq!(m.len(), want.len());
        for (got, (target, kind, ro)) in m.iter().zip(want) {
            assert_eq!(
                got,
                &MountSpec {
                    target: target.into(),
                    kind,
                    read_only: ro
                }
            );
        }
    }

    #[test]
    fn bind_backed_volume_mounts_its_device() {
        let m = mounts_of(
            r#"
services: {app: {image: x, volumes: [logs:/logs]}}
volumes: {logs: {driver_opts: {type: none, o: bind, device: /srv/logs}}}
"#,
        );
        assert_eq!(
            m.mounts[0].kind,
            MountKind::Bind {
                source: "/srv/logs".into(),
                create_host_path: false,
                propagation: None
            }
        );
    }

    /// `tmpfs: ["/run2:size=65536,mode=755"]` is `HostConfig.Tmpfs {"/run2": "size=65536,mode=755"}`.
    #[test]
    fn tmpfs_list() {
        let m = mounts_of(
            "services: {app: {image: x, tmpfs: ['/run2:size=65536,mode=755', '/t:size=64m,ro', /plain]}}",
        );
        assert_eq!(
            m.mounts[0].kind,
            MountKind::Tmpfs {
                size: Some(65536),
                mode: Some(0o755)
            }
        );
        assert_eq!(
            m.mounts[1].kind,
            MountKind::Tmpfs {
                size: Some(64 << 20),
                mode: None
            }
        );
        assert!(m.mounts[1].read_only);
        assert_eq!(
            m.mounts[2].kind,
            MountKind::Tmpfs {
                size: None,
                mode: None
            }
        );
        let e = error_of("services: {app: {image: x, tmpfs: ['/t:uid=1000']}}");
        assert!(
            e.contains("`tmpfs` is not supported: option \"uid=1000\""),
            "{e}"
        );
    }

    /// What docker compose v2.40.3 mounted for the lab's `web` service.
    #[test]
    fn file_secrets_and_configs_are_read_only_binds() {
        let f = Fixture::new(
            r#"
services:
  app:
    image: x
    secrets: [s1, {source: s1, target: other}, {source: s1, target: /abs}]
    configs: [c1, {source: c1, target: /etc/c1.conf}, {source: c1, target: rel.conf}]
secrets: {s1: {file: ./secret.txt}}
configs: {c1: {file: ./cfg.txt}}
"#,
        );
        let m = plan(&f.ctx(), &f.loaded.project.services["app"]).unwrap();
        let got: Vec<(&str, &MountKind, bool)> = m
            .mounts
            .iter()
            .map(|m| (m.target.as_str(), &m.kind, m.read_only))
            .collect();
        let bind = |file: &str| MountKind::Bind {
            source: f.dir.path().join(file),
            create_host_path: false,
            propagation: None,
        };
        let (s, c) = (bind("secret.txt"), bind("cfg.txt"));
        assert_eq!(
            got,
            [
                ("/run/secrets/s1", &s, true),
                ("/run/secrets/other", &s, true),
                ("/abs", &s, true),
                ("/c1", &c, true),
                ("/etc/c1.conf", &c, true),
                ("/rel.conf", &c, true),
            ]
        );
        assert!(m.files.is_empty() && m.warnings.is_empty());
    }

    #[test]
    fn a_volume_wins_over_a_secret_at_the_same_target() {
        let m = mounts_of(
            r#"
services: {app: {image: x, volumes: ['/run/secrets/s1'], secrets: [s1]}}
secrets: {s1: {file: ./s}}
"#,
        );
        assert_eq!(m.mounts.len(), 1);
        assert_eq!(m.mounts[0].kind, MountKind::Anonymous { nocopy: false });
    }

    #[test]
    fn inline_and_environment_contents_are_injected() {
        let f = Fixture::with_env(
            r#"
services:
  app:
    image: x
    secrets: [{source: token, uid: "1000", mode: 0o400}]
    configs: [inline, {source: empty, target: /e}]
secrets: {token: {environment: TOKEN}}
configs:
  inline: {content: "hello $$HOME"}
  empty: {environment: EMPTY}
"#,
            &[("TOKEN", "t0ps3cret"), ("EMPTY", "")],
        );
        let m = plan(&f.ctx(), &f.loaded.project.services["app"]).unwrap();
        assert!(m.mounts.is_empty());
        assert_eq!(
            m.files,
            [
                InjectedFile {
                    target: "/run/secrets/token".into(),
                    content: "t0ps3cret".into(),
                    mode: 0o400,
                    uid: 1000,
                    gid: 0
                },
                InjectedFile {
                    target: "/inline".into(),
                    content: "hello $HOME".into(),
                    mode: 0o444,
                    uid: 0,
                    gid: 0
                },
            ],
            "an empty value is skipped, as docker compose does"
        );
    }

    #[test]
    fn secrets_docker_compose_refuses() {
        let e = error_of(
            "services: {app: {image: x, secrets: [s]}}\nsecrets: {s: {environment: NOPE}}",
        );
        assert!(
            e.contains("environment variable \"NOPE\" required by secret \"s\" is not set"),
            "{e}"
        );
        let e =
            error_of("services: {app: {image: x, secrets: [s]}}\nsecrets: {s: {external: true}}");
        assert!(e.contains("uses `external`"), "{e}");
        let e = error_of(
            "services: {app: {image: x, read_only: true, configs: [c]}}\nconfigs: {c: {content: x}}",
        );
        assert!(e.contains("read_only service"), "{e}");
        let m = mounts_of(
            "services: {app: {image: x, secrets: [{source: s, mode: 0o400}]}}\nsecrets: {s: {file: ./s}}",
        );
        assert_eq!(
            m.warnings.len(),
            1,
            "uid/gid/mode of a file secret are ignored with a warning"
        );
    }

    #[test]
    fn mounts_the_runtime_cannot_make() {
        let e = error_of(
            "services: {app: {image: x, volumes: [{type: image, source: img, target: /i}]}}",
        );
        assert!(
            e.contains("`volumes` is not supported: mounts of type \"image\""),
            "{e}"
        );
        let e = error_of(
            "services: {app: {image: x, volumes: [{type: volume, source: v, target: /v, volume: {subpath: a}}]}}\nvolumes: {v: {}}",
        );
        assert!(e.contains("volumes.volume.subpath"), "{e}");
        let e = error_of(
            "services: {app: {image: x, volumes: [{type: bind, source: /a, target: /a, bind: {recursive: readonly}}]}}",
        );
        assert!(e.contains("volumes.bind.recursive"), "{e}");
    }
}
