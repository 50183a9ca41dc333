//! `ps` renderings against outputs captured from docker compose v2.40.3 (dockerd 20.10) in
//! `testdata/`. Each test rebuilds the captured containers as rows, with the clock set inside
//! the second the capture was taken.

use super::*;

/// 2026-11-23 at `h:m:s` UTC (the day of the captures).
fn at(h: u64, m: u64, s: f64) -> SystemTime {
    let midnight = 1_795_392_000;
    UNIX_EPOCH + Duration::from_secs(midnight + h * 3600 + m * 60) + Duration::from_secs_f64(s)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn publisher(url: &str, target: u16, published: u16, proto: &str) -> Publisher {
    Publisher {
        url: url.into(),
        target_port: target,
        published_port: published,
        protocol: proto.into(),
    }
}

fn row(project: &str, service: &str, id: &str, argv: &[&str], created: SystemTime) -> PsRow {
    PsRow {
        id: id.into(),
        name: format!("{project}-{service}-1"),
        image: "lab/busybox:1".into(),
        command: PsRow::command_from_argv(&strings(argv)),
        project: project.into(),
        service: service.into(),
        created,
        state: ContainerState::Running,
        health: Health::None,
        exit_code: 0,
        started_at: None,
        finished_at: None,
        publishers: Vec::new(),
        labels: Vec::new(),
        local_volumes: 0,
        mounts: Vec::new(),
        networks: vec![format!("{project}_default")],
        size_rw: 0,
        size_root_fs: 0,
    }
}

/// The `demo` project: `db` (exposes 5432), `job` (exited 3), `web` (healthy, ports
/// `8080:80` and `127.0.0.1:9000-9002:9000-9002`), listed in engine order, not name order.
fn demo_rows() -> Vec<PsRow> {
    let created = at(3, 25, 33.48);
    let mut web = row(
        "demo",
        "web",
        "a0e048df7619cdd7bdb82237266fcaa43155ea91539935d1037b0e5cdb9f1eff",
        &["httpd", "-f", "-p", "80", "-h", "/var/www"],
        created,
    );
    web.health = Health::Healthy;
    web.started_at = Some(at(3, 25, 34.751));
    web.publishers = vec![
        publisher("0.0.0.0", 80, 8080, "tcp"),
        publisher("::", 80, 8080, "tcp"),
        publisher("127.0.0.1", 9000, 9000, "tcp"),
        publisher("127.0.0.1", 9001, 9001, "tcp"),
        publisher("127.0.0.1", 9002, 9002, "tcp"),
    ];
    let mut db = row(
        "demo",
        "db",
        "7da0c6aab0473d46e4fdfad01fe4bdcd967968d6cd8b7f21037f8a4d94240959",
        &[
            "sh",
            "-c",
            "echo db says hello; echo to stderr >&2; sleep 3600",
        ],
        created,
    );
    db.started_at = Some(at(3, 25, 34.338));
    db.publishers = vec![publisher("", 5432, 0, "tcp")];
    let mut job = row(
        "demo",
        "job",
        "183ec77b29ade51dff4a9baec8620f165050f9554c4e9114ecfcff35b3a03a4e",
        &["sh", "-c", "echo job line 1; echo job line 2; exit 3"],
        created,
    );
    job.state = ContainerState::Exited;
    job.exit_code = 3;
    job.started_at = Some(at(3, 25, 34.453));
    job.finished_at = Some(at(3, 25, 34.452));
    vec![web, db, job]
}

/// Gives each row the labels of the captured JSON line with its name (docker's order is random).
fn with_captured_labels(mut rows: Vec<PsRow>, jsonl: &str) -> Vec<PsRow> {
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = v["Name"].as_str().unwrap();
        let labels = v["Labels"].as_str().unwrap();
        let row = rows.iter_mut().find(|r| r.name == name).unwrap();
        row.labels = labels
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
    }
    rows
}

fn view(format: &str, trunc: bool, now: SystemTime) -> PsView {
    PsView {
        format: PsFormat::parse(format).unwrap(),
        trunc,
        now,
        zone: Zone::Utc,
    }
}

fn render(rows: &[PsRow], view: &PsView) -> String {
    let mut out = Vec::new();
    write_ps(&mut out, rows, view).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn default_table_matches_docker() {
    let got = render(&demo_rows(), &view("table", true, at(3, 25, 37.9)));
    assert_eq!(got, include_str!("testdata/ps-demo-table.txt"));
}

#[test]
fn no_trunc_table_matches_docker() {
    let got = render(&demo_rows(), &view("", false, at(3, 25, 38.2)));
    assert_eq!(got, include_str!("testdata/ps-demo-notrunc.txt"));
}

#[test]
fn json_lines_match_docker() {
    let captured = include_str!("testdata/ps-demo.jsonl");
    let rows = with_captured_labels(demo_rows(), captured);
    assert_eq!(
        render(&rows, &view("json", true, at(3, 25, 38.2))),
        captured
    );

    let captured = include_str!("testdata/ps-demo-notrunc.jsonl");
    let rows = with_captured_labels(demo_rows(), captured);
    assert_eq!(
        render(&rows, &view("json", false, at(3, 25, 38.2))),
        captured
    );
}

#[test]
fn quiet_and_services_match_docker() {
    let mut out = Vec::new();
    write_quiet(&mut out, &demo_rows()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("testdata/ps-demo-quiet.txt")
    );
    let mut out = Vec::new();
    write_services(&mut out, &demo_rows()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("testdata/ps-demo-services.txt")
    );
    let mut out = Vec::new();
    write_services(&mut out, &[]).unwrap();
    assert_eq!(out, b"\n");
}

#[test]
fn custom_templates_match_docker() {
    let now = at(3, 25, 38.9);
    let got = render(&demo_rows(), &view("{{.Name}} {{.State}}", true, now));
    assert_eq!(got, include_str!("testdata/ps-demo-custom.txt"));

    let f = r"table {{.Name}}\t{{.Health}}\t{{.ExitCode}}\t{{.Publishers}}";
    let got = render(&demo_rows(), &view(f, true, now));
    assert_eq!(got, include_str!("testdata/ps-demo-custom-table.txt"));

    let f = r"table {{.ID}}\t{{.Service}}\t{{.Image}}\t{{.Project}}\t{{.CreatedAt}}\t{{.State}}\t{{.Status}}\t{{.Size}}\t{{.LocalVolumes}}\t{{.Mounts}}\t{{.Networks}}\t{{.Names}}\t{{.RunningFor}}";
    let got = render(&demo_rows(), &view(f, true, now));
    assert_eq!(got, include_str!("testdata/ps-demo-custom-table2.txt"));
}

#[test]
fn unknown_field_is_docker_error_and_prints_nothing() {
    let mut out = Vec::new();
    let err = write_ps(
        &mut out,
        &demo_rows(),
        &view("{{.Nope}}", true, at(3, 26, 0.0)),
    )
    .unwrap_err();
    assert_eq!(
        format!("{err}\n"),
        include_str!("testdata/ps-unknown-field.err")
    );
    assert!(out.is_empty());
}

/// The `st` project: one container in each state docker can show.
fn state_rows() -> Vec<PsRow> {
    let created = at(3, 25, 3.91);
    let sleep = ["sleep", "3600"];
    let mut flappy = row("st", "flappy", "f1", &["sh", "-c", "exit 1"], created);
    flappy.state = ContainerState::Restarting;
    flappy.exit_code = 1;
    flappy.started_at = Some(at(3, 25, 14.332));
    flappy.finished_at = Some(at(3, 25, 14.361));
    let mut fresh = row("st", "fresh", "f2", &sleep, at(3, 25, 5.752));
    fresh.state = ContainerState::Created;
    let mut paused = row("st", "paused", "f3", &sleep, created);
    paused.state = ContainerState::Paused;
    paused.started_at = Some(at(3, 25, 5.463));
    let mut sick = row("st", "sick", "f4", &sleep, created);
    sick.health = Health::Unhealthy;
    sick.started_at = Some(at(3, 25, 5.106));
    let mut slow = row("st", "slow", "f5", &sleep, created);
    slow.health = Health::Starting;
    slow.started_at = Some(at(3, 25, 5.096));
    let mut wide = row("st", "wide", "f6", &sleep, created);
    wide.started_at = Some(at(3, 25, 5.608));
    wide.publishers = vec![
        publisher("127.0.0.1", 6000, 32770, "tcp"),
        publisher("0.0.0.0", 6001, 32769, "tcp"),
        publisher("::", 6001, 32769, "tcp"),
        publisher("::1", 6500, 6500, "tcp"),
    ];
    for port in 7000..=7002 {
        wide.publishers
            .push(publisher("0.0.0.0", port, port, "udp"));
        wide.publishers.push(publisher("::", port, port, "udp"));
    }
    vec![wide, slow, sick, paused, fresh, flappy]
}

#[test]
fn every_state_and_health_renders_like_docker() {
    let now = at(3, 25, 16.8);
    let got = render(&state_rows(), &view("table", true, now));
    assert_eq!(got, include_str!("testdata/ps-states-table.txt"));
    let got = render(&state_rows(), &view("table", false, now));
    assert_eq!(got, include_str!("testdata/ps-states-notrunc.txt"));

    let captured = include_str!("testdata/ps-states.jsonl");
    let mut rows = with_captured_labels(state_rows(), captured);
    for line in captured.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let r = rows.iter_mut().find(|r| r.name == v["Name"]).unwrap();
        r.id = v["ID"].as_str().unwrap().to_string();
    }
    assert_eq!(render(&rows, &view("json", true, now)), captured);
}

/// The `vol` project: a named volume, two binds, a label with HTML characters and a command
/// with quotes, a tab and a non-ASCII letter.
fn vol_row() -> PsRow {
    let mut app = row(
        "vol",
        "app",
        "52dd32e32b332780059ad59a2d438f4e571673ea260f44d9ef65c24f6e50790f",
        &["sh", "-c", "echo \"quoted\" é\ttab && sleep 3600"],
        at(3, 25, 43.454),
    );
    app.started_at = Some(at(3, 25, 43.999));
    app.local_volumes = 1;
    app.mounts = strings(&["/tmp/cap/vol/data", "vol_appdata", "/tmp/cap/vol/data"]);
    app
}

#[test]
fn mounts_quoting_and_html_escaping_match_docker() {
    let now = at(3, 25, 45.5);
    let rows = [vol_row()];
    assert_eq!(
        render(&rows, &view("", true, now)),
        include_str!("testdata/ps-vol-table.txt")
    );
    for (file, trunc) in [
        (include_str!("testdata/ps-vol.jsonl"), true),
        (include_str!("testdata/ps-vol-notrunc.jsonl"), false),
    ] {
        let rows = with_captured_labels(vec![vol_row()], file);
        assert_eq!(render(&rows, &view("json", trunc, now)), file);
    }
    let captured = include_str!("testdata/ps-vol-custom.txt");
    let rows = with_captured_labels(vec![vol_row()], &custom_labels_as_json(captured));
    let f = r"table {{.Name}}\t{{.Mounts}}\t{{.LocalVolumes}}\t{{.Command}}\t{{.Labels}}";
    assert_eq!(render(&rows, &view(f, true, now)), captured);
}

/// The labels column of the captured custom table, as a JSON line `with_captured_labels` reads.
fn custom_labels_as_json(table: &str) -> String {
    let row = table.lines().nth(1).unwrap();
    let labels = row.rsplit("   ").next().unwrap();
    serde_json::json!({"Name": "vol-app-1", "Labels": labels}).to_string()
}

#[test]
fn status_strings_follow_moby() {
    let now = at(12, 0, 0.0);
    let mut r = row("p", "s", "x", &["true"], at(11, 0, 0.0));
    r.state = ContainerState::Exited;
    r.finished_at = Some(at(11, 57, 0.0));
    assert_eq!(r.status(now), "Exited (0) 3 minutes ago");
    r.finished_at = None;
    assert_eq!(r.status(now), "");
    r.state = ContainerState::Dead;
    assert_eq!(r.status(now), "Dead");
    r.state = ContainerState::Removing;
    assert_eq!(r.status(now), "Removal In Progress");
    r.state = ContainerState::Running;
    r.started_at = Some(at(11, 59, 59.5));
    assert_eq!(r.status(now), "Up Less than a second");
    r.started_at = Some(at(10, 0, 0.0));
    r.health = Health::Healthy;
    assert_eq!(r.status(now), "Up 2 hours (healthy)");
}

#[test]
fn command_from_argv_quotes_arguments_with_spaces() {
    let argv = strings(&["sh", "-c", "echo hi", "x"]);
    assert_eq!(PsRow::command_from_argv(&argv), "sh -c 'echo hi' x");
    assert_eq!(PsRow::command_from_argv(&strings(&["my prog"])), "my prog");
}

#[test]
fn ellipsis_counts_display_columns() {
    assert_eq!(ellipsis("short", 20), "short");
    assert_eq!(
        ellipsis("abcdefghijklmnopqrstuvwxyz", 20),
        "abcdefghijklmnopqrs…"
    );
    assert_eq!(ellipsis("/tmp/cap/vol/data", 15), "/tmp/cap/vol/d…");
    assert_eq!(ellipsis("日本語のテキストです", 8), "日本語…");
}

#[test]
fn no_containers_prints_header_or_nothing() {
    // docker compose 2.40.3 on a project without containers.
    let now = at(4, 0, 0.0);
    assert_eq!(
        render(&[], &view("", true, now)),
        "NAME      IMAGE     COMMAND   SERVICE   CREATED   STATUS    PORTS\n"
    );
    assert_eq!(render(&[], &view("json", true, now)), "");
    // An unknown field only fails when a row is printed.
    assert_eq!(render(&[], &view("{{.Nope}}", true, now)), "");
}
