//! Authentication: who is calling, the way kube-apiserver decides it.
//!
//! Four authenticators, tried like the real server's union: a client certificate the client CA
//! signed (`super::x509`, first, as kube-apiserver's x509 authenticator comes before its token
//! authenticators), the static admin bearer token, bound ServiceAccount JWTs signed by this
//! server, and anonymous when no credential is presented. Impersonation headers (`kubectl --as`) are
//! applied afterwards and authorised through RBAC, as the real filter does.

use std::collections::BTreeMap;

use http::HeaderMap;
use serde_json::{Value, json};

use super::jwt::{JwtError, Signer};
use super::x509::{ClientCa, PresentedCertificate};
use super::{AuthnError, RequestAttributes, UserInfo};
use crate::Store;

/// The audience and issuer kube-apiserver gives itself by default.
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

pub const GROUP_MASTERS: &str = "system:masters";
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
pub const USER_ANONYMOUS: &str = "system:anonymous";
const SA_PREFIX: &str = "system:serviceaccount:";
const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// Holds the admin token and the ServiceAccount token signing key of one API server.
#[derive(Clone)]
pub struct Authenticator {
    admin_token: String,
    signer: Option<Signer>,
    /// Every token this server minted, so leak tests can look for them in a client's output
    /// (issue 18).
    issued: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `--client-ca-file`: set once the server's TLS is set up (a plain-HTTP server has none).
    client_ca: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<ClientCa>>>,
}

impl std::fmt::Debug for Authenticator {
    // The admin token is a credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Why a token did not authenticate, split the way TokenReview words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// No authenticator recognised the token: "invalid bearer token".
    Unrecognised,
    /// The ServiceAccount authenticator recognised the token and rejected it for this reason.
    Rejected(String),
}

impl TokenError {
    /// The text kube-apiserver's union authenticator reports.
    pub(crate) fn message(&self) -> String {
        match self {
            TokenError::Unrecognised => "invalid bearer token".to_string(),
            TokenError::Rejected(why) => format!("[invalid bearer token, {why}]"),
        }
    }
}

impl Authenticator {
    pub fn new(admin_token: String) -> Self {
        // Without OS randomness no token can be signed; SA tokens then simply never verify.
        Self {
            admin_token,
            signer: Signer::generate(),
            issued: Default::default(),
            client_ca: Default::default(),
        }
    }

    /// Trust client certificates `ca` signed (kube-apiserver's `--client-ca-file`); once.
    pub fn set_client_ca(&self, ca: std::sync::Arc<ClientCa>) {
        let _ = self.client_ca.set(ca);
    }

    /// The client CA, when this server has one.
    pub fn client_ca(&self) -> Option<std::sync::Arc<ClientCa>> {
        self.client_ca.get().cloned()
    }

    /// What a presented certificate chain (end entity first) proves; `None` when nothing was
    /// presented or the server has no client CA (then a certificate is simply not looked at).
    pub fn check_certificate(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'_>],
    ) -> Option<PresentedCertificate> {
        self.client_ca.get()?.check(chain)
    }

    /// Every ServiceAccount token minted so far (TokenRequests and `Store::issue_token`).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// PEM public key that verifies this server's ServiceAccount tokens (Vault `pem_keys`).
    pub fn public_key_pem(&self) -> Option<String> {
        self.signer.as_ref().map(Signer::public_key_pem)
    }

    /// The JWK Set that verifies this server's ServiceAccount tokens (see `Signer::jwks`).
    pub fn jwks(&self) -> Option<Value> {
        self.signer.as_ref().map(Signer::jwks)
    }

    /// The identity behind a request's headers, impersonation included.
    pub fn authenticate(&self, store: &Store, headers: &HeaderMap) -> Result<UserInfo, AuthnError> {
        self.authenticate_request(store, headers, None)
    }

    /// As [`Authenticator::authenticate`], with what the connection's TLS client certificate
    /// proved: a verified certificate's user wins (x509 comes first in kube-apiserver's union);
    /// one that did not verify is an error unless a bearer token authenticates (the union
    /// succeeds on any authenticator), and never falls back to anonymous.
    pub fn authenticate_request(
        &self,
        store: &Store,
        headers: &HeaderMap,
        certificate: Option<&PresentedCertificate>,
    ) -> Result<UserInfo, AuthnError> {
        let unauthorized = || AuthnError::Unauthorized("Unauthorized".to_string());
        let from_cert = match certificate {
            Some(PresentedCertificate::Verified(Some(user))) => {
                return impersonate(store, user.clone(), headers);
            }
            Some(PresentedCertificate::Rejected(_)) => Err(unauthorized()),
            Some(PresentedCertificate::Verified(None)) | None => Ok(anonymous()),
        };
        let user = match bearer_token(headers) {
            None => from_cert?,
            Some(token) => match self.authenticate_token(store, token, &[API_AUDIENCE.to_string()])
            {
                Ok((user, _)) => user,
                Err(_) => return Err(unauthorized()),
            },
        };
        impersonate(store, user, headers)
    }

    /// A bound ServiceAccount token and its RFC 3339 expiry.
    pub fn issue_token(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        audiences: &[String],
        expiration_seconds: i64,
    ) -> (String, String) {
        self.issue_bound_token(
            namespace,
            sa_name,
            sa_uid,
            audiences,
            expiration_seconds,
            None,
        )
    }

    /// As [`Authenticator::issue_token`], optionally bound to an object (`{"kind","name","uid"}`,
    /// Pod or Secret) whose name and uid go into the `kubernetes.io` claim like a projected token's.
    pub fn issue_bound_token(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        audiences: &[String],
        expiration_seconds: i64,
        bound: Option<&Value>,
    ) -> (String, String) {
        let now = jiff::Timestamp::now().as_second();
        let exp = now.saturating_add(expiration_seconds);
        let mut k8s = json!({
            "namespace": namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        });
        if let Some(bound) = bound {
            let kind = bound
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            if kind == "pod" || kind == "secret" {
                k8s[kind] = json!({
                    "name": bound.get("name").cloned().unwrap_or(Value::Null),
                    "uid": bound.get("uid").cloned().unwrap_or(Value::Null),
                });
            }
        }
        let claims = json!({
            "aud": audiences,
            "exp": exp,
            "iat": now,
            "iss": ISSUER,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": format!("{SA_PREFIX}{namespace}:{sa_name}"),
        });
        let token = self
            .signer
            .as_ref()
            .map(|s| s.sign(&claims))
            .unwrap_or_default();
        if !token.is_empty() {
            self.issued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(token.clone());
        }
        (token, rfc3339(exp))
    }

    /// Checks a bearer token for `target_audiences`; on success also returns the audiences it is valid for.
    pub(crate) fn authenticate_token(
        &self,
        store: &Store,
        token: &str,
        target_audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), TokenError> {
        if !self.admin_token.is_empty()
            && constant_time_eq(token.as_bytes(), self.admin_token.as_bytes())
        {
            // Static tokens are audience-agnostic: valid only for the server's own audience.
            if !target_audiences.iter().any(|a| a == API_AUDIENCE) {
                return Err(TokenError::Unrecognised);
            }
            return Ok((admin(), target_audiences.to_vec()));
        }
        self.authenticate_service_account(store, token, target_audiences)
    }

    fn authenticate_service_account(
        &self,
        store: &Store,
        token: &str,
        target_audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), TokenError> {
        let Ok((_, unverified, _)) = super::jwt::split(token) else {
            return Err(TokenError::Unrecognised);
        };
        // Like kube-apiserver, a JWT from another issuer is simply not ours.
        if unverified.get("iss").and_then(Value::as_str) != Some(ISSUER) {
            return Err(TokenError::Unrecognised);
        }
        let signer = self.signer.as_ref().ok_or(TokenError::Unrecognised)?;
        let claims = match signer.verify(token) {
            Ok(c) => c,
            Err(JwtError::Malformed) => return Err(TokenError::Unrecognised),
            Err(JwtError::BadSignature) => {
                return Err(TokenError::Rejected(
                    "go-jose/go-jose: error in cryptographic primitive".into(),
                ));
            }
        };
        let token_audiences = audiences_of(&claims);
        let matched: Vec<String> = target_audiences
            .iter()
            .filter(|a| token_audiences.contains(a))
            .cloned()
            .collect();
        if matched.is_empty() {
            return Err(TokenError::Rejected(format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quoted_list(&token_audiences),
                go_quoted_list(target_audiences)
            )));
        }
        let now = jiff::Timestamp::now().as_second();
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if now >= exp {
            return Err(TokenError::Rejected(
                "service account token has expired".into(),
            ));
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| now < nbf)
        {
            return Err(TokenError::Rejected(
                "service account token is not valid yet".into(),
            ));
        }
        let k8s = claims.get("kubernetes.io").cloned().unwrap_or(Value::Null);
        let namespace = k8s
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let sa = k8s.get("serviceaccount").cloned().unwrap_or(Value::Null);
        let sa_name = sa.get("name").and_then(Value::as_str).unwrap_or_default();
        let sa_uid = sa.get("uid").and_then(Value::as_str).unwrap_or_default();
        let live_uid = store
            .get("v1", "ServiceAccount", Some(namespace), sa_name)
            .and_then(|o| {
                o.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(String::from)
            });
        if namespace.is_empty() || sa_name.is_empty() || live_uid.as_deref() != Some(sa_uid) {
            // A deleted (or deleted and re-created) ServiceAccount invalidates its tokens.
            return Err(TokenError::Rejected(
                "service account token has been invalidated".into(),
            ));
        }
        let mut extra = BTreeMap::new();
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            extra.insert(CREDENTIAL_ID.to_string(), vec![format!("JTI={jti}")]);
        }
        if let Some(pod) = k8s.get("pod") {
            for (key, field) in [("pod-name", "name"), ("pod-uid", "uid")] {
                if let Some(v) = pod.get(field).and_then(Value::as_str) {
                    extra.insert(
                        format!("authentication.kubernetes.io/{key}"),
                        vec![v.to_string()],
                    );
                }
            }
        }
        let user = UserInfo {
            username: format!("{SA_PREFIX}{namespace}:{sa_name}"),
            uid: sa_uid.to_string(),
            groups: service_account_groups(namespace),
            extra,
        };
        Ok((user, matched))
    }
}

/// The user the static admin token stands for.
pub fn admin() -> UserInfo {
    UserInfo {
        username: "admin".to_string(),
        uid: "admin".to_string(),
        groups: vec![GROUP_MASTERS.to_string(), GROUP_AUTHENTICATED.to_string()],
        extra: BTreeMap::new(),
    }
}

fn anonymous() -> UserInfo {
    UserInfo {
        username: USER_ANONYMOUS.to_string(),
        uid: String::new(),
        groups: vec![GROUP_UNAUTHENTICATED.to_string()],
        extra: BTreeMap::new(),
    }
}

fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
        GROUP_AUTHENTICATED.to_string(),
    ]
}

/// `(namespace, name)` when `username` is a ServiceAccount's.
pub fn service_account_of(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SA_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The bearer token of a request; an empty or non-Bearer Authorization counts as none, as in kube-apiserver.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Applies `Impersonate-User` / `Impersonate-Group`, checking the `impersonate` verb for each.
fn impersonate(
    store: &Store,
    requestor: UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, AuthnError> {
    let as_user = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let as_groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let Some(as_user) = as_user else {
        if as_groups.is_empty() {
            return Ok(requestor);
        }
        return Err(AuthnError::Forbidden(format!(
            "requested {} without impersonating a user",
            as_groups
                .iter()
                .map(|g| format!("{{Group {g}}}"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    };
    let mut checks = Vec::new();
    let mut groups = Vec::new();
    if let Some((ns, name)) = service_account_of(&as_user) {
        checks.push(impersonation_attrs("serviceaccounts", Some(ns), name));
        if as_groups.is_empty() {
            groups = service_account_groups(ns);
        }
    } else {
        checks.push(impersonation_attrs("users", None, &as_user));
    }
    for g in &as_groups {
        checks.push(impersonation_attrs("groups", None, g));
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    for attrs in &checks {
        let decision = super::authorize(store, &requestor, attrs);
        if !decision.allowed {
            return Err(AuthnError::Forbidden(super::rbac::forbidden_message(
                &requestor,
                attrs,
                decision.reason.as_deref(),
            )));
        }
    }
    if as_user == USER_ANONYMOUS {
        if !groups.iter().any(|g| g == GROUP_UNAUTHENTICATED) {
            groups.push(GROUP_UNAUTHENTICATED.to_string());
        }
    } else if !groups.iter().any(|g| g == GROUP_AUTHENTICATED) {
        groups.push(GROUP_AUTHENTICATED.to_string());
    }
    Ok(UserInfo {
        username: as_user,
        uid: String::new(),
        groups,
        extra: BTreeMap::new(),
    })
}

fn impersonation_attrs(resource: &str, namespace: Option<&str>, name: &str) -> RequestAttributes {
    RequestAttributes {
        verb: "impersonate".to_string(),
        api_group: String::new(),
        resource: resource.to_string(),
        subresource: None,
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
    }
}

fn audiences_of(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(" "))
}

pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Comparison whose time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_usernames_parse() {
        assert_eq!(
            service_account_of("system:serviceaccount:prod:readonly"),
            Some(("prod", "readonly"))
        );
        assert_eq!(service_account_of("system:serviceaccount:prod"), None);
        assert_eq!(service_account_of("admin"), None);
    }

    #[test]
    fn go_list_quoting_matches_kube_apiserver() {
        assert_eq!(go_quoted_list(&["vault".to_string()]), r#"["vault"]"#);
        assert_eq!(
            go_quoted_list(&["a".to_string(), "b".to_string()]),
            r#"["a" "b"]"#
        );
    }

    #[test]
    fn bearer_parsing_ignores_other_schemes() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Basic abc"),
        );
        assert_eq!(bearer_token(&h), None);
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer "),
        );
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn expiry_is_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
