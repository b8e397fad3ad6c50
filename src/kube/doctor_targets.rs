//! What doctor's check 4 reads beyond scope's snapshot: the data of the target Secrets ESO writes
//! (one paginated LIST by ESO's `reconcile.external-secrets.io/managed=true` label, then one GET per
//! target the LIST did not return — a Secret ESO merged into, or one written by a release that did
//! not label its Secrets; only when the providers are probed or `--regcred` asked, so targets can
//! be compared with the provider's current values, and pull secrets logged in with, in memory), and the running pods that read a target Secret at start
//! (one paginated LIST of pods, each page reduced to a few facts as it arrives), plus the pods of
//! any phase that use a target as pull secret or through a `secretKeyRef` (same LIST). Secret
//! values never leave the returned map; the caller hands it to the prober, takes the key names
//! and pull-secret hosts out with `secret_facts`, and drops it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use super::chain::batch::{ManagedSecret, TargetData};
use super::list::{Listing, list_reduced, status_code};
use crate::analysis::consumers::{
    containers_started, controlling_workload, read_at_start, secret_uses, secrets_used,
};
use crate::diag::Diag;
use crate::model::chain::Sensitive;
use crate::model::doctor::{ContainerRefs, PodFacts, PodRefs, TargetSecretFacts};
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

/// The Secrets a pod reduction keeps: the targets, or — for a LIST started before the targets are
/// known — every Secret, the pods then restricted to the targets with [`restrict_pods`].
#[derive(Clone, Copy)]
pub enum Targets<'a> {
    Known(&'a HashSet<(String, String)>),
    Any,
}

impl Targets<'_> {
    fn has(&self, namespace: &str, name: &str) -> bool {
        match self {
            Targets::Known(t) => t.contains(&(namespace.to_string(), name.to_string())),
            Targets::Any => true,
        }
    }
}

/// From one LIST of the pods in scope (every phase, each page reduced as it arrives): the running
/// pods that read one of `targets` (namespace, Secret name) at start, and — when `with_refs`, i.e.
/// when the targets' key names were read, without which the pull-secret and key rules that read
/// them find nothing (issue 16: one entry per pod of the cluster otherwise) — the pods, running or
/// not, that name a target in `imagePullSecrets` or a `secretKeyRef` (issue 12: a pod stuck in
/// ImagePullBackOff is Pending).
pub async fn pods_reading_at_start(
    client: &Client,
    namespace: Option<&str>,
    targets: &HashSet<(String, String)>,
    with_refs: bool,
    diag: &Diag,
) -> Fetched<(Vec<PodFacts>, Vec<PodRefs>)> {
    let (mut pods, refs) =
        list_pods(client, namespace, Targets::Known(targets), with_refs, diag).await?;
    reloader_annotations(client, &mut pods, diag).await;
    Ok((pods, refs))
}

/// The pods LIST of [`pods_reading_at_start`], each pod reduced to what concerns `targets`,
/// without the workloads' annotations.
pub async fn list_pods(
    client: &Client,
    namespace: Option<&str>,
    targets: Targets<'_>,
    with_refs: bool,
    diag: &Diag,
) -> Fetched<(Vec<PodFacts>, Vec<PodRefs>)> {
    let api: Api<Pod> = scoped(client, namespace);
    let what = Listing::new("pods", namespace);
    let params = ListParams::default();
    // Each page's pods go straight into the two lists (issue 16: no pairs to unzip afterwards).
    let (mut pods, mut refs): (Vec<PodFacts>, Vec<PodRefs>) = (Vec::new(), Vec::new());
    let reduce = |p: WirePod| {
        let p = p.view();
        if let Some(r) = with_refs.then(|| pod_refs(p, targets)).flatten() {
            refs.push(r);
        }
        let running = p.status.and_then(|s| s.phase.as_deref()) == Some("Running");
        if let Some(f) = running.then(|| pod_facts(p, targets)).flatten() {
            pods.push(f);
        }
        None::<()>
    };
    list_reduced(&api, &params, &what, diag, reduce)
        .await
        .map_err(|e| what.degraded(&e))?;
    pods.shrink_to_fit();
    refs.shrink_to_fit();
    Ok((pods, refs))
}

/// A pod of a LIST decoded with only the metadata [`pod_facts`] and [`pod_refs`] read — name,
/// namespace, owners (issue 16: a pod's managedFields, labels and annotations, often most of its
/// metadata, are skipped unread; one pod per pod of the cluster) — and its whole spec and status,
/// each boxed where it is decoded and only borrowed afterwards ([`PodView`]): a `Pod` is 2.4 KB,
/// and moving each one through the decoding and into the reduction was a third of the pods'
/// decoding time.
#[derive(Debug, serde::Deserialize)]
pub struct WirePod {
    #[serde(default)]
    metadata: WirePodMeta,
    spec: Option<Box<k8s_openapi::api::core::v1::PodSpec>>,
    status: Option<Box<k8s_openapi::api::core::v1::PodStatus>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePodMeta {
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
}

/// What [`pod_facts`] and [`pod_refs`] read of a pod, borrowed.
#[derive(Clone, Copy)]
pub struct PodView<'a> {
    name: Option<&'a str>,
    namespace: Option<&'a str>,
    owners: Option<&'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]>,
    spec: Option<&'a k8s_openapi::api::core::v1::PodSpec>,
    status: Option<&'a k8s_openapi::api::core::v1::PodStatus>,
}

impl<'a> From<&'a Pod> for PodView<'a> {
    fn from(p: &'a Pod) -> Self {
        PodView {
            name: p.metadata.name.as_deref(),
            namespace: p.metadata.namespace.as_deref(),
            owners: p.metadata.owner_references.as_deref(),
            spec: p.spec.as_ref(),
            status: p.status.as_ref(),
        }
    }
}

impl WirePod {
    fn view(&self) -> PodView<'_> {
        PodView {
            name: self.metadata.name.as_deref(),
            namespace: self.metadata.namespace.as_deref(),
            owners: self.metadata.owner_references.as_deref(),
            spec: self.spec.as_deref(),
            status: self.status.as_deref(),
        }
    }
}

/// Doctor's pods, listed with [`Targets::Any`] beside the scope snapshot (issue 16: the LIST no
/// longer waits for the ExternalSecrets and Secrets that name the targets), restricted to
/// `targets` — what [`pods_reading_at_start`] gives for them — and given their workloads'
/// annotations. `None` when there is no target, as when the pods are not read.
pub async fn restrict_pods(
    client: &Client,
    listed: Fetched<(Vec<PodFacts>, Vec<PodRefs>)>,
    targets: &HashSet<(String, String)>,
    diag: &Diag,
) -> Option<Fetched<(Vec<PodFacts>, Vec<PodRefs>)>> {
    if targets.is_empty() {
        return None;
    }
    let Ok((pods, refs)) = listed else {
        return Some(listed);
    };
    let mut pods: Vec<PodFacts> = pods
        .into_iter()
        .filter_map(|p| restrict_facts(p, targets))
        .collect();
    let refs: Vec<PodRefs> = refs
        .into_iter()
        .filter_map(|r| restrict_refs(r, targets))
        .collect();
    reloader_annotations(client, &mut pods, diag).await;
    Some(Ok((exact(pods), exact(refs))))
}

/// [`pod_facts`]'s filter applied afterwards: the Secrets read at start that are targets.
fn restrict_facts(mut p: PodFacts, targets: &HashSet<(String, String)>) -> Option<PodFacts> {
    let targets = Targets::Known(targets);
    p.reads_at_start
        .retain(|name| targets.has(&p.namespace, name));
    (!p.reads_at_start.is_empty()).then_some(p)
}

/// [`pod_refs`]'s filter applied afterwards: the key references to targets, and the pod only
/// when it names a target.
fn restrict_refs(mut r: PodRefs, targets: &HashSet<(String, String)>) -> Option<PodRefs> {
    let targets = Targets::Known(targets);
    for c in &mut r.containers {
        c.key_refs
            .retain(|(name, _)| targets.has(&r.namespace, name));
        c.key_refs.shrink_to_fit();
    }
    let names_target = r.pull_secrets.iter().any(|n| targets.has(&r.namespace, n))
        || r.containers.iter().any(|c| !c.key_refs.is_empty());
    names_target.then_some(r)
}

/// A list cut to its length: collected through filters, lists start at a capacity of four and
/// most pods name one key (issue 16: one pod's facts per pod of the cluster).
fn exact<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

/// A pod reduced to its pull secrets, images and secret key references, when it names one of
/// `targets` in `imagePullSecrets` or in a non-optional `secretKeyRef`.
pub fn pod_refs(pod: PodView<'_>, targets: Targets<'_>) -> Option<PodRefs> {
    let namespace = pod.namespace?.to_string();
    let spec = pod.spec?;
    let is_target = |name: &str| targets.has(&namespace, name);
    let pull_secrets: Vec<String> = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let statuses: Vec<_> = pod
        .status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect();
    let containers: Vec<ContainerRefs> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| ContainerRefs {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            waiting: statuses
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone()),
            key_refs: exact(
                c.env
                    .iter()
                    .flatten()
                    .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
                    .filter(|r| r.optional != Some(true) && is_target(&r.name))
                    .map(|r| (r.name.clone(), r.key.clone()))
                    .collect(),
            ),
        })
        .collect();
    let containers = exact(containers);
    let names_target = pull_secrets.iter().any(|n| is_target(n))
        || containers.iter().any(|c| !c.key_refs.is_empty());
    if !names_target {
        return None;
    }
    Some(PodRefs {
        workload: controlling_workload(pod.owners.unwrap_or_default()),
        name: pod.name?.to_string(),
        namespace,
        pull_secrets,
        containers,
    })
}

/// What the pull-secret and consumer-key rules may know of each target Secret read: key names,
/// and for a pull secret its `auths` keys as the kubelet indexes them. No value leaves here.
pub fn secret_facts(data: &TargetData) -> BTreeMap<(String, String), TargetSecretFacts> {
    use crate::provider::registry::{PayloadFormat, matching};
    data.iter()
        .map(|(key, secret)| {
            let format = secret
                .type_
                .as_deref()
                .and_then(PayloadFormat::from_secret_type);
            let auths_keys = format.and_then(|format| {
                let payload = secret.data.get(format.data_key())?;
                let config = crate::provider::registry::parse(format, payload.bytes()).ok()?;
                let mut keys: Vec<String> = config
                    .entries
                    .iter()
                    .filter_map(|e| matching::keyring_key(&e.key))
                    .collect();
                keys.sort();
                keys.dedup();
                Some(keys)
            });
            let facts = TargetSecretFacts {
                type_: secret.type_.clone(),
                keys: secret.data.keys().cloned().collect(),
                auths_keys,
            };
            (key.clone(), facts)
        })
        .collect()
}

/// The Reloader annotations and the labels of each distinct workload the pods belong to: one
/// metadata GET per workload (a workload that cannot be read counts as not managed by Reloader).
async fn reloader_annotations(client: &Client, pods: &mut [PodFacts], diag: &Diag) {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let wanted: BTreeSet<(String, String)> = pods
        .iter()
        .filter_map(|p| Some((p.namespace.clone(), p.workload.clone()?)))
        .collect();
    type Meta = (BTreeMap<String, String>, BTreeMap<String, String>);
    let found: BTreeMap<(String, String), Meta> = futures::stream::iter(wanted)
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
            let labels = meta.labels.unwrap_or_default();
            Some(((ns, workload), (annotations, labels)))
        })
        .buffer_unordered(8)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    for p in pods.iter_mut() {
        if let Some(w) = &p.workload
            && let Some(a) = found.get(&(p.namespace.clone(), w.clone()))
        {
            p.reloader = a.0.clone();
            p.workload_labels = a.1.clone();
        }
    }
}

/// A pod reduced to the target Secrets it read at start and when its containers started; `None`
/// when it reads none, or none of its containers runs yet.
pub fn pod_facts(pod: PodView<'_>, targets: Targets<'_>) -> Option<PodFacts> {
    let namespace = pod.namespace?.to_string();
    let spec = pod.spec?;
    let reads: Vec<String> = secrets_used(spec)
        .into_keys()
        .filter(|name| targets.has(&namespace, name))
        .filter(|name| read_at_start(&secret_uses(spec, name)))
        .collect();
    if reads.is_empty() {
        return None;
    }
    Some(PodFacts {
        reloader: BTreeMap::new(),
        workload_labels: BTreeMap::new(),
        started: containers_started(pod.status)?,
        workload: controlling_workload(pod.owners.unwrap_or_default()),
        name: pod.name?.to_string(),
        namespace,
        reads_at_start: reads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_secret_facts_keep_hosts_and_key_names_never_credentials() {
        let payload = br#"{"auths":{"https://keyuser:keypass@registry.internal/v2/":{"username":"robot-canary","password":"pw-canary"},"ghcr.io":{"auth":"cm9ib3Q6cHctY2FuYXJ5"}}}"#;
        let mut data = TargetData::default();
        data.insert(
            ("prod".into(), "regcred".into()),
            ManagedSecret {
                type_: Some("kubernetes.io/dockerconfigjson".into()),
                data: [(
                    ".dockerconfigjson".to_string(),
                    Sensitive::from_bytes(payload.to_vec()),
                )]
                .into(),
            },
        );
        let facts = secret_facts(&data);
        let f = &facts[&("prod".to_string(), "regcred".to_string())];
        assert_eq!(
            f.auths_keys,
            Some(vec!["ghcr.io".to_string(), "registry.internal".to_string()])
        );
        assert_eq!(f.keys, vec![".dockerconfigjson".to_string()]);
        let shown = format!("{facts:?}");
        for secret in ["keyuser", "keypass", "robot", "pw-canary", "cm9ib3Q6"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    /// A pod decoded with its metadata cut gives the facts and references the whole pod gives.
    #[test]
    fn issue16_pods_decoded_lean_give_what_whole_pods_give() {
        let text = serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "prod", "uid": "u", "resourceVersion": "9",
                "generateName": "web-5d8d7c64b-", "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-5d8d7c64b", "uid": "r", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                    "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {"f:containers": {}}}}]},
            "spec": {"imagePullSecrets": [{"name": "regcred"}], "containers": [{"name": "app",
                "image": "registry.internal/app:1",
                "envFrom": [{"secretRef": {"name": "db"}}],
                "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                "restartCount": 0, "image": "", "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}}]}
        })
        .to_string();
        let whole: Pod = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let lean: WirePod = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let (lean, whole) = (lean.view(), PodView::from(&whole));
        let targets: HashSet<(String, String)> = [
            ("prod".to_string(), "db".to_string()),
            ("prod".to_string(), "regcred".to_string()),
        ]
        .into();
        let t = Targets::Known(&targets);
        let refs = pod_refs(lean, t);
        assert!(
            refs.as_ref()
                .is_some_and(|r| r.workload.as_deref() == Some("deployment/web"))
        );
        assert_eq!(refs, pod_refs(whole, t));
        let facts = pod_facts(lean, t);
        assert!(facts.as_ref().is_some_and(|f| f.reads_at_start == ["db"]));
        assert_eq!(facts, pod_facts(whole, t));

        // The pods a real kube-apiserver 1.32 listed, for every Secret they name.
        let file =
            include_str!("../../crates/kube-sim/tests/k8s-recordings/49-pods-list-prod.json");
        let v: serde_json::Value = serde_json::from_str(file).unwrap_or_default();
        let items = v["response"]["body"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!items.is_empty(), "the recording holds pods");
        for item in items {
            let text = item.to_string();
            let whole: Pod = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            let lean: WirePod = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            let (lean, whole) = (lean.view(), PodView::from(&whole));
            let refs = pod_refs(lean, Targets::Any);
            assert!(refs.is_some(), "{text}");
            assert_eq!(refs, pod_refs(whole, Targets::Any));
            assert_eq!(
                pod_facts(lean, Targets::Any),
                pod_facts(whole, Targets::Any)
            );
        }
    }

    /// Doctor lists the pods before it knows the targets (`Targets::Any`) and restricts them
    /// afterwards: each pod must come out as a LIST for the targets gives it.
    #[test]
    fn issue16_pods_restricted_afterwards_are_the_pods_listed_for_the_targets() {
        let pod = |v: serde_json::Value| -> Pod {
            serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
        };
        let running = serde_json::json!({"phase": "Running", "containerStatuses": [{
            "name": "app", "ready": true, "restartCount": 0, "image": "", "imageID": "",
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]});
        let pods = [
            // Reads a target and another Secret at start; names a target and another by key.
            pod(serde_json::json!({
                "metadata": {"name": "a", "namespace": "prod", "ownerReferences": [{"apiVersion": "apps/v1",
                    "kind": "ReplicaSet", "name": "web-5d8d7c64b", "uid": "r", "controller": true}]},
                "spec": {"imagePullSecrets": [{"name": "other-pull"}], "containers": [{"name": "app",
                    "envFrom": [{"secretRef": {"name": "db"}}, {"secretRef": {"name": "unmanaged"}}],
                    "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "unmanaged", "key": "k"}}},
                            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}],
                    "volumes": [{"name": "v", "secret": {"secretName": "tls"}}]},
                "status": running})),
            // Near miss: reads only Secrets that are no targets, and one of another namespace's name.
            pod(serde_json::json!({
                "metadata": {"name": "b", "namespace": "dev"},
                "spec": {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]},
                "status": running})),
            // Pending, pulling with a target: refs only.
            pod(serde_json::json!({
                "metadata": {"name": "c", "namespace": "prod"},
                "spec": {"imagePullSecrets": [{"name": "regcred"}, {"name": "other-pull"}],
                    "containers": [{"name": "app", "image": "x"}]},
                "status": {"phase": "Pending"}})),
            // Running, a target only in a volume without subPath (not read at start).
            pod(serde_json::json!({
                "metadata": {"name": "d", "namespace": "prod"},
                "spec": {"containers": [{"name": "app"}],
                    "volumes": [{"name": "v", "secret": {"secretName": "db"}}]},
                "status": running})),
        ];
        let targets: HashSet<(String, String)> = [
            ("prod".to_string(), "db".to_string()),
            ("prod".to_string(), "regcred".to_string()),
            ("prod".to_string(), "tls".to_string()),
        ]
        .into();
        let (mut facts, mut refs) = (0, 0);
        for p in pods {
            let p = PodView::from(&p);
            let want_refs = pod_refs(p, Targets::Known(&targets));
            let got_refs = pod_refs(p, Targets::Any).and_then(|r| restrict_refs(r, &targets));
            assert_eq!(got_refs, want_refs);
            refs += usize::from(want_refs.is_some());
            let want = pod_facts(p, Targets::Known(&targets));
            let got = pod_facts(p, Targets::Any).and_then(|f| restrict_facts(f, &targets));
            assert_eq!(got, want);
            facts += usize::from(want.is_some());
        }
        // The cases are not all empty: one pod reads targets at start, two name one.
        assert_eq!((facts, refs), (1, 2));
    }

    #[test]
    fn issue12_pod_refs_keep_pending_pods_and_skip_optional_keys() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app-1", "namespace": "prod"},
            "spec": {"imagePullSecrets": [{"name": "regcred"}], "containers": [{
                "name": "app", "image": "registry.internal:5000/app:1",
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "x", "optional": true}}},
                    {"name": "C", "valueFrom": {"secretKeyRef": {"name": "other", "key": "y"}}}
                ]}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false,
                "restartCount": 0, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let targets: HashSet<(String, String)> = [
            ("prod".to_string(), "regcred".to_string()),
            ("prod".to_string(), "db".to_string()),
        ]
        .into();
        let refs = pod_refs((&pod).into(), Targets::Known(&targets))
            .unwrap_or_else(|| panic!("pod names targets"));
        assert_eq!(refs.pull_secrets, vec!["regcred".to_string()]);
        let c = &refs.containers[0];
        assert_eq!(c.waiting.as_deref(), Some("ImagePullBackOff"));
        assert_eq!(c.key_refs, vec![("db".to_string(), "pw".to_string())]);
        let none: HashSet<(String, String)> =
            [("prod".to_string(), "unrelated".to_string())].into();
        assert_eq!(pod_refs((&pod).into(), Targets::Known(&none)), None);
    }
}
