//! The consumers link: which pods and workloads in the namespace use the target Secret (one LIST
//! per resource type, never a GET per object, and no provider call per pod), what state their pods
//! are in, and whether a pod started before the Secret last changed (environment variables are read
//! once at start, so such a pod needs a restart). A pod that fails or runs on an old value also
//! gets the secret-related lines of its log (issue 17, `kube::app_logs`).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::analysis::app_logs;
use crate::analysis::consumers::{containers_started, controller_workload, target_uses};
use crate::analysis::eso_logs::redact::Redactor;
use crate::diag::Diag;
use crate::kube::list::{Listing, list_all};
use crate::model::chain::{ConsumerFacts, ConsumersFacts};

/// The Secret's key names, and the redactor its values (and every credential read) taught.
pub struct LogReading<'a> {
    pub key_names: Vec<String>,
    pub redactor: &'a Redactor,
}

pub async fn fetch(
    client: &Client,
    ns: &str,
    target_kind: &str,
    secret: &str,
    secret_changed: Option<&str>,
    logs: &LogReading<'_>,
    diag: &Diag,
) -> ConsumersFacts {
    let mut out = ConsumersFacts::default();
    let lp = ListParams::default();
    let (d_api, s_api, ds_api, cj_api, p_api) = (
        Api::<Deployment>::namespaced(client.clone(), ns),
        Api::<StatefulSet>::namespaced(client.clone(), ns),
        Api::<DaemonSet>::namespaced(client.clone(), ns),
        Api::<CronJob>::namespaced(client.clone(), ns),
        Api::<Pod>::namespaced(client.clone(), ns),
    );
    let listings = [
        Listing::new("deployments", Some(ns)),
        Listing::new("statefulsets", Some(ns)),
        Listing::new("daemonsets", Some(ns)),
        Listing::new("cronjobs", Some(ns)),
        Listing::new("pods", Some(ns)),
    ];
    let (deploys, sts, ds, cj, pods) = futures::join!(
        list_all(&d_api, &lp, &listings[0], diag),
        list_all(&s_api, &lp, &listings[1], diag),
        list_all(&ds_api, &lp, &listings[2], diag),
        list_all(&cj_api, &lp, &listings[3], diag),
        list_all(&p_api, &lp, &listings[4], diag),
    );
    let mut workload = |kind: &str, name: Option<String>, spec: Option<&PodSpec>| {
        let uses = spec
            .map(|s| target_uses(s, target_kind, secret))
            .unwrap_or_default();
        if !uses.is_empty() {
            out.items.push(ConsumerFacts {
                kind: kind.to_string(),
                name: crate::sanitize::line(&name.unwrap_or_default()),
                uses,
                ..ConsumerFacts::default()
            });
        }
    };
    let mut errors = Vec::new();
    match deploys {
        Ok(items) => items.iter().for_each(|d| {
            workload(
                "deployment",
                d.metadata.name.clone(),
                d.spec.template.spec.as_ref(),
            )
        }),
        Err(e) => errors.push(Listing::new("deployments", Some(ns)).degraded(&e).cause),
    }
    match sts {
        Ok(items) => items.iter().for_each(|d| {
            workload(
                "statefulset",
                d.metadata.name.clone(),
                d.spec.template.spec.as_ref(),
            )
        }),
        Err(e) => errors.push(Listing::new("statefulsets", Some(ns)).degraded(&e).cause),
    }
    match ds {
        Ok(items) => items.iter().for_each(|d| {
            workload(
                "daemonset",
                d.metadata.name.clone(),
                d.spec.template.spec.as_ref(),
            )
        }),
        Err(e) => errors.push(Listing::new("daemonsets", Some(ns)).degraded(&e).cause),
    }
    match cj {
        Ok(items) => items.iter().for_each(|c| {
            let spec = c
                .spec
                .job_template
                .spec
                .as_ref()
                .and_then(|j| j.template.spec.as_ref());
            workload("cronjob", c.metadata.name.clone(), spec)
        }),
        Err(e) => errors.push(Listing::new("cronjobs", Some(ns)).degraded(&e).cause),
    }
    match pods {
        Ok(items) => {
            let mut read = 0;
            for p in &items {
                if let Some(mut c) = pod(p, target_kind, secret, secret_changed) {
                    if app_logs::worth_reading(&c) && read < app_logs::PODS_READ {
                        read += 1;
                        let mut names = logs.key_names.clone();
                        names.extend(crate::kube::app_logs::env_names(p, secret));
                        let lines =
                            crate::kube::app_logs::read(&p_api, p, &names, logs.redactor, diag)
                                .await;
                        if !lines.lines.is_empty() || lines.source.is_some() {
                            c.log_lines = lines.lines;
                            c.log_source = lines.source;
                        }
                    }
                    out.items.push(c);
                }
            }
        }
        Err(e) => errors.push(Listing::new("pods", Some(ns)).degraded(&e).cause),
    }
    out.errors = errors;
    let pods: Vec<ConsumerFacts> = out
        .items
        .iter()
        .filter(|c| c.kind == "pod")
        .cloned()
        .collect();
    for w in out.items.iter_mut().filter(|c| c.kind != "pod") {
        let key = format!("{}/{}", w.kind, w.name);
        w.state = worst_state(
            pods.iter()
                .filter(|p| p.workload.as_deref() == Some(key.as_str())),
        );
    }
    out
}

fn pod(p: &Pod, kind: &str, secret: &str, secret_changed: Option<&str>) -> Option<ConsumerFacts> {
    let uses = p
        .spec
        .as_ref()
        .map(|s| target_uses(s, kind, secret))
        .unwrap_or_default();
    if uses.is_empty() {
        return None;
    }
    let status = p.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .chain(
            status
                .and_then(|s| s.init_container_statuses.as_ref())
                .into_iter()
                .flatten(),
        )
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let state = waiting.or_else(|| status.and_then(|s| s.phase.clone()));
    // Environment variables are read when a container starts, not when the pod is scheduled:
    // a pod that waited for its Secret has an old startTime but read the value on arrival.
    let containers = containers_started(status);
    let started = containers
        .or_else(|| status.and_then(|s| s.start_time.as_ref()).map(|t| t.0))
        .map(|t| t.to_string());
    let started_before_change = match (containers, secret_changed) {
        (Some(s), Some(c)) => c.parse::<jiff::Timestamp>().ok().map(|c| s < c),
        _ => None,
    };
    let workload = controller_workload(&p.metadata);
    Some(ConsumerFacts {
        kind: "pod".into(),
        name: crate::sanitize::line(p.metadata.name.as_deref().unwrap_or_default()),
        uses,
        state: state.map(|s| crate::sanitize::line(&s)),
        started,
        started_before_change,
        workload,
        ..ConsumerFacts::default()
    })
}

/// A failing pod state wins over Running / Pending.
fn worst_state<'a>(pods: impl Iterator<Item = &'a ConsumerFacts>) -> Option<String> {
    let mut best: Option<String> = None;
    for p in pods {
        let s = p.state.clone().unwrap_or_default();
        let rank = |s: &str| match s {
            "Running" | "Succeeded" => 0,
            "Pending" | "" => 1,
            _ => 2,
        };
        if best.as_deref().is_none_or(|b| rank(&s) > rank(b)) {
            best = Some(s);
        }
    }
    best.filter(|s| !s.is_empty())
}
