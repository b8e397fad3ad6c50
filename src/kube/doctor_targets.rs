//! What doctor's check 4 reads beyond scope's snapshot: the data of the Secrets ESO manages (one
//! paginated LIST by ESO's `reconcile.external-secrets.io/managed=true` label, only when the
//! providers are probed or `--regcred` asked, so targets can be compared with the provider's
//! current values, and pull secrets logged in with, in memory),
//! and the running pods that read a target Secret at start (one paginated LIST of pods, each page
//! reduced to a few facts as it arrives). Secret values never leave the returned map; the caller
//! hands it to the prober and drops it.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use super::chain::batch::{ManagedSecret, TargetData};
use super::list::{Listing, list_reduced};
use crate::analysis::consumers::{
    containers_started, controller_workload, read_at_start, secret_uses, secrets_used,
};
use crate::diag::Diag;
use crate::model::chain::Sensitive;
use crate::model::doctor::PodFacts;
use crate::model::scope::Fetched;

/// ESO's label on every Secret it writes.
pub const MANAGED_SELECTOR: &str = "reconcile.external-secrets.io/managed=true";

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The type and data of every ESO-managed Secret that is one of `targets` (namespace, name), held
/// as `Sensitive`; each page is reduced as it arrives, so whole Secret objects never pile up.
pub async fn managed_secret_data(
    client: &Client,
    namespace: Option<&str>,
    targets: &HashSet<(String, String)>,
    diag: &Diag,
) -> Fetched<TargetData> {
    let api: Api<Secret> = scoped(client, namespace);
    let what = Listing::new("secrets", namespace);
    let params = ListParams::default().labels(MANAGED_SELECTOR);
    let keep = |s: Secret| {
        let key = (s.metadata.namespace?, s.metadata.name?);
        if !targets.contains(&key) {
            return None;
        }
        let data: BTreeMap<String, Sensitive> = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Sensitive::from_bytes(v.0)))
            .collect();
        let type_ = s.type_;
        Some((key, ManagedSecret { type_, data }))
    };
    let secrets = list_reduced(&api, &params, &what, diag, keep)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(secrets.into_iter().collect())
}

/// Running pods in scope that read one of `targets` (namespace, Secret name) at start.
pub async fn pods_reading_at_start(
    client: &Client,
    namespace: Option<&str>,
    targets: &HashSet<(String, String)>,
    diag: &Diag,
) -> Fetched<Vec<PodFacts>> {
    let api: Api<Pod> = scoped(client, namespace);
    let what = Listing::new("pods", namespace);
    let params = ListParams::default().fields("status.phase=Running");
    list_reduced(&api, &params, &what, diag, |p| pod_facts(p, targets))
        .await
        .map_err(|e| what.degraded(&e))
}

/// A pod reduced to the target Secrets it read at start and when its containers started; `None`
/// when it reads none, or none of its containers runs yet.
pub fn pod_facts(pod: Pod, targets: &HashSet<(String, String)>) -> Option<PodFacts> {
    let namespace = pod.metadata.namespace.clone()?;
    let spec = pod.spec.as_ref()?;
    let reads: Vec<String> = secrets_used(spec)
        .into_keys()
        .filter(|name| targets.contains(&(namespace.clone(), name.clone())))
        .filter(|name| read_at_start(&secret_uses(spec, name)))
        .collect();
    if reads.is_empty() {
        return None;
    }
    Some(PodFacts {
        started: containers_started(pod.status.as_ref())?,
        workload: controller_workload(&pod.metadata),
        name: pod.metadata.name.clone()?,
        namespace,
        reads_at_start: reads,
    })
}
