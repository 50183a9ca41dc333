//! Arbitrary bytes as a Compose file (read from stdin), through the whole loader: it may
//! reject the input, it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcompose::compose::{Host, LoadSettings, ProjectOptions, load_project};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let host = Host {
        cwd: std::env::temp_dir(),
        env: [("HOME".to_string(), "/home/fuzz".to_string()), ("A".to_string(), "1".to_string())].into_iter().collect(),
        stdin: Some(text.to_string()),
    };
    let opts = ProjectOptions {
        files: vec!["-".to_string()],
        project_name: Some("fuzz".to_string()),
        ..ProjectOptions::default()
    };
    if let Ok(loaded) = load_project(&opts, &host, &LoadSettings::default()) {
        let _ = loaded.for_output(true);
    }
});
