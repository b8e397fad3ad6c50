//! Validates a report's JSON against its schema in `docs/schemas/` (issue 13). Included with
//! `#[path]` by the tests that check schemas only, so the other test binaries do not link the
//! validator.

use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/docs/schemas/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{path} is not a schema: {e}"))
}

pub fn assert_valid(schema_name: &str, what: &str, report: &Value) {
    let validator = schema(schema_name);
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/schemas/{schema_name}.json:\n{}\n{report:#}",
        errors.join("\n")
    );
    let mut without_kind = report.clone();
    if let Some(o) = without_kind.as_object_mut() {
        o.remove("kind");
    }
    assert!(
        !validator.is_valid(&without_kind),
        "{schema_name}.json accepts a report without kind"
    );
}
