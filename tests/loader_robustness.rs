//! The loader never panics, whatever it is given: random text, and Compose-shaped documents
//! whose values are of every wrong type. (The long-running fuzzer lives in `fuzz/`.)

use proptest::prelude::*;
use rcompose::compose::{Host, LoadSettings, ProjectOptions, load_project};

fn load(text: &str) {
    let host = Host {
        cwd: std::env::temp_dir(),
        env: [
            ("HOME".to_string(), "/home/p".to_string()),
            ("SET".to_string(), "v".to_string()),
        ]
        .into_iter()
        .collect(),
        stdin: Some(text.to_string()),
    };
    let opts = ProjectOptions {
        files: vec!["-".into()],
        project_name: Some("prop".into()),
        ..ProjectOptions::default()
    };
    if let Ok(loaded) = load_project(&opts, &host, &LoadSettings::default()) {
        let _ = loaded.for_output(true);
    }
}

const KEYS: &[&str] = &[
    "image",
    "build",
    "ports",
    "volumes",
    "environment",
    "env_file",
    "depends_on",
    "command",
    "entrypoint",
    "healthcheck",
    "deploy",
    "networks",
    "extends",
    "labels",
    "ulimits",
    "tmpfs",
    "secrets",
    "configs",
    "scale",
    "cpus",
    "mem_limit",
    "restart",
    "profiles",
    "links",
    "network_mode",
    "extra_hosts",
    "devices",
    "stop_grace_period",
    "shm_size",
    "sysctls",
    "develop",
    "logging",
    "x-ext",
    "<<",
];

const VALUES: &[&str] = &[
    "x",
    "1",
    "-1",
    "1.5",
    "true",
    "null",
    "~",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "'80:80'",
    "'8000-8010:80'",
    "'[::1]:53:53/udp'",
    "'./a:/b:ro'",
    "'a:/a'",
    "'${SET}'",
    "'${UNSET:?boom}'",
    "'${'",
    "'$$'",
    "[1, [2]]",
    "{test: [CMD, x], interval: 1s}",
    "{condition: service_healthy}",
    "!reset []",
    "!override {}",
    "*a",
    "'99999'",
    "{service: s, file: /nonexistent}",
    "'2gb'",
    "'1m30s'",
    "[{target: 80, published: x}]",
];

fn service_doc() -> impl Strategy<Value = String> {
    let entry = (prop::sample::select(KEYS), prop::sample::select(VALUES));
    prop::collection::vec(entry, 0..8).prop_map(|entries| {
        let mut doc = String::from("x-a: &a {image: base}\nservices:\n  s:\n");
        for (k, v) in entries {
            doc += &format!("    {k}: {v}\n");
        }
        doc += "  t: {image: t, depends_on: [s]}\nnetworks: {n: {}}\nvolumes: {v: {}}\n";
        doc
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_text_never_panics(text in "[a-z0-9:{}\\[\\]\\-'\"$!&*<>|#,. \n]{0,300}") {
        load(&text);
    }

    #[test]
    fn compose_shaped_documents_never_panic(doc in service_doc()) {
        load(&doc);
    }
}
