//! Issue 14, "a PushSecret denied write": the named sandbox scenario `push-write-denied`, where a
//! PushSecret in `prod` pushes a Secret's key to Vault through the `vault` SecretStore, whose
//! role's policies only grant *read* (they were written for ExternalSecrets). The simulated ESO's push gets Vault's 403 and
//! sets Ready=False / Errored, like ESO. doctor and `describe-chain pushsecret/NAME` must both lead
//! with `pushsecret-write-denied` naming the KV v2 path, found by asking Vault's
//! `sys/capabilities-self` as ESO — nothing written — with ESO's Errored condition under it; and
//! once the policy grants create/update the finding goes (the near miss). The leak rule: the
//! PushSecret's source Secret is read (key names kept) and ESO logged in as, so every command that
//! shows PushSecrets, in every output format with and without `-v`, is checked against every
//! secret value the sandbox holds, including the pushed one.

mod common;
#[path = "common/schema.rs"]
mod schema;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const PUSH: &str = "push-db-password";

/// Waits until the simulated ESO has set the PushSecret's Ready condition to `status`.
async fn wait_ready(env: &SandboxEnv, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = env.sandbox.api().store().get(
            "external-secrets.io/v1alpha1",
            "PushSecret",
            Some("prod"),
            PUSH,
        );
        let ready = ps
            .as_ref()
            .and_then(|p| p["status"]["conditions"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .find(|c| c["type"] == "Ready");
        if ready.as_ref().is_some_and(|c| c["status"] == status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PushSecret never became Ready={status}: {ps:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn codes(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_push_secret_denied_write_leads_doctor_and_describe_chain() {
    let env = SandboxEnv::start("push-write-denied").await;
    wait_ready(&env, "False").await;
    let mut canaries = env.secret_values();
    canaries.push("canary-pushed-db-password".into());

    let (code, report) = env.json(&["doctor", "-n", "prod", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let first = &report["findings"][0];
    assert_eq!(first["code"], "pushsecret-write-denied", "{report:#}");
    assert_eq!(first["object"], format!("PushSecret prod/{PUSH}"));
    let cause = first["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("registry-creds/data/pushed/db"),
        "the KV v2 data path ESO writes: {cause}"
    );
    assert!(
        codes(&first["effects"]).contains(&"pushsecret-not-ready".to_string()),
        "ESO's Errored condition is the effect: {first:#}"
    );

    let out = env.run(&[
        "describe-chain",
        &format!("pushsecret/{PUSH}"),
        "-n",
        "prod",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("DENIED registry-creds/data/pushed/db"),
        "{text}"
    );
    assert!(text.contains("pushsecret-write-denied"), "{text}");
    assert!(
        text.contains("Source Secret db-password: found, keys: password"),
        "{text}"
    );
    assert_no_canary(&out, &canaries);
    let (code, chain) = env.json(&[
        "describe-chain",
        &format!("pushsecret/{PUSH}"),
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        chain["findings"][0]["code"], "pushsecret-write-denied",
        "{chain:#}"
    );
    // Issue 13, "JSON for scripts": the PushSecret report has its schema too.
    schema::assert_valid("describe-chain-pushsecret", "denied", &chain);
    // A plain NAME is still an ExternalSecret.
    let plain = env.run(&["describe-chain", PUSH, "-n", "prod"]);
    assert_eq!(plain.status.code(), Some(2), "{}", stderr(&plain));
    no_leak_in_any_format(&env, &canaries);

    // Near miss: the role's policy now lets ESO write; ESO syncs and the finding goes.
    let admin = env
        .sandbox
        .vault_admin()
        .unwrap_or_else(|e| panic!("vault admin: {e:#}"));
    admin
        .put_policy(
            "eso-order-service",
            "path \"registry-creds/data/order-service\" { capabilities = [\"read\"] }\n\
             path \"registry-creds/creds/order-service\" { capabilities = [\"read\"] }\n\
             path \"registry-creds/data/pushed/*\" { capabilities = [\"create\", \"update\", \"read\"] }\n\
             path \"registry-creds/metadata/pushed/*\" { capabilities = [\"create\", \"update\", \"read\"] }\n",
        )
        .await
        .unwrap_or_else(|e| panic!("put policy: {e:#}"));
    // Any spec change makes ESO reconcile the PushSecret again.
    let store = env.sandbox.api().store();
    let mut ps = store
        .get(
            "external-secrets.io/v1alpha1",
            "PushSecret",
            Some("prod"),
            PUSH,
        )
        .unwrap_or_else(|| panic!("no PushSecret"));
    ps["spec"]["refreshInterval"] = json!("2h");
    store
        .replace(ps)
        .unwrap_or_else(|e| panic!("replace PushSecret: {e:?}"));
    wait_ready(&env, "True").await;
    let (code, report) = env.json(&["doctor", "-n", "prod", "-o", "json"]);
    let all = codes(&report["findings"]);
    assert!(
        !all.iter().any(|c| c.starts_with("pushsecret-")),
        "{report:#}"
    );
    assert_eq!(code, Some(0), "{report:#}");
    let (code, chain) = env.json(&[
        "describe-chain",
        &format!("pushsecret/{PUSH}"),
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{chain:#}");
    schema::assert_valid("describe-chain-pushsecret", "allowed", &chain);
}

/// Every command that reads PushSecrets, every format, with and without `-v`: no secret value.
fn no_leak_in_any_format(env: &SandboxEnv, values: &[String]) {
    let target = format!("pushsecret/{PUSH}");
    let commands: [&[&str]; 3] = [
        &["describe-chain", &target, "-n", "prod"],
        &["doctor", "-n", "prod"],
        &["scope", "-n", "prod"],
    ];
    for command in commands {
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [false, true] {
                let mut args = command.to_vec();
                args.extend(["-o", format]);
                if verbose {
                    args.push("-v");
                }
                let o = env.run(&args);
                assert!(
                    o.status.code().is_some_and(|c| c < 2),
                    "{args:?}: {}{}",
                    stdout(&o),
                    stderr(&o)
                );
                assert_no_leak(&o, values, &format!("{args:?}"));
            }
        }
    }
    let o = env.run(&["doctor", "-n", "prod", "-o", "junit", "-v"]);
    assert_no_leak(&o, values, "doctor -o junit -v");
}
