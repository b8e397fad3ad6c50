//! Issue 14 (ESO PR 6710): a store served by an out-of-process provider names its runtime, a
//! `ProviderClass` (in the store's namespace) or a `ClusterProviderClass`; ESO dials the runtime's
//! `spec.address`. When the kind is served and the named object does not exist, every
//! ExternalSecret on the store fails: `provider-class-missing`. When the kind is not served, or
//! the object exists, nothing is claimed (the runtime itself is never called: not probed).

use super::finding;
use crate::diagnose::catalogue::PROVIDER_CLASS_MISSING;
use crate::model::doctor::{Finding, Status, StoreExtras};
use crate::model::eso::{ProviderClassLookup, SecretStore};
use crate::model::refs::{StoreKind, StoreRef};
use crate::sanitize;

pub fn check(r: &StoreRef, store: &SecretStore, extras: &StoreExtras) -> Option<Finding> {
    let kind = match r.kind {
        StoreKind::SecretStore => "SecretStore",
        StoreKind::ClusterSecretStore => "ClusterSecretStore",
    };
    let class = store.provider_class_ref(kind)?;
    if extras.provider_classes.get(&class) != Some(&ProviderClassLookup::Missing) {
        return None;
    }
    let which = class.describe();
    let list = match &class.namespace {
        Some(ns) => format!("kubectl get providerclasses -n {ns}"),
        None => "kubectl get clusterproviderclasses".to_string(),
    };
    Some(
        finding(
            PROVIDER_CLASS_MISSING,
            Status::Error,
            sanitize::line(&r.to_string()),
            sanitize::line(&format!(
                "the store's out-of-process provider runtime, {which}, does not exist: ESO has no \
                 address to reach the provider at"
            )),
            sanitize::line(&format!(
                "create the {} or fix the store's reference ({list})",
                class.kind
            )),
        )
        .field("spec.runtimeRef")
        .about_store(r),
    )
}
