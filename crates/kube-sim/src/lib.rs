//! Simulated kube-apiserver: serves the real Kubernetes wire format (discovery, CRUD, patch, list,
//! watch, Status errors, tokens, RBAC) on 127.0.0.1 so the product and its tests can run against a
//! "cluster" that no machine here can install. See docs/ARCHITECTURE.md for the public contract.

pub mod auth;
pub mod controllers;
mod crds;
mod discovery;
mod faults;
mod handler;
mod list;
mod openapi;
mod patch;
mod protobuf;
mod resources;
mod schema;
mod selectors;
mod server;
pub mod status;
mod store;
mod table;
mod tls;
mod verbs;
mod view;
mod watch;
mod write;

pub use faults::{Fault, Faults, HANG, parse_fault};
pub use handler::REQUEST_LOG_ENV;
pub use server::ApiServer;
pub use store::{EventKind, Store, StoreError, WatchEvent};

/// Which ESO CRDs the simulated cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EsoCrds {
    /// The v2.9.0 bundle as shipped: `external-secrets.io/v1` served and stored.
    #[default]
    V1,
    /// `v1beta1` served and stored, `v1` not served: what clusters on ESO <= 0.16 look like.
    V1beta1Only,
    /// No ESO CRDs at all.
    None,
}

/// How to start the simulated apiserver.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// HTTPS with a generated CA (default) or plain HTTP.
    pub tls: bool,
    pub eso_crds: EsoCrds,
    /// 0 = ephemeral; always bound on 127.0.0.1.
    pub port: u16,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tls: true,
            eso_crds: EsoCrds::V1,
            port: 0,
        }
    }
}
