//! Issue 14: the PushSecret rules over facts, each with a near miss that must not fire, and the
//! ranking that puts the cause above ESO's `Errored` symptom.

use super::*;
use crate::diagnose::rank::rank;
use crate::model::eso::Condition;
use crate::model::push::{PushEntry, PushSource, WriteCheck, WritePath};
use crate::model::refs::{StoreKind, StoreRef};

fn vault() -> StoreRef {
    StoreRef {
        kind: StoreKind::SecretStore,
        namespace: Some("prod".into()),
        name: "vault".into(),
    }
}

fn healthy() -> PushFacts {
    PushFacts {
        namespace: "prod".into(),
        name: "push-db".into(),
        ready: Some(Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("Synced".into()),
            ..Condition::default()
        }),
        deletion_policy: "None".into(),
        update_policy: "Replace".into(),
        source: PushSource {
            secret: Some("db".into()),
            found: Some(true),
            keys: vec!["password".into()],
            ..PushSource::default()
        },
        data: vec![PushEntry {
            secret_key: Some("password".into()),
            remote_key: "app/db".into(),
            property: None,
        }],
        stores: vec![PushStoreFacts {
            store: vault(),
            chosen_by: "name".into(),
            found: Some(true),
            provider: Some("vault".into()),
            write: WriteCheck {
                checked: true,
                paths: vec![WritePath {
                    remote_key: "app/db".into(),
                    path: "secret/data/app/db".into(),
                    needs: "create or update".into(),
                    capabilities: vec!["create".into(), "update".into(), "read".into()],
                    allowed: true,
                }],
                ..WriteCheck::default()
            },
            ready: None,
        }],
        ..PushFacts::default()
    }
}

fn errored(mut p: PushFacts) -> PushFacts {
    p.ready = Some(Condition {
        type_: "Ready".into(),
        status: "False".into(),
        reason: Some("Errored".into()),
        message: Some("set secret failed: ...".into()),
        ..Condition::default()
    });
    p
}

fn codes(p: &PushFacts) -> Vec<String> {
    one(p).into_iter().map(|f| f.code).collect()
}

#[test]
fn issue14_a_healthy_push_secret_has_no_finding() {
    assert!(codes(&healthy()).is_empty(), "{:?}", one(&healthy()));
}

#[test]
fn issue14_write_denied_names_path_and_capabilities_and_leads_the_errored_symptom() {
    let mut p = errored(healthy());
    p.stores[0].write.paths[0].capabilities = vec!["read".into()];
    p.stores[0].write.paths[0].allowed = false;
    p.stores[0].write.policies = vec!["default".into(), "eso-read".into()];
    let roots = rank(one(&p));
    assert_eq!(roots.len(), 1, "{roots:#?}");
    assert_eq!(roots[0].code, PUSHSECRET_WRITE_DENIED);
    assert!(
        roots[0]
            .message
            .contains("app/db needs create or update on secret/data/app/db but has read"),
        "{:?}",
        roots[0]
    );
    assert_eq!(roots[0].effects[0].code, PUSHSECRET_NOT_READY);
    assert!(roots[0].evidence.iter().any(|e| e.contains("eso-read")));
}

#[test]
fn issue14_source_missing_and_key_missing_are_told_apart() {
    let mut missing = errored(healthy());
    missing.source.found = Some(false);
    missing.source.keys.clear();
    assert_eq!(
        codes(&missing),
        vec![PUSHSECRET_SOURCE_MISSING, PUSHSECRET_NOT_READY]
    );
    let mut wrong_key = healthy();
    wrong_key.data[0].secret_key = Some("Password".into());
    let f = one(&wrong_key);
    assert_eq!(f[0].code, PUSHSECRET_KEY_MISSING);
    assert!(f[0].evidence[0].contains("password"), "{:?}", f[0]);
    // Near miss: an empty secretKey pushes the whole Secret and needs no key.
    let mut whole = healthy();
    whole.data[0].secret_key = Some(String::new());
    assert!(codes(&whole).is_empty());
}

#[test]
fn issue14_an_unchecked_write_is_never_ok_and_no_store_is_an_error() {
    let mut akv = healthy();
    akv.stores[0].write = WriteCheck {
        not_checked: Some("Key Vault cannot be asked".into()),
        ..WriteCheck::default()
    };
    let f = one(&akv);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, PUSHSECRET_WRITE_NOT_CHECKED);
    assert_eq!(f[0].severity, Status::Warning);
    let mut none = healthy();
    none.stores.clear();
    assert_eq!(codes(&none), vec![PUSHSECRET_STORE_MISSING]);
    let mut gone = healthy();
    gone.stores[0].found = Some(false);
    assert_eq!(codes(&gone), vec![PUSHSECRET_STORE_MISSING]);
}

#[test]
fn issue14_an_unknown_reason_or_no_condition_is_not_healthy() {
    let mut future = healthy();
    future.ready = Some(Condition {
        type_: "Ready".into(),
        status: "Unknown".into(),
        reason: Some("SomethingNewer".into()),
        ..Condition::default()
    });
    let f = one(&future);
    assert_eq!(f[0].code, PUSHSECRET_NOT_READY);
    assert!(f[0].message.contains("SomethingNewer"), "{:?}", f[0]);
    let mut fresh = healthy();
    fresh.ready = None;
    assert_eq!(one(&fresh)[0].severity, Status::Warning);
}

#[test]
fn issue14_cluster_push_secret_failed_namespaces_are_a_finding_and_none_is_not() {
    let mut c = ClusterPushFacts {
        name: "shared-db".into(),
        push_secret_name: "db".into(),
        provisioned_namespaces: vec!["prod".into()],
        ..ClusterPushFacts::default()
    };
    // Near miss: provisioned everywhere, nothing to say.
    assert!(cluster_failed(&c).is_none());
    c.failed_namespaces = vec![("staging".into(), Some("could not create PushSecret".into()))];
    let all = findings(&PushSnapshot {
        push_secrets: vec![healthy()],
        cluster_push_secrets: vec![c],
    });
    assert_eq!(all.len(), 1, "{all:#?}");
    let f = &all[0];
    assert_eq!(f.code, CLUSTERPUSHSECRET_NAMESPACE_FAILED);
    assert_eq!(f.object, "ClusterPushSecret shared-db");
    assert!(
        f.message.contains(
            "PushSecret db in 1 of its namespaces: staging (could not create PushSecret)"
        ),
        "{}",
        f.message
    );
    assert!(
        f.evidence.iter().any(|e| e == "provisioned in: prod"),
        "{f:#?}"
    );
}
