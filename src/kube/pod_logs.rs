//! Reading container logs through the API (`pods/log`, issue 17): ESO's controller, webhook and
//! cert-controller pods in the namespaces where doctor found the chart's Deployments, each
//! container's lines of the last hour bounded by `limitBytes`, plus the previous instance of a
//! container that restarted. Every line goes through the log redaction as it is read, so nothing
//! unredacted outlives this function. A 403 on `pods/log` makes the whole read "not checked".

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use super::list::{Listing, list_all, status_code};
use crate::analysis::eso_logs::redact::Redactor;
use crate::diag::Diag;
use crate::model::logs::{LogLine, PodLog, about_of};
use crate::model::scope::{Degraded, Fetched};

/// How far back, and how much of each container's log, is read.
pub const SINCE_SECONDS: i64 = 3600;
pub const LIMIT_BYTES: i64 = 256 * 1024;

const COMPONENT_SELECTOR: &str = "app.kubernetes.io/name in \
    (external-secrets,external-secrets-webhook,external-secrets-cert-controller)";

fn label(pod: &Pod, key: &str) -> String {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_default()
}

/// ESO's pods in `namespaces`, and their recent lines, redacted by `redactor`.
pub async fn eso_logs(
    client: &Client,
    namespaces: &BTreeSet<String>,
    redactor: &Redactor,
    diag: &Diag,
) -> Fetched<Vec<PodLog>> {
    let mut out = Vec::new();
    for ns in namespaces {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let what = Listing::new("pods", Some(ns));
        let pods = list_all(
            &api,
            &ListParams::default().labels(COMPONENT_SELECTOR),
            &what,
            diag,
        )
        .await
        .map_err(|e| what.degraded(&e))?;
        for pod in &pods {
            out.extend(pod_logs(&api, pod, redactor, diag).await?);
        }
    }
    Ok(out)
}

/// Each container's current lines, and the previous instance's when it restarted.
pub async fn pod_logs(
    api: &Api<Pod>,
    pod: &Pod,
    redactor: &Redactor,
    diag: &Diag,
) -> Fetched<Vec<PodLog>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let component = label(pod, "app.kubernetes.io/name");
    let workload = format!(
        "{namespace}/{}/{component}",
        label(pod, "app.kubernetes.io/instance")
    );
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    for c in containers {
        let restarted = statuses
            .iter()
            .any(|s| s.name == c.name && s.restart_count > 0);
        for previous in [false, true] {
            if previous && !restarted {
                continue;
            }
            let params = LogParams {
                container: Some(c.name.clone()),
                previous,
                since_seconds: Some(SINCE_SECONDS),
                limit_bytes: Some(LIMIT_BYTES),
                ..LogParams::default()
            };
            match api.logs(&name, &params).await {
                Ok(text) => out.push(PodLog {
                    namespace: namespace.clone(),
                    pod: name.clone(),
                    workload: workload.clone(),
                    component: component.clone(),
                    container: c.name.clone(),
                    previous,
                    lines: text
                        .lines()
                        .map(|l| LogLine {
                            about: about_of(l),
                            text: redactor.redact(l),
                        })
                        .collect(),
                }),
                Err(e) if matches!(status_code(&e), Some(401 | 403)) => {
                    return Err(Degraded {
                        resource: "pods/log".into(),
                        namespace: Some(namespace.clone()),
                        cause: format!("no permission to get pods/log in {namespace}"),
                    });
                }
                // A container that has not started (400) has nothing to read yet.
                Err(e) => diag.log(
                    1,
                    format_args!(
                        "logs: {namespace}/{name} container {}: {}",
                        c.name,
                        super::client::one_line(&e)
                    ),
                ),
            }
        }
    }
    Ok(out)
}
