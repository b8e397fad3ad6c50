//! What the simulated ESO controller prints (issue 17): the structured JSON lines real ESO writes through
//! controller-runtime's zap logger (`level`, `ts`, `logger`, `msg`, the object as `{"name","namespace"}`
//! under its kind, `error`), with ESO's own messages ("could not get secret data from provider",
//! "unable to validate store", controller-runtime's "Reconciler error"), appended to the
//! `external-secrets` Deployment's container log that kube-sim serves as `pods/log`.

use kube_sim::Store;
use kube_sim::logs::{LogLine, LogOwner};
use serde_json::{Value, json};

use super::stores::str_at;

/// Where the chart's controller runs (eso-install.yaml).
pub const NAMESPACE: &str = "external-secrets";
pub const DEPLOYMENT: &str = "external-secrets";
pub const CONTAINER: &str = "external-secrets";

/// Append one line to a Deployment's container log, as every one of its pods prints it.
pub fn append(store: &Store, namespace: &str, deployment: &str, container: &str, text: String) {
    append_to(
        store,
        namespace,
        LogOwner::Workload(deployment.to_string()),
        container,
        text,
    );
}

/// Append one line to a pod's (or a workload's) container log.
pub fn append_to(store: &Store, namespace: &str, owner: LogOwner, container: &str, text: String) {
    store.pod_logs().append(
        namespace,
        owner,
        container,
        LogLine {
            time: jiff::Timestamp::now(),
            text,
        },
    );
}

fn epoch_seconds(now: jiff::Timestamp) -> f64 {
    now.as_millisecond() as f64 / 1000.0
}

fn object_ref(obj: &Value) -> Value {
    let mut r = json!({"name": str_at(obj, "/metadata/name").unwrap_or_default()});
    if let Some(ns) = str_at(obj, "/metadata/namespace") {
        r["namespace"] = json!(ns);
    }
    r
}

/// The two lines ESO prints when a reconcile fails: its own error, then controller-runtime's.
pub fn reconcile_failed(store: &Store, obj: &Value, message: &str, error: &str) {
    let kind = str_at(obj, "/kind").unwrap_or("ExternalSecret");
    let now = epoch_seconds(jiff::Timestamp::now());
    let mut own = json!({
        "level": "error", "ts": now, "logger": format!("controllers.{kind}"), "msg": message,
        "error": error,
    });
    own[kind] = object_ref(obj);
    append(store, NAMESPACE, DEPLOYMENT, CONTAINER, own.to_string());
    let mut runtime = json!({
        "level": "error", "ts": now, "msg": "Reconciler error",
        "controller": kind.to_ascii_lowercase(), "controllerGroup": "external-secrets.io",
        "controllerKind": kind,
        "name": str_at(obj, "/metadata/name").unwrap_or_default(),
        "reconcileID": uuid::Uuid::new_v4().to_string(),
        "error": format!("{message}: {error}"),
    });
    runtime[kind] = object_ref(obj);
    if let Some(ns) = str_at(obj, "/metadata/namespace") {
        runtime["namespace"] = json!(ns);
    }
    append(store, NAMESPACE, DEPLOYMENT, CONTAINER, runtime.to_string());
}

/// A successful sync (ESO logs it at debug level; the chart's default `--loglevel=info` hides it, so the
/// sandbox prints only the first line of a healthy controller: its start).
pub fn started(store: &Store) {
    let now = epoch_seconds(jiff::Timestamp::now());
    append(
        store,
        NAMESPACE,
        DEPLOYMENT,
        CONTAINER,
        json!({"level": "info", "ts": now, "logger": "setup", "msg": "starting manager"})
            .to_string(),
    );
}
