//! Starting and stopping the simulated apiserver: build the store (built-ins, ESO CRDs, the namespaces a
//! fresh cluster has), bind 127.0.0.1, serve HTTP/1.1 and HTTP/2 (ALPN) over TLS or plain HTTP, and write
//! kubeconfigs that point at it — what a test or `kubectl eso sandbox` needs to get a "cluster".
//! Over TLS, the client certificate a connection presented is checked once, at the handshake, and
//! handed to every request on it for the authenticator (`auth::PresentedCertificate`).
//!
//! The server runs on its own runtime threads, and the simulated controllers on another thread, so a
//! caller that blocks its own runtime (a `#[tokio::test]` running the product binary synchronously) or a
//! burst of controller work never stalls the API.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::handler::{self, Shared};
use crate::{Faults, SimConfig, Store, crds, tls};

/// A running simulated kube-apiserver.
pub struct ApiServer {
    addr: SocketAddr,
    ca_pem: Option<String>,
    admin_token: String,
    store: Store,
    faults: Faults,
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Namespaces every fresh cluster has.
const BOOT_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl ApiServer {
    pub async fn start(cfg: SimConfig) -> anyhow::Result<ApiServer> {
        let admin_token = format!("kube-sim-admin-{}", uuid::Uuid::new_v4().simple());
        let store = Store::new(admin_token.clone());
        let (stop, stop_rx) = watch::channel(false);
        for crd in crds::eso_crds(cfg.eso_crds).map_err(anyhow::Error::msg)? {
            store.load_crd(crd).context("loading the ESO CRD bundle")?;
        }
        spawn_controllers(store.clone(), stop_rx.clone())?;
        for ns in BOOT_NAMESPACES {
            store
                .create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                .with_context(|| format!("creating namespace {ns}"))?;
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kube-sim")
            .enable_all()
            .build()
            .context("starting the kube-sim runtime")?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .with_context(|| format!("binding 127.0.0.1:{}", cfg.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let tls = if cfg.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        if let Some(t) = &tls {
            store.authenticator().set_client_ca(t.client_ca.clone());
        }
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));
        let faults = Faults::default();
        let shared = Arc::new(Shared::new(store.clone(), faults.clone()));
        runtime.spawn(accept_loop(listener, acceptor, shared, stop_rx));
        Ok(ApiServer {
            addr,
            ca_pem,
            admin_token,
            store,
            faults,
            stop,
            runtime: Some(runtime),
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// Bearer token of user `admin` (group `system:masters`).
    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    pub fn kubeconfig(&self, namespace: Option<&str>) -> String {
        self.kubeconfig_with_token(&self.admin_token, namespace)
    }

    /// A kubeconfig with context `kube-sim` for any bearer token (e.g. a ServiceAccount token).
    pub fn kubeconfig_with_token(&self, token: &str, namespace: Option<&str>) -> String {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let ca = match &self.ca_pem {
            Some(pem) => format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            ),
            None => String::new(),
        };
        let ns = match namespace {
            Some(ns) => format!("    namespace: {}\n", q(ns)),
            None => String::new(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {}\n{ca}users:\n- name: kube-sim-user\n  user:\n    token: {}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim-user\n{ns}current-context: kube-sim\npreferences: {{}}\n",
            q(&self.url()),
            q(token),
        )
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// A client certificate this server's client CA (the cluster CA) signed: its CommonName the
    /// user, its Organizations the groups. Errors on a plain-HTTP server, which has no CA.
    pub fn issue_client_cert(
        &self,
        spec: &crate::auth::ClientCertSpec<'_>,
    ) -> anyhow::Result<crate::auth::ClientCert> {
        self.store
            .authenticator()
            .client_ca()
            .context("a plain-HTTP server has no client CA")?
            .issue(spec)
    }

    /// Every ServiceAccount token (TokenRequest JWT) this server minted, for leak tests.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.store.authenticator().issued_tokens()
    }

    /// Stop accepting, close every open connection (including watches) and stop the controllers.
    pub async fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            // Allowed inside an async context, unlike dropping the runtime.
            rt.shutdown_background();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The simulated kube-controller-manager on its own thread and runtime, until `stop` turns true.
fn spawn_controllers(store: Store, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the controllers' runtime")?;
    // Spawned (and subscribed) before this returns, so writes made right after start are seen.
    let handle = {
        let _guard = rt.enter();
        crate::controllers::spawn(store)
    };
    std::thread::Builder::new()
        .name("kube-sim-controllers".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::select! {
                    _ = handle => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
        })
        .context("starting the controllers' thread")?;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // Every request on the connection carries what its client certificate proved.
            let service =
                |shared: Arc<Shared>, presented: Option<crate::auth::PresentedCertificate>| {
                    service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        if let Some(p) = &presented {
                            req.extensions_mut().insert(p.clone());
                        }
                        handler::handle(shared.clone(), req)
                    })
                };
            let serve = async {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let presented = tls.get_ref().1.peer_certificates().and_then(|chain| {
                                shared.store.authenticator().check_certificate(chain)
                            });
                            let _ = builder
                                .serve_connection(
                                    TokioIo::new(tls),
                                    service(shared.clone(), presented),
                                )
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(tcp), service(shared.clone(), None))
                            .await;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}
