//! Check 4's findings about what a target Secret holds and who read it: a target whose values are
//! not the provider's current ones (compared in memory by the prober; only key names arrive here),
//! judged by whether ESO will bring the new value by itself; and running pods that read the
//! Secret at start (env, envFrom, subPath) before it last changed, so they still run the old value.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use crate::model::scope::SecretMeta;

use super::finding;
use crate::analysis::consumers::{eso_reloader_config, reloader_restarts, rollout_restartable};
use crate::analysis::duration::periodic_refresh;
use crate::diagnose::catalogue::*;
use crate::model::doctor::*;
use crate::model::eso::ExternalSecret;
use crate::model::eso_reloader::EsoReloaderConfigs;
use crate::model::scope::ExternalSecretRow;
use crate::sanitize;

fn object(row: &ExternalSecretRow) -> String {
    sanitize::line(&format!("ExternalSecret {}/{}", row.namespace, row.name))
}

/// A target Secret that differs from the provider's current value.
pub fn stale_value(
    row: &ExternalSecretRow,
    es: Option<&ExternalSecret>,
    compared: &TargetValues,
) -> Option<Finding> {
    if compared.differs.is_empty() {
        return None;
    }
    let keys = sanitize::line(&compared.differs.join(", "));
    let force_sync = sanitize::line(&format!(
        "kubectl eso force-sync {} -n {}",
        row.name, row.namespace
    ));
    let policy = es.and_then(|e| e.spec.refresh_policy.as_deref());
    if policy == Some("CreatedOnce") {
        return Some(finding(
            REFRESH_NEVER,
            Status::Error,
            object(row),
            format!(
                "refreshPolicy CreatedOnce: the provider's value changed after the Secret was \
                 created ({keys} differs), and ESO will not update it"
            ),
            sanitize::line(&format!(
                "delete the target Secret so ESO creates it again with the current value (kubectl \
                 delete secret {} -n {}), then restart its consumers",
                row.target.name, row.namespace
            )),
        ).field("spec.refreshPolicy"));
    }
    if row.ready.status != "True" {
        return Some(finding(
            TARGET_VALUE_OUTDATED,
            Status::Error,
            object(row),
            format!(
                "its target Secret holds an older value than the provider ({keys} differs): \
                 consumers run with it until ESO syncs again"
            ),
            sanitize::line(&format!(
                "kubectl eso describe-chain {} -n {}",
                row.name, row.namespace
            )),
        ));
    }
    let interval = es.and_then(|e| e.spec.refresh_interval.as_deref());
    match periodic_refresh(policy, interval) {
        Some(every) => Some(finding(
            TARGET_VALUE_OUTDATED,
            Status::Warning,
            object(row),
            format!(
                "its target Secret is not the provider's current value ({keys} differs): ESO \
                 brings it at the next refresh (every {})",
                humantime::format_duration(every)
            ),
            format!("to bring it now: {force_sync}"),
        )),
        None => Some(finding(
            REFRESH_NEVER,
            Status::Error,
            object(row),
            format!(
                "its target Secret is not the provider's current value ({keys} differs), and \
                 ESO does not refresh it by itself ({})",
                match policy {
                    Some(p) => format!("refreshPolicy {}", sanitize::line(p)),
                    None => "refreshInterval 0".to_string(),
                }
            ),
            force_sync,
        )),
    }
}

/// Running pods that read the row's target at start, before the Secret last changed: one finding
/// per ExternalSecret, naming each workload once with the command that restarts it.
pub fn started_before_change(
    row: &ExternalSecretRow,
    secret: &SecretMeta,
    pods: &[&PodFacts],
    eso_reloader: &EsoReloaderConfigs,
    namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<Finding> {
    let changed = secret.last_changed?;
    let mut old: BTreeMap<String, usize> = BTreeMap::new();
    let mut left_to_reloader: Vec<String> = Vec::new();
    // Who restarts them, each said once: Stakater Reloader or an ESO Reloader Config.
    let mut restarters: Vec<String> = Vec::new();
    for p in pods {
        if p.started < changed && p.reads_at_start.contains(&row.target.name) {
            let who = match &p.workload {
                Some(w) if rollout_restartable(w) => w.clone(),
                _ => format!("pod/{}", p.name),
            };
            let by = if reloader_restarts(
                &p.reloader,
                &row.target.name,
                secret.annotations.as_deref(),
            ) {
                Some("Reloader restarts them (its annotations are on the workload)".to_string())
            } else {
                p.workload
                    .as_deref()
                    .and_then(|w| w.split_once('/'))
                    .and_then(|(kind, name)| {
                        eso_reloader_config(
                            eso_reloader,
                            kind,
                            &p.namespace,
                            name,
                            &p.workload_labels,
                            namespace_labels.get(&p.namespace),
                        )
                    })
                    .map(|c| format!("ESO Reloader Config {c} restarts them"))
            };
            if let Some(by) = by {
                if !left_to_reloader.contains(&who) {
                    left_to_reloader.push(who);
                }
                if !restarters.contains(&by) {
                    restarters.push(by);
                }
                continue;
            }
            *old.entry(who).or_default() += 1;
        }
    }
    if old.is_empty() && left_to_reloader.is_empty() {
        return None;
    }
    if old.is_empty() {
        // Reloader restarts them: say so, as a warning, with no restart to run by hand.
        return Some(super::objects::about(
            row,
            finding(
                CONSUMER_OLD_VALUE,
                Status::Warning,
                object(row),
                sanitize::line(&format!(
                    "{} still run the value from before Secret {} last changed ({changed}); {}",
                    left_to_reloader.join(", "),
                    row.target.name,
                    restarters.join("; ")
                )),
                sanitize::line(&format!(
                    "kubectl rollout status {} -n {} (Reloader's restart)",
                    left_to_reloader[0], row.namespace
                )),
            ),
        ));
    }
    let named: Vec<String> = old
        .iter()
        .map(|(w, n)| match n {
            1 => w.clone(),
            n => format!("{w} ({n} pods)"),
        })
        .collect();
    let steps: Vec<String> = old
        .keys()
        .map(|w| match w.strip_prefix("pod/") {
            Some(pod) => format!(
                "kubectl delete pod {pod} -n {} (recreate it)",
                row.namespace
            ),
            None => format!("kubectl rollout restart {w} -n {}", row.namespace),
        })
        .collect();
    let mut f = finding(
        CONSUMER_OLD_VALUE,
        Status::Error,
        object(row),
        sanitize::line(&format!(
            "{} started before Secret {} last changed ({changed}) and read it at start (env, \
             envFrom or a subPath mount): they still run the old value",
            named.join(", "),
            row.target.name
        )),
        sanitize::line(&steps.join("; ")),
    );
    for w in old.keys() {
        f = f.affects(sanitize::line(&format!("{w} -n {}", row.namespace)));
    }
    Some(super::objects::about(row, f))
}

/// Pods by namespace, for the per-ExternalSecret lookups.
pub fn pods_by_namespace(pods: &[PodFacts]) -> HashMap<&str, Vec<&PodFacts>> {
    let mut by_ns: HashMap<&str, Vec<&PodFacts>> = HashMap::new();
    for p in pods {
        by_ns.entry(p.namespace.as_str()).or_default().push(p);
    }
    by_ns
}
