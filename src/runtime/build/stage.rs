//! The stage graph: which stages a target needs (through `FROM <stage>`, `COPY --from=<stage>`
//! and `RUN --mount=from=<stage>`), in an order where every stage comes after its dependencies.
//! Stages the target does not need are never built.

use std::collections::BTreeSet;

use super::dockerfile::{Dockerfile, Instruction};

/// What a `FROM`, `--from=` or `from=` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRef {
    Stage(usize),
    /// An image reference, named context or `scratch`.
    Other(String),
}

/// Resolve a (expanded) stage name or index: stage names are matched case-insensitively,
/// indexes must be of another stage than `current`.
pub fn resolve(df: &Dockerfile, name: &str, current: Option<usize>) -> StageRef {
    let lower = name.to_ascii_lowercase();
    if let Some(s) = df
        .stages
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()) && Some(s.index) != current)
    {
        return StageRef::Stage(s.index);
    }
    if let Ok(i) = name.parse::<usize>()
        && i < df.stages.len()
        && Some(i) != current
    {
        return StageRef::Stage(i);
    }
    StageRef::Other(name.to_string())
}

/// `from=` of a `RUN --mount=` value.
pub fn mount_from(mount: &str) -> Option<&str> {
    mount
        .split(',')
        .find_map(|kv| kv.trim().strip_prefix("from="))
}

/// The stages each stage depends on. `expand` expands a FROM/`--from` value with the build
/// arguments (stage-local ENV cannot change which stage a build needs).
pub fn dependencies(df: &Dockerfile, expand: &dyn Fn(&str) -> String) -> Vec<BTreeSet<usize>> {
    df.stages
        .iter()
        .map(|stage| {
            let mut deps = BTreeSet::new();
            let mut add = |name: &str| {
                if let StageRef::Stage(i) = resolve(df, &expand(name), Some(stage.index)) {
                    deps.insert(i);
                }
            };
            add(&stage.from.image);
            for ins in &stage.instructions {
                match &ins.node {
                    Instruction::Copy(c) => {
                        if let Some(f) = &c.from {
                            add(f);
                        }
                    }
                    Instruction::Run(r) => {
                        for m in &r.mounts {
                            if let Some(f) = mount_from(m) {
                                add(f);
                            }
                        }
                    }
                    _ => {}
                }
            }
            deps
        })
        .collect()
}

/// The stages `target` needs, dependencies first; `Err` names a stage on a cycle.
pub fn build_order(deps: &[BTreeSet<usize>], target: usize) -> Result<Vec<usize>, usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        None,
        Visiting,
        Done,
    }
    fn visit(
        i: usize,
        deps: &[BTreeSet<usize>],
        marks: &mut [Mark],
        out: &mut Vec<usize>,
    ) -> Result<(), usize> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Visiting => return Err(i),
            Mark::None => {}
        }
        marks[i] = Mark::Visiting;
        for &d in &deps[i] {
            visit(d, deps, marks, out)?;
        }
        marks[i] = Mark::Done;
        out.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::None; deps.len()];
    let mut out = Vec::new();
    visit(target, deps, &mut marks, &mut out)?;
    Ok(out)
}

/// The index of the target stage: the named one, else the last.
pub fn target_index(df: &Dockerfile, target: Option<&str>) -> Option<usize> {
    match target.filter(|t| !t.is_empty()) {
        None => df.stages.len().checked_sub(1),
        Some(t) => {
            let t = t.to_ascii_lowercase();
            df.stages
                .iter()
                .find(|s| s.name.as_deref() == Some(t.as_str()))
                .map(|s| s.index)
        }
    }
}

/// How progress names a stage: its name, or `stage-<index>` (BuildKit's words).
pub fn display_name(df: &Dockerfile, index: usize) -> String {
    df.stages
        .get(index)
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| format!("stage-{index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first_and_finds_cycles() {
        let deps = vec![
            BTreeSet::new(),
            BTreeSet::from([0]),
            BTreeSet::new(),
            BTreeSet::from([1, 2]),
        ];
        assert_eq!(build_order(&deps, 3), Ok(vec![0, 1, 2, 3]));
        assert_eq!(build_order(&deps, 1), Ok(vec![0, 1]));
        assert_eq!(build_order(&deps, 2), Ok(vec![2]));
        let cyclic = vec![BTreeSet::from([1]), BTreeSet::from([0])];
        assert!(build_order(&cyclic, 0).is_err());
    }

    #[test]
    fn dependencies_follow_from_copy_from_and_mounts() {
        let df = crate::runtime::build::dockerfile::parse(
            "ARG BASE=base\n\
             FROM busybox AS base\n\
             FROM ${BASE} AS deps\n\
             FROM busybox AS tools\n\
             FROM busybox AS unused\n\
             FROM scratch\n\
             COPY --from=deps /a /a\n\
             COPY --from=2 /t /t\n\
             RUN --mount=type=bind,from=tools,target=/x true\n\
             COPY --from=docker.io/library/alpine /etc/os-release /\n",
        )
        .unwrap();
        let expand = |s: &str| s.replace("${BASE}", "base");
        let deps = dependencies(&df, &expand);
        assert_eq!(deps[1], BTreeSet::from([0]));
        assert_eq!(deps[4], BTreeSet::from([1, 2]));
        let target = target_index(&df, None).unwrap();
        assert_eq!(
            build_order(&deps, target),
            Ok(vec![0, 1, 2, 4]),
            "unused is skipped"
        );
        assert_eq!(target_index(&df, Some("TOOLS")), Some(2));
        assert_eq!(target_index(&df, Some("nope")), None);
        assert_eq!(resolve(&df, "Deps", None), StageRef::Stage(1));
        assert_eq!(resolve(&df, "4", Some(4)), StageRef::Other("4".into()));
        assert_eq!(display_name(&df, 4), "stage-4");
        assert_eq!(display_name(&df, 0), "base");
    }

    #[test]
    fn mount_from_is_found() {
        assert_eq!(
            mount_from("type=bind,from=build,source=/out,target=/in"),
            Some("build")
        );
        assert_eq!(mount_from("type=cache,target=/root/.cache"), None);
    }
}
