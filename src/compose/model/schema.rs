//! [`input_schema`]: a JSON Schema of the Compose input syntax (short forms included), for editors.

use schemars::generate::SchemaSettings;

use super::project::Project;

/// The JSON Schema (draft 2020-12) of a Compose file as this model reads it.
pub fn input_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Project>();
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_describes_short_forms() {
        let schema = input_schema();
        let defs = &schema["$defs"];
        let service = &defs["ServiceConfig"];
        assert_eq!(service["additionalProperties"], false);
        let build = &service["properties"]["build"];
        assert!(build.to_string().contains("BuildConfigOrShort"), "{build}");
        assert!(defs["BuildConfigOrShort"]["oneOf"][0]["type"] == "string");
        assert!(
            service["properties"]["ports"]
                .to_string()
                .contains("PortInput")
        );
        assert_eq!(schema["patternProperties"]["^x-"], serde_json::json!({}));
        if let Ok(path) = std::env::var("RCOMPOSE_WRITE_SCHEMA") {
            std::fs::write(path, serde_json::to_string_pretty(&schema).unwrap()).unwrap();
        }
    }
}
