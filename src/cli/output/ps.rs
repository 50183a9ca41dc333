//! `ps` output as docker compose v2.40 prints it: the `NAME IMAGE COMMAND SERVICE CREATED STATUS
//! PORTS` table, `--format json` (one object per line, docker's field names), Go-template formats
//! with or without the `table` prefix, `-q` and `--services`. Rows are plain data; the renderers
//! are pure given the current time and zone.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use thiserror::Error;

use super::gofmt::{Zone, go_time_string, human_since, human_size_with_precision};
use super::ports::{Publisher, displayable_ports};
use super::tabwriter::{align, is_wide};
use super::template::{Fields, Template, TemplateError, Value};
use crate::compose::model::go_json_escape;
use crate::compose::template::go_quote;

#[derive(Debug, Error)]
pub enum PsError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("write ps output: {0}")]
    Io(#[from] std::io::Error),
}

/// A container's state, as docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
        }
    }
}

/// Healthcheck status; `None` when the container has no healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// docker's name (`""` for none).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One container as `ps` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PsRow {
    /// Full 64-hex id (`-q` prints it whole, the table its first 12 characters).
    pub id: String,
    /// Container name (`myproj-web-1`).
    pub name: String,
    /// The image as the user wrote it (`busybox:1`).
    pub image: String,
    /// The command as docker's summary has it; see [`PsRow::command_from_argv`].
    pub command: String,
    pub project: String,
    pub service: String,
    pub created: SystemTime,
    pub state: ContainerState,
    pub health: Health,
    /// Last exit code (shown for exited, dead and restarting containers).
    pub exit_code: i32,
    /// When the process last started; `None` if it never did.
    pub started_at: Option<SystemTime>,
    /// When the process last exited; `None` if it never did.
    pub finished_at: Option<SystemTime>,
    pub publishers: Vec<Publisher>,
    /// In the order to print them (docker's order is random).
    pub labels: Vec<(String, String)>,
    /// Mounts whose volume driver is `local`.
    pub local_volumes: usize,
    /// Volume name, or source path for binds.
    pub mounts: Vec<String>,
    pub networks: Vec<String>,
    pub size_rw: i64,
    pub size_root_fs: i64,
}

impl PsRow {
    /// docker's summary command: the executable then its arguments, each argument that contains
    /// a space wrapped in single quotes (`sh -c 'echo hi'`).
    pub fn command_from_argv(argv: &[String]) -> String {
        let mut parts = Vec::with_capacity(argv.len());
        for (i, arg) in argv.iter().enumerate() {
            if i > 0 && arg.contains(' ') {
                parts.push(format!("'{arg}'"));
            } else {
                parts.push(arg.clone());
            }
        }
        parts.join(" ")
    }

    /// The `STATUS` column (moby's `State.String()`): `Up 5 seconds (healthy)`,
    /// `Exited (0) 3 minutes ago`, `Restarting (1) 2 seconds ago`, `Created`...
    pub fn status(&self, now: SystemTime) -> String {
        let since = |t: Option<SystemTime>| human_since(now, t.unwrap_or(UNIX_EPOCH));
        match self.state {
            ContainerState::Paused => format!("Up {} (Paused)", since(self.started_at)),
            ContainerState::Restarting => format!(
                "Restarting ({}) {} ago",
                self.exit_code,
                since(self.finished_at)
            ),
            ContainerState::Running => match self.health {
                Health::None => format!("Up {}", since(self.started_at)),
                Health::Starting => format!("Up {} (health: starting)", since(self.started_at)),
                h => format!("Up {} ({})", since(self.started_at), h.as_str()),
            },
            ContainerState::Removing => "Removal In Progress".into(),
            ContainerState::Dead => "Dead".into(),
            ContainerState::Created => "Created".into(),
            ContainerState::Exited => match self.finished_at {
                None => String::new(),
                Some(t) => format!("Exited ({}) {} ago", self.exit_code, human_since(now, t)),
            },
        }
    }
}

/// How `ps` prints: the default table, a Go template (with or without `table`), or JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsFormat {
    Table(Template),
    Template(Template),
    Json,
}

const DEFAULT_TABLE: &str =
    "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}";

impl PsFormat {
    /// Parses `--format` as docker does: `table` or empty is the default table, `json` is JSON
    /// lines, a `table` prefix makes a custom table; `\t` and `\n` escapes are expanded.
    pub fn parse(format: &str) -> Result<PsFormat, TemplateError> {
        match format {
            "" | "table" => Ok(PsFormat::Table(Template::parse(DEFAULT_TABLE)?)),
            "json" => Ok(PsFormat::Json),
            f => match f.strip_prefix("table") {
                Some(rest) => Ok(PsFormat::Table(Template::parse(&prepare(rest))?)),
                None => Ok(PsFormat::Template(Template::parse(&prepare(f))?)),
            },
        }
    }
}

fn prepare(format: &str) -> String {
    format
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// What rows are rendered with.
#[derive(Debug, Clone)]
pub struct PsView {
    pub format: PsFormat,
    /// Shorten ids, commands and mount names (off with `--no-trunc`).
    pub trunc: bool,
    pub now: SystemTime,
    /// Zone of the `CreatedAt` field (docker uses the local zone).
    pub zone: Zone,
}

/// Prints rows (sorted by name, as docker does) in `view.format`. Nothing is written if a row
/// fails the template.
pub fn write_ps(w: &mut impl Write, rows: &[PsRow], view: &PsView) -> Result<(), PsError> {
    let rows = sorted(rows);
    let mut body = String::new();
    for row in &rows {
        let ctx = RowContext { row, view };
        match &view.format {
            PsFormat::Json => body.push_str(&ctx.json()),
            PsFormat::Table(t) | PsFormat::Template(t) => body.push_str(&t.execute(&ctx)?),
        }
        body.push('\n');
    }
    let out = match &view.format {
        PsFormat::Table(t) => {
            let header = t.execute_header(header_title);
            align(&format!("{header}\n{body}"), 10, 3)
        }
        _ => body,
    };
    w.write_all(out.as_bytes())?;
    Ok(())
}

/// `ps -q`: full container ids, one per line.
pub fn write_quiet(w: &mut impl Write, rows: &[PsRow]) -> std::io::Result<()> {
    for row in sorted(rows) {
        writeln!(w, "{}", row.id)?;
    }
    Ok(())
}

/// `ps --services`: each service once, in container-name order (an empty line when none).
pub fn write_services(w: &mut impl Write, rows: &[PsRow]) -> std::io::Result<()> {
    let mut services: Vec<&str> = Vec::new();
    for row in sorted(rows) {
        if !services.contains(&row.service.as_str()) {
            services.push(&row.service);
        }
    }
    writeln!(w, "{}", services.join("\n"))
}

fn sorted(rows: &[PsRow]) -> Vec<&PsRow> {
    let mut rows: Vec<&PsRow> = rows.iter().collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

fn header_title(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CONTAINER ID",
        "Name" => "NAME",
        "Project" => "PROJECT",
        "Service" => "SERVICE",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "CreatedAt" => "CREATED AT",
        "RunningFor" => "CREATED",
        "Ports" => "PORTS",
        "State" => "STATE",
        "Status" => "STATUS",
        "Size" => "SIZE",
        "Labels" => "LABELS",
        _ => return None,
    })
}

/// docker compose's `ContainerContext`: a row's fields as templates and JSON see them.
struct RowContext<'a> {
    row: &'a PsRow,
    view: &'a PsView,
}

/// `--format json` object; fields in Go's sorted-map order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonRow<'a> {
    command: String,
    created_at: String,
    exit_code: i64,
    health: &'a str,
    #[serde(rename = "ID")]
    id: String,
    image: &'a str,
    labels: String,
    local_volumes: String,
    mounts: String,
    name: &'a str,
    names: &'a str,
    networks: String,
    ports: String,
    project: &'a str,
    publishers: Vec<&'a Publisher>,
    running_for: String,
    service: &'a str,
    size: String,
    state: &'a str,
    status: String,
}

impl RowContext<'_> {
    fn id(&self) -> String {
        if !self.view.trunc {
            return self.row.id.clone();
        }
        let id = self
            .row
            .id
            .split_once(':')
            .map_or(&*self.row.id, |(_, id)| id);
        id.chars().take(12).collect()
    }

    fn command(&self) -> String {
        if self.view.trunc {
            go_quote(&ellipsis(&self.row.command, 20))
        } else {
            go_quote(&self.row.command)
        }
    }

    fn running_for(&self) -> String {
        // docker keeps only whole seconds of the creation time.
        let created = whole_seconds(self.row.created);
        format!("{} ago", human_since(self.view.now, created))
    }

    /// docker reports the exit code only for stopped containers.
    fn exit_code(&self) -> i64 {
        match self.row.state {
            ContainerState::Exited | ContainerState::Dead => i64::from(self.row.exit_code),
            _ => 0,
        }
    }

    /// docker reports health only while the container runs.
    fn health(&self) -> &'static str {
        match self.row.state {
            ContainerState::Running => self.row.health.as_str(),
            _ => "",
        }
    }

    fn labels(&self) -> String {
        let pairs: Vec<String> = self
            .row
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(",")
    }

    fn mounts(&self) -> String {
        let names: Vec<String> = self
            .row
            .mounts
            .iter()
            .map(|m| {
                if self.view.trunc {
                    ellipsis(m, 15)
                } else {
                    m.clone()
                }
            })
            .collect();
        names.join(",")
    }

    fn size(&self) -> String {
        let rw = human_size_with_precision(self.row.size_rw as f64, 3);
        if self.row.size_root_fs > 0 {
            let virt = human_size_with_precision(self.row.size_root_fs as f64, 3);
            return format!("{rw} (virtual {virt})");
        }
        rw
    }

    /// compose sorts publishers by target port (keeping the engine's order otherwise).
    fn publishers(&self) -> Vec<&Publisher> {
        let mut p: Vec<&Publisher> = self.row.publishers.iter().collect();
        p.sort_by_key(|p| p.target_port);
        p
    }

    fn json_row(&self) -> JsonRow<'_> {
        let row = self.row;
        JsonRow {
            command: self.command(),
            created_at: go_time_string(row.created, &self.view.zone),
            exit_code: self.exit_code(),
            health: self.health(),
            id: self.id(),
            image: &row.image,
            labels: self.labels(),
            local_volumes: row.local_volumes.to_string(),
            mounts: self.mounts(),
            name: &row.name,
            names: &row.name,
            networks: row.networks.join(","),
            ports: displayable_ports(&row.publishers),
            project: &row.project,
            publishers: self.publishers(),
            running_for: self.running_for(),
            service: &row.service,
            size: self.size(),
            state: row.state.as_str(),
            status: row.status(self.view.now),
        }
    }
}

impl Fields for RowContext<'_> {
    const TYPE_NAME: &'static str = "*formatter.ContainerContext";

    fn field(&self, name: &str) -> Option<Value> {
        let row = self.row;
        let s = Value::Str;
        Some(match name {
            "ID" => s(self.id()),
            "Name" | "Names" => s(row.name.clone()),
            "Service" => s(row.service.clone()),
            "Project" => s(row.project.clone()),
            "Image" => s(row.image.clone()),
            "Command" => s(self.command()),
            "CreatedAt" => s(go_time_string(row.created, &self.view.zone)),
            "RunningFor" => s(self.running_for()),
            "ExitCode" => Value::Int(self.exit_code()),
            "State" => s(row.state.as_str().into()),
            "Status" => s(row.status(self.view.now)),
            "Health" => s(self.health().into()),
            "Publishers" => {
                let p = self.publishers();
                let text: Vec<String> = p.iter().map(|p| p.go_value()).collect();
                let json = serde_json::to_string(&p).unwrap_or_else(|_| "[]".into());
                Value::Composite {
                    text: format!("[{}]", text.join(" ")),
                    json,
                }
            }
            "Ports" => s(displayable_ports(&row.publishers)),
            "Labels" => s(self.labels()),
            "Mounts" => s(self.mounts()),
            "LocalVolumes" => s(row.local_volumes.to_string()),
            "Networks" => s(row.networks.join(",")),
            "Size" => s(self.size()),
            _ => return None,
        })
    }

    fn json(&self) -> String {
        // Go marshals this object with HTML escaping on (`->` becomes `-\u003e`).
        let json = serde_json::to_string(&self.json_row()).unwrap_or_default();
        go_json_escape(&json)
    }

    fn label(&self, key: &str) -> String {
        let found = self.row.labels.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// docker/cli's `Ellipsis`: at most `max` columns, the last one an ellipsis when cut.
fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    match max {
        0 => return String::new(),
        1 => return chars.first().map(|c| c.to_string()).unwrap_or_default(),
        _ => {}
    }
    if s.len() == chars.len() {
        if s.len() <= max {
            return s.to_owned();
        }
        return chars[..max - 1].iter().collect::<String>() + "…";
    }
    let mut cumulative = Vec::with_capacity(chars.len());
    let mut width = 0;
    for &c in &chars {
        width += if is_wide(c) { 2 } else { 1 };
        cumulative.push(width);
    }
    if width <= max {
        return s.to_owned();
    }
    for i in 0..cumulative.len().saturating_sub(1) {
        if cumulative[i] < max && cumulative[i + 1] >= max {
            return chars[..=i].iter().collect::<String>() + "…";
        }
    }
    s.to_owned()
}

#[cfg(test)]
#[path = "ps_tests.rs"]
mod tests;
