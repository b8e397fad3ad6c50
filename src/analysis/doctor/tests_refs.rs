//! Issue 12's store-reference and ownership rules over facts, each with the near miss that must not
//! fire: a store of the other kind is "kind mismatch", never "create it"; a one-letter typo is
//! "did you mean", a name far from every store is "missing"; two ExternalSecrets on one Secret are
//! one ownership root, and a Secret another ExternalSecret owns is never suggested for deletion.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::tests::{check, es, from, healthy_install, now, opts, owned, plain, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::model::eso::{ExternalSecret, SecretStore};

fn run(snap: &ScopeSnapshot) -> DoctorReport {
    let scope = analyse_scope(snap, &ScopeOptions::default(), now());
    analyse(
        &healthy_install(),
        snap,
        &scope,
        &DoctorExtras::default(),
        &opts(Status::Error),
        now(),
    )
}

fn pointing_at(name: &str, kind: &str, store: &str) -> ExternalSecret {
    let mut v =
        serde_json::to_value(es("prod", name, false, "2026-11-22T11:50:00Z")).unwrap_or_default();
    v["spec"]["secretStoreRef"] = json!({"kind": kind, "name": store});
    from(v)
}

fn cluster_store(name: &str) -> SecretStore {
    from(
        json!({"metadata": {"name": name}, "spec": {"provider": {"vault": {"server": "https://v"}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )
}

fn codes(r: &DoctorReport) -> Vec<(String, String)> {
    crate::diagnose::rank::flatten(&r.findings)
        .map(|f| (f.code.clone(), f.object.clone()))
        .collect()
}

fn with_cluster_store(ess: Vec<ExternalSecret>, name: &str) -> ScopeSnapshot {
    let mut snap = snapshot(ess, vec![], true);
    snap.cluster_secret_stores = Ok(vec![cluster_store(name)]);
    snap
}

#[test]
fn issue12_kind_mismatch_is_named_and_never_create_the_store() {
    let r = run(&with_cluster_store(
        vec![pointing_at("a", "SecretStore", "platform")],
        "platform",
    ));
    let root = &r.findings[0];
    assert_eq!(root.code, "store-kind-mismatch", "{:#?}", r.findings);
    assert_eq!(root.field.as_deref(), Some("spec.secretStoreRef.kind"));
    assert!(
        root.next[0].contains(r#""kind":"ClusterSecretStore""#),
        "{:?}",
        root.next
    );
    assert!(
        !root.next.iter().any(|n| n.contains("create")),
        "{:?}",
        root.next
    );
    // The ExternalSecret's not-Ready state is listed under it, not beside it.
    assert!(
        root.effects.iter().any(|e| e.code == "es-not-ready"),
        "{root:#?}"
    );
    // Near miss: the right kind finds the store; no store-reference finding at all.
    let ok = run(&with_cluster_store(
        vec![pointing_at("a", "ClusterSecretStore", "platform")],
        "platform",
    ));
    assert!(
        !codes(&ok).iter().any(|(c, _)| c.starts_with("store-")),
        "{:?}",
        codes(&ok)
    );
}

#[test]
fn issue12_a_typo_is_did_you_mean_and_a_far_name_is_missing() {
    let r = run(&snapshot(
        vec![pointing_at("a", "SecretStore", "vualt")],
        vec![],
        true,
    ));
    let f = &r.findings[0];
    assert_eq!(f.code, "store-name-typo", "{:#?}", r.findings);
    assert!(
        f.message.contains("did you mean SecretStore vault"),
        "{}",
        f.message
    );
    assert!(f.next[0].contains(r#"{"spec":{"secretStoreRef":{"name":"vault"}}}"#));

    let r = run(&snapshot(
        vec![pointing_at("a", "SecretStore", "azure-keyvault")],
        vec![],
        true,
    ));
    assert_eq!(r.findings[0].code, "store-missing", "{:#?}", r.findings);
    assert!(!r.findings[0].message.contains("did you mean"));
}

#[test]
fn issue12_two_externalsecrets_on_one_target_are_one_root_and_nothing_says_delete() {
    let a = es("prod", "a", true, "2026-11-22T11:50:00Z");
    let mut b_json =
        serde_json::to_value(es("prod", "b", false, "2026-11-22T11:50:00Z")).unwrap_or_default();
    b_json["spec"]["target"]["name"] = json!(a.target_name());
    let b: ExternalSecret = from(b_json);
    let r = run(&snapshot(
        vec![a.clone(), b],
        vec![owned(&a), plain("prod", "vault-token")],
        true,
    ));
    let root = &r.findings[0];
    assert_eq!(root.code, "target-shared", "{:#?}", r.findings);
    assert!(root.affects.contains(&"ExternalSecret prod/a".to_string()));
    assert!(root.affects.contains(&"ExternalSecret prod/b".to_string()));
    // b (not the owner) is the one to move; a's Secret is never to be deleted.
    assert!(
        root.next[0].contains("kubectl patch externalsecret b"),
        "{:?}",
        root.next
    );
    for f in crate::diagnose::rank::flatten(&r.findings) {
        assert!(
            !f.next
                .iter()
                .any(|n| n.contains("kubectl delete secret a-secret")),
            "{f:#?}"
        );
    }
    assert!(
        check(&r, CheckId::Leftovers)
            .findings
            .iter()
            .all(|f| f.code == "target-shared")
    );

    // Near miss: one writer per Secret, no ownership finding.
    let c = es("prod", "c", true, "2026-11-22T11:50:00Z");
    let r = run(&snapshot(
        vec![a.clone(), c.clone()],
        vec![owned(&a), owned(&c)],
        true,
    ));
    assert!(
        !codes(&r).iter().any(|(c, _)| c.starts_with("target-")),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn issue12_merge_into_a_missing_secret_is_not_a_force_sync() {
    let mut v =
        serde_json::to_value(es("prod", "m", true, "2026-11-22T11:50:00Z")).unwrap_or_default();
    v["spec"]["target"]["creationPolicy"] = json!("Merge");
    let r = run(&snapshot(
        vec![from(v)],
        vec![plain("prod", "vault-token")],
        true,
    ));
    assert_eq!(
        r.findings[0].code, "target-merge-missing",
        "{:#?}",
        r.findings
    );
    assert!(!r.findings[0].next[0].contains("force-sync"));
    // Near miss: the default policy (Owner) with a missing target is es-target-missing.
    let r = run(&snapshot(
        vec![es("prod", "o", true, "2026-11-22T11:50:00Z")],
        vec![plain("prod", "vault-token")],
        true,
    ));
    assert_eq!(r.findings[0].code, "es-target-missing", "{:#?}", r.findings);

    // Not Ready with ESO's own words for it (errPolicyMergeNotFound): the cause is the Merge.
    let mut v =
        serde_json::to_value(es("prod", "n", false, "2026-11-22T11:50:00Z")).unwrap_or_default();
    v["spec"]["target"]["creationPolicy"] = json!("Merge");
    v["status"]["conditions"][0]["message"] = json!(
        "the desired secret n-secret was not found. With creationPolicy=Merge the secret won't be created"
    );
    let r = run(&snapshot(
        vec![from(v.clone())],
        vec![plain("prod", "vault-token")],
        true,
    ));
    assert_eq!(
        r.findings[0].code, "target-merge-missing",
        "{:#?}",
        r.findings
    );
    // Near miss: not Ready for another reason (the provider refused): the Merge target being
    // absent is not what stops it, so it is not named as the cause.
    v["status"]["conditions"][0]["message"] =
        json!("could not get secret data from provider: permission denied");
    let r = run(&snapshot(
        vec![from(v)],
        vec![plain("prod", "vault-token")],
        true,
    ));
    assert!(
        r.findings.iter().all(|f| f.code != "target-merge-missing"),
        "{:#?}",
        r.findings
    );
}

/// Issue 14: a `data[].sourceRef.storeRef` naming a store that does not exist is a store finding
/// on that entry's field, while the ExternalSecret's default store is fine.
#[test]
fn issue14_a_missing_per_entry_store_is_named_on_its_field() {
    let mut v = serde_json::to_value(pointing_at("a", "ClusterSecretStore", "platform"))
        .unwrap_or_default();
    v["spec"]["data"] = json!([
        {"secretKey": "x", "remoteRef": {"key": "x"}},
        {"secretKey": "y", "remoteRef": {"key": "y"},
         "sourceRef": {"storeRef": {"kind": "ClusterSecretStore", "name": "vault-legacy"}}},
    ]);
    let r = run(&with_cluster_store(vec![from(v)], "platform"));
    let all: Vec<&Finding> = crate::diagnose::rank::flatten(&r.findings).collect();
    let missing = all.iter().find(|f| f.code == "store-missing");
    let Some(missing) = missing else {
        panic!("no store-missing: {:#?}", r.findings);
    };
    assert_eq!(
        missing.field.as_deref(),
        Some("spec.data[1].sourceRef.storeRef.name")
    );
    assert!(
        missing.message.contains("vault-legacy"),
        "{}",
        missing.message
    );
    // One space between words: the message and next step were once split by a lost `\`.
    for text in std::iter::once(&missing.message).chain(&missing.next) {
        assert!(!text.contains("  "), "{text:?}");
    }
    assert!(
        missing
            .next
            .iter()
            .any(|n| n.contains("then fix spec.data[1].sourceRef.storeRef of ExternalSecret")),
        "{:?}",
        missing.next
    );
    // The default store exists: nothing about secretStoreRef.
    assert!(
        !all.iter().any(|f| f
            .field
            .as_deref()
            .is_some_and(|x| x.starts_with("spec.secretStoreRef"))),
        "{all:#?}"
    );
}

/// The vault store's credentials Secret, so that only the rule under test fires.
fn token() -> ObjectMeta {
    plain("prod", "vault-token")
}

/// An ExternalSecret in `ns` naming SecretStore `vault`, which lives in `prod` only.
fn in_namespace(ns: &str, store: &str) -> ExternalSecret {
    let mut v =
        serde_json::to_value(es(ns, "cart", false, "2026-11-22T11:50:00Z")).unwrap_or_default();
    v["spec"]["secretStoreRef"] = json!({"kind": "SecretStore", "name": store});
    from(v)
}

#[test]
fn issue12_a_secretstore_of_another_namespace_is_named_and_never_missing() {
    let r = run(&snapshot(
        vec![in_namespace("checkout", "vault")],
        vec![token()],
        true,
    ));
    let root = &r.findings[0];
    assert_eq!(root.code, "store-other-namespace", "{:#?}", r.findings);
    assert_eq!(root.object, "ExternalSecret checkout/cart");
    assert!(
        root.message.contains("exists in namespace prod"),
        "{}",
        root.message
    );
    assert!(
        root.next[0].starts_with("kubectl get secretstore vault -n prod -o yaml"),
        "{:?}",
        root.next
    );
    assert!(
        !root
            .next
            .iter()
            .any(|n| n.contains('<') || n.contains("KIND/")),
        "{:?}",
        root.next
    );
    // Near misses: in the store's own namespace nothing fires, and a name no namespace holds
    // is not "another namespace".
    let ok = run(&snapshot(
        vec![in_namespace("prod", "vault")],
        vec![token()],
        true,
    ));
    assert!(
        !codes(&ok).iter().any(|(c, _)| c.starts_with("store-")),
        "{:?}",
        codes(&ok)
    );
    let far = run(&snapshot(
        vec![in_namespace("checkout", "kv-commerce")],
        vec![token()],
        true,
    ));
    assert!(
        !codes(&far)
            .iter()
            .any(|(c, _)| c == "store-other-namespace"),
        "{:?}",
        codes(&far)
    );
}

/// An ExternalSecret `ClusterExternalSecret tenant-db` stamped into `ns`.
fn ces_child(ns: &str, store: &str) -> ExternalSecret {
    let mut v = serde_json::to_value(in_namespace(ns, store)).unwrap_or_default();
    v["metadata"]["name"] = json!("tenant-db");
    v["metadata"]["ownerReferences"] = json!([{"apiVersion": "external-secrets.io/v1",
        "kind": "ClusterExternalSecret", "name": "tenant-db", "uid": "ces-uid", "controller": true}]);
    v["spec"]["target"] = json!({"name": "tenant-db", "creationPolicy": "Merge"});
    v["status"]["conditions"] =
        json!([{"type": "Ready", "status": "True", "reason": "SecretSynced"}]);
    from(v)
}

#[test]
fn issue12_the_fix_of_a_clusterexternalsecret_child_goes_to_the_parent() {
    // A Merge target that does not exist: the rule's own step patches the ExternalSecret.
    let r = run(&snapshot(
        vec![ces_child("prod", "vault")],
        vec![token()],
        true,
    ));
    let root = &r.findings[0];
    assert_eq!(root.code, "target-merge-missing", "{:#?}", r.findings);
    assert!(
        root.next[0].contains("clusterexternalsecret tenant-db"),
        "{:?}",
        root.next
    );
    assert!(
        !root
            .next
            .iter()
            .any(|n| n.contains(" externalsecret tenant-db -n prod")),
        "{:?}",
        root.next
    );
    assert!(
        root.evidence
            .iter()
            .any(|e| e.contains("ClusterExternalSecret tenant-db")),
        "{:?}",
        root.evidence
    );
    // Near miss: the same ExternalSecret without a parent keeps its own fix.
    let mut alone = serde_json::to_value(ces_child("prod", "vault")).unwrap_or_default();
    alone["metadata"]["ownerReferences"] = json!([]);
    let r = run(&snapshot(vec![from(alone)], vec![token()], true));
    let root = &r.findings[0];
    assert!(
        root.next
            .iter()
            .any(|n| n.contains("kubectl patch externalsecret tenant-db -n prod")),
        "{:?}",
        root.next
    );
    assert!(
        !root
            .next
            .iter()
            .any(|n| n.contains("clusterexternalsecret"))
    );
}

fn controlled_by(ns: &str, name: &str, kind: &str, owner: &str) -> ObjectMeta {
    from(json!({"name": name, "namespace": ns,
        "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": kind, "name": owner,
            "uid": "uid-owner", "controller": true}]}))
}

#[test]
fn issue12_owner_over_a_secret_another_controller_owns_is_an_error_never_a_delete() {
    let a = es("prod", "a", false, "2026-11-22T11:50:00Z");
    let r = run(&snapshot(
        vec![a.clone()],
        vec![
            controlled_by("prod", "a-secret", "SealedSecret", "a-sealed"),
            token(),
        ],
        true,
    ));
    let root = &r.findings[0];
    assert_eq!(root.code, "target-not-owned", "{:#?}", r.findings);
    assert_eq!(root.severity, Status::Error);
    assert!(
        root.message
            .contains("its controller is SealedSecret a-sealed"),
        "{}",
        root.message
    );
    assert!(
        root.effects.iter().any(|e| e.code == "es-not-ready"),
        "{root:#?}"
    );
    for f in crate::diagnose::rank::flatten(&r.findings) {
        assert!(
            !f.next.iter().any(|n| n.contains("kubectl delete secret")),
            "{f:#?}"
        );
    }
    // Near miss: a Secret with no controller is adopted by ESO (a warning), one the
    // ExternalSecret owns is no finding at all.
    let r = run(&snapshot(
        vec![a.clone()],
        vec![plain("prod", "a-secret"), token()],
        true,
    ));
    let f = crate::diagnose::rank::flatten(&r.findings)
        .find(|f| f.code == "target-not-owned")
        .cloned();
    assert_eq!(f.map(|f| f.severity), Some(Status::Warning));
    let r = run(&snapshot(vec![a.clone()], vec![owned(&a), token()], true));
    assert!(!codes(&r).iter().any(|(c, _)| c == "target-not-owned"));
}

#[test]
fn issue12_a_namespaced_read_still_sees_the_store_in_another_namespace() {
    // describe-chain and `doctor -n checkout` list the stores of checkout only; the stores of
    // that name elsewhere come from `secret_stores_elsewhere`.
    let mut snap = snapshot(vec![in_namespace("checkout", "kv-commerce")], vec![], true);
    snap.namespace = Some("checkout".into());
    snap.secret_stores = Ok(vec![]);
    snap.secret_stores_elsewhere = vec![("storefront".into(), "kv-commerce".into())];
    let r = run(&snap);
    assert_eq!(
        r.findings[0].code, "store-other-namespace",
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings[0]
            .message
            .contains("exists in namespace storefront")
    );
    // Near miss: nothing of that name elsewhere: missing.
    snap.secret_stores_elsewhere.clear();
    let r = run(&snap);
    assert_eq!(r.findings[0].code, "store-missing", "{:#?}", r.findings);
}
