//! Everything `describe-chain` reads from the cluster for one ExternalSecret: the ExternalSecret
//! and its Events, its store and the store's Events, the Secrets and ServiceAccount the store's auth
//! refers to, the target Secret, and the namespace's workloads. Only the ExternalSecret itself is
//! essential (its failure is exit 2); every other failed lookup is recorded on its link and the walk
//! goes on. Secret values read here (credentials for the probe, the target's data for the
//! comparison) stay in memory in [`Sensitive`] wrappers and never enter the model.

mod auth;
pub mod batch;
mod consumers;
pub mod extract;
pub mod generators;
pub mod probe;
pub mod probe_aws;
pub mod probe_kube;
pub mod reviewer;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::eso::EsoApi;
use super::list::{Listing, api_error, list_all, status_code};
use crate::analysis::trust::{self, TrustPolicy};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::model::chain::{ChainFacts, StoreFacts, TargetFacts, TargetKey};

pub use auth::{ProbeAuth, Resolved, Sensitive, resolve as resolve_auth};

/// What the provider probe needs besides the model: the store as read and the credentials.
pub struct Gathered {
    pub facts: ChainFacts,
    /// The store object, when it was found.
    pub store: Option<Value>,
    /// Credentials resolved as ESO would resolve them; `None` when not asked (`--no-probe`).
    pub auth: Option<ProbeAuth>,
    /// The store's caBundle / caProvider certificate(s), PEM.
    pub store_ca_pem: Option<String>,
    /// The target Secret's data, only for the in-memory comparison.
    pub target_data: BTreeMap<String, Sensitive>,
    /// Every credential value read, so messages quoting one can be scrubbed.
    pub credential_values: Vec<Sensitive>,
    /// Why the probe must not send credentials to the store's provider (`analysis::trust`).
    pub probe_refused: Option<String>,
}

pub struct ChainQuery<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// Resolve credentials (TokenRequest included) for a probe as ESO.
    pub resolve_auth: bool,
    /// The probe will run (as ESO or as the user): decide first whether the store's provider host
    /// may receive credentials, and mint nothing when it may not.
    pub trust: Option<&'a TrustPolicy>,
}

pub async fn gather(
    client: &Client,
    eso: &EsoApi,
    q: &ChainQuery<'_>,
    diag: &Diag,
) -> Result<Gathered> {
    let ns = q.namespace;
    let es_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &eso.external_secrets());
    diag.log(1, format_args!("GET externalsecret {ns}/{}", q.name));
    let es = match es_api.get(q.name).await {
        Ok(es) => to_value(&es),
        Err(e) if status_code(&e) == Some(404) => {
            return Err(Error::NotFound(format!(
                "externalsecret {:?} not found in namespace {ns}",
                q.name
            )));
        }
        Err(e) => {
            return Err(api_error(
                &format!("cannot read externalsecret {ns}/{}", q.name),
                &e,
            ));
        }
    };
    let mut facts = ChainFacts {
        external_secret: extract::external_secret(&es),
        ..ChainFacts::default()
    };
    match object_events(client, ns, "ExternalSecret", q.name, diag).await {
        Ok(ev) => facts.external_secret.events = ev,
        Err(e) => facts.external_secret.events_error = Some(e),
    }

    // Generators (issue 14): an ExternalSecret made only of them names no store, validly; its
    // store link is then its (first) generator.
    let es_model: crate::model::eso::ExternalSecret =
        serde_json::from_value(es.clone()).unwrap_or_default();
    let gens = generators::fetch(client, &es_model, diag).await;
    facts.generators = gens.iter().map(|g| g.facts.clone()).collect();
    let (store_facts, store) = if es_model.generators_only() {
        let (store_facts, store, remote) = generators::as_store(&gens, ns);
        facts.external_secret.remote_refs.extend(remote);
        (store_facts, store)
    } else {
        // The chain's store: secretStoreRef, else the first entry's own storeRef.
        if facts.external_secret.store_name.is_none()
            && let Some(r) = es_model.store_ref()
        {
            facts.external_secret.store_name = Some(r.name.clone());
            facts.external_secret.store_kind =
                Some(r.kind.clone().unwrap_or_else(|| "SecretStore".into()));
        }
        fetch_store(client, eso, &facts, diag).await
    };
    facts.store = store_facts;
    facts.other_stores = other_stores(client, eso, &mut facts, &es_model, diag).await;

    let mut probe_refused = None;
    if let (Some(store), Some(policy)) = (&store, q.trust) {
        let endpoints = trust::store_endpoints(store);
        probe_refused = vouch_for(client, eso, store, &endpoints, &facts.store, policy, diag)
            .await
            .err();
    }
    let mut resolved = auth::Resolved::default();
    if let Some(store) = &store {
        let request_tokens = q.resolve_auth && probe_refused.is_none();
        resolved = auth::resolve(client, store, &facts.store, ns, request_tokens, diag).await;
        // authRef: the server the kubeconfig names is vouched for like a store's URL.
        if let (Some(server), Some(policy), None) =
            (auth::kubeconfig_server(&resolved), q.trust, &probe_refused)
        {
            let endpoints: Vec<_> = trust::Endpoint::parse(server).into_iter().collect();
            probe_refused = vouch_for(client, eso, store, &endpoints, &facts.store, policy, diag)
                .await
                .err();
        }
    }
    facts.credentials = resolved.credentials;

    let target_kind = es_model.target_kind().to_string();
    let (target, target_data) = if target_kind == "Secret" {
        fetch_target(client, ns, &facts, diag).await
    } else {
        fetch_manifest_target(client, ns, &facts, &es_model, diag).await
    };
    facts.target = target;
    let mut redactor = crate::analysis::eso_logs::redact::Redactor::default();
    for v in target_data.values().chain(resolved.read.iter()) {
        redactor.learn(v.bytes());
    }
    let reading = consumers::LogReading {
        key_names: target_data.keys().cloned().collect(),
        redactor: &redactor,
    };
    facts.consumers = consumers::fetch(
        client,
        ns,
        &target_kind,
        &facts.target.name,
        facts.target.last_changed.as_deref(),
        &reading,
        diag,
    )
    .await;
    Ok(Gathered {
        facts,
        store,
        auth: resolved.auth,
        store_ca_pem: resolved.ca_pem,
        target_data,
        credential_values: resolved.read,
        probe_refused,
    })
}

/// The stores entries name in their own `sourceRef.storeRef` besides the chain's store (issue 14):
/// each is read like the chain's store, and the entries reading from it are marked so the chain's
/// probe does not ask the wrong store for their keys.
async fn other_stores(
    client: &Client,
    eso: &EsoApi,
    facts: &mut ChainFacts,
    es: &crate::model::eso::ExternalSecret,
    diag: &Diag,
) -> Vec<StoreFacts> {
    let main = (facts.store.kind.clone(), facts.store.name.clone());
    let mut wanted: Vec<(String, String)> = Vec::new();
    for r in facts.external_secret.remote_refs.iter_mut() {
        let Some(s) = es.store_for_entry(&r.source) else {
            continue;
        };
        let key = (
            s.kind
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "SecretStore".into()),
            s.name.clone(),
        );
        if key == main {
            continue;
        }
        r.other_store = Some(crate::sanitize::line(&format!("{} {}", key.0, key.1)));
        if !wanted.contains(&key) {
            wanted.push(key);
        }
    }
    let mut out = Vec::new();
    for (kind, name) in wanted {
        let mut view = ChainFacts {
            external_secret: facts.external_secret.clone(),
            ..ChainFacts::default()
        };
        view.external_secret.store_kind = Some(kind);
        view.external_secret.store_name = Some(name);
        let (store_facts, _) = fetch_store(client, eso, &view, diag).await;
        out.push(store_facts);
    }
    out
}

/// `analysis::trust::vouch` for one store; a namespaced store needs the hosts the cluster's
/// ClusterSecretStores use (one LIST, only then).
async fn vouch_for(
    client: &Client,
    eso: &EsoApi,
    store: &Value,
    endpoints: &[trust::Endpoint],
    store_facts: &StoreFacts,
    policy: &TrustPolicy,
    diag: &Diag,
) -> std::result::Result<(), String> {
    // A ClusterGenerator is vouched for like a ClusterSecretStore, a generator like a SecretStore.
    let cluster = matches!(
        store_facts.kind.as_str(),
        "ClusterSecretStore" | "ClusterGenerator"
    );
    let policy = &policy.for_store(store, super::client::home_endpoint());
    let mut vouched = std::collections::BTreeSet::new();
    let mut list_error = None;
    if !cluster && trust::vouch(cluster, endpoints, &vouched, policy).is_err() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &eso.cluster_secret_stores());
        let what = Listing::new("clustersecretstores", None);
        match list_all(&api, &ListParams::default(), &what, diag).await {
            Ok(items) => {
                let values: Vec<Value> = items.iter().map(to_value).collect();
                vouched = trust::cluster_store_endpoints(values.iter());
            }
            Err(e) => list_error = Some(what.degraded(&e).cause),
        }
    }
    trust::vouch(cluster, endpoints, &vouched, policy).map_err(|why| match list_error {
        Some(e) => format!("{why} (ClusterSecretStores could not be listed to vouch for it: {e})"),
        None => why,
    })
}

pub fn to_value<T: serde::Serialize>(obj: &T) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Events about one object, newest first.
pub async fn object_events(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    diag: &Diag,
) -> std::result::Result<Vec<crate::model::chain::EventFacts>, String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().fields(&format!(
        "involvedObject.kind={kind},involvedObject.name={name}"
    ));
    let what = Listing::new("events", Some(ns));
    match list_all(&api, &params, &what, diag).await {
        Ok(items) => {
            let values: Vec<Value> = items
                .iter()
                .map(to_value)
                .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(name))
                .collect();
            Ok(extract::events(&values, 5))
        }
        Err(e) => Err(what.degraded(&e).cause),
    }
}

async fn fetch_store(
    client: &Client,
    eso: &EsoApi,
    facts: &ChainFacts,
    diag: &Diag,
) -> (StoreFacts, Option<Value>) {
    let es = &facts.external_secret;
    let kind = es
        .store_kind
        .clone()
        .unwrap_or_else(|| "SecretStore".into());
    let mut out = StoreFacts {
        kind: kind.clone(),
        name: es.store_name.clone().unwrap_or_default(),
        ..StoreFacts::default()
    };
    if out.name.is_empty() {
        out.error = Some("the ExternalSecret names no store (spec.secretStoreRef)".into());
        return (out, None);
    }
    let cluster = match kind.as_str() {
        "SecretStore" => false,
        "ClusterSecretStore" => true,
        other => {
            out.error = Some(format!(
                "secretStoreRef.kind {other:?} is neither SecretStore nor ClusterSecretStore"
            ));
            return (out, None);
        }
    };
    if !cluster {
        out.namespace = Some(es.namespace.clone());
    }
    let got = get_store(client, eso, cluster, &es.namespace, &out.name, diag).await;
    let store = match got {
        Ok(Some(s)) => s,
        Ok(None) => {
            out.found = Some(false);
            let other = if cluster {
                "SecretStore"
            } else {
                "ClusterSecretStore"
            };
            if let Ok(Some(_)) =
                get_store(client, eso, !cluster, &es.namespace, &out.name, diag).await
            {
                out.other_kind_exists = Some(other.to_string());
            }
            return (out, None);
        }
        Err(e) => {
            out.error = Some(e);
            return (out, None);
        }
    };
    out.found = Some(true);
    out.ready = extract::ready_condition(&store);
    let (provider, settings) = extract::provider_settings(&store);
    out.provider = provider;
    out.settings = settings;
    out.kube_cluster = extract::kube_cluster(&store);
    // ClusterSecretStore events are recorded in `default`, like every cluster-scoped object's.
    let events_ns = if cluster {
        "default"
    } else {
        es.namespace.as_str()
    };
    if let Ok(ev) = object_events(client, events_ns, &kind, &out.name, diag).await {
        out.events = ev;
    }
    if cluster {
        let labels = namespace_labels(client, &es.namespace, diag).await;
        let (admits, note) = crate::analysis::store_conditions::admits_namespace(
            crate::analysis::store_conditions::conditions_of(&store),
            &es.namespace,
            labels.as_ref(),
        );
        out.admits_namespace = admits;
        out.admission_note = note;
    }
    (out, Some(store))
}

pub(crate) async fn get_store(
    client: &Client,
    eso: &EsoApi,
    cluster: bool,
    ns: &str,
    name: &str,
    diag: &Diag,
) -> std::result::Result<Option<Value>, String> {
    let (api, what): (Api<DynamicObject>, &str) = if cluster {
        (
            Api::all_with(client.clone(), &eso.cluster_secret_stores()),
            "clustersecretstore",
        )
    } else {
        (
            Api::namespaced_with(client.clone(), ns, &eso.secret_stores()),
            "secretstore",
        )
    };
    diag.log(1, format_args!("GET {what} {name}"));
    match api.get_opt(name).await {
        Ok(o) => Ok(o.as_ref().map(to_value)),
        Err(e) => Err(match status_code(&e) {
            Some(403) => format!("no permission to get {what} {name}"),
            _ => format!(
                "could not get {what} {name}: {}",
                super::client::one_line(&e)
            ),
        }),
    }
}

async fn namespace_labels(
    client: &Client,
    ns: &str,
    diag: &Diag,
) -> Option<BTreeMap<String, String>> {
    let api: Api<Namespace> = Api::all(client.clone());
    diag.log(1, format_args!("GET namespace {ns}"));
    let got = api.get_opt(ns).await.ok()??;
    Some(got.metadata.labels.unwrap_or_default())
}

/// A `target.manifest` target (issue 14): a ConfigMap is read like a Secret (key names and sizes
/// in the facts; its values, which ESO copied from the provider, only in memory for the
/// comparison); a custom resource's kind is named and its content not checked.
async fn fetch_manifest_target(
    client: &Client,
    ns: &str,
    facts: &ChainFacts,
    es: &crate::model::eso::ExternalSecret,
    diag: &Diag,
) -> (TargetFacts, BTreeMap<String, Sensitive>) {
    let mut data = BTreeMap::new();
    let name = facts.external_secret.target_name.clone();
    let kind = crate::sanitize::line(es.target_kind());
    let mut out = TargetFacts {
        name: name.clone(),
        kind: Some(kind.clone()),
        ..TargetFacts::default()
    };
    if kind != "ConfigMap" {
        out.error = Some(format!(
            "the target is a {kind} (target.manifest): its content is not checked"
        ));
        return (out, data);
    }
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    diag.log(1, format_args!("GET configmap {ns}/{name}"));
    let cm = match api.get_opt(&name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            out.exists = Some(false);
            return (out, data);
        }
        Err(e) => {
            out.error = Some(match status_code(&e) {
                Some(403) => format!("no permission to get configmap {name} in {ns}"),
                _ => format!(
                    "could not get configmap {name}: {}",
                    super::client::one_line(&e)
                ),
            });
            return (out, data);
        }
    };
    out.exists = Some(true);
    ownership(&cm.metadata, &facts.external_secret.name, &mut out);
    out.last_changed =
        crate::analysis::consumers::last_changed(&cm.metadata).map(|t| t.to_string());
    for (k, v) in cm.data.unwrap_or_default() {
        out.keys.push(TargetKey {
            name: crate::sanitize::line(&k),
            size: v.len(),
            matches_provider: None,
        });
        data.insert(k, Sensitive::from_string(v));
    }
    (out, data)
}

async fn fetch_target(
    client: &Client,
    ns: &str,
    facts: &ChainFacts,
    diag: &Diag,
) -> (TargetFacts, BTreeMap<String, Sensitive>) {
    let es = &facts.external_secret;
    let mut out = TargetFacts {
        name: es.target_name.clone(),
        ..TargetFacts::default()
    };
    let mut data = BTreeMap::new();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    diag.log(1, format_args!("GET secret {ns}/{}", out.name));
    let secret = match api.get_opt(&out.name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            out.exists = Some(false);
            return (out, data);
        }
        Err(e) => {
            out.error = Some(match status_code(&e) {
                Some(403) => format!("no permission to get secret {} in {ns}", out.name),
                _ => format!(
                    "could not get secret {}: {}",
                    out.name,
                    super::client::one_line(&e)
                ),
            });
            return (out, data);
        }
    };
    out.exists = Some(true);
    out.type_ = secret.type_.clone();
    ownership(&secret.metadata, &es.name, &mut out);
    out.last_changed =
        crate::analysis::consumers::last_changed(&secret.metadata).map(|t| t.to_string());
    for (k, v) in secret.data.unwrap_or_default() {
        out.keys.push(TargetKey {
            name: crate::sanitize::line(&k),
            size: v.0.len(),
            matches_provider: None,
        });
        data.insert(k, Sensitive::from_bytes(v.0));
    }
    (out, data)
}

/// Who owns a target (Secret or ConfigMap) ESO writes, whether it is this ExternalSecret (or an
/// unowned object ESO labelled as managed), and whether ESO's data-hash annotation is there — an
/// unkeyed hash of the values: said present or not, never what it is.
fn ownership(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    es_name: &str,
    out: &mut TargetFacts,
) {
    let owners = meta.owner_references.clone().unwrap_or_default();
    let owner = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first());
    out.owner = Some(match owner {
        Some(o) => format!("{}/{}", o.kind, o.name),
        None => "none".into(),
    });
    let managed = meta
        .labels
        .as_ref()
        .and_then(|l| l.get("reconcile.external-secrets.io/managed"))
        .is_some_and(|v| v == "true");
    out.owned_by_this = Some(
        owner.is_some_and(|o| o.kind == "ExternalSecret" && o.name == es_name)
            || owner.is_none() && managed,
    );
    out.data_hash_present = meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("reconcile.external-secrets.io/data-hash"));
}
