//! A tiny kubelet for the sandbox: pods whose template opts in with `sandbox.kubectl-eso.io/pod-state: kubelet`
//! get the state a real kubelet would give them — CreateContainerConfigError when a Secret they read through
//! env is missing, ImagePullBackOff when their pull secret does not log in to the sandbox registry, Running
//! otherwise — and, like a kubelet, waiting pods are retried, while a running pod keeps the environment it
//! started with. That is what makes the incident scenarios behave like the incidents.

use crate::eso::stores::str_at;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube_sim::{EventKind, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use kube_sim::controllers::POD_STATE_ANNOTATION;
const RETRY_EVERY: Duration = Duration::from_secs(5);

pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn managed(pod: &Value) -> bool {
    str_at(
        pod,
        &format!(
            "/metadata/annotations/{}",
            POD_STATE_ANNOTATION.replace('/', "~1")
        ),
    ) == Some("kubelet")
}

fn waiting(pod: &Value) -> bool {
    pod.pointer("/status/containerStatuses/0/state/waiting")
        .is_some()
        || pod.pointer("/status/containerStatuses").is_none()
}

/// The managed pods that are waiting, by namespace then name (the order the kubelet retries them
/// in). Kept from the watch so that a new Secret costs the pods waiting in its namespace, not
/// every pod there (issue 16: 100,000 Secrets next to 200,000 pods).
#[derive(Default)]
struct Waiting(std::collections::BTreeMap<String, std::collections::BTreeSet<String>>);

impl Waiting {
    /// Every managed waiting pod in the cluster; only pods whose JSON names the annotation are parsed.
    fn scan(store: &Store) -> Self {
        let mut w = Waiting::default();
        for pod in store.list_mentioning("v1", "Pod", None, POD_STATE_ANNOTATION) {
            w.track(&pod);
        }
        w
    }

    fn track(&mut self, pod: &Value) {
        let ns = str_at(pod, "/metadata/namespace").unwrap_or_default();
        let name = str_at(pod, "/metadata/name").unwrap_or_default();
        if managed(pod) && waiting(pod) {
            self.0
                .entry(ns.to_string())
                .or_default()
                .insert(name.to_string());
        } else {
            self.forget(ns, name);
        }
    }

    fn forget(&mut self, ns: &str, name: &str) {
        if let Some(names) = self.0.get_mut(ns) {
            names.remove(name);
            if names.is_empty() {
                self.0.remove(ns);
            }
        }
    }

    fn keys(&self, ns: Option<&str>) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(n, _)| ns.is_none_or(|ns| ns == n.as_str()))
            .flat_map(|(n, names)| names.iter().map(move |name| (n.clone(), name.clone())))
            .collect()
    }
}

/// Retry the tracked waiting pods (of one namespace or all) that are still managed and waiting.
async fn retry(
    store: &Store,
    http: &reqwest::Client,
    registry_host: &str,
    waiting_pods: &Waiting,
    ns: Option<&str>,
) {
    for (ns, name) in waiting_pods.keys(ns) {
        if let Some(pod) = store.get("v1", "Pod", Some(&ns), &name)
            && managed(&pod)
            && waiting(&pod)
        {
            sync_pod(store, http, registry_host, pod).await;
        }
    }
}

impl Kubelet {
    pub fn start(store: Store, http: reqwest::Client, registry_host: String) -> Kubelet {
        let mut events = store.subscribe();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            let mut waiting_pods = Waiting::scan(&store);
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(ev) if ev.object_kind == "Pod" => {
                            if matches!(ev.kind, EventKind::Deleted) {
                                waiting_pods.forget(
                                    str_at(&ev.object, "/metadata/namespace").unwrap_or_default(),
                                    str_at(&ev.object, "/metadata/name").unwrap_or_default(),
                                );
                                continue;
                            }
                            waiting_pods.track(&ev.object);
                            if matches!(ev.kind, EventKind::Added) && managed(&ev.object) {
                                sync_pod(&store, &http, &registry_host, Arc::unwrap_or_clone(ev.object)).await;
                            }
                        }
                        // A kubelet retries waiting containers; a new or changed Secret is what unblocks them.
                        Ok(ev) if ev.object_kind == "Secret" && !matches!(ev.kind, EventKind::Deleted) => {
                            let ns = str_at(&ev.object, "/metadata/namespace").unwrap_or_default().to_string();
                            retry(&store, &http, &registry_host, &waiting_pods, Some(&ns)).await;
                        }
                        // Changes were missed: look at every pod again.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            waiting_pods = Waiting::scan(&store);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        _ => {}
                    },
                    _ = tick.tick() => {
                        retry(&store, &http, &registry_host, &waiting_pods, None).await;
                    }
                }
            }
        });
        Kubelet { task }
    }
}

/// Why a container cannot start, as the kubelet words it.
#[derive(Debug, PartialEq)]
pub enum Blocker {
    Config(String),
    Pull { image: String, detail: String },
}

fn secret(store: &Store, ns: &str, name: &str) -> Option<Value> {
    store.get("v1", "Secret", Some(ns), name)
}

/// Env / envFrom Secret references that cannot be resolved.
pub fn config_blocker(store: &Store, ns: &str, pod: &Value) -> Option<Blocker> {
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for env in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            let Some(r) = env.pointer("/valueFrom/secretKeyRef") else {
                continue;
            };
            if r.get("optional") == Some(&json!(true)) {
                continue;
            }
            let name = r["name"].as_str().unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            match secret(store, ns, name) {
                None => return Some(Blocker::Config(format!("secret \"{name}\" not found"))),
                Some(s)
                    if s.pointer(&format!("/data/{}", key.replace('/', "~1")))
                        .is_none() =>
                {
                    return Some(Blocker::Config(format!(
                        "couldn't find key {key} in Secret {ns}/{name}"
                    )));
                }
                Some(_) => {}
            }
        }
        for from in c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(r) = from.get("secretRef") else {
                continue;
            };
            let name = r["name"].as_str().unwrap_or_default();
            if r.get("optional") != Some(&json!(true)) && secret(store, ns, name).is_none() {
                return Some(Blocker::Config(format!("secret \"{name}\" not found")));
            }
        }
    }
    None
}

/// Basic-auth credentials for `host` from a dockerconfigjson Secret.
fn pull_credentials(secret: &Value, host: &str) -> Option<(String, String)> {
    let raw = secret.pointer("/data/.dockerconfigjson")?.as_str()?;
    let config: Value = serde_json::from_slice(&STANDARD.decode(raw).ok()?).ok()?;
    let entry = config.get("auths")?.get(host)?;
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let decoded = String::from_utf8(STANDARD.decode(auth).ok()?).ok()?;
        let (u, p) = decoded.split_once(':')?;
        return Some((u.to_string(), p.to_string()));
    }
    Some((
        entry.get("username")?.as_str()?.to_string(),
        entry.get("password")?.as_str()?.to_string(),
    ))
}

async fn pull_blocker(
    store: &Store,
    http: &reqwest::Client,
    registry_host: &str,
    ns: &str,
    pod: &Value,
) -> Option<Blocker> {
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let image = c["image"].as_str().unwrap_or_default().to_string();
        if !image.starts_with(&format!("{registry_host}/")) {
            continue;
        }
        let creds = pod
            .pointer("/spec/imagePullSecrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .filter_map(|n| secret(store, ns, n))
            .find_map(|s| pull_credentials(&s, registry_host));
        let mut req = http.get(format!("https://{registry_host}/v2/"));
        if let Some((u, p)) = &creds {
            req = req.basic_auth(u, Some(p));
        }
        let outcome = req.send().await.map(|r| r.status().as_u16());
        match outcome {
            Ok(200) => {}
            Ok(code) => {
                return Some(Blocker::Pull {
                    detail: format!(
                        "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status: {code} Unauthorized"
                    ),
                    image,
                });
            }
            Err(_) => {
                return Some(Blocker::Pull {
                    detail: format!(
                        "failed to pull and unpack image \"{image}\": failed to do request: connection refused"
                    ),
                    image,
                });
            }
        }
    }
    None
}

async fn sync_pod(store: &Store, http: &reqwest::Client, registry_host: &str, pod: Value) {
    let ns = str_at(&pod, "/metadata/namespace")
        .unwrap_or_default()
        .to_string();
    let blocker = match config_blocker(store, &ns, &pod) {
        Some(b) => Some(b),
        None => pull_blocker(store, http, registry_host, &ns, &pod).await,
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let start_time = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(now));
    let (phase, ready, state) = match &blocker {
        None => ("Running", true, json!({"running": {"startedAt": now}})),
        Some(Blocker::Config(msg)) => (
            "Pending",
            false,
            json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}}),
        ),
        Some(Blocker::Pull { image, .. }) => (
            "Pending",
            false,
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}}),
        ),
    };
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": ready, "restartCount": 0,
                "started": ready, "state": state,
            })
        })
        .collect();
    let cond = |t: &str| json!({"type": t, "status": if ready { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    let status = json!({
        "phase": phase,
        "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}],
        "hostIP": "10.0.0.1", "podIP": "10.244.0.10",
        "startTime": start_time,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    });
    if pod.get("status") == Some(&status)
        || pod.pointer("/status/containerStatuses/0/state") == Some(&state)
    {
        return;
    }
    if let Some(Blocker::Pull { image, detail }) = &blocker {
        record_pod_event(
            store,
            &pod,
            "Failed",
            &format!("Failed to pull image \"{image}\": {detail}"),
        );
    }
    let mut updated = pod;
    updated["status"] = status;
    let _ = store.replace_status(updated);
}

fn record_pod_event(store: &Store, pod: &Value, reason: &str, message: &str) {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let _ = store.create(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{}.{:x}", pod["metadata"]["name"].as_str().unwrap_or("pod"), uuid::Uuid::new_v4().as_u128() & 0xffff_ffff), "namespace": pod["metadata"]["namespace"]},
        "involvedObject": {"kind": "Pod", "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
        "reason": reason, "message": message, "type": "Warning",
        "source": {"component": "kubelet", "host": "sandbox-node"},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1, "eventTime": null,
        "reportingComponent": "kubelet", "reportingInstance": "sandbox-node",
    }));
}
