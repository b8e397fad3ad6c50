//! Entra ID's v2.0 token endpoint (client credentials grant) as a pure function over the state:
//! client secrets with expiry, certificate-signed client assertions, and workload-identity federated
//! tokens, answering with the AADSTS codes and texts real Entra ID uses so that a diagnosis keyed on
//! them is tested against the real wording.
//!
//! Federated tokens (Kubernetes ServiceAccount tokens) are verified as Entra ID verifies them (issue
//! 19): a federated credential must name the token's issuer, the signature must verify with a key
//! of that issuer's JWK Set (`AkvState::oidc_issuers`, which the sandbox fills with its cluster's
//! service-account signing key), and sub / aud must match the credential; expiry is checked first.
//!
//! Answers (HTTP status, `error`, AADSTS code):
//! - 200 token: a client secret that matches and has not expired; an assertion with `iss` = `sub` =
//!   client id, signed RS256/PS256 by a registered certificate named by `x5t#S256` or `x5t`; an
//!   assertion from another issuer whose iss / sub / aud match a federated credential.
//! - 401 invalid_client 7000215 wrong secret, 7000222 expired secret, 700027 certificate not
//!   registered or bad signature, 7000218 no credential at all.
//!   401 invalid_client 7000272 federated assertion signed by a key the issuer does not publish (or an
//!   issuer whose keys cannot be fetched), 7000274 key found but the signature does not verify.
//! - 400 unauthorized_client 700016 unknown app; invalid_request 90002 unknown tenant, 900144 missing
//!   parameter, 50027 malformed assertion, 70021 no matching federated credential; invalid_client
//!   700024 assertion expired; invalid_resource 500011 a scope for another resource (for example the
//!   public cloud's `https://vault.azure.net/.default`); invalid_scope 1002012 no `/.default`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use ring::{digest, hmac};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use super::endpoints::{ApiResponse, Endpoints};
use super::jwt::{self, Jwt};
use super::state::{AkvState, Principal};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Entra answers `expires_in` 3599 for app tokens.
const TOKEN_LIFETIME_SECS: i64 = 3599;

/// Answers `POST /{tenant}/oauth2/v2.0/token` with the given form fields.
pub fn token(
    state: &AkvState,
    ep: &Endpoints,
    key: &hmac::Key,
    tenant: &str,
    form: &[(String, String)],
    now: Timestamp,
) -> ApiResponse {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let err = |status, kind, code, text: String| entra_error(ep, status, kind, code, &text, now);
    if !tenant.eq_ignore_ascii_case(&state.tenant_id) {
        return err(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    }
    for required in ["grant_type", "client_id", "scope"] {
        if field(required).is_none() {
            return err(
                400,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{required}'."),
            );
        }
    }
    if field("grant_type") != Some("client_credentials") {
        return err(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.".to_owned(),
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    let Some(principal) = state
        .principals
        .iter()
        .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
    else {
        return err(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    let checked = match (field("client_secret"), field("client_assertion")) {
        (Some(secret), _) => check_client_secret(principal, secret, now),
        (None, Some(assertion)) if field("client_assertion_type") == Some(JWT_BEARER) => {
            check_assertion(state, principal, assertion, now)
        }
        (None, Some(_)) => Err((
            400,
            "invalid_request",
            50027,
            "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".to_owned(),
        )),
        (None, None) => Err((
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
        )),
    };
    if let Err((status, kind, code, text)) = checked {
        return err(status, kind, code, text);
    }
    let scope = field("scope").unwrap_or_default();
    let Some(resource) = scope.strip_suffix("/.default") else {
        return err(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let resource = resource.trim_end_matches('/');
    if resource != ep.resource() {
        return err(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        );
    }
    let iat = now.as_second();
    let claims = json!({
        "aud": resource,
        "iss": Endpoints::token_issuer(&state.tenant_id),
        "iat": iat,
        "nbf": iat,
        "exp": iat + TOKEN_LIFETIME_SECS,
        "appid": principal.client_id,
        "oid": principal.object_id,
        "sub": principal.object_id,
        "tid": state.tenant_id,
        "idtyp": "app",
    });
    ApiResponse::json(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": jwt::sign_hs256(&claims, key),
        }),
    )
}

type Rejection = (u16, &'static str, u32, String);

fn check_client_secret(p: &Principal, secret: &str, now: Timestamp) -> Result<(), Rejection> {
    let Some(matching) = p.client_secrets.iter().find(|s| s.value == secret) else {
        return Err((
            401,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                p.client_id
            ),
        ));
    };
    if matching.expires.is_some_and(|at| at <= now) {
        return Err((
            401,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                p.client_id
            ),
        ));
    }
    Ok(())
}

/// An assertion issued by the app itself is a certificate credential; any other issuer is federated.
fn check_assertion(
    state: &AkvState,
    p: &Principal,
    assertion: &str,
    now: Timestamp,
) -> Result<(), Rejection> {
    let Ok(jwt) = jwt::decode(assertion) else {
        return Err((
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".to_owned(),
        ));
    };
    let exp = jwt.claim_i64("exp").unwrap_or(0);
    let nbf = jwt.claim_i64("nbf").unwrap_or(i64::MIN);
    let now_s = now.as_second();
    if exp <= now_s || nbf > now_s + 300 {
        return Err((
            400,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, expiry time of assertion {}.",
                format_time(now),
                Timestamp::from_second(exp)
                    .map(format_time)
                    .unwrap_or_else(|_| exp.to_string())
            ),
        ));
    }
    if jwt
        .claim_str("iss")
        .is_some_and(|iss| iss.eq_ignore_ascii_case(&p.client_id))
    {
        check_certificate_assertion(p, &jwt)
    } else {
        check_federated_assertion(state, p, &jwt)
    }
}

fn check_certificate_assertion(p: &Principal, jwt: &Jwt) -> Result<(), Rejection> {
    let presented = jwt
        .header_str("x5t#S256")
        .map(|t| (t, &digest::SHA256))
        .or_else(|| {
            jwt.header_str("x5t")
                .map(|t| (t, &digest::SHA1_FOR_LEGACY_USE_ONLY))
        });
    let registered = presented.and_then(|(thumb, alg)| {
        p.certificates
            .iter()
            .filter_map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
            .find(|der| URL_SAFE_NO_PAD.encode(digest::digest(alg, der.as_ref())) == thumb)
    });
    let Some(der) = registered else {
        let thumb_hex = presented
            .and_then(|(t, _)| URL_SAFE_NO_PAD.decode(t).ok())
            .map(|b| b.iter().map(|x| format!("{x:02X}")).collect::<String>())
            .unwrap_or_default();
        return Err((
            401,
            "invalid_client",
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb_hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{}']",
                p.client_id, p.client_id
            ),
        ));
    };
    if jwt.claim_str("sub") != jwt.claim_str("iss") || jwt.verify_with_certificate(&der).is_err() {
        return Err((
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.".to_owned(),
        ));
    }
    Ok(())
}

/// Entra's order: find the app's federated credentials for the token's issuer, verify the
/// signature with that issuer's published keys, then match subject and audience.
fn check_federated_assertion(state: &AkvState, p: &Principal, jwt: &Jwt) -> Result<(), Rejection> {
    let iss = jwt.claim_str("iss").unwrap_or_default();
    let sub = jwt.claim_str("sub").unwrap_or_default();
    let auds = jwt.audiences();
    let for_issuer: Vec<_> = p
        .federated_credentials
        .iter()
        .filter(|fc| fc.issuer == iss)
        .collect();
    if !for_issuer.is_empty() {
        let keys = state
            .oidc_issuers
            .iter()
            .find(|i| i.issuer == iss)
            .map(|i| &i.jwks);
        verify_with_issuer_keys(jwt, iss, keys)?;
    }
    let matched = for_issuer
        .iter()
        .any(|fc| fc.subject == sub && auds.iter().any(|a| fc.audiences.iter().any(|x| x == a)));
    if matched {
        return Ok(());
    }
    Err((
        400,
        "invalid_request",
        70021,
        format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation",
            auds.join(",")
        ),
    ))
}

/// The signature check against the issuer's JWK Set, keyed by the token's `kid`.
fn verify_with_issuer_keys(
    jwt: &Jwt,
    iss: &str,
    jwks: Option<&serde_json::Value>,
) -> Result<(), Rejection> {
    let kid = jwt.header_str("kid").unwrap_or_default();
    let key = jwks
        .and_then(|k| k.get("keys"))
        .and_then(serde_json::Value::as_array)
        .and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == Some(kid)));
    let Some(key) = key else {
        return Err((
            401,
            "invalid_client",
            7000272,
            format!(
                "The certificate with identifier {kid} used to sign the federated credential could not be found in the metadata of identity provider {iss}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token."
            ),
        ));
    };
    if jwt.verify_with_jwk(key).is_err() {
        return Err((
            401,
            "invalid_client",
            7000274,
            format!(
                "Key was found, but use of the key to verify the signature failed. Key identifier {kid} from identity provider {iss}."
            ),
        ));
    }
    Ok(())
}

fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Entra's error body; its description carries trace / correlation ids and a timestamp like the real one.
fn entra_error(
    ep: &Endpoints,
    status: u16,
    kind: &str,
    code: u32,
    text: &str,
    now: Timestamp,
) -> ApiResponse {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let ts = format_time(now);
    ApiResponse::json(
        status,
        json!({
            "error": kind,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("{}/error?code={code}", ep.authority_url()),
        }),
    )
}

#[cfg(test)]
#[path = "entra_tests.rs"]
mod tests;
