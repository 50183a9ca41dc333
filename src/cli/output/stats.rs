//! `stats` as docker's CLI prints it (docker compose hands its containers to that code): the
//! table, `json` lines or a Go template per container, and the redraw of the streaming view.

use std::collections::BTreeMap;

use super::gofmt::{go_format_g, human_size_with_precision};
use super::tabwriter::align;
use super::template::{Fields, Template, TemplateError, Value};
use crate::runtime::container::stats::Usage;

/// One container's line.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    /// Full container id.
    pub id: String,
    pub name: String,
    /// `None`: not running (docker shows zeros).
    pub usage: Option<Usage>,
}

/// `--format`: the default or a custom table, a template, or JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsFormat {
    Table(Template),
    Template(Template),
    Json,
}

const DEFAULT_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

impl StatsFormat {
    pub fn parse(format: &str) -> Result<StatsFormat, TemplateError> {
        let prepare = |f: &str| {
            f.trim_matches(' ')
                .replace("\\t", "\t")
                .replace("\\n", "\n")
        };
        match format {
            "" | "table" => Ok(StatsFormat::Table(Template::parse(DEFAULT_TABLE)?)),
            "json" => Ok(StatsFormat::Json),
            f => match f.strip_prefix("table") {
                Some(rest) => Ok(StatsFormat::Table(Template::parse(&prepare(rest))?)),
                None => Ok(StatsFormat::Template(Template::parse(&prepare(f))?)),
            },
        }
    }
}

/// go-units `BytesSize`: binary units, `%.4g` ("676KiB", "23.54GiB").
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_format_g(size, 4), UNITS[i])
}

struct RowContext<'a> {
    row: &'a StatsRow,
    trunc: bool,
}

impl RowContext<'_> {
    fn usage(&self) -> Usage {
        self.row.usage.clone().unwrap_or_default()
    }

    fn fields(&self) -> BTreeMap<&'static str, String> {
        let u = self.usage();
        let id = if self.trunc {
            self.row.id.chars().take(12).collect()
        } else {
            self.row.id.clone()
        };
        let pair = |a: f64, b: f64| {
            format!(
                "{} / {}",
                human_size_with_precision(a, 3),
                human_size_with_precision(b, 3)
            )
        };
        BTreeMap::from([
            ("BlockIO", pair(u.block_read, u.block_write)),
            ("CPUPerc", format!("{:.2}%", u.cpu_percent)),
            ("Container", self.row.id.clone()),
            ("ID", id),
            ("MemPerc", format!("{:.2}%", u.memory_percent)),
            (
                "MemUsage",
                format!("{} / {}", bytes_size(u.memory), bytes_size(u.memory_limit)),
            ),
            ("Name", self.row.name.clone()),
            ("NetIO", pair(u.net_rx, u.net_tx)),
            ("PIDs", u.pids.to_string()),
        ])
    }
}

impl Fields for RowContext<'_> {
    const TYPE_NAME: &'static str = "*container.statsContext";

    fn field(&self, name: &str) -> Option<Value> {
        self.fields().remove(name).map(Value::Str)
    }

    fn json(&self) -> String {
        serde_json::to_string(&self.fields()).unwrap_or_default()
    }

    fn label(&self, _: &str) -> String {
        String::new()
    }
}

fn header_title(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        _ => return None,
    })
}

/// The text of one snapshot (rows in the given order).
pub fn render(
    rows: &[StatsRow],
    format: &StatsFormat,
    trunc: bool,
) -> Result<String, TemplateError> {
    let mut body = String::new();
    for row in rows {
        let ctx = RowContext { row, trunc };
        match format {
            StatsFormat::Json => body.push_str(&ctx.json()),
            StatsFormat::Table(t) | StatsFormat::Template(t) => body.push_str(&t.execute(&ctx)?),
        }
        body.push('\n');
    }
    Ok(match format {
        StatsFormat::Table(t) => align(
            &format!("{}\n{body}", t.execute_header(header_title)),
            10,
            3,
        ),
        _ => body,
    })
}

/// One frame of the streaming view: cursor home, each line then erase-to-end-of-line, then
/// erase below (fewer containers than before), as docker's CLI redraws.
pub fn frame(text: &str) -> String {
    let mut out = String::from("\x1b[H");
    for line in text.split('\n') {
        out.push_str(line);
        out.push_str(" \x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<StatsRow> {
        vec![
            StatsRow {
                id: "bf6636e69690bab04e70f0166eb81a2fdba20038e32fcf75c5a6af8027787183".into(),
                name: "refevs-worker-1".into(),
                usage: None,
            },
            StatsRow {
                id: "baf143b4b7378d18493b42b641b9179246f4077721ee9856d8a061577108ecf6".into(),
                name: "refevs-web-1".into(),
                usage: Some(Usage {
                    cpu_percent: 0.8,
                    memory: 692_224.0,
                    memory_limit: 25_276_514_304.0,
                    memory_percent: 0.0027,
                    net_rx: 1110.0,
                    net_tx: 0.0,
                    block_read: 0.0,
                    block_write: 0.0,
                    pids: 1,
                }),
            },
        ]
    }

    /// Captured from docker compose v2.40.3 (`stats --no-stream -a`).
    #[test]
    fn default_table_matches_docker() {
        let f = StatsFormat::parse("table").unwrap();
        assert_eq!(
            render(&rows(), &f, true).unwrap(),
            "\
CONTAINER ID   NAME              CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O   PIDS
bf6636e69690   refevs-worker-1   0.00%     0B / 0B             0.00%     0B / 0B       0B / 0B     0
baf143b4b737   refevs-web-1      0.80%     676KiB / 23.54GiB   0.00%     1.11kB / 0B   0B / 0B     1
"
        );
    }

    #[test]
    fn json_and_templates_match_docker() {
        let j = render(&rows()[..1], &StatsFormat::Json, true).unwrap();
        assert_eq!(
            j,
            "{\"BlockIO\":\"0B / 0B\",\"CPUPerc\":\"0.00%\",\"Container\":\"bf6636e69690bab04e70f0166eb81a2fdba20038e32fcf75c5a6af8027787183\",\"ID\":\"bf6636e69690\",\"MemPerc\":\"0.00%\",\"MemUsage\":\"0B / 0B\",\"Name\":\"refevs-worker-1\",\"NetIO\":\"0B / 0B\",\"PIDs\":\"0\"}\n"
        );
        let t = StatsFormat::parse("table {{.Name}}\\t{{.MemUsage}}").unwrap();
        assert_eq!(
            render(&rows()[1..], &t, true).unwrap(),
            "NAME           MEM USAGE / LIMIT\nrefevs-web-1   676KiB / 23.54GiB\n"
        );
        let t = StatsFormat::parse("{{.Name}} {{.Nope}}").unwrap();
        assert!(render(&rows(), &t, true).is_err());
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(1_294_336.0), "1.234MiB");
        assert_eq!(frame("a\nb\n"), "\x1b[Ha \x1b[K\nb \x1b[K\n \x1b[K\n\x1b[J");
    }
}
