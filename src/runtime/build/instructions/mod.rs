//! What each instruction does, one module per family:
//!
//! - this module: the variable scope (build args and ENV) and the instructions that only change
//!   the image config (ENV, LABEL, EXPOSE, USER, VOLUME, CMD, ENTRYPOINT, HEALTHCHECK,
//!   STOPSIGNAL, SHELL, ONBUILD, MAINTAINER, and WORKDIR's config part);
//! - [`copy`]: COPY/ADD into an image root; [`fetch`]: ADD's URLs;
//! - [`run`]: RUN's command line, heredocs and `--mount`s.

pub mod copy;
pub mod fetch;
pub mod run;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::config::ImageConfig;
use super::dockerfile::{self, CommandForm, Healthcheck, Instruction};
use super::error::{BuildError, Origin, Result};

/// The ARGs in scope at an instruction: name → value (`None`: declared without a value).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub args: IndexMap<String, Option<String>>,
    pub escape: char,
}

impl Scope {
    pub fn new(escape: char) -> Self {
        Scope {
            args: IndexMap::new(),
            escape,
        }
    }

    /// ENV wins over an ARG of the same name, as in docker.
    pub fn lookup<'a>(&'a self, config: &'a ImageConfig) -> impl Fn(&str) -> Option<String> + 'a {
        let env = config.env();
        move |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| self.args.get(name).cloned().flatten())
        }
    }

    /// Expand one word (paths, flags, values).
    pub fn word(&self, config: &ImageConfig, text: &str, origin: &Origin) -> Result<String> {
        let lookup = self.lookup(config);
        dockerfile::expand_word(text, &lookup, self.escape).map_err(|error| BuildError::Expand {
            origin: origin.clone(),
            error,
        })
    }

    /// Expand a COPY/ADD heredoc body: variables only, quotes kept.
    pub fn heredoc(&self, config: &ImageConfig, text: &str, origin: &Origin) -> Result<String> {
        let lookup = self.lookup(config);
        dockerfile::expand_heredoc(text, &lookup).map_err(|error| BuildError::Expand {
            origin: origin.clone(),
            error,
        })
    }

    /// Expand and split into words (EXPOSE, VOLUME).
    pub fn words(&self, config: &ImageConfig, text: &str, origin: &Origin) -> Result<Vec<String>> {
        let lookup = self.lookup(config);
        dockerfile::expand_words(text, &lookup, self.escape).map_err(|error| BuildError::Expand {
            origin: origin.clone(),
            error,
        })
    }

    /// Build args with values, for a RUN step's environment.
    pub fn env_args(&self) -> impl Iterator<Item = (&String, &String)> {
        self.args.iter().filter_map(|(k, v)| Some((k, v.as_ref()?)))
    }
}

/// The platform ARGs BuildKit predefines (this builder only targets linux/amd64).
pub fn platform_args() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TARGETPLATFORM", "linux/amd64"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "amd64"),
        ("TARGETVARIANT", ""),
        ("BUILDPLATFORM", "linux/amd64"),
        ("BUILDOS", "linux"),
        ("BUILDARCH", "amd64"),
        ("BUILDVARIANT", ""),
    ]
}

/// A stage's mutable state besides the config: the shell and whether CMD was set in it.
#[derive(Debug, Clone)]
pub struct StageVars {
    pub shell: Vec<String>,
    pub cmd_set: bool,
}

impl StageVars {
    pub fn new(config: &ImageConfig) -> Self {
        StageVars {
            shell: config
                .shell()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]),
            cmd_set: false,
        }
    }

    /// The argv of a CMD/ENTRYPOINT/RUN: exec form as is, shell form through the SHELL.
    pub fn argv(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s.clone());
                v
            }
        }
    }
}

/// Ports as docker keys them: `80` → `80/tcp`, `8000-8002/udp` → three keys.
pub fn expose_keys(spec: &str, origin: &Origin) -> Result<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let bad = || BuildError::instruction(origin, format!("invalid port {spec:?}"));
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn nanos(d: Option<std::time::Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// docker's `Healthcheck` object.
pub fn healthcheck_json(h: &Healthcheck, vars: &StageVars) -> Value {
    let hc = match h {
        Healthcheck::None => return json!({"Test": ["NONE"]}),
        Healthcheck::Cmd(hc) => hc,
    };
    let test: Vec<String> = match &hc.test {
        CommandForm::Exec(v) => std::iter::once("CMD".to_string())
            .chain(v.iter().cloned())
            .collect(),
        CommandForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
    };
    let _ = vars;
    let mut o = serde_json::Map::new();
    o.insert("Test".into(), json!(test));
    for (k, v) in [
        ("Interval", nanos(hc.interval)),
        ("Timeout", nanos(hc.timeout)),
        ("StartPeriod", nanos(hc.start_period)),
        ("StartInterval", nanos(hc.start_interval)),
    ] {
        if let Some(v) = v.filter(|v| *v > 0) {
            o.insert(k.into(), json!(v));
        }
    }
    if let Some(r) = hc.retries.filter(|r| *r > 0) {
        o.insert("Retries".into(), json!(r));
    }
    Value::Object(o)
}

/// Apply an instruction that only changes the config; returns its history text, or `None` when
/// the instruction is not a config-only one (RUN, COPY, ADD, WORKDIR, ARG).
pub fn apply_metadata(
    ins: &Instruction,
    config: &mut ImageConfig,
    vars: &mut StageVars,
    scope: &Scope,
    origin: &Origin,
) -> Result<Option<String>> {
    let text = match ins {
        Instruction::Env(pairs) => env(pairs, config, scope, origin)?,
        Instruction::Label(pairs) => label(pairs, config, scope, origin)?,
        Instruction::Expose(ports) => expose(ports, config, scope, origin)?,
        Instruction::Volume(vols) => volume(vols, config, scope, origin)?,
        Instruction::User(u) => {
            let user = scope.word(config, u, origin)?;
            config.set_user(&user);
            format!("USER {user}")
        }
        Instruction::Cmd(form) => {
            let argv = vars.argv(form);
            config.set_cmd(Some(argv.clone()));
            vars.cmd_set = true;
            format!("CMD {}", json_list(&argv))
        }
        Instruction::Entrypoint(form) => {
            let argv = vars.argv(form);
            config.set_entrypoint(argv.clone());
            // An inherited CMD makes no sense with a new ENTRYPOINT (BuildKit drops it).
            if !vars.cmd_set {
                config.set_cmd(None);
            }
            format!("ENTRYPOINT {}", json_list(&argv))
        }
        Instruction::Healthcheck(h) => {
            config.set_healthcheck(healthcheck_json(h, vars));
            match h {
                Healthcheck::None => "HEALTHCHECK NONE".to_string(),
                Healthcheck::Cmd(_) => "HEALTHCHECK CMD".to_string(),
            }
        }
        Instruction::StopSignal(s) => stop_signal(s, config, scope, origin)?,
        Instruction::Shell(shell) => {
            if shell.is_empty() {
                return Err(BuildError::instruction(
                    origin,
                    "SHELL requires at least one argument",
                ));
            }
            config.set_shell(shell);
            vars.shell = shell.clone();
            format!("SHELL {}", json_list(shell))
        }
        Instruction::OnBuild(trigger) => {
            config.add_on_build(trigger);
            format!("ONBUILD {trigger}")
        }
        Instruction::Maintainer(m) => {
            config.set_author(m);
            format!("MAINTAINER {m}")
        }
        Instruction::Run(_)
        | Instruction::Copy(_)
        | Instruction::Add(_)
        | Instruction::Workdir(_)
        | Instruction::Arg(_) => return Ok(None),
    };
    Ok(Some(text))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn env(
    pairs: &[(String, String)],
    config: &mut ImageConfig,
    scope: &Scope,
    origin: &Origin,
) -> Result<String> {
    let mut shown = Vec::new();
    for (k, v) in pairs {
        let value = scope.word(config, v, origin)?;
        config.set_env(k, &value);
        shown.push(format!("{k}={value}"));
    }
    Ok(format!("ENV {}", shown.join(" ")))
}

fn label(
    pairs: &[(String, String)],
    config: &mut ImageConfig,
    scope: &Scope,
    origin: &Origin,
) -> Result<String> {
    let mut shown = Vec::new();
    for (k, v) in pairs {
        let key = scope.word(config, k, origin)?;
        let value = scope.word(config, v, origin)?;
        config.set_label(&key, &value);
        shown.push(format!("{key}={value}"));
    }
    Ok(format!("LABEL {}", shown.join(" ")))
}

fn expose(
    ports: &[String],
    config: &mut ImageConfig,
    scope: &Scope,
    origin: &Origin,
) -> Result<String> {
    let mut keys = Vec::new();
    for p in ports {
        for w in scope.words(config, p, origin)? {
            keys.extend(expose_keys(&w, origin)?);
        }
    }
    for k in &keys {
        config.expose(k);
    }
    let shown: Vec<String> = keys.iter().map(|k| format!("{k}:{{}}")).collect();
    Ok(format!("EXPOSE map[{}]", shown.join(" ")))
}

fn volume(
    vols: &[String],
    config: &mut ImageConfig,
    scope: &Scope,
    origin: &Origin,
) -> Result<String> {
    let mut all = Vec::new();
    for v in vols {
        for w in scope.words(config, v, origin)? {
            if w.trim().is_empty() {
                return Err(BuildError::instruction(
                    origin,
                    "VOLUME specified can not be an empty string",
                ));
            }
            all.push(w);
        }
    }
    for v in &all {
        config.add_volume(v);
    }
    Ok(format!("VOLUME [{}]", all.join(" ")))
}

fn stop_signal(
    s: &str,
    config: &mut ImageConfig,
    scope: &Scope,
    origin: &Origin,
) -> Result<String> {
    let sig = scope.word(config, s, origin)?;
    crate::runtime::container::oci::parse_signal(&sig)
        .map_err(|_| BuildError::instruction(origin, format!("invalid signal {sig:?}")))?;
    config.set_stop_signal(&sig);
    Ok(format!("STOPSIGNAL {sig}"))
}

/// `WORKDIR`: an absolute path, relative ones resolved against the current one.
pub fn workdir_path(current: &str, new: &str) -> String {
    let joined = if new.starts_with('/') {
        new.to_string()
    } else {
        let base = if current.is_empty() { "/" } else { current };
        format!("{}/{new}", base.trim_end_matches('/'))
    };
    let clean = super::fsops::relative(std::path::Path::new(&joined));
    format!("/{}", clean.display())
}

/// A COPY/ADD destination in the image: relative ones under the working directory; a
/// trailing `/` is kept (it means "a directory").
pub fn dest_path(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let base = if workdir.is_empty() { "/" } else { workdir };
    let dir_only = dest == "." || dest.ends_with("/.");
    let dest = dest.strip_suffix('.').filter(|_| dir_only).unwrap_or(dest);
    let mut out = format!("{}/{dest}", base.trim_end_matches('/'));
    if dir_only && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "Dockerfile".into(),
            line: 1,
        }
    }

    #[test]
    fn ports() {
        assert_eq!(expose_keys("80", &origin()).unwrap(), ["80/tcp"]);
        assert_eq!(expose_keys("53/UDP", &origin()).unwrap(), ["53/udp"]);
        assert_eq!(
            expose_keys("8000-8002", &origin()).unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expose_keys("http", &origin()).is_err());
        assert!(expose_keys("80/icmp", &origin()).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(workdir_path("/", "app"), "/app");
        assert_eq!(workdir_path("/app", "sub/../x"), "/app/x");
        assert_eq!(workdir_path("/app", "/abs/"), "/abs");
        assert_eq!(workdir_path("", "a"), "/a");
        assert_eq!(dest_path("/app", "."), "/app/");
        assert_eq!(dest_path("/app", "x/"), "/app/x/");
        assert_eq!(dest_path("", "f"), "/f");
        assert_eq!(dest_path("/app", "/etc/x"), "/etc/x");
    }

    #[test]
    fn entrypoint_drops_an_inherited_cmd() {
        let mut c = ImageConfig::scratch();
        c.set_cmd(Some(vec!["sh".into()]));
        let mut vars = StageVars::new(&c);
        let scope = Scope::new('\\');
        apply_metadata(
            &Instruction::Entrypoint(CommandForm::Exec(vec!["/app".into()])),
            &mut c,
            &mut vars,
            &scope,
            &origin(),
        )
        .unwrap();
        assert_eq!(c.cmd(), None);
        apply_metadata(
            &Instruction::Cmd(CommandForm::Shell("run it".into())),
            &mut c,
            &mut vars,
            &scope,
            &origin(),
        )
        .unwrap();
        assert_eq!(
            c.cmd(),
            Some(vec!["/bin/sh".into(), "-c".into(), "run it".into()])
        );
        assert_eq!(c.entrypoint(), Some(vec!["/app".into()]));
    }
}
