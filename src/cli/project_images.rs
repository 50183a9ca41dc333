//! `rcompose images [SERVICE...]`: the images the project's containers were created from
//! (one-off and stopped containers included), as docker compose 2.40 lists them: a table
//! `CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED`, a JSON array, or `-q` IDs.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::GlobalArgs;
use super::output::{align, human_duration, human_size_with_precision};
use super::session;
use crate::engine::progress::Quiet;
use crate::engine::query::ContainerImage;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

/// `-q`: each image's hex ID once.
pub fn render_quiet(images: &[ContainerImage]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for i in images {
        let id = i.id.split_once(':').map_or(i.id.as_str(), |(_, h)| h);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.iter().map(|i| format!("{i}\n")).collect()
}

/// Go's `time.Time` JSON form (RFC 3339 with trailing zeros of the fraction dropped), in UTC.
pub fn go_json_time(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".into();
    };
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let frac = format!("{:09}", d.subsec_nanos());
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!("{}{dot}{frac}Z", dt.format("%Y-%m-%dT%H:%M:%S"))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonImage<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    container_name: &'a str,
    repository: &'a str,
    tag: &'a str,
    platform: &'a str,
    size: u64,
    last_tag_time: String,
}

/// `--format json`: one array (Go's `null` when empty) and the blank line docker compose adds.
pub fn render_json(images: &[ContainerImage]) -> anyhow::Result<String> {
    if images.is_empty() {
        return Ok("null\n\n".into());
    }
    let rows: Vec<JsonImage> = images
        .iter()
        .map(|i| JsonImage {
            id: &i.id,
            container_name: &i.container,
            repository: &i.repository,
            tag: &i.tag,
            platform: &i.platform,
            size: i.size,
            last_tag_time: go_json_time(i.last_tag_time),
        })
        .collect();
    Ok(format!("{}\n\n", serde_json::to_string(&rows)?))
}

/// The table, aligned like docker compose's `PrintPrettySection` (min width 20, padding 3).
pub fn render_table(images: &[ContainerImage], now: SystemTime) -> String {
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED\n");
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    for i in images {
        let hex = i.id.split_once(':').map_or(i.id.as_str(), |(_, h)| h);
        let age = i
            .last_tag_time
            .map(|t| now.duration_since(t).unwrap_or_default())
            .unwrap_or_else(|| now.duration_since(UNIX_EPOCH).unwrap_or_default());
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{} ago\n",
            i.container,
            or_none(&i.repository),
            or_none(&i.tag),
            i.platform,
            &hex[..hex.len().min(12)],
            human_size_with_precision(i.size as f64, 3),
            human_duration(age),
        ));
    }
    align(&text, 20, 3)
}

pub fn images(global: &GlobalArgs, args: &ImagesArgs) -> anyhow::Result<i32> {
    let format = args.format.to_lowercase();
    if !args.quiet && !matches!(format.as_str(), "table" | "pretty" | "" | "json") {
        bail!(
            "format value {:?} could not be parsed: parsing failed",
            args.format
        );
    }
    let s = session::open(global, &[], std::sync::Arc::new(Quiet))?;
    let images = s.engine.container_images(&s.ctx, &args.services)?;
    let out = if args.quiet {
        render_quiet(&images)
    } else if format == "json" {
        render_json(&images)?
    } else {
        render_table(&images, SystemTime::now())
    };
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn image(container: &str) -> ContainerImage {
        ContainerImage {
            container: container.into(),
            id: "sha256:646eb33b9859217829d1d51603f6a6bcf37b97feb69faf1c6b22421972e675ed".into(),
            repository: "lab/busybox".into(),
            tag: "1".into(),
            platform: "linux/amd64".into(),
            size: 1984378,
            last_tag_time: Some(UNIX_EPOCH + Duration::new(1_795_405_663, 941_200_659)),
        }
    }

    #[test]
    fn table_like_docker_compose() {
        let now = UNIX_EPOCH + Duration::new(1_795_405_663 + 52, 941_200_659);
        assert_eq!(
            render_table(
                &[image("dcref-job-1"), image("dcref-job-run-053db9e77ae6")],
                now
            ),
            "CONTAINER                    REPOSITORY          TAG                 PLATFORM            IMAGE ID            SIZE                CREATED\n\
             dcref-job-1                  lab/busybox         1                   linux/amd64         646eb33b9859        1.98MB              52 seconds ago\n\
             dcref-job-run-053db9e77ae6   lab/busybox         1                   linux/amd64         646eb33b9859        1.98MB              52 seconds ago\n"
        );
    }

    #[test]
    fn json_and_quiet_like_docker_compose() {
        assert_eq!(
            render_json(&[image("dcref-web-1")]).unwrap(),
            "[{\"ID\":\"sha256:646eb33b9859217829d1d51603f6a6bcf37b97feb69faf1c6b22421972e675ed\",\"ContainerName\":\"dcref-web-1\",\"Repository\":\"lab/busybox\",\"Tag\":\"1\",\"Platform\":\"linux/amd64\",\"Size\":1984378,\"LastTagTime\":\"2026-11-23T03:47:43.941200659Z\"}]\n\n"
        );
        assert_eq!(render_json(&[]).unwrap(), "null\n\n");
        assert_eq!(
            render_quiet(&[image("a"), image("b")]),
            "646eb33b9859217829d1d51603f6a6bcf37b97feb69faf1c6b22421972e675ed\n"
        );
        assert_eq!(
            go_json_time(Some(UNIX_EPOCH + Duration::from_millis(1500))),
            "1970-01-01T00:00:01.5Z"
        );
    }
}
