//! What the tool reads about PushSecrets (issue 14): the PushSecrets in scope (`v1alpha1`, the
//! only version ESO serves them in), each one's source Secret (key names only: the values are
//! dropped as soon as the keys are taken), the stores its `secretStoreRefs` resolve to — by name,
//! or every store of the kind with the selector's labels, as ESO resolves them — its Events, and
//! each store's *write* permission asked without writing: for Vault, one login as ESO and one
//! `sys/capabilities-self` on the paths ESO would write. Key Vault and AWS cannot be asked without
//! writing, which the facts say. Credentials go only where `analysis::trust` vouches for the host.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::chain::{self, ProbeAuth, Sensitive, extract, resolve_auth, to_value};
use super::eso::EsoApi;
use super::list::{Listing, list_all};
use crate::analysis::trust::{self, Endpoint, TrustPolicy};
use crate::diag::Diag;
use crate::model::chain::StoreFacts;
use crate::model::eso::{Condition, ready_condition};
use crate::model::push::*;
use crate::model::refs::{StoreKind, StoreRef};
use crate::provider::vault::http::ProbeHttp;
use crate::provider::vault::{self, VaultLogin, VaultStore};

pub fn push_secrets_resource() -> ApiResource {
    ApiResource {
        group: super::eso::GROUP.to_string(),
        version: "v1alpha1".to_string(),
        api_version: PUSH_API_VERSION.to_string(),
        kind: "PushSecret".to_string(),
        plural: "pushsecrets".to_string(),
    }
}

/// How the write probe may reach providers.
pub struct PushProbe {
    pub enabled: bool,
    pub ca_pems: Vec<String>,
    pub timeout: Duration,
    pub trust: TrustPolicy,
}

/// The PushSecrets of a namespace (or all), as read; an error when they could not be listed
/// (404: the CRD is not installed — no PushSecrets, not an error).
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
    diag: &Diag,
) -> Result<Vec<PushSecret>, String> {
    let ar = push_secrets_resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let what = Listing::new("pushsecrets", namespace);
    match list_all(&api, &ListParams::default(), &what, diag).await {
        Ok(items) => Ok(items
            .iter()
            .filter_map(|o| serde_json::from_value(to_value(o)).ok())
            .collect()),
        Err(e) if super::list::status_code(&e) == Some(404) => Ok(Vec::new()),
        Err(e) => Err(what.degraded(&e).cause),
    }
}

pub fn cluster_push_secrets_resource() -> ApiResource {
    ApiResource {
        kind: "ClusterPushSecret".to_string(),
        plural: "clusterpushsecrets".to_string(),
        ..push_secrets_resource()
    }
}

/// The ClusterPushSecrets (cluster-scoped), limited to those that provisioned or failed in
/// `namespace` when one is given. Not readable (RBAC for a namespaced user, no CRD) is an empty
/// list, logged at -v: the PushSecrets they create are still read and judged.
pub async fn list_cluster(
    client: &Client,
    namespace: Option<&str>,
    diag: &Diag,
) -> Vec<ClusterPushFacts> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &cluster_push_secrets_resource());
    let what = Listing::new("clusterpushsecrets", None);
    match list_all(&api, &ListParams::default(), &what, diag).await {
        Ok(items) => items
            .iter()
            .filter_map(|o| serde_json::from_value::<ClusterPushSecret>(to_value(o)).ok())
            .filter(|c| namespace.is_none_or(|ns| c.touches(ns)))
            .map(|c| c.facts())
            .collect(),
        Err(e) => {
            diag.log(
                1,
                format_args!("clusterpushsecrets not read: {}", what.degraded(&e).cause),
            );
            Vec::new()
        }
    }
}

/// One PushSecret by name; `Ok(None)` when it does not exist.
pub async fn get(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<PushSecret>, String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &push_secrets_resource());
    match api.get_opt(name).await {
        Ok(o) => Ok(o.and_then(|o| serde_json::from_value(to_value(&o)).ok())),
        Err(e) => Err(format!(
            "could not get pushsecret {name}: {}",
            super::client::one_line(&e)
        )),
    }
}

/// Gathers the facts of each PushSecret, one after another (there are few).
pub async fn gather(
    client: &Client,
    eso: &EsoApi,
    all: &[PushSecret],
    probe: &PushProbe,
    diag: &Diag,
) -> (Vec<PushFacts>, Vec<Sensitive>) {
    let vouched = cluster_store_endpoints(client, eso, diag).await;
    let mut out = Vec::new();
    let mut read = Vec::new();
    for ps in all {
        let (facts, r) = one(client, eso, ps, probe, &vouched, diag).await;
        out.push(facts);
        read.extend(r);
    }
    (out, read)
}

async fn cluster_store_endpoints(client: &Client, eso: &EsoApi, diag: &Diag) -> BTreeSet<Endpoint> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &eso.cluster_secret_stores());
    let what = Listing::new("clustersecretstores", None);
    let stores: Vec<Value> = list_all(&api, &ListParams::default(), &what, diag)
        .await
        .unwrap_or_default()
        .iter()
        .map(to_value)
        .collect();
    trust::cluster_store_endpoints(stores.iter())
}

async fn one(
    client: &Client,
    eso: &EsoApi,
    ps: &PushSecret,
    probe: &PushProbe,
    vouched: &BTreeSet<Endpoint>,
    diag: &Diag,
) -> (PushFacts, Vec<Sensitive>) {
    let ns = ps.namespace().to_string();
    let mut facts = PushFacts {
        namespace: ns.clone(),
        name: ps.name().to_string(),
        ready: ready_condition(&ps.status.conditions).cloned(),
        refresh_time: ps.status.refresh_time.clone(),
        deletion_policy: ps
            .spec
            .deletion_policy
            .clone()
            .unwrap_or_else(|| "None".into()),
        update_policy: ps
            .spec
            .update_policy
            .clone()
            .unwrap_or_else(|| "Replace".into()),
        owner_cluster_push_secret: ps.owner_cluster_push_secret().map(str::to_string),
        data: ps
            .spec
            .data
            .iter()
            .map(|d| PushEntry {
                secret_key: d.match_.secret_key.clone(),
                remote_key: d.match_.remote_ref.remote_key.clone(),
                property: d.match_.remote_ref.property.clone(),
            })
            .collect(),
        ..PushFacts::default()
    };
    facts.source = source(client, ps, diag).await;
    if let Ok(ev) = chain::object_events(client, &ns, "PushSecret", ps.name(), diag).await {
        facts.events = ev;
    }
    let mut read = Vec::new();
    for (store, value, chosen_by) in stores(client, eso, ps, diag).await {
        let mut s = PushStoreFacts {
            store: store.clone(),
            chosen_by,
            found: Some(value.is_some()),
            ready: None,
            provider: None,
            write: WriteCheck::default(),
        };
        if let Some(v) = &value {
            s.ready = serde_json::from_value::<Vec<Condition>>(
                v.pointer("/status/conditions")
                    .cloned()
                    .unwrap_or(Value::Null),
            )
            .ok()
            .and_then(|c| ready_condition(&c).cloned());
            let (provider, _) = extract::provider_settings(v);
            s.provider = provider;
            let (write, r) = write_check(client, &store, v, &facts, probe, vouched, diag).await;
            s.write = write;
            read.extend(r);
        }
        facts.stores.push(s);
    }
    (facts, read)
}

async fn source(client: &Client, ps: &PushSecret, diag: &Diag) -> PushSource {
    let mut out = PushSource {
        secret: ps.source_secret().map(str::to_string),
        generator: ps.spec.selector.generator_ref.as_ref().map(|g| {
            format!(
                "{}/{}",
                g.get("kind").and_then(Value::as_str).unwrap_or("?"),
                g.get("name").and_then(Value::as_str).unwrap_or("?")
            )
        }),
        ..PushSource::default()
    };
    let Some(name) = out.secret.clone() else {
        return out;
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), ps.namespace());
    diag.log(1, format_args!("GET secret {name}"));
    match api.get_opt(&name).await {
        Ok(Some(secret)) => {
            out.found = Some(true);
            // Key names only; the Secret (and its values) is dropped here.
            let mut keys: Vec<String> = secret
                .data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            keys.extend(secret.string_data.iter().flatten().map(|(k, _)| k.clone()));
            keys.sort();
            keys.dedup();
            out.keys = keys;
        }
        Ok(None) => out.found = Some(false),
        Err(e) => {
            out.error = Some(format!(
                "could not get secret {name}: {}",
                super::client::one_line(&e)
            ))
        }
    }
    out
}

/// The stores ESO would push to: named ones (found or not), and every store of the kind whose
/// labels match a `labelSelector`'s `matchLabels`.
async fn stores(
    client: &Client,
    eso: &EsoApi,
    ps: &PushSecret,
    diag: &Diag,
) -> Vec<(StoreRef, Option<Value>, String)> {
    let ns = ps.namespace();
    let mut out = Vec::new();
    for r in &ps.spec.secret_store_refs {
        let cluster = r.kind.as_deref() == Some("ClusterSecretStore");
        let kind = if cluster {
            StoreKind::ClusterSecretStore
        } else {
            StoreKind::SecretStore
        };
        if let Some(sel) = &r.label_selector {
            let res = if cluster {
                eso.cluster_secret_stores()
            } else {
                eso.secret_stores()
            };
            let api: Api<DynamicObject> = if cluster {
                Api::all_with(client.clone(), &res)
            } else {
                Api::namespaced_with(client.clone(), ns, &res)
            };
            let labels: Vec<String> = sel
                .match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let params = ListParams::default().labels(&labels.join(","));
            let what = Listing::new(
                if cluster {
                    "clustersecretstores"
                } else {
                    "secretstores"
                },
                (!cluster).then_some(ns),
            );
            for o in list_all(&api, &params, &what, diag)
                .await
                .unwrap_or_default()
            {
                let v = to_value(&o);
                let name = o.metadata.name.clone().unwrap_or_default();
                out.push((
                    StoreRef {
                        kind,
                        namespace: (!cluster).then(|| ns.to_string()),
                        name,
                    },
                    Some(v),
                    format!("labels {}", labels.join(",")),
                ));
            }
            continue;
        }
        let Some(name) = r.name.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let store = StoreRef {
            kind,
            namespace: (!cluster).then(|| ns.to_string()),
            name: name.clone(),
        };
        let got = chain::get_store(client, eso, cluster, ns, &name, diag)
            .await
            .ok()
            .flatten();
        out.push((store, got, "name".into()));
    }
    out
}

/// The paths ESO's Vault provider writes for each entry, and what it needs on each.
pub fn vault_write_paths(
    vs: &VaultStore,
    data: &[PushEntry],
    delete: bool,
) -> Vec<(String, String, String, Vec<&'static str>)> {
    let mut out = Vec::new();
    for d in data {
        out.push((
            d.remote_key.clone(),
            vs.data_path(&d.remote_key),
            "create or update".to_string(),
            vec!["create", "update"],
        ));
        if let Some(m) = vs.metadata_path(&d.remote_key) {
            out.push((
                d.remote_key.clone(),
                m.clone(),
                "create or update (ESO's managed-by custom metadata)".to_string(),
                vec!["create", "update"],
            ));
            if delete {
                out.push((
                    d.remote_key.clone(),
                    m,
                    "delete (deletionPolicy Delete)".to_string(),
                    vec!["delete"],
                ));
            }
        } else if delete {
            out.push((
                d.remote_key.clone(),
                vs.data_path(&d.remote_key),
                "delete (deletionPolicy Delete)".to_string(),
                vec!["delete"],
            ));
        }
    }
    out
}

async fn write_check(
    client: &Client,
    store: &StoreRef,
    value: &Value,
    facts: &PushFacts,
    probe: &PushProbe,
    vouched: &BTreeSet<Endpoint>,
    diag: &Diag,
) -> (WriteCheck, Vec<Sensitive>) {
    let not = |why: String| WriteCheck {
        not_checked: Some(why),
        ..WriteCheck::default()
    };
    if !probe.enabled {
        return (not("--no-probe".into()), Vec::new());
    }
    if let Some(r) = extract::out_of_process_provider(value) {
        return (
            not(format!(
                "out-of-process provider (spec.providerRef {r}), not probed"
            )),
            Vec::new(),
        );
    }
    if value.pointer("/spec/provider/azurekv").is_some() {
        return (
            not(
                "Azure Key Vault cannot be asked whether a secret may be set without setting it \
                 (access policy Set, or the Key Vault Secrets Officer role); read the PushSecret's \
                 Events"
                    .into(),
            ),
            Vec::new(),
        );
    }
    if value.pointer("/spec/provider/aws").is_some() {
        return (
            not(
                "AWS cannot be asked whether ESO may write without writing, short of \
                 iam:SimulatePrincipalPolicy with IAM read rights; read the PushSecret's Events"
                    .into(),
            ),
            Vec::new(),
        );
    }
    let Some(v) = value.pointer("/spec/provider/vault") else {
        return (
            not("this provider is not probed by kubectl-eso".into()),
            Vec::new(),
        );
    };
    if let Err(why) = trust::vouch(
        store.kind == StoreKind::ClusterSecretStore,
        &trust::store_endpoints(value),
        vouched,
        &probe.trust,
    ) {
        return (not(why), Vec::new());
    }
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let vs = VaultStore {
        server: s("/server").unwrap_or_default(),
        namespace: s("/namespace"),
        mount: s("/path").unwrap_or_else(|| "secret".into()),
        kv_version: s("/version").unwrap_or_else(|| "v2".into()),
    };
    let store_facts = StoreFacts {
        kind: store.kind.as_str().into(),
        name: store.name.clone(),
        namespace: store.namespace.clone(),
        found: Some(true),
        provider: Some("vault".into()),
        ..StoreFacts::default()
    };
    let resolved = resolve_auth(client, value, &store_facts, &facts.namespace, true, diag).await;
    let read = resolved.read;
    let mut cas = probe.ca_pems.clone();
    cas.extend(resolved.ca_pem);
    let owned;
    let (login, identity) = match &resolved.auth {
        Some(ProbeAuth::VaultToken(t)) => {
            owned = (t.text(), String::new());
            (
                VaultLogin::Token(&owned.0),
                "the token from the store's tokenSecretRef".to_string(),
            )
        }
        Some(ProbeAuth::VaultKubernetes {
            mount,
            role,
            jwt,
            service_account,
            ..
        }) => {
            owned = (jwt.text(), String::new());
            (
                VaultLogin::Kubernetes {
                    mount,
                    role,
                    jwt: &owned.0,
                },
                format!(
                    "kubernetes auth role {role} (auth/{mount}) with ServiceAccount {service_account}"
                ),
            )
        }
        Some(ProbeAuth::VaultAppRole {
            mount,
            role_id,
            secret_id,
        }) => {
            owned = (role_id.text(), secret_id.text());
            (
                VaultLogin::AppRole {
                    mount,
                    role_id: &owned.0,
                    secret_id: &owned.1,
                },
                format!("AppRole (auth/{mount})"),
            )
        }
        Some(ProbeAuth::Unavailable(why)) => return (not(why.clone()), read),
        _ => return (not("no usable Vault credentials".into()), read),
    };
    let http = match ProbeHttp::new(&cas, probe.timeout, *diag) {
        Ok(h) => h,
        Err(e) => {
            return (
                not(format!("the provider HTTP client could not be built: {e}")),
                read,
            );
        }
    };
    let wanted = vault_write_paths(&vs, &facts.data, facts.deletion_policy == "Delete");
    let mut paths: Vec<String> = wanted.iter().map(|w| w.1.clone()).collect();
    paths.sort();
    paths.dedup();
    let outcome = match tokio::time::timeout(
        probe.timeout,
        vault::write_capabilities(&http, &vs, &login, &paths),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => {
            return (
                not(format!("Vault did not answer within {:?}", probe.timeout)),
                read,
            );
        }
    };
    let mut check = WriteCheck {
        checked: true,
        identity: Some(identity),
        login_error: outcome.login_error,
        policies: outcome.policies,
        ..WriteCheck::default()
    };
    match outcome.capabilities {
        Ok(caps) => {
            check.paths = wanted
                .into_iter()
                .map(|(remote_key, path, needs, any_of)| {
                    let granted = caps.get(&path).cloned().unwrap_or_default();
                    let allowed = granted
                        .iter()
                        .any(|c| c == "root" || any_of.contains(&c.as_str()));
                    WritePath {
                        remote_key,
                        path,
                        needs,
                        capabilities: granted,
                        allowed,
                    }
                })
                .collect();
        }
        Err(e) if check.login_error.is_none() => {
            check.checked = false;
            check.not_checked = Some(format!("sys/capabilities-self failed: {e}"));
        }
        Err(_) => {}
    }
    (check, read)
}
