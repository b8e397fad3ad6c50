//! Everything `scope` reads, fetched concurrently with one paginated LIST per resource type and
//! namespace scope. Only the ExternalSecrets themselves are essential; any other LIST that fails
//! (a 403 on Secrets, say) becomes a stated cause in the report and the command goes on.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodSpec, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use super::eso::EsoApi;
use super::list::{Listing, list_all, list_all_metadata, list_metadata_reduced, list_reduced};
use super::reduce;
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::model::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};
use crate::model::refs::{WorkloadKind, WorkloadRef};
use crate::model::scope::{Fetched, ScopeSnapshot, SecretMeta, SharedStrings, WorkloadSnapshot};

pub struct ScopeQuery<'a> {
    /// `None` for all namespaces.
    pub namespace: Option<&'a str>,
    pub selector: Option<&'a str>,
    pub workload: Option<&'a WorkloadRef>,
}

pub async fn fetch(
    client: &Client,
    eso: &EsoApi,
    q: &ScopeQuery<'_>,
    diag: &Diag,
) -> Result<ScopeSnapshot> {
    let ns = q.namespace;
    let es_api: Api<ExternalSecret> = namespaced_or_all(client, ns, &eso.external_secrets());
    let mut es_params = ListParams::default();
    if let Some(sel) = q.selector {
        es_params = es_params.labels(sel);
    }
    let es_listing = Listing::new("externalsecrets", ns);

    let ss_api: Api<SecretStore> = namespaced_or_all(client, ns, &eso.secret_stores());
    let css_api: Api<SecretStore> = Api::all_with(client.clone(), &eso.cluster_secret_stores());
    let ces_api: Api<ClusterExternalSecret> =
        Api::all_with(client.clone(), &eso.cluster_external_secrets());
    let secret_api: Api<Secret> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let event_api: Api<Event> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let event_params =
        ListParams::default().fields("involvedObject.kind=ExternalSecret,reason=UpdateFailed");

    let ss_event_params =
        ListParams::default().fields("involvedObject.kind=SecretStore,type=Warning");
    let css_event_params =
        ListParams::default().fields("involvedObject.kind=ClusterSecretStore,type=Warning");
    let default_event_api: Api<Event> = Api::namespaced(client.clone(), "default");
    let (es, ss, css, ces, secrets, events, ss_events, css_events, workload) = futures::join!(
        async {
            if reduce::reducing() {
                let keep = |es: reduce::WireExternalSecret| es.into_reduced();
                list_reduced(&es_api, &es_params, &es_listing, diag, keep).await
            } else {
                list_reduced(
                    &es_api,
                    &es_params,
                    &es_listing,
                    diag,
                    reduce::with_meta::<ExternalSecret>,
                )
                .await
            }
        },
        optional(
            &ss_api,
            ListParams::default(),
            Listing::new("secretstores", ns),
            diag
        ),
        optional(
            &css_api,
            ListParams::default(),
            Listing::new("clustersecretstores", None),
            diag
        ),
        optional(
            &ces_api,
            ListParams::default(),
            Listing::new("clusterexternalsecrets", None),
            diag
        ),
        secret_metadata(&secret_api, Listing::new("secrets", ns), diag),
        events(&event_api, event_params, Listing::new("events", ns), diag),
        events(
            &event_api,
            ss_event_params,
            Listing::new("events", ns),
            diag
        ),
        events(
            &default_event_api,
            css_event_params,
            Listing::new("events", Some("default")),
            diag
        ),
        async {
            match (q.workload, ns) {
                (Some(w), Some(ns)) => fetch_workload(client, w, ns, diag).await.map(Some),
                _ => Ok(None),
            }
        },
    );

    let mut snapshot = ScopeSnapshot {
        eso_api_version: eso.api_version(),
        namespace: ns.map(str::to_string),
        external_secrets: es.map_err(|e| es_listing.fatal(&e))?,
        secret_stores: ss,
        cluster_secret_stores: css,
        cluster_external_secrets: ces,
        secrets,
        events,
        store_events: vec![ss_events, css_events],
        workload: workload?,
        secret_stores_elsewhere: Vec::new(),
    };
    drop_unrelated_events(&mut snapshot);
    if ns.is_some() {
        snapshot.secret_stores_elsewhere = stores_elsewhere(client, eso, &snapshot, diag).await;
    }
    cap_free_text(&mut snapshot);
    Ok(snapshot)
}

/// The ExternalSecret Events that concern nothing in scope (an ExternalSecret the selector left
/// out, or one deleted since) are dropped: the analysis looks Events up by the ExternalSecrets
/// listed, by uid and by namespace/name, and never reads the others.
fn drop_unrelated_events(snap: &mut ScopeSnapshot) {
    use foldhash::HashSet;
    let Ok(events) = snap.events.as_mut() else {
        return;
    };
    // No Events (a healthy cluster): nothing to drop, and no index of every ExternalSecret to
    // build after the last page (issue 16).
    if !reduce::reducing() || events.is_empty() {
        return;
    }
    let uids: HashSet<&str> = snap
        .external_secrets
        .iter()
        .filter_map(|es| es.metadata.uid.as_deref())
        .collect();
    let names: HashSet<(&str, &str)> = snap
        .external_secrets
        .iter()
        .map(|es| (es.namespace(), es.name()))
        .collect();
    events.retain(|ev| {
        let o = &ev.involved_object;
        o.uid.as_deref().is_some_and(|u| uids.contains(u))
            || names.contains(&(
                o.namespace.as_deref().unwrap_or_default(),
                o.name.as_deref().unwrap_or_default(),
            ))
    });
    events.shrink_to_fit();
}

/// Issue 12: SecretStores in other namespaces named by an ExternalSecret of a namespaced read
/// whose own namespace has no store of that name ("the store lives in namespace X"), from one
/// metadata LIST of all namespaces, made only when such a name exists. A refused LIST is no
/// verdict: the store then reads as missing, as before.
async fn stores_elsewhere(
    client: &Client,
    eso: &EsoApi,
    snap: &ScopeSnapshot,
    diag: &Diag,
) -> Vec<(String, String)> {
    let Ok(here) = &snap.secret_stores else {
        return Vec::new();
    };
    let here: std::collections::BTreeSet<&str> = here
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    let wanted: std::collections::BTreeSet<&str> = snap
        .external_secrets
        .iter()
        .filter_map(|es| es.store_ref())
        .filter(|r| r.kind.as_deref().is_none_or(|k| k == "SecretStore"))
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty() && !here.contains(n))
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let api: Api<SecretStore> = Api::all_with(client.clone(), &eso.secret_stores());
    let listing = Listing::new("secretstores", None);
    match list_all_metadata(&api, &ListParams::default(), &listing, diag).await {
        Ok(all) => all
            .into_iter()
            .filter_map(|m| Some((m.metadata.namespace?, m.metadata.name?)))
            .filter(|(ns, name)| {
                wanted.contains(name.as_str()) && Some(ns.as_str()) != snap.namespace.as_deref()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Event messages and condition messages are free text any controller (or tenant) writes:
/// each is cut to [`crate::sanitize::MAX_OUTSIDE_BYTES`] as it enters the snapshot (issue 18).
fn cap_free_text(snap: &mut ScopeSnapshot) {
    use crate::sanitize::cap_in_place;
    let conditions = snap
        .external_secrets
        .iter_mut()
        .flat_map(|es| es.status.conditions.iter_mut())
        .chain(
            [&mut snap.secret_stores, &mut snap.cluster_secret_stores]
                .into_iter()
                .filter_map(|s| s.as_mut().ok())
                .flatten()
                .flat_map(|s| s.status.conditions.iter_mut()),
        );
    for c in conditions {
        if let Some(m) = c.message.as_mut() {
            cap_in_place(m);
        }
    }
    let events = std::iter::once(&mut snap.events)
        .chain(snap.store_events.iter_mut())
        .filter_map(|e| e.as_mut().ok())
        .flatten();
    for ev in events {
        if let Some(m) = ev.message.as_mut() {
            cap_in_place(m);
        }
    }
}

fn namespaced_or_all<K>(client: &Client, ns: Option<&str>, ar: &kube::core::ApiResource) -> Api<K>
where
    K: kube::Resource<
            DynamicType = kube::core::ApiResource,
            Scope = kube::core::DynamicResourceScope,
        >,
{
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// A LIST the report can do without: a failure becomes a stated cause. Each page is reduced to
/// what the diagnosis reads as it arrives (`kube::reduce`).
async fn optional<K>(
    api: &Api<K>,
    params: ListParams,
    what: Listing,
    diag: &Diag,
) -> Fetched<Vec<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Reduce,
{
    list_reduced(api, &params, &what, diag, K::reduce)
        .await
        .map_err(|e| what.degraded(&e))
}

/// Events, each decoded lean ([`reduce::WireEvent`]) as its page arrives; whole, then reduced,
/// when objects are kept whole.
async fn events(
    api: &Api<Event>,
    params: ListParams,
    what: Listing,
    diag: &Diag,
) -> Fetched<Vec<Event>> {
    if !reduce::reducing() {
        return optional(api, params, what, diag).await;
    }
    list_reduced(api, &params, &what, diag, reduce::WireEvent::into_event)
        .await
        .map_err(|e| what.degraded(&e))
}

/// How each type scope lists is reduced as its pages arrive.
trait Reduce: Sized {
    fn reduce(self) -> Option<Self>;
}

impl Reduce for SecretStore {
    fn reduce(self) -> Option<Self> {
        reduce::with_meta(self)
    }
}

impl Reduce for ClusterExternalSecret {
    fn reduce(self) -> Option<Self> {
        reduce::with_meta(self)
    }
}

impl Reduce for Event {
    fn reduce(self) -> Option<Self> {
        reduce::event(self)
    }
}

async fn secret_metadata(
    api: &Api<Secret>,
    what: Listing,
    diag: &Diag,
) -> Fetched<Vec<SecretMeta>> {
    let mut shared = SharedStrings::default();
    let params = ListParams::default();
    let listed = if reduce::reducing() {
        list_metadata_reduced(api, &params, &what, diag, |m: reduce::WireSecret| {
            m.into_meta(&mut shared)
        })
        .await
    } else {
        // Whole metadata (`tests/issue16_reduction.rs`): the same Secrets must come out.
        list_metadata_reduced(api, &params, &what, diag, |m| {
            reduce::secret_meta(m, &mut shared)
        })
        .await
    };
    listed.map_err(|e| what.degraded(&e))
}

/// The workload's pod template, via a LIST with a name field selector (no per-object GET).
async fn fetch_workload(
    client: &Client,
    w: &WorkloadRef,
    ns: &str,
    diag: &Diag,
) -> Result<WorkloadSnapshot> {
    let params = ListParams::default().fields(&format!("metadata.name={}", w.name));
    let pod_spec: Option<PodSpec> = match w.kind {
        WorkloadKind::Deployment => one::<Deployment>(client, ns, &params, "deployments", diag)
            .await?
            .and_then(|d| d.spec.template.spec),
        WorkloadKind::StatefulSet => one::<StatefulSet>(client, ns, &params, "statefulsets", diag)
            .await?
            .and_then(|d| d.spec.template.spec),
        WorkloadKind::DaemonSet => one::<DaemonSet>(client, ns, &params, "daemonsets", diag)
            .await?
            .and_then(|d| d.spec.template.spec),
        WorkloadKind::Pod => one::<Pod>(client, ns, &params, "pods", diag)
            .await?
            .and_then(|p| p.spec),
    };
    match pod_spec {
        Some(spec) => Ok(WorkloadSnapshot {
            workload: w.clone(),
            namespace: ns.to_string(),
            pod_spec: Some(spec),
        }),
        None => Err(Error::NotFound(format!("{w} not found in namespace {ns}"))),
    }
}

async fn one<K>(
    client: &Client,
    ns: &str,
    params: &ListParams,
    plural: &str,
    diag: &Diag,
) -> Result<Option<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let what = Listing::new(plural, Some(ns));
    let items = list_all(&api, params, &what, diag)
        .await
        .map_err(|e| what.fatal(&e))?;
    Ok(items.into_iter().next())
}

/// Whether `ns` exists: `None` when the question cannot be answered (RBAC may allow listing
/// ExternalSecrets in a namespace but not reading the Namespace object), so only a clear 404 is
/// reported (issue 13: `scope -n nosuchns` must not look healthy).
pub async fn namespace_exists(client: &Client, ns: &str) -> Option<bool> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    match api.get(ns).await {
        Ok(_) => Some(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Some(false),
        Err(_) => None,
    }
}

/// What `scope -w` watches besides the ExternalSecrets (issue 13): the stores they use and the
/// Secrets they write, metadata only (no Secret data crosses the wire). Each change of any of
/// them is a `()` on `tx`, and scope re-reads its report.
pub fn spawn_related_watches(
    client: &Client,
    eso: &EsoApi,
    ns: Option<&str>,
    tx: tokio::sync::mpsc::Sender<()>,
    diag: &Diag,
) -> Vec<tokio::task::JoinHandle<()>> {
    let ss: Api<SecretStore> = namespaced_or_all(client, ns, &eso.secret_stores());
    let css: Api<SecretStore> = Api::all_with(client.clone(), &eso.cluster_secret_stores());
    let secrets: Api<Secret> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    vec![
        spawn_metadata_watch(ss, "secretstores", tx.clone(), *diag),
        spawn_metadata_watch(css, "clustersecretstores", tx.clone(), *diag),
        spawn_metadata_watch(secrets, "secrets", tx, *diag),
    ]
}

/// Watches the metadata of `api`'s objects from now on, sending `()` for each change, until the
/// receiver is dropped. A stream that ends or breaks resumes from the last resourceVersion; a
/// 410 starts over from a fresh LIST (and sends one change: some may have been missed). A LIST
/// the caller may not make (403 on Secrets) ends the watch quietly: scope's own report already
/// says what it could not read.
fn spawn_metadata_watch<K>(
    api: Api<K>,
    what: &'static str,
    tx: tokio::sync::mpsc::Sender<()>,
    diag: Diag,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures::StreamExt;
    use kube::api::{WatchEvent, WatchParams};
    tokio::spawn(async move {
        let mut rv = String::new();
        loop {
            if tx.is_closed() {
                return;
            }
            if rv.is_empty() {
                match api.list_metadata(&ListParams::default().limit(1)).await {
                    Ok(list) => rv = list.metadata.resource_version.unwrap_or_default(),
                    Err(e) => {
                        diag.log(1, format_args!("WATCH {what}: not watched ({e})"));
                        if matches!(super::list::status_code(&e), Some(401 | 403 | 404)) {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let wp = WatchParams::default().timeout(290);
            let stream = match api.watch_metadata(&wp, &rv).await {
                Ok(s) => s,
                Err(e) => {
                    diag.log(1, format_args!("WATCH {what}: {e}"));
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                        if let Some(v) = o.metadata.resource_version.filter(|v| !v.is_empty()) {
                            rv = v;
                        }
                        if tx.send(()).await.is_err() {
                            return;
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                    Ok(WatchEvent::Error(s)) => {
                        diag.log(1, format_args!("WATCH {what}: error {}", s.code));
                        if s.code == 410 {
                            rv.clear();
                            if tx.send(()).await.is_err() {
                                return;
                            }
                        }
                        break;
                    }
                    Err(e) => {
                        diag.log(1, format_args!("WATCH {what}: {e}"));
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn event(name: &str, uid: Option<&str>) -> Event {
        from(json!({
            "metadata": {"name": format!("{name}.1"), "namespace": "prod"},
            "involvedObject": {"kind": "ExternalSecret", "namespace": "prod", "name": name, "uid": uid},
            "reason": "UpdateFailed", "message": "boom",
        }))
    }

    /// Issue 16: Events about an ExternalSecret in scope stay (by uid, or by name when recorded
    /// before a delete-and-recreate); the others are dropped.
    #[test]
    fn issue16_events_about_nothing_in_scope_are_dropped() {
        let es: ExternalSecret = from(json!({
            "metadata": {"name": "db", "namespace": "prod", "uid": "u-now"},
        }));
        let mut snap = ScopeSnapshot {
            eso_api_version: "external-secrets.io/v1".into(),
            namespace: Some("prod".into()),
            external_secrets: vec![es],
            secret_stores: Ok(vec![]),
            cluster_secret_stores: Ok(vec![]),
            cluster_external_secrets: Ok(vec![]),
            secrets: Ok(vec![]),
            events: Ok(vec![
                event("db", Some("u-now")),
                event("db", Some("u-before-recreate")),
                event("other", Some("u-other")),
                event("renamed", Some("u-now")),
            ]),
            store_events: vec![],
            workload: None,
            secret_stores_elsewhere: vec![],
        };
        drop_unrelated_events(&mut snap);
        let kept: Vec<(String, String)> = snap
            .events
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let o = &e.involved_object;
                (
                    o.name.clone().unwrap_or_default(),
                    o.uid.clone().unwrap_or_default(),
                )
            })
            .collect();
        let want = [
            ("db", "u-now"),
            ("db", "u-before-recreate"),
            ("renamed", "u-now"),
        ]
        .map(|(n, u)| (n.to_string(), u.to_string()));
        assert_eq!(kept, want);
    }
}
