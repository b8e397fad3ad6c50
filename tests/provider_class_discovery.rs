//! Issue 14's ProviderClass lookup, at scale of stores: doctor asks discovery for
//! `external-secrets.io/v1alpha1` once per run, however many stores name a runtime (it asked once
//! per distinct ProviderClass reference). Counted in kube-sim's request log, which this binary
//! alone writes (its own test file, so no other test's cluster shares the log).

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_asks_discovery_once_for_every_provider_class_reference() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let log = dir.path().join("requests.ndjson");
    // SAFETY: set before the only cluster of this test binary starts; nothing else reads it.
    unsafe { std::env::set_var(kube_sim::REQUEST_LOG_ENV, &log) };
    let c = Cluster::start(EsoCrds::V1).await;
    loosen_secret_store_crd(&c);
    c.create(provider_class_crd());
    for (s, runtime) in [("a", "rt-a"), ("b", "rt-b"), ("c", "rt-c")] {
        let created = c.create(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": s, "namespace": "prod"},
            "spec": {"runtimeRef": {"name": runtime}, "provider": {"fake": {"data": []}}}
        }));
        c.set_status(&created, store_status(true, "Valid"));
    }
    let o = c.run(&["doctor", "-n", "prod", "-o", "json"]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let discovery = |path: &str| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.split('?').next() == Some(path))
            })
            .count()
    };
    assert_eq!(discovery("/apis/external-secrets.io/v1alpha1"), 1, "{text}");
    // Each of the three classes is still looked up (the lookups are not what was cut).
    assert_eq!(
        discovery("/apis/external-secrets.io/v1alpha1/namespaces/prod/providerclasses/rt-b"),
        1,
        "{text}"
    );
}
