//! Vault (and OpenBao) probed as ESO would: log in with the store's method, keep the policies the
//! login returned, ask `sys/capabilities-self` once for the exact API path of every remote key,
//! then read only what that identity may read. Plain reqwest rather than vaultrs: the calls are
//! four small JSON requests, vaultrs has no `sys/capabilities-self` (CRATES.md) and reads `VAULT_*`
//! from the environment behind our back, and the same client then serves Key Vault too.
//!
//! Call budget per store: one login, one capabilities call, then at most a metadata and a data read
//! per remote key — never a call per consumer. Values read for the comparison are returned as
//! [`RemoteValue`]s and never formatted into an error or a log line.

pub mod explain;
pub mod http;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::analysis::chain::compare::json_path;
use crate::model::chain::{KeyFacts, RemoteValue, Sensitive};
use http::ProbeHttp;

/// The store's Vault settings.
#[derive(Debug, Clone)]
pub struct VaultStore {
    pub server: String,
    pub namespace: Option<String>,
    pub mount: String,
    /// `v1` or `v2`.
    pub kv_version: String,
}

pub enum VaultLogin<'a> {
    /// Use this token as is (token auth, or `--probe-as me` with VAULT_TOKEN).
    Token(&'a str),
    Kubernetes {
        mount: &'a str,
        role: &'a str,
        jwt: &'a str,
    },
    AppRole {
        mount: &'a str,
        role_id: &'a str,
        secret_id: &'a str,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RemoteKey {
    pub key: String,
    pub property: Option<String>,
    pub version: Option<String>,
    /// Ask for its capabilities only: a generator's dynamic path mints a credential when read.
    pub no_read: bool,
    /// A VaultDynamicSecret's method when not GET: the capability asked about follows it.
    pub method: Option<String>,
}

#[derive(Debug, Default)]
pub struct VaultOutcome {
    pub policies: Vec<String>,
    pub login_error: Option<String>,
    pub login_code: Option<String>,
    pub keys: Vec<KeyFacts>,
    /// Per remote key, the current value when it could be read.
    pub values: Vec<Option<RemoteValue>>,
    /// What was read to explain a failure (issue 12); `None` when nothing failed.
    pub explain: Option<crate::model::chain::VaultExplain>,
}

/// Who ESO logs in as and the user's own token, for explaining a refusal.
#[derive(Debug, Clone, Default)]
pub struct ExplainWith {
    /// The user's token for this very Vault (see [`explain::user_token_for`]).
    pub user_token: Option<String>,
    /// `namespace/name` of the ServiceAccount of a Kubernetes-auth login.
    pub service_account: Option<String>,
    pub audiences: Vec<String>,
}

struct Answer {
    status: u16,
    body: Value,
}

impl VaultStore {
    /// ESO accepts keys with or without the mount in front.
    pub fn relative_key<'a>(&self, key: &'a str) -> &'a str {
        let key = key.trim_start_matches('/');
        key.strip_prefix(&format!("{}/", self.mount)).unwrap_or(key)
    }

    /// The API path ESO reads: `<mount>/data/<key>` on KV v2, `<mount>/<key>` on v1.
    pub fn data_path(&self, key: &str) -> String {
        let key = self.relative_key(key);
        if self.kv_version == "v1" {
            format!("{}/{key}", self.mount)
        } else {
            format!("{}/data/{key}", self.mount)
        }
    }

    pub fn metadata_path(&self, key: &str) -> Option<String> {
        (self.kv_version != "v1")
            .then(|| format!("{}/metadata/{}", self.mount, self.relative_key(key)))
    }
}

async fn call(
    http: &ProbeHttp,
    store: &VaultStore,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Answer, String> {
    let url = format!("{}/v1/{path}", store.server.trim_end_matches('/'));
    let mut req = http.client.request(method.clone(), &url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(ns) = &store.namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let shown = path.split('?').next().unwrap_or(path);
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            http.record(format!("vault {method} {shown} -> {status}"));
            let text = resp.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            Ok(Answer { status, body })
        }
        Err(e) => {
            http.record(format!("vault {method} {shown} -> no answer"));
            Err(format!(
                "no answer from Vault at {}: {}",
                crate::sanitize::line(&store.server),
                http::chain(&e)
            ))
        }
    }
}

/// Vault's `errors` array as one line (Vault puts no secret data in errors).
fn vault_errors(a: &Answer) -> String {
    let errs: Vec<String> = a
        .body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(crate::sanitize::line)
        .collect();
    if errs.is_empty() {
        format!("HTTP {}", a.status)
    } else {
        format!("HTTP {}: {}", a.status, errs.join("; "))
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(crate::sanitize::line)
        .collect()
}

/// Logs in; returns the token and its policies.
async fn login(
    http: &ProbeHttp,
    store: &VaultStore,
    how: &VaultLogin<'_>,
) -> Result<(Sensitive, Vec<String>), (String, Option<String>)> {
    let (path, body) = match how {
        VaultLogin::Token(t) => {
            let a = call(
                http,
                store,
                reqwest::Method::GET,
                "auth/token/lookup-self",
                Some(t),
                None,
            )
            .await
            .map_err(|e| (e, None))?;
            if a.status >= 400 {
                return Err((
                    format!("the token was refused: {}", vault_errors(&a)),
                    Some(format!("HTTP {}", a.status)),
                ));
            }
            let mut policies = strings(a.body.pointer("/data/policies"));
            policies.sort();
            return Ok((Sensitive::from_string(t.to_string()), policies));
        }
        VaultLogin::Kubernetes { mount, role, jwt } => (
            format!("auth/{mount}/login"),
            json!({"role": role, "jwt": jwt}),
        ),
        VaultLogin::AppRole {
            mount,
            role_id,
            secret_id,
        } => (
            format!("auth/{mount}/login"),
            json!({"role_id": role_id, "secret_id": secret_id}),
        ),
    };
    let a = call(http, store, reqwest::Method::POST, &path, None, Some(body))
        .await
        .map_err(|e| (e, None))?;
    if a.status >= 400 {
        return Err((
            format!("login at {path} failed: {}", vault_errors(&a)),
            Some(format!("HTTP {}", a.status)),
        ));
    }
    let token = a
        .body
        .pointer("/auth/client_token")
        .and_then(Value::as_str)
        .map(|t| Sensitive::from_string(t.to_string()));
    let mut policies = strings(a.body.pointer("/auth/token_policies"));
    if policies.is_empty() {
        policies = strings(a.body.pointer("/auth/policies"));
    }
    policies.sort();
    match token {
        Some(t) => Ok((t, policies)),
        None => Err(("Vault's login answer holds no client token".into(), None)),
    }
}

pub async fn probe(
    http: &ProbeHttp,
    store: &VaultStore,
    how: &VaultLogin<'_>,
    keys: &[RemoteKey],
) -> VaultOutcome {
    probe_explained(http, store, how, keys, &ExplainWith::default()).await
}

/// [`probe`], then, when the login or a key failed, what Vault's configuration says about it.
pub async fn probe_explained(
    http: &ProbeHttp,
    store: &VaultStore,
    how: &VaultLogin<'_>,
    keys: &[RemoteKey],
    with: &ExplainWith,
) -> VaultOutcome {
    let mut out = VaultOutcome::default();
    let (token, policies) = match login(http, store, how).await {
        Ok(t) => t,
        Err((e, code)) => {
            out.login_error = Some(e);
            out.login_code = code;
            if let VaultLogin::Kubernetes { mount, role, .. } = how
                && out.login_code.as_deref() != Some("HTTP 500")
            {
                let ask = explain::Ask {
                    user_token: with.user_token.as_deref(),
                    role: Some((mount, role)),
                    // A bare refusal (a failed TokenReview): who reviews, and where.
                    auth_config: out
                        .login_error
                        .as_deref()
                        .is_some_and(|e| e.contains("permission denied")),
                    service_account: with.service_account.clone(),
                    audiences: with.audiences.clone(),
                    ..explain::Ask::default()
                };
                out.explain = Some(explain::explain(http, store, &ask).await);
            }
            return out;
        }
    };
    out.policies = policies;
    let token = token.text();

    let mut paths: Vec<String> = Vec::new();
    for k in keys {
        if refused_key(store, k).is_some() {
            continue;
        }
        paths.push(store.data_path(&k.key));
        if let Some(m) = store.metadata_path(&k.key) {
            paths.push(m);
        }
    }
    paths.sort();
    paths.dedup();
    let caps = capabilities(http, store, &token, &paths).await;

    for k in keys {
        let data_path = store.data_path(&k.key);
        let mut facts = KeyFacts {
            key: crate::sanitize::line(&k.key),
            path: crate::sanitize::line(&data_path),
            property: k.property.clone(),
            ..KeyFacts::default()
        };
        if let Some(why) = refused_key(store, k) {
            facts.code = Some("refused".into());
            facts.error = Some(why);
            out.keys.push(facts);
            out.values.push(None);
            continue;
        }
        let (may_read, may_read_meta) = match &caps {
            Ok(c) => {
                let data_caps = c.get(&data_path).cloned().unwrap_or_default();
                let meta = store
                    .metadata_path(&k.key)
                    .and_then(|m| c.get(&m).cloned())
                    .unwrap_or_default();
                facts.capabilities = data_caps.clone();
                let needs = needed_capability(k.method.as_deref());
                if needs != "read" {
                    facts.needs = Some(needs.to_string());
                }
                (allows(&data_caps, needs), allows_read(&meta))
            }
            // Without the capabilities answer, try the read and let Vault say no.
            Err(_) => (true, false),
        };
        if caps.is_ok() {
            facts.readable = Some(may_read);
        }
        if may_read_meta && let Some(m) = store.metadata_path(&k.key) {
            metadata(http, store, &token, &m, &mut facts).await;
        }
        let value = if may_read && !k.no_read {
            read(http, store, &token, k, &mut facts).await
        } else {
            None
        };
        out.keys.push(facts);
        out.values.push(value);
    }
    let denied = out.keys.iter().any(|k| k.readable == Some(false));
    let missing = out.keys.iter().any(|k| k.exists == Some(false));
    if denied || missing {
        let ask = explain::Ask {
            eso_token: Some(&token),
            user_token: with.user_token.as_deref(),
            mount: true,
            policies: if denied { &out.policies } else { &[] },
            service_account: with.service_account.clone(),
            audiences: with.audiences.clone(),
            ..explain::Ask::default()
        };
        out.explain = Some(explain::explain(http, store, &ask).await);
    }
    out
}

/// What Vault says about writing (issue 14, PushSecret): the login's policies and the token's
/// capabilities on each path, from one login and one `sys/capabilities-self`. Nothing is written.
#[derive(Debug)]
pub struct WriteOutcome {
    pub policies: Vec<String>,
    pub login_error: Option<String>,
    pub login_code: Option<String>,
    pub capabilities: Result<BTreeMap<String, Vec<String>>, String>,
}

pub async fn write_capabilities(
    http: &ProbeHttp,
    store: &VaultStore,
    how: &VaultLogin<'_>,
    paths: &[String],
) -> WriteOutcome {
    let (token, policies) = match login(http, store, how).await {
        Ok(t) => t,
        Err((e, code)) => {
            return WriteOutcome {
                policies: Vec::new(),
                login_error: Some(e),
                login_code: code,
                capabilities: Err("not asked: the login failed".into()),
            };
        }
    };
    let token = token.text();
    WriteOutcome {
        policies,
        login_error: None,
        login_code: None,
        capabilities: capabilities(http, store, &token, paths).await,
    }
}

/// Why a remote key is not sent to Vault at all, or `None` when its API path is exactly the one
/// Vault reads. A `..` or `.` segment, an empty segment, a percent sign (`%2e%2e`, `%2f`), a
/// backslash, `?` or `#` would make the URL mean another path after normalisation than the one
/// the capabilities were asked for (issue 18: `../../sys/policy/root` was reported "readable"
/// while the read went to `sys/policy/root`). ESO's own client sends such a key verbatim and Vault
/// redirects it elsewhere, so the honest answer is to name the key and ask nothing.
pub fn refused_key(store: &VaultStore, k: &RemoteKey) -> Option<String> {
    let shown = crate::sanitize::line(&k.key);
    let relative = store.relative_key(&k.key);
    let problem = if relative.is_empty() {
        Some("it is empty".to_string())
    } else if let Some(c) = relative
        .chars()
        .find(|c| matches!(c, '%' | '\\' | '?' | '#') || c.is_control())
    {
        Some(format!(
            "it contains {c:?}, which the URL would not carry as written"
        ))
    } else {
        relative.split('/').find_map(|seg| match seg {
            "" => Some("it has an empty segment (`//` or a trailing `/`)".to_string()),
            "." | ".." => Some(format!(
                "it has a `{seg}` segment, which would make the request read another path"
            )),
            // A URL drops a trailing space: the read would go to the trimmed path.
            _ if seg.trim() != seg => Some("a segment starts or ends with white space".to_string()),
            _ => None,
        })
    };
    let problem = problem.or_else(|| {
        k.version
            .as_deref()
            .filter(|v| !v.chars().all(|c| c.is_ascii_digit()) || v.is_empty())
            .map(|v| format!("its version {:?} is not a number", crate::sanitize::line(v)))
    })?;
    Some(format!(
        "remote key {shown:?} refused: {problem}; nothing was asked or read for it \
         (fix remoteRef.key in the ExternalSecret)"
    ))
}

fn allows_read(caps: &[String]) -> bool {
    allows(caps, "read")
}

/// The capability ESO's VaultDynamicSecret call needs (`generators/v1/vault/vault.go`): GET (or
/// no method) reads, LIST lists, DELETE deletes, anything else is a `Logical().Write`.
fn needed_capability(method: Option<&str>) -> &'static str {
    match method.map(str::to_ascii_uppercase).as_deref() {
        None | Some("" | "GET") => "read",
        Some("LIST") => "list",
        Some("DELETE") => "delete",
        Some(_) => "update",
    }
}

/// A write is allowed by `update` or, for a path that does not exist yet, `create`.
fn allows(caps: &[String], needs: &str) -> bool {
    caps.iter()
        .any(|c| c == needs || c == "root" || (needs == "update" && c == "create"))
}

/// One batched `sys/capabilities-self` for every path.
async fn capabilities(
    http: &ProbeHttp,
    store: &VaultStore,
    token: &str,
    paths: &[String],
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let a = call(
        http,
        store,
        reqwest::Method::POST,
        "sys/capabilities-self",
        Some(token),
        Some(json!({ "paths": paths })),
    )
    .await?;
    if a.status >= 400 {
        return Err(vault_errors(&a));
    }
    let map = a
        .body
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(&a.body);
    let mut out = BTreeMap::new();
    for p in paths {
        let mut caps = strings(map.get(p));
        if caps.is_empty() && paths.len() == 1 {
            caps = strings(map.get("capabilities"));
        }
        out.insert(p.clone(), caps);
    }
    Ok(out)
}

async fn metadata(
    http: &ProbeHttp,
    store: &VaultStore,
    token: &str,
    path: &str,
    facts: &mut KeyFacts,
) {
    let Ok(a) = call(http, store, reqwest::Method::GET, path, Some(token), None).await else {
        return;
    };
    match a.status {
        200 => {
            let d = a.body.get("data").cloned().unwrap_or(Value::Null);
            facts.exists = Some(true);
            facts.current_version = d
                .get("current_version")
                .and_then(Value::as_u64)
                .map(|v| v.to_string());
            facts.updated = d
                .get("updated_time")
                .and_then(Value::as_str)
                .map(crate::sanitize::line);
        }
        404 => facts.exists = Some(false),
        _ => {}
    }
}

/// A time as the report prints times: RFC 3339 in UTC, to the second. Vault and OpenBao give
/// nanoseconds with the trailing zeros cut, so the text's length changed from one deletion to the
/// next (and with it where a finding's message wraps); text that is not a time is kept, cleaned.
fn whole_seconds(t: &str) -> String {
    t.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|at| jiff::Timestamp::from_second(at.as_second()).ok())
        .map_or_else(|| crate::sanitize::line(t), |at| at.to_string())
}

/// A KV v2 version's `deletion_time` / `destroyed` (from a read's `data.metadata`).
fn deleted_version(m: &Value, facts: &mut KeyFacts) {
    // A `deletion_time` in the future is a `delete_version_after` that has not come yet: the
    // version is still served.
    let deleted_at = m
        .get("deletion_time")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .filter(|t| {
            t.parse::<jiff::Timestamp>()
                .map_or(true, |at| at <= jiff::Timestamp::now())
        });
    facts.deleted = deleted_at.is_some();
    facts.destroyed = m.get("destroyed").and_then(Value::as_bool).unwrap_or(false);
    if facts.deleted || facts.destroyed {
        facts.exists = Some(true);
        facts.deleted_at = deleted_at.map(whole_seconds);
        if let Some(v) = m.get("version").and_then(Value::as_u64) {
            facts.current_version = Some(v.to_string());
        }
    }
}

async fn read(
    http: &ProbeHttp,
    store: &VaultStore,
    token: &str,
    k: &RemoteKey,
    facts: &mut KeyFacts,
) -> Option<RemoteValue> {
    let mut path = store.data_path(&k.key);
    if let (Some(v), "v2") = (&k.version, store.kv_version.as_str()) {
        path = format!("{path}?version={v}");
    }
    let a = match call(http, store, reqwest::Method::GET, &path, Some(token), None).await {
        Ok(a) => a,
        Err(e) => {
            facts.error = Some(e);
            return None;
        }
    };
    match a.status {
        200 => {}
        404 => {
            facts.code = Some("HTTP 404".into());
            // KV v2 answers a soft-deleted or destroyed current version with a 404 that still
            // carries the version's metadata: the secret exists, its current version does not.
            if let Some(m) = a.body.pointer("/data/metadata").filter(|m| m.is_object()) {
                deleted_version(m, facts);
            }
            if !(facts.deleted || facts.destroyed) {
                facts.exists = Some(false);
                facts.error = Some(format!("no secret at {}", facts.path));
            }
            return None;
        }
        403 => {
            facts.readable = Some(false);
            facts.code = Some("HTTP 403".into());
            facts.error = Some(vault_errors(&a));
            return None;
        }
        _ => {
            facts.code = Some(format!("HTTP {}", a.status));
            facts.error = Some(vault_errors(&a));
            return None;
        }
    }
    facts.readable = Some(true);
    let (data, meta) = if store.kv_version == "v1" {
        (a.body.get("data"), None)
    } else {
        (
            a.body.pointer("/data/data"),
            a.body.pointer("/data/metadata"),
        )
    };
    if let Some(m) = meta {
        facts.current_version = facts.current_version.clone().or_else(|| {
            m.get("version")
                .and_then(Value::as_u64)
                .map(|v| v.to_string())
        });
        facts.updated = facts.updated.clone().or_else(|| {
            m.get("created_time")
                .and_then(Value::as_str)
                .map(crate::sanitize::line)
        });
        deleted_version(m, facts);
    }
    let Some(Value::Object(fields)) = data else {
        // KV v2 answers a deleted or destroyed version with `data: null`.
        if !(facts.deleted || facts.destroyed) {
            facts.exists = Some(false);
        }
        return None;
    };
    facts.exists = Some(true);
    facts.properties = fields.keys().map(|k| crate::sanitize::line(k)).collect();
    if let Some(p) = &k.property {
        // ESO falls back to a gjson lookup, so a nested field (`db.host`) exists too.
        let nested = || {
            let (head, rest) = p.split_once('.')?;
            json_path(fields.get(head)?, rest)
        };
        facts.property_exists = Some(fields.contains_key(p) || nested().is_some());
    }
    let values = fields
        .iter()
        .map(|(name, v)| {
            // ESO writes non-string values as their JSON text.
            let bytes = match v {
                Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            (name.clone(), Sensitive::from_bytes(bytes))
        })
        .collect();
    Some(RemoteValue::Map(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_a_deleted_version_is_read_from_kv2s_404_body() {
        // OpenBao 2.7.2's answer to a read after `bao kv delete secret/app`.
        let body = json!({"data": {"data": null, "metadata": {"created_time": "2026-12-05T10:17:04.217366246Z",
            "custom_metadata": null, "deletion_time": "2026-12-05T10:17:04.584881562Z", "destroyed": false, "version": 2}}});
        let mut facts = KeyFacts::default();
        deleted_version(&body["data"]["metadata"], &mut facts);
        assert!(facts.deleted && !facts.destroyed);
        assert_eq!(facts.exists, Some(true));
        assert_eq!(facts.current_version.as_deref(), Some("2"));
        // Printed to the second, whatever the number of fractional digits the server kept.
        assert_eq!(facts.deleted_at.as_deref(), Some("2026-12-05T10:17:04Z"));
        for (given, printed) in [
            ("2026-12-05T10:17:04.58488156Z", "2026-12-05T10:17:04Z"),
            ("2026-12-05T10:17:04Z", "2026-12-05T10:17:04Z"),
            ("2026-12-05T11:17:04.9+01:00", "2026-12-05T10:17:04Z"),
        ] {
            assert_eq!(whole_seconds(given), printed, "{given}");
        }

        let mut destroyed = KeyFacts::default();
        deleted_version(
            &json!({"deletion_time": "", "destroyed": true, "version": 1}),
            &mut destroyed,
        );
        assert!(destroyed.destroyed && destroyed.exists == Some(true));

        // Near miss: a `delete_version_after` deletion still to come, and a live version.
        for m in [
            json!({"deletion_time": "2999-01-01T00:00:00Z", "destroyed": false, "version": 4}),
            json!({"deletion_time": "", "destroyed": false, "version": 4}),
        ] {
            let mut live = KeyFacts::default();
            deleted_version(&m, &mut live);
            assert!(!live.deleted && !live.destroyed, "{m}");
            assert_eq!(live.exists, None, "{m}");
        }
    }

    #[test]
    fn issue_18_keys_that_would_read_another_path_are_refused() {
        let v2 = VaultStore {
            server: "http://127.0.0.1:8200".into(),
            namespace: None,
            mount: "secret".into(),
            kv_version: "v2".into(),
        };
        let key = |k: &str| RemoteKey {
            key: k.into(),
            ..RemoteKey::default()
        };
        for bad in [
            "../../sys/policy/root",
            "a/../b",
            "./a",
            "a//b",
            "a/",
            "a%2f..%2fb",
            "%2e%2e/sys",
            "a\\..\\b",
            "a?list=true",
            "a#b",
            "db ",
            " db",
            "",
            "secret/",
        ] {
            let why = refused_key(&v2, &key(bad));
            assert!(
                why.as_deref().is_some_and(|w| w.contains("refused")),
                "{bad}: {why:?}"
            );
        }
        for good in ["order-service", "/secret/team/db", "a.b/c..d", "team/db-1"] {
            assert_eq!(refused_key(&v2, &key(good)), None, "{good}");
        }
        let versioned = RemoteKey {
            key: "db".into(),
            version: Some("1&x=y".into()),
            ..RemoteKey::default()
        };
        assert!(refused_key(&v2, &versioned).is_some());
    }

    #[test]
    fn paths_follow_the_kv_version_and_strip_the_mount() {
        let v2 = VaultStore {
            server: "http://v".into(),
            namespace: None,
            mount: "registry-creds".into(),
            kv_version: "v2".into(),
        };
        assert_eq!(
            v2.data_path("order-service"),
            "registry-creds/data/order-service"
        );
        assert_eq!(
            v2.data_path("registry-creds/order-service"),
            "registry-creds/data/order-service"
        );
        assert_eq!(
            v2.metadata_path("order-service").as_deref(),
            Some("registry-creds/metadata/order-service")
        );
        let v1 = VaultStore {
            kv_version: "v1".into(),
            ..v2
        };
        assert_eq!(v1.data_path("a/b"), "registry-creds/a/b");
        assert_eq!(v1.metadata_path("a"), None);
    }

    /// Issue 14: a VaultDynamicSecret is probed for the capability of the call ESO makes; a
    /// policy that only reads does not allow a POST, and one that updates does not allow a GET.
    #[test]
    fn issue14_dynamic_secret_method_decides_the_capability() {
        let caps = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(needed_capability(None), "read");
        assert_eq!(needed_capability(Some("get")), "read");
        assert_eq!(needed_capability(Some("POST")), "update");
        assert_eq!(needed_capability(Some("PUT")), "update");
        assert_eq!(needed_capability(Some("LIST")), "list");
        assert_eq!(needed_capability(Some("DELETE")), "delete");
        assert!(allows(&caps(&["update"]), "update"));
        assert!(allows(&caps(&["create"]), "update"));
        assert!(allows(&caps(&["root"]), "list"));
        // Near misses.
        assert!(!allows(&caps(&["read"]), "update"));
        assert!(!allows(&caps(&["update"]), "read"));
        assert!(!allows(&caps(&["read"]), "list"));
    }
}
