//! `force-sync`'s decisions as pure functions, so every rule is unit-tested without a cluster:
//! which ExternalSecrets are selected, which of them ESO cannot resync (and why, and what to do
//! instead), what a status change or an Event means for one of them, which workloads a synced
//! Secret needs restarted, and when a rollout is done.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

use super::consumers::{eso_reloader_config, needs_restart, secret_uses};
use super::duration::parse_go_duration;
use crate::exit::Exit;
use crate::model::eso::{ExternalSecret, SecretStore, ready_condition};
use crate::model::eso_reloader::EsoReloaderConfigs;
use crate::model::force_sync::*;
use crate::model::refs::{StoreFilter, StoreKind, StoreRef};
use crate::sanitize;

/// Issue 14: when `spec.syncWindows` hold periodic refreshes back at `now`, the note that a
/// force-sync goes through anyway. ESO gates only periodic refreshes by its windows
/// (`isPeriodicRefreshAllowedByWindows`); the force-sync annotation changes the ExternalSecret's
/// labels-and-annotations hash, which ESO syncs on at once.
pub fn window_note(es: &ExternalSecret, now: Timestamp) -> Option<String> {
    let w = super::sync_window::evaluate(es.spec.sync_windows.as_deref(), now)?;
    if w.allowed {
        return None;
    }
    let until = match w.reopens {
        Some(t) => format!("until {}", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        None => "for the foreseeable future".to_string(),
    };
    Some(format!(
        "spec.syncWindows (kind {}) hold periodic refreshes back {until} (UTC); a force-sync is \
         not a periodic refresh and bypasses the window",
        sanitize::line(&w.kind)
    ))
}

/// The ExternalSecrets to act on, in namespace/name order, and the names asked for but absent.
pub fn select<'a>(
    all: &'a [ExternalSecret],
    names: &[String],
    store: Option<&StoreFilter>,
) -> (Vec<&'a ExternalSecret>, Vec<String>) {
    let mut chosen: Vec<&ExternalSecret> = all
        .iter()
        .filter(|es| names.is_empty() || names.iter().any(|n| n == es.name()))
        .filter(|es| store.is_none_or(|f| store_of(es).is_some_and(|s| f.matches(&s))))
        .collect();
    chosen.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    let missing = names
        .iter()
        .filter(|n| !chosen.iter().any(|es| es.name() == n.as_str()))
        .cloned()
        .collect();
    (chosen, missing)
}

pub fn store_of(es: &ExternalSecret) -> Option<StoreRef> {
    let spec = es.store_ref()?;
    let kind = StoreKind::from_spec(spec.kind.as_deref())?;
    Some(StoreRef {
        kind,
        namespace: (kind == StoreKind::SecretStore).then(|| es.namespace().to_string()),
        name: spec.name.clone(),
    })
}

/// The stores as read; `None` when a list could not be read (then the store check is skipped
/// rather than guessed).
#[derive(Debug, Clone, Default)]
pub struct Stores {
    pub secret_stores: Option<Vec<SecretStore>>,
    pub cluster_secret_stores: Option<Vec<SecretStore>>,
}

/// Why ESO will not act on the annotation, or `None` when it will. Checked before annotating so
/// the command says so instead of waiting out the timeout.
pub fn blocker(es: &ExternalSecret, stores: &Stores) -> Option<Outcome> {
    parent_blocker(es).or_else(|| own_blocker(es, stores))
}

/// The ClusterExternalSecret that owns `es`, if any.
pub fn parent_of(es: &ExternalSecret) -> Option<&str> {
    es.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "ClusterExternalSecret")
        .map(|o| o.name.as_str())
}

/// A ClusterExternalSecret overwrites its children's annotations: the annotation belongs on it.
fn parent_blocker(es: &ExternalSecret) -> Option<Outcome> {
    let parent = sanitize::line(parent_of(es)?);
    Some(Outcome {
        kind: OutcomeKind::CannotResync,
        message: Some(format!(
            "owned by ClusterExternalSecret {parent}, which overwrites its annotations"
        )),
        refresh_time: None,
        hint: Some(format!(
            "resync through the parent: kubectl eso force-sync clusterexternalsecret/{parent}"
        )),
    })
}

/// The rules that hold however the annotation arrives (directly or through a parent).
pub fn own_blocker(es: &ExternalSecret, stores: &Stores) -> Option<Outcome> {
    let cannot = |message: String, hint: String| {
        Some(Outcome {
            kind: OutcomeKind::CannotResync,
            message: Some(message),
            refresh_time: None,
            hint: Some(hint),
        })
    };
    let synced_once = es
        .status
        .synced_resource_version
        .as_deref()
        .is_some_and(|v| !v.is_empty())
        || es.status.refresh_time.is_some();
    let policy = es.spec.refresh_policy.as_deref().unwrap_or("Periodic");
    if synced_once && policy == "CreatedOnce" {
        return cannot(
            "refreshPolicy CreatedOnce: ESO never refreshes it after the first sync".into(),
            format!(
                "ESO writes it again only when the Secret {} is missing, or change refreshPolicy to Periodic",
                sanitize::line(es.target_name())
            ),
        );
    }
    let zero_interval = es
        .spec
        .refresh_interval
        .as_deref()
        .and_then(parse_go_duration)
        .is_some_and(|d| d.is_zero());
    if synced_once && zero_interval && policy != "OnChange" {
        return cannot(
            "refreshInterval 0: ESO syncs it only once".into(),
            "set a refreshInterval (e.g. 1h) or refreshPolicy OnChange".into(),
        );
    }
    store_blocker(es, stores)
}

fn store_blocker(es: &ExternalSecret, stores: &Stores) -> Option<Outcome> {
    let store = store_of(es)?;
    let list = match store.kind {
        StoreKind::SecretStore => stores.secret_stores.as_ref(),
        StoreKind::ClusterSecretStore => stores.cluster_secret_stores.as_ref(),
    }?;
    let found = list.iter().find(|s| {
        s.metadata.name.as_deref() == Some(store.name.as_str())
            && (store.namespace.is_none() || s.metadata.namespace == store.namespace)
    });
    let short = sanitize::line(&store.short());
    let message = match found {
        None => format!("{short} does not exist"),
        Some(s) => {
            let ready = ready_condition(&s.status.conditions);
            if ready.is_some_and(|c| c.status == "True") {
                return None;
            }
            let reason = ready
                .and_then(|c| c.reason.as_deref())
                .map(|r| format!(" ({})", sanitize::line(r)))
                .unwrap_or_default();
            format!("{short} is not ready{reason}: ESO fails every ExternalSecret on it")
        }
    };
    Some(Outcome {
        kind: OutcomeKind::CannotResync,
        message: Some(message),
        refresh_time: None,
        hint: Some(format!(
            "fix the store first: kubectl eso scope --store {short} -A"
        )),
    })
}

pub fn baseline(es: &ExternalSecret) -> Baseline {
    let ready = ready_condition(&es.status.conditions);
    Baseline {
        namespace: es.namespace().to_string(),
        name: es.name().to_string(),
        uid: es.metadata.uid.clone(),
        synced_resource_version: es.status.synced_resource_version.clone(),
        ready_status: ready.map(|c| c.status.clone()),
        ready_message: ready.and_then(|c| c.message.clone()),
        target: es.target_name().to_string(),
        force_sync: es
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FORCE_SYNC_ANNOTATION).cloned()),
        seen: seen(es),
    }
}

/// The annotation value: the current unix time, or one more than the value already there, so a
/// second run within the same second still changes the annotation (an unchanged one is no
/// change to ESO, and it would never answer).
pub fn annotation_value(now: Timestamp, existing: Option<&str>) -> String {
    let now = now.as_second();
    match existing.and_then(|v| v.trim().parse::<i64>().ok()) {
        // At i64::MAX there is no "one more": any other value still changes the annotation.
        Some(old) if old >= now => old.checked_add(1).unwrap_or(now).to_string(),
        _ => now.to_string(),
    }
}

/// What one watched version of an ExternalSecret says about the forced sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSignal {
    Synced {
        refresh_time: Option<String>,
    },
    /// Ready=False with a message other than before; the Event usually carries the real text.
    Failed {
        message: String,
    },
    Pending,
}

pub fn judge_status(base: &Baseline, es: &ExternalSecret) -> StatusSignal {
    let ready = ready_condition(&es.status.conditions);
    let new_version = es.status.synced_resource_version.is_some()
        && es.status.synced_resource_version != base.synced_resource_version;
    match ready {
        Some(c) if c.status == "True" && new_version => StatusSignal::Synced {
            refresh_time: es.status.refresh_time.clone(),
        },
        Some(c)
            if c.status == "False"
                && (base.ready_status.as_deref() != Some("False")
                    || c.message != base.ready_message) =>
        {
            StatusSignal::Failed {
                message: sanitize::text(c.message.as_deref().unwrap_or("Ready=False")),
            }
        }
        _ => StatusSignal::Pending,
    }
}

/// An `UpdateFailed` Warning Event about `base`, last seen at or after the annotation (Events have
/// one-second resolution, so the second of the patch counts). Its message is the provider's text.
pub fn failure_from_event(base: &Baseline, ev: &Event, annotated_at: Timestamp) -> Option<String> {
    let obj = &ev.involved_object;
    let same_object = match (&base.uid, &obj.uid) {
        (Some(a), Some(b)) => a == b,
        _ => {
            obj.namespace.as_deref() == Some(base.namespace.as_str())
                && obj.name.as_deref() == Some(base.name.as_str())
        }
    };
    if !same_object
        || ev.reason.as_deref() != Some("UpdateFailed")
        || ev.type_.as_deref().is_some_and(|t| t != "Warning")
    {
        return None;
    }
    let last = ev
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(ev.last_timestamp.as_ref().map(|t| t.0))
        .or(ev.event_time.as_ref().map(|t| t.0))?;
    if last.as_second() < annotated_at.as_second() {
        return None;
    }
    Some(sanitize::text(
        ev.message.as_deref().unwrap_or("UpdateFailed"),
    ))
}

/// What was last seen, for a timeout.
pub fn timed_out(base: &Baseline, es: Option<&ExternalSecret>, timeout_secs: u64) -> Outcome {
    let seen = es.map(seen).unwrap_or_else(|| base.seen.clone());
    Outcome::new(
        OutcomeKind::TimedOut,
        Some(format!(
            "no answer from ESO within {timeout_secs}s; last seen: {seen}"
        )),
    )
}

fn seen(es: &ExternalSecret) -> String {
    let ready = match ready_condition(&es.status.conditions) {
        Some(c) => format!(
            "Ready={}{}",
            c.status,
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => "no Ready condition".into(),
    };
    let refreshed = es
        .status
        .refresh_time
        .as_deref()
        .map(|t| format!(", last refresh {t}"))
        .unwrap_or_default();
    sanitize::line(&format!("{ready}{refreshed}"))
}

/// One entry per workload that consumes any of `secrets` (namespace, Secret names), with the
/// action `--restart` takes before knowing the sync outcome: restart (or would, in a dry run),
/// or skip because volume files refresh by themselves.
pub fn restart_plan(
    workloads: &[WorkloadState],
    secrets: &[(String, String)],
    mode: RestartMode,
    dry_run: bool,
    eso_reloader: &EsoReloaderConfigs,
    namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<(usize, RestartResult)> {
    let mut out = Vec::new();
    if mode == RestartMode::None {
        return out;
    }
    for (i, w) in workloads.iter().enumerate() {
        let Some(spec) = &w.pod_spec else { continue };
        let mut names = Vec::new();
        let mut uses: BTreeMap<String, ()> = BTreeMap::new();
        for (ns, secret) in secrets {
            if *ns != w.namespace {
                continue;
            }
            let u = secret_uses(spec, secret);
            if !u.is_empty() {
                names.push(secret.clone());
                uses.extend(u.into_iter().map(|u| (u, ())));
            }
        }
        if names.is_empty() {
            continue;
        }
        let uses: Vec<String> = uses.into_keys().collect();
        let restart = mode == RestartMode::All || needs_restart(&uses);
        // Stakater Reloader by the workload's annotations, else an ESO Reloader Config selecting it.
        let reloader = reloader_manages(&w.reloader, &names)
            .map(|key| format!("managed by Reloader ({key})"))
            .or_else(|| {
                let kind = w.kind?.as_str();
                eso_reloader_config(
                    eso_reloader,
                    kind,
                    &w.namespace,
                    &w.name,
                    &w.labels,
                    namespace_labels.get(&w.namespace),
                )
                .map(|c| format!("managed by ESO Reloader Config {c}"))
            });
        let action = match (reloader.is_some(), restart, dry_run) {
            (true, _, _) => RestartAction::LeftToReloader,
            (false, false, _) => RestartAction::SkippedRefreshesItself,
            (false, true, true) => RestartAction::WouldRestart,
            (false, true, false) => RestartAction::Restarted,
        };
        let message = match reloader {
            Some(by) => Some(format!(
                "{by}: it restarts the workload when the Secret changes"
            )),
            None => (!restart).then(|| {
                "mounted as a volume without subPath: the kubelet updates the files itself (use --restart=all to restart anyway)"
                    .to_string()
            }),
        };
        out.push((
            i,
            RestartResult {
                namespace: w.namespace.clone(),
                workload: w.reference(),
                secrets: names,
                uses,
                action,
                message,
                log_check: None,
            },
        ));
    }
    out
}

/// The Reloader annotation that makes Stakater Reloader restart this workload when one of
/// `secrets` changes: `reloader.stakater.com/auto` / `secret.reloader.stakater.com/auto` set to
/// "true", or `secret.reloader.stakater.com/reload` naming one of them.
pub fn reloader_manages(
    annotations: &BTreeMap<String, String>,
    secrets: &[String],
) -> Option<&'static str> {
    let on = |k: &str| annotations.get(k).is_some_and(|v| v.trim() == "true");
    if on("reloader.stakater.com/auto") {
        return Some("reloader.stakater.com/auto");
    }
    if on("secret.reloader.stakater.com/auto") {
        return Some("secret.reloader.stakater.com/auto");
    }
    let named = annotations
        .get("secret.reloader.stakater.com/reload")
        .is_some_and(|v| v.split(',').any(|n| secrets.iter().any(|s| s == n.trim())));
    named.then_some("secret.reloader.stakater.com/reload")
}

/// The Secrets a sync changed: resourceVersion moved and, where ESO's data hash is on both
/// sides, the hash too (a metadata-only update is no reason to restart). A Secret that could not
/// be read before or after counts as changed.
pub fn changed_secrets(
    before: &BTreeMap<(String, String), Option<SecretVersion>>,
    after: &BTreeMap<(String, String), Option<SecretVersion>>,
) -> BTreeSet<(String, String)> {
    after
        .iter()
        .filter(|(key, now)| {
            let then = before.get(*key).cloned().flatten();
            let (Some(b), Some(a)) = (then, now) else {
                return true;
            };
            match (&b.resource_version, &a.resource_version) {
                (Some(x), Some(y)) if x == y => false,
                (Some(_), Some(_)) => match (&b.data_hash, &a.data_hash) {
                    (Some(x), Some(y)) => x != y,
                    _ => true,
                },
                _ => true,
            }
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// When the oldest of a workload's pods started, from `(labels, containers started)` of the
/// namespace's pods: those whose labels carry every `matchLabels` pair. No selector, no pods: unknown.
pub fn oldest_started(
    w: &WorkloadState,
    pods: &[(BTreeMap<String, String>, Timestamp)],
) -> Option<Timestamp> {
    if w.selector.is_empty() {
        return None;
    }
    pods.iter()
        .filter(|(labels, _)| w.selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .map(|(_, t)| *t)
        .min()
}

/// Whether a workload's pods started before one of its Secrets was last written: they run with
/// older values even when this sync changed nothing (a value rotated before the force-sync, an
/// ExternalSecret fixed and synced on its own). Unknown start or write times say no.
pub fn runs_older_than(
    w: &WorkloadState,
    secrets: &[String],
    versions: &BTreeMap<(String, String), Option<SecretVersion>>,
) -> bool {
    let Some(started) = w.oldest_pod_started else {
        return false;
    };
    secrets.iter().any(|s| {
        versions
            .get(&(w.namespace.clone(), s.clone()))
            .and_then(|v| v.as_ref()?.written_at)
            .is_some_and(|written| written > started)
    })
}

/// `kubectl rollout status`'s test: the controller saw the new template, every desired pod runs
/// it, no old pod is left, and the new ones are available.
pub fn rollout_complete(w: &WorkloadState) -> bool {
    let observed = match (w.generation, w.observed_generation) {
        (Some(g), Some(o)) => o >= g,
        (None, _) => true,
        (Some(_), None) => false,
    };
    observed && w.updated >= w.desired && w.current <= w.updated && w.available >= w.updated
}

pub fn summary(results: &[ExternalSecretResult], restarts: &[RestartResult]) -> ForceSyncSummary {
    let count = |k: OutcomeKind| results.iter().filter(|r| r.outcome.kind == k).count();
    ForceSyncSummary {
        selected: results.len(),
        synced: count(OutcomeKind::Synced),
        failed: count(OutcomeKind::Failed),
        timed_out: count(OutcomeKind::TimedOut),
        cannot_resync: count(OutcomeKind::CannotResync),
        not_found: count(OutcomeKind::NotFound),
        restarted: restarts
            .iter()
            .filter(|r| r.action == RestartAction::Restarted)
            .count(),
    }
}

/// 0 when everything selected synced (and restarted), 1 otherwise.
pub fn exit_code(report: &ForceSyncReport) -> Exit {
    let bad = report
        .external_secrets
        .iter()
        .any(|r| r.outcome.kind.is_problem())
        || report
            .restarts
            .iter()
            .any(|r| r.action.is_problem() || r.log_check.as_ref().is_some_and(|c| !c.verified));
    Exit::from_findings(bad)
}

#[cfg(test)]
#[path = "force_sync_tests.rs"]
mod tests;
