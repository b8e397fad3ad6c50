//! Is it one app or a whole store? The runbook's rule, made explicit: when a store is not ready
//! or missing, or every ExternalSecret on it fails across several namespaces, suspect the store
//! (its provider, its credentials, ESO) rather than the apps; otherwise the failing
//! ExternalSecrets are app-level problems on a working store.

use std::collections::BTreeMap;

use crate::model::refs::StoreRef;
use crate::model::scope::*;

pub fn summary(rows: &[ExternalSecretRow]) -> Summary {
    let mut by_store: BTreeMap<Option<StoreRef>, (usize, usize)> = BTreeMap::new();
    let mut by_ns: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in rows {
        for slot in [
            by_store.entry(r.store.clone()).or_default(),
            by_ns.entry(r.namespace.clone()).or_default(),
        ] {
            slot.0 += 1;
            slot.1 += usize::from(r.failing);
        }
    }
    Summary {
        external_secrets: rows.len(),
        failing: rows.iter().filter(|r| r.failing).count(),
        by_store: by_store
            .into_iter()
            .map(|(store, (total, failing))| StoreCount {
                store,
                total,
                failing,
            })
            .collect(),
        by_namespace: by_ns
            .into_iter()
            .map(|(namespace, (total, failing))| NamespaceCount {
                namespace,
                total,
                failing,
            })
            .collect(),
    }
}

/// `place` says where scope looked, for the answer when nothing is there (issue 13: an empty
/// namespace is not "healthy", it is empty): `in namespace prod`, `in any namespace`, `in scope`.
pub fn verdicts(rows: &[ExternalSecretRow], stores: &[StoreRow], place: &str) -> Vec<Verdict> {
    let failing: Vec<&ExternalSecretRow> = rows.iter().filter(|r| r.failing).collect();
    if failing.is_empty() {
        let message = match rows.len() {
            0 => format!("no ExternalSecrets {place}: nothing to check"),
            n => format!("healthy: {} synced", count(n, "ExternalSecret")),
        };
        return vec![Verdict {
            level: VerdictLevel::Healthy,
            store: None,
            external_secrets: Vec::new(),
            namespaces: Vec::new(),
            message,
        }];
    }

    // The failing rows of each store, in row order: grouped once, not once per store (3,000
    // SecretStores in an outage at scale, issue 16).
    let mut by_store: foldhash::HashMap<&StoreRef, Vec<String>> = foldhash::HashMap::default();
    for r in &failing {
        if let Some(s) = &r.store {
            by_store.entry(s).or_default().push(qualified(r));
        }
    }
    let mut out: Vec<Verdict> = stores
        .iter()
        .filter(|s| s.failing > 0)
        .map(|s| store_verdict(s, by_store.get(&s.store).cloned().unwrap_or_default()))
        .collect();
    for row in failing.iter().filter(|r| r.store.is_none()) {
        // Generators need no store (issue 14): the failure is the generator's, not a missing store.
        let message = if row.generators.is_empty() {
            format!(
                "app-level: {} names no usable store (secretStoreRef)",
                qualified(row)
            )
        } else {
            format!(
                "app-level: {} fails on its generator {}",
                qualified(row),
                row.generators.join(", ")
            )
        };
        out.push(Verdict {
            level: VerdictLevel::App,
            store: None,
            external_secrets: vec![qualified(row)],
            namespaces: vec![row.namespace.clone()],
            message,
        });
    }
    out.sort_by(|a, b| {
        a.level
            .cmp(&b.level)
            .then(b.external_secrets.len().cmp(&a.external_secrets.len()))
    });
    out
}

fn store_verdict(s: &StoreRow, names: Vec<String>) -> Verdict {
    let ns = s.failing_namespaces.len();
    let spread = format!(
        "{} of {} using it fail across {}",
        s.failing,
        count(s.external_secrets, "ExternalSecret"),
        count(ns, "namespace")
    );
    let reason = s.ready.reason.as_deref().unwrap_or("no reason given");
    let (level, message) = match (s.found, s.ready.status.as_str()) {
        (Some(false), _) => (
            VerdictLevel::Store,
            format!("store-level: {} does not exist; {spread}", s.store),
        ),
        (Some(true), "False") => (
            VerdictLevel::Store,
            format!("store-level: {} is not ready ({reason}); {spread}", s.store),
        ),
        (_, status) if s.failing == s.external_secrets && ns >= 2 => {
            let state = if status == "True" {
                "reports ready"
            } else {
                "is in an unknown state"
            };
            (
                VerdictLevel::Store,
                format!(
                    "store-level: {} {state}, but {spread}: suspect the provider or the store's credentials",
                    s.store
                ),
            )
        }
        (found, status) => (VerdictLevel::App, app_message(s, &names, found, status)),
    };
    Verdict {
        level,
        store: Some(s.store.clone()),
        external_secrets: names,
        namespaces: s.failing_namespaces.clone(),
        message,
    }
}

fn app_message(s: &StoreRow, names: &[String], found: Option<bool>, status: &str) -> String {
    let healthy = s.external_secrets - s.failing;
    let fails = if s.failing == 1 { "fails" } else { "fail" };
    // Name the ExternalSecrets when there are few enough to read in one line.
    let which = if names.len() <= 3 {
        format!(" ({})", names.join(", "))
    } else {
        String::new()
    };
    let head = format!(
        "app-level: {} of {} on {} {fails}{which}",
        s.failing,
        count(s.external_secrets, "ExternalSecret"),
        s.store
    );
    let store_state = match (found, status) {
        (Some(true), "True") => "the store",
        (None, _) => "the store's state is unknown (see degraded)",
        _ => "the store's readiness is unknown",
    };
    if store_state != "the store" {
        return format!("{head}; {store_state}");
    }
    match healthy {
        0 => format!("{head}; the store is ready"),
        1 => format!("{head}; the store and its 1 other ExternalSecret are healthy"),
        n => format!("{head}; the store and its {n} other ExternalSecrets are healthy"),
    }
}

fn qualified(r: &ExternalSecretRow) -> String {
    format!("{}/{}", r.namespace, r.name)
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
