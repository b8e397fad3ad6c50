//! Unit tests for `scope`'s analysis, on snapshots shaped like the two reference incidents
//! (../shared/INCIDENTS.md), with a fixed `now`.

use super::*;
use crate::model::refs::{WorkloadKind, WorkloadRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

const NOW: &str = "2026-11-22T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap_or_default()
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => panic!("bad fixture: {e}"),
    }
}

fn es(ns: &str, name: &str, store_kind: &str, store: &str, ready: bool) -> ExternalSecret {
    let (status, reason, msg) = if ready {
        ("True", "SecretSynced", "secret synced")
    } else {
        (
            "False",
            "SecretSyncedError",
            "could not get secret data from provider",
        )
    };
    from(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")},
        "spec": {
            "secretStoreRef": {"kind": store_kind, "name": store},
            "refreshInterval": "1h",
            "target": {"name": format!("{name}-secret")}
        },
        "status": {
            "refreshTime": "2026-11-22T11:30:00Z",
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": msg}]
        }
    }))
}

fn store(kind_ns: Option<&str>, name: &str, ready: bool, reason: &str) -> SecretStore {
    from(json!({
        "metadata": {"name": name, "namespace": kind_ns},
        "spec": {"provider": {"vault": {}}},
        "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "reason": reason}]}
    }))
}

fn owned_secret(e: &ExternalSecret) -> SecretMeta {
    secret(json!({
        "name": e.target_name(), "namespace": e.namespace(),
        "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "name": e.name(), "uid": e.metadata.uid, "controller": true}]
    }))
}

/// A Secret's metadata as the snapshot holds it.
fn secret(meta: Value) -> SecretMeta {
    SecretMeta::from(&from::<ObjectMeta>(meta))
}

fn update_failed(e: &ExternalSecret, at: &str, message: &str) -> Event {
    from(json!({
        "metadata": {"name": format!("{}.1", e.name()), "namespace": e.namespace()},
        "involvedObject": {"kind": "ExternalSecret", "name": e.name(), "namespace": e.namespace(), "uid": e.metadata.uid},
        "reason": "UpdateFailed", "type": "Warning", "message": message, "lastTimestamp": at
    }))
}

fn snapshot(
    ess: Vec<ExternalSecret>,
    stores: Vec<SecretStore>,
    css: Vec<SecretStore>,
) -> ScopeSnapshot {
    let secrets = ess.iter().map(owned_secret).collect();
    ScopeSnapshot {
        eso_api_version: "external-secrets.io/v1".into(),
        namespace: None,
        external_secrets: ess,
        secret_stores: Ok(stores),
        cluster_secret_stores: Ok(css),
        cluster_external_secrets: Ok(vec![]),
        secrets: Ok(secrets),
        events: Ok(vec![]),
        store_events: vec![],
        workload: None,
        secret_stores_elsewhere: Vec::new(),
    }
}

/// Incident A: the ClusterSecretStore is not ready, and everything on it fails in 3 namespaces.
fn incident_a() -> ScopeSnapshot {
    let mut ess = vec![
        es(
            "netbox",
            "netbox-db-password",
            "ClusterSecretStore",
            "akv-hybridops",
            false,
        ),
        es(
            "netbox",
            "netbox-api-token",
            "ClusterSecretStore",
            "akv-hybridops",
            false,
        ),
        es(
            "grafana",
            "grafana-admin",
            "ClusterSecretStore",
            "akv-hybridops",
            false,
        ),
        es(
            "awx",
            "awx-db",
            "ClusterSecretStore",
            "akv-hybridops",
            false,
        ),
        es(
            "awx",
            "awx-ldap",
            "ClusterSecretStore",
            "akv-hybridops",
            false,
        ),
        es(
            "prod",
            "order-service-regcred",
            "SecretStore",
            "vault",
            true,
        ),
    ];
    ess[0].status.refresh_time = Some("2026-11-20T08:00:00Z".into());
    let css = vec![store(None, "akv-hybridops", false, "InvalidProviderConfig")];
    snapshot(ess, vec![store(Some("prod"), "vault", true, "Valid")], css)
}

/// Incident B: one ExternalSecret on a ready Vault store fails with Vault's 403.
fn incident_b() -> ScopeSnapshot {
    let mut ess: Vec<ExternalSecret> = (0..11)
        .map(|i| es("prod", &format!("app-{i}"), "SecretStore", "vault", true))
        .collect();
    let failing = es("prod", "order-service-regcred", "", "vault", false);
    let mut failing_spec = failing.clone();
    failing_spec.spec.target.name = Some("regcred-order-service".into());
    ess.push(failing_spec.clone());
    let mut snap = snapshot(
        ess,
        vec![store(Some("prod"), "vault", true, "Valid")],
        vec![],
    );
    snap.events = Ok(vec![
        update_failed(&failing, "2026-11-22T10:00:00Z", "older error"),
        update_failed(
            &failing,
            "2026-11-22T11:55:00Z",
            "error reading secret: Error making API request.\n\nCode: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n\n",
        ),
    ]);
    snap
}

#[test]
fn incident_a_gives_a_store_level_verdict_naming_three_namespaces() {
    let report = analyse(&incident_a(), &ScopeOptions::default(), now());
    assert_eq!(report.summary.failing, 5);
    let v = &report.verdicts[0];
    assert_eq!(v.level, VerdictLevel::Store);
    assert_eq!(v.namespaces, ["awx", "grafana", "netbox"]);
    assert_eq!(
        v.message,
        "store-level: ClusterSecretStore akv-hybridops is not ready (InvalidProviderConfig); \
         5 of 5 ExternalSecrets using it fail across 3 namespaces"
    );
    assert_eq!(
        report.verdicts.len(),
        1,
        "the healthy vault store gets no verdict"
    );
}

#[test]
fn incident_b_gives_an_app_level_verdict_with_the_event_message() {
    let report = analyse(&incident_b(), &ScopeOptions::default(), now());
    assert_eq!(report.verdicts.len(), 1);
    let v = &report.verdicts[0];
    assert_eq!(v.level, VerdictLevel::App);
    assert_eq!(v.external_secrets, ["prod/order-service-regcred"]);
    assert_eq!(
        v.message,
        "app-level: 1 of 12 ExternalSecrets on SecretStore prod/vault fails (prod/order-service-regcred); \
         the store and its 11 other ExternalSecrets are healthy"
    );
    let row = report
        .external_secrets
        .iter()
        .find(|r| r.name == "order-service-regcred");
    let error = row.and_then(|r| r.error.as_deref()).unwrap_or_default();
    assert!(
        error.contains("permission denied"),
        "latest event wins: {error:?}"
    );
    assert!(!error.contains("older error"));
}

#[test]
fn every_namespace_failing_on_a_ready_store_is_still_store_level() {
    let mut snap = incident_a();
    snap.cluster_secret_stores = Ok(vec![store(None, "akv-hybridops", true, "Valid")]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert_eq!(report.verdicts[0].level, VerdictLevel::Store);
    assert!(
        report.verdicts[0]
            .message
            .contains("reports ready, but 5 of 5"),
        "{}",
        report.verdicts[0].message
    );
}

#[test]
fn a_missing_store_is_named() {
    let mut snap = incident_a();
    snap.cluster_secret_stores = Ok(vec![]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert!(
        report.verdicts[0]
            .message
            .contains("ClusterSecretStore akv-hybridops does not exist")
    );
}

#[test]
fn healthy_scope_has_a_healthy_verdict() {
    let snap = snapshot(
        vec![es("prod", "a", "SecretStore", "vault", true)],
        vec![store(Some("prod"), "vault", true, "Valid")],
        vec![],
    );
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert_eq!(report.summary.failing, 0);
    assert_eq!(report.verdicts[0].level, VerdictLevel::Healthy);
    assert_eq!(
        report.external_secrets[0].target.state,
        TargetState::Present
    );
    assert_eq!(report.external_secrets[0].error, None);
}

#[test]
fn target_states_missing_not_owned_stale_unknown() {
    let mut snap = incident_a();
    let secrets: Vec<SecretMeta> = vec![
        // netbox-db-password's Secret: owned, but last sync two days ago with a 1h interval.
        owned_secret(&snap.external_secrets[0]),
        // netbox-api-token's Secret exists but nobody owns it.
        secret(json!({"name": "netbox-api-token-secret", "namespace": "netbox"})),
    ];
    snap.secrets = Ok(secrets);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let state = |name: &str| {
        report
            .external_secrets
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.target.state)
    };
    assert_eq!(state("netbox-db-password"), Some(TargetState::Stale));
    assert_eq!(state("netbox-api-token"), Some(TargetState::NotOwned));
    assert_eq!(state("awx-db"), Some(TargetState::Missing));
    // A Ready ExternalSecret whose Secret is gone is failing too.
    let regcred = report
        .external_secrets
        .iter()
        .find(|r| r.name == "order-service-regcred");
    assert_eq!(
        regcred.map(|r| (r.target.state, r.failing)),
        Some((TargetState::Missing, true))
    );
}

#[test]
fn forbidden_secrets_degrade_with_the_cause_and_keep_rows() {
    let mut snap = incident_b();
    snap.secrets = Err(Degraded {
        resource: "secrets".into(),
        namespace: Some("prod".into()),
        cause: "no permission to list secrets in prod".into(),
    });
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert_eq!(report.external_secrets.len(), 12);
    assert!(
        report
            .external_secrets
            .iter()
            .all(|r| r.target.state == TargetState::Unknown)
    );
    assert_eq!(
        report.degraded[0].cause,
        "no permission to list secrets in prod"
    );
    assert_eq!(
        report.summary.failing, 1,
        "unknown targets are not counted as failures"
    );
}

#[test]
fn store_filter_and_failing_only() {
    let opts = ScopeOptions {
        store: StoreFilter::parse("SecretStore/vault").ok(),
        failing_only: true,
        ..Default::default()
    };
    let report = analyse(&incident_b(), &opts, now());
    assert_eq!(
        report.external_secrets.len(),
        1,
        "only the failing row is shown"
    );
    assert_eq!(
        report.summary.external_secrets, 12,
        "but the summary counts all"
    );
    let report = analyse(&incident_a(), &opts, now());
    assert_eq!(
        report.summary.external_secrets, 1,
        "only the vault ExternalSecret uses SecretStore/vault"
    );
}

#[test]
fn workload_leads_to_the_external_secret_producing_its_pull_secret() {
    let mut snap = incident_b();
    snap.namespace = Some("prod".into());
    snap.workload = Some(WorkloadSnapshot {
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "order-service".into(),
        },
        namespace: "prod".into(),
        pod_spec: Some(from(json!({
            "containers": [{"name": "app", "image": "registry.internal:5000/order-service:1"}],
            "imagePullSecrets": [{"name": "regcred-order-service"}]
        }))),
    });
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let names: Vec<&str> = report
        .external_secrets
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["order-service-regcred"]);
    let w = report.workload.as_ref().map(|w| {
        (
            w.secrets[0].name.as_str(),
            w.secrets[0].external_secrets.clone(),
        )
    });
    assert_eq!(
        w,
        Some((
            "regcred-order-service",
            vec!["order-service-regcred".to_string()]
        ))
    );
}

#[test]
fn cluster_external_secrets_are_shown_with_their_children() {
    let mut snap = incident_a();
    for e in snap
        .external_secrets
        .iter_mut()
        .filter(|e| e.name().starts_with("awx"))
    {
        e.metadata.owner_references = Some(vec![from(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "name": "awx-shared", "uid": "u"
        }))]);
    }
    snap.cluster_external_secrets = Ok(vec![from(json!({"metadata": {"name": "awx-shared"}}))]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let ces = &report.cluster_external_secrets[0];
    assert_eq!(ces.name, "awx-shared");
    assert_eq!(ces.external_secrets, ["awx/awx-db", "awx/awx-ldap"]);
    assert_eq!(ces.failing, 2);
}

#[test]
fn event_text_is_cleaned_of_escape_sequences() {
    let mut snap = incident_b();
    let failing = snap.external_secrets[11].clone();
    snap.events = Ok(vec![update_failed(
        &failing,
        "2026-11-22T11:59:00Z",
        "\u{1b}[2Jdenied\u{1b}]0;x\u{7}",
    )]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let row = report.external_secrets.iter().find(|r| r.failing);
    assert_eq!(row.and_then(|r| r.error.as_deref()), Some("denied"));
}

#[test]
fn a_not_ready_store_carries_its_latest_warning_event() {
    let mut snap = incident_a();
    let ev = |at: &str, msg: &str| -> Event {
        from(json!({
            "metadata": {"name": format!("akv-hybridops.{at}"), "namespace": "default"},
            "involvedObject": {"kind": "ClusterSecretStore", "name": "akv-hybridops"},
            "reason": "InvalidProviderConfig", "type": "Warning", "message": msg, "lastTimestamp": at
        }))
    };
    snap.store_events = vec![Ok(vec![
        ev("2026-11-22T11:00:00Z", "old"),
        ev(
            "2026-11-22T11:58:00Z",
            "AADSTS7000222: The provided client secret keys are expired",
        ),
    ])];
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let css = report
        .stores
        .iter()
        .find(|s| s.store.name == "akv-hybridops");
    assert_eq!(
        css.and_then(|s| s.error.as_deref()),
        Some("AADSTS7000222: The provided client secret keys are expired")
    );
    let vault = report.stores.iter().find(|s| s.store.name == "vault");
    assert_eq!(
        vault.map(|s| s.error.clone()),
        Some(None),
        "ready stores carry no error"
    );
}

/// Issue 14: an ExternalSecret made only of a generatorRef names no store, validly: a failure is
/// blamed on its generator, never on a "missing store".
#[test]
fn issue14_generator_only_external_secret_is_not_a_missing_store() {
    let mut gen_es = es("prod", "regcred", "SecretStore", "x", false);
    gen_es.spec.secret_store_ref = None;
    gen_es.spec.data_from = from(json!([{"sourceRef": {"generatorRef": {
        "apiVersion": "generators.external-secrets.io/v1alpha1",
        "kind": "VaultDynamicSecret", "name": "order-service-registry"}}}]));
    let snap = snapshot(vec![gen_es], vec![], vec![]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let row = &report.external_secrets[0];
    assert_eq!(row.store, None);
    assert_eq!(
        row.generators,
        vec!["VaultDynamicSecret/order-service-registry".to_string()]
    );
    let message = &report.verdicts[0].message;
    assert!(
        message.contains("fails on its generator VaultDynamicSecret/order-service-registry"),
        "{message}"
    );
    assert!(!message.contains("no usable store"), "{message}");
}

/// Issue 14: a `target.manifest` ConfigMap is not reported as a missing Secret.
#[test]
fn issue14_configmap_target_is_not_a_missing_secret() {
    let mut cm_es = es("prod", "settings", "SecretStore", "vault", true);
    cm_es.spec.target.manifest = Some(from(json!({"apiVersion": "v1", "kind": "ConfigMap"})));
    let mut snap = snapshot(
        vec![cm_es],
        vec![store(Some("prod"), "vault", true, "Valid")],
        vec![],
    );
    snap.secrets = Ok(vec![]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert_eq!(
        report.external_secrets[0].target.state,
        TargetState::Unknown
    );
    assert!(!report.external_secrets[0].failing);
}

/// Issue 14: when ESO's error names a per-entry store, the row is that store's, so the failure
/// is not blamed on the ExternalSecret's healthy default store.
#[test]
fn issue14_failure_is_attributed_to_the_per_entry_store_named() {
    let mut e = es("prod", "app", "SecretStore", "vault", false);
    e.spec.data = from(json!([
        {"secretKey": "a", "remoteRef": {"key": "a"}},
        {"secretKey": "b", "remoteRef": {"key": "b"},
         "sourceRef": {"storeRef": {"kind": "SecretStore", "name": "vault-legacy"}}},
    ]));
    let failed = update_failed(
        &e,
        "2026-11-22T11:59:00Z",
        r#"SecretStore "vault-legacy" is not ready"#,
    );
    let mut snap = snapshot(
        vec![e],
        vec![
            store(Some("prod"), "vault", true, "Valid"),
            store(Some("prod"), "vault-legacy", false, "InvalidProviderConfig"),
        ],
        vec![],
    );
    snap.events = Ok(vec![failed]);
    let report = analyse(&snap, &ScopeOptions::default(), now());
    let row = &report.external_secrets[0];
    assert_eq!(
        row.store.as_ref().map(|s| s.name.as_str()),
        Some("vault-legacy")
    );
    // Without the error naming it, the default store stands.
    let plain = es("prod", "b", "SecretStore", "vault", false);
    let snap = snapshot(
        vec![plain],
        vec![store(Some("prod"), "vault", true, "Valid")],
        vec![],
    );
    let report = analyse(&snap, &ScopeOptions::default(), now());
    assert_eq!(
        report.external_secrets[0]
            .store
            .as_ref()
            .map(|s| s.name.as_str()),
        Some("vault")
    );
}

/// Issue 16: doctor reads the pods for the targets taken from the snapshot before the rows are
/// built; they must be exactly the rows' targets that are not missing, in every target state.
#[test]
fn issue16_existing_targets_are_the_rows_targets_not_missing() {
    fn from_rows(snap: &ScopeSnapshot) -> std::collections::HashSet<(String, String)> {
        analyse(snap, &ScopeOptions::default(), now())
            .external_secrets
            .iter()
            .filter(|r| r.target.state != TargetState::Missing)
            .map(|r| (r.namespace.clone(), r.target.name.clone()))
            .collect()
    }
    let mut snap = incident_a();
    snap.secrets = Ok(vec![
        owned_secret(&snap.external_secrets[0]),
        secret(json!({"name": "netbox-api-token-secret", "namespace": "netbox"})),
        // Near miss: a Secret of the right name in another namespace is no target of theirs.
        secret(json!({"name": "awx-db", "namespace": "netbox"})),
    ]);
    let mut cm_es = es("prod", "settings", "SecretStore", "vault", true);
    cm_es.spec.target.manifest = Some(from(json!({"apiVersion": "v1", "kind": "ConfigMap"})));
    let manifest_target = ("prod".to_string(), cm_es.target_name().to_string());
    snap.external_secrets.push(cm_es);
    let targets = existing_targets(&snap);
    assert_eq!(targets, from_rows(&snap));
    assert!(
        targets.contains(&manifest_target),
        "a manifest is not missing"
    );
    assert!(
        !targets.iter().any(|(_, n)| n == "awx-db"),
        "awx-db's Secret is missing"
    );
    assert!(targets.len() >= 3 && targets.len() < snap.external_secrets.len());

    // Secrets not listed: no target is called missing.
    snap.secrets = Err(Degraded {
        resource: "secrets".into(),
        namespace: None,
        cause: "forbidden".into(),
    });
    assert_eq!(existing_targets(&snap), from_rows(&snap));
    assert_eq!(existing_targets(&snap).len(), snap.external_secrets.len());
}

/// Issue 16: the store index finds what the search over the list finds — the first store of a
/// name in a namespace, and by name alone for a ClusterSecretStore reference — with near misses:
/// the same name in another namespace, a store listed twice, a store without a name, a name
/// that is a prefix of another.
#[test]
fn the_store_index_finds_what_a_search_of_the_list_finds() {
    let store = |ns: Option<&str>, name: Option<&str>, mark: &str| -> SecretStore {
        from(
            json!({"metadata": {"name": name, "namespace": ns, "uid": mark},
            "spec": {"provider": {"vault": {}}}}),
        )
    };
    let list = vec![
        store(Some("a"), Some("vault"), "1"),
        store(Some("b"), Some("vault"), "2"),
        store(Some("a"), Some("vault"), "3"),
        store(None, Some("vault-2"), "4"),
        store(Some("c"), None, "5"),
        store(None, Some("vault"), "6"),
        store(Some("c"), Some("vaul"), "7"),
    ];
    let index = StoreIndex::new(&list);
    let refs = [
        (StoreKind::SecretStore, Some("a"), "vault"),
        (StoreKind::SecretStore, Some("b"), "vault"),
        (StoreKind::SecretStore, Some("c"), "vault"),
        (StoreKind::SecretStore, Some("c"), "vaul"),
        (StoreKind::SecretStore, Some("a"), "vault-2"),
        (StoreKind::SecretStore, Some("c"), ""),
        (StoreKind::ClusterSecretStore, None, "vault"),
        (StoreKind::ClusterSecretStore, None, "vault-2"),
        (StoreKind::ClusterSecretStore, None, "vaul"),
        (StoreKind::ClusterSecretStore, None, "vault-3"),
        (StoreKind::ClusterSecretStore, None, ""),
    ];
    let mut found = 0;
    for (kind, ns, name) in refs {
        let r = StoreRef {
            kind,
            namespace: ns.map(str::to_string),
            name: name.to_string(),
        };
        let uid = |s: Option<&SecretStore>| s.and_then(|s| s.metadata.uid.clone());
        let want = uid(find_store(&list, &r));
        assert_eq!(uid(index.find(&r)), want, "{r:?}");
        found += usize::from(want.is_some());
    }
    // a/vault (the first, 1), b/vault, c/vaul, and by name vault (1), vault-2, vaul.
    assert_eq!(found, 6);
}
