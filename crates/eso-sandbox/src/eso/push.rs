//! The simulated ESO's PushSecret controller (issue 14), minimal but with ESO's observable
//! behaviour: read the source Secret (`could not get source secret`), find each named store,
//! check each `data[].match.secretKey` exists (`secret key X does not exist`), write each remote
//! key to Vault with the store's own identity (`set secret failed: could not write remote ref …`),
//! then set `Ready` with reason `Synced` / `Errored` and record the same-named Event. Only Vault
//! stores and stores named by `name` are served; anything else fails with a message saying so.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::events;
use super::provider::{self, ProviderError};
use super::stores::{self, Provider, str_at};

pub const API_VERSION: &str = "external-secrets.io/v1alpha1";

pub async fn reconcile(ctx: &Ctx, ps: Value) {
    let now = jiff::Timestamp::now();
    match push(ctx, &ps).await {
        Ok(()) => {
            let msg = "PushSecret synced successfully";
            events::record(ctx, &ps, "Normal", "Synced", msg);
            write_status(ctx, &ps, true, "Synced", msg, now);
        }
        Err(msg) => {
            events::record(ctx, &ps, "Warning", "Errored", &msg);
            write_status(ctx, &ps, false, "Errored", &msg, now);
        }
    }
}

async fn push(ctx: &Ctx, ps: &Value) -> Result<(), String> {
    let ns = str_at(ps, "/metadata/namespace").unwrap_or_default();
    let source = str_at(ps, "/spec/selector/secret/name").unwrap_or_default();
    let secret = ctx
        .store
        .get("v1", "Secret", Some(ns), source)
        .ok_or_else(|| "could not get source secret".to_string())?;
    let refs = ps
        .pointer("/spec/secretStoreRefs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for r in refs {
        let kind = str_at(&r, "/kind").unwrap_or("SecretStore");
        let Some(name) = str_at(&r, "/name") else {
            return Err("the sandbox serves only secretStoreRefs by name".into());
        };
        let store = if kind == "ClusterSecretStore" {
            ctx.store.get(&ctx.eso_api_version, kind, None, name)
        } else {
            ctx.store.get(&ctx.eso_api_version, kind, Some(ns), name)
        };
        let plural = if kind == "ClusterSecretStore" {
            "clustersecretstores"
        } else {
            "secretstores"
        };
        let store = store.ok_or_else(|| {
            format!(
                "could not get {kind} \"{name}\", {plural}.external-secrets.io \"{name}\" not found"
            )
        })?;
        to_store(ctx, ps, &secret, &store, ns, name)
            .await
            .map_err(|e| format!("set secret failed: {e}"))?;
    }
    Ok(())
}

async fn to_store(
    ctx: &Ctx,
    ps: &Value,
    secret: &Value,
    store: &Value,
    ns: &str,
    store_name: &str,
) -> Result<(), String> {
    let provider = stores::resolve(ctx, store, ns).map_err(|e: ProviderError| e.0)?;
    let Provider::Vault {
        server,
        mount,
        kv_version,
        ..
    } = &provider
    else {
        return Err("the sandbox pushes only to Vault stores".into());
    };
    let token = ctx.session(store, &provider).await.map_err(|e| e.0)?;
    for d in ps
        .pointer("/spec/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(d, "/match/secretKey").unwrap_or_default();
        let remote = str_at(d, "/match/remoteRef/remoteKey").unwrap_or_default();
        let property = str_at(d, "/match/remoteRef/property").unwrap_or(key);
        let Some(b64) = secret
            .pointer(&format!("/data/{key}"))
            .and_then(Value::as_str)
        else {
            return Err(format!("secret key {key} does not exist"));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
        let mut fields = Map::new();
        fields.insert(
            property.to_string(),
            json!(String::from_utf8_lossy(&bytes).into_owned()),
        );
        if let Err(e) =
            provider::vault_write(&ctx.http, server, &token, mount, kv_version, remote, fields)
                .await
        {
            ctx.forget_session(store);
            return Err(format!(
                "could not write remote ref {key} to target secretstore {store_name}: {}",
                e.0
            ));
        }
    }
    Ok(())
}

fn write_status(
    ctx: &Ctx,
    ps: &Value,
    ok: bool,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) {
    let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    for _ in 0..5 {
        let Some(mut current) = ctx.store.get(
            API_VERSION,
            "PushSecret",
            str_at(ps, "/metadata/namespace"),
            str_at(ps, "/metadata/name").unwrap_or_default(),
        ) else {
            return;
        };
        let wanted = if ok { "True" } else { "False" };
        let previous = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        if previous.as_ref().is_some_and(|p| {
            p["status"] == wanted && p["reason"] == reason && p["message"] == message
        }) {
            return;
        }
        let transition = match &previous {
            Some(p) if p["status"] == wanted => p["lastTransitionTime"].clone(),
            _ => json!(stamp),
        };
        let mut status = json!({"conditions": [{
            "type": "Ready", "status": wanted, "reason": reason, "message": message,
            "lastTransitionTime": transition
        }]});
        if ok {
            status["refreshTime"] = json!(stamp);
        }
        current["status"] = status;
        if ctx.store.replace_status(current).is_ok() {
            return;
        }
    }
}
