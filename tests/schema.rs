//! `schemas/compose.schema.json` is generated from the typed model, so editors validate Compose
//! files against exactly what rcompose accepts. This test fails when the file is stale;
//! `RCOMPOSE_UPDATE_SCHEMA=1 cargo test --test schema` rewrites it.

use std::path::Path;

#[test]
fn committed_schema_matches_the_model() {
    let generated = serde_json::to_string_pretty(&rcompose::compose::model::input_schema())
        .expect("schema serializes")
        + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/compose.schema.json");
    if std::env::var_os("RCOMPOSE_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run RCOMPOSE_UPDATE_SCHEMA=1 cargo test --test schema",
        path.display()
    );
}

/// Every service key of the Compose Specification's schema is a key of ours.
#[test]
fn schema_covers_every_service_key_of_the_spec() {
    let ours = rcompose::compose::model::input_schema();
    let spec_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/compose-spec.json");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).expect("spec schema"))
            .expect("spec JSON");
    let spec_keys = spec["definitions"]["service"]["properties"]
        .as_object()
        .expect("spec service properties");
    let our_keys = ours["$defs"]["ServiceConfig"]["properties"]
        .as_object()
        .expect("our ServiceConfig properties");
    let missing: Vec<&String> = spec_keys
        .keys()
        .filter(|k| !our_keys.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "service keys missing from our schema: {missing:?}"
    );
}
