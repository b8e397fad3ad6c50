//! Issue 14 part A, non-Secret targets, in the sandbox: ExternalSecrets with `target.manifest`
//! ConfigMap. The simulated ESO writes the ConfigMap with ESO's `ResourceSynced` /
//! `ResourceSyncedError` reasons; describe-chain shows the ConfigMap as the target and finds the
//! Deployment that reads it through envFrom configMapRef; a broken one (a remote key that does not
//! exist) gets the provider's finding in describe-chain and doctor, and no ConfigMap target is
//! reported as a missing Secret.

#![cfg(feature = "sandbox")]

mod common;

use common::SandboxEnv;
use serde_json::{Value, json};

fn configmap_es(name: &str, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
            "target": {"name": name, "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}},
            "data": [{"secretKey": "registry-user", "remoteRef": {"key": key, "property": "username"}}],
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_configmap_targets_in_describe_chain_and_doctor() {
    let mut env = SandboxEnv::start("healthy").await;
    let store = env.sandbox.api().store();
    for obj in [
        configmap_es("order-settings", "order-service"),
        configmap_es("billing-settings", "billing-service"),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "order-worker", "namespace": "prod", "labels": {"app": "order-worker"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "order-worker"}},
                "template": {"metadata": {"labels": {"app": "order-worker"},
                    "annotations": {"sandbox.kubectl-eso.io/pod-state": "Running"}},
                "spec": {"containers": [{"name": "w", "image": "busybox",
                    "envFrom": [{"configMapRef": {"name": "order-settings"}}]}]}}},
        }),
    ] {
        if let Err(e) = store.apply(obj) {
            panic!("apply: {e:?}");
        }
    }
    env.sandbox.resync().await;

    // ESO's own view: a ConfigMap with the value as text, and the Resource* reasons.
    let cm = store.get("v1", "ConfigMap", Some("prod"), "order-settings");
    assert_eq!(
        cm.as_ref().and_then(|c| c.pointer("/data/registry-user")),
        Some(&json!("order-service")),
        "{cm:?}"
    );
    let reason = |name: &str| {
        store
            .get(
                "external-secrets.io/v1",
                "ExternalSecret",
                Some("prod"),
                name,
            )
            .and_then(|es| {
                es.pointer("/status/conditions")?
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?["reason"]
                    .as_str()
                    .map(str::to_string)
            })
    };
    assert_eq!(reason("order-settings").as_deref(), Some("ResourceSynced"));
    assert_eq!(
        reason("billing-settings").as_deref(),
        Some("ResourceSyncedError")
    );

    let (code, chain) = env.json(&[
        "describe-chain",
        "order-settings",
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{chain:#}");
    let target = chain["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["link"] == "target")
        .cloned()
        .unwrap_or_default();
    assert_eq!(target["state"], "ok", "{chain:#}");
    assert!(
        target["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("ConfigMap prod/order-settings")),
        "{target:#}"
    );
    let consumers = chain["consumers"]["items"].to_string();
    assert!(consumers.contains("order-worker"), "{chain:#}");
    assert!(consumers.contains("envFrom"), "{consumers}");

    let (code, chain) = env.json(&[
        "describe-chain",
        "billing-settings",
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(1), "{chain:#}");
    let verdict_code = chain["verdict"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        verdict_code.starts_with("provider-key-") || verdict_code.starts_with("vault-"),
        "{:#}",
        chain["verdict"]
    );

    let (code, doctor) = env.json(&["doctor", "-n", "prod", "-o", "json"]);
    assert_eq!(code, Some(1), "{doctor:#}");
    let findings: Vec<Value> = doctor["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        findings.iter().any(|f| f["code"] == verdict_code.as_str()),
        "{verdict_code} not in {findings:#?}"
    );
    // A ConfigMap target is not a missing Secret, and the healthy one is not blamed.
    for f in &findings {
        assert_ne!(f["code"], "es-target-missing", "{f:#}");
        assert!(
            !f["object"]
                .as_str()
                .unwrap_or_default()
                .contains("order-settings"),
            "{f:#}"
        );
    }
    env.sandbox.shutdown().await;
}
