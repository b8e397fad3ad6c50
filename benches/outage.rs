//! Benchmark (issue 16, not a timed test): the analysis of an outage at scale, where it matters
//! most. N ExternalSecrets, each owned by a ClusterExternalSecret, in two layouts: over 200
//! namespaces and four ClusterSecretStores, one store down; and with a SecretStore in each of
//! N/10 namespaces (a store per team), every fourth one down. A quarter of the ExternalSecrets
//! fail, with an UpdateFailed Event each. Measured: scope's rows, and the diagnosis doctor runs on
//! the same facts (scope names each row's root cause from it), and decoding those Events as their
//! LIST pages arrive, whole then reduced or lean (`kube::reduce::WireEvent`), in the shape a real
//! kube-apiserver sends them (managedFields, source, reporting fields). The sandbox's `scale`
//! scenario is healthy, so tests/bench/scale.sh never measures this.
//!
//!   cargo bench --profile bench-fast --bench outage            # 10,000 and 30,000
//!   cargo bench --profile bench-fast --bench outage -- 100000  # other sizes

use std::time::Instant;

use kubectl_eso::analysis::doctor::{DoctorOptions, analyse as analyse_doctor};
use kubectl_eso::analysis::scope::{ScopeOptions, analyse};
use kubectl_eso::model::doctor::{DoctorExtras, InstallSnapshot};
use kubectl_eso::model::scope::{Degraded, ScopeSnapshot, SecretMeta};
use serde_json::{Value, json};

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("bad fixture: {e}"))
}

/// Where the stores are: four ClusterSecretStores for 200 namespaces, or a SecretStore `vault`
/// in each of N/10 namespaces (a store per team, the other common layout).
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    ClusterStores,
    StorePerNamespace,
}

fn snapshot(n: usize, layout: Layout) -> ScopeSnapshot {
    let mut external_secrets = Vec::with_capacity(n);
    let mut secrets = Vec::with_capacity(n);
    let mut events = Vec::new();
    let namespaces = match layout {
        Layout::ClusterStores => 200,
        Layout::StorePerNamespace => (n / 10).max(1),
    };
    for i in 0..n {
        let (ns, name) = (format!("team-{:04}", i % namespaces), format!("app-{i}"));
        // The store down: vault-0, or the SecretStores of every fourth namespace.
        let (store_ref, failing) = match layout {
            Layout::ClusterStores => (
                json!({"kind": "ClusterSecretStore", "name": format!("vault-{}", i % 4)}),
                i % 4 == 0,
            ),
            Layout::StorePerNamespace => (
                json!({"kind": "SecretStore", "name": "vault"}),
                (i % namespaces) % 4 == 0,
            ),
        };
        let (status, reason) = if failing {
            ("False", "SecretSyncedError")
        } else {
            ("True", "SecretSynced")
        };
        let uid = format!("uid-{i}");
        external_secrets.push(from(json!({
            "metadata": {"name": name, "namespace": ns, "uid": uid,
                "ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                    "kind": "ClusterExternalSecret", "name": format!("ces-{}", i / 200),
                    "uid": format!("ces-uid-{}", i / 200), "controller": true}]},
            "spec": {"secretStoreRef": store_ref,
                "refreshInterval": "1h", "target": {"name": name}},
            "status": {"refreshTime": "2026-11-22T11:30:00Z",
                "conditions": [{"type": "Ready", "status": status, "reason": reason,
                    "message": if failing { "could not get secret data from provider" } else { "secret synced" }}]}
        })));
        let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta = from(json!({
            "name": name, "namespace": ns,
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "name": name, "uid": uid, "controller": true}]
        }));
        secrets.push(SecretMeta::from(&meta));
        if failing {
            events.push(from(json!({
                "metadata": {"name": format!("{name}.1"), "namespace": ns},
                "involvedObject": {"kind": "ExternalSecret", "name": name, "namespace": ns, "uid": uid},
                "reason": "UpdateFailed", "type": "Warning", "lastTimestamp": "2026-11-22T11:50:00Z",
                "message": "error processing spec.data[0] (key: app), err: permission denied"
            })));
        }
    }
    let store = |name: String, namespace: Option<String>, down: bool| {
        let ready = if down { "False" } else { "True" };
        from(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": {"vault": {"server": "https://vault.example:8200"}}},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "ValidationFailed"}]}
        }))
    };
    let (secret_stores, cluster_secret_stores) = match layout {
        Layout::ClusterStores => (
            vec![],
            (0..4)
                .map(|k| store(format!("vault-{k}"), None, k == 0))
                .collect(),
        ),
        Layout::StorePerNamespace => (
            (0..namespaces)
                .map(|k| store("vault".into(), Some(format!("team-{k:04}")), k % 4 == 0))
                .collect(),
            vec![],
        ),
    };
    ScopeSnapshot {
        eso_api_version: "external-secrets.io/v1".into(),
        namespace: None,
        external_secrets,
        secret_stores: Ok(secret_stores),
        cluster_secret_stores: Ok(cluster_secret_stores),
        cluster_external_secrets: Ok(vec![]),
        secrets: Ok(secrets),
        events: Ok(events),
        store_events: vec![],
        workload: None,
        secret_stores_elsewhere: Vec::new(),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 30_000]
    } else {
        sizes
    };
    let now: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap_or_default();
    let not_read = || Degraded {
        resource: "installation".into(),
        namespace: None,
        cause: "not read by the bench".into(),
    };
    let install = InstallSnapshot {
        served_versions: vec!["v1".into()],
        crds: Err(not_read()),
        deployments: Err(not_read()),
        webhook_configurations: Err(not_read()),
    };
    for (n, layout) in sizes
        .iter()
        .flat_map(|&n| [(n, Layout::ClusterStores), (n, Layout::StorePerNamespace)])
    {
        let snap = snapshot(n, layout);
        let (mut scope_best, mut doctor_best) = (f64::MAX, f64::MAX);
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let report = analyse(&snap, &ScopeOptions::default(), now);
            scope_best = scope_best.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let diagnosis = analyse_doctor(
                &install,
                &snap,
                &report,
                &DoctorExtras::default(),
                &DoctorOptions::view(false),
                now,
            );
            doctor_best = doctor_best.min(t.elapsed().as_secs_f64());
            last = Some((report.summary.failing, diagnosis));
        }
        let Some((failing, diagnosis)) = last else {
            continue;
        };
        let effects: usize = diagnosis.findings.iter().map(|f| f.effects.len()).sum();
        let stores = match layout {
            Layout::ClusterStores => "4 ClusterSecretStores, 200 namespaces".to_string(),
            Layout::StorePerNamespace => format!("a SecretStore in each of {} namespaces", n / 10),
        };
        println!("outage at {n} ExternalSecrets ({failing} failing; {stores}), best of 3");
        println!(
            "  {:<44} {:.1} ms",
            "scope rows (analysis::scope)",
            scope_best * 1e3
        );
        println!(
            "  {:<44} {:.1} ms ({} root findings, {effects} effects)",
            "diagnosis (analysis::doctor)",
            doctor_best * 1e3,
            diagnosis.findings.len()
        );
        if layout == Layout::ClusterStores {
            decoding_events(failing);
        }
    }
}

/// `n` UpdateFailed Events as a LIST's items, each as a real kube-apiserver 1.32 lists one
/// (`k8s-recordings/45`), decoded whole then reduced, and lean; best of 3 each.
fn decoding_events(n: usize) {
    use k8s_openapi::api::core::v1::Event;
    use kubectl_eso::kube::reduce::{WireEvent, event};
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let (ns, name) = (format!("team-{:04}", i % 200), format!("app-{i}"));
            json!({"metadata": {"name": format!("{name}.18a2b7c9d4e5f601"), "namespace": ns,
                    "uid": format!("74be1bef-87f8-4072-89e2-{i:012}"), "resourceVersion": "420",
                    "creationTimestamp": "2026-11-22T11:08:34Z",
                    "managedFields": [{"manager": "external-secrets", "operation": "Update",
                        "apiVersion": "v1", "time": "2026-11-22T11:08:34Z", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {},
                            "f:lastTimestamp": {}, "f:message": {}, "f:reason": {},
                            "f:reportingComponent": {}, "f:source": {"f:component": {}}, "f:type": {}}}]},
                "involvedObject": {"kind": "ExternalSecret", "namespace": ns, "name": name,
                    "uid": format!("uid-{i}"), "apiVersion": "external-secrets.io/v1",
                    "resourceVersion": "396"},
                "reason": "UpdateFailed",
                "message": "error processing spec.data[0] (key: app), err: permission denied",
                "source": {"component": "external-secrets"},
                "firstTimestamp": "2026-11-22T10:33:33Z", "lastTimestamp": "2026-11-22T11:08:33Z",
                "count": 7, "type": "Warning", "eventTime": null,
                "reportingComponent": "external-secrets", "reportingInstance": ""})
        })
        .collect();
    let text = serde_json::to_vec(&items).unwrap_or_default();
    let best = |decode: &dyn Fn() -> usize| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(decode(), n, "every Event decoded");
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let whole = best(&|| {
        let all: Vec<Event> = serde_json::from_slice(&text).unwrap_or_default();
        all.into_iter().filter_map(event).count()
    });
    let lean = best(&|| {
        let all: Vec<WireEvent> = serde_json::from_slice(&text).unwrap_or_default();
        all.into_iter().filter_map(WireEvent::into_event).count()
    });
    for (what, secs) in [("whole, then reduced", whole), ("lean (WireEvent)", lean)] {
        println!(
            "  {:<44} {:.1} ms ({:.2} us each, {:.1} MB)",
            format!("decoding {n} Events: {what}"),
            secs * 1e3,
            secs * 1e6 / n.max(1) as f64,
            text.len() as f64 / 1e6
        );
    }
}
