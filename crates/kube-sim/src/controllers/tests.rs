//! The controllers running against a real Store: what a kubectl user would see after creating a
//! namespace, a Deployment, a rollout restart or a deletion.

use std::time::Duration;

use serde_json::{Value, json};

use super::POD_STATE_ANNOTATION;
use crate::Store;

/// Polls `check` until it returns `Some`, failing the test after 5 s with `what`.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..250 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn started() -> (Store, tokio::task::JoinHandle<()>) {
    let store = Store::new("t".to_string());
    let handle = super::spawn(store.clone());
    (store, handle)
}

fn deployment(name: &str, replicas: i64, state: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {POD_STATE_ANNOTATION: state}},
                "spec": {"containers": [{"name": name, "image": format!("registry.internal:5000/{name}:1.4.2")}]}
            }
        }
    })
}

fn create(store: &Store, obj: Value) -> Value {
    match store.create(obj) {
        Ok(v) => v,
        Err(e) => panic!("create failed: {e}"),
    }
}

fn owned_by(store: &Store, api_version: &str, kind: &str, owner_uid: &str) -> Vec<Value> {
    store
        .list(api_version, kind, Some("prod"))
        .into_iter()
        .filter(|o| super::controlled_by(o, owner_uid))
        .collect()
}

fn uid(v: &Value) -> String {
    super::uid_of(v).to_string()
}

fn restart(store: &Store, name: &str) {
    let Some(mut d) = store.get("apps/v1", "Deployment", Some("prod"), name) else {
        panic!("deployment {name} missing");
    };
    d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
        json!("2026-11-22T11:11:23Z");
    if let Err(e) = store.replace(d) {
        panic!("restart failed: {e}");
    }
}

#[tokio::test]
async fn new_namespaces_get_a_default_service_account() {
    let (store, handle) = started();
    create(
        &store,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    );
    eventually("default ServiceAccount", || {
        store.get("v1", "ServiceAccount", Some("team-a"), "default")
    })
    .await;
    handle.abort();
}

#[tokio::test]
async fn deployment_gets_replica_set_running_pods_and_status() {
    let (store, handle) = started();
    let d = create(&store, deployment("web", 2, "Running"));
    let status = eventually("deployment available", || {
        let d = store.get("apps/v1", "Deployment", Some("prod"), "web")?;
        (d.pointer("/status/availableReplicas") == Some(&json!(2))).then(|| d["status"].clone())
    })
    .await;
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["updatedReplicas"], 2);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["conditions"][0]["type"], "Available");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][1]["reason"], "NewReplicaSetAvailable");
    let rss = owned_by(&store, "apps/v1", "ReplicaSet", &uid(&d));
    assert_eq!(rss.len(), 1);
    let rs_name = super::name_of(&rss[0]).to_string();
    let hash = rss[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(rs_name, format!("web-{hash}"));
    let pods = owned_by(&store, "v1", "Pod", &uid(&rss[0]));
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        assert!(super::name_of(pod).starts_with(&format!("{rs_name}-")));
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], json!(hash));
    }
    handle.abort();
}

#[tokio::test]
async fn rollout_restart_replaces_running_pods() {
    let (store, handle) = started();
    let d = create(&store, deployment("web", 1, "Running"));
    eventually("first rollout", || {
        let d = store.get("apps/v1", "Deployment", Some("prod"), "web")?;
        (d.pointer("/status/availableReplicas") == Some(&json!(1))).then_some(())
    })
    .await;
    let first_rs = owned_by(&store, "apps/v1", "ReplicaSet", &uid(&d));
    restart(&store, "web");
    let (new_rs, old_rs) = eventually("second ReplicaSet to take over", || {
        let rss = owned_by(&store, "apps/v1", "ReplicaSet", &uid(&d));
        let old = rss.iter().find(|r| uid(r) == uid(&first_rs[0]))?.clone();
        let new = rss.iter().find(|r| uid(r) != uid(&first_rs[0]))?.clone();
        let done = old["spec"]["replicas"] == 0
            && new.pointer("/status/availableReplicas") == Some(&json!(1));
        done.then_some((new, old))
    })
    .await;
    assert_eq!(
        new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(
        new_rs["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2026-11-22T11:11:23Z"
    );
    eventually("old pods gone", || {
        owned_by(&store, "v1", "Pod", &uid(&old_rs))
            .is_empty()
            .then_some(())
    })
    .await;
    let d = eventually("revision annotation", || {
        let d = store.get("apps/v1", "Deployment", Some("prod"), "web")?;
        (d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2").then_some(d)
    })
    .await;
    assert_eq!(d["metadata"]["generation"], 2);
    handle.abort();
}

#[tokio::test]
async fn restart_of_a_pending_deployment_keeps_the_old_pod_like_recording_49() {
    let (store, handle) = started();
    create(&store, deployment("order-service", 1, "Pending"));
    eventually("first pod", || {
        (store.list("v1", "Pod", Some("prod")).len() == 1).then_some(())
    })
    .await;
    restart(&store, "order-service");
    let pods = eventually("two pods", || {
        let pods = store.list("v1", "Pod", Some("prod"));
        (pods.len() == 2).then_some(pods)
    })
    .await;
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Pending"));
    // Give the controllers time to (wrongly) scale the old ReplicaSet down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.list("v1", "Pod", Some("prod")).len(), 2);
    let d = store
        .get("apps/v1", "Deployment", Some("prod"), "order-service")
        .unwrap_or_default();
    assert_eq!(
        d["status"]["conditions"][0]["reason"],
        "MinimumReplicasUnavailable"
    );
    assert_eq!(d["status"]["unavailableReplicas"], 2);
    assert_eq!(owned_by(&store, "apps/v1", "ReplicaSet", &uid(&d)).len(), 2);
    handle.abort();
}

#[tokio::test]
async fn image_pull_back_off_pods_and_deployment_deletion_cascade() {
    let (store, handle) = started();
    create(&store, deployment("order-service", 1, "ImagePullBackOff"));
    let pod = eventually("pod", || {
        store.list("v1", "Pod", Some("prod")).into_iter().next()
    })
    .await;
    let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "ImagePullBackOff");
    assert_eq!(
        waiting["message"],
        "Back-off pulling image \"registry.internal:5000/order-service:1.4.2\""
    );
    if let Err(e) = store.delete("apps/v1", "Deployment", Some("prod"), "order-service") {
        panic!("delete failed: {e}");
    }
    eventually("ReplicaSets and Pods collected", || {
        (store.list("apps/v1", "ReplicaSet", Some("prod")).is_empty()
            && store.list("v1", "Pod", Some("prod")).is_empty())
        .then_some(())
    })
    .await;
    handle.abort();
}

#[tokio::test]
async fn garbage_collection_keeps_objects_with_another_live_owner() {
    let (store, handle) = started();
    let a = create(
        &store,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}}),
    );
    let b = create(
        &store,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "prod"}}),
    );
    let owner = |o: &Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": super::name_of(o), "uid": uid(o)});
    create(
        &store,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "only-a", "namespace": "prod", "ownerReferences": [owner(&a)]}}),
    );
    create(
        &store,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a-and-b", "namespace": "prod", "ownerReferences": [owner(&a), owner(&b)]}}),
    );
    // Let the controllers see the ownerReferences before the owner goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Err(e) = store.delete("v1", "ConfigMap", Some("prod"), "a") {
        panic!("delete failed: {e}");
    }
    eventually("dependent collected", || {
        store
            .get("v1", "Secret", Some("prod"), "only-a")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(store.get("v1", "Secret", Some("prod"), "a-and-b").is_some());
    handle.abort();
}

#[tokio::test]
async fn stateful_sets_and_daemon_sets_get_a_status() {
    let (store, handle) = started();
    let mut sts = deployment("db", 3, "Running");
    sts["kind"] = json!("StatefulSet");
    create(&store, sts);
    let mut ds = deployment("agent", 1, "CrashLoopBackOff");
    ds["kind"] = json!("DaemonSet");
    create(&store, ds);
    let sts = eventually("statefulset status", || {
        let s = store.get("apps/v1", "StatefulSet", Some("prod"), "db")?;
        s.pointer("/status/readyReplicas").is_some().then_some(s)
    })
    .await;
    assert_eq!(sts["status"]["readyReplicas"], 3);
    let ds = eventually("daemonset status", || {
        let s = store.get("apps/v1", "DaemonSet", Some("prod"), "agent")?;
        s.pointer("/status/desiredNumberScheduled")
            .is_some()
            .then_some(s)
    })
    .await;
    assert_eq!(ds["status"]["numberReady"], 0);
    assert_eq!(ds["status"]["numberUnavailable"], 1);
    handle.abort();
}

#[tokio::test]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let (store, handle) = started();
    let mut d = deployment("order-service", 1, "ImagePullBackOff");
    d["spec"]["progressDeadlineSeconds"] = json!(1);
    create(&store, d);
    let progressing = eventually("ProgressDeadlineExceeded", || {
        let d = store.get("apps/v1", "Deployment", Some("prod"), "order-service")?;
        let conditions = d.pointer("/status/conditions")?.as_array()?.clone();
        let p = conditions
            .into_iter()
            .find(|c| c["type"] == "Progressing")?;
        (p["reason"] == "ProgressDeadlineExceeded").then_some(p)
    })
    .await;
    assert_eq!(progressing["status"], "False");
    let message = progressing["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("ReplicaSet \"order-service-")
            && message.ends_with("\" has timed out progressing."),
        "{message}"
    );
    handle.abort();
}
