//! Issue 14: the Ready reasons ESO gives a `spec.target.manifest` ExternalSecret (a ConfigMap or a
//! custom resource) when it deliberately writes nothing: `ResourceMissing` and `ResourceDeleted`.
//! They are the manifest-target counterparts of ESO's `SecretMissing` / `SecretDeleted`, set with
//! Ready=True (ESO finished its work; nothing failed), so `kubectl get es` shows a healthy object
//! while the ConfigMap the application reads is gone:
//! - `ResourceDeleted`: the provider returned no data for the ExternalSecret and
//!   `spec.target.deletionPolicy: Delete` made ESO delete the target;
//! - `ResourceMissing`: the target does not exist and ESO will not create it
//!   (`creationPolicy: Merge` only writes into an existing object).
//!
//! The rule keys on ESO's reason alone — ESO looked at the target and the provider, the tool need
//! not — whatever the condition's status, and quotes ESO's message as evidence; it never matches on
//! the message text, which ESO may reword.

use super::finding;
use crate::diagnose::catalogue::{TARGET_RESOURCE_DELETED, TARGET_RESOURCE_MISSING};
use crate::model::doctor::{Finding, Status};
use crate::model::eso::ExternalSecret;
use crate::model::scope::ExternalSecretRow;
use crate::sanitize;

pub fn check(row: &ExternalSecretRow, es: Option<&ExternalSecret>) -> Option<Finding> {
    let reason = row.ready.reason.as_deref()?;
    if reason != "ResourceMissing" && reason != "ResourceDeleted" {
        return None;
    }
    let kind = es
        .map(ExternalSecret::target_kind)
        .filter(|k| *k != "Secret")
        .unwrap_or("resource");
    let target = format!("{kind} {}/{}", row.namespace, row.target.name);
    let object = format!("ExternalSecret {}/{}", row.namespace, row.name);
    let policy = |f: fn(&ExternalSecret) -> Option<&str>, default: &'static str| {
        es.and_then(f).unwrap_or(default).to_string()
    };
    let mut f = if reason == "ResourceDeleted" {
        let deletion = policy(|e| e.spec.target.deletion_policy.as_deref(), "Retain");
        finding(
            TARGET_RESOURCE_DELETED,
            Status::Error,
            sanitize::line(&object),
            sanitize::line(&format!(
                "ESO deleted its target {target} (reason ResourceDeleted, Ready={}): the provider \
                 returned no data for this ExternalSecret and spec.target.deletionPolicy is \
                 {deletion}; whatever reads the {kind} now finds nothing",
                row.ready.status
            )),
            sanitize::line(&format!(
                "check the remote keys still exist and hold data: kubectl eso describe-chain {} \
                 -n {}; to keep the last values when the provider has none, set deletionPolicy \
                 Retain: kubectl patch externalsecret {} -n {} --type merge -p \
                 '{{\"spec\":{{\"target\":{{\"deletionPolicy\":\"Retain\"}}}}}}'",
                row.name, row.namespace, row.name, row.namespace
            )),
        )
        .field("spec.target.deletionPolicy")
    } else {
        let creation = policy(|e| e.spec.target.creation_policy.as_deref(), "Owner");
        let create = match kind {
            "ConfigMap" => format!(
                "create it (kubectl create configmap {} -n {})",
                row.target.name, row.namespace
            ),
            _ => format!("create the {kind} {}", row.target.name),
        };
        finding(
            TARGET_RESOURCE_MISSING,
            Status::Error,
            sanitize::line(&object),
            sanitize::line(&format!(
                "ESO reports ResourceMissing (Ready={}): its target {target} does not exist and \
                 ESO does not create it (creationPolicy {creation} only writes into an existing \
                 object)",
                row.ready.status
            )),
            sanitize::line(&format!(
                "{create}, or let ESO create it with creationPolicy Owner: kubectl patch \
                 externalsecret {} -n {} --type merge -p \
                 '{{\"spec\":{{\"target\":{{\"creationPolicy\":\"Owner\"}}}}}}'",
                row.name, row.namespace
            )),
        )
        .field("spec.target.creationPolicy")
    };
    if let Some(m) = row.ready.message.as_deref().filter(|m| !m.is_empty()) {
        f = f.evidence(sanitize::line(&format!("ESO's condition message: {m}")));
    }
    Some(f)
}
