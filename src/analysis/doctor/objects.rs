//! Checks 4 and 5 over scope's rows: ExternalSecrets that are not Ready, whose target Secret is
//! missing, or that are Ready but have not refreshed for longer than `--stale-after` (incident B's
//! alert rule), plus what `targets` finds in the Secret's values and consumers; and leftovers,
//! Secrets that look like the runbook's "temporary manual Secret" standing in for an
//! ExternalSecret's target.

use std::collections::BTreeMap;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};

use crate::model::scope::SecretMeta;
use jiff::Timestamp;

use super::{finding, finish, targets};
use crate::analysis::duration::periodic_refresh;
use crate::analysis::sync_window;
use crate::diagnose::catalogue::*;
use crate::model::doctor::*;
use crate::model::eso::{ClusterExternalSecret, ExternalSecret};
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
    let pods = match &extras.targets.pods {
        Some(Ok(pods)) => targets::pods_by_namespace(pods),
        _ => Default::default(),
    };
    // Only read beside pods (doctor lists them; scope does not).
    let secrets: HashMap<(&str, &str), &SecretMeta> = match &snap.secrets {
        Ok(list) if !pods.is_empty() => list
            .iter()
            .map(|m| ((&*m.namespace, &*m.name), m))
            .collect(),
        _ => HashMap::new(),
    };
    let mut findings = Vec::new();
    for row in &scope.external_secrets {
        let key = (row.namespace.as_str(), row.name.as_str());
        let es = by_name.get(&key).copied();
        findings.extend(row_finding(row, es, scope, stale_after, now));
        if let Some(c) = compared.get(&key) {
            findings.extend(targets::stale_value(row, es, c).map(|f| about(row, f)));
        }
        let secret = secrets.get(&(row.namespace.as_str(), row.target.name.as_str()));
        let in_ns = pods.get(row.namespace.as_str());
        if let (Some(secret), Some(in_ns)) = (secret, in_ns) {
            findings.extend(targets::started_before_change(
                row,
                secret,
                in_ns,
                &extras.targets.eso_reloader,
                &extras.targets.namespace_labels,
            ));
        }
    }
    // Issue 12: pods whose pull secret or secret key an ExternalSecret writes wrong.
    findings.extend(super::pull_secrets::findings(scope, &extras.targets));
    // Issue 14: namespaces a ClusterExternalSecret could not provision.
    if let Ok(all) = &snap.cluster_external_secrets {
        findings.extend(all.iter().filter_map(ces_failed_namespaces));
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

fn merge_missing(row: &ExternalSecretRow) -> Finding {
    about(
        row,
        finding(
            TARGET_MERGE_MISSING,
            Status::Error,
            object(row),
            format!(
                "creationPolicy Merge writes into an existing Secret and never creates one, \
                 and Secret {} does not exist",
                sanitize::line(&row.target.name)
            ),
            sanitize::line(&format!(
                "create the Secret it should merge into (kubectl create secret generic {} -n \
                 {}), or set spec.target.creationPolicy to Owner (kubectl patch \
                 externalsecret {} -n {} --type merge -p \
                 '{{\"spec\":{{\"target\":{{\"creationPolicy\":\"Owner\"}}}}}}')",
                row.target.name, row.namespace, row.name, row.namespace
            )),
        )
        .field("spec.target.creationPolicy"),
    )
}

fn row_finding(
    row: &ExternalSecretRow,
    es: Option<&ExternalSecret>,
    scope: &ScopeReport,
    stale_after: Duration,
    now: Timestamp,
) -> Option<Finding> {
    if let Some(f) = super::manifest_targets::check(row, es) {
        return Some(about(row, f));
    }
    let policy = es.and_then(|e| e.spec.target.creation_policy.as_deref());
    // ESO says why in its own words (errPolicyMergeNotFound); a Merge target missing while the
    // ExternalSecret fails for another reason (store, provider) is not this cause.
    let merge_refused = row.ready.status == "True"
        || row
            .error
            .as_deref()
            .or(row.ready.message.as_deref())
            .is_some_and(|m| m.contains("creationPolicy=Merge"));
    if row.target.state == TargetState::Missing && policy == Some("Merge") && merge_refused {
        return Some(merge_missing(row));
    }
    if row.ready.status != "True"
        && let Some(f) = super::generators::check(row)
    {
        return Some(about(row, f));
    }
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
                .any(|r| &r.store == s && r.found != Some(false) && r.ready.status != "True")
        });
        let next = match (&row.store, store_down) {
            (Some(s), true) => format!(
                "fix {} first (see Stores); then {}",
                sanitize::line(&s.short()),
                describe_chain(row)
            ),
            _ => describe_chain(row),
        };
        return Some(about(
            row,
            finding(
                ES_NOT_READY,
                Status::Error,
                object(row),
                format!("not Ready ({}): {why}", sanitize::line(reason)),
                next,
            )
            .failing(row.failing_since.clone(), row.occurrences),
        ));
    }
    if row.target.state == TargetState::Missing && policy != Some("None") {
        return Some(about(
            row,
            finding(
                ES_TARGET_MISSING,
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
            ),
        ));
    }
    let es = es?;
    let age = stale_for(es, now)?;
    if age <= stale_after {
        return None;
    }
    if let Some(w) =
        sync_window::evaluate(es.spec.sync_windows.as_deref(), now).filter(|w| !w.allowed)
    {
        return Some(about(row, window_closed(row, &w, age)));
    }
    Some({
        about(
            row,
            finding(
                ES_STALE,
                Status::Warning,
                object(row),
                format!(
                    "Ready, but last refreshed {} ago (more than --stale-after {})",
                    round_to_minutes(age),
                    round_to_minutes(stale_after)
                ),
                describe_chain(row),
            ),
        )
    })
}

/// Issue 14: a stale ExternalSecret whose `spec.syncWindows` hold periodic refreshes back: the
/// window's doing, not ESO failing.
fn window_closed(
    row: &ExternalSecretRow,
    w: &sync_window::WindowVerdict,
    age: Duration,
) -> Finding {
    let until = match w.reopens {
        Some(t) => format!("until {}", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        None => "with no end in sight".to_string(),
    };
    let which = if w.kind == "allow" {
        "no allow window is open"
    } else {
        "a deny window is open"
    };
    let mut f = finding(
        ES_SYNC_WINDOW_CLOSED,
        Status::Warning,
        object(row),
        format!(
            "last refreshed {} ago because spec.syncWindows holds periodic refreshes back ({which}) \
             {until} (UTC); ESO is not failing",
            round_to_minutes(age)
        ),
        sanitize::line(&format!(
            "to refresh now (a force-sync is a spec change, which sync windows do not gate): \
             kubectl eso force-sync {} -n {}",
            row.name, row.namespace
        )),
    )
    .field("spec.syncWindows");
    for bad in &w.invalid {
        f = f.evidence(sanitize::line(&format!("ESO cannot use {bad}")));
    }
    f
}

/// Issue 14: `status.failedNamespaces` of a ClusterExternalSecret: namespaces where ESO could not
/// create or update its ExternalSecret (the reason is ESO's; the error itself is in its logs).
fn ces_failed_namespaces(ces: &ClusterExternalSecret) -> Option<Finding> {
    let failed = &ces.status.failed_namespaces;
    let first = failed.first()?;
    let name = ces.metadata.name.as_deref().unwrap_or_default();
    let es_name = ces
        .spec
        .external_secret_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(name);
    let list: Vec<String> = failed
        .iter()
        .map(|f| match f.reason.as_deref() {
            Some(r) if !r.is_empty() => format!("{} ({r})", f.namespace),
            _ => f.namespace.clone(),
        })
        .collect();
    let mut f = finding(
        CES_NAMESPACE_FAILED,
        Status::Error,
        sanitize::line(&format!("ClusterExternalSecret {name}")),
        sanitize::line(&format!(
            "could not create or update ExternalSecret {es_name} in {} of its namespaces: {}",
            failed.len(),
            list.join(", ")
        )),
        sanitize::line(&format!(
            "kubectl get externalsecret {es_name} -n {} -o yaml (an ExternalSecret of that name \
             that the ClusterExternalSecret does not own blocks it), then kubectl logs -n \
             external-secrets deploy/external-secrets | grep {name}",
            first.namespace
        )),
    )
    .field("status.failedNamespaces")
    .about_es(&first.namespace, es_name);
    if !ces.status.provisioned_namespaces.is_empty() {
        f = f.evidence(sanitize::line(&format!(
            "provisioned in: {}",
            ces.status.provisioned_namespaces.join(", ")
        )));
    }
    for ns in failed {
        f = f.affects(sanitize::line(&format!(
            "ExternalSecret {}/{es_name}",
            ns.namespace
        )));
    }
    Some(f)
}

/// What a finding about one ExternalSecret row concerns: the row, its store, its target.
pub(super) fn about(row: &ExternalSecretRow, f: Finding) -> Finding {
    let f = f
        .about_es(&row.namespace, &row.name)
        .about_target(&row.namespace, &row.target.name);
    match &row.store {
        Some(s) => f.about_store(s),
        None => f,
    }
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
    let writers = writers(snap);
    // The Secrets' owners are indexed only when a Secret has two writers or a target is not
    // owned: a healthy cluster has neither (issue 16).
    let mut findings: Vec<Finding> = if writers.values().any(|w| w.len() >= 2) {
        shared_targets(&writers, &es_owners(snap))
    } else {
        Vec::new()
    };
    let not_owned_rows: Vec<&ExternalSecretRow> = scope
        .external_secrets
        .iter()
        .filter(|r| r.target.state == TargetState::NotOwned)
        // A Secret another ExternalSecret writes or owns is never a leftover to delete.
        .filter(|r| {
            let key = (r.namespace.as_str(), r.target.name.as_str());
            writers.get(&key).is_none_or(|w| w.len() < 2)
        })
        .collect();
    if !not_owned_rows.is_empty() {
        let controllers = controllers(snap);
        findings.extend(not_owned_rows.into_iter().map(|r| {
            let key = (r.namespace.as_str(), r.target.name.as_str());
            not_owned(r, controllers.get(&key).copied().flatten())
        }));
    }
    let Ok(secrets) = &snap.secrets else {
        let mut check = finish(CheckId::Leftovers, 0, findings);
        if check.findings.is_empty() {
            check.status = Status::Skipped;
            check.skipped_because = Some("Secrets could not be listed".into());
        }
        return check;
    };
    let mut targets: HashMap<(&str, &str), &ExternalSecretRow> =
        HashMap::with_capacity(scope.external_secrets.len());
    // The last row of a shared target wins, as a collect did.
    for r in &scope.external_secrets {
        targets.insert((r.namespace.as_str(), r.target.name.as_str()), r);
    }
    for meta in secrets {
        if let Some(f) = look_alike(meta, &targets) {
            findings.push(f);
        }
    }
    finish(CheckId::Leftovers, secrets.len(), findings)
}

/// Hashed, not ordered: one entry per ExternalSecret, looked up once per row (issue 16); the few
/// shared targets are put in order where they are reported.
type Writers<'a> = HashMap<(&'a str, &'a str), Vec<&'a ExternalSecret>>;

/// Every target Secret and the ExternalSecrets that write it.
fn writers(snap: &ScopeSnapshot) -> Writers<'_> {
    let mut out: Writers<'_> = HashMap::with_capacity(snap.external_secrets.len());
    for es in &snap.external_secrets {
        if es.spec.target.creation_policy.as_deref() == Some("None") {
            continue;
        }
        out.entry((es.namespace(), es.target_name()))
            .or_default()
            .push(es);
    }
    out
}

/// The ExternalSecrets named as owners of each Secret, from the Secrets' metadata.
fn es_owners(snap: &ScopeSnapshot) -> BTreeMap<(&str, &str), Vec<&str>> {
    let Ok(secrets) = &snap.secrets else {
        return BTreeMap::new();
    };
    secrets
        .iter()
        .map(|m| {
            let owners: Vec<&str> = m
                .owners
                .iter()
                .filter(|o| &*o.kind == "ExternalSecret")
                .map(|o| &*o.name)
                .collect();
            ((&*m.namespace, &*m.name), owners)
        })
        .collect()
}

/// Two or more ExternalSecrets writing one Secret: the one that owns it wins, the others fail or
/// overwrite it, and every "stale value" after that is this conflict's effect.
fn shared_targets(
    writers: &Writers<'_>,
    owners: &BTreeMap<(&str, &str), Vec<&str>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut shared: Vec<_> = writers.iter().filter(|(_, ess)| ess.len() >= 2).collect();
    shared.sort_unstable_by_key(|(key, _)| **key);
    for ((ns, secret), ess) in shared {
        let names: Vec<&str> = ess.iter().map(|e| e.name()).collect();
        let owner = owners
            .get(&(*ns, *secret))
            .and_then(|o| o.iter().find(|o| names.contains(o)).copied());
        let others: Vec<&&ExternalSecret> =
            ess.iter().filter(|e| Some(e.name()) != owner).collect();
        let change = others.first().map(|e| e.name()).unwrap_or(names[0]);
        let mut f = finding(
            TARGET_SHARED,
            Status::Error,
            sanitize::line(&format!("Secret {ns}/{secret}")),
            sanitize::line(&format!(
                "{} ExternalSecrets write this Secret ({}){}: they overwrite each other or all \
                 but the owner fail, so its content depends on which synced last",
                ess.len(),
                names.join(", "),
                owner
                    .map(|o| format!("; it is owned by {o}"))
                    .unwrap_or_default()
            )),
            sanitize::line(&format!(
                "give each ExternalSecret its own target: kubectl patch externalsecret {change} -n \
                 {ns} --type merge -p '{{\"spec\":{{\"target\":{{\"name\":\"{secret}-{change}\"}}}}}}' \
                 (then point {change}'s consumers at the new Secret), or merge the two into one"
            )),
        )
        .field("spec.target.name")
        .about_target(ns, secret);
        for e in ess {
            f = f.affects(sanitize::line(&format!("ExternalSecret {ns}/{}", e.name())));
        }
        out.push(f);
    }
    out
}

/// The controller owner (kind, name) of each Secret, from the Secrets' metadata.
fn controllers(snap: &ScopeSnapshot) -> BTreeMap<(&str, &str), Option<(&str, &str)>> {
    let Ok(secrets) = &snap.secrets else {
        return BTreeMap::new();
    };
    secrets
        .iter()
        .map(|m| {
            let controller = m
                .owners
                .iter()
                .find(|o| o.controller)
                .map(|o| (&*o.kind, &*o.name));
            ((&*m.namespace, &*m.name), controller)
        })
        .collect()
}

/// A target Secret the ExternalSecret (creationPolicy Owner) does not own, judged as ESO 2.9 does
/// (`mutationFunc`): another ExternalSecret as controller is refused ("target is owned by another
/// ExternalSecret"); a controller of another kind cannot be taken over ("failed to take
/// ownership of target secret"); a Secret with no controller is adopted at the next sync, so it
/// is never to be deleted.
fn not_owned(row: &ExternalSecretRow, controller: Option<(&str, &str)>) -> Finding {
    let ns = row.namespace.as_str();
    let (name, target) = (row.name.as_str(), row.target.name.as_str());
    let secret = sanitize::line(&format!("Secret {ns}/{target}"));
    let f = match controller {
        // Owned by another ExternalSecret: deleting it would break that one.
        Some(("ExternalSecret", owner)) if owner != name => finding(
            TARGET_NOT_OWNED,
            Status::Error,
            secret,
            sanitize::line(&format!(
                "is the target of ExternalSecret {name} (creationPolicy Owner) but is owned by \
                 ExternalSecret {owner}: ESO will not write it for {name} (target is owned by \
                 another ExternalSecret)"
            )),
            sanitize::line(&format!(
                "kubectl get externalsecret {owner} -n {ns} (if it still uses the Secret, give \
                 {name} another target: kubectl patch externalsecret {name} -n {ns} --type merge \
                 -p '{{\"spec\":{{\"target\":{{\"name\":\"{target}-{name}\"}}}}}}'); do not \
                 delete the Secret while {owner} owns it"
            )),
        ),
        Some((kind, owner)) if kind != "ExternalSecret" => finding(
            TARGET_NOT_OWNED,
            Status::Error,
            secret,
            sanitize::line(&format!(
                "is the target of ExternalSecret {name} (creationPolicy Owner) but its controller \
                 is {kind} {owner}: ESO cannot take it over (failed to take ownership of target \
                 secret), so {name} never writes it"
            )),
            sanitize::line(&format!(
                "kubectl get secret {target} -n {ns} -o jsonpath='{{.metadata.ownerReferences}}' \
                 (if {kind} {owner} still manages it, give {name} its own target: kubectl patch \
                 externalsecret {name} -n {ns} --type merge -p \
                 '{{\"spec\":{{\"target\":{{\"name\":\"{target}-{name}\"}}}}}}'); do not delete \
                 the Secret: {kind} {owner} owns it"
            )),
        )
        .then(sanitize::line(&format!(
            "or, if {name} should only add its keys to that Secret: kubectl patch externalsecret \
             {name} -n {ns} --type merge -p \
             '{{\"spec\":{{\"target\":{{\"creationPolicy\":\"Merge\"}}}}}}'"
        ))),
        _ => {
            let (then, next) = if row.ready.status == "True" {
                (
                    "at its next sync",
                    format!("kubectl eso force-sync {name} -n {ns}"),
                )
            } else {
                (
                    "once it syncs again",
                    format!(
                        "fix ExternalSecret {name} first (kubectl eso describe-chain {name} -n \
                         {ns}); do not delete the Secret while pods use it"
                    ),
                )
            };
            finding(
                TARGET_NOT_OWNED,
                Status::Warning,
                secret,
                sanitize::line(&format!(
                    "has the name of ExternalSecret {name}'s target but no controller (a \
                     hand-made stand-in?): ESO adopts it (creationPolicy Owner) and overwrites \
                     its data {then}"
                )),
                sanitize::line(&next),
            )
        }
    };
    about(row, f.field("metadata.ownerReferences"))
}

/// A Secret not written by ESO whose name is a target's name plus a "manual" mark.
fn look_alike(
    meta: &SecretMeta,
    targets: &HashMap<(&str, &str), &ExternalSecretRow>,
) -> Option<Finding> {
    let (ns, name) = (&*meta.namespace, &*meta.name);
    if targets.contains_key(&(ns, name)) || owned_by_eso(meta) {
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
        LEFTOVER_STAND_IN,
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

fn owned_by_eso(meta: &SecretMeta) -> bool {
    meta.owners.iter().any(|o| &*o.kind == "ExternalSecret")
}
