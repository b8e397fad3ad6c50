//! `scope`'s analysis: one row per ExternalSecret with its store, readiness, target Secret state
//! and the real provider error (from the latest `UpdateFailed` Event, because ESO's condition
//! message is a fixed string). The summary and verdict live in `verdict.rs`. `doctor` will call
//! `analyse` as is.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

use super::consumers;
use super::duration::periodic_refresh;
use super::since;
use super::verdict;
use crate::model::chain::EventFacts;
use crate::model::eso::{ExternalSecret, SecretStore, ready_condition};
use crate::model::refs::{StoreFilter, StoreKind, StoreRef};
use crate::model::scope::*;
use crate::sanitize;

/// What the user asked for, beyond what was fetched.
#[derive(Debug, Clone, Default)]
pub struct ScopeOptions {
    pub selector: Option<String>,
    pub store: Option<StoreFilter>,
    pub failing_only: bool,
}

pub fn analyse(snap: &ScopeSnapshot, opts: &ScopeOptions, now: Timestamp) -> ScopeReport {
    let secrets = snap.secrets.as_ref().ok().map(|s| index_secrets(s));
    let errors = snap.events.as_ref().ok().map(|e| latest_update_failed(e));
    let warnings = snap
        .events
        .as_ref()
        .ok()
        .map(|e| warnings_by_external_secret(e))
        .unwrap_or_default();

    let mut rows: Vec<ExternalSecretRow> = snap
        .external_secrets
        .iter()
        .map(|es| row(es, secrets.as_ref(), errors.as_ref(), now))
        .collect();
    for (r, es) in rows.iter_mut().zip(&snap.external_secrets) {
        if r.failing {
            let key = (r.namespace.clone(), r.name.clone());
            let events = warnings.get(&key).map(Vec::as_slice).unwrap_or_default();
            let cond = ready_condition(&es.status.conditions).map(since::condition_facts);
            if let Some(f) = since::failing(cond.as_ref(), events, now) {
                r.failing_since = f.since;
                r.occurrences = f.occurrences;
            }
        }
    }
    // (namespace, name) is unique within a LIST: an unstable sort gives the same order without
    // a second buffer of rows (issue 16).
    rows.sort_unstable_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    if let Some(filter) = &opts.store {
        rows.retain(|r| r.store.as_ref().is_some_and(|s| filter.matches(s)));
    }
    let workload = snap.workload.as_ref().map(|w| workload_report(w, &rows));
    if let Some(w) = &workload {
        let wanted: BTreeSet<&str> = w
            .secrets
            .iter()
            .flat_map(|s| &s.external_secrets)
            .map(String::as_str)
            .collect();
        rows.retain(|r| r.namespace == w.namespace && wanted.contains(r.name.as_str()));
    }

    let stores = store_rows(snap, &rows, now);
    let summary = verdict::summary(&rows);
    let place = match (&snap.namespace, &opts.selector, &opts.store, &snap.workload) {
        (_, None, None, None) => match &snap.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "in any namespace".to_string(),
        },
        _ => "in scope".to_string(),
    };
    let verdicts = verdict::verdicts(&rows, &stores, &place);
    let next = next_steps(&rows, &verdicts, snap.namespace.as_deref());
    let cluster_external_secrets = ces_rows(snap, &rows, opts);
    if opts.failing_only {
        rows.retain(|r| r.failing);
    }

    ScopeReport {
        push_secrets: Vec::new(),
        cluster_push_secrets: Vec::new(),
        api_version: REPORT_API_VERSION.to_string(),
        kind: SCOPE_REPORT_KIND.to_string(),
        eso_api_version: snap.eso_api_version.clone(),
        scope: ScopeInfo {
            namespace: snap.namespace.clone(),
            all_namespaces: snap.namespace.is_none(),
            selector: opts.selector.clone(),
            store: opts
                .store
                .as_ref()
                .map(|s| format!("{}/{}", s.kind.as_str(), s.name)),
            workload: snap.workload.as_ref().map(|w| w.workload.to_string()),
            failing_only: opts.failing_only,
            cached: false,
        },
        external_secrets: rows,
        cluster_external_secrets,
        stores,
        summary,
        verdicts,
        next,
        degraded: degraded(snap),
        workload,
    }
}

/// What to run after scope (issue 13): describe-chain of the first ExternalSecret of the worst
/// verdict (verdicts are sorted store-level first, then by how many they cover) and doctor over
/// the same namespaces; with nothing in a namespace, the same question over every namespace.
/// Written with the canonical name; the output boundary turns it into the invoked one.
fn next_steps(rows: &[ExternalSecretRow], verdicts: &[Verdict], ns: Option<&str>) -> Vec<String> {
    let cmd = crate::invoked::CANONICAL;
    if rows.is_empty() {
        return match ns {
            Some(_) => vec![format!("{cmd} scope -A")],
            None => Vec::new(),
        };
    }
    let worst = verdicts
        .iter()
        .find_map(|v| v.external_secrets.first())
        .and_then(|q| q.split_once('/'));
    let Some((es_ns, name)) = worst else {
        return Vec::new();
    };
    let doctor_scope = match ns {
        Some(ns) => format!("-n {ns}"),
        None => "-A".to_string(),
    };
    vec![
        format!("{cmd} describe-chain {name} -n {es_ns}"),
        format!("{cmd} doctor {doctor_scope}"),
    ]
}

type SecretIndex<'a> = HashMap<(&'a str, &'a str), &'a SecretMeta>;

/// The target Secrets the rows of [`analyse`] will not call missing — each ExternalSecret's
/// `(namespace, target name)` unless the Secrets were listed, it writes a Secret, and that Secret
/// is not among them — straight from the snapshot: doctor reads the pods that use them while
/// the rows are still being built (issue 16).
pub fn existing_targets(snap: &ScopeSnapshot) -> std::collections::HashSet<(String, String)> {
    let secrets = snap.secrets.as_ref().ok().map(|s| index_secrets(s));
    snap.external_secrets
        .iter()
        .filter(|es| {
            secrets.as_ref().is_none_or(|idx| {
                es.target_kind() != "Secret"
                    || idx.contains_key(&(es.namespace(), es.target_name()))
            })
        })
        .map(|es| (es.namespace().to_string(), es.target_name().to_string()))
        .collect()
}

fn index_secrets(secrets: &[SecretMeta]) -> SecretIndex<'_> {
    secrets
        .iter()
        .map(|m| ((&*m.namespace, &*m.name), m))
        .collect()
}

/// The latest `UpdateFailed` Event per ExternalSecret, keyed by uid and by namespace/name (events
/// recorded before a delete-and-recreate carry the old uid, so name is the fallback).
struct EventIndex {
    by_uid: HashMap<String, (Timestamp, String)>,
    by_name: HashMap<(String, String), (Timestamp, String)>,
}

fn latest_update_failed(events: &[Event]) -> EventIndex {
    let mut idx = EventIndex {
        by_uid: HashMap::new(),
        by_name: HashMap::new(),
    };
    for ev in events {
        let obj = &ev.involved_object;
        if ev.reason.as_deref() != Some("UpdateFailed")
            || obj.kind.as_deref().is_some_and(|k| k != "ExternalSecret")
        {
            continue;
        }
        let (Some(message), Some(at)) = (ev.message.as_deref(), event_time(ev)) else {
            continue;
        };
        let entry = (at, message.to_string());
        let newer = |slot: &(Timestamp, String)| at >= slot.0;
        if let Some(uid) = &obj.uid {
            match idx.by_uid.get(uid) {
                Some(old) if !newer(old) => {}
                _ => {
                    idx.by_uid.insert(uid.clone(), entry.clone());
                }
            }
        }
        if let (Some(ns), Some(name)) = (&obj.namespace, &obj.name) {
            let key = (ns.clone(), name.clone());
            match idx.by_name.get(&key) {
                Some(old) if !newer(old) => {}
                _ => {
                    idx.by_name.insert(key, entry);
                }
            }
        }
    }
    idx
}

fn event_time(ev: &Event) -> Option<Timestamp> {
    let series = ev
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0);
    series
        .or(ev.last_timestamp.as_ref().map(|t| t.0))
        .or(ev.event_time.as_ref().map(|t| t.0))
        .or(ev.first_timestamp.as_ref().map(|t| t.0))
        .or(ev.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn row(
    es: &ExternalSecret,
    secrets: Option<&SecretIndex<'_>>,
    errors: Option<&EventIndex>,
    now: Timestamp,
) -> ExternalSecretRow {
    let ready = ready_state(ready_condition(&es.status.conditions));
    let target = TargetInfo {
        name: es.target_name().to_string(),
        state: target_state(es, secrets, now),
    };
    let expects_secret = es.spec.target.creation_policy.as_deref() != Some("None");
    let failing =
        ready.status != "True" || (target.state == TargetState::Missing && expects_secret);
    let error = if ready.status == "True" {
        None
    } else {
        errors.and_then(|idx| {
            let by_uid = es.metadata.uid.as_ref().and_then(|u| idx.by_uid.get(u));
            let key = (es.namespace().to_string(), es.name().to_string());
            by_uid
                .or_else(|| idx.by_name.get(&key))
                .map(|(_, m)| sanitize::text(m))
        })
    };
    let store = failing_entry_store(es, error.as_deref()).or_else(|| store_of(es));
    ExternalSecretRow {
        namespace: es.namespace().to_string(),
        name: es.name().to_string(),
        store,
        generators: es
            .generator_refs()
            .iter()
            .map(|g| sanitize::line(&format!("{}/{}", g.kind, g.name)))
            .collect(),
        ready,
        last_sync: es.status.refresh_time.clone(),
        refresh_interval: es.spec.refresh_interval.clone(),
        target,
        error,
        owned_by: es
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ClusterExternalSecret")
            .map(|o| o.name.clone()),
        failing,
        failing_since: None,
        occurrences: None,
        root_cause: None,
    }
}

/// Warning Events about ExternalSecrets by namespace/name (issue 13: since when, how often).
fn warnings_by_external_secret(events: &[Event]) -> HashMap<(String, String), Vec<EventFacts>> {
    let mut out: HashMap<(String, String), Vec<EventFacts>> = HashMap::new();
    for ev in events {
        let o = &ev.involved_object;
        if ev.type_.as_deref() != Some("Warning")
            || o.kind.as_deref().is_some_and(|k| k != "ExternalSecret")
        {
            continue;
        }
        if let (Some(ns), Some(name)) = (&o.namespace, &o.name) {
            out.entry((ns.clone(), name.clone()))
                .or_default()
                .push(since::event_facts(ev));
        }
    }
    out
}

fn ready_state(cond: Option<&crate::model::eso::Condition>) -> ReadyState {
    match cond {
        Some(c) => ReadyState {
            status: if c.status.is_empty() {
                "Unknown".into()
            } else {
                c.status.clone()
            },
            reason: c.reason.clone().filter(|r| !r.is_empty()),
            message: c
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(sanitize::text),
        },
        None => ReadyState {
            status: "Unknown".into(),
            reason: None,
            message: None,
        },
    }
}

/// The per-entry store (`sourceRef.storeRef`, issue 14) ESO's error names (`SecretStore
/// "vault-legacy" is not ready`, `could not get ClusterSecretStore "x"`): the failure is that
/// store's, not the ExternalSecret's default store's.
fn failing_entry_store(es: &ExternalSecret, error: Option<&str>) -> Option<StoreRef> {
    let error = error?;
    es.spec
        .data
        .iter()
        .chain(&es.spec.data_from)
        .filter_map(|d| d.source_ref.as_ref()?.store_ref.as_ref())
        .filter(|r| !r.name.is_empty())
        .find_map(|r| {
            let kind = StoreKind::from_spec(r.kind.as_deref())?;
            error
                .contains(&format!("{} \"{}\"", kind.as_str(), r.name))
                .then(|| StoreRef {
                    kind,
                    namespace: (kind == StoreKind::SecretStore).then(|| es.namespace().to_string()),
                    name: r.name.clone(),
                })
        })
}

fn store_of(es: &ExternalSecret) -> Option<StoreRef> {
    let spec = es.store_ref()?;
    let kind = StoreKind::from_spec(spec.kind.as_deref())?;
    let namespace = match kind {
        StoreKind::SecretStore => Some(es.namespace().to_string()),
        StoreKind::ClusterSecretStore => None,
    };
    Some(StoreRef {
        kind,
        namespace,
        name: spec.name.clone(),
    })
}

fn target_state(
    es: &ExternalSecret,
    secrets: Option<&SecretIndex<'_>>,
    now: Timestamp,
) -> TargetState {
    let Some(secrets) = secrets else {
        return TargetState::Unknown;
    };
    // `target.manifest` (a ConfigMap, a custom resource): scope lists only Secrets.
    if es.target_kind() != "Secret" {
        return TargetState::Unknown;
    }
    let Some(meta) = secrets.get(&(es.namespace(), es.target_name())) else {
        return TargetState::Missing;
    };
    let owner_expected = matches!(
        es.spec.target.creation_policy.as_deref(),
        None | Some("Owner")
    );
    if owner_expected && !owned_by(meta, es) {
        return TargetState::NotOwned;
    }
    if is_stale(es, now) {
        return TargetState::Stale;
    }
    TargetState::Present
}

fn owned_by(secret: &SecretMeta, es: &ExternalSecret) -> bool {
    secret.owners.iter().any(|o| {
        &*o.kind == "ExternalSecret"
            && &*o.name == es.name()
            && es.metadata.uid.as_deref().is_none_or(|uid| uid == &*o.uid)
    })
}

/// Stale: periodic refresh is on, and the last successful sync is older than two intervals
/// (one missed refresh can be a slow provider; two is a pattern).
fn is_stale(es: &ExternalSecret, now: Timestamp) -> bool {
    let every = periodic_refresh(
        es.spec.refresh_policy.as_deref(),
        es.spec.refresh_interval.as_deref(),
    );
    let last = es
        .status
        .refresh_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    match (every, last) {
        (Some(i), Some(last)) => {
            now > last && now.duration_since(last).unsigned_abs() > i.saturating_mul(2)
        }
        _ => false,
    }
}

fn store_rows(snap: &ScopeSnapshot, rows: &[ExternalSecretRow], now: Timestamp) -> Vec<StoreRow> {
    let mut used: BTreeMap<StoreRef, (usize, usize, BTreeSet<String>)> = BTreeMap::new();
    for r in rows {
        if let Some(s) = &r.store {
            let e = used.entry(s.clone()).or_default();
            e.0 += 1;
            if r.failing {
                e.1 += 1;
                e.2.insert(r.namespace.clone());
            }
        }
    }
    let secret_stores = snap.secret_stores.as_deref().ok().map(StoreIndex::new);
    let cluster_secret_stores = snap
        .cluster_secret_stores
        .as_deref()
        .ok()
        .map(StoreIndex::new);
    used.into_iter()
        .map(|(store, (total, failing, namespaces))| {
            let index = match store.kind {
                StoreKind::SecretStore => &secret_stores,
                StoreKind::ClusterSecretStore => &cluster_secret_stores,
            };
            let found = index.as_ref().map(|i| i.find(&store));
            let ready = match found {
                Some(Some(s)) => ready_state(ready_condition(&s.status.conditions)),
                _ => ready_state(None),
            };
            let error = if ready.status == "True" {
                None
            } else {
                store_error(snap, &store)
            };
            let failing_for = match found {
                Some(Some(s)) if ready.status != "True" => since::failing(
                    ready_condition(&s.status.conditions)
                        .map(since::condition_facts)
                        .as_ref(),
                    &store_warnings(snap, &store),
                    now,
                ),
                _ => None,
            };
            let (failing_since, occurrences) = failing_for
                .map(|f| (f.since, f.occurrences))
                .unwrap_or_default();
            StoreRow {
                error,
                failing_since,
                occurrences,
                found: found.map(|f| f.is_some()),
                provider: found.flatten().and_then(|s| s.provider_name()),
                ready,
                store,
                external_secrets: total,
                failing,
                failing_namespaces: namespaces.into_iter().collect(),
            }
        })
        .collect()
}

/// The Warning Events about the store.
fn store_warning_events<'a>(
    snap: &'a ScopeSnapshot,
    store: &'a StoreRef,
) -> impl Iterator<Item = &'a Event> + 'a {
    snap.store_events
        .iter()
        .filter_map(|f| f.as_ref().ok())
        .flatten()
        .filter(move |ev| {
            let o = &ev.involved_object;
            ev.type_.as_deref() == Some("Warning")
                && o.kind.as_deref() == Some(store.kind.as_str())
                && o.name.as_deref() == Some(store.name.as_str())
                && (store.namespace.is_none() || o.namespace == store.namespace)
        })
}

fn store_warnings(snap: &ScopeSnapshot, store: &StoreRef) -> Vec<EventFacts> {
    store_warning_events(snap, store)
        .map(since::event_facts)
        .collect()
}

/// The latest Warning Event about the store: ESO's store condition message is a fixed string too.
fn store_error(snap: &ScopeSnapshot, store: &StoreRef) -> Option<String> {
    store_warning_events(snap, store)
        .filter_map(|ev| Some((event_time(ev)?, ev.message.as_deref()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, m)| sanitize::text(m))
}

/// A store list indexed as [`find_store`] searches it: the first store of a name, and of a name
/// in a namespace (3,000 SecretStores in an outage at scale were searched once per store, issue
/// 16).
struct StoreIndex<'a> {
    by_name: HashMap<&'a str, &'a SecretStore>,
    by_namespace_name: HashMap<(Option<&'a str>, &'a str), &'a SecretStore>,
}

impl<'a> StoreIndex<'a> {
    fn new(list: &'a [SecretStore]) -> Self {
        let mut by_name = HashMap::with_capacity(list.len());
        let mut by_namespace_name = HashMap::with_capacity(list.len());
        for s in list {
            if let Some(name) = s.metadata.name.as_deref() {
                by_name.entry(name).or_insert(s);
                by_namespace_name
                    .entry((s.metadata.namespace.as_deref(), name))
                    .or_insert(s);
            }
        }
        StoreIndex {
            by_name,
            by_namespace_name,
        }
    }

    fn find(&self, store: &StoreRef) -> Option<&'a SecretStore> {
        match &store.namespace {
            None => self.by_name.get(store.name.as_str()).copied(),
            Some(ns) => self
                .by_namespace_name
                .get(&(Some(ns.as_str()), store.name.as_str()))
                .copied(),
        }
    }
}

/// The first store of `list` that `store` names: by name alone for a ClusterSecretStore
/// reference (no namespace), else by name and namespace.
#[cfg(test)]
fn find_store<'a>(list: &'a [SecretStore], store: &StoreRef) -> Option<&'a SecretStore> {
    list.iter().find(|s| {
        s.metadata.name.as_deref() == Some(store.name.as_str())
            && (store.namespace.is_none() || s.metadata.namespace == store.namespace)
    })
}

fn ces_rows(
    snap: &ScopeSnapshot,
    rows: &[ExternalSecretRow],
    opts: &ScopeOptions,
) -> Vec<ClusterExternalSecretRow> {
    let Ok(all) = &snap.cluster_external_secrets else {
        return Vec::new();
    };
    let unfiltered = snap.namespace.is_none() && opts.store.is_none() && snap.workload.is_none();
    let mut out: Vec<ClusterExternalSecretRow> = all
        .iter()
        .filter_map(|ces| {
            let name = ces.metadata.name.clone()?;
            let children: Vec<&ExternalSecretRow> = rows
                .iter()
                .filter(|r| r.owned_by.as_deref() == Some(name.as_str()))
                .collect();
            if children.is_empty() && !unfiltered {
                return None;
            }
            Some(ClusterExternalSecretRow {
                ready: ready_state(ready_condition(&ces.status.conditions)),
                external_secrets: children
                    .iter()
                    .map(|r| format!("{}/{}", r.namespace, r.name))
                    .collect(),
                failing: children.iter().filter(|r| r.failing).count(),
                failed_namespaces: ces
                    .status
                    .failed_namespaces
                    .iter()
                    .map(|f| f.namespace.clone())
                    .collect(),
                provisioned_namespaces: ces.status.provisioned_namespaces.clone(),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn workload_report(w: &WorkloadSnapshot, rows: &[ExternalSecretRow]) -> WorkloadReport {
    let used = w
        .pod_spec
        .as_ref()
        .map(consumers::secrets_used)
        .unwrap_or_default();
    let secrets = used
        .into_iter()
        .map(|(name, uses)| ConsumedSecret {
            external_secrets: rows
                .iter()
                .filter(|r| r.namespace == w.namespace && r.target.name == name)
                .map(|r| r.name.clone())
                .collect(),
            uses: uses.iter().map(|u| u.as_str().to_string()).collect(),
            name,
        })
        .collect();
    WorkloadReport {
        workload: w.workload.clone(),
        namespace: w.namespace.clone(),
        found: w.pod_spec.is_some(),
        secrets,
    }
}

fn degraded(snap: &ScopeSnapshot) -> Vec<Degraded> {
    [
        snap.secret_stores.as_ref().err(),
        snap.cluster_secret_stores.as_ref().err(),
        snap.cluster_external_secrets.as_ref().err(),
        snap.secrets.as_ref().err(),
        snap.events.as_ref().err(),
    ]
    .into_iter()
    .chain(snap.store_events.iter().map(|f| f.as_ref().err()))
    .flatten()
    .cloned()
    .fold(Vec::new(), |mut acc: Vec<Degraded>, d| {
        // Several event LISTs in one namespace fail for the same reason: say it once.
        if !acc.contains(&d) {
            acc.push(d);
        }
        acc
    })
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
