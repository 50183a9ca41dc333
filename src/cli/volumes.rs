//! `rcompose volumes [SERVICE...]`: the project's volumes, printed with docker's volume
//! formatter (`DRIVER  VOLUME NAME` table, `json` lines, Go templates, `-q` names).

use anyhow::bail;
use clap::Args;

use super::GlobalArgs;
use super::output::{Fields, Template, Value, align};
use super::session;
use crate::engine::progress::Quiet;
use crate::engine::query::VolumeSummary;

#[derive(Debug, Args)]
pub struct VolumesArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long, default_value = "table")]
    pub format: String,
    pub services: Vec<String>,
}

const DEFAULT_TABLE: &str = "{{.Driver}}\t{{.Name}}";

/// One volume as docker's `volumeContext` shows it.
struct VolumeContext<'a>(&'a VolumeSummary);

impl VolumeContext<'_> {
    fn labels(&self) -> String {
        let l: Vec<String> = self
            .0
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        l.join(",")
    }

    fn text(&self, name: &str) -> Option<String> {
        let v = self.0;
        Some(match name {
            "Name" => v.name.clone(),
            "Driver" | "Scope" => "local".into(),
            "Mountpoint" => v.mountpoint.display().to_string(),
            "Labels" => self.labels(),
            "Links" | "Size" | "Group" | "Availability" | "Status" => "N/A".into(),
            _ => return None,
        })
    }
}

fn header_title(field: &str) -> Option<&'static str> {
    Some(match field {
        "Name" => "VOLUME NAME",
        "Driver" => "DRIVER",
        "Scope" => "SCOPE",
        "Mountpoint" => "MOUNTPOINT",
        "Labels" => "LABELS",
        "Links" => "LINKS",
        "Size" => "SIZE",
        "Group" => "GROUP",
        "Availability" => "AVAILABILITY",
        "Status" => "STATUS",
        _ => return None,
    })
}

/// Go's `json.Marshal` escapes these even inside strings.
fn go_html_escape(json: String) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

impl Fields for VolumeContext<'_> {
    const TYPE_NAME: &'static str = "*formatter.volumeContext";

    fn field(&self, name: &str) -> Option<Value> {
        self.text(name).map(Value::Str)
    }

    fn json(&self) -> String {
        const FIELDS: [&str; 10] = [
            "Availability",
            "Driver",
            "Group",
            "Labels",
            "Links",
            "Mountpoint",
            "Name",
            "Scope",
            "Size",
            "Status",
        ];
        let map: serde_json::Map<String, serde_json::Value> = FIELDS
            .iter()
            .map(|f| (f.to_string(), self.text(f).unwrap_or_default().into()))
            .collect();
        go_html_escape(serde_json::Value::Object(map).to_string())
    }

    fn label(&self, key: &str) -> String {
        self.0.labels.get(key).cloned().unwrap_or_default()
    }
}

/// Renders `volumes` with `--format` as docker's formatter context does.
pub fn render(volumes: &[VolumeSummary], format: &str) -> anyhow::Result<String> {
    let (table, source) = match format {
        "" | "table" => (true, DEFAULT_TABLE.to_string()),
        "json" => (false, "{{json .}}".to_string()),
        f => match f.strip_prefix("table") {
            Some(rest) => (true, prepare(rest)),
            None => (false, prepare(f)),
        },
    };
    let template = Template::parse(&source)?;
    let mut out = String::new();
    if table {
        out.push_str(&template.execute_header(header_title));
        out.push('\n');
    }
    for v in volumes {
        out.push_str(&template.execute(&VolumeContext(v))?);
        out.push('\n');
    }
    Ok(if table { align(&out, 10, 3) } else { out })
}

fn prepare(format: &str) -> String {
    format
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

pub fn volumes(global: &GlobalArgs, args: &VolumesArgs) -> anyhow::Result<i32> {
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    if let Some(bad) = args.services.iter().find(|n| s.ctx.service(n).is_none()) {
        bail!("no such service: {bad}");
    }
    let volumes = s.engine.project_volumes(&s.ctx, &args.services)?;
    let out = if args.quiet {
        volumes.iter().map(|v| format!("{}\n", v.name)).collect()
    } else {
        render(&volumes, &args.format)?
    };
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume() -> VolumeSummary {
        VolumeSummary {
            name: "dcref_data".into(),
            labels: [
                ("com.docker.compose.project", "dcref"),
                ("com.docker.compose.volume", "data"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
            mountpoint: "/var/lib/rcompose/volumes/dcref_data/_data".into(),
        }
    }

    #[test]
    fn default_table_like_docker() {
        assert_eq!(
            render(&[volume()], "table").unwrap(),
            "DRIVER    VOLUME NAME\nlocal     dcref_data\n"
        );
        assert_eq!(render(&[], "table").unwrap(), "DRIVER    VOLUME NAME\n");
    }

    #[test]
    fn json_lines_and_templates() {
        assert_eq!(
            render(&[volume()], "json").unwrap(),
            "{\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"com.docker.compose.project=dcref,com.docker.compose.volume=data\",\"Links\":\"N/A\",\"Mountpoint\":\"/var/lib/rcompose/volumes/dcref_data/_data\",\"Name\":\"dcref_data\",\"Scope\":\"local\",\"Size\":\"N/A\",\"Status\":\"N/A\"}\n"
        );
        assert_eq!(
            render(
                &[volume()],
                "{{.Name}} {{.Label \"com.docker.compose.volume\"}}"
            )
            .unwrap(),
            "dcref_data data\n"
        );
        assert_eq!(
            render(&[volume()], "table {{.Name}}\\t{{.Scope}}").unwrap(),
            "VOLUME NAME   SCOPE\ndcref_data    local\n"
        );
        assert!(render(&[volume()], "{{.Nope}}").is_err());
    }
}
