//! Warnings as docker compose logs them (logrus's text formatter on stderr), for messages that
//! are not progress events, like the orphan-containers warning:
//! `WARN[0000] Found orphan containers ...` on a terminal, else
//! `time="2026-11-23T03:27:00Z" level=warning msg="Found orphan containers ..."`.

use std::time::{Duration, SystemTime};

use super::gofmt::{Zone, rfc3339_nano_fixed};
use crate::compose::template::go_quote;

/// How the warning is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarnStyle {
    /// stderr is a terminal: coloured level and seconds since the program started.
    Terminal { since_start: Duration },
    /// Otherwise: `key=value` pairs with the wall-clock time in `zone`.
    Text { now: SystemTime, zone: Zone },
}

/// The warning line, newline included.
pub fn warning_line(msg: &str, style: &WarnStyle) -> String {
    let msg = msg.strip_suffix('\n').unwrap_or(msg);
    match style {
        WarnStyle::Terminal { since_start } => format!(
            "\x1b[33mWARN\x1b[0m[{:04}] {msg:<44} \n",
            since_start.as_secs()
        ),
        WarnStyle::Text { now, zone } => {
            let time = rfc3339_seconds(*now, zone);
            format!(
                "time={} level=warning msg={}\n",
                quote_if_needed(&time),
                quote_if_needed(msg)
            )
        }
    }
}

/// RFC 3339 to the second (`2006-01-02T15:04:05Z07:00`).
fn rfc3339_seconds(t: SystemTime, zone: &Zone) -> String {
    let nano = rfc3339_nano_fixed(t, zone);
    // `2006-01-02T15:04:05` + `.000000000` + zone: drop the fraction.
    format!("{}{}", &nano[..19], &nano[29..])
}

/// logrus quotes a value unless it is made only of letters, digits and `-._/@^+`.
fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain { s.to_owned() } else { go_quote(s) }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const ORPHANS: &str = "Found orphan containers ([st-fresh-1 st-wide-1 st-sick-1 st-flappy-1 st-slow-1]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.";

    #[test]
    fn text_style_matches_docker_capture() {
        // `docker compose -p st ps 2>&1 >/dev/null` with a service removed from the file.
        let now = UNIX_EPOCH + Duration::from_secs(1_795_392_000 + 3 * 3600 + 27 * 60);
        let style = WarnStyle::Text {
            now,
            zone: Zone::Utc,
        };
        assert_eq!(
            warning_line(ORPHANS, &style),
            format!("time=\"2026-11-23T03:27:00Z\" level=warning msg=\"{ORPHANS}\"\n")
        );
    }

    #[test]
    fn terminal_style_matches_docker_capture() {
        let style = WarnStyle::Terminal {
            since_start: Duration::from_millis(400),
        };
        assert_eq!(
            warning_line(ORPHANS, &style),
            format!("\x1b[33mWARN\x1b[0m[0000] {ORPHANS} \n")
        );
        let short = warning_line("short", &style);
        assert_eq!(
            short,
            format!("\x1b[33mWARN\x1b[0m[0000] short{} \n", " ".repeat(39))
        );
    }

    #[test]
    fn plain_values_are_not_quoted() {
        assert_eq!(quote_if_needed("abc-1.2/x@y"), "abc-1.2/x@y");
        assert_eq!(quote_if_needed(""), "\"\"");
        assert_eq!(quote_if_needed("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
