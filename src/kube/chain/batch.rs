//! doctor's check 3: every store in scope probed as ESO, batched. The remote keys come from the
//! one ExternalSecret LIST scope already made; each store gets one credential resolution, one
//! login and one capabilities call covering the distinct keys of all its ExternalSecrets, so the
//! provider sees requests in proportion to distinct keys, never to ExternalSecrets. Stores are
//! probed a few at a time. Provider values live only inside `probe_one`: each ExternalSecret's
//! `property` lookups and its target Secret (from the one LIST of ESO-managed Secrets the caller
//! made) are checked against them there, and only key names and yes / no leave.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;

use super::auth::{self, Sensitive};
use super::extract;
use super::probe::{self, ProbeAs};
use crate::analysis::chain::compare::{Selected, compare, select};
use crate::analysis::chain::redact::redact;
use crate::analysis::trust::TrustPolicy;
use crate::analysis::trust::{self, Endpoint};
use crate::diag::Diag;
use crate::model::chain::{
    ChainFacts, ExternalSecretFacts, ProviderFacts, RemoteRefFacts, RemoteValue, StoreFacts,
    TargetFacts, TargetKey,
};
use crate::model::doctor::{KeyUser, StoreProbe, TargetValues};
use crate::model::eso::{ExternalSecret, SecretStore};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::ScopeSnapshot;
use crate::provider::vault::http::ProbeHttp;

/// The ESO-managed Secrets in scope, by (namespace, name), held in memory for the comparison
/// (and doctor's registry logins), then dropped.
pub type TargetData = std::collections::HashMap<(String, String), ManagedSecret>;

/// One Secret ESO writes: its `type` and its data.
#[derive(Default)]
pub struct ManagedSecret {
    pub type_: Option<String>,
    pub data: BTreeMap<String, Sensitive>,
}

/// How many stores are probed at once.
pub const STORE_CONCURRENCY: usize = 4;

pub struct BatchOptions {
    /// `--provider-ca-file` contents, PEM.
    pub ca_pems: Vec<String>,
    /// For each provider request, and again for a whole store's probe.
    pub timeout: Duration,
    /// Where credentials may be sent (`analysis::trust`).
    pub trust: TrustPolicy,
}

/// One store and what its ExternalSecrets ask of it.
struct Job<'a> {
    store: StoreRef,
    object: &'a SecretStore,
    /// Each ExternalSecret with the refs it reads from this store, and whether this store
    /// provides all of its target (only then is the target compared).
    users: Vec<(&'a ExternalSecret, ExternalSecretFacts, bool)>,
}

/// Probes every store of the snapshot; stores that could not be listed are not probed (the
/// stores check already reports that).
pub async fn probe_stores(
    client: &Client,
    snap: &ScopeSnapshot,
    targets: &TargetData,
    opts: &BatchOptions,
    diag: &Diag,
) -> (Vec<StoreProbe>, Vec<Sensitive>) {
    let jobs = jobs(snap);
    let cluster_stores: Vec<serde_json::Value> = snap
        .cluster_secret_stores
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(super::to_value)
        .collect();
    let vouched = trust::cluster_store_endpoints(cluster_stores.iter());
    let done: Vec<(StoreProbe, Vec<Sensitive>)> = futures::stream::iter(jobs)
        .map(|job| probe_one(client, job, targets, opts, &vouched, *diag))
        .buffer_unordered(STORE_CONCURRENCY)
        .collect()
        .await;
    let mut probes = Vec::with_capacity(done.len());
    let mut read = Vec::new();
    for (p, values) in done {
        probes.push(p);
        read.extend(values);
    }
    probes.sort_by(|a, b| a.store.cmp(&b.store));
    // The credential values read, so the caller can scrub every message that quotes one.
    (probes, read)
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
        let facts = extract::external_secret(&super::to_value(es));
        let per_store = refs_by_store(es, facts);
        // The target is compared only when one store provides all of it.
        let whole = per_store.len() == 1;
        for (key, facts) in per_store {
            if let Some(job) = by_store.get_mut(&key) {
                job.users.push((es, facts, whole));
            }
        }
    }
    by_store.into_values().collect()
}

/// The ExternalSecret's remote refs split by the store each entry really reads from (its own
/// `sourceRef.storeRef`, else `secretStoreRef`; issue 14), so each store is probed for its own
/// keys and a failure is attributed to the store at fault.
fn refs_by_store(
    es: &ExternalSecret,
    facts: ExternalSecretFacts,
) -> BTreeMap<StoreRef, ExternalSecretFacts> {
    let key_of = |r: &crate::model::eso::StoreRefSpec| {
        let kind = StoreKind::from_spec(r.kind.as_deref())?;
        Some(StoreRef {
            kind,
            namespace: (kind == StoreKind::SecretStore).then(|| es.namespace().to_string()),
            name: r.name.clone(),
        })
    };
    let mut out: BTreeMap<StoreRef, ExternalSecretFacts> = BTreeMap::new();
    for r in &facts.remote_refs {
        let Some(store) = es.store_for_entry(&r.source).and_then(key_of) else {
            continue;
        };
        out.entry(store)
            .or_insert_with(|| ExternalSecretFacts {
                remote_refs: Vec::new(),
                ..facts.clone()
            })
            .remote_refs
            .push(r.clone());
    }
    // An ExternalSecret with no entry still uses its store (doctor counts its users).
    if out.is_empty()
        && let Some(store) = es.store_ref().and_then(key_of)
    {
        out.insert(store, facts);
    }
    out
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

async fn probe_one(
    client: &Client,
    job: Job<'_>,
    targets: &TargetData,
    opts: &BatchOptions,
    vouched: &BTreeSet<Endpoint>,
    diag: Diag,
) -> (StoreProbe, Vec<Sensitive>) {
    let refs = distinct_refs(job.users.iter().map(|(_, f, _)| f));
    let store_value = super::to_value(job.object);
    let (provider_name, settings) = extract::provider_settings(&store_value);
    let store_facts = StoreFacts {
        kind: job.store.kind.as_str().into(),
        name: job.store.name.clone(),
        namespace: job.store.namespace.clone(),
        found: Some(true),
        provider: provider_name,
        settings,
        kube_cluster: extract::kube_cluster(&store_value),
        ..StoreFacts::default()
    };
    // A ClusterSecretStore's refs without a namespace resolve in the ExternalSecret's namespace,
    // as ESO does; one user's namespace stands for all (one login per store).
    let es_namespace = job
        .users
        .first()
        .map(|(es, _, _)| es.namespace().to_string())
        .or_else(|| job.store.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let refused = trust::vouch(
        job.store.kind == StoreKind::ClusterSecretStore,
        &trust::store_endpoints(&store_value),
        vouched,
        &opts
            .trust
            .for_store(&store_value, crate::kube::client::home_endpoint()),
    )
    .err();
    let resolved = auth::resolve(
        client,
        &store_value,
        &store_facts,
        &es_namespace,
        refused.is_none(),
        &diag,
    )
    .await;
    // authRef: the server the kubeconfig names is vouched for like a store's URL.
    let refused = match (refused, auth::kubeconfig_server(&resolved)) {
        (None, Some(server)) => {
            let endpoints: Vec<Endpoint> = Endpoint::parse(server).into_iter().collect();
            trust::vouch(
                job.store.kind == StoreKind::ClusterSecretStore,
                &endpoints,
                vouched,
                &opts
                    .trust
                    .for_store(&store_value, crate::kube::client::home_endpoint()),
            )
            .err()
        }
        (refused, _) => refused,
    };
    let mut cas = opts.ca_pems.clone();
    cas.extend(resolved.ca_pem.clone());

    let (mut provider, values) = match refused {
        Some(why) => (probe::skipped(ProbeAs::Eso, &why), Vec::new()),
        None => probe_with(&store_value, &resolved, &refs, &cas, opts.timeout, diag).await,
    };
    super::reviewer::check(client, &mut provider).await;

    let mut users = Vec::new();
    let mut compared = Vec::new();
    for (es, facts, whole) in &job.users {
        let own = own_values(facts, &refs, &values);
        users.extend(key_users(facts, &own));
        if !whole {
            continue;
        }
        let data = targets.get(&(es.namespace().to_string(), es.target_name().to_string()));
        if let Some(t) = data.and_then(|d| compare_target(es.target_name(), facts, &d.data, &own)) {
            compared.push(t);
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
    let probe = StoreProbe {
        store: job.store,
        provider_kind: store_facts.provider.clone().unwrap_or_default(),
        settings: store_facts.settings.clone(),
        kube_cluster: store_facts.kube_cluster.clone(),
        provider,
        users,
        targets: compared,
    };
    (probe, resolved.read)
}

/// One store's probe once it is allowed: build the HTTP client, log in, read, within `timeout`.
async fn probe_with(
    store_value: &serde_json::Value,
    resolved: &auth::Resolved,
    refs: &[RemoteRefFacts],
    cas: &[String],
    timeout: Duration,
    diag: Diag,
) -> (ProviderFacts, Vec<Option<RemoteValue>>) {
    match ProbeHttp::new(cas, timeout, diag) {
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
                Some(store_value),
                resolved.auth.as_ref(),
                refs,
                ProbeAs::Eso,
            );
            match tokio::time::timeout(timeout, run).await {
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
                        error: Some(format!("the provider did not answer within {timeout:?}")),
                        calls: http.calls(),
                        ..ProviderFacts::default()
                    },
                    Vec::new(),
                ),
            }
        }
    }
}

/// The store-wide values, aligned with one ExternalSecret's own refs (borrowed: one read serves
/// every ExternalSecret that uses the key).
fn own_values<'v>(
    facts: &ExternalSecretFacts,
    refs: &[RemoteRefFacts],
    values: &'v [Option<RemoteValue>],
) -> Vec<Option<&'v RemoteValue>> {
    facts
        .remote_refs
        .iter()
        .map(|r| {
            if r.find {
                return None;
            }
            refs.iter()
                .position(|d| d.key == r.key && d.version == r.version)
                .and_then(|i| values.get(i)?.as_ref())
        })
        .collect()
}

/// One entry per distinct remote key the ExternalSecret reads, with the properties it asks of
/// that key that the provider's value lacks (known only where the value was read).
fn key_users(facts: &ExternalSecretFacts, own: &[Option<&RemoteValue>]) -> Vec<KeyUser> {
    let mut by_key: BTreeMap<&str, (BTreeSet<String>, BTreeSet<Option<String>>)> = BTreeMap::new();
    for (r, v) in facts.remote_refs.iter().zip(own) {
        if r.find || r.key.is_empty() {
            continue;
        }
        let (missing, versions) = by_key.entry(r.key.as_str()).or_default();
        versions.insert(r.version.clone());
        if let (Some(v), Some(p)) = (v, r.property.as_deref())
            && matches!(select(v, Some(p)), Selected::MissingProperty)
        {
            missing.insert(p.to_string());
        }
    }
    by_key
        .into_iter()
        .map(|(key, (missing, versions))| KeyUser {
            namespace: facts.namespace.clone(),
            name: facts.name.clone(),
            key: key.to_string(),
            versions: versions.into_iter().collect(),
            missing_properties: missing.into_iter().collect(),
        })
        .collect()
}

/// The target Secret's keys compared with the values ESO would write now; `None` when nothing
/// could be compared (templated target, nothing read).
fn compare_target(
    target: &str,
    facts: &ExternalSecretFacts,
    data: &BTreeMap<String, Sensitive>,
    own: &[Option<&RemoteValue>],
) -> Option<TargetValues> {
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
    let results = compare(facts, &mut target_facts, data, own);
    (!results.is_empty()).then(|| TargetValues {
        namespace: facts.namespace.clone(),
        name: facts.name.clone(),
        differs: results
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(k, _)| crate::sanitize::line(&k))
            .collect(),
    })
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

    /// Issue 14: an entry's `sourceRef.storeRef` sends its key to that store's probe, not to the
    /// ExternalSecret's default store.
    #[test]
    fn issue14_refs_go_to_the_store_each_entry_names() {
        let model: ExternalSecret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app", "namespace": "prod"},
            "spec": {
                "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                "data": [
                    {"secretKey": "a", "remoteRef": {"key": "a"}},
                    {"secretKey": "b", "remoteRef": {"key": "b"},
                     "sourceRef": {"storeRef": {"name": "vault-old", "kind": "ClusterSecretStore"}}},
                ],
            },
        }))
        .unwrap_or_default();
        let facts = extract::external_secret(&super::super::to_value(&model));
        let split = refs_by_store(&model, facts);
        let keys: Vec<(String, Vec<String>)> = split
            .iter()
            .map(|(s, f)| {
                (
                    s.short(),
                    f.remote_refs.iter().map(|r| r.key.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                ("SecretStore/vault".to_string(), vec!["a".to_string()]),
                (
                    "ClusterSecretStore/vault-old".to_string(),
                    vec!["b".to_string()]
                ),
            ]
        );
    }

    fn sens(v: &str) -> Sensitive {
        Sensitive::from_string(v.into())
    }

    fn data_ref(secret_key: &str, key: &str, property: Option<&str>) -> RemoteRefFacts {
        RemoteRefFacts {
            secret_key: Some(secret_key.into()),
            key: key.into(),
            property: property.map(str::to_string),
            ..RemoteRefFacts::default()
        }
    }

    #[test]
    fn issue8_missing_properties_and_differing_keys_come_out_as_names_only() {
        let facts = ExternalSecretFacts {
            namespace: "prod".into(),
            name: "db".into(),
            remote_refs: vec![
                data_ref("password", "db", Some("password")),
                data_ref("user", "db", Some("username")),
                data_ref("typo", "db", Some("pasword")),
                data_ref("api", "api", None),
            ],
            ..ExternalSecretFacts::default()
        };
        let db = RemoteValue::Map(BTreeMap::from([
            ("password".to_string(), sens("canary-new")),
            ("username".to_string(), sens("app")),
        ]));
        let api = RemoteValue::Single(sens("canary-api"));
        let own = vec![Some(&db), Some(&db), Some(&db), Some(&api)];
        let users = key_users(&facts, &own);
        let got: Vec<(&str, Vec<String>)> = users
            .iter()
            .map(|u| (u.key.as_str(), u.missing_properties.clone()))
            .collect();
        assert_eq!(
            got,
            vec![("api", vec![]), ("db", vec!["pasword".to_string()])]
        );

        let target = BTreeMap::from([
            ("password".to_string(), sens("canary-old")),
            ("user".to_string(), sens("app")),
            ("api".to_string(), sens("canary-api")),
        ]);
        let t = compare_target("db-secret", &facts, &target, &own);
        assert_eq!(t.map(|t| t.differs), Some(vec!["password".to_string()]));
        let debug = format!("{users:?}");
        assert!(!debug.contains("canary"), "{debug}");
    }

    #[test]
    fn nothing_read_means_nothing_compared() {
        let facts = ExternalSecretFacts {
            remote_refs: vec![data_ref("password", "db", None)],
            ..ExternalSecretFacts::default()
        };
        let target = BTreeMap::from([("password".to_string(), sens("x"))]);
        assert_eq!(compare_target("t", &facts, &target, &[None]), None);
    }
}
