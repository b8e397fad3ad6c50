//! The `auth/` tree: routes logins and admin calls to the AppRole and Kubernetes methods by mount
//! type, answers the token method (`lookup-self`, `create`) itself, and holds the parameter
//! conventions the methods share.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::reply::Reply;
use super::router::{Op, Request, Shared, lock, no_handler};
use super::state::{DEFAULT_TTL_SECS, State, Token, TokenSpec, parse_duration, token_policies};
use super::{approle, kubernetes};

/// Answers `auth/<mount>/login` for AppRole and Kubernetes mounts; `None` for every other path.
pub async fn login(shared: &Shared, req: &Request) -> Option<Reply> {
    let mount = req.path.strip_prefix("auth/")?.strip_suffix("/login")?;
    let key = format!("{mount}/");
    let kind = lock(shared).auth_mounts.get(&key).map(|m| m.kind.clone())?;
    match kind.as_str() {
        "approle" => Some(approle::login(&mut lock(shared), &key, &req.body)),
        "kubernetes" => Some(kubernetes::login(shared, &key, &req.body).await),
        _ => None,
    }
}

pub fn handle(state: &mut State, token: &Token, rest: &str, req: &Request) -> Reply {
    let (mount, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let key = format!("{mount}/");
    match state
        .auth_mounts
        .get(&key)
        .map(|m| m.kind.clone())
        .as_deref()
    {
        Some("token") => token_op(state, token, tail, req),
        Some("approle") => approle::handle(state, &key, tail, req),
        Some("kubernetes") => kubernetes::handle(state, &key, tail, req),
        _ => no_handler(&req.path),
    }
}

fn token_op(state: &mut State, token: &Token, tail: &str, req: &Request) -> Reply {
    match (tail, req.op) {
        ("lookup-self", Op::Read | Op::Write) => Reply::data(token.lookup(Timestamp::now())),
        ("create", Op::Write) => {
            let requested = match string_list(&req.body, &["policies"]) {
                Some(p) => p,
                None => token.policies.clone(),
            };
            if !State::is_root(token)
                && requested
                    .iter()
                    .any(|p| p != "default" && !token.policies.contains(p))
            {
                return Reply::bad_request("child policies must be subset of parent");
            }
            let ttl = match req
                .body
                .get("ttl")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                Some(text) => match parse_duration(text) {
                    Ok(secs) => secs,
                    Err(e) => return Reply::bad_request(e),
                },
                None => DEFAULT_TTL_SECS,
            };
            let no_default = req
                .body
                .get("no_default_policy")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let meta = req
                .body
                .get("meta")
                .and_then(Value::as_object)
                .map(string_map);
            let spec = TokenSpec {
                policies: token_policies(&requested, !no_default),
                meta,
                display_name: "token".into(),
                path: "auth/token/create".into(),
                entity_id: String::new(),
                ttl_secs: if ttl == 0 { DEFAULT_TTL_SECS } else { ttl },
                orphan: false,
            };
            // Vault lets only root choose the token's id.
            let id = req
                .body
                .get("id")
                .and_then(Value::as_str)
                .filter(|i| !i.is_empty());
            let token = match id {
                Some(_) if !State::is_root(token) => {
                    return Reply::bad_request(
                        "root or sudo privileges required to specify token id",
                    );
                }
                Some(id) if state.tokens.contains_key(id) => {
                    return Reply::bad_request("cannot create a token with a duplicate ID");
                }
                Some(id) => state.issue_token_with_id(spec, id),
                None => state.issue_token(spec),
            };
            let missing: Vec<String> = token
                .policies
                .iter()
                .filter(|p| *p != "default" && *p != "root" && !state.policies.contains_key(*p))
                .map(|p| format!("Policy {p:?} does not exist"))
                .collect();
            let mut reply = Reply::auth(token.auth_block());
            if let (false, Some(body)) = (missing.is_empty(), reply.body.as_mut()) {
                body["warnings"] = json!(missing);
            }
            reply
        }
        // Root only here (Vault: update on auth/token/revoke); revoking an unknown token is a no-op.
        ("revoke", Op::Write) if State::is_root(token) => {
            if let Some(id) = req.body.get("token").and_then(Value::as_str) {
                state.tokens.remove(id);
            }
            Reply::no_content()
        }
        _ => no_handler(&req.path),
    }
}

/// A list parameter given either as a JSON array or as a comma-separated string, as Vault accepts both.
pub fn string_list(body: &Map<String, Value>, keys: &[&str]) -> Option<Vec<String>> {
    keys.iter().find_map(|k| match body.get(*k)? {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .collect(),
        ),
        Value::String(s) => Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        _ => None,
    })
}

fn string_map(m: &Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

/// Roles written with the deprecated `policies` field echo it back (sorted); roles written with
/// `token_policies` keep the caller's order and show only that field, as OpenBao does.
pub fn with_legacy_policies(legacy: bool, policies: &[String], mut data: Value) -> Value {
    if legacy {
        data["policies"] = json!(policies);
    }
    data
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
