//! Pods: built from a ReplicaSet's template, and given the status a kubelet would write.
//!
//! There is no kubelet here; a scenario chooses each pod's fate with the pod template annotation
//! `sandbox.kubectl-eso.io/pod-state` (optionally `sandbox.kubectl-eso.io/pod-message` to word the
//! waiting message), and the status carries the exact reasons and messages kubelet 1.32 uses, because
//! the product diagnoses pods from those strings.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{name_of, namespace_of, now_rfc3339, uid_of};
use crate::Store;

pub const POD_STATE_ANNOTATION: &str = "sandbox.kubectl-eso.io/pod-state";
pub const POD_MESSAGE_ANNOTATION: &str = "sandbox.kubectl-eso.io/pod-message";
const NODE_NAME: &str = "kube-sim-node";

/// What a scenario can make a pod look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Not scheduled (as on a cluster without nodes, like the recordings).
    Pending,
    Running,
    ImagePullBackOff,
    ErrImagePull,
    CrashLoopBackOff,
    CreateContainerConfigError,
}

impl PodState {
    /// The state an annotation value names; unknown values mean the default, Pending.
    pub fn from_annotation(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("Running") => PodState::Running,
            Some("ImagePullBackOff") => PodState::ImagePullBackOff,
            Some("ErrImagePull") => PodState::ErrImagePull,
            Some("CrashLoopBackOff") => PodState::CrashLoopBackOff,
            Some("CreateContainerConfigError") => PodState::CreateContainerConfigError,
            _ => PodState::Pending,
        }
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    crate::value_at(obj, "/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Is the pod Ready (what ReplicaSets and Deployments count)?
pub(super) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// A pod for `rs`, from its template, with the defaults the API server fills in and its initial status.
pub(super) fn pod_from_template(rs: &Value) -> Value {
    let rs_name = name_of(rs);
    let template = rs
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut metadata = Map::new();
    let name = format!("{rs_name}-{}", random_suffix(5));
    metadata.insert("name".into(), json!(name));
    metadata.insert("generateName".into(), json!(format!("{rs_name}-")));
    metadata.insert("namespace".into(), json!(namespace_of(rs)));
    for key in ["labels", "annotations"] {
        if let Some(v) = template
            .pointer(&format!("/metadata/{key}"))
            .filter(|v| v.is_object())
        {
            metadata.insert(key.into(), v.clone());
        }
    }
    metadata.insert(
        "ownerReferences".into(),
        super::controller_reference(rs, "apps/v1", "ReplicaSet"),
    );
    let mut spec = template
        .get("spec")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    default_pod_spec(&mut spec);
    let state = PodState::from_annotation(annotation(&template, POD_STATE_ANNOTATION));
    if state != PodState::Pending {
        spec["nodeName"] = json!(NODE_NAME);
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let message = annotation(&template, POD_MESSAGE_ANNOTATION).map(str::to_string);
    pod["status"] = pod_status(&pod, state, message.as_deref(), &now_rfc3339());
    pod
}

/// The defaults kube-apiserver writes into every pod spec (recording 49), where the template has none.
fn default_pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("serviceAccountName", json!("default")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
        ("priority", json!(0)),
        ("enableServiceLinks", json!(true)),
        ("preemptionPolicy", json!("PreemptLowerPriority")),
        (
            "tolerations",
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ]),
        ),
    ];
    for (key, value) in defaults {
        map.entry(key).or_insert(value);
    }
    if let Some(sa) = map.get("serviceAccountName").cloned() {
        map.entry("serviceAccount").or_insert(sa);
    }
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let s = |k: &str| {
                        c.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    (s("name"), s("image"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn qos_class(pod: &Value) -> &'static str {
    let has_resources = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                ["limits", "requests"].iter().any(|k| {
                    c.pointer(&format!("/resources/{k}"))
                        .and_then(Value::as_object)
                        .is_some_and(|m| !m.is_empty())
                })
            })
        });
    if has_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// The first Secret the pod's containers reference through env, for CreateContainerConfigError's message.
fn first_referenced_secret(pod: &Value) -> Option<String> {
    let cs = pod.pointer("/spec/containers").and_then(Value::as_array)?;
    cs.iter().find_map(|c| {
        let from_env = c.get("env").and_then(Value::as_array).and_then(|env| {
            env.iter().find_map(|e| {
                e.pointer("/valueFrom/secretKeyRef/name")
                    .and_then(Value::as_str)
            })
        });
        let from_env_from = c.get("envFrom").and_then(Value::as_array).and_then(|ef| {
            ef.iter()
                .find_map(|e| e.pointer("/secretRef/name").and_then(Value::as_str))
        });
        from_env.or(from_env_from).map(str::to_string)
    })
}

fn condition(kind: &str, ok: bool, not_ready: Option<&str>, at: &str) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), json!(kind));
    c.insert("status".into(), json!(if ok { "True" } else { "False" }));
    c.insert("lastProbeTime".into(), Value::Null);
    c.insert("lastTransitionTime".into(), json!(at));
    if let (false, Some(message)) = (ok, not_ready) {
        c.insert("reason".into(), json!("ContainersNotReady"));
        c.insert("message".into(), json!(message));
    }
    Value::Object(c)
}

/// A stable fake digest/container id for an image, so repeated writes compare equal.
fn fake_hex(seed: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The status kubelet would report for `state`. `message` overrides the waiting message.
pub(super) fn pod_status(pod: &Value, state: PodState, message: Option<&str>, now: &str) -> Value {
    let qos = qos_class(pod);
    if state == PodState::Pending {
        return json!({"phase": "Pending", "qosClass": qos});
    }
    let pod_id = format!("{}_{}({})", name_of(pod), namespace_of(pod), uid_of(pod));
    let cs = containers(pod);
    let names: Vec<&str> = cs.iter().map(|(n, _)| n.as_str()).collect();
    let not_ready = format!("containers with unready status: [{}]", names.join(" "));
    let ready = state == PodState::Running;
    let conditions = vec![
        condition("PodReadyToStartContainers", true, None, now),
        condition("Initialized", true, None, now),
        condition("Ready", ready, Some(&not_ready), now),
        condition("ContainersReady", ready, Some(&not_ready), now),
        condition("PodScheduled", true, None, now),
    ];
    let statuses: Vec<Value> = cs
        .iter()
        .map(|(name, image)| {
            let image_id = format!("{}@sha256:{}", image.split(':').next().unwrap_or(image), fake_hex(image));
            let container_id = format!("containerd://{}", fake_hex(&format!("{pod_id}/{name}")));
            let waiting = |reason: &str, default_message: String| {
                json!({"waiting": {"reason": reason, "message": message.map(str::to_string).unwrap_or(default_message)}})
            };
            match state {
                PodState::Running => json!({
                    "name": name, "state": {"running": {"startedAt": now}}, "lastState": {}, "ready": true,
                    "restartCount": 0, "image": image, "imageID": image_id, "containerID": container_id, "started": true,
                }),
                PodState::CrashLoopBackOff => json!({
                    "name": name,
                    "state": waiting("CrashLoopBackOff", format!("back-off 5m0s restarting failed container={name} pod={pod_id}")),
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now, "containerID": container_id}},
                    "ready": false, "restartCount": 5, "image": image, "imageID": image_id, "containerID": container_id, "started": false,
                }),
                PodState::ImagePullBackOff | PodState::ErrImagePull | PodState::CreateContainerConfigError => {
                    let (reason, default_message) = match state {
                        PodState::ImagePullBackOff => ("ImagePullBackOff", format!("Back-off pulling image \"{image}\"")),
                        PodState::ErrImagePull => (
                            "ErrImagePull",
                            format!(
                                "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials"
                            ),
                        ),
                        _ => (
                            "CreateContainerConfigError",
                            match first_referenced_secret(pod) {
                                Some(secret) => format!("secret \"{secret}\" not found"),
                                None => "couldn't find key in the referenced Secret or ConfigMap".to_string(),
                            },
                        ),
                    };
                    json!({
                        "name": name, "state": waiting(reason, default_message), "lastState": {}, "ready": false,
                        "restartCount": 0, "image": image, "imageID": "", "started": false,
                    })
                }
                PodState::Pending => Value::Null,
            }
        })
        .collect();
    let phase = if matches!(state, PodState::Running | PodState::CrashLoopBackOff) {
        "Running"
    } else {
        "Pending"
    };
    let pod_ip = format!(
        "10.244.0.{}",
        fake_hex(uid_of(pod)).bytes().map(u32::from).sum::<u32>() % 250 + 2
    );
    json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": "172.18.0.2",
        "hostIPs": [{"ip": "172.18.0.2"}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "containerStatuses": statuses,
        "qosClass": qos,
    })
}

/// What identifies a status for comparison: phase and each container's state reason.
fn status_signature(status: Option<&Value>) -> (String, Vec<String>) {
    let phase = status
        .and_then(|s| s.get("phase"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let reasons = status
        .and_then(|s| s.get("containerStatuses"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    c.pointer("/state/waiting/reason")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            if c.pointer("/state/running").is_some() {
                                "running".into()
                            } else {
                                String::new()
                            }
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    (phase, reasons)
}

/// Writes the status a pod's annotation asks for, once per annotation value (see `applied`).
pub(super) fn sync_pod_status(store: &Store, pod: &Value, applied: &mut HashMap<String, String>) {
    let uid = uid_of(pod).to_string();
    let Some(wanted) = annotation(pod, POD_STATE_ANNOTATION) else {
        if crate::value_at(pod, "/status/phase").is_none() {
            write_status(store, pod, PodState::Pending, None);
        }
        return;
    };
    if applied.get(&uid).map(String::as_str) == Some(wanted) {
        return;
    }
    let state = PodState::from_annotation(Some(wanted));
    let message = annotation(pod, POD_MESSAGE_ANNOTATION);
    let desired = pod_status(pod, state, message, &now_rfc3339());
    if status_signature(pod.get("status")) != status_signature(Some(&desired)) {
        write_status(store, pod, state, message);
    }
    applied.insert(uid, wanted.to_string());
}

fn write_status(store: &Store, pod: &Value, state: PodState, message: Option<&str>) {
    // A status write takes only the status from what it is given, and the pod's identity and
    // resourceVersion (the rest is the stored pod's): no need to copy the whole pod.
    let mut metadata = Map::new();
    for key in ["name", "namespace", "resourceVersion"] {
        if let Some(v) = pod.get("metadata").and_then(|m| m.get(key)) {
            metadata.insert(key.into(), v.clone());
        }
    }
    let mut updated = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata});
    updated["status"] = pod_status(pod, state, message, &now_rfc3339());
    // A conflict means the pod changed meanwhile; its Modified event brings us back here.
    let _ = store.submit(crate::Write::ReplaceStatus, updated);
}

/// `n` characters from kube's `utilrand` alphabet (no vowels, so no words), for generated names.
pub(super) fn random_suffix(n: usize) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4();
    bytes
        .as_bytes()
        .iter()
        .take(n)
        .map(|b| ALPHANUMS[usize::from(*b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "order-service-abc-xyz12", "namespace": "prod", "uid": "u1"},
            "spec": {"containers": [{
                "name": "order-service",
                "image": "registry.internal:5000/order-service:1.4.2",
                "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}]
            }]}
        })
    }

    #[test]
    fn image_pull_back_off_reads_like_kubelet() {
        let s = pod_status(
            &pod(),
            PodState::ImagePullBackOff,
            None,
            "2026-11-22T11:11:23Z",
        );
        assert_eq!(s["phase"], "Pending");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "ImagePullBackOff");
        assert_eq!(
            c["state"]["waiting"]["message"],
            "Back-off pulling image \"registry.internal:5000/order-service:1.4.2\""
        );
        assert_eq!(c["ready"], false);
        let ready = s["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        assert_eq!(
            ready.as_ref().map(|r| r["reason"].clone()),
            Some(json!("ContainersNotReady"))
        );
        assert_eq!(
            ready.map(|r| r["message"].clone()),
            Some(json!("containers with unready status: [order-service]"))
        );
    }

    #[test]
    fn running_pod_is_ready_and_others_are_not() {
        let mut p = pod();
        p["status"] = pod_status(&p, PodState::Running, None, "2026-11-22T11:11:23Z");
        assert!(is_ready(&p));
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-11-22T11:11:23Z"
        );
        for state in [
            PodState::Pending,
            PodState::CrashLoopBackOff,
            PodState::ErrImagePull,
        ] {
            p["status"] = pod_status(&p, state, None, "2026-11-22T11:11:23Z");
            assert!(!is_ready(&p), "{state:?}");
        }
    }

    #[test]
    fn config_error_names_the_missing_secret_and_message_can_be_overridden() {
        let s = pod_status(&pod(), PodState::CreateContainerConfigError, None, "t");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["message"],
            "secret \"db-creds\" not found"
        );
        let s = pod_status(
            &pod(),
            PodState::ErrImagePull,
            Some("401 Unauthorized"),
            "t",
        );
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["message"],
            "401 Unauthorized"
        );
        let s = pod_status(&pod(), PodState::CrashLoopBackOff, None, "t");
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["containerStatuses"][0]["restartCount"], 5);
    }

    #[test]
    fn template_pods_get_owner_defaults_and_a_kube_style_name() {
        let rs = json!({
            "metadata": {"name": "web-5d4b8c7f9", "namespace": "prod", "uid": "rs-uid"},
            "spec": {"template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {POD_STATE_ANNOTATION: "Running"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}
            }}
        });
        let p = pod_from_template(&rs);
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            name.starts_with("web-5d4b8c7f9-") && name.len() == "web-5d4b8c7f9-".len() + 5,
            "{name}"
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "rs-uid");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(PodState::from_annotation(Some("bogus")), PodState::Pending);
    }
}
