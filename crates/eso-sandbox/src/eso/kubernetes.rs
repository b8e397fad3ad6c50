//! ESO's `kubernetes` provider in the simulated controller (issue 15): a store that reads Secrets of
//! its own cluster (`server.url` `kubernetes.default…`, the CRD's default) with the identity its
//! `auth` names — a bearer token from a Secret, a token requested for a ServiceAccount, a client
//! certificate (checked by the API server's own client CA, `kube_sim::auth::ClientCa`), or none.
//! Every request is authenticated and authorised by the simulated API server's own rules
//! (kube_sim::auth), so a missing Role gives the API server's real Forbidden text; store validation
//! follows providers/v1/kubernetes/validate.go (SelfSubjectRulesReview, then
//! SelfSubjectAccessReview, then "client is not allowed to get secrets").

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube_sim::auth::{self, RequestAttributes, UserInfo};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::provider::ProviderError;

/// Is `url` the store's own cluster, as ESO inside it would reach it?
pub fn is_home(url: Option<&str>) -> bool {
    let raw = url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or("kubernetes.default");
    let host = raw
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(raw)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    host == "kubernetes.default"
        || host == "kubernetes.default.svc"
        || host.starts_with("kubernetes.default.svc.")
}

/// The session of a store with `auth.cert`: its certificate (public), marked so it is never taken
/// for a bearer token. The key stays where ESO keeps it: checked once by [`key_pair`].
const CERTIFICATE_SESSION: &str = "x509-client-certificate\n";

pub fn certificate_session(cert_pem: &str) -> String {
    format!("{CERTIFICATE_SESSION}{cert_pem}")
}

/// client-go's `tls.X509KeyPair`: a PEM certificate and its own PEM private key, in its words.
pub fn key_pair(cert_pem: &str, key_pem: &str) -> Result<(), ProviderError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let certs = auth::certificates_from_pem(cert_pem);
    if certs.is_empty() {
        return Err(ProviderError(
            "tls: failed to find any PEM data in certificate input".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| ProviderError("tls: failed to find any PEM data in key input".into()))?;
    rustls::sign::CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .map(|_| ())
        .map_err(|_| ProviderError("tls: private key does not match public key".into()))
}

/// The caller behind a bearer token (`None`: anonymous) or a client certificate's session; a
/// bad token or a certificate the API server's client CA does not verify is ESO's client-go
/// "Unauthorized".
pub fn user(ctx: &Ctx, token: &str) -> Result<UserInfo, ProviderError> {
    if let Some(pem) = token.strip_prefix(CERTIFICATE_SESSION) {
        let chain = auth::certificates_from_pem(pem);
        return match ctx.store.authenticator().check_certificate(&chain) {
            Some(auth::PresentedCertificate::Verified(Some(user))) => Ok(user),
            Some(auth::PresentedCertificate::Rejected(_)) => {
                Err(ProviderError("Unauthorized".into()))
            }
            // No client CA, or a certificate that names nobody: anonymous, as on the wire.
            _ => user(ctx, ""),
        };
    }
    let mut headers = http::HeaderMap::new();
    if !token.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}"))
    {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    ctx.store
        .authenticator()
        .authenticate(&ctx.store, &headers)
        .map_err(|_| ProviderError("Unauthorized".into()))
}

/// ESO's `Validate()`: may the identity get secrets in the remote namespace?
pub fn validate(ctx: &Ctx, token: &str, namespace: &str) -> Result<(), ProviderError> {
    let who = user(ctx, token)
        .map_err(|e| ProviderError(format!("could not verify if client is valid: {e}")))?;
    let rules = auth::self_subject_rules_review(
        &ctx.store,
        &who,
        json!({"spec": {"namespace": namespace}}),
    );
    let has = |rule: &Value, field: &str, wanted: &str| {
        rule.get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == wanted || v == "*"))
    };
    let groups_ok = |rule: &Value| {
        rule.get("apiGroups")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty() || a.iter().any(|g| g == "" || g == "*"))
    };
    let allowed_by_rules = rules
        .pointer("/status/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| has(r, "resources", "secrets") && has(r, "verbs", "get") && groups_ok(r));
    if allowed_by_rules {
        return Ok(());
    }
    let review = auth::self_subject_access_review(
        &ctx.store,
        &who,
        json!({"spec": {"resourceAttributes": {"resource": "secrets", "namespace": namespace, "verb": "get"}}}),
    );
    if review.pointer("/status/allowed") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    Err(ProviderError("client is not allowed to get secrets".into()))
}

/// `GET secrets/KEY` in the remote namespace with the store's identity: the Secret's data as
/// strings, or client-go's error text.
pub fn get(ctx: &Ctx, token: &str, namespace: &str, key: &str) -> Result<Value, ProviderError> {
    let who = user(ctx, token)?;
    let attrs = RequestAttributes {
        verb: "get".into(),
        api_group: String::new(),
        resource: "secrets".into(),
        subresource: None,
        namespace: Some(namespace.to_string()),
        name: Some(key.to_string()),
    };
    if !auth::authorize(&ctx.store, &who, &attrs).allowed {
        return Err(ProviderError(auth::forbidden_message(&who, &attrs, None)));
    }
    let secret = ctx
        .store
        .get("v1", "Secret", Some(namespace), key)
        .ok_or_else(|| ProviderError(format!("secrets \"{key}\" not found")))?;
    let mut out = Map::new();
    for (k, v) in secret
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let bytes = STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_default();
        out.insert(
            k.clone(),
            Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        );
    }
    Ok(Value::Object(out))
}

/// One `remoteRef` of a kubernetes-provider store, as ESO's `GetSecret` resolves it: without a
/// property the whole data as JSON; with one, that data key, else the first dotted segment's key
/// with the rest a JSON path into its value.
pub fn select(data: &Value, key: &str, property: Option<&str>) -> Result<Vec<u8>, ProviderError> {
    let Some(p) = property else {
        return Ok(data.to_string().into_bytes());
    };
    let missing = || {
        ProviderError(format!(
            "property {p} does not exist in data of secret \"{key}\""
        ))
    };
    if let Some(v) = data.get(p).and_then(Value::as_str) {
        return Ok(v.as_bytes().to_vec());
    }
    let (head, rest) = p.split_once('.').ok_or_else(missing)?;
    let doc: Value = data
        .get(head)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(missing)?;
    let found = doc
        .get(rest)
        .or_else(|| rest.split('.').try_fold(&doc, |at, part| at.get(part)))
        .ok_or_else(missing)?;
    Ok(match found {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    })
}

/// The data map for `dataFrom.extract`.
pub fn map(data: &Value) -> BTreeMap<String, Vec<u8>> {
    data.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_forms_are_home_and_others_are_not() {
        for u in [
            None,
            Some("kubernetes.default"),
            Some("https://kubernetes.default.svc:443"),
            Some("https://kubernetes.default.svc.cluster.local"),
        ] {
            assert!(is_home(u), "{u:?}");
        }
        assert!(!is_home(Some("https://k8s.other.example:6443")));
    }

    #[test]
    fn properties_follow_esos_get_secret() {
        let data = json!({"password": "pw-1", "config": "{\"db\":{\"port\":5432}}"});
        assert_eq!(
            select(&data, "db", Some("password")).ok(),
            Some(b"pw-1".to_vec())
        );
        assert_eq!(
            select(&data, "db", Some("config.db.port")).ok(),
            Some(b"5432".to_vec())
        );
        assert_eq!(
            select(&data, "db", Some("username")).err().map(|e| e.0),
            Some("property username does not exist in data of secret \"db\"".into())
        );
    }
}
