//! The thin network layer: one loopback port that is both the HTTPS server (Key Vault hosts and the
//! Entra ID authority) and a plain HTTP `CONNECT` proxy that routes the fake cloud's host names back to
//! that server. Everything it answers comes from the pure functions in `vault_api` and `entra`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jiff::Timestamp;
use ring::hmac;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::endpoints::{ApiResponse, Endpoints, strip_port};
use super::handle::AkvHandle;
use super::{entra, vault_api};

const MAX_BODY: usize = 64 * 1024;
const MAX_PROXY_HEAD: usize = 8 * 1024;

pub(crate) struct Shared {
    pub handle: AkvHandle,
    pub ep: Endpoints,
    pub key: hmac::Key,
    pub acceptor: TlsAcceptor,
}

/// Accepts until `stop` fires; dropping the JoinSet then aborts every open connection.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    connections.spawn(connection(stream, peer, shared.clone()));
                }
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        // A TLS record starts with the handshake content type 0x16.
        Ok(1) if first[0] == 0x16 => serve_tls(stream, peer, shared).await,
        Ok(1) => proxy(stream, peer, shared).await,
        _ => {}
    }
}

async fn serve_tls(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let Ok(tls) = shared.acceptor.accept(stream).await else {
        return;
    };
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(req, peer, &shared).await) }
    });
    // Errors here are clients hanging up; there is nobody to report them to.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// Handles one `CONNECT host:port`: the fake's names go to its own TLS server, other loopback ports
/// are relayed (so a process-wide HTTPS_PROXY does not cut a client off from the simulated API
/// server), anything else fails like a name that does not resolve.
async fn proxy(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let Some(target) = read_connect_target(&mut stream).await else {
        let _ = stream
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    let host = strip_port(&target)
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let port: Option<u16> = target.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
    let own_port = shared.ep.port;
    let is_loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1");
    let known_vault = shared.ep.vault_from_host(&host).is_some_and(|name| {
        shared
            .handle
            .lock()
            .state
            .vaults
            .iter()
            .any(|v| v.name.eq_ignore_ascii_case(name))
    });
    const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    if known_vault || (is_loopback && port == Some(own_port)) {
        if stream.write_all(ESTABLISHED).await.is_ok() {
            serve_tls(stream, peer, shared).await;
        }
    } else if let (true, Some(port)) = (is_loopback, port) {
        let Ok(mut upstream) = TcpStream::connect((host.as_str(), port)).await else {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            return;
        };
        if stream.write_all(ESTABLISHED).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
        }
    } else {
        let body = format!("sandbox proxy: cannot resolve host {host}\n");
        let head = format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
    }
}

/// Reads the proxy request head; the client sends nothing more until it gets an answer.
async fn read_connect_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_PROXY_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = std::str::from_utf8(&head).ok()?;
    let mut words = text.lines().next()?.split_whitespace();
    match (words.next(), words.next()) {
        (Some(m), Some(target)) if m.eq_ignore_ascii_case("CONNECT") => Some(target.to_owned()),
        _ => None,
    }
}

async fn route(req: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let now = Timestamp::now();

    if let Some(vault) = shared.ep.vault_from_host(&host) {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let client_addr = peer.ip().to_string();
        let vreq = vault_api::VaultRequest {
            vault,
            method: method.as_str(),
            path: &path,
            query,
            authorization,
            client_addr: &client_addr,
        };
        let inner = shared.handle.lock();
        let resp = vault_api::handle(
            &inner.state,
            &inner.faults,
            &shared.ep,
            &shared.key,
            &vreq,
            now,
        );
        return to_http(&resp);
    }

    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resp = match (&method, segments.as_slice()) {
        (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
            let tenant = (*tenant).to_owned();
            match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(body) => {
                    let form: Vec<(String, String)> = form_urlencoded::parse(&body.to_bytes())
                        .into_owned()
                        .collect();
                    let inner = shared.handle.lock();
                    entra::token(&inner.state, &shared.ep, &shared.key, &tenant, &form, now)
                }
                Err(_) => ApiResponse::json(
                    413,
                    json!({"error": "invalid_request", "error_description": "request body too large"}),
                ),
            }
        }
        (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            ApiResponse::json(200, openid_configuration(&shared.ep, tenant))
        }
        (&Method::GET, [_, "discovery", "instance"]) => {
            ApiResponse::json(200, instance_discovery(&shared.ep, &query))
        }
        _ => ApiResponse::json(
            404,
            json!({"error": "not_found", "error_description": format!("no such endpoint: {method} {path}")}),
        ),
    };
    to_http(&resp)
}

fn openid_configuration(ep: &Endpoints, tenant: &str) -> serde_json::Value {
    let base = format!("{}/{tenant}", ep.authority_url());
    json!({
        "issuer": format!("{base}/v2.0"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "jwks_uri": format!("{}/{tenant}/discovery/v2.0/keys", ep.authority_url()),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "grant_types_supported": ["client_credentials"],
        "tenant_region_scope": null,
        "cloud_instance_name": ep.domain,
    })
}

/// MSAL-based clients (Go's azidentity in ESO) validate a custom authority with this call; the tenant
/// comes from the `authorization_endpoint` they pass.
fn instance_discovery(ep: &Endpoints, query: &[(String, String)]) -> serde_json::Value {
    let authority = ep.authority_url();
    let tenant = query
        .iter()
        .find(|(k, _)| k == "authorization_endpoint")
        .and_then(|(_, v)| v.strip_prefix(&format!("{authority}/")))
        .and_then(|rest| rest.split('/').next())
        .filter(|t| !t.is_empty())
        .unwrap_or("common");
    let host = authority.trim_start_matches("https://").to_owned();
    json!({
        "tenant_discovery_endpoint": format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })
}

fn to_http(resp: &ApiResponse) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&resp.body).unwrap_or_default();
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string());
    for (name, value) in &resp.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
