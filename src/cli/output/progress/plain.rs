//! `--progress plain`: one line per event, ` Container p-web-1  Created` (Go's `Println` of
//! prefix, id, text and status, which is why lines start with a space).

use std::io::Write;
use std::sync::Mutex;

use super::{DRY_RUN_PREFIX, Line};
use crate::engine::progress::{Event, ProgressSink};

pub struct Plain {
    out: Mutex<Box<dyn Write + Send>>,
    dry_run: bool,
}

impl Plain {
    pub fn new(out: Box<dyn Write + Send>, dry_run: bool) -> Self {
        Plain {
            out: Mutex::new(out),
            dry_run,
        }
    }
}

/// The text of one plain line, newline included.
pub(super) fn plain_line(line: &Line, dry_run: bool) -> String {
    let prefix = if dry_run { DRY_RUN_PREFIX } else { "" };
    format!("{prefix} {} {} {}\n", line.id, line.text, line.status_text)
}

impl ProgressSink for Plain {
    fn event(&self, event: Event) {
        let text = plain_line(&Line::from_event(&event), self.dry_run);
        if let Ok(mut out) = self.out.lock() {
            // Progress is best effort: a closed stderr must not fail the operation.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
}
