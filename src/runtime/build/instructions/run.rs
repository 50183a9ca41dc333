//! RUN's command line: exec or shell form, heredocs, and `--mount` options.
//!
//! Heredocs follow BuildKit: `RUN <<EOF` alone runs the body as the script (through the SHELL,
//! or directly when it starts with `#!`); a heredoc inside a longer command (`RUN cat <<EOF >
//! f`) is handed to the shell with the command, which then reads it itself.

use std::path::PathBuf;

use super::super::dockerfile::{CommandForm, Run, RunScript};
use super::super::error::{BuildError, Origin, Result};
use super::StageVars;

/// How a RUN executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run this argv.
    Argv(Vec<String>),
    /// Write `body` to an executable file at `path` in the step's container and run it (a
    /// heredoc with a `#!` line).
    Script { path: String, body: String },
}

/// The command of a RUN instruction, after BuildKit's heredoc rules (the parser's
/// [`Run::script`]); a `#!` script is run from `/dev/pipes/<name>`, where BuildKit puts it.
pub fn command(run: &Run, vars: &StageVars) -> Command {
    match run.script() {
        RunScript::Exec(argv) => Command::Argv(argv.to_vec()),
        RunScript::Shell(text) => Command::Argv(vars.argv(&CommandForm::Shell(text))),
        RunScript::File { name, content } => Command::Script {
            path: format!("/dev/pipes/{name}"),
            body: content.to_string(),
        },
    }
}

/// A parsed `RUN --mount=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A persistent directory shared by builds (`id` defaults to the target).
    Cache {
        target: String,
        id: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// A read-only view of `source` in the context, a stage or an image (`from`).
    Bind {
        target: String,
        source: PathBuf,
        from: Option<String>,
    },
}

impl Mount {
    pub fn target(&self) -> &str {
        match self {
            Mount::Cache { target, .. }
            | Mount::Tmpfs { target, .. }
            | Mount::Bind { target, .. } => target,
        }
    }
}

/// Parse one (expanded) `--mount` value; relative targets are under `workdir`.
pub fn parse_mount(spec: &str, workdir: &str, origin: &Origin) -> Result<Mount> {
    let bad = |m: String| BuildError::instruction(origin, format!("--mount={spec}: {m}"));
    let mut kind = "bind".to_string();
    let (mut target, mut source, mut from, mut id) = (None, None, None, None);
    let (mut mode, mut uid, mut gid, mut size) = (0o755, 0, 0, None);
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = v.to_string(),
            "target" | "dst" | "destination" => target = Some(v.to_string()),
            "source" | "src" => source = Some(v.to_string()),
            "from" => from = Some(v.to_string()),
            "id" => id = Some(v.to_string()),
            "mode" => {
                mode = u32::from_str_radix(v, 8).map_err(|_| bad(format!("invalid mode {v:?}")))?
            }
            "uid" => uid = v.parse().map_err(|_| bad(format!("invalid uid {v:?}")))?,
            "gid" => gid = v.parse().map_err(|_| bad(format!("invalid gid {v:?}")))?,
            "size" => size = Some(v.parse().map_err(|_| bad(format!("invalid size {v:?}")))?),
            "ro" | "readonly" | "rw" | "readwrite" | "sharing" | "required" => {}
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    let target = target.ok_or_else(|| bad("a target is required".into()))?;
    let target = super::dest_path(workdir, &target)
        .trim_end_matches('/')
        .to_string();
    let target = if target.is_empty() {
        "/".into()
    } else {
        target
    };
    Ok(match kind.as_str() {
        "cache" => Mount::Cache {
            id: id.unwrap_or_else(|| target.clone()),
            target,
            mode,
            uid,
            gid,
        },
        "tmpfs" => Mount::Tmpfs { target, size },
        "bind" => Mount::Bind {
            target,
            source: super::super::fsops::relative(std::path::Path::new(
                source.as_deref().unwrap_or("/"),
            )),
            from,
        },
        other => {
            return Err(bad(format!(
                "mount type {other:?} is not supported by this builder (bind, cache and tmpfs are)"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::build::config::ImageConfig;
    use crate::runtime::build::dockerfile::Heredoc;

    fn doc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            strip_tabs: false,
            fd: 0,
        }
    }

    fn run(cmd: &str, docs: Vec<Heredoc>) -> Run {
        Run {
            command: CommandForm::Shell(cmd.into()),
            heredocs: docs,
            mounts: vec![],
            network: None,
            security: None,
        }
    }

    #[test]
    fn heredoc_forms() {
        let vars = StageVars::new(&ImageConfig::scratch());
        assert_eq!(
            command(&run("<<EOF", vec![doc("EOF", "echo a\necho b\n")]), &vars),
            Command::Argv(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo a\necho b\n".into()
            ])
        );
        assert_eq!(
            command(
                &run("<<'EOF'", vec![doc("EOF", "#!/bin/sh\necho hi\n")]),
                &vars
            ),
            Command::Script {
                path: "/dev/pipes/EOF".into(),
                body: "#!/bin/sh\necho hi\n".into()
            }
        );
        assert_eq!(
            command(&run("cat <<EOF > /f", vec![doc("EOF", "x\n")]), &vars),
            Command::Argv(vec![
                "/bin/sh".into(),
                "-c".into(),
                "cat <<EOF > /f\nx\nEOF".into()
            ])
        );
        assert_eq!(
            command(&run("echo hi", vec![]), &vars),
            Command::Argv(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
    }

    #[test]
    fn mounts() {
        let o = Origin {
            file: "Dockerfile".into(),
            line: 2,
        };
        assert_eq!(
            parse_mount("type=cache,target=/root/.cache", "/", &o).unwrap(),
            Mount::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        );
        assert_eq!(
            parse_mount("type=bind,from=build,source=/out,target=in", "/app", &o).unwrap(),
            Mount::Bind {
                target: "/app/in".into(),
                source: "out".into(),
                from: Some("build".into())
            }
        );
        let err = parse_mount("type=secret,id=x,target=/s", "/", &o).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        assert!(parse_mount("type=tmpfs", "/", &o).is_err());
    }
}
