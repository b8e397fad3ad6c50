//! Check 2, stores: every SecretStore in scope and every ClusterSecretStore Ready, every store an
//! ExternalSecret names exists, and the credentials Secrets a store's provider block references
//! exist. Readiness and the store's real error come from scope's `StoreRow`s; only Secret
//! metadata is read, so the referenced keys themselves are not looked at.

use std::collections::HashSet;

use serde_json::Value;

use super::{finding, finish};
use crate::model::doctor::*;
use crate::model::eso::{SecretStore, ready_condition};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::{ScopeReport, ScopeSnapshot};
use crate::sanitize;

pub fn check(snap: &ScopeSnapshot, scope: &ScopeReport) -> Check {
    let mut findings = Vec::new();
    let secrets: Option<HashSet<(&str, &str)>> = snap.secrets.as_ref().ok().map(|s| {
        s.iter()
            .filter_map(|m| Some((m.namespace.as_deref()?, m.name.as_deref()?)))
            .collect()
    });
    let mut checked = 0;
    let lists = [
        (StoreKind::SecretStore, &snap.secret_stores),
        (StoreKind::ClusterSecretStore, &snap.cluster_secret_stores),
    ];
    for (kind, list) in lists {
        let Ok(list) = list else { continue };
        for store in list {
            checked += 1;
            let r = store_ref(kind, store);
            readiness(&r, store, scope, &mut findings);
            credentials(&r, store, snap, secrets.as_ref(), &mut findings);
        }
    }
    for row in &scope.stores {
        if row.found == Some(false) {
            findings.push(finding(
                Status::Error,
                row.store.to_string(),
                format!(
                    "does not exist, but {} ExternalSecret(s) use it",
                    row.external_secrets
                ),
                "create the store, or fix secretStoreRef in the ExternalSecrets".into(),
            ));
        }
    }
    finish(CheckId::Stores, checked, findings)
}

fn store_ref(kind: StoreKind, store: &SecretStore) -> StoreRef {
    StoreRef {
        kind,
        namespace: match kind {
            StoreKind::SecretStore => store.metadata.namespace.clone(),
            StoreKind::ClusterSecretStore => None,
        },
        name: store.metadata.name.clone().unwrap_or_default(),
    }
}

fn readiness(r: &StoreRef, store: &SecretStore, scope: &ScopeReport, out: &mut Vec<Finding>) {
    let cond = ready_condition(&store.status.conditions);
    if cond.is_some_and(|c| c.status == "True") {
        return;
    }
    let row = scope.stores.iter().find(|s| &s.store == r);
    // The store's own error lives in its Warning Events; the condition message is generic.
    let why = row
        .and_then(|s| s.error.clone())
        .or_else(|| cond.and_then(|c| c.message.clone()))
        .map(|m| sanitize::line(&m))
        .unwrap_or_else(|| "no Ready condition yet".into());
    let users = row.map(|s| s.external_secrets).unwrap_or(0);
    let kind = r.kind.as_str().to_ascii_lowercase();
    let describe = match &r.namespace {
        Some(ns) => format!("kubectl describe {kind} {} -n {ns}", r.name),
        None => format!("kubectl describe {kind} {}", r.name),
    };
    out.push(finding(
        Status::Error,
        sanitize::line(&r.to_string()),
        format!("not Ready ({users} ExternalSecret(s) use it): {why}"),
        format!("fix the store's provider settings or credentials; {describe}"),
    ));
}

/// Every `{name, key}` object in the provider block is a Secret key selector (`secretRef`,
/// `tokenSecretRef`, `clientId`, `clientSecret`, ...). A selector without a namespace points into
/// the store's own namespace.
fn credentials(
    r: &StoreRef,
    store: &SecretStore,
    snap: &ScopeSnapshot,
    secrets: Option<&HashSet<(&str, &str)>>,
    out: &mut Vec<Finding>,
) {
    let Some(secrets) = secrets else { return };
    let mut refs = Vec::new();
    for v in store.spec.provider.values() {
        selectors(v, &mut refs);
    }
    for (ns, name, key) in refs {
        let Some(ns) = ns.or(r.namespace.as_deref()) else {
            continue;
        };
        // A Secret outside the namespace looked at was not listed: no verdict.
        if snap.namespace.as_deref().is_some_and(|scoped| scoped != ns) {
            continue;
        }
        if !secrets.contains(&(ns, name)) {
            out.push(finding(
                Status::Error,
                sanitize::line(&r.to_string()),
                format!(
                    "credentials Secret {}/{} (key {}) does not exist",
                    sanitize::line(ns),
                    sanitize::line(name),
                    sanitize::line(key)
                ),
                format!(
                    "create Secret {} in namespace {} with key {}, or fix the store's reference",
                    sanitize::line(name),
                    sanitize::line(ns),
                    sanitize::line(key)
                ),
            ));
        }
    }
}

fn selectors<'a>(v: &'a Value, out: &mut Vec<(Option<&'a str>, &'a str, &'a str)>) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(name)), Some(Value::String(key))) =
                (map.get("name"), map.get("key"))
            {
                // `caProvider` has the same shape and may point at a ConfigMap instead.
                if map.get("type").and_then(Value::as_str) == Some("ConfigMap") {
                    return;
                }
                let ns = map.get("namespace").and_then(Value::as_str);
                out.push((ns, name, key));
                return;
            }
            for child in map.values() {
                selectors(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| selectors(i, out)),
        _ => {}
    }
}
