//! Issue 17 "Done when", application logs: on rotation-not-propagated the netbox pod runs with the
//! old database password and logs the database's "password authentication failed"; describe-chain
//! shows that line (redacted: the scenario also prints the password itself) under the Consumers
//! link, and after the fix (refreshPolicy back to Periodic, as the Git change would do)
//! `force-sync --restart` verifies from the new pods' logs that the error is gone. One sandbox.

mod common;

use common::*;
use serde_json::Value;

fn assert_no_values(env: &SandboxEnv, text: &str) {
    for v in env.secret_values() {
        assert!(!text.contains(v.as_str()), "a secret value leaked: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_app_log_lines_under_consumers_and_verified_gone_after_restart() {
    let env = SandboxEnv::start("rotation-not-propagated").await;

    // describe-chain -o wide: the failing line under the pod, redacted.
    let args = [
        "describe-chain",
        "netbox-db-password",
        "-n",
        "netbox",
        "-o",
        "wide",
    ];
    let table = tokio::task::block_in_place(|| env.run(&args));
    let text = format!("{}{}", stdout(&table), stderr(&table));
    assert_no_values(&env, &text);
    assert!(
        text.contains("log (container netbox):")
            && text.contains("password authentication failed for user"),
        "{text}"
    );
    let json_args = [
        "describe-chain",
        "netbox-db-password",
        "-n",
        "netbox",
        "-o",
        "json",
    ];
    let (_, report) = tokio::task::block_in_place(|| env.json(&json_args));
    assert_no_values(&env, &report.to_string());
    let pods: Vec<&Value> = report["consumers"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == "pod")
        .collect();
    assert!(!pods.is_empty(), "{report:#}");
    let lines: Vec<&str> = pods
        .iter()
        .flat_map(|p| p["logLines"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("password authentication failed")),
        "{report:#}"
    );
    // The line that printed the password is shown, with the password replaced.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("password=<redacted>") || l.contains("<redacted>")),
        "{lines:#?}"
    );
    // A workload line is not read, only its pods.
    assert!(
        report["consumers"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["kind"] != "pod")
            .all(|c| c.get("logLines").is_none()),
        "{report:#}"
    );

    // The fix, as the Git change would apply it: the ExternalSecret refreshes periodically again.
    let store = env.sandbox.api().store();
    let mut es = store
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("netbox"),
            "netbox-db-password",
        )
        .unwrap_or_else(|| panic!("no ExternalSecret netbox-db-password"));
    es["spec"]["refreshPolicy"] = Value::String("Periodic".into());
    store
        .replace(es)
        .unwrap_or_else(|e| panic!("replace ExternalSecret: {e}"));

    let fs_args = [
        "force-sync",
        "netbox-db-password",
        "-n",
        "netbox",
        "--restart",
        "--timeout",
        "45s",
        "-o",
        "json",
    ];
    let o = tokio::task::block_in_place(|| env.run(&fs_args));
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_no_values(&env, &text);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let report: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let restart = report["restarts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["workload"] == "deployment/netbox")
        .unwrap_or_else(|| panic!("netbox not restarted: {report:#}"));
    assert_eq!(restart["action"], "restarted", "{report:#}");
    assert_eq!(restart["logCheck"]["verified"], true, "{report:#}");
    assert_eq!(
        restart["logCheck"]["before"][0], "password authentication failed",
        "{report:#}"
    );
    assert!(
        stderr(&o).contains("✔ verified: netbox no longer logs `password authentication failed`"),
        "{}",
        stderr(&o)
    );
}
