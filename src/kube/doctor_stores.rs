//! What doctor's check 2 reads beyond scope's snapshot: the key names of every credentials Secret
//! a store references (one GET each — stores are few, and only key names leave this module; the
//! values are dropped as the response is read), and, only when a ClusterSecretStore in use has
//! `spec.conditions`, the namespaces' labels (one metadata LIST).

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::ListParams;
use kube::{Api, Client};

use super::doctor_targets::{GET_CONCURRENCY, get_secret};
use super::list::{Listing, list_all_metadata};
use crate::diag::Diag;
use crate::model::doctor::StoreExtras;
use crate::model::eso::ProviderClassRef;
use crate::model::refs::StoreKind;
use crate::model::scope::{Degraded, Fetched, ScopeReport, ScopeSnapshot};

pub async fn fetch(
    client: &Client,
    snap: &ScopeSnapshot,
    scope: &ScopeReport,
    diag: &Diag,
) -> StoreExtras {
    let stores = || {
        let namespaced = snap.secret_stores.iter().flatten();
        namespaced.chain(snap.cluster_secret_stores.iter().flatten())
    };
    let wanted: BTreeSet<(String, String)> = stores()
        .flat_map(|s| s.secret_key_refs())
        .filter_map(|r| Some((r.namespace?, r.name)))
        .collect();
    let conditioned_in_use = snap
        .cluster_secret_stores
        .iter()
        .flatten()
        .filter(|s| !s.spec.conditions.is_empty())
        .filter_map(|s| s.metadata.name.as_deref())
        .any(|name| {
            scope.external_secrets.iter().any(|row| {
                row.store
                    .as_ref()
                    .is_some_and(|r| r.kind == StoreKind::ClusterSecretStore && r.name == name)
            })
        });
    let keys = futures::stream::iter(wanted)
        .map(|(ns, name)| async move {
            let keys = secret_keys(client, &ns, &name, diag).await;
            ((ns, name), keys)
        })
        .buffer_unordered(GET_CONCURRENCY)
        .collect::<BTreeMap<_, _>>();
    let labels = async {
        if conditioned_in_use {
            Some(namespace_labels(client, diag).await)
        } else {
            None
        }
    };
    let class_refs: BTreeSet<ProviderClassRef> = snap
        .secret_stores
        .iter()
        .flatten()
        .map(|s| ("SecretStore", s))
        .chain(
            snap.cluster_secret_stores
                .iter()
                .flatten()
                .map(|s| ("ClusterSecretStore", s)),
        )
        .filter_map(|(kind, s)| s.provider_class_ref(kind))
        .collect();
    // Discovery once for every class reference, not once per reference.
    let served = match class_refs.is_empty() {
        true => Err(crate::model::eso::ProviderClassLookup::NotServed),
        false => super::provider_class::discover(client).await,
    };
    let served = &served;
    let classes = futures::stream::iter(class_refs)
        .map(|r| async move {
            let found = super::provider_class::lookup_in(client, served, &r).await;
            (r, found)
        })
        .buffer_unordered(GET_CONCURRENCY)
        .collect::<BTreeMap<_, _>>();
    let mut accounts: BTreeSet<(String, String)> = stores()
        .flat_map(|s| s.service_account_refs())
        .filter_map(|r| Some((r.namespace?, r.name)))
        .collect();
    // A ClusterSecretStore's serviceAccountRef without a namespace is looked up in each using
    // ExternalSecret's namespace (referent authentication).
    for s in snap.cluster_secret_stores.iter().flatten() {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        let users: BTreeSet<&str> = scope
            .external_secrets
            .iter()
            .filter(|row| {
                row.store
                    .as_ref()
                    .is_some_and(|r| r.kind == StoreKind::ClusterSecretStore && r.name == name)
            })
            .map(|row| row.namespace.as_str())
            .collect();
        for r in s
            .service_account_refs()
            .into_iter()
            .filter(|r| r.namespace.is_none())
        {
            accounts.extend(users.iter().map(|ns| (ns.to_string(), r.name.clone())));
        }
    }
    let accounts = futures::stream::iter(accounts)
        .map(|(ns, name)| async move {
            let found = service_account_exists(client, &ns, &name, diag).await;
            ((ns, name), found)
        })
        .buffer_unordered(GET_CONCURRENCY)
        .collect::<BTreeMap<_, _>>();
    let (credential_keys, namespace_labels, provider_classes, service_accounts) =
        futures::join!(keys, labels, classes, accounts);
    StoreExtras {
        namespace_labels,
        credential_keys,
        provider_classes,
        service_accounts,
    }
}

/// Whether a ServiceAccount exists (its metadata only; a ServiceAccount holds no secret).
async fn service_account_exists(
    client: &Client,
    ns: &str,
    name: &str,
    diag: &Diag,
) -> Fetched<bool> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    diag.log(1, format_args!("GET serviceaccount {ns}/{name}"));
    api.get_metadata_opt(name)
        .await
        .map(|m| m.is_some())
        .map_err(|e| Degraded {
            resource: "serviceaccounts".into(),
            namespace: Some(ns.to_string()),
            cause: format!(
                "could not get serviceaccount {ns}/{name}: {}",
                super::client::one_line(&e)
            ),
        })
}

/// The key names of one Secret, `None` when it does not exist.
async fn secret_keys(
    client: &Client,
    ns: &str,
    name: &str,
    diag: &Diag,
) -> Fetched<Option<Vec<String>>> {
    let secret = get_secret(client, ns, name, "its keys were not checked", diag).await?;
    Ok(secret.map(|s| {
        // The values are only remembered by the output boundary, so Event text quoting them is
        // redacted (issue 18), and dropped here with the rest of the object.
        learn_values(&s);
        let mut keys: Vec<String> = s.data.unwrap_or_default().into_keys().collect();
        keys.extend(s.string_data.unwrap_or_default().into_keys());
        keys.sort();
        keys.dedup();
        keys.iter().map(|k| crate::sanitize::line(k)).collect()
    }))
}

fn learn_values(s: &Secret) {
    s.data
        .iter()
        .flatten()
        .for_each(|(_, v)| crate::redact::learn(&v.0));
    s.string_data
        .iter()
        .flatten()
        .for_each(|(_, v)| crate::redact::learn(v.as_bytes()));
}

/// For `scope`: reads every credentials Secret a store in the snapshot references, only so that
/// the output boundary can replace their values in Event text (an Entra error quotes the client
/// id; issue 18). Returns what could not be read, worded for the report.
pub async fn learn_credentials(
    client: &Client,
    snap: &ScopeSnapshot,
    diag: &Diag,
) -> Vec<Degraded> {
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    for s in snap.secret_stores.iter().flatten() {
        for r in s.secret_key_refs() {
            if let Some(ns) = r.namespace {
                wanted.insert((ns, r.name));
            }
        }
    }
    for s in snap.cluster_secret_stores.iter().flatten() {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        // A selector without a namespace is read in each using ExternalSecret's namespace.
        let users: BTreeSet<&str> = snap
            .external_secrets
            .iter()
            .filter(|es| {
                es.store_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("ClusterSecretStore") && r.name == name
                })
            })
            .map(|es| es.namespace())
            .collect();
        for r in s.secret_key_refs() {
            match r.namespace {
                Some(ns) => {
                    wanted.insert((ns, r.name));
                }
                None => wanted.extend(users.iter().map(|ns| (ns.to_string(), r.name.clone()))),
            }
        }
    }
    let consequence = "Event text is shown unredacted and may contain credentials";
    futures::stream::iter(wanted)
        .map(|(ns, name)| async move {
            match get_secret(client, &ns, &name, consequence, diag).await {
                Ok(Some(s)) => {
                    learn_values(&s);
                    None
                }
                Ok(None) => None,
                Err(d) => Some(d),
            }
        })
        .buffer_unordered(GET_CONCURRENCY)
        .filter_map(|d| async move { d })
        .collect()
        .await
}

async fn namespace_labels(
    client: &Client,
    diag: &Diag,
) -> Fetched<BTreeMap<String, BTreeMap<String, String>>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let what = Listing::new("namespaces", None);
    let items = list_all_metadata(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items
        .into_iter()
        .filter_map(|m| {
            let name = m.metadata.name?;
            Some((name, m.metadata.labels.unwrap_or_default()))
        })
        .collect())
}
