//! One ExternalSecret reconcile, following ESO's controller (facts in shared/eso/README.md): decide whether a
//! refresh is due, find the store (flood gate, ClusterSecretStore conditions), fetch every `data[]` /
//! `dataFrom[]` entry from the provider, render the target Secret, and record the outcome exactly where ESO
//! does — status on success; a Warning `UpdateFailed` event with the provider's text on failure, leaving
//! `refreshTime` and `syncedResourceVersion` untouched.

use super::provider::{self, ProviderError};
use super::stores::{self, Provider, str_at};
use super::{Ctx, events, generator, template};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube_sim::Write;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub const MANAGED_LABEL: &str = "reconcile.external-secrets.io/managed";
pub const DATA_HASH_ANNOTATION: &str = "reconcile.external-secrets.io/data-hash";

/// What the controller should do next with this ExternalSecret.
#[derive(Debug, PartialEq)]
pub enum Next {
    RequeueAfter(Duration),
    Retry,
    Done,
}

pub fn hex_digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<generation>-<hash of labels and annotations>`, as ESO's getResourceVersion.
pub fn resource_version_of(es: &Value) -> String {
    let generation = es
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let meta = json!({
        "annotations": es.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
        "labels": es.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
    });
    format!("{generation}-{}", hex_digest(meta.to_string().as_bytes()))
}

/// ESO's Go duration strings ("1h", "1h0m0s", "30m", "0s").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return None,
            }
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    if !num.is_empty() {
        return None;
    }
    // Go cannot hold more than i64::MAX nanoseconds: a longer interval is "invalid duration" to
    // ESO, and `from_secs_f64` would panic on it (issue 18).
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| *d <= Duration::new(9_223_372_036, 854_775_807))
}

pub fn refresh_interval(es: &Value) -> Duration {
    str_at(es, "/spec/refreshInterval")
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(3600))
}

/// ESO's shouldRefresh, with the documented no-ops: CreatedOnce after the first sync, refreshInterval 0 after
/// the first sync. `force` stands for "the refresh interval has elapsed" (used by scenarios to move time on).
pub fn should_refresh(es: &Value, now: jiff::Timestamp, force: bool) -> bool {
    let synced = str_at(es, "/status/syncedResourceVersion").unwrap_or_default();
    let refreshed: Option<jiff::Timestamp> =
        str_at(es, "/status/refreshTime").and_then(|t| t.parse().ok());
    let policy = str_at(es, "/spec/refreshPolicy").unwrap_or("Periodic");
    if synced.is_empty() || refreshed.is_none() {
        return true;
    }
    let interval = refresh_interval(es);
    match policy {
        "CreatedOnce" => false,
        "OnChange" => synced != resource_version_of(es),
        _ => {
            if interval.is_zero() {
                return false;
            }
            if synced != resource_version_of(es) {
                return true;
            }
            // Issue 14: ESO's isPeriodicRefreshAllowedByWindows gates periodic refreshes only.
            if !super::sync_window::periodic_refresh_allowed(es, now) {
                return false;
            }
            if force {
                return true;
            }
            refreshed.is_some_and(|t| {
                jiff::SignedDuration::try_from(interval)
                    .ok()
                    .and_then(|d| t.checked_add(d).ok())
                    .is_some_and(|due| due <= now)
            })
        }
    }
}

/// What ESO writes: `target.manifest.kind` (issue 14: a ConfigMap here), else a Secret.
pub fn target_kind(es: &Value) -> &str {
    str_at(es, "/spec/target/manifest/kind")
        .filter(|k| !k.is_empty())
        .unwrap_or("Secret")
}

/// The reasons ESO gives a `target.manifest` ExternalSecret: `Resource*` instead of `Secret*`.
fn reason(es: &Value, ok: bool) -> &'static str {
    match (target_kind(es) == "Secret", ok) {
        (true, true) => "SecretSynced",
        (true, false) => "SecretSyncedError",
        (false, true) => "ResourceSynced",
        (false, false) => "ResourceSyncedError",
    }
}

/// A rendered Secret turned into the ConfigMap ESO writes for a `target.manifest` ConfigMap:
/// the same keys, values as text, no type.
fn as_config_map(secret: &mut Value) {
    let data: Map<String, Value> = secret
        .get("data")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let raw = STANDARD
                        .decode(v.as_str().unwrap_or_default())
                        .unwrap_or_default();
                    (
                        k.clone(),
                        Value::String(String::from_utf8_lossy(&raw).into_owned()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    secret["kind"] = json!("ConfigMap");
    secret["data"] = Value::Object(data);
    if let Some(o) = secret.as_object_mut() {
        o.remove("type");
    }
}

pub fn target_name(es: &Value) -> String {
    str_at(es, "/spec/target/name")
        .or_else(|| str_at(es, "/metadata/name"))
        .unwrap_or_default()
        .to_string()
}

/// Reconcile one ExternalSecret (already fetched) and write the outcome to the cluster.
pub async fn reconcile(ctx: &Ctx, es: Value, force: bool) -> Next {
    let ns = str_at(&es, "/metadata/namespace")
        .unwrap_or_default()
        .to_string();
    let secret_name = target_name(&es);
    let existing = ctx
        .store
        .get("v1", target_kind(&es), Some(&ns), &secret_name);
    let now = jiff::Timestamp::now();
    if !should_refresh(&es, now, force) && existing.is_some() {
        return Next::RequeueAfter(refresh_interval(&es).max(Duration::from_secs(1)));
    }
    match fetch_and_write(ctx, &es, &ns, &secret_name, existing).await {
        Ok(done) => {
            mark_done(ctx, &es, &secret_name, now, done);
            let interval = refresh_interval(&es);
            if interval.is_zero() || str_at(&es, "/spec/refreshPolicy") == Some("CreatedOnce") {
                Next::Done
            } else {
                Next::RequeueAfter(interval)
            }
        }
        Err((condition_message, err)) => {
            mark_failed(ctx, &es, condition_message, &err.0);
            Next::Retry
        }
    }
}

type Failure = (&'static str, ProviderError);

/// How a sync that did not fail ended. For a `target.manifest` target ESO says so with its own
/// Ready reasons (issue 14) when it deliberately writes nothing: `ResourceDeleted` when the
/// provider returned no data and `deletionPolicy: Delete` made it delete the target,
/// `ResourceMissing` when the target does not exist and `creationPolicy: Merge` forbids creating
/// it. (Secret targets keep ESO 2.9's behaviour modelled here: Merge into a missing Secret fails.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Synced,
    Deleted,
    Missing,
}
const ERR_GET_SECRET_DATA: &str = "could not get secret data from provider";
const ERR_UPDATE_SECRET: &str = "could not update Secret";

async fn fetch_and_write(
    ctx: &Ctx,
    es: &Value,
    ns: &str,
    secret_name: &str,
    existing: Option<Value>,
) -> Result<Done, Failure> {
    let data = fetch_data(ctx, es, ns)
        .await
        .map_err(|e| (ERR_GET_SECRET_DATA, e))?;
    let manifest = target_kind(es) != "Secret";
    let policy = str_at(es, "/spec/target/creationPolicy").unwrap_or("Owner");
    if manifest
        && data.is_empty()
        && str_at(es, "/spec/target/deletionPolicy") == Some("Delete")
        && policy == "Owner"
    {
        if existing.is_some() {
            ctx.store
                .delete("v1", target_kind(es), Some(ns), secret_name)
                .map_err(|e| {
                    (
                        ERR_UPDATE_SECRET,
                        ProviderError(format!("could not delete {}: {e:?}", target_kind(es))),
                    )
                })?;
            events::record(
                ctx,
                es,
                "Normal",
                "Deleted",
                &format!("Deleted {} {secret_name}", target_kind(es)),
            );
        }
        return Ok(Done::Deleted);
    }
    if manifest && policy == "Merge" && existing.is_none() {
        return Ok(Done::Missing);
    }
    let mut desired =
        build_secret(es, ns, secret_name, &data).map_err(|e| (ERR_UPDATE_SECRET, e))?;
    match target_kind(es) {
        "Secret" => {}
        "ConfigMap" => as_config_map(&mut desired),
        other => {
            return Err((
                ERR_UPDATE_SECRET,
                ProviderError(format!(
                    "the sandbox's ESO writes Secrets and ConfigMaps only, not {other}"
                )),
            ));
        }
    }
    write_secret(ctx, es, desired, existing)?;
    Ok(Done::Synced)
}

/// Find a store by reference, applying the flood gate and ClusterSecretStore conditions. `store_ref` is an
/// entry's `sourceRef.storeRef` or the ExternalSecret's `secretStoreRef`.
pub fn find_store(ctx: &Ctx, store_ref: Option<&Value>, ns: &str) -> Result<Value, ProviderError> {
    let field = |k: &str| store_ref.and_then(|r| r.get(k)).and_then(Value::as_str);
    let kind = field("kind")
        .filter(|k| !k.is_empty())
        .unwrap_or("SecretStore");
    let name = field("name").unwrap_or_default();
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
        ProviderError(format!(
            "could not get {kind} \"{name}\", {plural}.external-secrets.io \"{name}\" not found"
        ))
    })?;
    if kind == "ClusterSecretStore" {
        let labels = ctx
            .store
            .get("v1", "Namespace", None, ns)
            .and_then(|n| {
                n.pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
            })
            .unwrap_or_default();
        if !stores::cluster_store_admits(&store, ns, &labels) {
            return Err(ProviderError(format!(
                "using cluster store \"{name}\" is not allowed from namespace \"{ns}\": denied by spec.condition"
            )));
        }
    }
    let ready = store
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True");
    if !ready {
        return Err(ProviderError(format!("{kind} \"{name}\" is not ready")));
    }
    Ok(store)
}

/// Every `dataFrom[]` entry, then every `data[]` entry (ESO's order, so `data[]` wins on a clash), each from
/// its own source: a generator, its `sourceRef.storeRef`, or the ExternalSecret's `secretStoreRef`.
async fn fetch_data(
    ctx: &Ctx,
    es: &Value,
    ns: &str,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let mut sessions = Sessions::default();
    let fetched = fetch_all(ctx, es, ns, &mut sessions).await;
    if fetched.is_err() {
        for (store, _, _) in &sessions.open {
            ctx.forget_session(store);
        }
    }
    fetched
}

/// The stores an ExternalSecret reads from, each logged in once per reconcile.
#[derive(Default)]
struct Sessions {
    open: Vec<(Value, Provider, String)>,
}

impl Sessions {
    async fn get(
        &mut self,
        ctx: &Ctx,
        es: &Value,
        ns: &str,
        entry: &Value,
    ) -> Result<usize, ProviderError> {
        let store_ref = entry
            .pointer("/sourceRef/storeRef")
            .filter(|r| {
                r.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
            })
            .or_else(|| es.pointer("/spec/secretStoreRef"));
        let store = find_store(ctx, store_ref, ns)?;
        let uid = str_at(&store, "/metadata/uid");
        if let Some(i) = self
            .open
            .iter()
            .position(|(s, _, _)| str_at(s, "/metadata/uid") == uid)
        {
            return Ok(i);
        }
        let provider = stores::resolve(ctx, &store, ns)?;
        let session = ctx.session(&store, &provider).await?;
        self.open.push((store, provider, session));
        Ok(self.open.len() - 1)
    }
}

async fn fetch_all(
    ctx: &Ctx,
    es: &Value,
    ns: &str,
    sessions: &mut Sessions,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let mut out = BTreeMap::new();
    let entries = |field: &str| {
        es.pointer(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (i, item) in entries("/spec/dataFrom").iter().enumerate() {
        if let Some(generator_ref) = item.pointer("/sourceRef/generatorRef") {
            out.extend(generator::generate(ctx, ns, generator_ref).await?);
            continue;
        }
        let Some(extract) = item.get("extract") else {
            return Err(ProviderError(format!(
                "error processing spec.dataFrom[{i}]: the sandbox supports extract and generatorRef only"
            )));
        };
        let at = sessions.get(ctx, es, ns, item).await?;
        let (_, provider, session) = &sessions.open[at];
        let map = fetch_map(ctx, provider, session, extract)
            .await
            .map_err(|e| {
                ProviderError(format!(
                    "error processing spec.dataFrom[{i}].extract, err: {e}"
                ))
            })?;
        out.extend(map);
    }
    for (i, item) in entries("/spec/data").iter().enumerate() {
        let secret_key = item
            .get("secretKey")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let remote = item.get("remoteRef").cloned().unwrap_or(Value::Null);
        let key = remote
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // `data[].sourceRef.generatorRef` is not implemented by ESO (deprecated in the CRD): the entry
        // reads from its storeRef or the ExternalSecret's store like any other.
        let at = sessions.get(ctx, es, ns, item).await?;
        let (_, provider, session) = &sessions.open[at];
        let value = fetch_one(ctx, provider, session, &remote)
            .await
            .map_err(|e| {
                ProviderError(format!(
                    "error processing spec.data[{i}] (key: {key}), err: {e}"
                ))
            })?;
        out.insert(secret_key.to_string(), value);
    }
    Ok(out)
}

async fn fetch_raw(
    ctx: &Ctx,
    provider: &Provider,
    session: &str,
    remote: &Value,
) -> Result<Value, ProviderError> {
    let key = remote
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = remote.get("version").and_then(Value::as_str);
    match provider {
        Provider::Vault {
            server,
            mount,
            kv_version,
            ..
        } => provider::vault_read(&ctx.http, server, session, mount, kv_version, key, version)
            .await
            .map(Value::Object),
        Provider::Kubernetes {
            remote_namespace, ..
        } => super::kubernetes::get(ctx, session, remote_namespace, key),
        Provider::Azure { vault_url, .. } => {
            let name = key.strip_prefix("secret/").unwrap_or(key);
            let text =
                provider::akv_get_secret(&ctx.http, vault_url, session, name, version).await?;
            Ok(serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_object)
                .unwrap_or(Value::String(text)))
        }
        Provider::Aws {
            endpoint,
            region,
            parameter_store,
            prefix,
            ..
        } => {
            let c: Value = serde_json::from_str(session).unwrap_or(Value::Null);
            let creds = crate::aws::sigv4::Creds {
                access_key_id: c["id"].as_str().unwrap_or_default().to_string(),
                secret_access_key: c["secret"].as_str().unwrap_or_default().to_string(),
                session_token: c["token"].as_str().map(str::to_string),
            };
            let text = provider::aws_read(
                &ctx.http,
                endpoint,
                region,
                &creds,
                *parameter_store,
                &format!("{prefix}{key}"),
                version,
            )
            .await?;
            Ok(serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_object)
                .unwrap_or(Value::String(text)))
        }
    }
}

async fn fetch_one(
    ctx: &Ctx,
    provider: &Provider,
    session: &str,
    remote: &Value,
) -> Result<Vec<u8>, ProviderError> {
    let raw = fetch_raw(ctx, provider, session, remote).await?;
    let key = remote
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(provider, Provider::Kubernetes { .. }) {
        let property = remote.get("property").and_then(Value::as_str);
        return super::kubernetes::select(&raw, key, property);
    }
    match (remote.get("property").and_then(Value::as_str), raw) {
        (Some(p), Value::Object(m)) => m
            .get(p)
            .map(value_bytes)
            .ok_or_else(|| ProviderError(format!("key {p} does not exist in secret {key}"))),
        (Some(p), _) => Err(ProviderError(format!(
            "key {p} does not exist in secret {key}"
        ))),
        (None, Value::String(s)) => Ok(s.into_bytes()),
        (None, other) => Ok(other.to_string().into_bytes()),
    }
}

async fn fetch_map(
    ctx: &Ctx,
    provider: &Provider,
    session: &str,
    remote: &Value,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    match fetch_raw(ctx, provider, session, remote).await? {
        Value::Object(m) => Ok(m.iter().map(|(k, v)| (k.clone(), value_bytes(v))).collect()),
        _ => Err(ProviderError(
            "unable to unmarshal secret: not a JSON object".into(),
        )),
    }
}

fn value_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

fn build_secret(
    es: &Value,
    ns: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Value, ProviderError> {
    let template = es.pointer("/spec/target/template");
    let rendered: BTreeMap<String, Vec<u8>> = match template
        .and_then(|t| t.get("data"))
        .and_then(Value::as_object)
    {
        Some(tpl) => {
            let mut m = if template
                .and_then(|t| t.get("mergePolicy"))
                .and_then(Value::as_str)
                == Some("Merge")
            {
                data.clone()
            } else {
                BTreeMap::new()
            };
            for (k, v) in tpl {
                let text = template::render(v.as_str().unwrap_or_default(), data).map_err(|e| {
                    ProviderError(format!(
                        "could not apply template: could not execute template: {e}"
                    ))
                })?;
                m.insert(k.clone(), text.into_bytes());
            }
            m
        }
        None => data.clone(),
    };
    let encoded: Map<String, Value> = rendered
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(STANDARD.encode(v))))
        .collect();
    let secret_type = template
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("Opaque");
    let hash = hex_digest(Value::Object(encoded.clone()).to_string().as_bytes());
    let mut labels = template
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(MANAGED_LABEL.into(), json!("true"));
    let mut annotations = template
        .and_then(|t| t.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert(DATA_HASH_ANNOTATION.into(), json!(hash));
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "type": secret_type,
        "data": encoded,
    });
    if str_at(es, "/spec/target/creationPolicy").unwrap_or("Owner") == "Owner" {
        secret["metadata"]["ownerReferences"] = json!([{
            "apiVersion": es["apiVersion"], "kind": "ExternalSecret",
            "name": es["metadata"]["name"], "uid": es["metadata"]["uid"],
            "controller": true, "blockOwnerDeletion": true,
        }]);
    }
    Ok(secret)
}

/// ESO 2.9's condition messages when the target's controller owner is not this ExternalSecret
/// (`msgErrorIsOwned`, `msgErrorBecomeOwner`).
const ERR_IS_OWNED: &str = "target is owned by another ExternalSecret";
const ERR_BECOME_OWNER: &str = "failed to take ownership of target secret";

/// ESO 2.9's `mutationFunc` ownership rules: a Secret whose controller is another ExternalSecret
/// is refused whatever the creationPolicy; with `Owner`, a Secret another kind of controller owns
/// cannot be taken over (controller-runtime's AlreadyOwnedError); a Secret with no controller is
/// adopted.
fn ownership(current: &Value, es: &Value, policy: &str) -> Result<(), Failure> {
    let es_name = str_at(es, "/metadata/name").unwrap_or_default();
    let Some(controller) = current
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
    else {
        return Ok(());
    };
    let kind = controller["kind"].as_str().unwrap_or_default();
    let name = controller["name"].as_str().unwrap_or_default();
    let group = controller["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    if kind == "ExternalSecret" && group == "external-secrets.io" {
        if name == es_name {
            return Ok(());
        }
        return Err((
            ERR_IS_OWNED,
            ProviderError(format!("secret is owned by another ExternalSecret: {name}")),
        ));
    }
    if policy == "Owner" {
        return Err((
            ERR_BECOME_OWNER,
            ProviderError(format!(
                "could not set controller reference on secret: Object {}/{} is already owned by \
                 another {kind} controller {name}",
                str_at(current, "/metadata/namespace").unwrap_or_default(),
                str_at(current, "/metadata/name").unwrap_or_default()
            )),
        ));
    }
    Ok(())
}

fn write_secret(
    ctx: &Ctx,
    es: &Value,
    desired: Value,
    existing: Option<Value>,
) -> Result<(), Failure> {
    let policy = str_at(es, "/spec/target/creationPolicy").unwrap_or("Owner");
    if let Some(current) = &existing {
        ownership(current, es, policy)?;
    }
    write_owned(ctx, es, desired, existing).map_err(|e| (ERR_UPDATE_SECRET, e))
}

fn write_owned(
    ctx: &Ctx,
    es: &Value,
    desired: Value,
    existing: Option<Value>,
) -> Result<(), ProviderError> {
    let policy = str_at(es, "/spec/target/creationPolicy").unwrap_or("Owner");
    match (policy, existing) {
        ("None", _) => Ok(()),
        ("Merge", None) => Err(ProviderError(format!(
            "the desired secret {} was not found. With creationPolicy=Merge the secret won't be created",
            desired["metadata"]["name"].as_str().unwrap_or_default()
        ))),
        (_, None) => {
            let mut desired = desired;
            stamp_manager(&mut desired, es);
            ctx.store
                .submit(Write::Create, desired)
                .map_err(|e| ProviderError(format!("could not create Secret: {e}")))?;
            events::record(
                ctx,
                es,
                "Normal",
                "Created",
                &format!("Created {}", target_kind(es)),
            );
            Ok(())
        }
        (_, Some(mut current)) => {
            let adopted = policy != "Owner"
                || current.pointer("/metadata/ownerReferences")
                    == desired.pointer("/metadata/ownerReferences");
            if adopted
                && current.get("data") == desired.get("data")
                && current.get("type") == desired.get("type")
            {
                return Ok(());
            }
            for field in ["data", "type"] {
                if let Some(v) = desired.get(field) {
                    current[field] = v.clone();
                }
            }
            for section in ["labels", "annotations"] {
                let mut merged = current["metadata"][section]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                if let Some(m) = desired["metadata"][section].as_object() {
                    merged.extend(m.clone());
                }
                current["metadata"][section] = Value::Object(merged);
            }
            if policy == "Owner" {
                current["metadata"]["ownerReferences"] =
                    desired["metadata"]["ownerReferences"].clone();
            }
            stamp_manager(&mut current, es);
            ctx.store
                .submit(Write::Replace, current)
                .map_err(|e| ProviderError(format!("could not update Secret: {e}")))?;
            events::record(
                ctx,
                es,
                "Normal",
                "Updated",
                &format!("Updated {}", target_kind(es)),
            );
            Ok(())
        }
    }
}

/// Records ESO's write in `metadata.managedFields` as a real API server would for its field
/// manager `externalsecrets.external-secrets.io/<es>`: the entry's time is when the data last
/// changed, which is what tells a consumer pod that started earlier it holds an old value.
/// (In-process writes keep the managedFields they are given.)
fn stamp_manager(secret: &mut Value, es: &Value) {
    let manager = format!(
        "externalsecrets.external-secrets.io/{}",
        str_at(es, "/metadata/name").unwrap_or_default()
    );
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut entries: Vec<Value> = secret
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| e["manager"].as_str() != Some(manager.as_str()));
    entries.push(json!({
        "manager": manager, "operation": "Update", "apiVersion": "v1", "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {}, "f:metadata": {"f:annotations": {}, "f:labels": {}}, "f:type": {}},
    }));
    secret["metadata"]["managedFields"] = Value::Array(entries);
}

fn set_ready(
    status: &mut Map<String, Value>,
    ok: bool,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) {
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let wanted = if ok { "True" } else { "False" };
    let previous = conditions.iter().find(|c| c["type"] == "Ready").cloned();
    let transition = match &previous {
        Some(p) if p["status"] == wanted => p["lastTransitionTime"].clone(),
        _ => json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    };
    conditions.retain(|c| c["type"] != "Ready");
    conditions.push(json!({
        "type": "Ready", "status": wanted, "reason": reason, "message": message,
        "lastTransitionTime": transition,
    }));
    status.insert("conditions".into(), Value::Array(conditions));
}

fn write_status(ctx: &Ctx, es: &Value, edit: impl Fn(&mut Map<String, Value>)) {
    // Re-read so the status write carries the newest resourceVersion; retry on conflicts.
    for _ in 0..5 {
        let Some(mut current) = ctx.store.get(
            &ctx.eso_api_version,
            "ExternalSecret",
            str_at(es, "/metadata/namespace"),
            str_at(es, "/metadata/name").unwrap_or_default(),
        ) else {
            return;
        };
        let mut status = current
            .get("status")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let before = status.clone();
        edit(&mut status);
        if status == before {
            return;
        }
        current["status"] = Value::Object(status);
        if ctx.store.submit(Write::ReplaceStatus, current).is_ok() {
            return;
        }
    }
}

fn mark_done(ctx: &Ctx, es: &Value, secret_name: &str, now: jiff::Timestamp, done: Done) {
    let rv = resource_version_of(es);
    let (ok_reason, message) = match done {
        Done::Synced => (reason(es, true), "secret synced"),
        Done::Deleted => (
            "ResourceDeleted",
            "resource deleted due to DeletionPolicy=Delete",
        ),
        Done::Missing => (
            "ResourceMissing",
            "resource will not be created due to CreationPolicy=Merge",
        ),
    };
    let policy = str_at(es, "/spec/target/creationPolicy")
        .unwrap_or("Owner")
        .to_string();
    write_status(ctx, es, |status| {
        set_ready(status, true, ok_reason, message, now);
        status.insert(
            "refreshTime".into(),
            json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        status.insert("syncedResourceVersion".into(), json!(rv));
        if policy != "None" && done == Done::Synced {
            status.insert("binding".into(), json!({"name": secret_name}));
        }
    });
}

fn mark_failed(ctx: &Ctx, es: &Value, condition_message: &str, error: &str) {
    events::record(ctx, es, "Warning", "UpdateFailed", error);
    super::logs::reconcile_failed(&ctx.store, es, condition_message, error);
    let now = jiff::Timestamp::now();
    let failed = reason(es, false);
    write_status(ctx, es, |status| {
        set_ready(status, false, failed, condition_message, now)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("abc"), None);
        // issue 18: longer than Go can hold, or too long for f64, is not a duration.
        assert_eq!(parse_duration("3000000000000000h"), None);
        assert_eq!(parse_duration(&("9".repeat(400) + "h")), None);
    }

    fn synced(policy: &str, interval: &str, annotations: Value) -> Value {
        let mut es = json!({
            "metadata": {"generation": 1, "annotations": annotations},
            "spec": {"refreshPolicy": policy, "refreshInterval": interval},
        });
        let rv = resource_version_of(&es);
        es["status"] = json!({"syncedResourceVersion": rv, "refreshTime": "2026-11-22T10:00:00Z"});
        es
    }

    #[test]
    fn refresh_rules_match_eso() {
        let now: jiff::Timestamp = "2026-11-22T10:30:00Z".parse().unwrap();
        let es = synced("Periodic", "1h", json!({}));
        assert!(!should_refresh(&es, now, false));
        assert!(should_refresh(&es, now, true));
        let later: jiff::Timestamp = "2026-11-22T11:00:01Z".parse().unwrap();
        assert!(should_refresh(&es, later, false));
        // a changed annotation (force-sync) triggers a refresh ...
        let mut annotated = es.clone();
        annotated["metadata"]["annotations"] = json!({"force-sync": "1"});
        assert!(should_refresh(&annotated, now, false));
        // ... except for CreatedOnce and refreshInterval 0 after the first sync.
        let mut once = synced("CreatedOnce", "1h", json!({}));
        once["metadata"]["annotations"] = json!({"force-sync": "1"});
        assert!(!should_refresh(&once, later, true));
        let mut zero = synced("Periodic", "0s", json!({}));
        zero["metadata"]["annotations"] = json!({"force-sync": "1"});
        assert!(!should_refresh(&zero, later, false));
        // never synced: always
        assert!(should_refresh(
            &json!({"spec": {"refreshPolicy": "CreatedOnce"}}),
            now,
            false
        ));
    }

    #[test]
    fn template_builds_a_dockerconfigjson_secret_owned_by_the_es() {
        let es = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "order-service-regcred", "namespace": "prod", "uid": "u1"},
            "spec": {"target": {"name": "regcred-order-service", "template": {
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": "{\"auths\":{\"{{ .host }}\":{\"auth\":\"{{ printf \"%s:%s\" .username .password | b64enc }}\"}}}"}
            }}},
        });
        let data: BTreeMap<String, Vec<u8>> =
            [("host", "r:5000"), ("username", "u"), ("password", "p")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
        let s = build_secret(&es, "prod", "regcred-order-service", &data).unwrap();
        assert_eq!(s["type"], "kubernetes.io/dockerconfigjson");
        let decoded = STANDARD
            .decode(s["data"][".dockerconfigjson"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            r#"{"auths":{"r:5000":{"auth":"dTpw"}}}"#
        );
        assert_eq!(s["metadata"]["labels"][MANAGED_LABEL], "true");
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert!(s["metadata"]["annotations"][DATA_HASH_ANNOTATION].is_string());
        assert!(
            s["data"].get("password").is_none(),
            "template data replaces the raw keys"
        );
    }
}
