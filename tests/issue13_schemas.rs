//! Issue 13, "JSON for scripts": every report carries `apiVersion` and `kind`, and the real JSON
//! of every command on sandbox scenarios (healthy and an incident) validates against its schema in
//! `docs/schemas/`, with a maintained JSON Schema validator. A schema that accepted anything would
//! pass too, so each one must also refuse a report with its `kind` removed.

mod common;
#[path = "common/schema.rs"]
mod schema;

use common::*;
use schema::assert_valid;

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
