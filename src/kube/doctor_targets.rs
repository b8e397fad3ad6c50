//! What doctor's check 4 reads beyond scope's snapshot: the data of the target Secrets ESO writes
//! (one paginated LIST by ESO's `reconcile.external-secrets.io/managed=true` label, then one GET per
//! target the LIST did not return — a Secret ESO merged into, or one written by a release that did
//! not label its Secrets; only when the providers are probed or `--regcred` asked, so targets can
//! be compared with the provider's current values, and pull secrets logged in with, in memory), and the running pods that read a target Secret at start
//! (one paginated LIST of pods, each page reduced to a few facts as it arrives). Secret values
//! never leave the returned map; the caller hands it to the prober and drops it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use super::chain::batch::{ManagedSecret, TargetData};
use super::list::{Listing, list_reduced, status_code};
use crate::analysis::consumers::{
    containers_started, controller_workload, read_at_start, secret_uses, secrets_used,
};
use crate::diag::Diag;
use crate::model::chain::Sensitive;
use crate::model::doctor::PodFacts;
use crate::model::scope::{Degraded, Fetched};

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

/// How many single Secrets are read at once.
pub const GET_CONCURRENCY: usize = 8;

/// The type and data of every target Secret in `targets` (namespace, name), held as `Sensitive`:
/// the labelled ones from one LIST, each page reduced as it arrives so whole Secret objects never
/// pile up, the rest by name (no other Secret's data is read). `Err` when the LIST failed; the GETs
/// that failed come back as degraded parts next to what was read.
pub async fn managed_secret_data(
    client: &Client,
    namespace: Option<&str>,
    targets: &HashSet<(String, String)>,
    diag: &Diag,
) -> Fetched<(TargetData, Vec<Degraded>)> {
    let api: Api<Secret> = scoped(client, namespace);
    let what = Listing::new("secrets", namespace);
    let params = ListParams::default().labels(MANAGED_SELECTOR);
    let keep = |s: Secret| {
        let key = (s.metadata.namespace.clone()?, s.metadata.name.clone()?);
        targets.contains(&key).then(|| (key, managed(s)))
    };
    let mut data: TargetData = list_reduced(&api, &params, &what, diag, keep)
        .await
        .map_err(|e| what.degraded(&e))?
        .into_iter()
        .collect();
    let unlabelled = targets.iter().filter(|k| !data.contains_key(*k));
    let got: Vec<_> = futures::stream::iter(unlabelled)
        .map(|(ns, name)| async move {
            let read = get_secret(client, ns, name, "its values were not compared", diag).await;
            ((ns.clone(), name.clone()), read)
        })
        .buffer_unordered(GET_CONCURRENCY)
        .collect()
        .await;
    let mut unread = Vec::new();
    for (key, read) in got {
        match read {
            Ok(Some(s)) => {
                data.insert(key, managed(s));
            }
            Ok(None) => {}
            Err(why) => unread.push(why),
        }
    }
    Ok((data, unread))
}

/// A Secret reduced to its type and data; the rest of the object is dropped.
fn managed(s: Secret) -> ManagedSecret {
    let data: BTreeMap<String, Sensitive> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Sensitive::from_bytes(v.0)))
        .collect();
    ManagedSecret {
        type_: s.type_,
        data,
    }
}

/// One Secret by name, `None` when it does not exist; a refusal becomes a degraded part saying
/// what was therefore not checked (`unchecked`).
pub async fn get_secret(
    client: &Client,
    ns: &str,
    name: &str,
    unchecked: &str,
    diag: &Diag,
) -> Result<Option<Secret>, Degraded> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    diag.log(1, format_args!("GET secret {ns}/{name}"));
    api.get_opt(name).await.map_err(|e| Degraded {
        resource: "secrets".into(),
        namespace: Some(ns.to_string()),
        cause: match status_code(&e) {
            Some(403) => format!("no permission to get secret {ns}/{name}: {unchecked}"),
            _ => format!(
                "could not get secret {ns}/{name}: {}",
                super::client::one_line(&e)
            ),
        },
    })
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
    let mut pods = list_reduced(&api, &params, &what, diag, |p| pod_facts(p, targets))
        .await
        .map_err(|e| what.degraded(&e))?;
    reloader_annotations(client, &mut pods, diag).await;
    Ok(pods)
}

/// The Reloader annotations of each distinct workload the pods belong to: one metadata GET per
/// workload (a workload that cannot be read counts as not managed by Reloader).
async fn reloader_annotations(client: &Client, pods: &mut [PodFacts], diag: &Diag) {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let wanted: BTreeSet<(String, String)> = pods
        .iter()
        .filter_map(|p| Some((p.namespace.clone(), p.workload.clone()?)))
        .collect();
    let found: BTreeMap<(String, String), BTreeMap<String, String>> = futures::stream::iter(wanted)
        .map(|(ns, workload)| async move {
            let (kind, name) = workload.split_once('/')?;
            diag.log(1, format_args!("GET {kind} {ns}/{name} (metadata)"));
            let meta = match kind {
                "deployment" => {
                    Api::<Deployment>::namespaced(client.clone(), &ns)
                        .get_metadata_opt(name)
                        .await
                        .ok()??
                        .metadata
                }
                "statefulset" => {
                    Api::<StatefulSet>::namespaced(client.clone(), &ns)
                        .get_metadata_opt(name)
                        .await
                        .ok()??
                        .metadata
                }
                "daemonset" => {
                    Api::<DaemonSet>::namespaced(client.clone(), &ns)
                        .get_metadata_opt(name)
                        .await
                        .ok()??
                        .metadata
                }
                _ => return None,
            };
            let annotations: BTreeMap<String, String> = meta
                .annotations
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k.contains("reloader.stakater.com/"))
                .collect();
            Some(((ns, workload), annotations))
        })
        .buffer_unordered(8)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    for p in pods.iter_mut() {
        if let Some(w) = &p.workload
            && let Some(a) = found.get(&(p.namespace.clone(), w.clone()))
        {
            p.reloader = a.clone();
        }
    }
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
        reloader: BTreeMap::new(),
        started: containers_started(pod.status.as_ref())?,
        workload: controller_workload(&pod.metadata),
        name: pod.metadata.name.clone()?,
        namespace,
        reads_at_start: reads,
    })
}
