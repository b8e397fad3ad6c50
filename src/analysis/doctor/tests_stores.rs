//! Check 2's reads beyond scope's snapshot (issue 8): the referenced keys of credentials Secrets,
//! and ClusterSecretStore `spec.conditions` against the namespaces whose ExternalSecrets use it.

use std::collections::BTreeMap;

use serde_json::json;

use super::tests::{check, es, from, healthy_install, now, opts, owned, plain, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::model::eso::{ExternalSecret, SecretStore};
use crate::model::scope::Fetched;

fn run(snap: &ScopeSnapshot, stores: StoreExtras) -> DoctorReport {
    let scope = analyse_scope(snap, &ScopeOptions::default(), now());
    let extras = DoctorExtras {
        push: None,
        eso_logs: None,
        stores,
        ..DoctorExtras::default()
    };
    analyse(
        &healthy_install(),
        snap,
        &scope,
        &extras,
        &opts(Status::Error),
        now(),
    )
}

fn messages(r: &DoctorReport) -> Vec<(Status, String, String)> {
    check(r, CheckId::Stores)
        .findings
        .iter()
        .map(|f| (f.severity, f.object.clone(), f.message.clone()))
        .collect()
}

/// One credentials Secret's key names as check 2 receives them.
fn keys(ns: &str, name: &str, k: Fetched<Option<&[&str]>>) -> CredentialKeys {
    let k = k.map(|k| k.map(|k| k.iter().map(|s| s.to_string()).collect()));
    CredentialKeys::from([((ns.to_string(), name.to_string()), k)])
}

#[test]
fn issue8_a_credentials_secret_without_the_referenced_key_is_a_store_error() {
    let a = es("prod", "a", true, "2026-11-22T11:50:00Z");
    let snap = snapshot(
        vec![a.clone()],
        vec![owned(&a), plain("prod", "vault-token")],
        true,
    );
    let wrong = keys("prod", "vault-token", Ok(Some(&["root", "ttl"])));
    let r = run(
        &snap,
        StoreExtras {
            credential_keys: wrong,
            ..StoreExtras::default()
        },
    );
    assert_eq!(
        messages(&r),
        vec![(
            Status::Error,
            "SecretStore prod/vault".to_string(),
            "credentials Secret prod/vault-token has no key token (keys: root, ttl)".to_string()
        )]
    );
    assert!(check(&r, CheckId::Stores).findings[0].next[0].starts_with("add key token"));

    let right = keys("prod", "vault-token", Ok(Some(&["token"])));
    let r = run(
        &snap,
        StoreExtras {
            credential_keys: right,
            ..StoreExtras::default()
        },
    );
    assert_eq!(check(&r, CheckId::Stores).status, Status::Ok);

    // Read by name, a missing Secret is missing even where the metadata LIST had it listed.
    let gone = keys("prod", "vault-token", Ok(None));
    let r = run(
        &snap,
        StoreExtras {
            credential_keys: gone,
            ..StoreExtras::default()
        },
    );
    assert!(messages(&r)[0].2.ends_with("(key token) does not exist"));

    // Unreadable (403): existence from the metadata LIST, and the cause among the degraded parts.
    let forbidden = Degraded {
        resource: "secrets".into(),
        namespace: Some("prod".into()),
        cause: "no permission to get secret prod/vault-token: its keys were not checked".into(),
    };
    let r = run(
        &snap,
        StoreExtras {
            credential_keys: keys("prod", "vault-token", Err(forbidden.clone())),
            ..StoreExtras::default()
        },
    );
    assert_eq!(check(&r, CheckId::Stores).status, Status::Ok);
    assert!(r.degraded.contains(&forbidden), "{:?}", r.degraded);
}

fn cluster_store(conditions: serde_json::Value) -> SecretStore {
    from(json!({
        "metadata": {"name": "shared"},
        "spec": {"conditions": conditions, "provider": {"vault": {"server": "https://vault",
            "auth": {"tokenSecretRef": {"name": "t", "namespace": "eso", "key": "token"}}}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
}

fn on_cluster_store(ns: &str, name: &str) -> ExternalSecret {
    let mut e = es(ns, name, true, "2026-11-22T11:50:00Z");
    e.spec.secret_store_ref = Some(from(
        json!({"kind": "ClusterSecretStore", "name": "shared"}),
    ));
    e
}

fn labels(entries: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, BTreeMap<String, String>> {
    entries
        .iter()
        .map(|(ns, l)| {
            let l = l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (ns.to_string(), l)
        })
        .collect()
}

#[test]
fn issue8_cluster_store_conditions_that_shut_out_a_using_namespace_are_store_errors() {
    let ess = vec![
        on_cluster_store("team-a", "db"),
        on_cluster_store("team-b", "db"),
        on_cluster_store("team-b", "api"),
        on_cluster_store("legacy", "db"),
    ];
    let mut secrets: Vec<_> = ess.iter().map(owned).collect();
    secrets.extend([plain("eso", "t"), plain("prod", "vault-token")]);
    let mut snap = snapshot(ess, secrets, true);
    snap.cluster_secret_stores = Ok(vec![cluster_store(json!([
        {"namespaceSelector": {"matchLabels": {"team": "a"}}},
        {"namespaceRegexes": ["^team-b$"]}
    ]))]);
    let ns = labels(&[
        ("team-a", &[("team", "a")]),
        ("team-b", &[]),
        ("legacy", &[("team", "old")]),
    ]);
    let r = run(
        &snap,
        StoreExtras {
            namespace_labels: Some(Ok(ns)),
            ..StoreExtras::default()
        },
    );
    assert_eq!(
        messages(&r),
        vec![(
            Status::Error,
            "ClusterSecretStore shared".to_string(),
            "spec.conditions do not admit namespace legacy, where 1 ExternalSecret(s) use it: \
             ESO refuses them (denied by spec.condition)"
                .to_string()
        )]
    );

    // Without the namespaces' labels the selector decides nothing: a warning for the namespaces
    // no name or pattern admits, never an error.
    let r = run(
        &snap,
        StoreExtras {
            namespace_labels: Some(Err(Degraded {
                resource: "namespaces".into(),
                namespace: None,
                cause: "no permission to list namespaces".into(),
            })),
            ..StoreExtras::default()
        },
    );
    let got = messages(&r);
    let objects: Vec<(Status, &str)> = got
        .iter()
        .map(|(s, _, m)| (*s, m.split(',').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        objects,
        vec![
            (
                Status::Warning,
                "could not tell whether spec.conditions admit namespace legacy"
            ),
            (
                Status::Warning,
                "could not tell whether spec.conditions admit namespace team-a"
            ),
        ],
        "{got:?}"
    );
    assert!(r.degraded.iter().any(|d| d.resource == "namespaces"));

    // A store without conditions admits everyone, labels or not.
    snap.cluster_secret_stores = Ok(vec![cluster_store(json!([]))]);
    let r = run(&snap, StoreExtras::default());
    assert_eq!(
        check(&r, CheckId::Stores).status,
        Status::Ok,
        "{:?}",
        messages(&r)
    );
}

#[test]
fn issue14_ready_with_validation_unknown_is_a_warning_and_valid_is_not() {
    let a = es("prod", "a", true, "2026-11-22T11:50:00Z");
    let mut snap = snapshot(
        vec![a.clone()],
        vec![owned(&a), plain("prod", "vault-token")],
        true,
    );
    let right = || keys("prod", "vault-token", Ok(Some(&["token"])));
    let extras = || StoreExtras {
        credential_keys: right(),
        ..StoreExtras::default()
    };
    // Near miss: Ready=True with no reason (or Valid) says nothing.
    assert_eq!(messages(&run(&snap, extras())), vec![]);
    if let Ok(stores) = &mut snap.secret_stores {
        stores[0].status.conditions[0].reason = Some("ValidationUnknown".into());
    }
    let r = run(&snap, extras());
    let found = &check(&r, CheckId::Stores).findings;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "store-validation-unknown");
    assert_eq!(found[0].severity, Status::Warning);
    assert_eq!(found[0].object, "SecretStore prod/vault");
}

/// SecretStore prod/vault logging in to Vault as ServiceAccount `sa` through `serviceAccountRef`.
fn vault_store_as(sa: &str) -> SecretStore {
    from(json!({
        "metadata": {"name": "vault", "namespace": "prod"},
        "spec": {"provider": {"vault": {"server": "https://vault.example:8200", "path": "secret",
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso",
                "serviceAccountRef": {"name": sa}}}}}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidProviderConfig"}]}
    }))
}

fn accounts(ns: &str, name: &str, found: Fetched<bool>) -> StoreExtras {
    StoreExtras {
        service_accounts: [((ns.to_string(), name.to_string()), found)].into(),
        ..StoreExtras::default()
    }
}

#[test]
fn issue12_a_missing_service_account_is_the_store_root_cause() {
    let a = es("prod", "a", false, "2026-11-22T11:50:00Z");
    let mut snap = snapshot(vec![a.clone()], vec![owned(&a)], false);
    snap.secret_stores = Ok(vec![vault_store_as("eso-orders")]);
    assert_eq!(
        vault_store_as("eso-orders").service_account_refs()[0].field,
        "spec.provider.vault.auth.kubernetes.serviceAccountRef"
    );
    let r = run(&snap, accounts("prod", "eso-orders", Ok(false)));
    let root = &r.findings[0];
    assert_eq!(
        root.code, "credentials-service-account-missing",
        "{:#?}",
        r.findings
    );
    assert_eq!(root.object, "SecretStore prod/vault");
    assert!(
        root.message.contains("ServiceAccount prod/eso-orders"),
        "{}",
        root.message
    );
    assert!(
        root.next[0].contains("kubectl create serviceaccount eso-orders -n prod"),
        "{:?}",
        root.next
    );
    // The store's and the ExternalSecret's failures are its effects.
    let effects: Vec<&str> = root.effects.iter().map(|e| e.code.as_str()).collect();
    assert!(effects.contains(&"store-not-ready"), "{effects:?}");

    // Near misses: the ServiceAccount exists; it could not be read (no verdict, a degraded part).
    let r = run(&snap, accounts("prod", "eso-orders", Ok(true)));
    assert!(
        !crate::diagnose::rank::flatten(&r.findings)
            .any(|f| f.code == "credentials-service-account-missing"),
        "{:#?}",
        r.findings
    );
    let forbidden = Degraded {
        resource: "serviceaccounts".into(),
        namespace: Some("prod".into()),
        cause: "could not get serviceaccount prod/eso-orders: forbidden".into(),
    };
    let r = run(
        &snap,
        accounts("prod", "eso-orders", Err(forbidden.clone())),
    );
    assert!(
        !crate::diagnose::rank::flatten(&r.findings)
            .any(|f| f.code == "credentials-service-account-missing")
    );
    assert!(r.degraded.contains(&forbidden), "{:?}", r.degraded);
}

#[test]
fn issue12_a_referent_service_account_missing_in_one_namespace_is_named_there_only() {
    // A ClusterSecretStore whose serviceAccountRef names no namespace: ESO looks in each
    // ExternalSecret's namespace.
    let store: SecretStore = from(json!({
        "metadata": {"name": "shared"},
        "spec": {"provider": {"vault": {"server": "https://vault", "path": "kv",
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "r",
                "serviceAccountRef": {"name": "eso-reader"}}}}}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Valid"}]}
    }));
    assert_eq!(store.service_account_refs()[0].namespace, None);
    let mut b = on_cluster_store("team-b", "db");
    b.status.conditions[0].status = "False".into();
    let ess = vec![on_cluster_store("team-a", "db"), b];
    let secrets: Vec<_> = ess.iter().map(owned).collect();
    let mut snap = snapshot(ess, secrets, true);
    snap.cluster_secret_stores = Ok(vec![store]);
    let found = |team_b: bool| StoreExtras {
        service_accounts: [
            (("team-a".to_string(), "eso-reader".to_string()), Ok(true)),
            (("team-b".to_string(), "eso-reader".to_string()), Ok(team_b)),
        ]
        .into(),
        ..StoreExtras::default()
    };
    let r = run(&snap, found(false));
    let root = &r.findings[0];
    assert_eq!(
        root.code, "credentials-referent-missing",
        "{:#?}",
        r.findings
    );
    assert!(
        root.message
            .contains("namespace team-b has no ServiceAccount eso-reader"),
        "{}",
        root.message
    );
    assert_eq!(root.affects, vec!["ExternalSecret team-b/db".to_string()]);
    assert!(
        root.next[0].starts_with("kubectl create serviceaccount eso-reader -n team-b"),
        "{:?}",
        root.next
    );
    // team-b's failure is its effect; team-a is not concerned.
    assert!(
        root.effects
            .iter()
            .any(|e| e.object == "ExternalSecret team-b/db")
    );
    // Near miss: the ServiceAccount exists in every namespace using the store.
    let r = run(&snap, found(true));
    assert!(
        !crate::diagnose::rank::flatten(&r.findings)
            .any(|f| f.code == "credentials-referent-missing"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn issue12_a_referent_credentials_secret_missing_in_one_namespace_is_named_there_only() {
    // A ClusterSecretStore whose tokenSecretRef names no namespace: ESO reads the Secret from
    // each ExternalSecret's namespace (the store itself is Ready, ValidationUnknown).
    let store = |namespace: Option<&str>| -> SecretStore {
        let mut token = json!({"name": "vault-token", "key": "token"});
        if let Some(ns) = namespace {
            token["namespace"] = json!(ns);
        }
        from(json!({
            "metadata": {"name": "shared"},
            "spec": {"provider": {"vault": {"server": "https://vault", "path": "kv",
                "auth": {"tokenSecretRef": token}}}},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                "reason": "ValidationUnknown"}]}
        }))
    };
    let ess = vec![
        on_cluster_store("team-a", "db"),
        on_cluster_store("team-b", "db"),
    ];
    let mut secrets: Vec<_> = ess.iter().map(owned).collect();
    secrets.push(plain("team-a", "vault-token"));
    let with = |store: SecretStore, secrets: Vec<_>| {
        let mut snap = snapshot(ess.clone(), secrets, true);
        snap.cluster_secret_stores = Ok(vec![store]);
        run(&snap, StoreExtras::default())
    };
    let referent = |r: &DoctorReport| -> Vec<Finding> {
        crate::diagnose::rank::flatten(&r.findings)
            .filter(|f| f.code == "credentials-referent-missing")
            .cloned()
            .collect()
    };
    let r = with(store(None), secrets.clone());
    let found = referent(&r);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    assert!(
        found[0]
            .message
            .contains("namespace team-b has no Secret vault-token"),
        "{}",
        found[0].message
    );
    assert_eq!(
        found[0].affects,
        vec!["ExternalSecret team-b/db".to_string()]
    );
    assert!(
        found[0].next[0]
            .starts_with("create Secret vault-token with key token in namespace team-b"),
        "{:?}",
        found[0].next
    );
    // Near misses: the Secret exists in every namespace using the store; the reference names
    // its namespace (not referent: one Secret, which exists).
    let mut everywhere = secrets.clone();
    everywhere.push(plain("team-b", "vault-token"));
    let r = with(store(None), everywhere);
    assert!(referent(&r).is_empty(), "{:#?}", r.findings);
    let r = with(store(Some("team-a")), secrets);
    assert!(referent(&r).is_empty(), "{:#?}", r.findings);
}
