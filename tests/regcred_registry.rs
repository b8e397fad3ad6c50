//! Issue 7 (`verify-regcred`): the registry login and manifest checks against the real
//! distribution registry (Debian package `docker-registry`, 2.8), started here on loopback with TLS
//! from a test CA — once with htpasswd basic auth, once with token auth delegated to a token
//! server this file runs (it signs ES256 JWTs with an `x5c` chain the registry trusts through
//! `rootcertbundle`). Every case also checks that no password, `auth` value or token shows up in
//! any Debug / Display / JSON form of the results.
//!
//! When the build found no `docker-registry` (see `build.rs`) cargo reports these tests as ignored
//! with the reason; with CI=true they run and a missing binary fails them.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kubectl_eso::provider::registry::{
    Check, ClientOptions, Credential, Outcome, PayloadFormat, RegistryClient, parse, parse_image,
    verify,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

const REGISTRY_BIN: &str = "docker-registry";
const SERVICE: &str = "kubectl-eso-test-registry";
const ISSUER: &str = "kubectl-eso-test-token-issuer";
const IMAGE_REPO: &str = "order-service";
const IMAGE_TAG: &str = "1.4.2";

const ADMIN: (&str, &str) = ("admin", "Adm1n-pass-canary-7781");
const ROBOT: (&str, &str) = ("robot", "R0bot-pass-canary-4402");
const NOPULL: (&str, &str) = ("nopull", "N0pull-pass-canary-9913");
const WRONG_PASSWORD: &str = "Wr0ng-pass-canary-1234";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---------------------------------------------------------------- binary discovery

fn registry_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(REGISTRY_BIN))
            .chain(std::iter::once(
                PathBuf::from("/usr/bin").join(REGISTRY_BIN),
            ))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("{REGISTRY_BIN} is not installed: apt-get install -y docker-registry"),
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

// ---------------------------------------------------------------- test PKI

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("ca params: {e}"));
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("ca key: {e}"));
        let issuer =
            CertifiedIssuer::self_signed(params, key).unwrap_or_else(|e| panic!("ca cert: {e}"));
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate DER, certificate PEM, key) for `names`.
    fn leaf(&self, names: &[&str]) -> (Vec<u8>, String, KeyPair) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params =
            CertificateParams::new(names).unwrap_or_else(|e| panic!("leaf params: {e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, "test leaf");
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("leaf key: {e}"));
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("leaf cert: {e}"));
        (cert.der().to_vec(), cert.pem(), key)
    }
}

// ---------------------------------------------------------------- the real registry

enum Auth {
    Htpasswd,
    Token { realm: String, root_pem: String },
}

struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {name}: {e}"));
    path
}

/// Starts the registry with a server certificate for `names` signed by `ca`.
fn start_registry(bin: &Path, ca: &Ca, names: &[&str], auth: Auth) -> Registry {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let port = free_port();
    let (_, cert_pem, key) = ca.leaf(names);
    let cert = write(dir.path(), "server.pem", &format!("{cert_pem}{}", ca.pem()));
    let key = write(dir.path(), "server.key", &key.serialize_pem());
    let storage = dir.path().join("storage");
    let auth_yaml = match auth {
        Auth::Htpasswd => {
            let lines: Vec<String> = [ADMIN, ROBOT, NOPULL]
                .iter()
                .map(|(user, password)| {
                    let hash = bcrypt::hash(password, 4).unwrap_or_else(|e| panic!("bcrypt: {e}"));
                    format!("{user}:{hash}")
                })
                .collect();
            let file = write(dir.path(), "htpasswd", &(lines.join("\n") + "\n"));
            format!(
                "  htpasswd:\n    realm: Registry Realm\n    path: {}\n",
                file.display()
            )
        }
        Auth::Token { realm, root_pem } => {
            let bundle = write(dir.path(), "token-root.pem", &root_pem);
            format!(
                "  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                bundle.display()
            )
        }
    };
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: kubectl-eso-test-http-secret\n  tls:\n    certificate: {}\n    key: {}\nauth:\n{auth_yaml}",
        storage.display(),
        cert.display(),
        key.display(),
    );
    let config = write(dir.path(), "config.yml", &config);
    let log = std::fs::File::create(dir.path().join("registry.log"))
        .unwrap_or_else(|e| panic!("log file: {e}"));
    let log_err = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut registry = Registry { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = registry.child.try_wait() {
            panic!("registry exited early ({status}):\n{}", registry.log());
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "registry did not listen:\n{}",
            registry.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

// ---------------------------------------------------------------- token server

/// Signs registry tokens: `admin` gets what it asks, `robot` only pull, `nopull` nothing.
struct TokenServer {
    addr: SocketAddr,
    root_pem: String,
    issued: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    fn realm(&self) -> String {
        format!("https://{}/token", self.addr)
    }

    fn issued(&self) -> Vec<String> {
        self.issued.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

struct Signer {
    key: EcdsaKeyPair,
    x5c: String,
}

impl Signer {
    fn jwt(&self, subject: &str, access: serde_json::Value) -> String {
        let enc = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{subject}-{now}-{}", rand_suffix()),
            "access": access,
        });
        let signing_input = format!("{}.{}", enc(&header), enc(&claims));
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, signing_input.as_bytes())
            .unwrap_or_else(|e| panic!("sign: {e}"));
        format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

fn rand_suffix() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u64::from_le_bytes(bytes)
}

fn server_tls(ca: &Ca, names: &[&str]) -> Arc<ServerConfig> {
    let (der, _, key) = ca.leaf(names);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(vec![der.into()], key)
            })
            .unwrap_or_else(|e| panic!("server tls: {e}"));
    Arc::new(config)
}

fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            (decode(k), decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The refresh token (`identitytoken`) the token server accepts for `robot`, as Docker Hub or
/// ACR hand out after an OAuth2 login.
const ROBOT_REFRESH_TOKEN: &str = "refresh-token-canary-5521";

/// A token request: GET with basic auth and `service`/`scope` in the query, or the OAuth2 POST
/// (`grant_type=refresh_token`) with them in a form body.
struct TokenRequest {
    authorization: Option<String>,
    params: Vec<(String, String)>,
}

fn token_response(
    signer: &Signer,
    issued: &Mutex<Vec<String>>,
    req: &TokenRequest,
) -> Response<Full<Bytes>> {
    let users: HashMap<&str, &str> = [ADMIN, ROBOT, NOPULL].into_iter().collect();
    let param = |name: &str| {
        req.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let from_basic = req
        .authorization
        .as_deref()
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|c| {
            c.split_once(':')
                .and_then(|(u, p)| (users.get(u) == Some(&p)).then(|| u.to_string()))
        });
    let from_refresh = (param("grant_type") == Some("refresh_token")
        && param("refresh_token") == Some(ROBOT_REFRESH_TOKEN))
    .then(|| ROBOT.0.to_string());
    let Some(user) = from_basic.or(from_refresh) else {
        let mut response = Response::new(Full::new(Bytes::from_static(
            br#"{"details":"incorrect username or password"}"#,
        )));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    };
    let params = &req.params;
    let mut access = Vec::new();
    for (_, scope) in params.iter().filter(|(k, _)| k == "scope") {
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if parts.len() != 3 {
            continue;
        }
        let wanted: Vec<&str> = parts[2].split(',').collect();
        let granted: Vec<&str> = match user.as_str() {
            "admin" => wanted,
            "robot" => wanted.into_iter().filter(|a| *a == "pull").collect(),
            _ => Vec::new(),
        };
        if !granted.is_empty() {
            access
                .push(serde_json::json!({"type": parts[0], "name": parts[1], "actions": granted}));
        }
    }
    let token = signer.jwt(&user, serde_json::Value::Array(access));
    if let Ok(mut list) = issued.lock() {
        list.push(token.clone());
    }
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    Response::new(Full::new(Bytes::from(body.to_string())))
}

async fn start_token_server(tls_ca: &Ca) -> TokenServer {
    let token_ca = Ca::new("token signing CA");
    let (signing_der, _, signing_key) = token_ca.leaf(&["token-signer"]);
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &signing_key.serialize_der(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap_or_else(|e| panic!("signing key: {e}"));
    let signer = Arc::new(Signer {
        key,
        x5c: base64::engine::general_purpose::STANDARD.encode(&signing_der),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind token server: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let acceptor = TlsAcceptor::from(server_tls(tls_ca, &["127.0.0.1"]));
    let issued = Arc::new(Mutex::new(Vec::new()));
    let issued_in_server = Arc::clone(&issued);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let signer = Arc::clone(&signer);
            let issued = Arc::clone(&issued_in_server);
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let signer = Arc::clone(&signer);
                    let issued = Arc::clone(&issued);
                    async move {
                        let authorization = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let mut params = query_params(req.uri().query().unwrap_or(""));
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        params.extend(query_params(&String::from_utf8_lossy(&body)));
                        let request = TokenRequest {
                            authorization,
                            params,
                        };
                        let response = token_response(&signer, &issued, &request);
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TokenServer {
        addr,
        root_pem: token_ca.pem(),
        issued,
        task,
    }
}

// ---------------------------------------------------------------- product client helpers

fn client(ca_pem: Option<&str>) -> RegistryClient {
    RegistryClient::new(&ClientOptions {
        timeout: Duration::from_secs(10),
        extra_ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

fn basic((user, password): (&str, &str)) -> Credential {
    let payload = format!(
        r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
        b64(&format!("{user}:{password}"))
    );
    let config = parse(PayloadFormat::DockerConfigJson, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    config
        .entries
        .into_iter()
        .next()
        .and_then(|e| e.credential)
        .unwrap_or_else(|| panic!("no credential parsed"))
}

/// Every secret a test used, in every form a leak could take.
fn secret_forms(extra: &[String]) -> Vec<String> {
    let mut forms = Vec::new();
    for (user, password) in [ADMIN, ROBOT, NOPULL, (ROBOT.0, WRONG_PASSWORD)] {
        forms.push(password.to_string());
        forms.push(b64(&format!("{user}:{password}")));
        forms.push(b64(password));
    }
    forms.extend(extra.iter().cloned());
    forms
}

fn assert_no_leak<T: std::fmt::Debug + serde::Serialize>(what: &T, secrets: &[String]) {
    let outputs = [
        format!("{what:?}"),
        format!("{what:#?}"),
        serde_json::to_string(what).unwrap_or_else(|e| panic!("json: {e}")),
    ];
    for output in &outputs {
        for secret in secrets {
            assert!(
                !output.contains(secret.as_str()),
                "secret leaked into output: {output}"
            );
        }
    }
}

fn assert_outcome(check: &Check, outcome: Outcome, message_part: &str) {
    assert_eq!(check.outcome, outcome, "{check:?}");
    assert!(
        check.message.contains(message_part),
        "message {:?} should contain {message_part:?}",
        check.message
    );
}

/// Pushes a tiny image (config + one layer + schema-2 manifest) with raw API calls.
async fn push_image(host: &str, ca_pem: &str, authorization: &str) {
    let http = raw_client(ca_pem);
    let sha = |data: &[u8]| {
        let digest = ring::digest::digest(&ring::digest::SHA256, data);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer = b"not really a tarball, the registry does not look".to_vec();
    for blob in [&config, &layer] {
        let start = http
            .post(format!("https://{host}/v2/{IMAGE_REPO}/blobs/uploads/"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap_or_else(|e| panic!("start upload: {e}"));
        assert_eq!(start.status(), StatusCode::ACCEPTED, "start upload");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("upload without location"))
            .to_string();
        let location = if location.starts_with('/') {
            format!("https://{host}{location}")
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{location}{separator}digest={}", sha(blob)))
            .header("authorization", authorization)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put blob: {e}"));
        assert_eq!(put.status(), StatusCode::CREATED, "put blob");
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": sha(&config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer.len(), "digest": sha(&layer)}],
    });
    let put = http
        .put(format!(
            "https://{host}/v2/{IMAGE_REPO}/manifests/{IMAGE_TAG}"
        ))
        .header("authorization", authorization)
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(manifest.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put manifest: {e}"));
    assert_eq!(put.status(), StatusCode::CREATED, "put manifest");
}

/// A plain reqwest client for the test's own setup calls (pushing, admin tokens).
fn raw_client(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_merge(
            reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
                .unwrap_or_else(|e| panic!("ca: {e}")),
        )
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

async fn admin_push_token(tokens: &TokenServer, ca_pem: &str) -> String {
    let http = raw_client(ca_pem);
    let answer: serde_json::Value = http
        .get(tokens.realm())
        .query(&[
            ("service", SERVICE),
            ("scope", &format!("repository:{IMAGE_REPO}:pull,push")),
        ])
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("admin token: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("admin token body: {e}"));
    answer
        .get("token")
        .and_then(|t| t.as_str())
        .unwrap_or_else(|| panic!("no token"))
        .to_string()
}

fn unreachable_image() -> kubectl_eso::provider::registry::ImageRef {
    parse_image("127.0.0.1:1/x:y").unwrap_or_else(|e| panic!("{e}"))
}

fn image_at(host: &str, tag: &str) -> kubectl_eso::provider::registry::ImageRef {
    parse_image(&format!("{host}/{IMAGE_REPO}:{tag}")).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- the cases

#[cfg_attr(
    not(has_docker_registry),
    ignore = "needs docker-registry on PATH: apt-get install docker-registry"
)]
#[tokio::test]
async fn issue7_basic_auth_login_image_and_wrong_password() {
    let bin = registry_binary();
    let ca = Ca::new("test registry CA");
    let registry = start_registry(&bin, &ca, &["127.0.0.1", "localhost"], Auth::Htpasswd);
    let host = registry.host();
    let client = client(Some(&ca.pem()));
    let secrets = secret_forms(&[]);

    let ok = client.login(&host, Some(&basic(ROBOT))).await;
    assert_outcome(&ok, Outcome::Ok, "basic");
    let wrong = client
        .login(&host, Some(&basic((ROBOT.0, WRONG_PASSWORD))))
        .await;
    assert_outcome(&wrong, Outcome::Unauthorized, "authentication required");
    let anonymous = client.login(&host, None).await;
    assert_eq!(anonymous.outcome, Outcome::Unauthorized, "{anonymous:?}");

    let admin_auth = format!("Basic {}", b64(&format!("{}:{}", ADMIN.0, ADMIN.1)));
    push_image(&host, &ca.pem(), &admin_auth).await;
    let pulled = client
        .check_image(&image_at(&host, IMAGE_TAG), Some(&basic(ROBOT)))
        .await;
    assert_outcome(&pulled, Outcome::Ok, "manifest found");
    let missing = client
        .check_image(&image_at(&host, "9.9.9"), Some(&basic(ROBOT)))
        .await;
    assert_outcome(&missing, Outcome::NotFound, "9.9.9");
    let refused = client
        .check_image(
            &image_at(&host, IMAGE_TAG),
            Some(&basic((ROBOT.0, WRONG_PASSWORD))),
        )
        .await;
    assert_eq!(refused.outcome, Outcome::Unauthorized, "{refused:?}");

    for check in [&ok, &wrong, &anonymous, &pulled, &missing, &refused] {
        assert_no_leak(check, &secrets);
    }
    drop(registry);
}

#[cfg_attr(
    not(has_docker_registry),
    ignore = "needs docker-registry on PATH: apt-get install docker-registry"
)]
#[tokio::test]
async fn issue7_token_auth_login_wrong_password_and_no_pull_scope() {
    let bin = registry_binary();
    let ca = Ca::new("test registry CA");
    let tokens = start_token_server(&ca).await;
    let registry = start_registry(
        &bin,
        &ca,
        &["127.0.0.1"],
        Auth::Token {
            realm: tokens.realm(),
            root_pem: tokens.root_pem.clone(),
        },
    );
    let host = registry.host();
    let client = client(Some(&ca.pem()));

    let ok = client.login(&host, Some(&basic(ROBOT))).await;
    assert_outcome(&ok, Outcome::Ok, "bearer token");
    let wrong = client
        .login(&host, Some(&basic((ROBOT.0, WRONG_PASSWORD))))
        .await;
    assert_outcome(
        &wrong,
        Outcome::Unauthorized,
        "incorrect username or password",
    );

    let push_token = admin_push_token(&tokens, &ca.pem()).await;
    push_image(&host, &ca.pem(), &format!("Bearer {push_token}")).await;

    let pulled = client
        .check_image(&image_at(&host, IMAGE_TAG), Some(&basic(ROBOT)))
        .await;
    assert_outcome(&pulled, Outcome::Ok, "manifest found");
    let no_pull = client
        .check_image(&image_at(&host, IMAGE_TAG), Some(&basic(NOPULL)))
        .await;
    assert_outcome(&no_pull, Outcome::Denied, "without pull access");
    let missing = client
        .check_image(&image_at(&host, "0.0.1"), Some(&basic(ROBOT)))
        .await;
    assert_outcome(&missing, Outcome::NotFound, "0.0.1");
    let wrong_image = client
        .check_image(
            &image_at(&host, IMAGE_TAG),
            Some(&basic((ROBOT.0, WRONG_PASSWORD))),
        )
        .await;
    assert_outcome(
        &wrong_image,
        Outcome::Unauthorized,
        "incorrect username or password",
    );

    // An identity token (OAuth2 refresh token) is exchanged at the realm with a POST, and a
    // registry token is sent as it is.
    let identity = parse(
        PayloadFormat::DockerConfigJson,
        format!(
            r#"{{"auths":{{"{host}":{{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"{ROBOT_REFRESH_TOKEN}"}}}}}}"#
        )
        .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let identity_credential = identity.entries[0].credential.as_ref();
    let by_refresh = client.login(&host, identity_credential).await;
    assert_outcome(&by_refresh, Outcome::Ok, "bearer token");
    let pulled_by_refresh = client
        .check_image(&image_at(&host, IMAGE_TAG), identity_credential)
        .await;
    assert_outcome(&pulled_by_refresh, Outcome::Ok, "manifest found");
    let stale_refresh = parse(
        PayloadFormat::DockerConfigJson,
        format!(r#"{{"auths":{{"{host}":{{"identitytoken":"revoked-refresh-token-0001"}}}}}}"#)
            .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused_refresh = client
        .login(&host, stale_refresh.entries[0].credential.as_ref())
        .await;
    assert_outcome(
        &refused_refresh,
        Outcome::Unauthorized,
        "incorrect username or password",
    );
    let registry_token = parse(
        PayloadFormat::DockerConfigJson,
        format!(r#"{{"auths":{{"{host}":{{"registrytoken":"{push_token}"}}}}}}"#).as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let by_registry_token = client
        .login(&host, registry_token.entries[0].credential.as_ref())
        .await;
    assert_outcome(&by_registry_token, Outcome::Ok, "bearer token");
    for check in [
        &by_refresh,
        &pulled_by_refresh,
        &refused_refresh,
        &by_registry_token,
    ] {
        assert_no_leak(
            check,
            &[ROBOT_REFRESH_TOKEN.to_string(), push_token.clone()],
        );
    }
    assert_no_leak(&identity, &[ROBOT_REFRESH_TOKEN.to_string()]);
    assert_no_leak(&registry_token, std::slice::from_ref(&push_token));

    // The whole command path, with a pull secret as ESO would write it.
    let payload = format!(
        r#"{{"auths":{{"https://{host}/":{{"username":"{}","password":"{}","auth":"{}"}}}}}}"#,
        NOPULL.0,
        NOPULL.1,
        b64(&format!("{}:{}", NOPULL.0, NOPULL.1))
    );
    let config = parse(PayloadFormat::DockerConfigJson, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let report = verify(
        &client,
        &config,
        &[format!("{host}/{IMAGE_REPO}:{IMAGE_TAG}")],
    )
    .await;
    assert_eq!(report.registries.len(), 1);
    assert_eq!(report.registries[0].outcome, Outcome::Ok, "{report:?}");
    // Issue 12: the username is secret data; only its presence and length are reported.
    assert_eq!(
        report.registries[0].username,
        Some(format!("set ({} chars)", NOPULL.0.chars().count()))
    );
    assert_eq!(report.images[0].outcome, Outcome::Denied, "{report:?}");
    assert!(report.images[0].entry_found);
    assert!(!report.all_ok());

    let mut issued = tokens.issued();
    issued.push(push_token);
    assert!(
        issued.len() >= 5,
        "token server should have issued tokens: {}",
        issued.len()
    );
    let secrets = secret_forms(&issued);
    for check in [&ok, &wrong, &pulled, &no_pull, &missing, &wrong_image] {
        assert_no_leak(check, &secrets);
    }
    assert_no_leak(&report, &secrets);
    assert_no_leak(&config, &secrets);
    drop(registry);
}

#[tokio::test]
async fn issue7_registry_down_is_unreachable() {
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let client = client(None);
    let down = client.login(&host, Some(&basic(ROBOT))).await;
    assert_eq!(down.outcome, Outcome::Unreachable, "{down:?}");
    assert!(down.message.contains(&host), "{down:?}");
    let image = client
        .check_image(&unreachable_image(), Some(&basic(ROBOT)))
        .await;
    assert_eq!(image.outcome, Outcome::Unreachable, "{image:?}");
    assert_no_leak(&down, &secret_forms(&[]));
}

#[cfg_attr(
    not(has_docker_registry),
    ignore = "needs docker-registry on PATH: apt-get install docker-registry"
)]
#[tokio::test]
async fn issue7_untrusted_ca_and_wrong_host_name_are_tls_errors() {
    let bin = registry_binary();
    let ca = Ca::new("test registry CA");
    let registry = start_registry(&bin, &ca, &["127.0.0.1"], Auth::Htpasswd);
    let untrusted = client(None)
        .login(&registry.host(), Some(&basic(ROBOT)))
        .await;
    assert_eq!(untrusted.outcome, Outcome::TlsError, "{untrusted:?}");
    assert!(untrusted.message.contains("UnknownIssuer"), "{untrusted:?}");
    let other_ca = Ca::new("some other CA");
    let wrong_ca = client(Some(&other_ca.pem()))
        .login(&registry.host(), Some(&basic(ROBOT)))
        .await;
    assert_eq!(wrong_ca.outcome, Outcome::TlsError, "{wrong_ca:?}");
    drop(registry);

    let misnamed = start_registry(&bin, &ca, &["registry.invalid"], Auth::Htpasswd);
    let wrong_name = client(Some(&ca.pem()))
        .login(&misnamed.host(), Some(&basic(ROBOT)))
        .await;
    assert_eq!(wrong_name.outcome, Outcome::TlsError, "{wrong_name:?}");
    assert!(
        wrong_name.message.contains("not valid for name"),
        "{wrong_name:?}"
    );
    for check in [&untrusted, &wrong_ca, &wrong_name] {
        assert_no_leak(check, &secret_forms(&[]));
    }
}

#[tokio::test]
async fn issue7_malformed_entries_are_reported_not_tried() {
    // Points at a closed port: an attempt would show up as "unreachable", not "invalid entry".
    let host = format!("127.0.0.1:{}", free_port());
    let payload = format!(
        r#"{{"auths":{{"{host}":{{"auth":"{}"}},"https://{host}/x":{{"username":"u","password":""}}}}}}"#,
        b64(ROBOT.1)
    );
    let config = parse(PayloadFormat::DockerConfigJson, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let report = verify(&client(None), &config, &["Not/A:valid:ref".into()]).await;
    let outcomes: Vec<Outcome> = report.registries.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![Outcome::InvalidEntry, Outcome::InvalidEntry],
        "{report:?}"
    );
    assert!(
        report.registries[0].message.contains("no ':'"),
        "{report:?}"
    );
    assert!(
        report.registries[1].message.contains("password is empty"),
        "{report:?}"
    );
    assert_eq!(report.images[0].outcome, Outcome::InvalidImage);
    assert!(!report.all_ok());
    assert_no_leak(&report, &secret_forms(&[]));
}

#[cfg_attr(
    not(has_docker_registry),
    ignore = "needs docker-registry on PATH: apt-get install docker-registry"
)]
#[tokio::test]
async fn issue7_sandbox_registry_answers_like_the_real_one() {
    let bin = registry_binary();
    let ca = Ca::new("test registry CA");
    let real = start_registry(&bin, &ca, &["127.0.0.1"], Auth::Htpasswd);
    let sim = eso_sandbox::registry::RegistrySim::start(vec![(ROBOT.0.into(), ROBOT.1.into())])
        .await
        .unwrap_or_else(|e| panic!("sim: {e}"));
    let real_client = client(Some(&ca.pem()));
    let sim_client = client(Some(&sim.ca_pem()));
    for credential in [basic(ROBOT), basic((ROBOT.0, WRONG_PASSWORD))] {
        let from_real = real_client.login(&real.host(), Some(&credential)).await;
        let from_sim = sim_client.login(&sim.host(), Some(&credential)).await;
        assert_eq!(from_sim, from_real);
    }
    let from_real = real_client.login(&real.host(), None).await;
    let from_sim = sim_client.login(&sim.host(), None).await;
    assert_eq!(from_sim, from_real);

    sim.add_image(IMAGE_REPO, IMAGE_TAG);
    let ok = sim_client
        .check_image(&image_at(&sim.host(), IMAGE_TAG), Some(&basic(ROBOT)))
        .await;
    assert_eq!(ok.outcome, Outcome::Ok, "{ok:?}");
    sim.set_users(vec![(ROBOT.0.into(), "rotated-password".into())]);
    let stale = sim_client.login(&sim.host(), Some(&basic(ROBOT))).await;
    assert_outcome(&stale, Outcome::Unauthorized, "authentication required");
    sim.shutdown().await;
}

/// A registry that serves `/v2/` anonymously but challenges on repositories (as some hosted
/// registries do): the image check must answer the repository's challenge, like a runtime.
async fn start_anonymous_ping_registry(ca: &Ca) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let acceptor = TlsAcceptor::from(server_tls(ca, &["127.0.0.1"]));
    let expected = format!("Basic {}", b64(&format!("{}:{}", ROBOT.0, ROBOT.1)));
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let expected = expected.clone();
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let authorized = req
                        .headers()
                        .get(http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        == Some(expected.as_str());
                    let mut response = Response::new(Full::new(Bytes::new()));
                    if req.uri().path() != "/v2/" && !authorized {
                        *response.status_mut() = StatusCode::UNAUTHORIZED;
                        response.headers_mut().insert(
                            http::header::WWW_AUTHENTICATE,
                            http::HeaderValue::from_static("Basic realm=\"repositories\""),
                        );
                    }
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn issue7_repository_challenge_after_anonymous_ping_is_answered() {
    let ca = Ca::new("anonymous ping CA");
    let (addr, task) = start_anonymous_ping_registry(&ca).await;
    let host = addr.to_string();
    let client = client(Some(&ca.pem()));
    let image = image_at(&host, IMAGE_TAG);
    let ok = client.check_image(&image, Some(&basic(ROBOT))).await;
    assert_outcome(&ok, Outcome::Ok, "manifest found");
    let wrong = client
        .check_image(&image, Some(&basic((ROBOT.0, WRONG_PASSWORD))))
        .await;
    assert_eq!(wrong.outcome, Outcome::Unauthorized, "{wrong:?}");
    let anonymous = client.check_image(&image, None).await;
    assert_eq!(anonymous.outcome, Outcome::Unauthorized, "{anonymous:?}");
    for check in [&ok, &wrong, &anonymous] {
        assert_no_leak(check, &secret_forms(&[]));
    }
    task.abort();
}
