//! Property tests: reference normalization is idempotent, archive path cleaning never yields an
//! escaping path, and the unpacker never panics or writes outside its target on garbage input.

use proptest::prelude::*;
use rcompose::runtime::image::Reference;
use rcompose::runtime::image::unpack::{UnpackOptions, clean, unpack_layer};

proptest! {
    #[test]
    fn reference_normalization_is_idempotent(
        domain in prop::option::of(prop_oneof![Just("localhost:5000"), Just("ghcr.io"), Just("docker.io"), Just("127.0.0.1:1")]),
        path in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}([._-][a-z0-9]{1,4})?){0,3}",
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
    ) {
        let mut s = String::new();
        if let Some(d) = domain { s.push_str(d); s.push('/'); }
        s.push_str(&path);
        if let Some(t) = &tag { s.push(':'); s.push_str(t); }
        let r = Reference::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Reference::parse(&r.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &r);
        let familiar = Reference::parse(&r.familiar()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&familiar, &r);
        prop_assert_eq!(r.tag(), Some(tag.as_deref().unwrap_or("latest")));
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,80}") {
        let _ = Reference::parse(&s);
    }

    #[test]
    fn cleaned_paths_never_escape(parts in prop::collection::vec(prop_oneof![Just("..".to_string()), Just(".".to_string()), Just("".to_string()), "[a-z]{1,3}"], 0..10), abs in any::<bool>()) {
        let mut name = parts.join("/");
        if abs { name.insert(0, '/'); }
        if let Ok(comps) = clean(name.as_bytes()) {
            for c in comps {
                prop_assert!(c != b".." && c != b"." && !c.is_empty() && !c.contains(&b'/'));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn unpack_survives_garbage(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let target = dir.path().join("root");
        std::fs::create_dir(&target).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opts = UnpackOptions { overlay_whiteouts: true, preserve_owner: false };
        let _ = unpack_layer(&data[..], &target, "garbage", &opts);
        let entries: Vec<_> = std::fs::read_dir(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?.collect();
        prop_assert_eq!(entries.len(), 1);
    }
}
