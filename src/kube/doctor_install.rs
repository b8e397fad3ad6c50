//! What doctor's check 1 reads: the ESO installation itself — the ESO CRDs and the versions they
//! serve, the Helm chart's Deployments (by label, any namespace) and the webhook configurations.
//! One LIST each; a LIST that fails is a stated cause in the report, never an abort.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::eso::{EsoApi, GROUP};
use super::list::{Listing, list_all, list_all_metadata};
use crate::diag::Diag;
use crate::model::doctor::{ControllerScope, CrdFacts, DeploymentFacts, InstallSnapshot};
use crate::model::scope::Fetched;

const COMPONENT_SELECTOR: &str = "app.kubernetes.io/name in \
    (external-secrets,external-secrets-webhook,external-secrets-cert-controller)";

/// The installation LISTs; each one that fails is a stated cause, never an abort.
pub async fn fetch(client: &Client, eso: &EsoApi, diag: &Diag) -> InstallSnapshot {
    let (crds, deployments, webhooks) = futures::join!(
        fetch_crds(client, diag),
        fetch_deployments(client, diag),
        fetch_webhooks(client, diag)
    );
    let mut served_versions: Vec<String> = match &crds {
        Ok(c) => c.iter().flat_map(|c| c.served.iter().cloned()).collect(),
        Err(_) => Vec::new(),
    };
    if served_versions.is_empty() {
        served_versions.push(eso.version.clone());
    }
    served_versions.sort();
    served_versions.dedup();
    InstallSnapshot {
        served_versions,
        crds,
        deployments,
        webhook_configurations: webhooks,
    }
}

async fn fetch_crds(client: &Client, diag: &Diag) -> Fetched<Vec<CrdFacts>> {
    // Dynamic objects: only a few fields are read, and typed CRDs would parse every schema.
    let ar = ApiResource::erase::<CustomResourceDefinition>(&());
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let what = Listing::new("customresourcedefinitions", None);
    let items = list_all(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items.iter().filter_map(crd_facts).collect())
}

fn crd_facts(o: &DynamicObject) -> Option<CrdFacts> {
    let spec = o.data.get("spec")?;
    if spec.get("group").and_then(Value::as_str) != Some(GROUP) {
        return None;
    }
    let served = spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let stored = o
        .data
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let labels = o.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).filter(|v| !v.is_empty());
    let release_label = label("app.kubernetes.io/version").cloned().or_else(|| {
        label("helm.sh/chart")
            .and_then(|c| c.strip_prefix("external-secrets-"))
            .map(str::to_string)
    });
    Some(CrdFacts {
        name: o.metadata.name.clone()?,
        served,
        stored,
        release_label,
    })
}

async fn fetch_deployments(client: &Client, diag: &Diag) -> Fetched<Vec<DeploymentFacts>> {
    let api: Api<Deployment> = Api::all(client.clone());
    let what = Listing::new("deployments", None);
    let params = ListParams::default().labels(COMPONENT_SELECTOR);
    let items = list_all(&api, &params, &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items
        .into_iter()
        .filter_map(|d| {
            let component = d
                .metadata
                .labels
                .as_ref()?
                .get("app.kubernetes.io/name")?
                .clone();
            let first = d
                .spec
                .template
                .spec
                .as_ref()
                .and_then(|p| p.containers.first());
            let flags: Vec<&str> = first
                .into_iter()
                .flat_map(|c| c.command.iter().flatten().chain(c.args.iter().flatten()))
                .map(String::as_str)
                .collect();
            Some(DeploymentFacts {
                namespace: d.metadata.namespace.clone().unwrap_or_default(),
                name: d.metadata.name.clone()?,
                component,
                desired: d.spec.replicas.unwrap_or(1),
                ready: d
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0),
                image: first.and_then(|c| c.image.clone()),
                scope: ControllerScope::from_args(&flags),
                helm_release: helm_release(&d.metadata),
            })
        })
        .collect())
}

/// The Helm release behind an object: Helm 3 writes `meta.helm.sh/release-name` on everything it
/// installs; the `app.kubernetes.io/instance` label is only trusted next to `managed-by: Helm`
/// (other tools set `instance` to their own names).
fn helm_release(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    let annotated = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("meta.helm.sh/release-name"));
    let labels = meta.labels.as_ref();
    let by_helm = labels
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .is_some_and(|m| m == "Helm");
    let labelled = labels
        .filter(|_| by_helm)
        .and_then(|l| l.get("app.kubernetes.io/instance"));
    annotated.or(labelled).filter(|r| !r.is_empty()).cloned()
}

async fn fetch_webhooks(client: &Client, diag: &Diag) -> Fetched<Vec<String>> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let what = Listing::new("validatingwebhookconfigurations", None);
    let items = list_all_metadata(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items.into_iter().filter_map(|m| m.metadata.name).collect())
}
