//! Everything `force-sync` says to the API server: the ExternalSecret LIST (kept with its
//! resourceVersion, which the watch starts from), the stores, the annotation patch (retried on
//! 409), one resumable watch for all selected ExternalSecrets plus one for `UpdateFailed` Events,
//! and `kubectl rollout restart`'s patch with a rollout check. Every request is counted so `-v`
//! and the benchmark can say how many the command made.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicResourceScope};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::mpsc;

use super::eso::EsoApi;
use super::list::{Listing, api_error, status_code};
use crate::analysis::force_sync::Stores;
use crate::diag::Diag;
use crate::error::Result;
use crate::model::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};
use crate::model::force_sync::{
    DATA_HASH_ANNOTATION, FORCE_SYNC_ANNOTATION, RESTARTED_AT_ANNOTATION, SecretVersion,
    WorkloadState,
};
use crate::model::refs::WorkloadKind;

const PAGE_SIZE: u32 = 500;
/// Server-side watch timeout; the watch is resumed when it ends, so this only bounds how long a
/// silently dead connection can go unnoticed.
const WATCH_TIMEOUT_SECS: u32 = 60;

/// Counts the API requests this command sends (watch (re)starts included).
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<AtomicUsize>);

impl Requests {
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// An API handle for ExternalSecrets in one namespace or all.
pub fn external_secrets(client: &Client, eso: &EsoApi, ns: Option<&str>) -> Api<ExternalSecret> {
    scoped(client, ns, &eso.external_secrets())
}

fn scoped<K>(client: &Client, ns: Option<&str>, ar: &ApiResource) -> Api<K>
where
    K: Resource<DynamicType = ApiResource, Scope = DynamicResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// Every object and the list's resourceVersion (the point a watch resumes from).
pub async fn list_with_version<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &Listing,
    requests: &Requests,
    diag: &Diag,
) -> Result<(Vec<K>, String), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut lp = params.clone().limit(PAGE_SIZE);
    let mut items = Vec::new();
    let mut version = String::new();
    loop {
        requests.add(1);
        let list = api.list(&lp).await?;
        diag.log(
            2,
            format_args!("LIST {}: {} items", what.resource, list.items.len()),
        );
        if version.is_empty() {
            // The first page's version is the snapshot every later page belongs to.
            version = list.metadata.resource_version.clone().unwrap_or_default();
        }
        items.extend(list.items);
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    Ok((items, version))
}

/// SecretStores in scope and all ClusterSecretStores; a list that cannot be read is `None` and
/// the store check is skipped for it.
pub async fn stores(
    client: &Client,
    eso: &EsoApi,
    ns: Option<&str>,
    requests: &Requests,
    diag: &Diag,
) -> Stores {
    let ss: Api<SecretStore> = scoped(client, ns, &eso.secret_stores());
    let css: Api<SecretStore> = Api::all_with(client.clone(), &eso.cluster_secret_stores());
    let lp = ListParams::default();
    let (ss_listing, css_listing) = (
        Listing::new("secretstores", ns),
        Listing::new("clustersecretstores", None),
    );
    let (a, b) = futures::join!(
        list_with_version(&ss, &lp, &ss_listing, requests, diag),
        list_with_version(&css, &lp, &css_listing, requests, diag),
    );
    Stores {
        secret_stores: a.ok().map(|(items, _)| items),
        cluster_secret_stores: b.ok().map(|(items, _)| items),
    }
}

/// Where the Event watch starts: the resourceVersion of a one-item LIST taken before any
/// annotation, so no failure caused by it can be missed.
pub async fn events_version(
    client: &Client,
    ns: Option<&str>,
    requests: &Requests,
) -> Result<String> {
    let api = events_api(client, ns);
    requests.add(1);
    let list = api
        .list(&event_params().limit(1))
        .await
        .map_err(|e| api_error("cannot list events", &e))?;
    Ok(list.metadata.resource_version.unwrap_or_default())
}

fn events_api(client: &Client, ns: Option<&str>) -> Api<Event> {
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

const EVENT_FIELDS: &str = "involvedObject.kind=ExternalSecret,reason=UpdateFailed";

fn event_params() -> ListParams {
    ListParams::default().fields(EVENT_FIELDS)
}

/// Sets `force-sync=<value>` with a JSON merge patch, exactly as
/// `kubectl annotate --overwrite` does; a 409 (the object changed under us) is retried.
pub async fn annotate(
    api: &Api<ExternalSecret>,
    name: &str,
    value: &str,
    requests: &Requests,
) -> Result<(), String> {
    let patch = json!({"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: value}}});
    let (params, body) = (PatchParams::default(), Patch::Merge(&patch));
    retry_conflicts(CONFLICT_ATTEMPTS, || {
        requests.add(1);
        api.patch(name, &params, &body)
    })
    .await
    .map(|_| ())
    .map_err(|e| error_text(&e))
}

/// Sets `force-sync=<value>` in a ClusterExternalSecret's `spec.externalSecretMetadata`, which
/// ESO copies onto every child ExternalSecret (annotations on the children themselves are
/// overwritten by the parent).
pub async fn annotate_parent(
    client: &Client,
    eso: &EsoApi,
    name: &str,
    value: &str,
    requests: &Requests,
) -> Result<(), String> {
    let api: Api<ClusterExternalSecret> =
        Api::all_with(client.clone(), &eso.cluster_external_secrets());
    let patch = json!({"spec": {"externalSecretMetadata": {"annotations": {FORCE_SYNC_ANNOTATION: value}}}});
    let (params, body) = (PatchParams::default(), Patch::Merge(&patch));
    retry_conflicts(CONFLICT_ATTEMPTS, || {
        requests.add(1);
        api.patch(name, &params, &body)
    })
    .await
    .map(|_| ())
    .map_err(|e| error_text(&e))
}

const CONFLICT_ATTEMPTS: u64 = 5;

/// Runs `call` again after a short pause while the server answers 409 Conflict, up to `attempts`
/// times in all; any other answer is returned as is.
async fn retry_conflicts<T, F, Fut>(attempts: u64, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e) if status_code(&e) == Some(409) && attempt < attempts => {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => return other,
        }
    }
}

fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => crate::sanitize::line(&format!("{} ({})", s.message, s.code)),
        _ => super::client::one_line(e),
    }
}

/// What a watch task hands to the waiting loop.
#[derive(Debug)]
pub enum Watched<K> {
    Applied(K),
    Deleted(K),
}

pub struct WatchSpec {
    pub what: &'static str,
    pub list: ListParams,
    pub resource_version: String,
}

/// Watches `api` from `spec.resource_version` until the receiver is dropped. A stream that ends
/// or breaks is resumed from the last resourceVersion seen; a 410 (too old) relists and goes on
/// from the fresh list, sending every listed object as `Applied`.
pub fn spawn_watch<K>(
    api: Api<K>,
    spec: WatchSpec,
    tx: mpsc::Sender<Watched<K>>,
    requests: Requests,
    diag: Diag,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    tokio::spawn(async move {
        let mut wp = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
        wp.label_selector = spec.list.label_selector.clone();
        wp.field_selector = spec.list.field_selector.clone();
        let mut rv = spec.resource_version;
        let mut starts = 0usize;
        loop {
            if tx.is_closed() {
                return;
            }
            starts += 1;
            let how = if starts > 1 { "resumed" } else { "started" };
            diag.log(
                1,
                format_args!("WATCH {}: {how} from resourceVersion {rv}", spec.what),
            );
            requests.add(1);
            let stream = match api.watch(&wp, &rv).await {
                Ok(s) => s,
                Err(e) => {
                    diag.log(1, format_args!("WATCH {}: {}", spec.what, error_text(&e)));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            let mut expired = false;
            while let Some(item) = stream.next().await {
                let sent = match item {
                    Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                        advance(&mut rv, &o);
                        tx.send(Watched::Applied(o)).await
                    }
                    Ok(WatchEvent::Deleted(o)) => {
                        advance(&mut rv, &o);
                        tx.send(Watched::Deleted(o)).await
                    }
                    Ok(WatchEvent::Bookmark(b)) => {
                        rv = b.metadata.resource_version;
                        Ok(())
                    }
                    Ok(WatchEvent::Error(s)) => {
                        expired = s.code == 410;
                        diag.log(1, format_args!("WATCH {}: error {}", spec.what, s.code));
                        break;
                    }
                    Err(e) => {
                        diag.log(1, format_args!("WATCH {}: {}", spec.what, error_text(&e)));
                        break;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
            if expired {
                let listing = Listing::new(spec.what, None);
                match list_with_version(&api, &spec.list, &listing, &requests, &diag).await {
                    Ok((items, version)) => {
                        rv = version;
                        for o in items {
                            if tx.send(Watched::Applied(o)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
    })
}

fn advance<K: Resource>(rv: &mut String, o: &K) {
    if let Some(v) = o
        .meta()
        .resource_version
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        *rv = v.to_string();
    }
}

/// The Event watch's parameters, for `spawn_watch`.
pub fn event_watch(client: &Client, ns: Option<&str>, version: String) -> (Api<Event>, WatchSpec) {
    (
        events_api(client, ns),
        WatchSpec {
            what: "events",
            list: event_params(),
            resource_version: version,
        },
    )
}

/// Deployments, StatefulSets and DaemonSets in each namespace, for `--restart`.
pub async fn workloads(
    client: &Client,
    namespaces: &[String],
    requests: &Requests,
    diag: &Diag,
) -> Result<Vec<WorkloadState>> {
    let mut out = Vec::new();
    for ns in namespaces {
        let lp = ListParams::default();
        let d: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let s: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
        let ds: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
        let (dl, sl, dsl) = (
            Listing::new("deployments", Some(ns)),
            Listing::new("statefulsets", Some(ns)),
            Listing::new("daemonsets", Some(ns)),
        );
        let (a, b, c) = futures::join!(
            list_with_version(&d, &lp, &dl, requests, diag),
            list_with_version(&s, &lp, &sl, requests, diag),
            list_with_version(&ds, &lp, &dsl, requests, diag),
        );
        let first = out.len();
        out.extend(a.map_err(|e| dl.fatal(&e))?.0.iter().map(from_deployment));
        out.extend(b.map_err(|e| sl.fatal(&e))?.0.iter().map(from_statefulset));
        out.extend(c.map_err(|e| dsl.fatal(&e))?.0.iter().map(from_daemonset));
        // When each workload's pods started: one LIST of the namespace's pods, reduced as it
        // arrives; refused or failed, the start times stay unknown.
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        requests.add(1);
        let started = crate::kube::list::list_reduced(
            &pods,
            &ListParams::default(),
            &Listing::new("pods", Some(ns)),
            diag,
            |p: Pod| {
                let labels = p.metadata.labels.unwrap_or_default();
                let started = crate::analysis::consumers::containers_started(p.status.as_ref())?;
                Some((labels, started))
            },
        )
        .await
        .unwrap_or_default();
        for w in &mut out[first..] {
            w.oldest_pod_started = crate::analysis::force_sync::oldest_started(w, &started);
        }
    }
    Ok(out)
}

/// `kubectl rollout restart`: a strategic merge patch of the pod template's `restartedAt`
/// annotation under field manager `kubectl-rollout` (kube's own `restart()` writes another key).
pub async fn restart(
    client: &Client,
    w: &WorkloadState,
    at: &str,
    requests: &Requests,
) -> Result<(), String> {
    let patch =
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}}});
    let pp = PatchParams {
        field_manager: Some("kubectl-rollout".into()),
        ..PatchParams::default()
    };
    let p = Patch::Strategic(&patch);
    requests.add(1);
    let ns = &w.namespace;
    let result = match w.kind {
        Some(WorkloadKind::Deployment) => Api::<Deployment>::namespaced(client.clone(), ns)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
        Some(WorkloadKind::StatefulSet) => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
        Some(WorkloadKind::DaemonSet) => Api::<DaemonSet>::namespaced(client.clone(), ns)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
        _ => return Err("only deployments, statefulsets and daemonsets can be restarted".into()),
    };
    result.map_err(|e| error_text(&e))
}

/// The workload's current rollout state.
pub async fn workload_state(
    client: &Client,
    w: &WorkloadState,
    requests: &Requests,
) -> Result<WorkloadState, String> {
    requests.add(1);
    let ns = &w.namespace;
    let state = match w.kind {
        Some(WorkloadKind::Deployment) => Api::<Deployment>::namespaced(client.clone(), ns)
            .get(&w.name)
            .await
            .map(|d| from_deployment(&d)),
        Some(WorkloadKind::StatefulSet) => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get(&w.name)
            .await
            .map(|s| from_statefulset(&s)),
        Some(WorkloadKind::DaemonSet) => Api::<DaemonSet>::namespaced(client.clone(), ns)
            .get(&w.name)
            .await
            .map(|d| from_daemonset(&d)),
        _ => return Err("not a workload".into()),
    };
    state.map_err(|e| error_text(&e))
}

fn from_deployment(d: &Deployment) -> WorkloadState {
    let st = d.status.clone().unwrap_or_default();
    WorkloadState {
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        kind: Some(WorkloadKind::Deployment),
        name: d.metadata.name.clone().unwrap_or_default(),
        pod_spec: d.spec.template.spec.clone(),
        generation: d.metadata.generation,
        observed_generation: st.observed_generation,
        desired: i64::from(d.spec.replicas.unwrap_or(1)),
        current: i64::from(st.replicas.unwrap_or(0)),
        updated: i64::from(st.updated_replicas.unwrap_or(0)),
        available: i64::from(st.available_replicas.unwrap_or(0)),
        reloader: reloader_annotations(&d.metadata),
        labels: d.metadata.labels.clone().unwrap_or_default(),
        selector: d.spec.selector.match_labels.clone().unwrap_or_default(),
        oldest_pod_started: None,
    }
}

fn from_statefulset(s: &StatefulSet) -> WorkloadState {
    let st = s.status.clone().unwrap_or_default();
    WorkloadState {
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        kind: Some(WorkloadKind::StatefulSet),
        name: s.metadata.name.clone().unwrap_or_default(),
        pod_spec: s.spec.template.spec.clone(),
        generation: s.metadata.generation,
        observed_generation: st.observed_generation,
        desired: i64::from(s.spec.replicas.unwrap_or(1)),
        current: i64::from(st.replicas),
        updated: i64::from(st.updated_replicas.unwrap_or(0)),
        available: i64::from(st.available_replicas.unwrap_or(0)),
        reloader: reloader_annotations(&s.metadata),
        labels: s.metadata.labels.clone().unwrap_or_default(),
        selector: s.spec.selector.match_labels.clone().unwrap_or_default(),
        oldest_pod_started: None,
    }
}

fn from_daemonset(d: &DaemonSet) -> WorkloadState {
    let st = d.status.clone().unwrap_or_default();
    WorkloadState {
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        kind: Some(WorkloadKind::DaemonSet),
        name: d.metadata.name.clone().unwrap_or_default(),
        pod_spec: d.spec.template.spec.clone(),
        generation: d.metadata.generation,
        observed_generation: st.observed_generation,
        desired: i64::from(st.desired_number_scheduled),
        current: i64::from(st.current_number_scheduled),
        updated: i64::from(st.updated_number_scheduled.unwrap_or(0)),
        available: i64::from(st.number_available.unwrap_or(0)),
        reloader: reloader_annotations(&d.metadata),
        labels: d.metadata.labels.clone().unwrap_or_default(),
        selector: d.spec.selector.match_labels.clone().unwrap_or_default(),
        oldest_pod_started: None,
    }
}

/// The annotations by which Stakater Reloader takes a workload over.
fn reloader_annotations(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> std::collections::BTreeMap<String, String> {
    meta.annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.contains("reloader.stakater.com/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Each target Secret's resourceVersion and ESO's data-hash annotation, from its metadata only;
/// `None` for a Secret that could not be read (then it counts as changed: restarting is the
/// safe side).
pub async fn secret_versions(
    client: &Client,
    secrets: &[(String, String)],
    requests: &Requests,
) -> std::collections::BTreeMap<(String, String), Option<SecretVersion>> {
    let mut out = std::collections::BTreeMap::new();
    for (ns, name) in secrets {
        if out.contains_key(&(ns.clone(), name.clone())) {
            continue;
        }
        requests.add(1);
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
        let version = api.get_metadata(name).await.ok().map(|m| SecretVersion {
            resource_version: m.metadata.resource_version.clone(),
            data_hash: m
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DATA_HASH_ANNOTATION))
                .cloned(),
            written_at: m
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter_map(|f| f.time.as_ref().map(|t| t.0))
                .max(),
        });
        out.insert((ns.clone(), name.clone()), version);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn conflict() -> kube::Error {
        kube::Error::Api(
            Status::failure("the object has been modified", "Conflict")
                .with_code(409)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn conflicts_are_retried_then_succeed() {
        let calls = AtomicUsize::new(0);
        let out = retry_conflicts(5, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(conflict()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(out.ok(), Some(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn other_errors_and_endless_conflicts_are_returned() {
        let calls = AtomicUsize::new(0);
        let out: Result<(), kube::Error> = retry_conflicts(3, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(conflict()) }
        })
        .await;
        assert_eq!(out.err().as_ref().and_then(status_code), Some(409));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let calls = AtomicUsize::new(0);
        let forbidden = || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err::<(), _>(kube::Error::Api(
                    Status::failure("forbidden", "Forbidden")
                        .with_code(403)
                        .boxed(),
                ))
            }
        };
        let out = retry_conflicts(3, forbidden).await;
        assert_eq!(out.err().as_ref().and_then(status_code), Some(403));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
