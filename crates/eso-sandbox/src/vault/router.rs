//! One entry point for every `/v1/...` request: find the token, check the policy the way Vault does
//! (before routing, so a denied caller learns nothing about what exists), then hand over to the
//! sys, auth or KV handlers. `X-Vault-Namespace` is checked before this, in `mod.rs`.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use super::reply::{Reply, parse_body};
use super::state::State;
use super::{auth, kv, sys};

pub type Shared = Arc<Mutex<State>>;

/// The four operations Vault's ACLs distinguish (create and update are both `Write`; which one is
/// checked depends on whether the target exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    List,
    Write,
    Delete,
}

pub struct Request {
    pub op: Op,
    pub path: String,
    pub query: String,
    pub token: Option<String>,
    pub body: Map<String, Value>,
}

impl Request {
    pub fn parse(
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Request, Reply> {
        let listing =
            form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "list" && v == "true");
        let op = match method.as_str() {
            "GET" if listing => Op::List,
            "GET" | "HEAD" => Op::Read,
            "LIST" => Op::List,
            "POST" | "PUT" | "PATCH" => Op::Write,
            "DELETE" => Op::Delete,
            _ => {
                return Err(Reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "unsupported operation",
                ));
            }
        };
        let token = headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let body = if op == Op::Write {
            parse_body(body)?
        } else {
            Map::new()
        };
        Ok(Request {
            op,
            path: path.trim_start_matches('/').to_string(),
            query: query.to_string(),
            token,
            body,
        })
    }
}

pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A handler that panicked mid-update cannot leave the maps half-written in a way that matters
    // for a simulation, so a poisoned lock is simply taken over.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub async fn dispatch(shared: &Shared, req: Request) -> Reply {
    if req.path == "sys/health" {
        return sys::health();
    }
    if let Some(reply) = auth::login(shared, &req).await {
        return reply;
    }
    let mut state = lock(shared);
    let Some(token) = req.token.as_deref().and_then(|t| state.token(t)).cloned() else {
        return Reply::permission_denied();
    };
    if let Some(rest) = req.path.strip_prefix("sys/internal/ui/mounts/") {
        return sys::ui_mount(&state, &token, rest);
    }
    if !State::is_root(&token) {
        let capability = capability_for(&state, &req);
        if !state.acl(&token).allows(&req.path, capability) {
            return Reply::policy_denied();
        }
    }
    if let Some(rest) = req.path.strip_prefix("sys/") {
        return sys::handle(&mut state, &token, rest, &req);
    }
    if let Some(rest) = req.path.strip_prefix("auth/") {
        return auth::handle(&mut state, &token, rest, &req);
    }
    match state.mount_for(&req.path) {
        Some((mount, rest)) => {
            let rest = rest.to_string();
            match state.mounts.get(&mount).and_then(|m| m.kv_version()) {
                Some(1) => kv::handle_v1(&mut state, &mount, &rest, req.op, &req.body),
                Some(_) => kv::handle_v2(&mut state, &mount, &rest, req.op, &req.query, &req.body),
                None => no_handler(&req.path),
            }
        }
        None => no_handler(&req.path),
    }
}

fn capability_for(state: &State, req: &Request) -> &'static str {
    match req.op {
        Op::Read => "read",
        Op::List => "list",
        Op::Delete => "delete",
        Op::Write => {
            let existing = state.mount_for(&req.path).and_then(|(mount, rest)| {
                let version = state.mounts.get(&mount)?.kv_version()?;
                Some(kv::exists(state, &mount, version, rest))
            });
            if existing == Some(false) {
                "create"
            } else {
                "update"
            }
        }
    }
}

pub fn no_handler(path: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        format!("no handler for route {path:?}. route entry not found."),
    )
}
