//! The simulated kube-controller-manager (plus the kubelet's pod status), kept minimal.
//!
//! kubectl users take a few controllers for granted: the `default` ServiceAccount in a new namespace,
//! Deployment -> ReplicaSet -> Pods with a status that reflects the pods, and owner-reference garbage
//! collection. One task subscribes to every Store change and reacts to it; every write is made only
//! when it changes something, so the loop settles. Namespace contents are deleted by the Store itself.

mod gc;
mod pods;
#[cfg(test)]
mod tests;
mod workloads;

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::Store;
use crate::store::{EventKind, WatchEvent};

pub use pods::{POD_MESSAGE_ANNOTATION, POD_STATE_ANNOTATION, PodState};

/// Starts the controllers on the current tokio runtime; they stop when the Store's channel closes
/// (or when the handle is aborted).
pub fn spawn(store: Store) -> tokio::task::JoinHandle<()> {
    // Subscribe before the task starts so nothing written right after `spawn` returns is missed.
    let mut rx = store.subscribe();
    tokio::spawn(async move {
        let mut controllers = Controllers::new(store);
        controllers.resync();
        // Progress deadlines expire with time, not with an event.
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Ok(event) => controllers.handle(&event),
                    // Events were dropped: rebuild everything from the Store's current state.
                    Err(RecvError::Lagged(_)) => controllers.resync(),
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    for (ns, name) in workloads::rollouts_in_progress(&controllers.store) {
                        workloads::reconcile_deployment(&controllers.store, &ns, &name);
                    }
                }
            }
        }
    })
}

/// State the controllers keep between events.
struct Controllers {
    store: Store,
    /// uids that some object names in its ownerReferences: only their deletion needs a GC pass.
    owner_uids: HashSet<String>,
    /// Pod uid -> the pod-state annotation last turned into a status, so a status written by a
    /// scenario through `replace_status` is not overwritten until the annotation changes.
    applied_pod_state: HashMap<String, String>,
}

impl Controllers {
    fn new(store: Store) -> Self {
        Self {
            store,
            owner_uids: HashSet::new(),
            applied_pod_state: HashMap::new(),
        }
    }

    fn resync(&mut self) {
        self.owner_uids = gc::all_owner_uids(&self.store);
        for ns in self.store.list("v1", "Namespace", None) {
            gc::ensure_default_service_account(&self.store, name_of(&ns));
        }
        for pod in self.store.list("v1", "Pod", None) {
            pods::sync_pod_status(&self.store, &pod, &mut self.applied_pod_state);
        }
        for rs in self.store.list("apps/v1", "ReplicaSet", None) {
            workloads::reconcile_replica_set(&self.store, namespace_of(&rs), name_of(&rs));
        }
        for d in self.store.list("apps/v1", "Deployment", None) {
            workloads::reconcile_deployment(&self.store, namespace_of(&d), name_of(&d));
        }
        for kind in ["StatefulSet", "DaemonSet"] {
            for obj in self.store.list("apps/v1", kind, None) {
                workloads::sync_simple_workload_status(&self.store, &obj);
            }
        }
    }

    fn handle(&mut self, event: &WatchEvent) {
        let obj = &event.object;
        if event.kind == EventKind::Deleted {
            if let Some(uid) = crate::value_at(obj, "/metadata/uid").and_then(Value::as_str)
                && self.owner_uids.remove(uid)
            {
                gc::delete_dependents(&self.store, obj, uid);
            }
            if event.object_kind == "Pod"
                && let Some(uid) = crate::value_at(obj, "/metadata/uid").and_then(Value::as_str)
            {
                self.applied_pod_state.remove(uid);
            }
        } else {
            for owner in owner_references(obj) {
                if let Some(uid) = owner.get("uid").and_then(Value::as_str) {
                    self.owner_uids.insert(uid.to_string());
                }
            }
        }
        let group = event
            .api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("");
        let (ns, name) = (namespace_of(obj), name_of(obj));
        match (group, event.object_kind.as_str(), event.kind) {
            ("", "Namespace", EventKind::Added) => {
                gc::ensure_default_service_account(&self.store, name)
            }
            ("", "Pod", kind) => {
                if kind != EventKind::Deleted {
                    pods::sync_pod_status(&self.store, obj, &mut self.applied_pod_state);
                }
                if let Some(rs) = controller_of(obj, "ReplicaSet") {
                    workloads::reconcile_replica_set(&self.store, ns, &rs);
                }
            }
            ("apps", "ReplicaSet", kind) => {
                if kind != EventKind::Deleted {
                    workloads::reconcile_replica_set(&self.store, ns, name);
                }
                if let Some(d) = controller_of(obj, "Deployment") {
                    workloads::reconcile_deployment(&self.store, ns, &d);
                }
            }
            ("apps", "Deployment", EventKind::Added | EventKind::Modified) => {
                workloads::reconcile_deployment(&self.store, ns, name);
            }
            ("apps", "StatefulSet" | "DaemonSet", EventKind::Added | EventKind::Modified) => {
                workloads::sync_simple_workload_status(&self.store, obj);
            }
            _ => {}
        }
    }
}

fn name_of(obj: &Value) -> &str {
    crate::value_at(obj, "/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn namespace_of(obj: &Value) -> &str {
    crate::value_at(obj, "/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn uid_of(obj: &Value) -> &str {
    crate::value_at(obj, "/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn owner_references(obj: &Value) -> &[Value] {
    crate::value_at(obj, "/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The name of the controlling owner of `kind`, if any.
fn controller_of(obj: &Value, kind: &str) -> Option<String> {
    owner_references(obj)
        .iter()
        .find(|o| {
            o.get("controller").and_then(Value::as_bool) == Some(true)
                && o.get("kind").and_then(Value::as_str) == Some(kind)
        })
        .and_then(|o| o.get("name").and_then(Value::as_str).map(str::to_string))
}

/// Is `obj` controlled by the object with this uid?
fn controlled_by(obj: &Value, uid: &str) -> bool {
    owner_references(obj).iter().any(|o| {
        o.get("controller").and_then(Value::as_bool) == Some(true)
            && o.get("uid").and_then(Value::as_str) == Some(uid)
    })
}

/// An ownerReference naming `owner` as controller, as kube-controller-manager writes it.
fn controller_reference(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!([{
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn now_rfc3339() -> String {
    crate::auth::rfc3339(jiff::Timestamp::now().as_second())
}
