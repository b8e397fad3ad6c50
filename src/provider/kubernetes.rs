//! ESO's `kubernetes` provider probed as ESO reads it (providers/v1/kubernetes): with the store's
//! identity, per distinct remote key one `GET /api/v1/namespaces/REMOTE_NS/secrets/KEY` against
//! the store's API server. A refusal is recorded in the API server's own words (its Status
//! message names the verb, the Secret, the namespace and the identity); a missing Secret gets a
//! near-miss name from one metadata-only LIST of the namespace when the identity may list. The
//! Secret's data is returned as a [`RemoteValue::Map`] for the in-memory comparison and never
//! formatted into a message, a log line or a recorded call (each call is recorded as
//! `kubernetes GET secrets NS/NAME -> STATUS`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::chain::{KeyFacts, RemoteValue, Sensitive};
use crate::provider::vault::http::{self, ProbeHttp};

/// Where the probe reads, as the store names it once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRemote {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    /// `spec.provider.kubernetes.remoteNamespace` (the CRD's default is `default`).
    pub namespace: String,
}

/// The credential sent: ESO sends a bearer token (from a Secret, or minted for a ServiceAccount),
/// a TLS client certificate (`auth.cert`: the HTTP client presents it, no header is sent), or
/// nothing at all when the store has no `auth` block.
pub enum KubeLogin<'a> {
    Bearer(&'a str),
    ClientCertificate,
    Anonymous,
}

/// The login code of a probe that sent nothing because ESO could not build its client from the
/// store's client certificate and key (`diagnose::provider::login` names the finding).
pub const LOGIN_CLIENT_CERT_INVALID: &str = "client certificate";
/// As [`LOGIN_CLIENT_CERT_INVALID`], for a CA (server.caBundle / caProvider) ESO refuses.
pub const LOGIN_CA_INVALID: &str = "CA";
/// As [`LOGIN_CLIENT_CERT_INVALID`], for an `authRef` kubeconfig client-go refuses.
pub const LOGIN_KUBECONFIG_INVALID: &str = "kubeconfig";

#[derive(Debug, Default)]
pub struct KubeOutcome {
    /// The credential was rejected (401), or the server could not be reached or not trusted.
    pub login_error: Option<String>,
    /// `HTTP 401`, `TLS`, `unreachable`.
    pub login_code: Option<String>,
    /// The identity the API server named in a refusal (`system:serviceaccount:NS:NAME`).
    pub user: Option<String>,
    pub keys: Vec<KeyFacts>,
    /// Aligned with the keys asked: the Secret's data.
    pub values: Vec<Option<RemoteValue>>,
}

/// The API server's Status answer, as far as the probe needs it.
fn status_message(body: &str) -> (Option<String>, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("kind").and_then(Value::as_str) != Some("Status") {
        return (None, None);
    }
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(crate::sanitize::line)
    };
    (s("message"), s("reason"))
}

pub use crate::diagnose::kubernetes::user_in_message;

/// A TLS failure rather than a network one, from the connection error's text.
pub fn is_tls_failure(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "certificate",
        "unknownissuer",
        "tls handshake",
        "invalid peer",
    ]
    .iter()
    .any(|n| t.contains(n))
}

/// A segment of a request path (names are DNS labels, but a tenant may type anything).
fn segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Reads every key of `keys` (Secret names) in the remote namespace.
pub async fn probe(
    http: &ProbeHttp,
    remote: &KubeRemote,
    login: &KubeLogin<'_>,
    keys: &[String],
) -> KubeOutcome {
    let mut out = KubeOutcome::default();
    let ns = &remote.namespace;
    let mut names: Option<Option<Vec<String>>> = None;
    for key in keys {
        let mut facts = KeyFacts {
            key: key.clone(),
            path: format!("secrets/{key} in namespace {ns}"),
            ..KeyFacts::default()
        };
        if out.login_error.is_some() {
            out.keys.push(facts);
            out.values.push(None);
            continue;
        }
        let url = format!(
            "{}/api/v1/namespaces/{}/secrets/{}",
            remote.server,
            segment(ns),
            segment(key)
        );
        let what = crate::sanitize::line(&format!("kubernetes GET secrets {ns}/{key}"));
        let mut req = http.client.get(&url).header("Accept", "application/json");
        if let KubeLogin::Bearer(t) = login {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let text = http::chain(&e);
                http.record(format!("{what} -> no answer"));
                let tls = is_tls_failure(&text);
                // The server ended the handshake itself (an alert): not our trust in its
                // certificate but its verdict on ours (or on the TLS parameters).
                let alert = text.to_ascii_lowercase().contains("received fatal alert");
                out.login_code = Some(
                    if alert {
                        "TLS alert"
                    } else if tls {
                        "TLS"
                    } else {
                        "unreachable"
                    }
                    .into(),
                );
                out.login_error = Some(if alert {
                    format!(
                        "the API server at {} ended the TLS handshake: {text}",
                        remote.server
                    )
                } else if tls {
                    format!(
                        "the API server at {} presented a certificate the store's CA does not \
                         verify: {text}",
                        remote.server
                    )
                } else {
                    format!(
                        "the API server at {} could not be reached: {text}",
                        remote.server
                    )
                });
                out.keys.push(facts);
                out.values.push(None);
                continue;
            }
        };
        let status = resp.status().as_u16();
        http.record(format!("{what} -> {status}"));
        let body = resp.text().await.unwrap_or_default();
        let mut value = None;
        match status {
            200 => {
                let data = secret_data(&body);
                drop(body);
                match data {
                    Some(data) => {
                        facts.exists = Some(true);
                        facts.readable = Some(true);
                        facts.properties = data.keys().map(|k| crate::sanitize::line(k)).collect();
                        value = Some(RemoteValue::Map(data));
                    }
                    None => {
                        facts.error = Some("the API server's answer is not a Secret".into());
                    }
                }
            }
            401 => {
                let (message, _) = status_message(&body);
                out.login_code = Some("HTTP 401".into());
                out.login_error = Some(format!(
                    "the API server at {} rejected the credential (401 {})",
                    remote.server,
                    message.as_deref().unwrap_or("Unauthorized")
                ));
            }
            403 => {
                let (message, _) = status_message(&body);
                facts.readable = Some(false);
                facts.code = Some("Forbidden".into());
                if let Some(u) = message.as_deref().and_then(user_in_message) {
                    out.user.get_or_insert(u);
                }
                facts.error = Some(message.unwrap_or_else(|| {
                    format!("403 Forbidden: may not get secret {key} in namespace {ns}")
                }));
            }
            404 => {
                let (message, _) = status_message(&body);
                facts.exists = Some(false);
                facts.code = Some("NotFound".into());
                facts.error =
                    Some(message.unwrap_or_else(|| format!("secrets \"{key}\" not found in {ns}")));
                if names.is_none() {
                    names = Some(list_names(http, remote, login).await);
                }
                if let Some(Some(all)) = &names {
                    facts.did_you_mean =
                        crate::diagnose::similar::did_you_mean(key, all.iter().map(String::as_str))
                            .map(str::to_string);
                }
            }
            other => {
                let (message, _) = status_message(&body);
                facts.error = Some(format!(
                    "the API server answered {other}{}",
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ));
            }
        }
        out.keys.push(facts);
        out.values.push(value);
    }
    out
}

/// A Secret's `data`, decoded; `None` when the body is no Secret.
fn secret_data(body: &str) -> Option<BTreeMap<String, Sensitive>> {
    use base64::Engine;
    let v: Value = serde_json::from_str(body).ok()?;
    if v.get("kind").and_then(Value::as_str) != Some("Secret") {
        return None;
    }
    let mut out = BTreeMap::new();
    for (k, raw) in v
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.as_str().unwrap_or_default())
            .ok()?;
        out.insert(k.clone(), Sensitive::from_bytes(bytes));
    }
    Some(out)
}

/// The Secrets' names in the remote namespace (metadata only: no value is fetched), when the
/// identity may list them.
async fn list_names(
    http: &ProbeHttp,
    remote: &KubeRemote,
    login: &KubeLogin<'_>,
) -> Option<Vec<String>> {
    let url = format!(
        "{}/api/v1/namespaces/{}/secrets?limit=500",
        remote.server,
        segment(&remote.namespace)
    );
    let mut req = http.client.get(&url).header(
        "Accept",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    );
    if let KubeLogin::Bearer(t) = login {
        req = req.bearer_auth(t);
    }
    let what = crate::sanitize::line(&format!(
        "kubernetes LIST secrets -n {} (names only)",
        remote.namespace
    ));
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    http.record(format!("{what} -> {status}"));
    if status != 200 {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    // A server that ignored the metadata-only Accept sent values: read the names only.
    Some(
        v.get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
    )
}

/// Where a `property` of a kubernetes-provider Secret is, as ESO's `getFromSecretData` finds it:
/// the data key named so, else the first dotted segment's key with the rest a JSON path into it.
pub fn has_property(data: &BTreeMap<String, Sensitive>, property: &str) -> bool {
    if data.contains_key(property) {
        return true;
    }
    let Some((head, rest)) = property.split_once('.') else {
        return false;
    };
    if head.is_empty() || rest.is_empty() {
        return false;
    }
    data.get(head)
        .and_then(|v| serde_json::from_slice::<Value>(v.bytes()).ok())
        .is_some_and(|doc| crate::analysis::chain::compare::json_path(&doc, rest).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_resolve_as_eso_does() {
        let mut data = BTreeMap::new();
        data.insert(
            "file.png".to_string(),
            Sensitive::from_bytes(b"x1x1x1x1".to_vec()),
        );
        data.insert(
            "config".to_string(),
            Sensitive::from_bytes(br#"{"db":{"host":"h"}}"#.to_vec()),
        );
        assert!(has_property(&data, "file.png"));
        assert!(has_property(&data, "config.db.host"));
        // Near misses: a missing key, a path that is not in the JSON, a trailing dot.
        assert!(!has_property(&data, "password"));
        assert!(!has_property(&data, "config.db.port"));
        assert!(!has_property(&data, "config."));
    }

    #[test]
    fn tls_failures_are_told_from_network_ones() {
        assert!(is_tls_failure(
            "error sending request: invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_tls_failure(
            "error sending request: tcp connect error: Connection refused (os error 111)"
        ));
    }

    #[test]
    fn a_secret_body_is_decoded_and_anything_else_is_not_a_secret() {
        let body = r#"{"kind":"Secret","apiVersion":"v1","data":{"a":"aGVsbG8td29ybGQ="}}"#;
        let d = secret_data(body).unwrap_or_default();
        assert_eq!(
            d.get("a").map(|s| s.bytes().to_vec()),
            Some(b"hello-world".to_vec())
        );
        assert!(secret_data(r#"{"kind":"Status","code":403}"#).is_none());
    }
}
