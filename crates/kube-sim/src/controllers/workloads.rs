//! Deployment and ReplicaSet controllers, after kube-controller-manager's.
//!
//! A Deployment owns one ReplicaSet per pod template (named `<deployment>-<pod-template-hash>`, the
//! hash encoded like kube's), a ReplicaSet owns its Pods. Rolling updates follow the real arithmetic
//! (maxSurge rounds up, maxUnavailable down; unhealthy old pods go first; old available pods stay until
//! new ones are available), so `kubectl rollout restart` leaves the old pod next to a Pending new one,
//! exactly like recording 49. StatefulSets and DaemonSets only get a status.

use serde_json::{Map, Value, json};

use super::pods::{self, POD_STATE_ANNOTATION, PodState};
use super::{controlled_by, name_of, now_rfc3339, uid_of};
use crate::Store;

const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const HASH_LABEL: &str = "pod-template-hash";

fn int_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn replicas_spec(v: &Value) -> i64 {
    v.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Serialises JSON with object keys sorted, so the hash does not depend on map ordering.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// kube's `ComputeHash`: FNV-32a of the template, its decimal form mapped through `SafeEncodeString`.
pub(super) fn pod_template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut text = String::new();
    canonical(template, &mut text);
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// An int-or-percent of `total` (`maxSurge` rounds up, `maxUnavailable` down).
fn scaled_value(v: Option<&Value>, default_percent: i64, total: i64, round_up: bool) -> i64 {
    let percent = |p: i64| {
        if round_up {
            (p * total + 99) / 100
        } else {
            p * total / 100
        }
    };
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0).max(0),
        Some(Value::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse().ok())
            .map(percent)
            .unwrap_or(0),
        _ => percent(default_percent),
    }
}

/// (maxSurge, maxUnavailable) of a Deployment, resolved against its replicas.
fn surge_and_unavailable(d: &Value, desired: i64) -> (i64, i64) {
    if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return (0, desired);
    }
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let surge = scaled_value(ru.and_then(|r| r.get("maxSurge")), 25, desired, true);
    let unavailable = scaled_value(ru.and_then(|r| r.get("maxUnavailable")), 25, desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn new_replica_set(
    d: &Value,
    name: &str,
    hash: &str,
    replicas: i64,
    revision: i64,
    max_surge: i64,
) -> Value {
    let desired = replicas_spec(d);
    let mut template = d
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut selector = d
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": super::namespace_of(d),
            "labels": labels,
            "annotations": {
                DESIRED: desired.to_string(),
                MAX: (desired + max_surge).to_string(),
                REVISION: revision.to_string(),
            },
            "ownerReferences": super::controller_reference(d, "apps/v1", "Deployment"),
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    })
}

/// Brings a Deployment's ReplicaSets to where a rolling update would take them, then writes its status.
pub(super) fn reconcile_deployment(store: &Store, ns: &str, name: &str) {
    let Some(d) = store.get("apps/v1", "Deployment", Some(ns), name) else {
        return;
    };
    if is_deleting(&d) {
        return;
    }
    let uid = uid_of(&d).to_string();
    let desired = replicas_spec(&d);
    let (max_surge, max_unavailable) = surge_and_unavailable(&d, desired);
    let hash = pod_template_hash(d.pointer("/spec/template").unwrap_or(&Value::Null));
    let new_name = format!("{name}-{hash}");
    let mut owned: Vec<Value> = store
        .list("apps/v1", "ReplicaSet", Some(ns))
        .into_iter()
        .filter(|rs| controlled_by(rs, &uid))
        .collect();
    owned.sort_by(|a, b| {
        let ts = |v: &Value| {
            v.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        ts(a).cmp(&ts(b)).then_with(|| name_of(a).cmp(name_of(b)))
    });
    let max_revision = owned.iter().map(revision).max().unwrap_or(0);
    let all_replicas: i64 = owned.iter().map(replicas_spec).sum();

    let mut new_rs = match owned.iter().position(|rs| name_of(rs) == new_name) {
        Some(i) => owned.remove(i),
        None => {
            if store
                .get("apps/v1", "ReplicaSet", Some(ns), &new_name)
                .is_some()
            {
                // A ReplicaSet of that name belongs to someone else; the real controller bumps
                // collisionCount, the simulation just leaves it alone.
                return;
            }
            let room = (desired + max_surge - all_replicas).max(0);
            let initial = if owned.is_empty() {
                desired
            } else {
                room.min(desired)
            };
            let rs = new_replica_set(&d, &new_name, &hash, initial, max_revision + 1, max_surge);
            match store.create(rs) {
                Ok(created) => created,
                Err(_) => return,
            }
        }
    };
    if revision(&new_rs) < max_revision || revision(&new_rs) == 0 {
        // A rollback to an older template makes its ReplicaSet the newest revision again.
        new_rs["metadata"]["annotations"][REVISION] = json!((max_revision + 1).to_string());
        if let Ok(updated) = store.replace(new_rs.clone()) {
            new_rs = updated;
        }
    }
    let old = owned;
    let all_replicas: i64 = replicas_spec(&new_rs) + old.iter().map(replicas_spec).sum::<i64>();

    // Scale the new ReplicaSet up within maxSurge.
    let current_new = replicas_spec(&new_rs);
    let new_target = if current_new >= desired {
        desired
    } else {
        (current_new + (desired + max_surge - all_replicas).max(0)).min(desired)
    };

    // Scale old ReplicaSets down without dropping below minAvailable (unhealthy pods first).
    let min_available = desired - max_unavailable;
    let new_unavailable = (current_new - int_at(&new_rs, "/status/availableReplicas")).max(0);
    let mut old_targets: Vec<i64> = old.iter().map(replicas_spec).collect();
    let mut budget = all_replicas - min_available - new_unavailable;
    for (rs, target) in old.iter().zip(old_targets.iter_mut()) {
        if budget <= 0 {
            break;
        }
        let unhealthy = (*target - int_at(rs, "/status/availableReplicas")).max(0);
        let cut = unhealthy.min(budget);
        *target -= cut;
        budget -= cut;
    }
    let available: i64 = int_at(&new_rs, "/status/availableReplicas")
        + old
            .iter()
            .map(|rs| int_at(rs, "/status/availableReplicas"))
            .sum::<i64>();
    let mut budget = available - min_available;
    for target in old_targets.iter_mut() {
        if budget <= 0 {
            break;
        }
        let cut = (*target).min(budget);
        *target -= cut;
        budget -= cut;
    }

    let mut all = Vec::with_capacity(old.len() + 1);
    all.push(scale(store, new_rs, new_target, desired, max_surge));
    for (rs, target) in old.into_iter().zip(old_targets) {
        all.push(scale(store, rs, target, desired, max_surge));
    }
    write_deployment_status(store, d, &all, desired, max_unavailable);
}

/// Sets a ReplicaSet's replicas (and the annotations the Deployment controller keeps on it).
fn scale(store: &Store, mut rs: Value, replicas: i64, desired: i64, max_surge: i64) -> Value {
    let annotations_current = rs
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DESIRED))
        .and_then(Value::as_str)
        == Some(desired.to_string().as_str());
    if replicas_spec(&rs) == replicas && annotations_current {
        return rs;
    }
    rs["spec"]["replicas"] = json!(replicas);
    rs["metadata"]["annotations"][DESIRED] = json!(desired.to_string());
    rs["metadata"]["annotations"][MAX] = json!((desired + max_surge).to_string());
    // On a conflict the ReplicaSet's own Modified event brings the Deployment back here.
    store.replace(rs.clone()).unwrap_or(rs)
}

fn deployment_condition(
    old: Option<&Value>,
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old
        .and_then(|conds| conds.as_array())
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let same = |c: &&Value| c["status"] == status;
    let unchanged =
        previous.filter(|c| same(c) && c["reason"] == reason && c["message"] == message);
    let transition = previous
        .filter(same)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let update = unchanged
        .and_then(|c| c.get("lastUpdateTime").cloned())
        .unwrap_or_else(|| json!(now));
    json!({
        "type": kind, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition,
        "reason": reason, "message": message,
    })
}

/// Progressing: (ok, reason, message). A rollout that has not completed within
/// `spec.progressDeadlineSeconds` of its last progress turns False, which `kubectl rollout status`
/// reports as "exceeded its progress deadline".
fn progress_condition(
    d: &Value,
    old_conditions: Option<&Value>,
    complete: bool,
    rs_name: &str,
) -> (bool, &'static str, String) {
    if complete {
        let message = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
        return (true, "NewReplicaSetAvailable", message);
    }
    let progressing = format!("ReplicaSet \"{rs_name}\" is progressing.");
    let timed_out = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
    let previous = old_conditions
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    let field = |k: &str| previous.and_then(|c| c.get(k)).and_then(Value::as_str);
    let deadline = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600);
    let since_update = field("lastUpdateTime")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| jiff::Timestamp::now().as_second() - t.as_second());
    let expired = field("reason") == Some("ReplicaSetUpdated")
        && field("message") == Some(progressing.as_str())
        && since_update.is_some_and(|s| s >= deadline);
    let still_expired = field("reason") == Some("ProgressDeadlineExceeded")
        && field("message") == Some(timed_out.as_str());
    if expired || still_expired {
        (false, "ProgressDeadlineExceeded", timed_out)
    } else {
        (true, "ReplicaSetUpdated", progressing)
    }
}

/// Deployments whose rollout is still running, so the deadline check can run on a clock tick.
pub(super) fn rollouts_in_progress(store: &Store) -> Vec<(String, String)> {
    store
        .list("apps/v1", "Deployment", None)
        .into_iter()
        .filter(|d| {
            d.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Progressing" && c["reason"] == "ReplicaSetUpdated")
                })
        })
        .map(|d| (super::namespace_of(&d).to_string(), name_of(&d).to_string()))
        .collect()
}

fn write_deployment_status(
    store: &Store,
    mut d: Value,
    rss: &[Value],
    desired: i64,
    max_unavailable: i64,
) {
    let Some(new_rs) = rss.first() else {
        return;
    };
    let sum = |p: &str| rss.iter().map(|rs| int_at(rs, p)).sum::<i64>();
    let replicas = sum("/status/replicas");
    let updated = int_at(new_rs, "/status/replicas");
    let ready = sum("/status/readyReplicas");
    let available = sum("/status/availableReplicas");
    let total_spec: i64 = rss.iter().map(replicas_spec).sum();
    let unavailable = (total_spec - available).max(0);
    let now = now_rfc3339();
    let old_conditions = d.pointer("/status/conditions").cloned();
    let min_ok = available >= desired - max_unavailable;
    let available_condition = if min_ok {
        (
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let complete = updated == desired && replicas == desired && available == desired;
    let progress = progress_condition(&d, old_conditions.as_ref(), complete, name_of(new_rs));
    let mut status = Map::new();
    status.insert(
        "observedGeneration".into(),
        json!(int_at(&d, "/metadata/generation")),
    );
    for (key, value) in [
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    ] {
        // Zero counts are omitted on the wire (Go's omitempty).
        if value != 0 {
            status.insert(key.into(), json!(value));
        }
    }
    status.insert(
        "conditions".into(),
        json!([
            deployment_condition(
                old_conditions.as_ref(),
                "Available",
                min_ok,
                available_condition.0,
                available_condition.1,
                &now
            ),
            deployment_condition(
                old_conditions.as_ref(),
                "Progressing",
                progress.0,
                progress.1,
                &progress.2,
                &now
            ),
        ]),
    );
    let new_revision = revision(new_rs).to_string();
    let current_revision = d
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str);
    if current_revision != Some(new_revision.as_str()) {
        d["metadata"]["annotations"][REVISION] = json!(new_revision);
        match store.replace(d.clone()) {
            Ok(updated) => d = updated,
            Err(_) => return,
        }
    }
    let status = Value::Object(status);
    if d.get("status") != Some(&status) {
        d["status"] = status;
        let _ = store.replace_status(d);
    }
}

/// Creates or deletes Pods until the ReplicaSet has `spec.replicas` of them, then writes its status.
pub(super) fn reconcile_replica_set(store: &Store, ns: &str, name: &str) {
    let Some(rs) = store.get("apps/v1", "ReplicaSet", Some(ns), name) else {
        return;
    };
    if is_deleting(&rs) {
        return;
    }
    let uid = uid_of(&rs).to_string();
    let desired = replicas_spec(&rs);
    let list_pods = || -> Vec<Value> {
        store
            .list("v1", "Pod", Some(ns))
            .into_iter()
            .filter(|p| controlled_by(p, &uid) && !is_deleting(p))
            .collect()
    };
    let mut pods = list_pods();
    let count = i64::try_from(pods.len()).unwrap_or(i64::MAX);
    if count < desired {
        for _ in count..desired {
            // A name clash with an existing pod is astronomically rare; the next event retries.
            let _ = store.create(pods::pod_from_template(&rs));
        }
        pods = list_pods();
    } else if count > desired {
        // Like the real controller: not-ready pods go first, then the newest.
        pods.sort_by(|a, b| {
            let created = |v: &Value| {
                v.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            pods::is_ready(a)
                .cmp(&pods::is_ready(b))
                .then_with(|| created(b).cmp(&created(a)))
        });
        let extra = usize::try_from(count - desired).unwrap_or(0);
        for pod in pods.iter().take(extra) {
            let _ = store.delete("v1", "Pod", Some(ns), name_of(pod));
        }
        pods = list_pods();
    }
    let n = i64::try_from(pods.len()).unwrap_or(i64::MAX);
    let ready = i64::try_from(pods.iter().filter(|p| pods::is_ready(p)).count()).unwrap_or(0);
    let mut status = Map::new();
    status.insert("replicas".into(), json!(n));
    for (key, value) in [
        ("fullyLabeledReplicas", n),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
    ] {
        if value != 0 {
            status.insert(key.into(), json!(value));
        }
    }
    status.insert(
        "observedGeneration".into(),
        json!(int_at(&rs, "/metadata/generation")),
    );
    let status = Value::Object(status);
    if rs.get("status") != Some(&status) {
        let mut rs = rs;
        rs["status"] = status;
        let _ = store.replace_status(rs);
    }
}

/// StatefulSets and DaemonSets get the status their pods would give them, without the pods.
pub(super) fn sync_simple_workload_status(store: &Store, obj: &Value) {
    if is_deleting(obj) {
        return;
    }
    let state = PodState::from_annotation(
        obj.pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(POD_STATE_ANNOTATION))
            .and_then(Value::as_str),
    );
    let healthy = state == PodState::Running;
    let generation = int_at(obj, "/metadata/generation");
    let mut status = Map::new();
    let mut put = |k: &str, v: Value| {
        status.insert(k.to_string(), v);
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind == "DaemonSet" {
        // One simulated node.
        let ready = i64::from(healthy);
        put("currentNumberScheduled", json!(1));
        put("numberMisscheduled", json!(0));
        put("desiredNumberScheduled", json!(1));
        put("numberReady", json!(ready));
        put("observedGeneration", json!(generation));
        put("updatedNumberScheduled", json!(1));
        if ready > 0 {
            put("numberAvailable", json!(ready));
        } else {
            put("numberUnavailable", json!(1));
        }
    } else {
        let replicas = replicas_spec(obj);
        let ready = if healthy { replicas } else { 0 };
        let revision = format!(
            "{}-{}",
            name_of(obj),
            pod_template_hash(obj.pointer("/spec/template").unwrap_or(&Value::Null))
        );
        put("observedGeneration", json!(generation));
        put("replicas", json!(replicas));
        if ready > 0 {
            put("readyReplicas", json!(ready));
        }
        put("currentReplicas", json!(replicas));
        put("updatedReplicas", json!(replicas));
        put("currentRevision", json!(revision));
        put("updateRevision", json!(revision));
        put("collisionCount", json!(0));
        put("availableReplicas", json!(ready));
    }
    let status = Value::Object(status);
    if obj.get("status") != Some(&status) {
        let mut updated = obj.clone();
        updated["status"] = status;
        let _ = store.replace_status(updated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_is_kube_alphabet_and_changes_with_the_template() {
        let a = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "a"}]}});
        let mut b = a.clone();
        b["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-11-22T11:11:23Z"});
        let (ha, hb) = (pod_template_hash(&a), pod_template_hash(&b));
        assert_ne!(ha, hb);
        assert_eq!(ha, pod_template_hash(&a.clone()));
        assert!(
            ha.len() >= 6
                && ha
                    .chars()
                    .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{ha}"
        );
    }

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        let d = json!({"spec": {"replicas": 1}});
        assert_eq!(surge_and_unavailable(&d, 1), (1, 0));
        let d = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}}}});
        assert_eq!(surge_and_unavailable(&d, 4), (0, 2));
        let d =
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(surge_and_unavailable(&d, 4), (0, 1));
        let d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        assert_eq!(surge_and_unavailable(&d, 3), (0, 3));
    }
}
