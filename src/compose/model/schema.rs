//! [`input_schema`]: a JSON Schema of the Compose input syntax (short forms included), for editors.

use schemars::generate::SchemaSettings;

use super::project::Project;

/// The JSON Schema (draft 2020-12) of a Compose file as this model reads it.
pub fn input_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Project>();
    schema.to_value()
}
