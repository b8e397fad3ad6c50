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
pub mod logs;
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
mod trim;
mod verbs;
mod view;
mod watch;
mod write;

pub use faults::{Fault, Faults, HANG, parse_fault};
pub use handler::REQUEST_LOG_ENV;
pub use server::ApiServer;
pub use store::{EventKind, Packed, Store, StoreError, WatchEvent, Write};

/// `value.pointer(pointer)` (RFC 6901), without allocating for a pointer with no escapes:
/// serde_json's copies every segment, and the simulated controllers read a few fields of every
/// object they are told about (issue 16).
pub fn value_at<'a>(value: &'a serde_json::Value, pointer: &str) -> Option<&'a serde_json::Value> {
    use serde_json::Value;
    if pointer.contains('~') {
        return value.pointer(pointer);
    }
    if pointer.is_empty() {
        return Some(value);
    }
    pointer
        .strip_prefix('/')?
        .split('/')
        .try_fold(value, |target, token| match target {
            Value::Object(map) => map.get(token),
            Value::Array(list) => {
                // As serde_json reads an index: no sign, no leading zero.
                let leading_zero = token.starts_with('0') && token.len() != 1;
                if token.starts_with('+') || leading_zero {
                    return None;
                }
                token.parse::<usize>().ok().and_then(|i| list.get(i))
            }
            _ => None,
        })
}

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn value_at_reads_as_serde_json_pointer_does() {
        let v = json!({"a": {"b/c": 1, "d": [10, {"e": "x"}], "~": 2, "": 3}, "0": 4});
        for p in [
            "",
            "/",
            "/a",
            "/a/d/0",
            "/a/d/1/e",
            "/a/d/01",
            "/a/d/+1",
            "/a/d/9",
            "/a/b~1c",
            "/a/~0",
            "/a/",
            "/0",
            "a",
            "/a/d/1/e/f",
            "/missing",
        ] {
            assert_eq!(super::value_at(&v, p), v.pointer(p), "{p}");
        }
    }
}
