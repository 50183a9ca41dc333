//! Arbitrary text as a Dockerfile, as words to expand and as .dockerignore patterns: parsing
//! and matching may fail, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rcompose::runtime::build::dockerfile::{self, Instruction};
use rcompose::runtime::build::ignore::DockerIgnore;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lookup = |k: &str| match k {
        "A" => Some("1".to_string()),
        "EMPTY" => Some(String::new()),
        "SPACES" => Some(" a  b ".to_string()),
        _ => None,
    };
    if let Ok(df) = dockerfile::parse(text) {
        let escape = df.directives.escape;
        for stage in &df.stages {
            let _ = dockerfile::expand_word(&stage.from.image, &lookup, escape);
            for located in &stage.instructions {
                let _ = dockerfile::expand_instruction(&located.node, &lookup, escape);
                if let Instruction::Run(run) = &located.node {
                    for doc in &run.heredocs {
                        let _ = dockerfile::expand_heredoc(&doc.content, &lookup);
                    }
                }
            }
        }
    }
    for escape in ['\\', '`'] {
        let _ = dockerfile::expand_word(text, &lookup, escape);
        let _ = dockerfile::expand_words(text, &lookup, escape);
    }
    if let Ok(ignore) = DockerIgnore::parse(text) {
        for path in text.lines().take(16).chain(["a", "a/b/c", ".", "node_modules/x"]) {
            let _ = ignore.is_excluded(Path::new(path));
            let _ = ignore.may_include_under(Path::new(path));
        }
    }
});
