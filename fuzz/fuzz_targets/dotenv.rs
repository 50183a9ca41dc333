//! Arbitrary bytes as an env file: parsing may fail, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lookup = |k: &str| (k == "A").then(|| "1".to_string());
    let _ = rcompose::compose::dotenv::parse(text, &lookup);
    let _ = rcompose::compose::dotenv::parse_raw(text);
    let _ = rcompose::compose::template::substitute(text, &lookup);
});
