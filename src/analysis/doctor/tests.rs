//! Unit tests for doctor's checks at a fixed time, over hand-built snapshots: each check must flag
//! the broken object and stay quiet on the healthy ones next to it.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::model::chain::{KeyFacts, ProviderFacts};
use crate::model::eso::{ExternalSecret, SecretStore};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::SecretMeta;

pub(super) fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap_or_default()
}

pub(super) fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => panic!("bad fixture: {e}"),
    }
}

pub(super) fn es(ns: &str, name: &str, ready: bool, refreshed: &str) -> ExternalSecret {
    from(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "spec": {"secretStoreRef": {"kind": "SecretStore", "name": "vault"}, "refreshInterval": "1h",
                 "target": {"name": format!("{name}-secret")}},
        "status": {"refreshTime": refreshed, "conditions": [{"type": "Ready",
            "status": if ready {"True"} else {"False"}, "reason": if ready {"SecretSynced"} else {"SecretSyncedError"}}]}
    }))
}

pub(super) fn owned(e: &ExternalSecret) -> ObjectMeta {
    from(json!({"name": e.target_name(), "namespace": e.namespace(),
        "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "name": e.name(), "uid": e.metadata.uid, "controller": true}]}))
}

pub(super) fn plain(ns: &str, name: &str) -> ObjectMeta {
    from(json!({"name": name, "namespace": ns}))
}

pub(super) fn vault_store(ready: bool) -> SecretStore {
    from(json!({
        "metadata": {"name": "vault", "namespace": "prod"},
        "spec": {"provider": {"vault": {"server": "https://vault", "auth": {
            "tokenSecretRef": {"name": "vault-token", "key": "token"}},
            "caProvider": {"type": "ConfigMap", "name": "ca", "key": "ca.crt"}}}},
        "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    }))
}

pub(super) fn healthy_install() -> InstallSnapshot {
    let crd = |n: &str| CrdFacts {
        name: format!("{n}.external-secrets.io"),
        served: vec!["v1".into()],
        stored: vec!["v1".into()],
        release_label: None,
    };
    let dep = |c: &str| DeploymentFacts {
        namespace: "external-secrets".into(),
        name: c.into(),
        component: c.into(),
        desired: 1,
        ready: 1,
        image: None,
        scope: Default::default(),
        helm_release: None,
    };
    InstallSnapshot {
        served_versions: vec!["v1".into()],
        crds: Ok([
            "externalsecrets",
            "secretstores",
            "clustersecretstores",
            "clusterexternalsecrets",
        ]
        .map(crd)
        .to_vec()),
        deployments: Ok([
            "external-secrets",
            "external-secrets-webhook",
            "external-secrets-cert-controller",
        ]
        .map(dep)
        .to_vec()),
        webhook_configurations: Ok(vec![
            "secretstore-validate".into(),
            "externalsecret-validate".into(),
        ]),
    }
}

pub(super) fn snapshot(
    ess: Vec<ExternalSecret>,
    secrets: Vec<ObjectMeta>,
    store_ready: bool,
) -> ScopeSnapshot {
    ScopeSnapshot {
        eso_api_version: "external-secrets.io/v1".into(),
        namespace: None,
        external_secrets: ess,
        secret_stores: Ok(vec![vault_store(store_ready)]),
        cluster_secret_stores: Ok(vec![]),
        cluster_external_secrets: Ok(vec![]),
        secrets: Ok(secrets.iter().map(SecretMeta::from).collect()),
        events: Ok(vec![]),
        store_events: vec![],
        workload: None,
        secret_stores_elsewhere: Vec::new(),
    }
}

pub(super) fn opts(fail_on: Status) -> DoctorOptions {
    DoctorOptions {
        selector: None,
        stale_after: Duration::from_secs(7200),
        stale_after_text: "2h".into(),
        probe: false,
        allow_partial: false,
        fail_on,
    }
}

pub(super) fn run(
    install: &InstallSnapshot,
    snap: &ScopeSnapshot,
    fail_on: Status,
) -> DoctorReport {
    let scope = analyse_scope(snap, &ScopeOptions::default(), now());
    analyse(
        install,
        snap,
        &scope,
        &DoctorExtras::default(),
        &opts(fail_on),
        now(),
    )
}

pub(super) fn check(r: &DoctorReport, id: CheckId) -> &Check {
    match r.checks.iter().find(|c| c.id == id) {
        Some(c) => c,
        None => panic!("no {id:?} check"),
    }
}

pub(super) fn objects(c: &Check) -> Vec<&str> {
    c.findings.iter().map(|f| f.object.as_str()).collect()
}

#[test]
fn healthy_cluster_has_every_check_ok_and_passes() {
    let a = es("prod", "a", true, "2026-11-22T11:30:00Z");
    let secrets = vec![owned(&a), plain("prod", "vault-token")];
    let r = run(
        &healthy_install(),
        &snapshot(vec![a], secrets, true),
        Status::Warning,
    );
    for c in &r.checks {
        let expected = if matches!(
            c.id,
            CheckId::Providers | CheckId::Regcreds | CheckId::PushSecrets
        ) {
            Status::Skipped
        } else {
            Status::Ok
        };
        assert_eq!(c.status, expected, "{c:?}");
    }
    assert!(!fails(&r));
    assert_eq!(r.totals.ok, 4);
}

#[test]
fn not_ready_missing_target_and_stale_are_each_named() {
    let broken = es("prod", "broken", false, "2026-11-22T11:30:00Z");
    let missing = es("prod", "missing", true, "2026-11-22T11:30:00Z");
    let stale = es("prod", "stale", true, "2026-11-22T08:00:00Z");
    let fine = es("prod", "fine", true, "2026-11-22T11:30:00Z");
    let secrets = vec![
        owned(&broken),
        owned(&stale),
        owned(&fine),
        plain("prod", "vault-token"),
    ];
    let r = run(
        &healthy_install(),
        &snapshot(vec![broken, missing, stale, fine], secrets, true),
        Status::Error,
    );
    let c = check(&r, CheckId::ExternalSecrets);
    assert_eq!(c.status, Status::Error);
    assert_eq!(
        objects(c),
        vec![
            "ExternalSecret prod/broken",
            "ExternalSecret prod/missing",
            "ExternalSecret prod/stale"
        ]
    );
    assert_eq!(c.findings[2].severity, Status::Warning);
    assert!(c.findings[2].message.contains("4h"), "{:?}", c.findings[2]);
    assert!(fails(&r));
}

#[test]
fn fail_on_decides_whether_a_warning_fails() {
    let stale = es("prod", "stale", true, "2026-11-22T08:00:00Z");
    let secrets = vec![owned(&stale), plain("prod", "vault-token")];
    let snap = snapshot(vec![stale], secrets, true);
    assert!(!fails(&run(&healthy_install(), &snap, Status::Error)));
    assert!(fails(&run(&healthy_install(), &snap, Status::Warning)));
}

#[test]
fn store_not_ready_and_missing_credentials_are_store_errors() {
    let a = es("prod", "a", false, "2026-11-22T11:30:00Z");
    let r = run(
        &healthy_install(),
        &snapshot(vec![a.clone()], vec![owned(&a)], false),
        Status::Error,
    );
    let c = check(&r, CheckId::Stores);
    assert_eq!(c.status, Status::Error);
    let messages: Vec<&str> = c.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.starts_with("not Ready")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("prod/vault-token (key token) does not exist")),
        "{messages:?}"
    );
    // The ConfigMap CA is not a Secret reference.
    assert!(
        !messages.iter().any(|m| m.contains("prod/ca")),
        "{messages:?}"
    );
    let es_check = check(&r, CheckId::ExternalSecrets);
    assert!(es_check.findings[0].next[0].starts_with("fix SecretStore/vault first"));
}

#[test]
fn hand_made_replacements_are_leftovers() {
    let a = es("prod", "a", true, "2026-11-22T11:30:00Z");
    let b = es("prod", "b", true, "2026-11-22T11:30:00Z");
    let secrets = vec![
        owned(&a),
        plain("prod", "b-secret"),
        plain("prod", "a-secret-manual"),
        plain("prod", "unrelated-manual"),
        plain("prod", "vault-token"),
    ];
    let r = run(
        &healthy_install(),
        &snapshot(vec![a, b], secrets, true),
        Status::Error,
    );
    let c = check(&r, CheckId::Leftovers);
    assert_eq!(
        objects(c),
        vec!["Secret prod/a-secret-manual", "Secret prod/b-secret"]
    );
    // ESO adopts a Secret without a controller at its next sync: a warning, never "delete it".
    let b = &c.findings[1];
    assert_eq!(
        (b.code.as_str(), b.severity),
        ("target-not-owned", Status::Warning)
    );
    assert!(
        !b.next.iter().any(|n| n.contains("kubectl delete")),
        "{:?}",
        b.next
    );
    assert_eq!(c.findings[0].severity, Status::Warning);
}

#[test]
fn installation_problems_are_named() {
    let mut install = healthy_install();
    install.served_versions = vec!["v1beta1".into()];
    if let Ok(d) = &mut install.deployments {
        d[0].ready = 0;
        d.retain(|d| d.component != "external-secrets-webhook");
    }
    install.webhook_configurations = Ok(vec![]);
    if let Ok(c) = &mut install.crds {
        c.retain(|c| !c.name.starts_with("clusterexternalsecrets"));
    }
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    let c = check(&r, CheckId::Installation);
    assert_eq!(c.status, Status::Error);
    let text = format!("{:?}", c.findings);
    for expected in [
        "0/1 replicas ready",
        "app.kubernetes.io/name=external-secrets-webhook",
        "secretstore-validate",
        "externalsecret-validate",
        "clusterexternalsecrets.external-secrets.io",
        "v1beta1 is deprecated",
    ] {
        assert!(text.contains(expected), "{expected} missing: {text}");
    }
}

#[test]
fn issue12_a_controller_scaled_to_zero_is_the_root_of_every_stale_externalsecret() {
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d[0].desired = 0;
        d[0].ready = 0;
    }
    let stale = es("prod", "a", true, "2026-11-22T08:00:00Z");
    let secrets = vec![owned(&stale), plain("prod", "vault-token")];
    let r = run(
        &install,
        &snapshot(vec![stale.clone()], secrets.clone(), true),
        Status::Error,
    );
    let root = &r.findings[0];
    assert_eq!(root.code, "eso-controller-not-ready", "{:#?}", r.findings);
    assert_eq!(root.severity, Status::Error);
    assert!(
        root.message.starts_with("scaled to zero replicas"),
        "{}",
        root.message
    );
    assert!(
        root.next[0].starts_with(
            "kubectl scale deployment external-secrets -n external-secrets --replicas=1"
        ),
        "{:?}",
        root.next
    );
    assert!(
        root.effects.iter().any(|e| e.code == "es-stale"),
        "{root:#?}"
    );
    // Near miss: a running controller with the same stale ExternalSecret: the staleness is its
    // own root, no installation finding.
    let r = run(
        &healthy_install(),
        &snapshot(vec![stale.clone()], secrets, true),
        Status::Error,
    );
    assert_eq!(r.findings[0].code, "es-stale", "{:#?}", r.findings);
    assert!(check(&r, CheckId::Installation).findings.is_empty());
}

#[test]
fn issue12_a_webhook_no_pod_serves_is_an_error_while_its_configurations_remain() {
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d[1].desired = 0;
        d[1].ready = 0;
    }
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    let c = check(&r, CheckId::Installation);
    let codes: Vec<&str> = c.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["eso-webhook-unavailable"], "{:#?}", c.findings);
    let f = &c.findings[0];
    assert_eq!(f.severity, Status::Error);
    assert!(
        f.message.contains("externalsecret-validate"),
        "{}",
        f.message
    );
    assert_eq!(
        f.next[0],
        "kubectl scale deployment external-secrets-webhook -n external-secrets --replicas=1"
    );
    // Near miss: the webhook left out on purpose, configurations and all: a warning for the
    // missing configurations, nothing refused.
    if let Ok(d) = &mut install.deployments {
        d.retain(|d| d.component != "external-secrets-webhook");
    }
    install.webhook_configurations = Ok(vec![]);
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    let c = check(&r, CheckId::Installation);
    assert!(
        c.findings
            .iter()
            .all(|f| f.code != "eso-webhook-unavailable" && f.severity == Status::Warning),
        "{:#?}",
        c.findings
    );
}

#[test]
fn issue12_crds_that_do_not_serve_the_controllers_version_stop_everything() {
    let with = |image: &str, served: &[&str]| {
        let mut install = healthy_install();
        install.served_versions = served.iter().map(|v| v.to_string()).collect();
        if let Ok(d) = &mut install.deployments {
            d[0].image = Some(format!(
                "oci.external-secrets.io/external-secrets/external-secrets:{image}"
            ));
        }
        install
    };
    let stale = es("prod", "a", true, "2026-11-22T08:00:00Z");
    let secrets = vec![owned(&stale), plain("prod", "vault-token")];
    // A v2.9.0 controller on CRDs left from ESO 0.9 (v1beta1 only).
    let r = run(
        &with("v2.9.0", &["v1beta1"]),
        &snapshot(vec![stale.clone()], secrets.clone(), true),
        Status::Error,
    );
    let root = &r.findings[0];
    assert_eq!(root.code, "eso-crd-version-unserved", "{:#?}", r.findings);
    assert!(
        root.message.contains("reads external-secrets.io/v1,"),
        "{}",
        root.message
    );
    assert!(
        root.effects.iter().any(|e| e.code == "es-stale"),
        "{root:#?}"
    );
    // An ESO 0.9 controller on CRDs that no longer serve v1beta1.
    let r = run(
        &with("v0.9.20", &["v1"]),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    assert_eq!(r.findings[0].code, "eso-crd-version-unserved");
    // Near misses: the served version matches (only the deprecation warning for an old
    // install), and an unknown controller version says nothing.
    for (image, served) in [("v0.9.20", &["v1beta1"][..]), ("v2.9.0", &["v1"][..])] {
        let r = run(
            &with(image, served),
            &snapshot(vec![], vec![], true),
            Status::Error,
        );
        assert!(
            check(&r, CheckId::Installation)
                .findings
                .iter()
                .all(|f| f.code != "eso-crd-version-unserved" && f.severity == Status::Warning),
            "{image} {served:?}: {:#?}",
            r.findings
        );
    }
    let r = run(
        &with("latest", &["v1beta1"]),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    assert!(
        crate::diagnose::rank::flatten(&r.findings).all(|f| f.code != "eso-crd-version-unserved")
    );
}

pub(super) fn probe(
    login_error: Option<&str>,
    keys: Vec<KeyFacts>,
    users: Vec<KeyUser>,
) -> StoreProbe {
    StoreProbe {
        store: StoreRef {
            kind: StoreKind::ClusterSecretStore,
            namespace: None,
            name: "akv-hybridops".into(),
        },
        provider_kind: "azurekv".into(),
        settings: Default::default(),
        kube_cluster: None,
        provider: ProviderFacts {
            probed: true,
            login_error: login_error.map(str::to_string),
            login_code: login_error.map(|_| "AADSTS7000222".to_string()),
            keys,
            ..ProviderFacts::default()
        },
        users,
        targets: vec![],
    }
}

pub(super) fn user(name: &str, key: &str) -> KeyUser {
    KeyUser {
        namespace: "netbox".into(),
        name: name.into(),
        key: key.into(),
        versions: vec![None],
        missing_properties: vec![],
    }
}

pub(super) fn key(name: &str) -> KeyFacts {
    KeyFacts {
        key: name.into(),
        path: format!("/secrets/{name}"),
        readable: Some(true),
        exists: Some(true),
        enabled: Some(true),
        ..KeyFacts::default()
    }
}

pub(super) fn run_probes(probes: &[StoreProbe]) -> DoctorReport {
    let snap = snapshot(vec![], vec![plain("prod", "vault-token")], true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    analyse(
        &healthy_install(),
        &snap,
        &scope,
        &DoctorExtras {
            push: None,
            eso_logs: None,
            probes: Some(probes.to_vec()),
            ..DoctorExtras::default()
        },
        &opts(Status::Error),
        now(),
    )
}

#[test]
fn a_failed_login_is_one_error_on_the_store() {
    let users = vec![user("a", "k"), user("b", "k")];
    let r = run_probes(&[probe(Some("client secret expired"), vec![], users)]);
    let c = check(&r, CheckId::Providers);
    assert_eq!(objects(c), vec!["ClusterSecretStore akv-hybridops"]);
    assert!(
        c.findings[0].message.contains("AADSTS7000222"),
        "{:?}",
        c.findings
    );
    assert!(fails(&r));
}

#[test]
fn key_problems_land_on_every_externalsecret_using_the_key_and_only_those() {
    let mut disabled = key("db-password");
    disabled.enabled = Some(false);
    let mut soon = key("api-key");
    soon.expires = Some("2026-11-30T00:00:00Z".into());
    let mut later = key("other");
    later.expires = Some("2027-06-01T00:00:00Z".into());
    let users = vec![
        user("db", "db-password"),
        user("db-copy", "db-password"),
        user("api", "api-key"),
        user("other", "other"),
    ];
    let r = run_probes(&[probe(None, vec![disabled, soon, later], users)]);
    let c = check(&r, CheckId::Providers);
    let got: Vec<(Status, &str)> = c
        .findings
        .iter()
        .map(|f| (f.severity, f.object.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Status::Error, "ExternalSecret netbox/db"),
            (Status::Error, "ExternalSecret netbox/db-copy"),
            (Status::Warning, "ExternalSecret netbox/api"),
        ]
    );
    assert!(
        c.findings[0].message.contains("disabled"),
        "{:?}",
        c.findings[0]
    );
    assert_eq!(c.checked, 1);
}

#[test]
fn a_property_the_remote_secret_lacks_is_an_error_naming_the_properties_it_has() {
    let mut k = key("db");
    k.properties = vec!["password".into(), "username".into()];
    let mut wrong = user("wrong", "db");
    wrong.missing_properties = vec!["pasword".into()];
    let r = run_probes(&[probe(None, vec![k], vec![wrong, user("right", "db")])]);
    let c = check(&r, CheckId::Providers);
    assert_eq!(objects(c), vec!["ExternalSecret netbox/wrong"]);
    assert_eq!(
        c.findings[0].message,
        "remote key db has no property pasword (properties: password, username): ESO fails the sync"
    );
}

#[test]
fn issue15_an_aws_version_finding_lands_only_on_the_externalsecrets_asking_that_version() {
    // prod/db probed twice: the current version (fine) and AWSPENDING (not there).
    let current = key("prod/db");
    let pending = KeyFacts {
        version: Some("AWSPENDING".into()),
        exists: Some(true),
        code: Some("VersionNotFound".into()),
        error: Some("secret prod/db has no version with stage AWSPENDING".into()),
        ..key("prod/db")
    };
    let mut asks_pending = user("pending", "prod/db");
    asks_pending.versions = vec![Some("AWSPENDING".into())];
    let mut asks_both = user("both", "prod/db");
    asks_both.versions = vec![None, Some("AWSPENDING".into())];
    let mut aws = probe(
        None,
        vec![current, pending],
        vec![user("current", "prod/db"), asks_pending, asks_both],
    );
    aws.provider_kind = "aws".into();
    let r = run_probes(std::slice::from_ref(&aws));
    let c = check(&r, CheckId::Providers);
    assert_eq!(
        objects(c),
        vec![
            "ExternalSecret netbox/both",
            "ExternalSecret netbox/pending"
        ]
    );
    assert_eq!(c.findings[0].code, "aws-version-missing");
    // Near miss: other providers keep matching on the key alone (they probe each key once).
    aws.provider_kind = "vault".into();
    let r = run_probes(&[aws]);
    assert_eq!(objects(check(&r, CheckId::Providers)).len(), 3);
}

#[test]
fn a_regcred_that_does_not_log_in_is_an_error_on_its_secret() {
    let snap = snapshot(vec![], vec![plain("prod", "vault-token")], true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    let login = |host: &str, ok: bool| RegistryLogin {
        host: host.into(),
        outcome: if ok { "ok" } else { "unauthorized" }.into(),
        ok,
        message: if ok {
            "logged in"
        } else {
            "401: bad credentials"
        }
        .into(),
    };
    let results = vec![
        RegcredResult {
            namespace: "prod".into(),
            secret: "regcred-order-service".into(),
            external_secret: "order-service-regcred".into(),
            payload_error: None,
            registries: vec![login("registry.internal:5000", false)],
        },
        RegcredResult {
            namespace: "prod".into(),
            secret: "regcred-user-service".into(),
            external_secret: "user-service-regcred".into(),
            payload_error: None,
            registries: vec![login("registry.internal:5000", true)],
        },
    ];
    let r = analyse(
        &healthy_install(),
        &snap,
        &scope,
        &DoctorExtras {
            push: None,
            eso_logs: None,
            regcreds: Some(results),
            ..DoctorExtras::default()
        },
        &opts(Status::Error),
        now(),
    );
    let c = check(&r, CheckId::Regcreds);
    assert_eq!(objects(c), vec!["Secret prod/regcred-order-service"]);
    assert!(
        c.findings[0].message.contains("unauthorized"),
        "{:?}",
        c.findings
    );
    assert_eq!(c.checked, 2);
}

fn with_windows(mut e: ExternalSecret, kind: &str, schedule: &str) -> ExternalSecret {
    e.spec.sync_windows = Some(from(json!({"kind": kind,
        "windows": [{"schedule": schedule, "duration": "2h"}]})));
    e
}

#[test]
fn issue14_a_closed_sync_window_explains_staleness_instead_of_es_stale() {
    // Refreshed 4h ago; windows open 22:00-00:00 UTC; now is 12:00 UTC.
    let held = with_windows(
        es("prod", "held", true, "2026-11-22T08:00:00Z"),
        "allow",
        "0 22 * * *",
    );
    // Near miss: the allow window opened at 11:00 and is open now, so ESO should have refreshed.
    let open = with_windows(
        es("prod", "open", true, "2026-11-22T08:00:00Z"),
        "allow",
        "0 11 * * *",
    );
    // A deny window open now holds refreshes back too.
    let denied = with_windows(
        es("prod", "denied", true, "2026-11-22T08:00:00Z"),
        "deny",
        "30 10 * * *",
    );
    let secrets = vec![
        owned(&held),
        owned(&open),
        owned(&denied),
        plain("prod", "vault-token"),
    ];
    let r = run(
        &healthy_install(),
        &snapshot(vec![held, open, denied], secrets, true),
        Status::Error,
    );
    let c = check(&r, CheckId::ExternalSecrets);
    let codes: Vec<(&str, &str)> = c
        .findings
        .iter()
        .map(|f| (f.object.as_str(), f.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (
                "ExternalSecret prod/denied",
                crate::diagnose::catalogue::ES_SYNC_WINDOW_CLOSED
            ),
            (
                "ExternalSecret prod/held",
                crate::diagnose::catalogue::ES_SYNC_WINDOW_CLOSED
            ),
            (
                "ExternalSecret prod/open",
                crate::diagnose::catalogue::ES_STALE
            ),
        ]
    );
    let held = &c.findings[1];
    assert!(
        held.message.contains("until 2026-11-22T22:00:00Z"),
        "{held:?}"
    );
    assert!(
        held.next[0].contains("kubectl eso force-sync held -n prod"),
        "{held:?}"
    );
    assert!(
        c.findings[0].message.contains("until 2026-11-22T12:30:01Z"),
        "{:?}",
        c.findings[0]
    );
}

pub(super) fn with_controller_image(image: Option<&str>) -> InstallSnapshot {
    let mut install = healthy_install();
    if let Ok(deps) = &mut install.deployments {
        for d in deps
            .iter_mut()
            .filter(|d| d.component == "external-secrets")
        {
            d.image = image.map(str::to_string);
        }
    }
    install
}

#[test]
fn issue14_doctor_reports_the_eso_version_and_says_when_it_is_newer() {
    let snap = snapshot(vec![], vec![plain("prod", "vault-token")], true);
    let newer = |image: Option<&str>| {
        let r = run(&with_controller_image(image), &snap, Status::Error);
        let flagged = r
            .findings
            .iter()
            .any(|f| f.code == crate::diagnose::catalogue::ESO_VERSION_NEWER);
        (r.eso_version, flagged)
    };
    let image = "oci.external-secrets.io/external-secrets/external-secrets";
    assert_eq!(
        newer(Some(&format!("{image}:v2.9.0"))),
        (Some("v2.9.0".into()), false)
    );
    assert_eq!(
        newer(Some(&format!("{image}:v2.10.1"))),
        (Some("v2.10.1".into()), true)
    );
    assert_eq!(
        newer(Some(&format!("{image}:v2.8.3-ubi"))),
        (Some("v2.8.3-ubi".into()), false)
    );
    // A registry with a port is not a tag; a digest-only image has no version to report.
    assert_eq!(
        newer(Some("registry.local:5000/eso/external-secrets@sha256:abcd")),
        (None, false)
    );
    assert_eq!(
        newer(Some(&format!("{image}:main"))),
        (Some("main".into()), false)
    );
    assert_eq!(newer(None), (None, false));
}

#[test]
fn issue14_clusterexternalsecret_failed_namespaces_are_an_error_with_reasons() {
    let mut snap = snapshot(vec![], vec![plain("prod", "vault-token")], true);
    snap.cluster_external_secrets = Ok(vec![
        from(json!({"metadata": {"name": "shared-db"},
            "spec": {"externalSecretName": "db", "somethingNewer": true},
            "status": {"provisionedNamespaces": ["prod"],
                "failedNamespaces": [{"namespace": "staging", "reason": "could not create or update ExternalSecret"}],
                "conditions": [{"type": "Ready", "status": "False", "reason": "SomeFutureReason"}]}})),
        // Near miss: every namespace provisioned.
        from(json!({"metadata": {"name": "fine"},
            "status": {"provisionedNamespaces": ["prod", "staging"]}})),
    ]);
    let r = run(&healthy_install(), &snap, Status::Error);
    let ces: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.code == crate::diagnose::catalogue::CES_NAMESPACE_FAILED)
        .collect();
    assert_eq!(ces.len(), 1, "{:#?}", r.findings);
    let f = ces[0];
    assert_eq!(f.object, "ClusterExternalSecret shared-db");
    assert!(
        f.message
            .contains("db in 1 of its namespaces: staging (could not create or update"),
        "{f:?}"
    );
    assert!(
        f.next[0].contains("kubectl get externalsecret db -n staging"),
        "{f:?}"
    );
    assert!(
        f.evidence.iter().any(|e| e == "provisioned in: prod"),
        "{f:?}"
    );
    assert!(fails(&r));
}

#[test]
fn issue12_a_refusal_on_every_key_of_a_store_is_one_store_finding() {
    let refused = |name: &str, code: &str| {
        let mut k = key(name);
        k.readable = Some(false);
        k.code = Some(code.into());
        k
    };
    let users = vec![user("a", "a"), user("b", "b")];
    let with_url = |mut p: StoreProbe| {
        p.settings.insert(
            "vaultUrl".into(),
            "https://hybridops.vault.azure.net/".into(),
        );
        p
    };
    // Every key refused by RBAC: the identity has no role on the vault.
    let p = with_url(probe(
        None,
        vec![
            refused("a", "ForbiddenByRbac"),
            refused("b", "ForbiddenByRbac"),
        ],
        users.clone(),
    ));
    let r = run_probes(&[p]);
    let f = &r.findings[0];
    assert_eq!(f.code, "azure-rbac-denied", "{:#?}", r.findings);
    assert_eq!(f.object, "ClusterSecretStore akv-hybridops");
    assert_eq!(f.affects.len(), 2, "{f:#?}");
    assert!(
        f.next.iter().all(|n| !n.contains('<') && !n.contains('…')),
        "{:?}",
        f.next
    );
    assert!(
        f.next[0].contains("kubectl eso describe-chain a -n netbox"),
        "{:?}",
        f.next
    );
    // The firewall refuses every request: one store finding even for one key.
    let p = with_url(probe(
        None,
        vec![refused("a", "ForbiddenByFirewall"), key("b")],
        users.clone(),
    ));
    let r = run_probes(&[p]);
    assert_eq!(r.findings[0].code, "azure-firewall-denied");
    assert_eq!(r.findings[0].object, "ClusterSecretStore akv-hybridops");
    // Near miss: one key refused, the other read: a role scoped to some secrets stays per key.
    let p = with_url(probe(
        None,
        vec![refused("a", "ForbiddenByRbac"), key("b")],
        users,
    ));
    let r = run_probes(&[p]);
    let rbac: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "azure-rbac-denied")
        .collect();
    assert_eq!(rbac.len(), 1, "{:#?}", r.findings);
    assert_eq!(rbac[0].object, "ExternalSecret netbox/a");
}

/// Issue 14: a generator's failure, as ESO's event words it, is a generator finding with a code,
/// not "not Ready" or a missing store.
#[test]
fn issue14_generator_failures_have_their_own_codes() {
    use crate::model::scope::{ExternalSecretRow, ReadyState, TargetInfo, TargetState};
    let row = |error: &str| ExternalSecretRow {
        namespace: "prod".into(),
        name: "regcred".into(),
        store: None,
        generators: vec!["VaultDynamicSecret/order-service-registry".into()],
        ready: ReadyState {
            status: "False".into(),
            reason: Some("SecretSyncedError".into()),
            message: None,
        },
        last_sync: None,
        refresh_interval: None,
        target: TargetInfo {
            name: "regcred".into(),
            state: TargetState::Present,
        },
        error: Some(error.into()),
        owned_by: None,
        failing: true,
        root_cause: None,
        failing_since: None,
        occurrences: None,
    };
    let code = |error: &str| super::generators::check(&row(error)).map(|f| f.code);
    assert_eq!(
        code(r#"vaultdynamicsecrets.generators.external-secrets.io "order-service-registry" not found"#).as_deref(),
        Some("generator-missing")
    );
    assert_eq!(
        code(r#"error using generator: cannot get Kubernetes secret "vault-token": secrets "vault-token" not found"#).as_deref(),
        Some("generator-credentials-missing")
    );
    assert_eq!(
        code("error using generator: unable to get dynamic secret: Code: 403. Errors: * permission denied").as_deref(),
        Some("generator-failed")
    );
    // A store's error on an ExternalSecret that also names generators is not a generator's.
    assert_eq!(code("could not get secret data from provider"), None);
    let mut no_gen = row("error using generator: x");
    no_gen.generators.clear();
    assert!(super::generators::check(&no_gen).is_none());
}

/// Issue 15: a kubernetes-provider store whose identity may not get the remote Secret: the
/// finding names the identity and gives the Role / RoleBinding; a token the API server rejects
/// is one credentials finding on the store.
#[test]
fn issue15_kubernetes_refusals_become_rbac_and_token_findings() {
    let mut denied = key("db");
    denied.path = "secrets/db in namespace shared".into();
    denied.readable = Some(false);
    denied.exists = None;
    denied.code = Some("Forbidden".into());
    denied.error = Some(
        "secrets \"db\" is forbidden: User \"system:serviceaccount:team:reader\" cannot get \
         resource \"secrets\" in API group \"\" in the namespace \"shared\""
            .into(),
    );
    let mut p = probe(None, vec![denied.clone()], vec![user("a", "db")]);
    p.provider_kind = "kubernetes".into();
    p.provider.login_code = None;
    p.settings = [
        (
            "server".to_string(),
            "kubernetes.default (this cluster)".to_string(),
        ),
        ("remoteNamespace".to_string(), "shared".to_string()),
    ]
    .into();
    let r = run_probes(std::slice::from_ref(&p));
    let f = &check(&r, CheckId::Providers).findings[0];
    use crate::diagnose::catalogue::*;
    assert_eq!(f.code, KUBERNETES_RBAC_DENIED);
    assert!(
        f.message.contains(
            "system:serviceaccount:team:reader may not get secret db in namespace shared"
        ),
        "{f:?}"
    );
    let next = f.next.join(" ");
    assert!(next.contains("kubectl create rolebinding eso-read-db -n shared --role=eso-read-db --serviceaccount=team:reader"), "{next}");

    // Every Secret refused: one cause on the store, with the ExternalSecret it breaks.
    assert_eq!(f.object, "ClusterSecretStore akv-hybridops");
    assert_eq!(f.affects, vec!["ExternalSecret netbox/a".to_string()]);
    // Near miss: a Role scoped to some Secrets refuses one key only: the finding stays on the
    // ExternalSecret that reads it.
    let mut partial = p.clone();
    partial.provider.keys.push(key("other"));
    partial.users.push(user("b", "other"));
    let r = run_probes(&[partial]);
    let f = &check(&r, CheckId::Providers).findings[0];
    assert_eq!(f.code, KUBERNETES_RBAC_DENIED);
    assert_eq!(f.object, "ExternalSecret netbox/a");
    // Two Secrets, both refused: still one cause on the store, one Role naming both.
    let mut both = p.clone();
    let mut other = denied.clone();
    other.key = "other".into();
    both.provider.keys.push(other);
    both.users.push(user("b", "other"));
    let r = run_probes(&[both]);
    let findings = &check(&r, CheckId::Providers).findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(f.object, "ClusterSecretStore akv-hybridops");
    assert!(f.message.contains("nor may it get other"), "{f:?}");
    assert!(
        f.next
            .join(" ")
            .contains("--resource-name=db --resource-name=other"),
        "{f:?}"
    );
    assert_eq!(
        f.affects,
        vec![
            "ExternalSecret netbox/a".to_string(),
            "ExternalSecret netbox/b".to_string()
        ]
    );

    // Near miss: the same refusal from an AWS store is not an RBAC finding.
    let mut aws = p.clone();
    aws.provider_kind = "aws".into();
    let r = run_probes(&[aws]);
    assert_eq!(
        check(&r, CheckId::Providers).findings[0].code,
        PROVIDER_READ_DENIED
    );

    // A rejected token: one finding on the store, naming the Secret.
    let mut rejected = p.clone();
    rejected.provider.keys = vec![];
    rejected.provider.login_error =
        Some("the API server rejected the credential (401 Unauthorized)".into());
    rejected.provider.login_code = Some("HTTP 401".into());
    rejected.settings.insert("auth".into(), "token".into());
    rejected.settings.insert(
        "bearerToken".into(),
        "Secret team/remote-token[token]".into(),
    );
    let r = run_probes(&[rejected]);
    let f = &check(&r, CheckId::Providers).findings[0];
    assert_eq!(f.code, KUBERNETES_TOKEN_REJECTED);
    assert!(
        f.message.contains("Secret team/remote-token[token]"),
        "{f:?}"
    );
}

/// A Vault store whose login Vault refused with `error`, using `auth` with these settings.
fn vault_refused(auth: &str, error: &str, settings: &[(&str, &str)]) -> StoreProbe {
    let mut p = probe(Some(error), vec![], vec![user("billing-db", "billing/db")]);
    p.provider_kind = "vault".into();
    p.provider.login_code = Some("HTTP 403".into());
    p.store = StoreRef {
        kind: StoreKind::SecretStore,
        namespace: Some("billing".into()),
        name: "vault-billing".into(),
    };
    p.settings.insert("auth".into(), auth.into());
    for (k, v) in settings {
        p.settings.insert((*k).into(), (*v).into());
    }
    p
}

#[test]
fn issue12_refused_vault_credentials_name_the_secret_to_refill() {
    let token = vault_refused(
        "token",
        "the token was refused: HTTP 403: permission denied",
        &[("tokenSecret", "vault-static"), ("tokenSecretKey", "token")],
    );
    let c = super::providers::check(&[token], now());
    let f = &c.findings[0];
    assert_eq!(f.code, crate::diagnose::catalogue::VAULT_TOKEN_EXPIRED);
    let next = f.next.join(" | ");
    assert!(
        next.contains("Secret billing/vault-static (key token)"),
        "{next}"
    );

    let approle = vault_refused(
        "appRole",
        "login at auth/approle/login failed: HTTP 400: invalid role or secret ID",
        &[
            ("mountPath", "approle-ci"),
            ("roleId", "2f1c0e1a-role"),
            ("secretIdSecret", "approle-secret-id"),
            ("secretIdSecretKey", "secret-id"),
        ],
    );
    let c = super::providers::check(&[approle], now());
    let next = c.findings[0].next.join(" | ");
    assert!(
        next.contains("\"2f1c0e1a-role\"")
            && next.contains("auth/approle-ci/role/$ROLE/secret-id")
            && next.contains("Secret billing/approle-secret-id (key secret-id)"),
        "{next}"
    );

    // Near miss: a kubernetes login refused the same way is no expired token.
    let k8s = vault_refused(
        "kubernetes",
        "login at auth/kubernetes/login failed: HTTP 403: permission denied",
        &[
            ("mountPath", "kubernetes"),
            ("serviceAccount", "eso-billing"),
        ],
    );
    let c = super::providers::check(&[k8s], now());
    let f = &c.findings[0];
    assert_eq!(
        f.code,
        crate::diagnose::catalogue::VAULT_TOKENREVIEW_REFUSED
    );
    let next = f.next.join(" | ");
    assert!(
        next.contains("--as=system:serviceaccount:billing:eso-billing")
            && next.contains("--serviceaccount=billing:eso-billing"),
        "{next}"
    );
    // Near miss: the ServiceAccount may review tokens: no binding is suggested.
    let mut may = vault_refused(
        "kubernetes",
        "login at auth/kubernetes/login failed: HTTP 403: permission denied",
        &[
            ("mountPath", "kubernetes"),
            ("serviceAccount", "eso-billing"),
        ],
    );
    may.provider.vault = Some(crate::model::chain::VaultExplain {
        reviewer_may_review: Some(true),
        ..Default::default()
    });
    let c = super::providers::check(&[may], now());
    let next = c.findings[0].next.join(" | ");
    assert!(!next.contains("clusterrolebinding"), "{next}");
    assert!(next.contains("vault read auth/kubernetes/config"), "{next}");
}

/// Issue 12: a secret whose state in the provider is at fault (soft-deleted, destroyed, expired)
/// names no wrong field, prints the provider's own restore or rotate command with the real names,
/// and is marked sharper than the error text (describe-chain's verdict then takes it); a key that
/// does not exist (the near miss) still blames `remoteRef.key`.
#[test]
fn issue12_a_secret_deleted_or_expired_in_the_provider_gets_its_restore_command() {
    let vault_probe = |k: KeyFacts| {
        let mut p = probe(None, vec![k], vec![user("billing-db", "billing/db")]);
        p.provider_kind = "vault".into();
        p.provider.login_code = None;
        p.settings.insert("path".into(), "apps".into());
        p.settings.insert("version".into(), "v2".into());
        p
    };
    let first = |p: StoreProbe| {
        let c = super::providers::check(&[p], now());
        c.findings
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no finding"))
    };
    let mut deleted = key("billing/db");
    deleted.path = "apps/data/billing/db".into();
    deleted.deleted = true;
    deleted.current_version = Some("4".into());
    let f = first(vault_probe(deleted.clone()));
    assert_eq!(f.code, "vault-secret-deleted");
    assert_eq!(f.field, None);
    assert!(f.about.from_provider_config);
    let next = f.next.join(" | ");
    assert!(
        next.contains("vault kv undelete -mount=apps -versions=4 billing/db")
            && next.contains("kubectl eso force-sync billing-db -n netbox"),
        "{next}"
    );

    let mut destroyed = deleted.clone();
    destroyed.deleted = false;
    destroyed.destroyed = true;
    let next = first(vault_probe(destroyed)).next.join(" | ");
    assert!(!next.contains("undelete"), "{next}");
    assert!(
        next.contains("vault kv rollback -mount=apps -version=$LIVE billing/db"),
        "{next}"
    );

    let mut azure = probe(None, vec![], vec![user("smtp", "smtp-password")]);
    azure.settings.insert(
        "vaultUrl".into(),
        "https://hybridops.vault.azure.net".into(),
    );
    let mut gone = key("smtp-password");
    gone.deleted = true;
    azure.provider.keys = vec![gone];
    let f = first(azure.clone());
    assert_eq!(f.code, "azure-secret-deleted");
    assert!(f.about.from_provider_config && f.field.is_none());
    assert!(
        f.next[0]
            .contains("az keyvault secret recover --vault-name hybridops --name smtp-password"),
        "{:?}",
        f.next
    );
    let mut expired = key("smtp-password");
    expired.expires = Some("2026-03-01T00:00:00Z".into());
    azure.provider.keys = vec![expired];
    let f = first(azure.clone());
    assert_eq!(f.code, "provider-secret-expired");
    assert!(f.about.from_provider_config && f.field.is_none());
    assert!(
        f.next[0].contains("az keyvault secret set --vault-name hybridops --name smtp-password"),
        "{:?}",
        f.next
    );

    // Near miss: a name Key Vault does not know, live or deleted, is the key's fault.
    let mut missing = key("smtp-pasword");
    missing.exists = Some(false);
    missing.code = Some("SecretNotFound".into());
    azure.provider.keys = vec![missing];
    azure.users = vec![user("smtp", "smtp-pasword")];
    let f = first(azure);
    assert_eq!(f.code, "provider-key-missing");
    assert_eq!(f.field.as_deref(), Some("spec.data[].remoteRef.key"));
    assert!(!f.about.from_provider_config);
}

/// Issue 12: a role that does not exist is not told to check the role's bindings (there is no
/// role to read); the near miss, a role that exists but binds another ServiceAccount, is.
#[test]
fn issue12_a_missing_vault_role_lists_the_roles_instead_of_reading_it() {
    let refused = |error: &str| {
        let mut p = vault_refused(
            "kubernetes",
            error,
            &[
                ("mountPath", "kubernetes"),
                ("role", "inventory-reader"),
                ("serviceAccount", "eso-billing"),
            ],
        );
        p.provider.login_code = Some("HTTP 400".into());
        let c = super::providers::check(&[p], now());
        let f = c
            .findings
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no finding"));
        (f.code, f.next.join(" | "))
    };
    let (code, next) = refused(
        "login at auth/kubernetes/login failed: HTTP 400: invalid role name \"inventory-reader\"",
    );
    assert_eq!(code, "vault-role-missing");
    assert!(
        next.starts_with("vault list auth/kubernetes/role")
            && next.contains("vault write auth/kubernetes/role/inventory-reader")
            && next.contains("bound_service_account_namespaces=billing"),
        "{next}"
    );
    assert!(!next.contains("vault read auth/kubernetes/role/"), "{next}");
    let (code, next) = refused(
        "login at auth/kubernetes/login failed: HTTP 403: service account name not authorized",
    );
    assert_eq!(code, "vault-role-binding-mismatch");
    assert!(
        next.contains("vault read auth/kubernetes/role/inventory-reader"),
        "{next}"
    );
}

/// Issue 12: the federated credential to add names the issuer; without one quoted by Entra the
/// shell reads the cluster's, so the substitution must stand outside the JSON's single quotes.
#[test]
fn issue12_federated_credential_command_expands_the_issuer_it_reads() {
    let mut p = probe(
        Some("AADSTS700213: No matching federated identity record found"),
        vec![],
        vec![user("a", "db")],
    );
    p.settings.insert("serviceAccount".into(), "eso-akv".into());
    p.settings
        .insert("serviceAccountNamespace".into(), "secrets".into());
    let next = super::providers::federated_next(&p);
    assert!(
        next.contains(
            "\"issuer\":\"'\"$(kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)\"'\","
        ),
        "{next}"
    );
    assert!(
        next.contains("system:serviceaccount:secrets:eso-akv"),
        "{next}"
    );
    // Near miss: an issuer Entra quoted goes into the JSON as it is.
    p.provider.login_error = Some(
        "AADSTS700213: No matching federated identity record found for presented assertion \
         subject 'system:serviceaccount:secrets:eso-akv'. Assertion Issuer: \
         'https://oidc.example/abc'. Assertion Audience: 'api://AzureADTokenExchange'."
            .into(),
    );
    let next = super::providers::federated_next(&p);
    assert!(
        next.contains("\"issuer\":\"https://oidc.example/abc\","),
        "{next}"
    );
}

/// Key Vault commands name the vault: from the store's vaultUrl, else read by the shell from the
/// store — never an empty `--vault-name`.
#[test]
fn issue12_key_vault_commands_always_name_the_vault() {
    let mut p = probe(None, vec![], vec![user("a", "db")]);
    let read = super::providers::key_vault_arg(&p);
    assert_eq!(
        read,
        "\"$(kubectl get clustersecretstore akv-hybridops -o \
         jsonpath='{.spec.provider.azurekv.vaultUrl}' | cut -d/ -f3 | cut -d. -f1)\""
    );
    // Near miss: a known vaultUrl gives the name itself.
    p.settings.insert(
        "vaultUrl".into(),
        "https://kv-hybridops.vault.azure.net/".into(),
    );
    assert_eq!(super::providers::key_vault_arg(&p), "kv-hybridops");
}

/// The ServiceAccount a Vault kubernetes login presents, for the grant commands: a
/// ClusterSecretStore's serviceAccountRef namespace, else (referent) the ExternalSecret's.
#[test]
fn issue12_vault_grant_commands_name_the_store_service_account() {
    let mut p = probe(None, vec![], vec![user("a", "db")]);
    p.provider_kind = "vault".into();
    p.settings
        .insert("serviceAccount".into(), "eso-vault".into());
    p.settings
        .insert("serviceAccountNamespace".into(), "platform".into());
    assert_eq!(
        super::providers::vault_service_account(&p),
        "platform:eso-vault"
    );
    // Referent: no namespace on a ClusterSecretStore's ref: the ExternalSecret's namespace.
    p.settings.remove("serviceAccountNamespace");
    let ns = p.users[0].namespace.clone();
    assert_eq!(
        super::providers::vault_service_account(&p),
        format!("{ns}:eso-vault")
    );
}

#[test]
fn issue_16_beside_runs_the_second_half_on_its_own_thread_only_when_asked() {
    let here = std::thread::current().id();
    let (a, b) = beside(
        true,
        || std::thread::current().id(),
        || std::thread::current().id(),
    );
    assert_eq!(a, here);
    assert_ne!(b, here, "the second half ran on a thread of its own");
    let (a, b) = beside(
        false,
        || std::thread::current().id(),
        || std::thread::current().id(),
    );
    assert_eq!((a, b), (here, here));
    let (x, y) = beside(true, || vec![1, 2], || "two".to_string());
    assert_eq!((x, y.as_str()), (vec![1, 2], "two"));
}

/// The lookup as it was before it was indexed (stop 26): a scan of what scope read.
fn managed_metadata_scan(snap: &ScopeSnapshot, object: &str) -> Option<Value> {
    let (kind, rest) = object.split_once(' ')?;
    let (ns, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, rest),
    };
    let same = |m: &ObjectMeta| m.name.as_deref() == Some(name) && m.namespace.as_deref() == ns;
    let meta = match kind {
        "ExternalSecret" => snap
            .external_secrets
            .iter()
            .map(|e| &e.metadata)
            .find(|m| same(m)),
        "SecretStore" => snap
            .secret_stores
            .as_ref()
            .ok()?
            .iter()
            .map(|e| &e.metadata)
            .find(|m| same(m)),
        "ClusterSecretStore" => snap
            .cluster_secret_stores
            .as_ref()
            .ok()?
            .iter()
            .map(|e| &e.metadata)
            .find(|m| m.name.as_deref() == Some(name)),
        _ => None,
    }?;
    serde_json::to_value(meta).ok()
}

#[test]
fn managed_metadata_is_found_as_a_scan_of_what_scope_read_finds_it() {
    let mut first = es("a", "x", true, "2026-11-22T11:00:00Z");
    first.metadata.labels = Some([("first".to_string(), "yes".to_string())].into());
    let ess = vec![
        first,
        es("b", "x", true, "2026-11-22T11:00:00Z"),
        // The same ExternalSecret listed twice: the first answers.
        es("a", "x", false, "2026-11-22T11:00:00Z"),
        es("a", "y", true, "2026-11-22T11:00:00Z"),
    ];
    let mut snap = snapshot(ess, vec![], true);
    let css: SecretStore = from(
        json!({"metadata": {"name": "vault", "namespace": "ignored"}, "spec": {"provider": {"vault": {}}}}),
    );
    snap.cluster_secret_stores = Ok(vec![css]);
    let index = ManagedMetadata::new(&snap);
    let store = vault_store(true);
    let store_object = format!(
        "SecretStore {}/{}",
        store.metadata.namespace.as_deref().unwrap_or_default(),
        store.metadata.name.as_deref().unwrap_or_default()
    );
    let objects = [
        "ExternalSecret a/x",
        "ExternalSecret b/x",
        "ExternalSecret a/y",
        store_object.as_str(),
        "ClusterSecretStore vault",
        "ClusterSecretStore some-ns/vault",
        // Near misses: another namespace, another kind, no namespace, unknown kinds.
        "ExternalSecret c/x",
        "SecretStore a/x",
        "ExternalSecret x",
        "Secret a/x",
        "ClusterSecretStore vault-2",
        "",
    ];
    let mut found = 0;
    for object in objects {
        let got = index.of(object);
        assert_eq!(got, managed_metadata_scan(&snap, object), "{object}");
        found += usize::from(got.is_some());
    }
    assert_eq!(found, 6, "the six that exist are found");
    let first = index.of("ExternalSecret a/x").unwrap_or_default();
    assert_eq!(first["labels"]["first"], "yes");
    // Stores not read: nothing to find, as before.
    snap.secret_stores = Err(crate::model::scope::Degraded {
        resource: "secretstores".into(),
        namespace: None,
        cause: "forbidden".into(),
    });
    assert_eq!(ManagedMetadata::new(&snap).of(&store_object), None);
}
