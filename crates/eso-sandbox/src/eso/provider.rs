//! How the simulated ESO controller talks to providers: over HTTP, with the store's own settings, exactly as
//! ESO's Vault and Azure Key Vault providers do — so the sandbox works the same against the in-process
//! simulations and against a real OpenBao. Error texts follow the ones ESO users see in `UpdateFailed` events
//! (Vault's Go client "Error making API request." block; the Azure SDK for Go's ResponseError block).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A provider call failed; the text is what ESO would put in its event.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError(pub String);

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One HTTP client trusting the sandbox's own CAs (and nothing else: the sandbox never leaves loopback).
/// Host names under `proxy.0` (the Key Vault fake's DNS suffix) go through the https proxy `proxy.1`, as an
/// ESO pod behind a corporate proxy would reach them.
pub fn http_client(
    ca_pems: &[String],
    proxy: Option<(String, String)>,
) -> anyhow::Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(std::time::Duration::from_secs(10));
    if let Some((suffix, proxy_url)) = proxy {
        let proxy_url: reqwest::Url = proxy_url.parse()?;
        builder = builder.proxy(reqwest::Proxy::custom(move |url| {
            url.host_str()
                .filter(|h| h.ends_with(suffix.as_str()))
                .map(|_| proxy_url.clone())
        }));
    }
    Ok(builder.build()?)
}

/// Vault's Go API client error text (what ESO wraps into its events).
fn vault_error(method: &str, url: &str, status: u16, body: &str) -> ProviderError {
    let errors: Vec<String> = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_default();
    let mut text = format!("Error making API request.\n\nURL: {method} {url}\nCode: {status}.");
    if errors.is_empty() {
        text.push_str(" Raw Message:\n\n");
        text.push_str(body.trim());
    } else {
        text.push_str(" Errors:\n\n");
        for e in errors {
            text.push_str(&format!("* {e}\n"));
        }
    }
    ProviderError(text.trim_end().to_string())
}

async fn vault_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    server: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value, ProviderError> {
    let url = format!(
        "{}/v1/{}",
        server.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    let mut req = http.request(method.clone(), &url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ProviderError(format!("{method} {url}: {}", error_chain(&e))))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    // The Go client's ReadWithData hands back a 404 that carries data as a secret, not an error:
    // a KV v2 read of a deleted or destroyed version (`data: null` plus its metadata), which ESO
    // then reports as "Secret does not exist" (its NoSecretError).
    if status == 404 && method == reqwest::Method::GET {
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if parsed
            .get("data")
            .and_then(Value::as_object)
            .is_some_and(|d| !d.is_empty())
        {
            return Ok(parsed);
        }
    }
    if status >= 400 {
        return Err(vault_error(method.as_str(), &url, status, &text));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .map_err(|e| ProviderError(format!("decoding Vault response from {url}: {e}")))
}

/// Log in to Vault with a resolved auth method; returns the client token.
pub async fn vault_login(
    http: &reqwest::Client,
    server: &str,
    auth: &VaultAuth,
) -> Result<String, ProviderError> {
    match auth {
        VaultAuth::Token(t) => Ok(t.clone()),
        VaultAuth::Kubernetes { mount, role, jwt } => {
            let v = vault_call(
                http,
                reqwest::Method::POST,
                server,
                &format!("auth/{mount}/login"),
                None,
                Some(json!({"role": role, "jwt": jwt})),
            )
            .await?;
            client_token(&v)
        }
        VaultAuth::AppRole {
            mount,
            role_id,
            secret_id,
        } => {
            // Vault's api/auth/approle logs in with Logical().Write (a PUT), and api.Auth().Login
            // wraps its error twice.
            let v = vault_call(
                http,
                reqwest::Method::PUT,
                server,
                &format!("auth/{mount}/login"),
                None,
                Some(json!({"role_id": role_id, "secret_id": secret_id})),
            )
            .await
            .map_err(|e| {
                ProviderError(format!(
                    "unable to log in to auth method: unable to log in with app role auth: {}",
                    e.0
                ))
            })?;
            client_token(&v)
        }
    }
}

fn client_token(v: &Value) -> Result<String, ProviderError> {
    v.pointer("/auth/client_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ProviderError("no client token in Vault login response".into()))
}

/// What a Vault store's `auth` resolves to once its Secrets / ServiceAccount have been read.
#[derive(Clone)]
pub enum VaultAuth {
    Token(String),
    Kubernetes {
        mount: String,
        role: String,
        jwt: String,
    },
    AppRole {
        mount: String,
        role_id: String,
        secret_id: String,
    },
}

/// ESO's store validation for Vault: `auth/token/lookup-self` with the logged-in token.
pub async fn vault_validate(
    http: &reqwest::Client,
    server: &str,
    token: &str,
) -> Result<(), ProviderError> {
    vault_call(
        http,
        reqwest::Method::GET,
        server,
        "auth/token/lookup-self",
        Some(token),
        None,
    )
    .await
    .map(|_| ())
}

/// Read one secret (a map of fields) from a KV mount, v1 or v2.
pub async fn vault_read(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    mount: &str,
    kv_version: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Map<String, Value>, ProviderError> {
    let key = key.trim_start_matches('/');
    let path = if kv_version == "v1" {
        format!("{mount}/{key}")
    } else {
        match version {
            Some(v) => format!("{mount}/data/{key}?version={v}"),
            None => format!("{mount}/data/{key}"),
        }
    };
    let v = vault_call(http, reqwest::Method::GET, server, &path, Some(token), None)
        .await
        .map_err(|e| ProviderError(format!("cannot read secret data from Vault: {e}")))?;
    let data = if kv_version == "v1" {
        v.pointer("/data")
    } else {
        v.pointer("/data/data")
    };
    match data {
        Some(Value::Object(m)) => Ok(m.clone()),
        _ => Err(ProviderError("Secret does not exist".into())),
    }
}

/// Write one secret (a map of fields) to a KV mount, v1 or v2, as ESO's PushSecret does.
pub async fn vault_write(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    mount: &str,
    kv_version: &str,
    key: &str,
    data: Map<String, Value>,
) -> Result<(), ProviderError> {
    let key = key.trim_start_matches('/');
    let (path, body) = if kv_version == "v1" {
        (format!("{mount}/{key}"), Value::Object(data))
    } else {
        (format!("{mount}/data/{key}"), json!({ "data": data }))
    };
    vault_call(
        http,
        reqwest::Method::POST,
        server,
        &path,
        Some(token),
        Some(body),
    )
    .await
    .map(|_| ())
}

/// Entra ID client-credentials token for Key Vault.
pub async fn azure_token(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    credential: &AzureCredential,
    scope: &str,
) -> Result<String, ProviderError> {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        authority.trim_end_matches('/'),
        tenant
    );
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client_id.to_string()),
        ("scope", scope.to_string()),
    ];
    match credential {
        AzureCredential::Secret(s) => form.push(("client_secret", s.clone())),
        AzureCredential::Assertion(a) => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ));
            form.push(("client_assertion", a.clone()));
        }
    }
    let resp = http.post(&url).form(&form).send().await.map_err(|e| {
        ProviderError(format!(
            "could not get token from {url}: {}",
            error_chain(&e)
        ))
    })?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        let code = body.get("error").and_then(Value::as_str).unwrap_or("error");
        return Err(ProviderError(format!(
            "ClientSecretCredential: authentication failed:\n{}To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot#client-secret",
            azcore_response("POST", &url, status, code, &body)
        )));
    }
    body.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ProviderError("no access_token in Entra ID response".into()))
}

#[derive(Clone)]
pub enum AzureCredential {
    Secret(String),
    Assertion(String),
}

/// GET a Key Vault secret's value.
pub async fn akv_get_secret(
    http: &reqwest::Client,
    vault_url: &str,
    bearer: &str,
    name: &str,
    version: Option<&str>,
) -> Result<String, ProviderError> {
    let url = format!(
        "{}/secrets/{}/{}?api-version=7.4",
        vault_url.trim_end_matches('/'),
        name,
        version.unwrap_or("")
    );
    let resp = http
        .get(&url)
        .bearer_auth(bearer)
        .send()
        .await
        .map_err(|e| ProviderError(format!("GET {url}: {}", error_chain(&e))))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ProviderError(azcore_response(
            "GET", &url, status, code, &body,
        )));
    }
    body.get("value")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ProviderError("Key Vault answered without a value".into()))
}

/// The Azure SDK for Go's `ResponseError` text, which ESO (useAzureSDK: true) puts into its events.
fn azcore_response(method: &str, url: &str, status: u16, code: &str, body: &Value) -> String {
    let rule = "-".repeat(80);
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let pretty = serde_json::to_string_pretty(body).unwrap_or_default();
    format!(
        "{method} {url}\n{rule}\nRESPONSE {status}: {status} {reason}\nERROR CODE: {code}\n{rule}\n{pretty}\n{rule}\n"
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Decode a Kubernetes Secret's `data` entry.
pub fn secret_value(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.pointer(&format!(
        "/data/{}",
        key.replace('~', "~0").replace('/', "~1")
    ))?;
    let bytes = STANDARD.decode(b64.as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

/// One call to a Vault path as ESO's VaultDynamicSecret generator makes it (`spec.method`, default GET;
/// `spec.parameters` as the body of a write); returns the whole response.
pub async fn vault_dynamic(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    method: &str,
    path: &str,
    parameters: Option<Value>,
) -> Result<Value, ProviderError> {
    let method = match method.to_ascii_uppercase().as_str() {
        "" | "GET" => reqwest::Method::GET,
        "POST" | "PUT" => reqwest::Method::POST,
        "LIST" => reqwest::Method::from_bytes(b"LIST").unwrap_or(reqwest::Method::GET),
        other => {
            return Err(ProviderError(format!(
                "unsupported method {other:?} for a Vault dynamic secret"
            )));
        }
    };
    let body = (method != reqwest::Method::GET).then(|| parameters.unwrap_or(Value::Null));
    vault_call(http, method, server, path, Some(token), body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_errors_read_like_the_go_client() {
        let e = vault_error(
            "GET",
            "http://127.0.0.1:8200/v1/registry-creds/data/order-service",
            403,
            r#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#,
        );
        assert!(e.0.starts_with("Error making API request.\n\nURL: GET http://127.0.0.1:8200/v1/registry-creds/data/order-service\nCode: 403. Errors:"));
        assert!(e.0.contains("permission denied"));
    }

    #[test]
    fn secret_value_decodes_base64() {
        let s = json!({"data": {"token": STANDARD.encode("abc")}});
        assert_eq!(secret_value(&s, "token").as_deref(), Some("abc"));
        assert_eq!(secret_value(&s, "missing"), None);
    }
}

/// How an AWS store's first credentials are obtained (ESO's providers/v1/aws/auth).
#[derive(Clone)]
pub enum AwsAuth {
    /// `auth.secretRef`: static keys, no STS call.
    Static(crate::aws::sigv4::Creds),
    /// `auth.jwt.serviceAccountRef` (IRSA): the role from the ServiceAccount's
    /// `eks.amazonaws.com/role-arn` annotation and a token for `sts.amazonaws.com`.
    WebIdentity { role_arn: String, jwt: String },
}

/// The error texts of the AWS SDK for Go v2, which ESO's AWS provider returns as they are:
/// `operation error <Service>: <Op>, https response error StatusCode: N, RequestID: ID, <cause>`,
/// where the cause is `api error CODE: message` for codes the service does not model
/// (AccessDeniedException, AccessDenied) and `CODE: message` for those it does.
fn aws_sdk_error(service: &str, op: &str, status: u16, request_id: &str, body: &str) -> String {
    let (code, message) = if let Ok(v) = serde_json::from_str::<Value>(body) {
        let code = v
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_string();
        let message = ["message", "Message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        (code, message)
    } else {
        let tag = |t: &str| {
            body.split_once(&format!("<{t}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{t}>")))
                .map(|(v, _)| {
                    v.replace("&quot;", "\"")
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&")
                })
                .unwrap_or_default()
        };
        (tag("Code"), tag("Message"))
    };
    let modeled = matches!(
        code.as_str(),
        "ResourceNotFoundException"
            | "InvalidRequestException"
            | "InvalidParameterException"
            | "DecryptionFailure"
            | "InternalServiceError"
            | "ParameterNotFound"
            | "ParameterVersionNotFound"
            | "InvalidKeyId"
            | "InvalidIdentityToken"
            | "ExpiredTokenException"
            | "IDPRejectedClaim"
            | "MalformedPolicyDocument"
    );
    let cause = if modeled {
        format!("{code}: {message}")
    } else {
        format!("api error {code}: {message}")
    };
    format!(
        "operation error {service}: {op}, https response error StatusCode: {status}, RequestID: {request_id}, {cause}"
    )
}

/// The parsed answer of one AWS call, or ESO's error text for it; the error's `code` lets the
/// caller map not-found answers to ESO's `Secret does not exist`.
pub struct AwsFailure {
    pub code: String,
    pub text: String,
}

async fn aws_call(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    creds: Option<&crate::aws::sigv4::Creds>,
    call: (&str, &str, &str),
    json_target: Option<&str>,
    body: Vec<u8>,
) -> Result<String, AwsFailure> {
    let (signing_service, sdk_service, op) = call;
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let content_type = if json_target.is_some() {
        "application/x-amz-json-1.1"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
    if let Some(t) = json_target {
        headers.push(("x-amz-target", t));
    }
    let mut req = http.post(&url).body(body.clone());
    for (k, v) in &headers {
        req = req.header(*k, *v);
    }
    if let Some(c) = creds {
        for (k, v) in crate::aws::sigv4::sign(
            c,
            region,
            signing_service,
            &host,
            &headers,
            &body,
            jiff::Timestamp::now(),
        ) {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.map_err(|e| AwsFailure {
        code: String::new(),
        text: format!(
            "operation error {sdk_service}: {op}, https response error StatusCode: 0, RequestID: , request send failed, Post \"{url}\": {}",
            error_chain(&e)
        ),
    })?;
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    if status >= 300 {
        let full = aws_sdk_error(sdk_service, op, status, &request_id, &text);
        let code = full
            .rsplit(", ")
            .next()
            .unwrap_or_default()
            .trim_start_matches("api error ")
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Err(AwsFailure { code, text: full });
    }
    Ok(text)
}

fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{tag}>"))?;
    let (v, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        v.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn temporary_credentials(xml: &str) -> Option<crate::aws::sigv4::Creds> {
    Some(crate::aws::sigv4::Creds {
        access_key_id: xml_tag(xml, "AccessKeyId")?,
        secret_access_key: xml_tag(xml, "SecretAccessKey")?,
        session_token: xml_tag(xml, "SessionToken"),
    })
}

/// The credentials ESO's AWS session ends up with: the store's auth, then `role` (with
/// `externalID`) assumed on top. The SDK resolves them lazily, so a refusal reads as the first
/// call's failure: `get identity: get credentials: failed to refresh cached credentials, …`.
pub async fn aws_login(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    auth: &AwsAuth,
    role: Option<&str>,
    external_id: Option<&str>,
) -> Result<crate::aws::sigv4::Creds, String> {
    let wrap = |e: AwsFailure| {
        format!(
            "get identity: get credentials: failed to refresh cached credentials, failed to retrieve credentials, {}",
            e.text
        )
    };
    let mut creds = match auth {
        AwsAuth::Static(c) => c.clone(),
        AwsAuth::WebIdentity { role_arn, jwt } => {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("Action", "AssumeRoleWithWebIdentity"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", role_arn.as_str()),
                    ("RoleSessionName", "external-secrets-provider-aws"),
                    ("WebIdentityToken", jwt.as_str()),
                ])
                .finish();
            let xml = aws_call(
                http,
                endpoint,
                region,
                None,
                ("sts", "STS", "AssumeRoleWithWebIdentity"),
                None,
                body.into_bytes(),
            )
            .await
            .map_err(wrap)?;
            temporary_credentials(&xml).ok_or("STS answered without credentials")?
        }
    };
    if let Some(role) = role {
        let mut pairs = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", "external-secrets-provider-aws"),
        ];
        if let Some(x) = external_id {
            pairs.push(("ExternalId", x));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let xml = aws_call(
            http,
            endpoint,
            region,
            Some(&creds),
            ("sts", "STS", "AssumeRole"),
            None,
            body.into_bytes(),
        )
        .await
        .map_err(wrap)?;
        creds = temporary_credentials(&xml).ok_or("STS answered without credentials")?;
    }
    Ok(creds)
}

/// `GetSecretValue` (Secrets Manager) or `GetParameter` with decryption (Parameter Store), with
/// ESO's mapping: a missing secret or parameter is `Secret does not exist`; every other refusal
/// is the SDK's text.
pub async fn aws_read(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    creds: &crate::aws::sigv4::Creds,
    parameter_store: bool,
    key: &str,
    version: Option<&str>,
) -> Result<String, ProviderError> {
    let (target, call, body) = if parameter_store {
        let name = match version {
            Some(v) => format!("{key}:{v}"),
            None => key.to_string(),
        };
        (
            "AmazonSSM.GetParameter",
            ("ssm", "SSM", "GetParameter"),
            json!({"Name": name, "WithDecryption": true}),
        )
    } else {
        let mut body = json!({"SecretId": key});
        match version {
            Some(v) if v.starts_with("uuid/") => {
                body["VersionId"] = json!(v.trim_start_matches("uuid/"));
            }
            Some(v) => body["VersionStage"] = json!(v),
            None => body["VersionStage"] = json!("AWSCURRENT"),
        }
        (
            "secretsmanager.GetSecretValue",
            ("secretsmanager", "Secrets Manager", "GetSecretValue"),
            body,
        )
    };
    let text = aws_call(
        http,
        endpoint,
        region,
        Some(creds),
        call,
        Some(target),
        body.to_string().into_bytes(),
    )
    .await
    .map_err(|e| match e.code.as_str() {
        "ResourceNotFoundException" | "ParameterNotFound" => {
            ProviderError("Secret does not exist".into())
        }
        _ => ProviderError(e.text),
    })?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let value = if parameter_store {
        v.pointer("/Parameter/Value")
    } else {
        v.get("SecretString")
    };
    value
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError(format!(
                "invalid secret received. no secret string nor binary for key: {key}"
            ))
        })
}
