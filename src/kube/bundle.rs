//! What `bundle` reads beyond doctor's report (issue 17): the ESO objects, the target Secrets'
//! metadata (a metadata-only LIST: their data never reaches this process), Events and pods of the
//! namespaces in scope, as JSON. One LIST each; a LIST that fails is written down in the bundle as
//! unreadable, never an abort. Read-only.

use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::eso::EsoApi;
use super::list::{Listing, list_all, list_all_metadata};
use crate::diag::Diag;
use crate::model::scope::Fetched;

/// Everything listed, as the API returned it (Secrets: metadata only).
pub struct Objects {
    pub external_secrets: Fetched<Vec<Value>>,
    pub secret_stores: Fetched<Vec<Value>>,
    pub cluster_secret_stores: Fetched<Vec<Value>>,
    pub cluster_external_secrets: Fetched<Vec<Value>>,
    pub secrets_metadata: Fetched<Vec<Value>>,
    pub events: Fetched<Vec<Value>>,
    pub pods: Fetched<Vec<Value>>,
}

async fn dynamic(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    cluster_scoped: bool,
    diag: &Diag,
) -> Fetched<Vec<Value>> {
    let api: Api<DynamicObject> = match (cluster_scoped, namespace) {
        (false, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    };
    let what = Listing::new(&ar.plural, if cluster_scoped { None } else { namespace });
    let items = list_all(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items
        .into_iter()
        .map(|mut o| {
            o.types = Some(kube::api::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            serde_json::to_value(o).unwrap_or(Value::Null)
        })
        .collect())
}

async fn typed<K>(
    client: &Client,
    namespace: Option<&str>,
    plural: &str,
    diag: &Diag,
) -> Fetched<Vec<Value>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let what = Listing::new(plural, namespace);
    let items = list_all(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
        .collect())
}

/// One LIST per kind, concurrently; `namespace` `None` is every namespace.
pub async fn fetch(client: &Client, eso: &EsoApi, namespace: Option<&str>, diag: &Diag) -> Objects {
    let secrets = async {
        let api: Api<Secret> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let what = Listing::new("secrets", namespace);
        let items = list_all_metadata(&api, &ListParams::default(), &what, diag)
            .await
            .map_err(|e| what.degraded(&e))?;
        Ok(items
            .into_iter()
            .map(|m| serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": m.metadata}))
            .collect())
    };
    let (es, ss, css, ces) = (
        eso.external_secrets(),
        eso.secret_stores(),
        eso.cluster_secret_stores(),
        eso.cluster_external_secrets(),
    );
    let (external_secrets, secret_stores, cluster_secret_stores, cluster_external_secrets) = futures::join!(
        dynamic(client, &es, namespace, false, diag),
        dynamic(client, &ss, namespace, false, diag),
        dynamic(client, &css, None, true, diag),
        dynamic(client, &ces, None, true, diag),
    );
    let (secrets_metadata, events, pods) = futures::join!(
        secrets,
        typed::<Event>(client, namespace, "events", diag),
        typed::<Pod>(client, namespace, "pods", diag),
    );
    Objects {
        external_secrets,
        secret_stores,
        cluster_secret_stores,
        cluster_external_secrets,
        secrets_metadata,
        events,
        pods,
    }
}

/// Pods whose application lines the bundle keeps, at most.
const APP_PODS: usize = 20;

/// One consumer pod's secret-related lines (issue 17), redacted.
pub struct AppLog {
    pub namespace: String,
    pub pod: String,
    pub source: String,
    pub lines: Vec<String>,
}

/// The secret-related lines of the pods that read one of `secrets` (`(namespace, name)`) and whose
/// containers have run (`analysis::app_logs`), at most [`APP_PODS`] pods.
pub async fn app_logs(
    client: &Client,
    pods: &[Value],
    secrets: &[(String, String)],
    redactor: &crate::analysis::eso_logs::redact::Redactor,
    diag: &Diag,
) -> Vec<AppLog> {
    let mut out = Vec::new();
    let mut read = 0;
    for v in pods {
        let Ok(pod) = serde_json::from_value::<Pod>(v.clone()) else {
            continue;
        };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let Some(spec) = pod.spec.as_ref() else {
            continue;
        };
        let read_by_pod: Vec<String> = secrets
            .iter()
            .filter(|(s_ns, name)| {
                *s_ns == ns && !crate::analysis::consumers::secret_uses(spec, name).is_empty()
            })
            .map(|(_, name)| name.clone())
            .collect();
        let ran = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .any(|c| {
                c.restart_count > 0
                    || c.state
                        .as_ref()
                        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            });
        if read_by_pod.is_empty() || !ran || read >= APP_PODS {
            continue;
        }
        read += 1;
        let names = super::app_logs::env_names_in(spec, &read_by_pod);
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let got = super::app_logs::read(&api, &pod, &names, redactor, diag).await;
        if let Some(source) = got.source {
            out.push(AppLog {
                namespace: ns,
                pod: pod.metadata.name.clone().unwrap_or_default(),
                source,
                lines: got.lines,
            });
        }
    }
    out
}
