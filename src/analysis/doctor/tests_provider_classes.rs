//! Issue 14 (ESO PR 6710): a store whose out-of-process runtime (`ProviderClass` /
//! `ClusterProviderClass`) is missing while the kind is served gets `provider-class-missing`; a
//! runtime that exists, a kind not served, or a store with an inline provider only do not.

use serde_json::json;

use super::tests::{check, healthy_install, now, opts, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::diagnose::catalogue::PROVIDER_CLASS_MISSING;
use crate::model::eso::{ProviderClassLookup, ProviderClassRef, SecretStore};

fn oop_store(name: &str, spec: serde_json::Value) -> SecretStore {
    super::tests::from(json!({
        "metadata": {"name": name, "namespace": "prod"},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Valid"}]}
    }))
}

fn class(kind: &str, ns: Option<&str>, name: &str) -> ProviderClassRef {
    ProviderClassRef {
        kind: kind.into(),
        namespace: ns.map(str::to_string),
        name: name.into(),
    }
}

fn findings(
    stores: Vec<SecretStore>,
    lookups: Vec<(ProviderClassRef, ProviderClassLookup)>,
) -> Vec<Finding> {
    let mut snap = snapshot(vec![], vec![], true);
    snap.secret_stores = Ok(stores);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    let extras = DoctorExtras {
        stores: StoreExtras {
            provider_classes: lookups.into_iter().collect(),
            ..StoreExtras::default()
        },
        ..DoctorExtras::default()
    };
    let r = analyse(
        &healthy_install(),
        &snap,
        &scope,
        &extras,
        &opts(Status::Error),
        now(),
    );
    check(&r, CheckId::Stores)
        .findings
        .iter()
        .filter(|f| f.code == PROVIDER_CLASS_MISSING)
        .cloned()
        .collect()
}

#[test]
fn issue14_a_missing_provider_class_is_a_finding_on_the_store() {
    let store = oop_store(
        "aws-oop",
        json!({"runtimeRef": {"name": "aws"}, "provider": {"fake": {}}}),
    );
    let f = findings(
        vec![store],
        vec![(
            class("ProviderClass", Some("prod"), "aws"),
            ProviderClassLookup::Missing,
        )],
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].object, "SecretStore prod/aws-oop");
    assert_eq!(f[0].severity, Status::Error);
    assert!(f[0].message.contains("ProviderClass prod/aws"), "{f:?}");
    assert!(
        f[0].next
            .join(" ")
            .contains("kubectl get providerclasses -n prod"),
        "{f:?}"
    );
    // An explicit ClusterProviderClass from a SecretStore is looked up cluster-wide.
    let store = oop_store(
        "shared-oop",
        json!({"runtimeRef": {"name": "aws", "kind": "ClusterProviderClass"}, "provider": {"fake": {}}}),
    );
    let f = findings(
        vec![store],
        vec![(
            class("ClusterProviderClass", None, "aws"),
            ProviderClassLookup::Missing,
        )],
    );
    assert!(
        f[0].next
            .join(" ")
            .contains("kubectl get clusterproviderclasses"),
        "{f:?}"
    );
}

#[test]
fn issue14_near_miss_a_found_or_unserved_runtime_and_an_inline_store_are_not_flagged() {
    let r = class("ProviderClass", Some("prod"), "aws");
    let spec = json!({"runtimeRef": {"name": "aws"}, "provider": {"fake": {}}});
    let found = ProviderClassLookup::Found {
        address: Some("provider-aws.prod.svc:8080".into()),
        ready: Some("True".into()),
    };
    for lookup in [
        found,
        ProviderClassLookup::NotServed,
        ProviderClassLookup::Unreadable("forbidden".into()),
    ] {
        let f = findings(
            vec![oop_store("aws-oop", spec.clone())],
            vec![(r.clone(), lookup)],
        );
        assert!(f.is_empty(), "{f:?}");
    }
    // providerRef next to an inline provider block: the inline block wins, no runtime to find.
    let inline = oop_store(
        "vault-inline",
        json!({"providerRef": {"name": "aws"}, "provider": {"vault": {"server": "https://v:8200"}}}),
    );
    let f = findings(vec![inline], vec![(r, ProviderClassLookup::Missing)]);
    assert!(f.is_empty(), "{f:?}");
}
