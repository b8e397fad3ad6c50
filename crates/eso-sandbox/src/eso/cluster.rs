//! Cluster-level objects of the simulated ESO: store validation (the `Ready` condition with reasons `Valid` /
//! `InvalidProviderConfig` and the matching events) and ClusterExternalSecrets, which stamp one child
//! ExternalSecret into every selected namespace and overwrite the children's metadata — the reason a
//! `force-sync` annotation on a child is a no-op.

use super::stores::{self, str_at};
use super::{Ctx, events};
use serde_json::{Map, Value, json};

fn now_string() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub async fn reconcile_store(ctx: &Ctx, store: Value) {
    let outcome = stores::validate(ctx, &store).await;
    let (status, reason, message) = match &outcome {
        Ok(()) => ("True", "Valid", "store validated".to_string()),
        Err(_) => (
            "False",
            "InvalidProviderConfig",
            "unable to validate store".to_string(),
        ),
    };
    let previous = store
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned();
    let unchanged = previous
        .as_ref()
        .is_some_and(|p| p["status"] == status && p["reason"] == reason);
    match &outcome {
        Err(e) => {
            events::record(ctx, &store, "Warning", "InvalidProviderConfig", &e.0);
            super::logs::reconcile_failed(&ctx.store, &store, "unable to validate store", &e.0);
        }
        Ok(()) if !unchanged => events::record(ctx, &store, "Normal", "Valid", "store validated"),
        Ok(()) => {}
    }
    if unchanged {
        return;
    }
    let mut current = store;
    let transition = now_string();
    current["status"] = json!({
        "capabilities": "ReadWrite",
        "conditions": [{
            "type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": transition,
        }],
    });
    let _ = ctx.store.replace_status(current);
}

fn selected_namespaces(ctx: &Ctx, ces: &Value) -> Vec<String> {
    let mut out: Vec<String> = ces
        .pointer("/spec/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let mut selectors: Vec<Map<String, Value>> = ces
        .pointer("/spec/namespaceSelectors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("matchLabels").and_then(Value::as_object).cloned())
        .collect();
    if let Some(s) = ces
        .pointer("/spec/namespaceSelector/matchLabels")
        .and_then(Value::as_object)
    {
        selectors.push(s.clone());
    }
    for ns in ctx.store.list("v1", "Namespace", None) {
        let labels = ns
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let name = str_at(&ns, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        if selectors
            .iter()
            .any(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out.sort();
    out
}

fn child_name(ces: &Value) -> String {
    str_at(ces, "/spec/externalSecretName")
        .or_else(|| str_at(ces, "/metadata/name"))
        .unwrap_or_default()
        .to_string()
}

fn desired_metadata(ces: &Value, section: &str) -> Value {
    ces.pointer(&format!("/spec/externalSecretMetadata/{section}"))
        .cloned()
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .unwrap_or(Value::Null)
}

pub fn reconcile_cluster_external_secret(ctx: &Ctx, ces: Value) {
    let name = child_name(&ces);
    let spec = ces
        .pointer("/spec/externalSecretSpec")
        .cloned()
        .unwrap_or(json!({}));
    let namespaces = selected_namespaces(ctx, &ces);
    let mut provisioned = Vec::new();
    let mut failed = Vec::new();
    for ns in &namespaces {
        let mut metadata = json!({
            "name": name, "namespace": ns,
            "ownerReferences": [{
                "apiVersion": ces["apiVersion"], "kind": "ClusterExternalSecret", "name": ces["metadata"]["name"],
                "uid": ces["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        });
        for section in ["labels", "annotations"] {
            let m = desired_metadata(&ces, section);
            if !m.is_null() {
                metadata[section] = m;
            }
        }
        let result = match ctx
            .store
            .get(&ctx.eso_api_version, "ExternalSecret", Some(ns), &name)
        {
            None => ctx
                .store
                .create(json!({
                    "apiVersion": ctx.eso_api_version, "kind": "ExternalSecret",
                    "metadata": metadata, "spec": spec,
                }))
                .map(|_| ()),
            Some(mut child) => {
                let same = child.get("spec") == Some(&spec)
                    && ["labels", "annotations"].iter().all(|s| {
                        child["metadata"].get(*s).cloned().unwrap_or(Value::Null)
                            == metadata.get(*s).cloned().unwrap_or(Value::Null)
                    });
                if same {
                    Ok(())
                } else {
                    child["spec"] = spec.clone();
                    for s in ["labels", "annotations"] {
                        match metadata.get(s) {
                            Some(v) => child["metadata"][s] = v.clone(),
                            None => {
                                if let Some(m) = child["metadata"].as_object_mut() {
                                    m.remove(s);
                                }
                            }
                        }
                    }
                    ctx.store.replace(child).map(|_| ())
                }
            }
        };
        match result {
            Ok(()) => provisioned.push(ns.clone()),
            Err(_) => failed.push(
                json!({"namespace": ns, "reason": "could not create or update ExternalSecret"}),
            ),
        }
    }
    let mut current = ces;
    let ready = failed.is_empty();
    let status = json!({
        "externalSecretName": name,
        "provisionedNamespaces": provisioned,
        "failedNamespaces": failed,
        "conditions": [{
            "type": "Ready", "status": if ready { "True" } else { "False" },
            "message": if ready { "" } else { "one or more namespaces failed" },
        }],
    });
    if current.get("status") != Some(&status) {
        current["status"] = status;
        let _ = ctx.store.replace_status(current);
    }
}

/// True when an ExternalSecret owned by a ClusterExternalSecret carries labels/annotations its parent would
/// overwrite; the parent's reconcile restores them, so the child is not synced in between.
pub fn out_of_date_child(ctx: &Ctx, es: &Value) -> bool {
    let Some(owner) = es
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|o| o.iter().find(|r| r["kind"] == "ClusterExternalSecret"))
    else {
        return false;
    };
    let Some(parent) = ctx.store.get(
        &ctx.eso_api_version,
        "ClusterExternalSecret",
        None,
        owner["name"].as_str().unwrap_or_default(),
    ) else {
        return false;
    };
    let differs = ["labels", "annotations"].iter().any(|s| {
        es["metadata"].get(*s).cloned().unwrap_or(Value::Null) != desired_metadata(&parent, s)
    });
    if differs {
        reconcile_cluster_external_secret(ctx, parent);
    }
    differs
}
