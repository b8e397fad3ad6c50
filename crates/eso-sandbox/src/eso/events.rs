//! Kubernetes Events as ESO's event recorder writes them (core/v1, source component `external-secrets`,
//! aggregated: the same reason and message on the same object bumps `count` and `lastTimestamp`), because
//! the real provider error of a failing ExternalSecret lives only in its `UpdateFailed` event.

use super::Ctx;
use super::stores::str_at;
use serde_json::{Value, json};

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
    let existing = ctx
        .store
        .list("v1", "Event", Some(&ns))
        .into_iter()
        .find(|e| {
            str_at(e, "/involvedObject/uid") == Some(uid.as_str())
                && str_at(e, "/reason") == Some(reason)
                && str_at(e, "/message") == Some(message)
        });
    if let Some(mut event) = existing {
        let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
        event["count"] = json!(count + 1);
        event["lastTimestamp"] = json!(now);
        let _ = ctx.store.replace(event);
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
    let _ = ctx.store.create(event);
}
