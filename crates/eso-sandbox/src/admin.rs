//! The sandbox's admin endpoint (issue 18): switch the simulated apiserver's faults while it
//! runs, from outside the process — a test or a user with `curl` — instead of only at start with
//! `--fault`. It listens on loopback only and speaks plain text:
//!
//! - `GET /faults`: the active faults, one `RESOURCE=FAULT` per line;
//! - `POST /faults` with body `RESOURCE=FAULT` (the `--fault` syntax: 403, 429, 429:SECS, 500,
//!   hang, latency:DURATION, drop-watch:N): switch one on;
//! - `DELETE /faults/RESOURCE`: switch one resource's faults off; `DELETE /faults`: all.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use kube_sim::{Fault, Faults, parse_fault};
use tokio::task::JoinHandle;

/// A running admin endpoint; it stops when dropped.
pub struct AdminServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Listens on `addr`, which must be a loopback address (port 0 picks a free one).
    pub async fn start(addr: SocketAddr, faults: Faults) -> anyhow::Result<AdminServer> {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "--admin-addr {addr}: the admin endpoint only listens on loopback (127.0.0.1 or [::1])"
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--admin-addr {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/faults", get(list).post(set).delete(clear_all))
            .route("/faults/{resource}", delete(clear_one))
            .with_state(faults);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AdminServer { addr, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fault in the `--fault` syntax, so what `GET` lists can be `POST`ed back.
pub fn fault_spec(fault: &Fault) -> String {
    match fault {
        Fault::Forbidden => "403".into(),
        Fault::InternalError => "500".into(),
        Fault::TooManyRequests { retry_after_secs } => format!("429:{retry_after_secs}"),
        Fault::Latency(d) if *d >= kube_sim::HANG => "hang".into(),
        Fault::Latency(d) => format!("latency:{}ms", d.as_millis()),
        Fault::DropWatchAfter(n) => format!("drop-watch:{n}"),
    }
}

async fn list(State(faults): State<Faults>) -> String {
    let mut out = String::new();
    for (resource, list) in faults.active() {
        for f in list {
            out.push_str(&format!("{resource}={}\n", fault_spec(&f)));
        }
    }
    out
}

async fn set(State(faults): State<Faults>, body: String) -> (StatusCode, String) {
    match parse_fault(body.trim()) {
        Ok((resource, fault)) => {
            let text = format!("{resource}={}\n", fault_spec(&fault));
            faults.set(&resource, fault);
            (StatusCode::OK, text)
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

async fn clear_all(State(faults): State<Faults>) -> StatusCode {
    faults.clear();
    StatusCode::NO_CONTENT
}

async fn clear_one(State(faults): State<Faults>, Path(resource): Path<String>) -> StatusCode {
    faults.clear_resource(&resource);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_18_listed_faults_parse_back_to_themselves() {
        for spec in [
            "403",
            "500",
            "429:3",
            "hang",
            "latency:250ms",
            "drop-watch:2",
        ] {
            let (_, fault) =
                parse_fault(&format!("events={spec}")).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(fault_spec(&fault), spec);
        }
    }

    #[tokio::test]
    async fn issue_18_the_admin_endpoint_refuses_other_than_loopback() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap_or_else(|e| panic!("{e}"));
        let refused = AdminServer::start(addr, Faults::default()).await;
        assert!(refused.is_err());
    }
}
