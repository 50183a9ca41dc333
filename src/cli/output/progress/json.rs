//! `--progress json`: one JSON object per event, `{"id":"Container p-web-1","status":"Created"}`
//! (docker compose's `jsonMessage`, empty fields left out, Go's HTML escaping).

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::Line;
use crate::compose::model::go_json_escape;
use crate::engine::progress::{Event, ProgressSink};

pub struct Json {
    out: Mutex<Box<dyn Write + Send>>,
    dry_run: bool,
}

impl Json {
    pub fn new(out: Box<dyn Write + Send>, dry_run: bool) -> Self {
        Json {
            out: Mutex::new(out),
            dry_run,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "dry-run", skip_serializing_if = "is_false")]
    dry_run: bool,
    #[serde(skip_serializing_if = "is_false")]
    tail: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    parent_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    text: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    current: i64,
    #[serde(skip_serializing_if = "is_zero")]
    total: i64,
    #[serde(skip_serializing_if = "is_zero")]
    percent: i64,
}

/// The JSON text of one event, newline included.
pub(super) fn json_line(line: &Line, dry_run: bool) -> String {
    let msg = Message {
        dry_run,
        tail: false,
        id: &line.id,
        parent_id: &line.parent_id,
        text: &line.text,
        status: &line.status_text,
        current: line.current,
        total: line.total,
        percent: line.percent,
    };
    let json = serde_json::to_string(&msg).unwrap_or_default();
    format!("{}\n", go_json_escape(&json))
}

impl ProgressSink for Json {
    fn event(&self, event: Event) {
        let text = json_line(&Line::from_event(&event), self.dry_run);
        if let Ok(mut out) = self.out.lock() {
            // Progress is best effort: a closed stderr must not fail the operation.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
}

/// How docker compose prints a command's final error under `--progress json`:
/// `{"error":true,"message":"..."}` and a newline.
pub fn error_json(message: &str) -> String {
    let json = serde_json::json!({ "error": true, "message": message }).to_string();
    format!("{}\n", go_json_escape(&json))
}
