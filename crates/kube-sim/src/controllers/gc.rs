//! Owner-reference garbage collection and the `default` ServiceAccount of every namespace.
//!
//! Real clusters delete dependents in the background after their owner goes (`propagationPolicy:
//! Background`, kubectl's default); here that happens as soon as the Deleted event arrives. Only the
//! deletion of an owner triggers collection: an object created with an ownerReference to a uid that
//! never existed is left alone, so scenarios may copy objects from recordings verbatim.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::owner_references;
use crate::Store;

/// Every uid named in some object's ownerReferences.
pub(super) fn all_owner_uids(store: &Store) -> HashSet<String> {
    let st = store.read();
    let mut uids = HashSet::new();
    for rt in st
        .registry
        .all()
        .filter(|rt| rt.storage_alias.is_none() && !rt.create_only)
    {
        for stored in st.iter(&rt.gr(), None) {
            // Most objects have no owner: only those whose bytes name one are parsed.
            if !stored.mentions("\"ownerReferences\"") {
                continue;
            }
            let value = stored.value();
            for owner in owner_references(&value) {
                if let Some(uid) = owner.get("uid").and_then(Value::as_str) {
                    uids.insert(uid.to_string());
                }
            }
        }
    }
    uids
}

/// Deletes what `owner` (just deleted, with this uid) owned, unless another owner of it still exists.
pub(super) fn delete_dependents(store: &Store, owner: &Value, owner_uid: &str) {
    let owner_ns = owner
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let victims: Vec<(String, String, String, String)> = {
        let st = store.read();
        let mut victims = Vec::new();
        // A namespaced owner can only own objects in its own namespace; a cluster-scoped one any object.
        for rt in st
            .registry
            .all()
            .filter(|rt| rt.storage_alias.is_none() && !rt.create_only)
        {
            if owner_ns.is_some() && !rt.namespaced {
                continue;
            }
            for stored in st.iter(&rt.gr(), owner_ns) {
                if !stored.mentions(owner_uid) {
                    continue;
                }
                let value = stored.value();
                let refs = owner_references(&value);
                if refs
                    .iter()
                    .any(|o| o.get("uid").and_then(Value::as_str) == Some(owner_uid))
                {
                    let api_version = rt.api_version(rt.storage_version());
                    victims.push((
                        api_version,
                        rt.kind.clone(),
                        stored.namespace().to_string(),
                        stored.name().to_string(),
                    ));
                }
            }
        }
        victims
    };
    for (api_version, kind, ns, name) in victims {
        let namespace = (!ns.is_empty()).then_some(ns.as_str());
        let Some(dependent) = store.get(&api_version, &kind, namespace, &name) else {
            continue;
        };
        if has_other_live_owner(store, &dependent, owner_uid) {
            continue;
        }
        // NotFound means someone else deleted it first; nothing else can usefully be done here.
        let _ = store.delete(&api_version, &kind, namespace, &name);
    }
}

fn has_other_live_owner(store: &Store, dependent: &Value, gone_uid: &str) -> bool {
    let ns = dependent
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    owner_references(dependent).iter().any(|o| {
        let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
        if field("uid") == gone_uid {
            return false;
        }
        let live = store
            .get(field("apiVersion"), field("kind"), ns, field("name"))
            .or_else(|| store.get(field("apiVersion"), field("kind"), None, field("name")));
        live.is_some_and(|l| {
            l.pointer("/metadata/uid").and_then(Value::as_str) == Some(field("uid"))
        })
    })
}

/// kube-controller-manager's serviceaccounts controller: every namespace has a `default` ServiceAccount.
pub(super) fn ensure_default_service_account(store: &Store, namespace: &str) {
    if namespace.is_empty()
        || store
            .get("v1", "ServiceAccount", Some(namespace), "default")
            .is_some()
    {
        return;
    }
    let terminating = store
        .get("v1", "Namespace", None, namespace)
        .is_none_or(|ns| ns.pointer("/metadata/deletionTimestamp").is_some());
    if terminating {
        return;
    }
    // AlreadyExists (a race with a scenario creating it) is the desired end state.
    let _ = store.create(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace},
    }));
}
