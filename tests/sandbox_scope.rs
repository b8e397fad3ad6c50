//! Issue 4 "Done when" against the sandbox scenarios (issue 3): the built binary runs `scope` against each
//! incident and must name the right level (store vs app), the right store and namespaces, and carry
//! Vault's real error text; `sandbox -- scope` runs end to end; and a leak test runs every scenario in
//! every output format and with `-v`, looking for every secret value the cluster and providers hold.

mod common;

use common::*;
use serde_json::Value;
use std::process::Output;

async fn start(scenario: &str) -> SandboxEnv {
    SandboxEnv::start(scenario).await
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_sp_secret_expired_is_store_level() {
    let env = start("akv-sp-secret-expired").await;
    let o = env.run(&["scope", "-A"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("store-level"), "{text}");
    assert!(text.contains("akv-hybridops"), "{text}");
    for ns in ["netbox", "grafana", "awx"] {
        assert!(text.contains(ns), "{ns} missing from:\n{text}");
    }
    assert!(text.contains("5 of 5"), "{text}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_removed_is_app_level_with_vaults_text() {
    let env = start("vault-policy-removed").await;
    let o = env.run(&["scope", "-A", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let text = report.to_string();
    assert!(text.contains("app-level"), "{text}");
    assert!(text.contains("order-service-regcred"), "{text}");
    assert!(text.contains("permission denied"), "{text}");

    // From the failing application back to the ExternalSecret that feeds it.
    let o = env.run(&["scope", "deployment/order-service", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("order-service-regcred"), "{text}");
    assert!(
        !text.contains("payment-service-regcred"),
        "only what order-service consumes:\n{text}"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_exits_zero_and_json_matches_yaml() {
    let env = start("healthy").await;
    let o = env.run(&["scope", "-A"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let from_json = json(&env.run(&["scope", "-A", "-o", "json"]));
    let yaml = stdout(&env.run(&["scope", "-A", "-o", "yaml"]));
    let from_yaml: Value =
        serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("not YAML ({e}): {yaml}"));
    assert_eq!(
        from_json["externalSecrets"].as_array().map(Vec::len),
        from_yaml["externalSecrets"].as_array().map(Vec::len)
    );
    assert!(
        from_json["externalSecrets"]
            .as_array()
            .is_some_and(|i| i.len() >= 9)
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_leaks_from_scope_in_any_format() {
    for scenario in [
        "healthy",
        "vault-policy-removed",
        "akv-sp-secret-expired",
        "akv-wrong-key",
        "akv-secret-disabled",
        "rotation-not-propagated",
        "generator-role-removed",
    ] {
        let env = start(scenario).await;
        let values = env.secret_values();
        assert!(
            values.len() >= 3,
            "{scenario}: the leak test needs secret values to look for"
        );
        for format in ["table", "wide", "json", "yaml"] {
            let o = env.run(&["scope", "-A", "-o", format]);
            assert!(
                o.status.code().is_some_and(|c| c < 2),
                "{scenario} {format}: {}",
                stderr(&o)
            );
            assert_no_leak(&o, &values, &format!("{scenario} {format}"));
            let o = env.run(&["scope", "-A", "-o", format, "-v"]);
            assert_no_leak(&o, &values, &format!("{scenario} {format}"));
        }
        env.sandbox.shutdown().await;
    }
}

#[test]
fn sandbox_runs_one_subcommand_and_returns_its_exit_code() {
    let mut cmd = match assert_cmd::Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    let o = cmd
        .args([
            "sandbox",
            "--scenario",
            "vault-policy-removed",
            "--",
            "scope",
            "-A",
        ])
        .env_remove("KUBECONFIG")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("order-service-regcred"));

    let mut cmd = match assert_cmd::Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    let o = cmd
        .args(["sandbox", "--list"])
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(o.status.code(), Some(0));
    for name in [
        "healthy",
        "vault-policy-removed",
        "akv-sp-secret-expired",
        "akv-wrong-key",
        "akv-secret-disabled",
        "rotation-not-propagated",
        "generator-role-removed",
        "scale",
    ] {
        assert!(
            stdout(&o).lines().any(|l| l.starts_with(name)),
            "{name} missing from --list"
        );
    }

    let mut cmd = match assert_cmd::Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    let o = cmd
        .args(["sandbox", "--scenario", "nope", "--", "scope"])
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown scenario"), "{}", stderr(&o));
}
