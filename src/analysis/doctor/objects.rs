//! Checks 4 and 5 over scope's rows: ExternalSecrets that are not Ready, whose target Secret is
//! missing, or that are Ready but have not refreshed for longer than `--stale-after` (incident B's
//! alert rule), plus what `targets` finds in the Secret's values and consumers; and leftovers,
//! Secrets that look like the runbook's "temporary manual Secret" standing in for an
//! ExternalSecret's target.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{finding, finish, targets};
use crate::analysis::duration::periodic_refresh;
use crate::model::doctor::*;
use crate::model::eso::ExternalSecret;
use crate::model::scope::{ExternalSecretRow, ScopeReport, ScopeSnapshot, TargetState};
use crate::sanitize;

/// Name parts people add to a hand-made stand-in: `db-credentials-manual`, `tmp-db-credentials`.
const MANUAL_MARKS: [&str; 7] = ["manual", "tmp", "temp", "backup", "bak", "old", "copy"];

pub fn external_secrets(
    snap: &ScopeSnapshot,
    scope: &ScopeReport,
    extras: &DoctorExtras,
    stale_after: Duration,
    now: Timestamp,
) -> Check {
    let by_name: HashMap<(&str, &str), &ExternalSecret> = snap
        .external_secrets
        .iter()
        .map(|es| ((es.namespace(), es.name()), es))
        .collect();
    let compared: HashMap<(&str, &str), &TargetValues> = extras
        .probes
        .iter()
        .flatten()
        .flat_map(|p| &p.targets)
        .map(|t| ((t.namespace.as_str(), t.name.as_str()), t))
        .collect();
    let secrets: HashMap<(&str, &str), &ObjectMeta> = match &snap.secrets {
        Ok(list) => list
            .iter()
            .filter_map(|m| Some(((m.namespace.as_deref()?, m.name.as_deref()?), m)))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let pods = match &extras.targets.pods {
        Some(Ok(pods)) => targets::pods_by_namespace(pods),
        _ => HashMap::new(),
    };
    let mut findings = Vec::new();
    for row in &scope.external_secrets {
        let key = (row.namespace.as_str(), row.name.as_str());
        let es = by_name.get(&key).copied();
        findings.extend(row_finding(row, es, scope, stale_after, now));
        if let Some(c) = compared.get(&key) {
            findings.extend(targets::stale_value(row, es, c));
        }
        let secret = secrets.get(&(row.namespace.as_str(), row.target.name.as_str()));
        let in_ns = pods.get(row.namespace.as_str());
        if let (Some(secret), Some(in_ns)) = (secret, in_ns) {
            findings.extend(targets::started_before_change(row, secret, in_ns));
        }
    }
    finish(
        CheckId::ExternalSecrets,
        scope.external_secrets.len(),
        findings,
    )
}

fn object(row: &ExternalSecretRow) -> String {
    sanitize::line(&format!("ExternalSecret {}/{}", row.namespace, row.name))
}

fn describe_chain(row: &ExternalSecretRow) -> String {
    sanitize::line(&format!(
        "kubectl eso describe-chain {} -n {}",
        row.name, row.namespace
    ))
}

fn row_finding(
    row: &ExternalSecretRow,
    es: Option<&ExternalSecret>,
    scope: &ScopeReport,
    stale_after: Duration,
    now: Timestamp,
) -> Option<Finding> {
    if row.ready.status != "True" {
        let why = row
            .error
            .as_deref()
            .or(row.ready.message.as_deref())
            .map(sanitize::line)
            .unwrap_or_else(|| "no error recorded".into());
        let reason = row.ready.reason.as_deref().unwrap_or(&row.ready.status);
        let store_down = row.store.as_ref().is_some_and(|s| {
            scope
                .stores
                .iter()
                .any(|r| &r.store == s && r.ready.status != "True")
        });
        let next = match (&row.store, store_down) {
            (Some(s), true) => format!(
                "fix {} first (see Stores); then {}",
                sanitize::line(&s.short()),
                describe_chain(row)
            ),
            _ => describe_chain(row),
        };
        return Some(finding(
            Status::Error,
            object(row),
            format!("not Ready ({}): {why}", sanitize::line(reason)),
            next,
        ));
    }
    let expects_secret =
        es.is_none_or(|e| e.spec.target.creation_policy.as_deref() != Some("None"));
    if row.target.state == TargetState::Missing && expects_secret {
        return Some(finding(
            Status::Error,
            object(row),
            format!(
                "Ready, but its target Secret {} does not exist",
                sanitize::line(&row.target.name)
            ),
            format!(
                "kubectl annotate externalsecret {} -n {} force-sync=$(date +%s) --overwrite",
                sanitize::line(&row.name),
                sanitize::line(&row.namespace)
            ),
        ));
    }
    let age = es.and_then(|e| stale_for(e, now))?;
    (age > stale_after).then(|| {
        finding(
            Status::Warning,
            object(row),
            format!(
                "Ready, but last refreshed {} ago (more than --stale-after {})",
                round_to_minutes(age),
                round_to_minutes(stale_after)
            ),
            describe_chain(row),
        )
    })
}

/// How long since the last refresh, for ExternalSecrets that are meant to refresh periodically.
fn stale_for(es: &ExternalSecret, now: Timestamp) -> Option<Duration> {
    periodic_refresh(
        es.spec.refresh_policy.as_deref(),
        es.spec.refresh_interval.as_deref(),
    )?;
    let last: Timestamp = es.status.refresh_time.as_deref()?.parse().ok()?;
    if last >= now {
        return None;
    }
    Some(now.duration_since(last).unsigned_abs())
}

fn round_to_minutes(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes == 0 {
        return format!("{}s", d.as_secs());
    }
    humantime::format_duration(Duration::from_secs(minutes * 60)).to_string()
}

pub fn leftovers(snap: &ScopeSnapshot, scope: &ScopeReport) -> Check {
    let mut findings: Vec<Finding> = scope
        .external_secrets
        .iter()
        .filter(|r| r.target.state == TargetState::NotOwned)
        .map(not_owned)
        .collect();
    let Ok(secrets) = &snap.secrets else {
        let mut check = finish(CheckId::Leftovers, 0, findings);
        if check.findings.is_empty() {
            check.status = Status::Skipped;
            check.skipped_because = Some("Secrets could not be listed".into());
        }
        return check;
    };
    let targets: HashMap<(&str, &str), &ExternalSecretRow> = scope
        .external_secrets
        .iter()
        .map(|r| ((r.namespace.as_str(), r.target.name.as_str()), r))
        .collect();
    let target_names: HashSet<(&str, &str)> = targets.keys().copied().collect();
    for meta in secrets {
        if let Some(f) = look_alike(meta, &targets, &target_names) {
            findings.push(f);
        }
    }
    finish(CheckId::Leftovers, secrets.len(), findings)
}

fn not_owned(row: &ExternalSecretRow) -> Finding {
    let then = if row.ready.status == "True" {
        ""
    } else {
        "once ESO syncs again, "
    };
    finding(
        Status::Error,
        sanitize::line(&format!("Secret {}/{}", row.namespace, row.target.name)),
        sanitize::line(&format!(
            "has the name of ExternalSecret {}'s target but is not owned by it \
             (creationPolicy Owner): a hand-made replacement ESO will not update",
            row.name
        )),
        sanitize::line(&format!(
            "{then}delete it so ESO recreates it: kubectl delete secret {} -n {}",
            row.target.name, row.namespace
        )),
    )
}

/// A Secret not written by ESO whose name is a target's name plus a "manual" mark.
fn look_alike(
    meta: &ObjectMeta,
    targets: &HashMap<(&str, &str), &ExternalSecretRow>,
    target_names: &HashSet<(&str, &str)>,
) -> Option<Finding> {
    let (ns, name) = (meta.namespace.as_deref()?, meta.name.as_deref()?);
    if target_names.contains(&(ns, name)) || owned_by_eso(meta) {
        return None;
    }
    let base = MANUAL_MARKS.iter().find_map(|mark| {
        name.strip_suffix(mark)
            .and_then(|s| s.strip_suffix(['-', '.']))
            .or_else(|| {
                name.strip_prefix(mark)
                    .and_then(|s| s.strip_prefix(['-', '.']))
            })
    })?;
    let row = targets.get(&(ns, base))?;
    Some(finding(
        Status::Warning,
        sanitize::line(&format!("Secret {ns}/{name}")),
        sanitize::line(&format!(
            "looks like a hand-made stand-in for {base}, the target of ExternalSecret {}",
            row.name
        )),
        sanitize::line(&format!(
            "once nothing uses it any more (kubectl eso scope -n {ns}), delete it: \
             kubectl delete secret {name} -n {ns}"
        )),
    ))
}

fn owned_by_eso(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "ExternalSecret")
}
