//! The rules over PushSecret facts (issue 14), one finding per cause, in ESO's own terms: ESO's
//! PushSecret controller reads the source Secret (`could not get source secret`), resolves the
//! stores (by name, or every store of a kind with the selector's labels), checks each
//! `data[].match.secretKey` exists (`secret key X does not exist`), then writes each remote key
//! (`set secret failed: could not write remote ref …`). Each of those is a rule here, and the
//! Ready=False condition ESO sets (`Errored`) is their symptom, attached under them by ranking.
//! A write permission that could not be asked is "not checked", never ok.

use crate::diagnose::catalogue::*;
use crate::model::doctor::Status;
use crate::model::finding::Finding;
use crate::model::push::{ClusterPushFacts, PushFacts, PushSnapshot, PushStoreFacts};
use crate::sanitize;

fn object(p: &PushFacts) -> String {
    sanitize::line(&format!("PushSecret {}/{}", p.namespace, p.name))
}

fn finding(p: &PushFacts, code: &str, severity: Status, message: String, next: String) -> Finding {
    debug_assert!(known(code), "{code}");
    Finding::new(
        code,
        severity,
        object(p),
        sanitize::line(&message),
        sanitize::line(&next),
    )
    .about_push_secret(&p.namespace, &p.name)
}

fn describe(p: &PushFacts) -> String {
    format!(
        "kubectl eso describe-chain pushsecret/{} -n {}",
        p.name, p.namespace
    )
}

/// Issue 14: scope's row for one PushSecret. Scope does not probe providers, so "write not
/// checked" is not a row's root cause there (doctor and describe-chain say it).
pub fn scope_row(p: &PushFacts) -> crate::model::scope::PushSecretRow {
    let roots = crate::diagnose::rank::rank(one(p));
    let root = roots
        .iter()
        .find(|f| f.code != PUSHSECRET_WRITE_NOT_CHECKED);
    crate::model::scope::PushSecretRow {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        ready: p
            .ready
            .as_ref()
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".into()),
        reason: p.ready.as_ref().and_then(|c| c.reason.clone()),
        source: p
            .source
            .secret
            .clone()
            .or_else(|| p.source.generator.clone()),
        stores: p.stores.iter().map(|s| s.store.short()).collect(),
        failing: root.is_some_and(|f| f.severity == Status::Error),
        root_cause: root.map(|f| crate::model::scope::RootCause {
            code: f.code.clone(),
            object: f.object.clone(),
            cause: f.message.clone(),
        }),
    }
}

/// Every finding about these PushSecrets and ClusterPushSecrets.
pub fn findings(snap: &PushSnapshot) -> Vec<Finding> {
    snap.push_secrets
        .iter()
        .flat_map(one)
        .chain(snap.cluster_push_secrets.iter().filter_map(cluster_failed))
        .collect()
}

/// A ClusterPushSecret's `status.failedNamespaces`: namespaces where ESO could not create or
/// update its PushSecret.
pub fn cluster_failed(c: &ClusterPushFacts) -> Option<Finding> {
    let (first, _) = c.failed_namespaces.first()?;
    let list: Vec<String> = c
        .failed_namespaces
        .iter()
        .map(|(ns, reason)| match reason.as_deref() {
            Some(r) if !r.is_empty() => format!("{ns} ({r})"),
            _ => ns.clone(),
        })
        .collect();
    let ps = &c.push_secret_name;
    let mut f = Finding::new(
        CLUSTERPUSHSECRET_NAMESPACE_FAILED,
        Status::Error,
        sanitize::line(&format!("ClusterPushSecret {}", c.name)),
        sanitize::line(&format!(
            "could not create or update PushSecret {ps} in {} of its namespaces: {}",
            c.failed_namespaces.len(),
            list.join(", ")
        )),
        sanitize::line(&format!(
            "kubectl get pushsecret {ps} -n {first} -o yaml (a PushSecret of that name that the \
             ClusterPushSecret does not own blocks it), then kubectl logs -n external-secrets \
             deploy/external-secrets | grep {}",
            c.name
        )),
    )
    .field("status.failedNamespaces")
    .about_push_secret(first, ps);
    if !c.provisioned_namespaces.is_empty() {
        f = f.evidence(sanitize::line(&format!(
            "provisioned in: {}",
            c.provisioned_namespaces.join(", ")
        )));
    }
    for (ns, _) in &c.failed_namespaces {
        f = f.affects(sanitize::line(&format!("PushSecret {ns}/{ps}")));
    }
    Some(f)
}

pub fn one(p: &PushFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    source(p, &mut out);
    for s in &p.stores {
        store(p, s, &mut out);
    }
    if p.stores.is_empty() {
        out.push(
            finding(
                p,
                PUSHSECRET_STORE_MISSING,
                Status::Error,
                "spec.secretStoreRefs resolves to no store: ESO has nowhere to push".into(),
                format!(
                    "kubectl get secretstores,clustersecretstores -n {}",
                    p.namespace
                ),
            )
            .field("spec.secretStoreRefs"),
        );
    }
    not_ready(p, &mut out);
    out
}

fn source(p: &PushFacts, out: &mut Vec<Finding>) {
    let Some(secret) = &p.source.secret else {
        return;
    };
    match p.source.found {
        Some(false) => out.push(
            finding(
                p,
                PUSHSECRET_SOURCE_MISSING,
                Status::Error,
                format!(
                    "its source Secret {secret} does not exist, so ESO cannot push anything \
                     (ESO: could not get source secret)"
                ),
                format!(
                    "create Secret {secret} in {ns} or fix spec.selector.secret.name (kubectl get \
                     secrets -n {ns})",
                    ns = p.namespace
                ),
            )
            .field("spec.selector.secret.name"),
        ),
        Some(true) => {
            let missing: Vec<&str> = p
                .data
                .iter()
                .filter_map(|d| d.secret_key.as_deref())
                .filter(|k| !k.is_empty() && !p.source.keys.iter().any(|have| have == k))
                .collect();
            if !missing.is_empty() {
                out.push(
                    finding(
                        p,
                        PUSHSECRET_KEY_MISSING,
                        Status::Error,
                        format!(
                            "spec.data names key {} that Secret {secret} does not have (ESO: \
                             secret key {} does not exist)",
                            missing.join(", "),
                            missing[0]
                        ),
                        format!(
                            "kubectl get secret {secret} -n {} -o jsonpath='{{.data}}' | jq \
                             keys, then fix spec.data[].match.secretKey",
                            p.namespace
                        ),
                    )
                    .field("spec.data[].match.secretKey")
                    .evidence(format!(
                        "Secret {secret} has keys: {}",
                        if p.source.keys.is_empty() {
                            "(none)".to_string()
                        } else {
                            p.source.keys.join(", ")
                        }
                    )),
                );
            }
        }
        None => {}
    }
}

fn store(p: &PushFacts, s: &PushStoreFacts, out: &mut Vec<Finding>) {
    let short = s.store.short();
    if s.found == Some(false) {
        out.push(
            finding(
                p,
                PUSHSECRET_STORE_MISSING,
                Status::Error,
                format!("{short} named in spec.secretStoreRefs does not exist"),
                format!(
                    "kubectl get secretstores,clustersecretstores -n {}",
                    p.namespace
                ),
            )
            .field("spec.secretStoreRefs")
            .about_store(&s.store),
        );
        return;
    }
    let w = &s.write;
    if let Some(why) = &w.not_checked {
        out.push(
            finding(
                p,
                PUSHSECRET_WRITE_NOT_CHECKED,
                Status::Warning,
                format!("write permission on {short} not checked: {why}"),
                describe(p),
            )
            .about_store(&s.store),
        );
        return;
    }
    if let Some(e) = &w.login_error {
        out.push(
            finding(
                p,
                PROVIDER_LOGIN_FAILED,
                Status::Error,
                format!("login as ESO to {short}'s provider failed: {e}"),
                describe(p),
            )
            .about_store(&s.store),
        );
        return;
    }
    let denied: Vec<_> = w.paths.iter().filter(|x| !x.allowed).collect();
    if denied.is_empty() {
        return;
    }
    let mut f = finding(
        p,
        PUSHSECRET_WRITE_DENIED,
        Status::Error,
        format!(
            "ESO may not write to {short}: {}",
            denied
                .iter()
                .map(|d| format!(
                    "{} needs {} on {} but has {}",
                    d.remote_key,
                    d.needs,
                    d.path,
                    if d.capabilities.is_empty() {
                        "no capability".to_string()
                    } else {
                        d.capabilities.join(", ")
                    }
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        format!(
            "grant it in the policy of ESO's Vault role (path \"{}\" {{ capabilities = [\"create\", \
             \"update\", \"read\"] }}), then vault token capabilities {}",
            denied[0].path, denied[0].path
        ),
    )
    .field("spec.data[].match.remoteRef.remoteKey")
    .about_store(&s.store);
    if let Some(who) = &w.identity {
        f = f.evidence(sanitize::line(&format!("asked as {who}")));
    }
    if !w.policies.is_empty() {
        f = f.evidence(sanitize::line(&format!(
            "token policies: {}",
            w.policies.join(", ")
        )));
    }
    out.push(f);
}

fn not_ready(p: &PushFacts, out: &mut Vec<Finding>) {
    let Some(ready) = &p.ready else {
        out.push(finding(
            p,
            PUSHSECRET_NOT_READY,
            Status::Warning,
            "no Ready condition: ESO has not reconciled it (is the controller running, and does \
             its controllerClass match?)"
                .into(),
            describe(p),
        ));
        return;
    };
    if ready.status == "True" {
        return;
    }
    let reason = ready.reason.as_deref().unwrap_or(&ready.status);
    let event = p
        .events
        .iter()
        .find(|e| e.type_ == "Warning")
        .map(|e| e.message.as_str());
    let why = event
        .or(ready.message.as_deref())
        .unwrap_or("no error recorded");
    let mut f = finding(
        p,
        PUSHSECRET_NOT_READY,
        Status::Error,
        format!("not Ready ({reason}): {why}"),
        describe(p),
    );
    for s in &p.stores {
        f = f.about_store(&s.store);
    }
    out.push(f);
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
