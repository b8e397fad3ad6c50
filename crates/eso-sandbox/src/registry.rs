//! A small Docker Registry v2 fake for the regcred scenarios: HTTPS on loopback with its own CA,
//! basic auth against a user list that can be rotated at run time (so a scenario can make a pull
//! secret's credentials go stale), and manifest HEAD for the images a scenario declares.
//!
//! It answers like distribution 2.8 with htpasswd auth — same status codes, the
//! `Docker-Distribution-API-Version` header, the `WWW-Authenticate: Basic realm=...` challenge and
//! the JSON error bodies — because `kubectl eso verify-regcred` reports the registry's own error
//! text; tests compare its outcomes against the real `docker-registry`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The realm distribution's htpasswd examples use.
const REALM: &str = "Registry Realm";
const API_VERSION: &str = "registry/2.0";
const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Default)]
struct State {
    users: Vec<(String, String)>,
    /// (repository, tag)
    images: HashSet<(String, String)>,
}

/// A running fake registry. Dropping it stops the server.
pub struct RegistrySim {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl RegistrySim {
    /// Starts HTTPS on `127.0.0.1:<ephemeral>` with a fresh CA; `users` are (name, password).
    pub async fn start(users: Vec<(String, String)>) -> anyhow::Result<RegistrySim> {
        let crate::tls::Tls {
            ca_pem,
            server_config: tls,
        } = crate::tls::generate("registry", &["127.0.0.1".into(), "localhost".into()])?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind registry fake on loopback")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            users,
            images: HashSet::new(),
        }));
        let server = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(tls),
            Arc::clone(&state),
        ));
        Ok(RegistrySim {
            addr,
            ca_pem,
            state,
            server,
        })
    }

    /// `127.0.0.1:PORT`, the key a pull secret uses for this registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The CA that signed the server certificate (PEM), for `--ca-file`.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Replaces the accepted users (credential rotation).
    pub fn set_users(&self, users: Vec<(String, String)>) {
        self.lock().users = users;
    }

    /// Makes `HEAD /v2/<name>/manifests/<tag>` succeed.
    pub fn add_image(&self, name: &str, tag: &str) {
        self.lock()
            .images
            .insert((name.to_string(), tag.to_string()));
    }

    pub async fn shutdown(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for RegistrySim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<Mutex<State>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let state = Arc::clone(&state);
        // Connections live in the set so aborting the accept loop also ends them.
        connections.spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = service_fn(move |req: Request<Incoming>| {
                let response = handle(&state, req.method(), req.uri().path(), req.headers());
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn handle(
    state: &Mutex<State>,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return error(
            method,
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
        );
    }
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&state.users, headers) {
        let mut response = error(
            method,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        if let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return response;
    }
    if path == "/v2/" || path == "/v2" {
        return reply(
            method,
            StatusCode::OK,
            "application/json; charset=utf-8",
            b"{}",
        );
    }
    let Some((name, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.rsplit_once("/manifests/"))
    else {
        return error(method, StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    if state
        .images
        .contains(&(name.to_string(), reference.to_string()))
    {
        let manifest = manifest_for(name, reference);
        let digest = format!(
            "sha256:{}",
            hex(ring::digest::digest(&ring::digest::SHA256, &manifest).as_ref())
        );
        let mut response = reply(method, StatusCode::OK, MANIFEST_TYPE, &manifest);
        if let Ok(value) = HeaderValue::from_str(&digest) {
            response
                .headers_mut()
                .insert("docker-content-digest", value);
        }
        return response;
    }
    if state.images.iter().any(|(repo, _)| repo == name) {
        error(
            method,
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
    } else {
        error(
            method,
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
    }
}

fn authorized(users: &[(String, String)], headers: &http::HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    // Plain comparison: this is a loopback fake, timing side channels are not in its threat model.
    users.iter().any(|(u, p)| u == user && p == password)
}

/// A stable schema-2 manifest for an image, so HEAD has a real digest and length.
fn manifest_for(name: &str, tag: &str) -> Vec<u8> {
    let config_digest = hex(ring::digest::digest(
        &ring::digest::SHA256,
        format!("{name}:{tag}").as_bytes(),
    )
    .as_ref());
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": format!("sha256:{config_digest}"),
        },
        "layers": [],
    })
    .to_string()
    .into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn error(method: &Method, status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut text = body.to_string();
    text.push('\n');
    reply(
        method,
        status,
        "application/json; charset=utf-8",
        text.as_bytes(),
    )
}

fn reply(
    method: &Method,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    // HEAD answers carry the length of the body a GET would get, but no body.
    let payload = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(body)
    };
    let mut response = Response::new(Full::new(payload));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static(API_VERSION),
    );
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::AUTHORIZATION, value);
        }
        headers
    }

    fn state() -> Mutex<State> {
        let mut images = HashSet::new();
        images.insert(("order-service".to_string(), "1.4.2".to_string()));
        Mutex::new(State {
            users: vec![("robot".into(), "right".into())],
            images,
        })
    }

    #[test]
    fn unauthenticated_requests_get_distributions_challenge_and_body() {
        let response = handle(&state(), &Method::GET, "/v2/", &http::HeaderMap::new());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"Registry Realm\"")
        );
        assert_eq!(
            response
                .headers()
                .get("docker-distribution-api-version")
                .and_then(|v| v.to_str().ok()),
            Some("registry/2.0")
        );
        let wrong = handle(&state(), &Method::GET, "/v2/", &basic("robot", "wrong"));
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn right_credentials_and_manifests() {
        let s = state();
        let ok = basic("robot", "right");
        assert_eq!(
            handle(&s, &Method::GET, "/v2/", &ok).status(),
            StatusCode::OK
        );
        let head = handle(&s, &Method::HEAD, "/v2/order-service/manifests/1.4.2", &ok);
        assert_eq!(head.status(), StatusCode::OK);
        assert!(head.headers().contains_key("docker-content-digest"));
        assert_eq!(
            handle(&s, &Method::HEAD, "/v2/order-service/manifests/9.9", &ok).status(),
            StatusCode::NOT_FOUND
        );
        s.lock().unwrap_or_else(PoisonError::into_inner).users =
            vec![("robot".into(), "new".into())];
        assert_eq!(
            handle(&s, &Method::GET, "/v2/", &ok).status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
