//! `rcompose ls`: the Compose projects that have containers under the state root, with their
//! combined status and config files, as docker compose 2.40 lists them (table, JSON, `-q`).

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;

use super::GlobalArgs;
use super::output::align;
use super::session;
use crate::engine::progress::Quiet;
use crate::engine::query::Stack;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
}

/// One `--filter name=VALUE`: the project name itself, or a regular expression finding it.
#[derive(Debug)]
pub struct NameFilter {
    value: String,
    /// `None` when the value is not a valid expression (docker then only compares).
    pattern: Option<regex::Regex>,
}

/// `--filter name=VALUE...` (a project matching any of them is shown).
pub fn name_filters(filters: &[String]) -> anyhow::Result<Vec<NameFilter>> {
    filters
        .iter()
        .map(|f| {
            let (key, value) = f.split_once('=').ok_or_else(|| {
                anyhow!(
                    "invalid argument {f:?} for \"--filter\" flag: bad format of filter (expected name=value)"
                )
            })?;
            let key = key.trim().to_lowercase();
            if key != "name" {
                bail!("invalid filter '{key}'");
            }
            let value = value.trim().to_string();
            Ok(NameFilter {
                pattern: regex::Regex::new(&value).ok(),
                value,
            })
        })
        .collect()
}

fn matches(name: &str, filters: &[NameFilter]) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| f.value == name || f.pattern.as_ref().is_some_and(|p| p.is_match(name)))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonStack<'a> {
    name: &'a str,
    status: &'a str,
    config_files: &'a str,
}

pub fn render_json(stacks: &[Stack]) -> anyhow::Result<String> {
    let rows: Vec<JsonStack> = stacks
        .iter()
        .map(|s| JsonStack {
            name: &s.name,
            status: &s.status,
            config_files: &s.config_files,
        })
        .collect();
    Ok(format!("{}\n", serde_json::to_string(&rows)?))
}

pub fn render_table(stacks: &[Stack]) -> String {
    let mut text = String::from("NAME\tSTATUS\tCONFIG FILES\n");
    for s in stacks {
        text.push_str(&format!("{}\t{}\t{}\n", s.name, s.status, s.config_files));
    }
    align(&text, 20, 3)
}

pub fn ls(global: &GlobalArgs, args: &LsArgs) -> anyhow::Result<i32> {
    let patterns = name_filters(&args.filter)?;
    let format = args.format.to_lowercase();
    if !args.quiet && !matches!(format.as_str(), "table" | "pretty" | "" | "json") {
        bail!(
            "format value {:?} could not be parsed: parsing failed",
            args.format
        );
    }
    let engine = session::engine(global, std::sync::Arc::new(Quiet))?;
    let stacks: Vec<Stack> = engine
        .stacks(args.all)?
        .into_iter()
        .filter(|s| matches(&s.name, &patterns))
        .collect();
    let out = if args.quiet {
        stacks.iter().map(|s| format!("{}\n", s.name)).collect()
    } else if format == "json" {
        render_json(&stacks)?
    } else {
        render_table(&stacks)
    };
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, status: &str) -> Stack {
        Stack {
            name: name.into(),
            status: status.into(),
            config_files: "/tmp/dcref/compose.yaml".into(),
        }
    }

    #[test]
    fn table_and_json_like_docker_compose() {
        assert_eq!(
            render_table(&[stack("dcref", "exited(2), running(3)")]),
            "NAME                STATUS                  CONFIG FILES\n\
             dcref               exited(2), running(3)   /tmp/dcref/compose.yaml\n"
        );
        assert_eq!(
            render_json(&[stack("dcref", "running(3)")]).unwrap(),
            "[{\"Name\":\"dcref\",\"Status\":\"running(3)\",\"ConfigFiles\":\"/tmp/dcref/compose.yaml\"}]\n"
        );
        assert_eq!(render_json(&[]).unwrap(), "[]\n");
    }

    #[test]
    fn filters_are_name_patterns() {
        let p = name_filters(&["name=dc".into()]).unwrap();
        assert!(matches("dcref", &p) && matches("abdc", &p) && !matches("web", &p));
        let anchored = name_filters(&["name=^web$".into(), "name=db".into()]).unwrap();
        assert!(matches("web", &anchored) && matches("mydb", &anchored));
        assert!(!matches("webapp", &anchored));
        assert_eq!(
            name_filters(&["status=running".into()])
                .unwrap_err()
                .to_string(),
            "invalid filter 'status'"
        );
        assert_eq!(
            name_filters(&["name".into()]).unwrap_err().to_string(),
            "invalid argument \"name\" for \"--filter\" flag: bad format of filter (expected name=value)"
        );
        let broken = name_filters(&["name=[".into()]).unwrap();
        assert!(!matches("web", &broken) && matches("[", &broken));
    }
}
