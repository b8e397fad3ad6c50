//! doctor's check 3: every store in scope probed as ESO, batched. The remote keys come from the
//! one ExternalSecret LIST scope already made; each store gets one credential resolution, one
//! login and one capabilities call covering the distinct keys of all its ExternalSecrets, so the
//! provider sees requests in proportion to distinct keys, never to ExternalSecrets. Stores are
//! probed a few at a time. Provider values live only inside `probe_one`: the target Secrets of
//! CreatedOnce ExternalSecrets are read and compared there, and only "changed or not" leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::auth::{self, Sensitive};
use super::extract;
use super::probe::{self, ProbeAs};
use crate::analysis::chain::compare::compare;
use crate::analysis::chain::redact::redact;
use crate::diag::Diag;
use crate::model::chain::{
    ChainFacts, ExternalSecretFacts, ProviderFacts, RemoteRefFacts, RemoteValue, StoreFacts,
    TargetFacts, TargetKey,
};
use crate::model::doctor::{KeyUser, StoreProbe};
use crate::model::eso::{ExternalSecret, SecretStore};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::ScopeSnapshot;
use crate::provider::vault::http::ProbeHttp;

/// How many stores are probed at once.
pub const STORE_CONCURRENCY: usize = 4;

pub struct BatchOptions {
    /// `--provider-ca-file` contents, PEM.
    pub ca_pems: Vec<String>,
    /// For each provider request, and again for a whole store's probe.
    pub timeout: Duration,
}

/// One store and what its ExternalSecrets ask of it.
struct Job<'a> {
    store: StoreRef,
    object: &'a SecretStore,
    users: Vec<(&'a ExternalSecret, ExternalSecretFacts)>,
}

/// Probes every store of the snapshot; stores that could not be listed are not probed (the
/// stores check already reports that).
pub async fn probe_stores(
    client: &Client,
    snap: &ScopeSnapshot,
    opts: &BatchOptions,
    diag: &Diag,
) -> Vec<StoreProbe> {
    let jobs = jobs(snap);
    let mut probes: Vec<StoreProbe> = futures::stream::iter(jobs)
        .map(|job| probe_one(client, job, opts, *diag))
        .buffer_unordered(STORE_CONCURRENCY)
        .collect()
        .await;
    probes.sort_by(|a, b| a.store.cmp(&b.store));
    probes
}

fn jobs(snap: &ScopeSnapshot) -> Vec<Job<'_>> {
    let mut by_store: BTreeMap<StoreRef, Job<'_>> = BTreeMap::new();
    let namespaced = snap.secret_stores.as_deref().unwrap_or_default();
    let cluster = snap.cluster_secret_stores.as_deref().unwrap_or_default();
    for (kind, stores) in [
        (StoreKind::SecretStore, namespaced),
        (StoreKind::ClusterSecretStore, cluster),
    ] {
        for s in stores {
            let store = StoreRef {
                kind,
                namespace: match kind {
                    StoreKind::SecretStore => s.metadata.namespace.clone(),
                    StoreKind::ClusterSecretStore => None,
                },
                name: s.metadata.name.clone().unwrap_or_default(),
            };
            by_store.insert(
                store.clone(),
                Job {
                    store,
                    object: s,
                    users: Vec::new(),
                },
            );
        }
    }
    for es in &snap.external_secrets {
        let Some(r) = es.store_ref() else { continue };
        let Some(kind) = StoreKind::from_spec(r.kind.as_deref()) else {
            continue;
        };
        let key = StoreRef {
            kind,
            namespace: (kind == StoreKind::SecretStore).then(|| es.namespace().to_string()),
            name: r.name.clone(),
        };
        if let Some(job) = by_store.get_mut(&key) {
            let facts = extract::external_secret(&super::to_value(es));
            job.users.push((es, facts));
        }
    }
    by_store.into_values().collect()
}

/// The distinct (key, version) pairs the store's ExternalSecrets read. Property is left out: one
/// read of a remote secret serves every property of it.
fn distinct_refs<'a>(users: impl Iterator<Item = &'a ExternalSecretFacts>) -> Vec<RemoteRefFacts> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for es in users {
        for r in es
            .remote_refs
            .iter()
            .filter(|r| !r.find && !r.key.is_empty())
        {
            if seen.insert((r.key.clone(), r.version.clone())) {
                out.push(RemoteRefFacts {
                    source: format!("remote key {}", out.len()),
                    key: r.key.clone(),
                    version: r.version.clone(),
                    ..RemoteRefFacts::default()
                });
            }
        }
    }
    out
}

async fn probe_one(client: &Client, job: Job<'_>, opts: &BatchOptions, diag: Diag) -> StoreProbe {
    let refs = distinct_refs(job.users.iter().map(|(_, f)| f));
    let store_value = super::to_value(job.object);
    let (provider_name, settings) = extract::provider_settings(&store_value);
    let store_facts = StoreFacts {
        kind: job.store.kind.as_str().into(),
        name: job.store.name.clone(),
        namespace: job.store.namespace.clone(),
        found: Some(true),
        provider: provider_name,
        settings,
        ..StoreFacts::default()
    };
    // A ClusterSecretStore's refs without a namespace resolve in the ExternalSecret's namespace,
    // as ESO does; one user's namespace stands for all (one login per store).
    let es_namespace = job
        .users
        .first()
        .map(|(es, _)| es.namespace().to_string())
        .or_else(|| job.store.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let resolved = auth::resolve(
        client,
        &store_value,
        &store_facts,
        &es_namespace,
        true,
        &diag,
    )
    .await;
    let mut cas = opts.ca_pems.clone();
    cas.extend(resolved.ca_pem.clone());

    let (provider, values) = match ProbeHttp::new(&cas, opts.timeout, diag) {
        Err(e) => (
            ProviderFacts {
                error: Some(e),
                ..probe::skipped(ProbeAs::Eso, "the provider HTTP client could not be built")
            },
            Vec::new(),
        ),
        Ok(http) => {
            let run = probe::probe_store(
                &http,
                Some(&store_value),
                resolved.auth.as_ref(),
                &refs,
                ProbeAs::Eso,
            );
            match tokio::time::timeout(opts.timeout, run).await {
                Ok((facts, values)) => (
                    ProviderFacts {
                        calls: http.calls(),
                        ..facts
                    },
                    values,
                ),
                Err(_) => (
                    ProviderFacts {
                        probed: true,
                        probe_as: ProbeAs::Eso.as_str().into(),
                        error: Some(format!(
                            "the provider did not answer within {:?}",
                            opts.timeout
                        )),
                        calls: http.calls(),
                        ..ProviderFacts::default()
                    },
                    Vec::new(),
                ),
            }
        }
    };

    let mut users = Vec::new();
    for (es, facts) in &job.users {
        let created_once = es.spec.refresh_policy.as_deref() == Some("CreatedOnce");
        let value_changed = if created_once && !values.is_empty() {
            changed_since_created(client, es, facts, &refs, &values, &diag).await
        } else {
            None
        };
        let mut keys: Vec<&str> = facts
            .remote_refs
            .iter()
            .filter(|r| !r.find && !r.key.is_empty())
            .map(|r| r.key.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            users.push(KeyUser {
                namespace: facts.namespace.clone(),
                name: facts.name.clone(),
                key: key.to_string(),
                created_once,
                value_changed,
            });
        }
    }
    drop(values);
    let known: Vec<&Sensitive> = resolved.read.iter().collect();
    let provider = redact(
        ChainFacts {
            provider,
            ..ChainFacts::default()
        },
        &known,
    )
    .provider;
    StoreProbe {
        store: job.store,
        provider,
        users,
    }
}

/// A second in-memory copy, so several ExternalSecrets can be compared against one read.
fn copy(v: &RemoteValue) -> RemoteValue {
    let dup = |s: &Sensitive| Sensitive::from_bytes(s.bytes().to_vec());
    match v {
        RemoteValue::Single(s) => RemoteValue::Single(dup(s)),
        RemoteValue::Map(m) => {
            RemoteValue::Map(m.iter().map(|(k, s)| (k.clone(), dup(s))).collect())
        }
    }
}

/// Reads the target Secret of a CreatedOnce ExternalSecret and compares it in memory with the
/// provider's current values; `None` when it could not be compared.
async fn changed_since_created(
    client: &Client,
    es: &ExternalSecret,
    facts: &ExternalSecretFacts,
    refs: &[RemoteRefFacts],
    values: &[Option<RemoteValue>],
    diag: &Diag,
) -> Option<bool> {
    let api: Api<Secret> = Api::namespaced(client.clone(), es.namespace());
    let target = es.target_name();
    diag.log(1, format_args!("GET secret {}/{target}", es.namespace()));
    let secret = api.get_opt(target).await.ok()??;
    let data: BTreeMap<String, Sensitive> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Sensitive::from_bytes(v.0)))
        .collect();
    let mut target_facts = TargetFacts {
        name: target.to_string(),
        exists: Some(true),
        keys: data
            .iter()
            .map(|(k, v)| TargetKey {
                name: k.clone(),
                size: v.bytes().len(),
                matches_provider: None,
            })
            .collect(),
        ..TargetFacts::default()
    };
    // Align the store-wide values with this ExternalSecret's own refs.
    let own: Vec<Option<RemoteValue>> = facts
        .remote_refs
        .iter()
        .map(|r| {
            refs.iter()
                .position(|d| d.key == r.key && d.version == r.version && !r.find)
                .and_then(|i| values.get(i)?.as_ref().map(copy))
        })
        .collect();
    compare(facts, &mut target_facts, &data, &own);
    let compared: Vec<bool> = target_facts
        .keys
        .iter()
        .filter_map(|k| k.matches_provider)
        .collect();
    (!compared.is_empty()).then(|| compared.iter().any(|m| !m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(refs: &[(&str, Option<&str>, Option<&str>, bool)]) -> ExternalSecretFacts {
        ExternalSecretFacts {
            remote_refs: refs
                .iter()
                .map(|(key, property, version, find)| RemoteRefFacts {
                    key: key.to_string(),
                    property: property.map(str::to_string),
                    version: version.map(str::to_string),
                    find: *find,
                    ..RemoteRefFacts::default()
                })
                .collect(),
            ..ExternalSecretFacts::default()
        }
    }

    #[test]
    fn one_ref_per_distinct_key_and_version_across_externalsecrets() {
        let users = [
            es(&[
                ("db", Some("user"), None, false),
                ("db", Some("password"), None, false),
            ]),
            es(&[("db", None, None, false), ("db", None, Some("3"), false)]),
            es(&[("", None, None, true), ("api", None, None, false)]),
        ];
        let refs = distinct_refs(users.iter());
        let got: Vec<(&str, Option<&str>, Option<&str>)> = refs
            .iter()
            .map(|r| (r.key.as_str(), r.property.as_deref(), r.version.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("db", None, None),
                ("db", None, Some("3")),
                ("api", None, None)
            ]
        );
        assert!(refs.iter().all(|r| !r.find && !r.extract));
    }
}
