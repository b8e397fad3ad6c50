//! Kubernetes Events as ESO's event recorder writes them (core/v1, source component `external-secrets`,
//! aggregated: the same reason and message on the same object bumps `count` and `lastTimestamp`), because
//! the real provider error of a failing ExternalSecret lives only in its `UpdateFailed` event.

use super::Ctx;
use super::stores::str_at;
use kube_sim::Write;
use serde_json::{Value, json};

/// What makes two events the same for aggregation: the object, the reason and the message.
pub type EventKey = (String, String, String);

/// Per namespace, the Events this recorder aggregates into, by [`EventKey`] (like client-go's event
/// correlator cache): recording stays O(1) however many Events a namespace holds (issue 16). A
/// namespace's entry is filled from the cluster the first time it is recorded into, so Events that
/// were there before (scenarios may carry some) are aggregated as before.
#[derive(Default)]
pub struct Recorded {
    namespaces: std::collections::HashMap<String, std::collections::HashMap<EventKey, String>>,
}

fn key_of(event: &Value) -> EventKey {
    let s = |p: &str| str_at(event, p).unwrap_or_default().to_string();
    (s("/involvedObject/uid"), s("/reason"), s("/message"))
}

/// The existing Event to aggregate into, if any (its name and current state).
fn existing(ctx: &Ctx, ns: &str, key: &EventKey) -> Option<Value> {
    let mut recorded = ctx.events.lock().unwrap_or_else(|e| e.into_inner());
    let known = recorded
        .namespaces
        .entry(ns.to_string())
        .or_insert_with(|| {
            let mut known = std::collections::HashMap::new();
            for e in ctx.store.list("v1", "Event", Some(ns)) {
                let name = str_at(&e, "/metadata/name").unwrap_or_default().to_string();
                // The first in name order wins, as the list scan this replaces found it.
                known.entry(key_of(&e)).or_insert(name);
            }
            known
        });
    let name = known.get(key)?.clone();
    let found = ctx.store.get("v1", "Event", Some(ns), &name);
    if found.is_none() {
        known.remove(key);
    }
    found
}

fn remember(ctx: &Ctx, ns: &str, key: EventKey, name: String) {
    let mut recorded = ctx.events.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = recorded.namespaces.get_mut(ns) {
        known.entry(key).or_insert(name);
    }
}

pub fn record(ctx: &Ctx, object: &Value, event_type: &str, reason: &str, message: &str) {
    let ns = str_at(object, "/metadata/namespace")
        .unwrap_or("default")
        .to_string();
    let uid = str_at(object, "/metadata/uid")
        .unwrap_or_default()
        .to_string();
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let key = (uid.clone(), reason.to_string(), message.to_string());
    if let Some(mut event) = existing(ctx, &ns, &key) {
        let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
        event["count"] = json!(count + 1);
        event["lastTimestamp"] = json!(now);
        let _ = ctx.store.submit(Write::Replace, event);
        return;
    }
    let name = format!(
        "{}.{:x}",
        str_at(object, "/metadata/name").unwrap_or("object"),
        uuid::Uuid::new_v4().as_u128() & 0xffff_ffff_ffff_ffff
    );
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {
            "kind": object["kind"], "namespace": object["metadata"]["namespace"], "name": object["metadata"]["name"],
            "uid": uid, "apiVersion": object["apiVersion"], "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "source": {"component": "external-secrets"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": event_type,
        "eventTime": null,
        "reportingComponent": "external-secrets",
        "reportingInstance": "",
    });
    if ctx.store.submit(Write::Create, event).is_ok() {
        remember(ctx, &ns, key, name);
    }
}
