//! Issue 14 (ESO PR 6710): out-of-process stores against kube-sim serving the `ProviderClass` kind.
//! A SecretStore whose `spec.runtimeRef` names a ProviderClass that does not exist gets
//! `provider-class-missing` from doctor and as describe-chain's verdict; one whose ProviderClass
//! exists shows its address and Ready condition and is not probed (the near miss). kube-sim
//! validates against ESO v2.9.0's schemas, which do not know `runtimeRef`, so the SecretStore CRD
//! is first loosened as a newer ESO's would be.

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

fn store(name: &str, runtime: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"runtimeRef": {"name": runtime}, "provider": {"fake": {"data": []}}}
    })
}

fn es(name: &str, store: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
                 "target": {"name": name},
                 "data": [{"secretKey": "k", "remoteRef": {"key": "db"}}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_a_missing_provider_class_leads_doctor_and_describe_chain() {
    let c = Cluster::start(EsoCrds::V1).await;
    loosen_secret_store_crd(&c);
    c.create(provider_class_crd());
    let class = c.create(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "ProviderClass",
        "metadata": {"name": "aws-runtime", "namespace": "prod"},
        "spec": {"address": "provider-aws.prod.svc:8080"}
    }));
    c.set_status(
        &class,
        json!({"conditions": [{"type": "Ready", "status": "True"}]}),
    );
    for (s, runtime) in [("oop-ok", "aws-runtime"), ("oop-ghost", "ghost-runtime")] {
        let created = c.create(store(s, runtime));
        assert_eq!(
            created["spec"]["runtimeRef"]["name"], runtime,
            "runtimeRef must be stored: {created:#}"
        );
        c.set_status(&created, store_status(true, "Valid"));
    }
    c.create(es("ok-es", "oop-ok"));
    c.create(es("ghost-es", "oop-ghost"));

    let o = c.run(&["doctor", "-n", "prod", "-o", "json"]);
    let doctor: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let text = doctor["findings"].to_string();
    assert!(
        text.contains("provider-class-missing") && text.contains("SecretStore prod/oop-ghost"),
        "{doctor:#}"
    );
    let blamed: Vec<&Value> = doctor["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["code"] == "provider-class-missing")
        .collect();
    assert_eq!(blamed.len(), 1, "{doctor:#}");
    assert_eq!(blamed[0]["object"], "SecretStore prod/oop-ghost");

    let o = c.run(&["describe-chain", "ghost-es", "-n", "prod", "-o", "json"]);
    let chain: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(
        chain["verdict"]["code"], "provider-class-missing",
        "{:#}",
        chain["verdict"]
    );
    assert!(
        chain["provider"]["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("ProviderClass prod/ghost-runtime: not found")),
        "{:#}",
        chain["provider"]
    );

    // The near miss: the runtime exists; shown, not probed, not blamed.
    let o = c.run(&["describe-chain", "ok-es", "-n", "prod", "-o", "json"]);
    let chain: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_ne!(chain["verdict"]["code"], "provider-class-missing");
    let skipped = chain["provider"]["skipped"].as_str().unwrap_or_default();
    assert!(
        skipped.contains(
            "ProviderClass prod/aws-runtime: address provider-aws.prod.svc:8080, Ready True"
        ),
        "{:#}",
        chain["provider"]
    );
    assert_eq!(
        chain["provider"]["probed"], false,
        "{:#}",
        chain["provider"]
    );
}
