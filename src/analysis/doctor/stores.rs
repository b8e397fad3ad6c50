//! Check 2, stores: every SecretStore in scope and every ClusterSecretStore Ready, every store an
//! ExternalSecret names exists, the credentials Secrets a store's provider block references exist
//! with the referenced keys, and every ClusterSecretStore's `spec.conditions` admit the namespaces
//! whose ExternalSecrets use it. Readiness and the store's real error come from scope's
//! `StoreRow`s; key names and namespace labels from `StoreExtras`.

use std::collections::{BTreeMap, HashSet};

use super::{finding, finish};
use crate::analysis::store_conditions::admits_namespace;
use crate::diagnose::catalogue::*;
use crate::diagnose::similar::did_you_mean;
use crate::model::doctor::*;
use crate::model::eso::{SecretStore, ready_condition};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::StoreRow;
use crate::model::scope::{ScopeReport, ScopeSnapshot};
use crate::sanitize;

pub fn check(snap: &ScopeSnapshot, scope: &ScopeReport, extras: &StoreExtras) -> Check {
    let mut findings = Vec::new();
    let secrets: Option<HashSet<(&str, &str)>> = snap
        .secrets
        .as_ref()
        .ok()
        .map(|s| s.iter().map(|m| (&*m.namespace, &*m.name)).collect());
    let mut checked = 0;
    let lists = [
        (StoreKind::SecretStore, &snap.secret_stores),
        (StoreKind::ClusterSecretStore, &snap.cluster_secret_stores),
    ];
    // Each store's scope row, looked up once per store (first wins, as a search would).
    let mut rows: foldhash::HashMap<&StoreRef, &StoreRow> = foldhash::HashMap::default();
    for row in &scope.stores {
        rows.entry(&row.store).or_insert(row);
    }
    for (kind, list) in lists {
        let Ok(list) = list else { continue };
        for store in list {
            checked += 1;
            let r = store_ref(kind, store);
            readiness(&r, store, rows.get(&r).copied(), &mut findings);
            credentials(&r, store, snap, extras, secrets.as_ref(), &mut findings);
            referent(&r, store, snap, scope, secrets.as_ref(), &mut findings);
            referent_accounts(&r, store, scope, extras, &mut findings);
            service_accounts(&r, store, extras, &mut findings);
            admission(&r, store, scope, extras, &mut findings);
            findings.extend(super::provider_classes::check(&r, store, extras));
        }
    }
    findings.extend(super::store_refs::findings(snap));
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

fn readiness(r: &StoreRef, store: &SecretStore, row: Option<&StoreRow>, out: &mut Vec<Finding>) {
    let cond = ready_condition(&store.status.conditions);
    if let Some(c) = cond.filter(|c| c.status == "True") {
        if c.reason.as_deref() == Some("ValidationUnknown") {
            out.push(validation_unknown(r));
        }
        return;
    }
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
    out.push(
        finding(
            STORE_NOT_READY,
            Status::Error,
            sanitize::line(&r.to_string()),
            format!("not Ready ({users} ExternalSecret(s) use it): {why}"),
            describe,
        )
        .failing(
            row.and_then(|s| s.failing_since.clone()),
            row.and_then(|s| s.occurrences),
        )
        .about_store(r),
    );
}

/// Issue 14: ESO sets Ready=True with reason `ValidationUnknown` when the provider could not say
/// whether the store works (newer releases do so for more providers): Ready then proves nothing.
fn validation_unknown(r: &StoreRef) -> Finding {
    finding(
        STORE_VALIDATION_UNKNOWN,
        Status::Warning,
        sanitize::line(&r.to_string()),
        "Ready, but ESO could not validate it (reason ValidationUnknown): its credentials and \
         provider were not checked by ESO, so Ready says nothing about them"
            .into(),
        "read doctor's Providers check (the probe asks the provider as ESO), or kubectl eso \
         describe-chain one of its ExternalSecrets"
            .into(),
    )
    .field("status.conditions")
    .about_store(r)
}

/// Every Secret key selector in the provider block: the Secret exists and has the key. Key names
/// come from `extras.credential_keys` (one GET per Secret, names only); where those could not be
/// read, existence alone is judged from scope's metadata LIST.
fn credentials(
    r: &StoreRef,
    store: &SecretStore,
    snap: &ScopeSnapshot,
    extras: &StoreExtras,
    secrets: Option<&HashSet<(&str, &str)>>,
    out: &mut Vec<Finding>,
) {
    for cred in store.secret_key_refs() {
        // A ClusterSecretStore selector without a namespace means the ExternalSecret's own
        // (referent authentication): one Secret per namespace, not this check's to list.
        let Some(ns) = cred.namespace.as_deref() else {
            continue;
        };
        let (name, key) = (cred.name.as_str(), cred.key.as_str());
        let exists = match extras
            .credential_keys
            .get(&(ns.to_string(), name.to_string()))
        {
            Some(Ok(Some(keys))) => {
                if !keys.iter().any(|k| k == key) {
                    out.push(missing_key(r, ns, name, key, keys));
                }
                true
            }
            Some(Ok(None)) => false,
            // A Secret outside the namespace looked at was not listed: no verdict.
            _ if snap.namespace.as_deref().is_some_and(|scoped| scoped != ns) => true,
            _ => secrets.is_none_or(|s| s.contains(&(ns, name))),
        };
        if !exists {
            out.push(
                finding(
                    CREDENTIALS_SECRET_MISSING,
                    Status::Error,
                    sanitize::line(&r.to_string()),
                    sanitize::line(&format!(
                        "credentials Secret {ns}/{name} (key {key}) does not exist"
                    )),
                    sanitize::line(&format!(
                        "kubectl get secrets -n {ns} (create Secret {name} with key {key} there, or \
                         fix the reference: {})",
                        edit_store(r)
                    )),
                )
                .about_store(r),
            );
        }
    }
}

/// A referenced key that is not there; a near miss (`ClientSecret` for `client-secret`) is
/// named, because that is the fix.
fn missing_key(r: &StoreRef, ns: &str, name: &str, key: &str, keys: &[String]) -> Finding {
    let listed = if keys.is_empty() {
        "none".to_string()
    } else {
        keys.join(", ")
    };
    let object = sanitize::line(&r.to_string());
    let f = match did_you_mean(key, keys.iter().map(String::as_str)) {
        Some(meant) => finding(
            CREDENTIALS_KEY_NEAR_MISS,
            Status::Error,
            object,
            sanitize::line(&format!(
                "the store references key {key} of Secret {ns}/{name}, which has no such key but \
                 has {meant}: did you mean {meant}?"
            )),
            sanitize::line(&format!(
                "change the key to {meant} in the store's reference: {}",
                edit_store(r)
            )),
        ),
        None => finding(
            CREDENTIALS_KEY_MISSING,
            Status::Error,
            object,
            sanitize::line(&format!(
                "credentials Secret {ns}/{name} has no key {key} (keys: {listed})"
            )),
            sanitize::line(&format!(
                "add key {key} to Secret {name} in namespace {ns} (kubectl edit secret {name} -n \
                 {ns}), or fix the key in the store's reference ({})",
                edit_store(r)
            )),
        ),
    };
    f.field("spec.provider").about_store(r)
}

fn edit_store(r: &StoreRef) -> String {
    match &r.namespace {
        Some(ns) => format!("kubectl edit secretstore {} -n {ns}", r.name),
        None => format!("kubectl edit clustersecretstore {}", r.name),
    }
}

/// Issue 12: a `serviceAccountRef` in the store's auth (Vault kubernetes or jwt, Azure workload
/// identity, AWS jwt) naming a ServiceAccount that does not exist: ESO cannot request a token for
/// it, so every login fails (Vault: "cannot request Kubernetes service account token for service
/// account ..."). Only ServiceAccounts read by name are judged: an unreadable one is no verdict.
fn service_accounts(
    r: &StoreRef,
    store: &SecretStore,
    extras: &StoreExtras,
    out: &mut Vec<Finding>,
) {
    for sa in store.service_account_refs() {
        let Some(ns) = sa.namespace.as_deref() else {
            continue;
        };
        let key = (ns.to_string(), sa.name.clone());
        if !matches!(extras.service_accounts.get(&key), Some(Ok(false))) {
            continue;
        }
        let name = sa.name.as_str();
        out.push(
            finding(
                CREDENTIALS_SERVICE_ACCOUNT_MISSING,
                Status::Error,
                sanitize::line(&r.to_string()),
                sanitize::line(&format!(
                    "its auth logs in as ServiceAccount {ns}/{name} ({}), which does not exist: \
                     ESO cannot request a token for it, so every login fails",
                    sa.field
                )),
                sanitize::line(&format!(
                    "kubectl get serviceaccounts -n {ns} (the ServiceAccount meant, if renamed); \
                     to create it: kubectl create serviceaccount {name} -n {ns} (the provider \
                     must trust it: a Vault role's bound names and namespaces, a federated \
                     credential's subject)"
                )),
            )
            .then(sanitize::line(&format!(
                "or fix the reference: {}",
                edit_store(r)
            )))
            .field(&sa.field)
            .about_store(r),
        );
    }
}

/// A ClusterSecretStore credential reference without `namespace` is resolved in each
/// ExternalSecret's own namespace (ESO's referent authentication): the Secret must exist in every
/// namespace that uses the store.
fn referent(
    r: &StoreRef,
    store: &SecretStore,
    snap: &ScopeSnapshot,
    scope: &ScopeReport,
    secrets: Option<&HashSet<(&str, &str)>>,
    out: &mut Vec<Finding>,
) {
    let Some(secrets) = secrets else { return };
    if r.kind != StoreKind::ClusterSecretStore {
        return;
    }
    for cred in store
        .secret_key_refs()
        .iter()
        .filter(|c| c.namespace.is_none())
    {
        let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for row in scope
            .external_secrets
            .iter()
            .filter(|e| e.store.as_ref() == Some(r))
        {
            let ns = row.namespace.as_str();
            // Only namespaces whose Secrets were listed can be judged.
            if snap.namespace.as_deref().is_some_and(|s| s != ns) {
                continue;
            }
            if !secrets.contains(&(ns, cred.name.as_str())) {
                missing.entry(ns).or_default().push(row.name.as_str());
            }
        }
        for (ns, users) in missing {
            let mut f = finding(
                CREDENTIALS_REFERENT_MISSING,
                Status::Error,
                sanitize::line(&r.to_string()),
                sanitize::line(&format!(
                    "its credentials reference Secret {} (key {}) names no namespace, so ESO \
                     reads it from each ExternalSecret's own namespace; namespace {ns} has no \
                     Secret {}",
                    cred.name, cred.key, cred.name
                )),
                sanitize::line(&format!(
                    "create Secret {} with key {} in namespace {ns}, or set namespace on the \
                     reference ({})",
                    cred.name,
                    cred.key,
                    edit_store(r)
                )),
            )
            .field("spec.provider")
            .about_store(r)
            .about_namespace(ns);
            for es in users {
                f = f.affects(sanitize::line(&format!("ExternalSecret {ns}/{es}")));
            }
            out.push(f);
        }
    }
}

/// Issue 12: a ClusterSecretStore `serviceAccountRef` without `namespace` names a ServiceAccount
/// in each ExternalSecret's own namespace (referent authentication): where it does not exist, ESO
/// cannot request its token there. Only ServiceAccounts read by name are judged.
fn referent_accounts(
    r: &StoreRef,
    store: &SecretStore,
    scope: &ScopeReport,
    extras: &StoreExtras,
    out: &mut Vec<Finding>,
) {
    if r.kind != StoreKind::ClusterSecretStore {
        return;
    }
    for sa in store
        .service_account_refs()
        .into_iter()
        .filter(|s| s.namespace.is_none())
    {
        let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for row in scope
            .external_secrets
            .iter()
            .filter(|e| e.store.as_ref() == Some(r))
        {
            let key = (row.namespace.clone(), sa.name.clone());
            if matches!(extras.service_accounts.get(&key), Some(Ok(false))) {
                missing
                    .entry(row.namespace.as_str())
                    .or_default()
                    .push(row.name.as_str());
            }
        }
        for (ns, users) in missing {
            let name = sa.name.as_str();
            let mut f = finding(
                CREDENTIALS_REFERENT_MISSING,
                Status::Error,
                sanitize::line(&r.to_string()),
                sanitize::line(&format!(
                    "its {} names ServiceAccount {name} without a namespace, so ESO requests \
                     its token in each ExternalSecret's own namespace; namespace {ns} has no \
                     ServiceAccount {name}",
                    sa.field
                )),
                sanitize::line(&format!(
                    "kubectl create serviceaccount {name} -n {ns} (and let the provider trust it \
                     there: a Vault role's bound namespaces, a federated credential's subject), \
                     or set namespace on the reference: {}",
                    edit_store(r)
                )),
            )
            .field(&sa.field)
            .about_store(r)
            .about_namespace(ns);
            for es in users {
                f = f.affects(sanitize::line(&format!("ExternalSecret {ns}/{es}")));
            }
            out.push(f);
        }
    }
}

/// A ClusterSecretStore with `spec.conditions`, against every namespace in which an
/// ExternalSecret in scope uses it: ESO refuses the store where no condition admits the namespace.
fn admission(
    r: &StoreRef,
    store: &SecretStore,
    scope: &ScopeReport,
    extras: &StoreExtras,
    out: &mut Vec<Finding>,
) {
    if store.spec.conditions.is_empty() {
        return;
    }
    let mut users: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &scope.external_secrets {
        if row.store.as_ref() == Some(r) {
            *users.entry(row.namespace.as_str()).or_default() += 1;
        }
    }
    for (ns, n) in users {
        let labels = match &extras.namespace_labels {
            Some(Ok(all)) => all.get(ns),
            _ => None,
        };
        let (admits, note) = admits_namespace(&store.spec.conditions, ns, labels);
        let object = sanitize::line(&r.to_string());
        match admits {
            Some(true) => {}
            Some(false) => out.push(
                finding(
                    STORE_CONDITIONS_DENY,
                    Status::Error,
                    object,
                    sanitize::line(&format!(
                        "spec.conditions do not admit namespace {ns}, where {n} ExternalSecret(s) \
                         use it: ESO refuses them (denied by spec.condition)"
                    )),
                    sanitize::line(&format!(
                        "add {ns} to the store's spec.conditions (namespaces, namespaceRegexes or \
                         a namespaceSelector its labels match): {}; or point those \
                         ExternalSecrets at another store",
                        edit_store(r)
                    )),
                )
                .field("spec.conditions")
                .about_store(r)
                .about_namespace(ns),
            ),
            None => out.push(finding(
                STORE_CONDITIONS_UNKNOWN,
                Status::Warning,
                object,
                sanitize::line(&format!(
                    "could not tell whether spec.conditions admit namespace {ns}, where {n} \
                     ExternalSecret(s) use it: {}",
                    note.unwrap_or_default()
                )),
                format!(
                    "kubectl get clustersecretstore {} -o yaml; kubectl get namespace {ns} \
                     --show-labels",
                    sanitize::line(&r.name)
                ),
            )),
        }
    }
}
