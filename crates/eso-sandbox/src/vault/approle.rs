//! AppRole auth: roles, role ids, secret ids and login, with OpenBao's answers (including its
//! 500 for a login without `role_id`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::auth::{sorted, string_list, with_legacy_policies};
use super::reply::Reply;
use super::router::{Op, Request, no_handler};
use super::state::{AppRole, DEFAULT_TTL_SECS, State, TokenSpec, token_policies};

pub fn handle(state: &mut State, mount: &str, tail: &str, req: &Request) -> Reply {
    let parts: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
    let key = |name: &str| (mount.to_string(), name.to_string());
    match (parts.as_slice(), req.op) {
        (["role"], Op::List) => {
            let keys: Vec<&String> = state
                .approles
                .keys()
                .filter(|(m, _)| m == mount)
                .map(|(_, r)| r)
                .collect();
            if keys.is_empty() {
                Reply::not_found()
            } else {
                Reply::data(json!({ "keys": keys }))
            }
        }
        (["role", name], Op::Write) => {
            let legacy =
                !req.body.contains_key("token_policies") && req.body.contains_key("policies");
            let policies =
                string_list(&req.body, &["token_policies", "policies"]).unwrap_or_default();
            let role = state.approles.entry(key(name)).or_insert_with(|| AppRole {
                role_id: uuid::Uuid::new_v4().to_string(),
                policies: Vec::new(),
                legacy_policies: false,
                secret_ids: Vec::new(),
            });
            role.policies = if legacy { sorted(policies) } else { policies };
            role.legacy_policies = legacy;
            Reply::no_content()
        }
        (["role", name], Op::Read) => match state.approles.get(&key(name)) {
            Some(role) => Reply::data(with_legacy_policies(
                role.legacy_policies,
                &role.policies,
                json!({
                    "bind_secret_id": true, "local_secret_ids": false, "secret_id_bound_cidrs": null,
                    "secret_id_num_uses": 0, "secret_id_ttl": 0, "token_bound_cidrs": [], "token_explicit_max_ttl": 0,
                    "token_max_ttl": 0, "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                    "token_policies": role.policies, "token_strictly_bind_ip": false, "token_ttl": 0, "token_type": "default",
                }),
            )),
            None => Reply::not_found(),
        },
        (["role", name], Op::Delete) => {
            state.approles.remove(&key(name));
            Reply::no_content()
        }
        (["role", name, "role-id"], Op::Read) => match state.approles.get(&key(name)) {
            Some(role) => Reply::data(json!({ "role_id": role.role_id })),
            None => Reply::not_found(),
        },
        // `vault write auth/MOUNT/role/NAME/role-id role_id=…`: a role id of the operator's choosing.
        (["role", name, "role-id"], Op::Write) => match state.approles.get_mut(&key(name)) {
            Some(role) => match req.body.get("role_id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => {
                    role.role_id = id.to_string();
                    Reply::no_content()
                }
                _ => Reply::bad_request("missing role_id"),
            },
            None => Reply::bad_request(format!("role {name:?} does not exist")),
        },
        // `custom-secret-id`: a secret id of the operator's choosing (a scenario's canary).
        (["role", name, "custom-secret-id"], Op::Write) => {
            match (
                state.approles.get_mut(&key(name)),
                req.body.get("secret_id").and_then(Value::as_str),
            ) {
                (Some(role), Some(id)) if !id.is_empty() => {
                    role.secret_ids.push(id.to_string());
                    Reply::data(json!({
                        "secret_id": id,
                        "secret_id_accessor": uuid::Uuid::new_v4().to_string(),
                        "secret_id_num_uses": 0,
                        "secret_id_ttl": 0,
                    }))
                }
                (None, _) => Reply::bad_request(format!("role {name:?} does not exist")),
                _ => Reply::bad_request("missing secret_id"),
            }
        }
        // `vault write auth/MOUNT/role/NAME/secret-id/destroy secret_id=…` (also what an expired or
        // used-up secret id comes to: the login no longer finds it).
        (["role", name, "secret-id", "destroy"], Op::Write) => {
            match state.approles.get_mut(&key(name)) {
                Some(role) => {
                    let id = req.body.get("secret_id").and_then(Value::as_str);
                    role.secret_ids.retain(|s| Some(s.as_str()) != id);
                    Reply::no_content()
                }
                None => Reply::bad_request(format!("role {name:?} does not exist")),
            }
        }
        (["role", name, "secret-id"], Op::Write) => match state.approles.get_mut(&key(name)) {
            Some(role) => {
                let secret_id = uuid::Uuid::new_v4().to_string();
                role.secret_ids.push(secret_id.clone());
                Reply::data(json!({
                    "secret_id": secret_id,
                    "secret_id_accessor": uuid::Uuid::new_v4().to_string(),
                    "secret_id_num_uses": 0,
                    "secret_id_ttl": 0,
                }))
            }
            None => Reply::bad_request(format!("role {name:?} does not exist")),
        },
        _ => no_handler(&req.path),
    }
}

pub fn login(state: &mut State, mount: &str, body: &Map<String, Value>) -> Reply {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (role_id, secret_id) = (text("role_id"), text("secret_id"));
    if role_id.is_empty() {
        return Reply::error(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "missing role_id",
        );
    }
    let found = state
        .approles
        .iter()
        .find(|((m, _), r)| m == mount && r.role_id == role_id && r.secret_ids.contains(&secret_id))
        .map(|((_, name), r)| (name.clone(), r.policies.clone()));
    let Some((name, policies)) = found else {
        return Reply::bad_request("invalid role or secret ID");
    };
    let accessor = state
        .auth_mounts
        .get(mount)
        .map(|m| m.accessor.clone())
        .unwrap_or_default();
    let entity_id = state.entity_for(format!("{accessor}/{role_id}"));
    let spec = TokenSpec {
        policies: token_policies(&policies, true),
        meta: Some(BTreeMap::from([("role_name".to_string(), name)])),
        display_name: "approle".into(),
        path: format!("auth/{mount}login"),
        entity_id,
        ttl_secs: DEFAULT_TTL_SECS,
        orphan: true,
    };
    Reply::auth(state.issue_token(spec).auth_block())
}
