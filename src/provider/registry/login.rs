//! Logs in to a container registry and asks for an image manifest exactly the way a container
//! runtime does (Docker Registry HTTP API v2 + the token flow), and reports *why* it failed.
//!
//! Why not oci-client (0.18)? We checked it: its `auth()` treats a `Basic` challenge as success
//! without ever sending the credentials (it only remembers them for later requests), so "does this
//! password work?" — the whole question — is not answered; it folds the registry's error text,
//! TLS failures and connection failures into one error type, and it has no `identitytoken`
//! refresh-token flow. Its HTTP stack would also add a second reqwest to the build. The flow is
//! small, so it lives here, on the product's own reqwest and the ring rustls provider.
//!
//! Nothing here logs or prints. Every message that leaves this module is built from the registry's
//! answer or the transport error, then passed through [`clean`], which also replaces every form of
//! the credentials in use (password, base64 `user:pass`, tokens) — a server echoing a header back
//! cannot make us print it.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};

use super::challenge::{Challenge, clean, token_grants};
use super::dockerconfig::Credential;
use super::outcome::{Check, Outcome};
use super::redact::Redacted;
use super::reference::{ImageRef, api_host};
use super::transport::{body_text, challenges_of, or_default, send_request, transport, unexpected};

/// The `Accept` list runtimes send for a manifest, newest formats first.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// OAuth2 client id sent with the refresh-token flow (runtimes send their own name).
const CLIENT_ID: &str = "kubectl-eso";

/// How requests are sent.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Total time for one request; a registry that does not answer in time is unreachable.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), added to the system roots (`--ca-file`).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(15),
            extra_ca_pem: None,
        }
    }
}

/// The client could not be set up (a tool error, not a registry finding).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("extra CA certificates are not valid PEM: {0}")]
    BadCa(String),
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// Talks to registries. Cheap to clone; reuse one for a whole report.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
}

/// What to put in the `Authorization` header.
enum Authz<'a> {
    Anonymous,
    Basic(&'a str, &'a Redacted<String>),
    Bearer(Redacted<String>),
}

impl RegistryClient {
    pub fn new(options: &ClientOptions) -> Result<RegistryClient, ClientError> {
        // reqwest (feature rustls-no-provider) panics when no process-wide provider is installed.
        // The binary installs ring first thing; tests and other embedders may not have, so make
        // sure here. Only ring is compiled in, so this cannot pick a different provider.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent(concat!("kubectl-eso/", env!("CARGO_PKG_VERSION")))
            // HTTPS_PROXY / NO_PROXY from the environment are honoured, as the container
            // runtime honours them: behind an egress proxy the registry is reachable only
            // through it (issue 18: this comment used to claim the opposite of what the code did).
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(pem) = &options.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::BadCa(clean(&e.to_string(), &[])))?;
            if certs.is_empty() {
                return Err(ClientError::BadCa("no certificate found".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(clean(&e.to_string(), &[])))?;
        Ok(RegistryClient { http })
    }

    /// `docker login`: `GET /v2/`, then the challenge's flow with the credential, then `/v2/`
    /// again with the result. `host` is a normalised registry name (`docker.io` is mapped to
    /// its API host).
    pub async fn login(&self, host: &str, credential: Option<&Credential>) -> Check {
        let mut secrets = credential.map(Credential::secret_forms).unwrap_or_default();
        let url = format!("https://{}/v2/", api_host(host));
        let first = match self
            .send(Method::GET, &url, &Authz::Anonymous, &secrets)
            .await
        {
            Ok(response) => response,
            Err(check) => return check,
        };
        match first.status() {
            StatusCode::OK => {
                return Check::new(
                    Outcome::Ok,
                    "registry allows anonymous access to /v2/; the credentials were not needed",
                );
            }
            StatusCode::UNAUTHORIZED => {}
            status => return unexpected(status, first, &secrets).await,
        }
        let challenges = challenges_of(&first);
        let Some(credential) = credential else {
            return Check::new(
                Outcome::Unauthorized,
                "registry requires authentication and there are no credentials for it",
            );
        };
        let authz = match self
            .authorize(&challenges, credential, None, &mut secrets)
            .await
        {
            Ok(authz) => authz,
            Err(check) => return check,
        };
        let scheme = match authz {
            Authz::Basic(..) => "basic auth".to_string(),
            _ => match realm_elsewhere(&challenges, api_host(host)) {
                // Docker and containerd send the Basic credentials to the realm whatever host it
                // is on; so do we, and the report says so (issue 18).
                Some(realm) if !matches!(credential, Credential::RegistryToken { .. }) => format!(
                    "bearer token; the credentials were sent to the token realm on another host, \
                     {}, as Docker sends them",
                    clean(&realm, &secrets)
                ),
                _ => "bearer token".to_string(),
            },
        };
        let response = match self.send(Method::GET, &url, &authz, &secrets).await {
            Ok(response) => response,
            Err(check) => return check,
        };
        if let Some(elsewhere) = redirected_elsewhere(&response, &url) {
            // The client dropped the Authorization header on the cross-host redirect: whatever
            // answered there answered an anonymous request (issue 18).
            let elsewhere = clean(&elsewhere, &secrets);
            return match response.status() {
                StatusCode::OK => Check::new(
                    Outcome::Ok,
                    format!(
                        "anonymous: /v2/ redirected to {elsewhere}, which allows anonymous access; \
                         the credentials were not sent there and were not checked"
                    ),
                ),
                status => Check::new(
                    Outcome::UnexpectedResponse,
                    format!(
                        "/v2/ redirected to {elsewhere}, which answered {} to a request without \
                         the credentials (they are not sent to another host)",
                        status.as_u16()
                    ),
                ),
            };
        }
        match response.status() {
            StatusCode::OK => Check::new(Outcome::Ok, format!("logged in ({scheme})")),
            StatusCode::UNAUTHORIZED => {
                let text = body_text(response, &secrets).await;
                Check::new(
                    Outcome::Unauthorized,
                    or_default(text, "authentication failed"),
                )
            }
            StatusCode::FORBIDDEN => {
                let text = body_text(response, &secrets).await;
                Check::new(Outcome::Denied, or_default(text, "access denied"))
            }
            status => unexpected(status, response, &secrets).await,
        }
    }

    /// What the kubelet asks: with this credential, can the manifest of `image` be pulled?
    /// Gets a `repository:NAME:pull` token when the registry uses tokens, then sends
    /// `HEAD /v2/NAME/manifests/REF` with the runtimes' `Accept` list.
    pub async fn check_image(&self, image: &ImageRef, credential: Option<&Credential>) -> Check {
        let mut secrets = credential.map(Credential::secret_forms).unwrap_or_default();
        let host = api_host(&image.registry);
        let ping = format!("https://{host}/v2/");
        let first = match self
            .send(Method::GET, &ping, &Authz::Anonymous, &secrets)
            .await
        {
            Ok(response) => response,
            Err(check) => return check,
        };
        let scope = format!("repository:{}:pull", image.repository);
        let mut authz = match first.status() {
            StatusCode::OK => Authz::Anonymous,
            StatusCode::UNAUTHORIZED => {
                let challenges = challenges_of(&first);
                let Some(credential) = credential else {
                    return Check::new(
                        Outcome::Unauthorized,
                        "registry requires authentication and there are no credentials for it",
                    );
                };
                match self
                    .authorize(&challenges, credential, Some(&scope), &mut secrets)
                    .await
                {
                    Ok(authz) => authz,
                    Err(check) => return check,
                }
            }
            status => return unexpected(status, first, &secrets).await,
        };
        let url = format!(
            "https://{host}/v2/{}/manifests/{}",
            image.repository,
            image.reference()
        );
        let mut response = match self.send(Method::HEAD, &url, &authz, &secrets).await {
            Ok(response) => response,
            Err(check) => return check,
        };
        // Some registries serve /v2/ anonymously and challenge only on the repository; a runtime
        // then answers that challenge, so we do too (once).
        if response.status() == StatusCode::UNAUTHORIZED
            && matches!(authz, Authz::Anonymous)
            && let Some(credential) = credential
        {
            let challenges = challenges_of(&response);
            authz = match self
                .authorize(&challenges, credential, Some(&scope), &mut secrets)
                .await
            {
                Ok(authz) => authz,
                Err(check) => return check,
            };
            response = match self.send(Method::HEAD, &url, &authz, &secrets).await {
                Ok(response) => response,
                Err(check) => return check,
            };
        }
        let pull_granted = match &authz {
            Authz::Bearer(token) => token_grants(token.expose(), &image.repository, "pull"),
            _ => None,
        };
        let denied_message = || {
            format!(
                "the token endpoint issued a token without pull access to {}",
                image.repository
            )
        };
        let anonymous_elsewhere = redirected_elsewhere(&response, &url)
            .filter(|_| !matches!(authz, Authz::Anonymous))
            .map(|h| clean(&h, &secrets));
        match response.status() {
            StatusCode::OK => match anonymous_elsewhere {
                Some(elsewhere) => Check::new(
                    Outcome::Ok,
                    format!(
                        "manifest found anonymously at {elsewhere} after a redirect; the \
                         credentials were not sent there and were not checked"
                    ),
                ),
                None => Check::new(Outcome::Ok, "manifest found; pull allowed"),
            },
            StatusCode::NOT_FOUND => Check::new(
                Outcome::NotFound,
                format!(
                    "manifest {} not found in repository {}",
                    image.reference(),
                    image.repository
                ),
            ),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let challenges = challenges_of(&response);
                let insufficient = challenges
                    .iter()
                    .any(|c| c.param("error") == Some("insufficient_scope"));
                if insufficient || pull_granted == Some(false) {
                    Check::new(Outcome::Denied, denied_message())
                } else if response.status() == StatusCode::FORBIDDEN {
                    Check::new(Outcome::Denied, "registry denied the pull (403)")
                } else {
                    let detail = challenges
                        .iter()
                        .find_map(|c| c.param("error_description").or(c.param("error")))
                        .map(|t| clean(t, &secrets));
                    Check::new(
                        Outcome::Unauthorized,
                        or_default(detail.unwrap_or_default(), "authentication required"),
                    )
                }
            }
            status => unexpected(status, response, &secrets).await,
        }
    }

    /// Turns a 401's challenges plus a credential into an `Authorization`, fetching a token when
    /// the registry delegates to a token realm.
    async fn authorize<'c>(
        &self,
        challenges: &[Challenge],
        credential: &'c Credential,
        scope: Option<&str>,
        secrets: &mut Vec<String>,
    ) -> Result<Authz<'c>, Check> {
        if let Credential::RegistryToken { token } = credential {
            return Ok(Authz::Bearer(token.clone()));
        }
        let bearer = challenges
            .iter()
            .find(|c| c.scheme == "bearer" && c.param("realm").is_some());
        if let Some(challenge) = bearer {
            let token = self
                .fetch_token(challenge, credential, scope, secrets)
                .await?;
            return Ok(Authz::Bearer(token));
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match credential {
                Credential::Basic { username, password } => Ok(Authz::Basic(username, password)),
                _ => Err(Check::new(
                    Outcome::Unauthorized,
                    "registry asks for basic auth but the entry only has an identity token",
                )),
            };
        }
        Err(Check::new(
            Outcome::UnexpectedResponse,
            "registry answered 401 without a usable WWW-Authenticate challenge",
        ))
    }

    /// Gets a bearer token from the realm: basic auth on a GET for username/password (what
    /// Docker and containerd send), the OAuth2 refresh-token POST for an identity token.
    async fn fetch_token(
        &self,
        challenge: &Challenge,
        credential: &Credential,
        scope: Option<&str>,
        secrets: &mut Vec<String>,
    ) -> Result<Redacted<String>, Check> {
        let realm = challenge.param("realm").unwrap_or_default();
        let mut url = reqwest::Url::parse(realm).map_err(|_| {
            Check::new(
                Outcome::UnexpectedResponse,
                format!("token realm {:?} is not a URL", clean(realm, secrets)),
            )
        })?;
        // The realm gets the password with Basic auth: never over plain http (we only talk https to registries).
        if url.scheme() != "https" {
            return Err(Check::new(
                Outcome::UnexpectedResponse,
                format!(
                    "token realm {:?} is not https: the credentials are not sent to it",
                    clean(realm, secrets)
                ),
            ));
        }
        let service = challenge.param("service");
        let response = match credential {
            Credential::IdentityToken { token, .. } => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("client_id", CLIENT_ID),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                let request = self.http.post(url.clone()).form(&form);
                send_request(request, url.as_str(), secrets).await?
            }
            Credential::Basic { username, password } => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    if let Some(scope) = scope {
                        query.append_pair("scope", scope);
                    }
                }
                let request = self
                    .http
                    .get(url.clone())
                    .basic_auth(username, Some(password.expose()));
                send_request(request, url.as_str(), secrets).await?
            }
            Credential::RegistryToken { token } => return Ok(token.clone()),
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let text = body_text(response, secrets).await;
            return Err(Check::new(
                Outcome::Unauthorized,
                format!(
                    "token endpoint refused the credentials ({}): {}",
                    status.as_u16(),
                    or_default(text, "no reason given")
                ),
            ));
        }
        if !status.is_success() {
            return Err(unexpected(status, response, secrets).await);
        }
        let body = response.bytes().await.map_err(|e| transport(&e, secrets))?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            Check::new(
                Outcome::UnexpectedResponse,
                "token endpoint answered 200 without a JSON body",
            )
        })?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| json.get(k).and_then(|v| v.as_str()))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Check::new(
                    Outcome::UnexpectedResponse,
                    "token endpoint answered 200 without a token",
                )
            })?;
        secrets.push(token.to_string());
        Ok(Redacted::new(token.to_string()))
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        authz: &Authz<'_>,
        secrets: &[String],
    ) -> Result<reqwest::Response, Check> {
        let mut request = self.http.request(method.clone(), url);
        if method == Method::HEAD {
            request = request.header(header::ACCEPT, MANIFEST_ACCEPT);
        }
        request = match authz {
            Authz::Anonymous => request,
            Authz::Basic(user, password) => request.basic_auth(user, Some(password.expose())),
            Authz::Bearer(token) => request.bearer_auth(token.expose()),
        };
        send_request(request, url, secrets).await
    }
}

/// `scheme://host:port` of a URL, for telling whether a redirect left the registry.
fn origin(url: &reqwest::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// The host a response finally came from when redirects took the request to another origin
/// (where the Authorization header is not sent).
fn redirected_elsewhere(response: &reqwest::Response, requested: &str) -> Option<String> {
    let requested = reqwest::Url::parse(requested).ok()?;
    let got = response.url();
    (origin(got) != origin(&requested)).then(|| {
        let host = got.host_str().unwrap_or_default();
        match got.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    })
}

/// The token realm's host when it is not the registry's own host.
fn realm_elsewhere(challenges: &[Challenge], registry_host: &str) -> Option<String> {
    let realm = challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .and_then(|c| c.param("realm"))?;
    let url = reqwest::Url::parse(realm).ok()?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_string(),
    };
    (host != registry_host).then_some(host)
}
