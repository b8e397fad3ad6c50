//! Issue 18, defect 8: what the registry login says when the request leaves the registry's host.
//! A cross-host redirect drops the Authorization header (right), so a 200 there is anonymous
//! access and must be reported as such, not "logged in (basic auth)"; a token realm on another
//! host receives the Basic credentials (Docker does the same), and the report says so. Two small
//! TLS servers on loopback play the registry (127.0.0.1) and the other host (localhost).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kubectl_eso::provider::registry::{
    ClientOptions, Credential, Outcome, PayloadFormat, RegistryClient, parse,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

const USER: &str = "robot";
const PASSWORD: &str = "R0bot-redirect-canary-5521";

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("ca params: {e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, "redirect test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("ca key: {e}"));
        let issuer =
            CertifiedIssuer::self_signed(params, key).unwrap_or_else(|e| panic!("ca cert: {e}"));
        Ca { issuer }
    }

    fn server_tls(&self) -> Arc<ServerConfig> {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let params = CertificateParams::new(names).unwrap_or_else(|e| panic!("leaf: {e}"));
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("leaf key: {e}"));
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("leaf cert: {e}"));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|b| {
                    b.with_no_client_auth()
                        .with_single_cert(vec![cert.der().clone()], key)
                })
                .unwrap_or_else(|e| panic!("server tls: {e}"));
        Arc::new(config)
    }
}

/// What a server answers: (status, headers, body) for a path and its Authorization header.
type Script = Arc<dyn Fn(&str, Option<&str>) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

/// Serves `script` over TLS on loopback; returns the address and every Authorization seen.
async fn serve(ca: &Ca, script: Script) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let acceptor = TlsAcceptor::from(ca.server_tls());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, script, seen) =
                (acceptor.clone(), script.clone(), seen_by_server.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let auth = req
                        .headers()
                        .get(http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if let (Some(a), Ok(mut s)) = (&auth, seen.lock()) {
                        s.push(a.clone());
                    }
                    let (status, headers, body) = script(req.uri().path(), auth.as_deref());
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
                    for (k, v) in headers {
                        if let (Ok(k), Ok(v)) = (
                            http::HeaderName::from_bytes(k.as_bytes()),
                            http::HeaderValue::from_str(&v),
                        ) {
                            response.headers_mut().insert(k, v);
                        }
                    }
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn basic_credential() -> Credential {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let payload = format!(r#"{{"auths":{{"r.example":{{"auth":"{auth}"}}}}}}"#);
    parse(PayloadFormat::DockerConfigJson, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
        .entries
        .into_iter()
        .next()
        .and_then(|e| e.credential)
        .unwrap_or_else(|| panic!("no credential"))
}

fn client(ca: &Ca) -> RegistryClient {
    RegistryClient::new(&ClientOptions {
        timeout: std::time::Duration::from_secs(10),
        extra_ca_pem: Some(ca.issuer.pem().into_bytes()),
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

#[tokio::test]
async fn issue_18_anonymous_200_after_a_cross_host_redirect_is_reported_anonymous() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = Ca::new();
    // The other host: answers /v2/ with 200 to anyone.
    let (other, other_seen) = serve(&ca, Arc::new(|_, _| (200, Vec::new(), "{}".into()))).await;
    let elsewhere = format!("https://localhost:{}/v2/", other.port());
    let (registry, _) = serve(
        &ca,
        Arc::new(move |_, auth| match auth {
            None => (
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"r\"".into())],
                String::new(),
            ),
            Some(_) => (
                302,
                vec![("Location".into(), elsewhere.clone())],
                String::new(),
            ),
        }),
    )
    .await;
    let check = client(&ca)
        .login(&registry.to_string(), Some(&basic_credential()))
        .await;
    assert_eq!(check.outcome, Outcome::Ok, "{check:?}");
    assert!(
        check.message.contains("anonymous") && !check.message.contains("logged in"),
        "{check:?}"
    );
    assert!(
        check
            .message
            .contains(&format!("localhost:{}", other.port())),
        "{check:?}"
    );
    let seen = other_seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        seen.is_empty(),
        "credentials reached the other host: {seen:?}"
    );
    assert!(!format!("{check:?}").contains(PASSWORD));
}

#[tokio::test]
async fn issue_18_a_token_realm_on_another_host_is_named_in_the_report() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = Ca::new();
    let (realm, realm_seen) = serve(
        &ca,
        Arc::new(|path, _| match path {
            "/token" => (200, Vec::new(), r#"{"token":"tok-redirect-test"}"#.into()),
            _ => (404, Vec::new(), String::new()),
        }),
    )
    .await;
    let challenge = format!(
        "Bearer realm=\"https://localhost:{}/token\",service=\"reg\"",
        realm.port()
    );
    let (registry, _) = serve(
        &ca,
        Arc::new(move |_, auth| match auth {
            Some("Bearer tok-redirect-test") => (200, Vec::new(), "{}".into()),
            _ => (
                401,
                vec![("WWW-Authenticate".into(), challenge.clone())],
                String::new(),
            ),
        }),
    )
    .await;
    let check = client(&ca)
        .login(&registry.to_string(), Some(&basic_credential()))
        .await;
    assert_eq!(check.outcome, Outcome::Ok, "{check:?}");
    assert!(
        check.message.contains("logged in (bearer token")
            && check.message.contains(&format!(
                "sent to the token realm on another host, localhost:{}",
                realm.port()
            )),
        "{check:?}"
    );
    // Docker's behaviour, reproduced and now stated: the realm got the Basic credentials.
    let seen = realm_seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(seen.iter().any(|a| a.starts_with("Basic ")), "{seen:?}");
    assert!(!format!("{check:?}").contains(PASSWORD));
}
