//! The Kubernetes side of Vault's kubernetes auth: reading the service-account claims out of the
//! client's JWT and asking the API server's TokenReview whether the token is genuine. Sent exactly like
//! OpenBao sends it when no `token_reviewer_jwt` is configured (the client's JWT is the bearer), over
//! rustls with the ring provider, trusting only the configured `kubernetes_ca_cert`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// What OpenBao takes from the JWT before any TokenReview: who the token claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountClaims {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub secret_name: String,
    pub audiences: Vec<String>,
}

/// Signing algorithms OpenBao's kubernetes plugin accepts in the JWT header.
const SUPPORTED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
];

impl ServiceAccountClaims {
    /// Reads the claims without checking the signature (the TokenReview does that); `None` for
    /// anything that is not a JWS with service-account claims, which OpenBao answers with "permission denied".
    pub fn from_jwt(jwt: &str) -> Option<ServiceAccountClaims> {
        let mut parts = jwt.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || signature.is_empty() {
            return None;
        }
        let decode = |s: &str| -> Option<Value> {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .ok()?;
            serde_json::from_slice(&bytes).ok()
        };
        let header = decode(header)?;
        if !SUPPORTED_ALGS.contains(&header.get("alg")?.as_str()?) {
            return None;
        }
        let claims = decode(payload)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let legacy =
            |k: &str| text(claims.get(format!("kubernetes.io/serviceaccount/{k}").as_str()));
        let (namespace, name, uid, secret_name) = match claims.get("kubernetes.io") {
            Some(k) => (
                text(k.get("namespace")),
                text(k.pointer("/serviceaccount/name")),
                text(k.pointer("/serviceaccount/uid")),
                text(k.pointer("/secret/name")),
            ),
            None => (
                legacy("namespace"),
                legacy("service-account.name"),
                legacy("service-account.uid"),
                legacy("secret.name"),
            ),
        };
        if namespace.is_empty() || name.is_empty() {
            return None;
        }
        let audiences = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Some(ServiceAccountClaims {
            namespace,
            name,
            uid,
            secret_name,
            audiences,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedUser {
    pub username: String,
    pub uid: String,
}

/// POSTs a TokenReview and returns the authenticated user. The error is for logs only and never
/// contains the token.
pub async fn review(
    host: &str,
    ca_pem: &str,
    jwt: &str,
    audiences: &[String],
) -> Result<ReviewedUser, String> {
    let client = http_client(Some(ca_pem).filter(|c| !c.trim().is_empty()))
        .map_err(|e| format!("tls setup: {e}"))?;
    let mut spec = json!({ "token": jwt });
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let url = format!(
        "{}/apis/authentication.k8s.io/v1/tokenreviews",
        host.trim_end_matches('/')
    );
    let response = client
        .post(url)
        .bearer_auth(jwt)
        .json(&json!({ "metadata": {}, "spec": spec, "status": { "user": {} } }))
        .send()
        .await
        .map_err(|e| format!("tokenreview request failed: {}", e.without_url()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|_| format!("tokenreview answered {status} without JSON"))?;
    if !status.is_success() {
        return Err(format!("tokenreview answered {status}"));
    }
    let st = body.get("status").cloned().unwrap_or_default();
    if st.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return Err("lookup failed: service account unauthorized; this could mean it has been deleted or recreated with a new token".into());
    }
    if !audiences.is_empty() {
        let granted: Vec<&str> = st
            .get("audiences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !granted.iter().any(|g| audiences.iter().any(|a| a == g)) {
            return Err("token audiences did not match".into());
        }
    }
    let user = st.get("user").cloned().unwrap_or_default();
    let text = |k: &str| {
        user.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(ReviewedUser {
        username: text("username"),
        uid: text("uid"),
    })
}

/// A reqwest client on rustls with the ring provider, trusting only `ca_pem` (or nothing, for plain HTTP).
pub fn http_client(ca_pem: Option<&str>) -> anyhow::Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.map_err(|e| anyhow::anyhow!("bad CA certificate: {e}"))?)?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn reads_projected_token_claims() {
        let jwt = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "RS256"})),
            b64(
                &json!({"aud": ["vault"], "kubernetes.io": {"namespace": "external-secrets", "serviceaccount": {"name": "external-secrets", "uid": "u-1"}}})
            )
        );
        let claims = ServiceAccountClaims::from_jwt(&jwt);
        assert_eq!(
            claims.as_ref().map(|c| c.name.as_str()),
            Some("external-secrets")
        );
        assert_eq!(claims.as_ref().map(|c| c.uid.as_str()), Some("u-1"));
        assert_eq!(claims.map(|c| c.audiences), Some(vec!["vault".to_string()]));
    }

    #[test]
    fn rejects_non_jws_and_unsupported_algorithms() {
        assert_eq!(ServiceAccountClaims::from_jwt("garbage"), None);
        let none_alg = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "none"})),
            b64(&json!({"kubernetes.io": {"namespace": "a", "serviceaccount": {"name": "b"}}}))
        );
        assert_eq!(ServiceAccountClaims::from_jwt(&none_alg), None);
    }
}
