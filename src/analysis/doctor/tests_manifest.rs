//! Issue 14: ESO's `ResourceMissing` / `ResourceDeleted` reasons on `target.manifest`
//! ExternalSecrets get their own findings; a synced ConfigMap target and a Secret target whose
//! Merge target is missing (the near misses) do not.

use serde_json::json;

use super::tests::{check, from, healthy_install, now, opts, owned, plain, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::diagnose::catalogue::{
    TARGET_MERGE_MISSING, TARGET_RESOURCE_DELETED, TARGET_RESOURCE_MISSING,
};
use crate::model::eso::ExternalSecret;

fn manifest_es(name: &str, reason: &str, target: serde_json::Value) -> ExternalSecret {
    from(json!({
        "metadata": {"name": name, "namespace": "prod", "uid": format!("uid-{name}")},
        "spec": {"secretStoreRef": {"kind": "SecretStore", "name": "vault"}, "refreshInterval": "1h",
                 "target": target},
        "status": {"refreshTime": "2026-11-22T11:50:00Z", "conditions": [{"type": "Ready",
            "status": "True", "reason": reason, "message": "as ESO wrote it"}]}
    }))
}

fn run(
    ess: Vec<ExternalSecret>,
    secrets: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
) -> DoctorReport {
    let snap = snapshot(ess, secrets, true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    analyse(
        &healthy_install(),
        &snap,
        &scope,
        &DoctorExtras::default(),
        &opts(Status::Error),
        now(),
    )
}

fn codes(r: &DoctorReport) -> Vec<(String, String)> {
    check(r, CheckId::ExternalSecrets)
        .findings
        .iter()
        .map(|f| (f.object.clone(), f.code.clone()))
        .collect()
}

#[test]
fn issue14_resource_deleted_is_its_own_finding_naming_the_deletion_policy() {
    let deleted = manifest_es(
        "feature-flags",
        "ResourceDeleted",
        json!({"name": "feature-flags", "deletionPolicy": "Delete",
               "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}),
    );
    let r = run(vec![deleted], vec![plain("prod", "vault-token")]);
    assert_eq!(
        codes(&r),
        vec![(
            "ExternalSecret prod/feature-flags".to_string(),
            TARGET_RESOURCE_DELETED.to_string()
        )]
    );
    let f = &check(&r, CheckId::ExternalSecrets).findings[0];
    assert_eq!(f.severity, Status::Error);
    assert!(f.message.contains("ConfigMap prod/feature-flags"), "{f:?}");
    assert!(f.message.contains("deletionPolicy is Delete"), "{f:?}");
    let next = f.next.join(" ");
    assert!(next.contains(r#""deletionPolicy":"Retain""#), "{f:?}");
    assert!(!next.contains('<') && !next.contains("NAME"), "{f:?}");
    assert!(
        f.evidence.iter().any(|e| e.contains("as ESO wrote it")),
        "{f:?}"
    );
}

#[test]
fn issue14_resource_missing_is_its_own_finding_with_a_copy_pasteable_fix() {
    let missing = manifest_es(
        "app-settings",
        "ResourceMissing",
        json!({"name": "app-settings", "creationPolicy": "Merge",
               "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}),
    );
    let r = run(vec![missing], vec![plain("prod", "vault-token")]);
    assert_eq!(
        codes(&r),
        vec![(
            "ExternalSecret prod/app-settings".to_string(),
            TARGET_RESOURCE_MISSING.to_string()
        )]
    );
    let f = &check(&r, CheckId::ExternalSecrets).findings[0];
    assert!(f.message.contains("creationPolicy Merge"), "{f:?}");
    assert!(
        f.next
            .join(" ")
            .contains("kubectl create configmap app-settings -n prod"),
        "{f:?}"
    );
}

#[test]
fn issue14_near_miss_a_synced_configmap_target_and_a_merge_secret_are_not_resource_findings() {
    // ResourceSynced: healthy, nothing to say.
    let synced = manifest_es(
        "synced-settings",
        "ResourceSynced",
        json!({"name": "synced-settings", "deletionPolicy": "Delete",
               "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}),
    );
    // A Secret target merging into a missing Secret keeps its own code.
    let merge: ExternalSecret = from(json!({
        "metadata": {"name": "merge-into", "namespace": "prod", "uid": "uid-merge-into"},
        "spec": {"secretStoreRef": {"kind": "SecretStore", "name": "vault"}, "refreshInterval": "1h",
                 "target": {"name": "merge-into", "creationPolicy": "Merge"}},
        "status": {"refreshTime": "2026-11-22T11:50:00Z", "conditions": [{"type": "Ready",
            "status": "True", "reason": "SecretSynced"}]}
    }));
    let healthy = super::tests::es("prod", "plain", true, "2026-11-22T11:50:00Z");
    let secrets = vec![owned(&healthy), plain("prod", "vault-token")];
    let r = run(vec![synced, merge, healthy], secrets);
    assert_eq!(
        codes(&r),
        vec![(
            "ExternalSecret prod/merge-into".to_string(),
            TARGET_MERGE_MISSING.to_string()
        )]
    );
}
