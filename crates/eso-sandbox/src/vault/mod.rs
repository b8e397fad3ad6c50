//! An in-process Vault (OpenBao 2.x) HTTP API for the sandbox: the endpoints ESO and kubectl-eso use,
//! with policies enforced on paths as Vault enforces them. Its answers are checked field for field
//! against a real OpenBao by `tests/vault_contract.rs`, so code that works here works against Vault.
//!
//! Not simulated: namespaces (only the root namespace exists, as on a fresh OpenBao), `sudo`-only
//! paths (only the root token administers here), leases, response wrapping, token renewal and
//! revocation, role TTL settings, `token_reviewer_jwt`, entity/identity APIs.

mod admin;
mod approle;
mod auth;
mod kubernetes;
mod kv;
pub mod policy;
mod reply;
mod router;
mod state;
mod sys;
mod tokenreview;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

pub use admin::VaultAdmin;
use reply::Reply;
use router::{Request, Shared};

/// A running in-process Vault server on `127.0.0.1:<ephemeral>`, plain HTTP, in dev-mode state
/// (KV v2 at `secret/`, token auth, `default` policy, the given root token).
pub struct VaultSim {
    addr: std::net::SocketAddr,
    root_token: String,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl VaultSim {
    pub async fn start(root_token: &str) -> anyhow::Result<VaultSim> {
        anyhow::ensure!(
            !root_token.trim().is_empty(),
            "the Vault root token must not be empty"
        );
        let shared: Shared = Arc::new(Mutex::new(state::State::dev(root_token)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("vault sim: server stopped: {e}");
            }
        });
        Ok(VaultSim {
            addr,
            root_token: root_token.to_string(),
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, what `VAULT_ADDR` / a SecretStore's `server` would hold.
    pub fn addr(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn root_token(&self) -> String {
        self.root_token.clone()
    }

    /// Every token this Vault knows (root and each login's client token) and their accessors, for
    /// leak tests: what a client was handed at run time must not reach its output (issue 18).
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        state
            .tokens
            .values()
            .flat_map(|t| [t.id.clone(), t.accessor.clone()])
            .collect()
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // A client holding a connection open (a pooled keep-alive mid-request) must not stall
            // the sandbox's shutdown: give in-flight requests a moment, then stop regardless.
            if tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for VaultSim {
    fn drop(&mut self) {
        // Dropped without shutdown(): stop serving rather than leak a listener into the test process.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/v1/") else {
        return Reply::error(axum::http::StatusCode::NOT_FOUND, "404 page not found")
            .into_response();
    };
    let path = percent_decode(path);
    if let Some(reply) = namespace_check(&headers, &path) {
        return reply.into_response();
    }
    match Request::parse(&method, &path, uri.query().unwrap_or(""), &headers, &body) {
        Ok(req) => router::dispatch(&shared, req).await.into_response(),
        Err(reply) => reply.into_response(),
    }
}

/// The sim has only OpenBao's root namespace: naming it (`root`, `/`) is fine, any other namespace
/// gets OpenBao's answers for a namespace that does not exist.
fn namespace_check(headers: &HeaderMap, path: &str) -> Option<Reply> {
    let ns = headers
        .get("x-vault-namespace")?
        .to_str()
        .unwrap_or("?")
        .trim_matches('/');
    if ns.is_empty() || ns == "root" {
        return None;
    }
    Some(if path == "sys/health" {
        Reply::bad_request("operation unavailable in namespaces")
    } else {
        Reply::error(axum::http::StatusCode::NOT_FOUND, "namespace not found")
    })
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
