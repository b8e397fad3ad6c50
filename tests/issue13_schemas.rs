//! Issue 13, "JSON for scripts": every report carries `apiVersion` and `kind`, and the real JSON
//! of every command on sandbox scenarios (healthy and an incident) validates against its schema in
//! `docs/schemas/`, with a maintained JSON Schema validator. A schema that accepted anything would
//! pass too, so each one must also refuse a report with its `kind` removed.

mod common;

use common::*;
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/docs/schemas/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{path} is not a schema: {e}"))
}

fn assert_valid(schema_name: &str, what: &str, report: &Value) {
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

/// Each command's JSON, with the schema it must match.
const COMMANDS: &[(&str, &[&str])] = &[
    ("scope", &["scope", "-A", "-o", "json"]),
    ("doctor", &["doctor", "-A", "-o", "json"]),
    (
        "describe-chain",
        &[
            "describe-chain",
            "order-service-regcred",
            "-n",
            "prod",
            "-o",
            "json",
        ],
    ),
    (
        "force-sync",
        &[
            "force-sync",
            "-n",
            "prod",
            "--all",
            "--dry-run",
            "-o",
            "json",
        ],
    ),
    (
        "verify-regcred",
        &[
            "verify-regcred",
            "--from-es",
            "order-service-regcred",
            "-n",
            "prod",
            "-o",
            "json",
        ],
    ),
];

async fn validate_scenario(scenario: &str) {
    let env = SandboxEnv::start(scenario).await;
    for (schema_name, args) in COMMANDS {
        let (code, report) = env.json(args);
        assert!(
            matches!(code, Some(0) | Some(1)),
            "{scenario}: {args:?} exited {code:?}"
        );
        assert_eq!(report["apiVersion"], "kubectl-eso/v1", "{args:?}");
        assert!(report["kind"].is_string(), "{args:?}: {report}");
        assert_valid(schema_name, &format!("{scenario}: {args:?}"), &report);
    }
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_reports_match_their_schemas_on_the_healthy_scenario() {
    validate_scenario("healthy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_reports_match_their_schemas_on_an_incident() {
    validate_scenario("vault-policy-removed").await;
}
