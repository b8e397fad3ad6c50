//! The auth methods ESO uses against Vault: tokens (`lookup-self`, `create`), AppRole and Kubernetes,
//! with OpenBao's error texts for each way a login fails. The roles' admin endpoints live here too.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::reply::Reply;
use super::router::{Op, Request, Shared, lock, no_handler};
use super::state::{
    AppRole, DEFAULT_TTL_SECS, KubeConfig, KubeRole, State, Token, TokenSpec, parse_duration,
    token_policies,
};
use super::tokenreview;

/// Answers `auth/<mount>/login` for AppRole and Kubernetes mounts; `None` for every other path.
pub async fn login(shared: &Shared, req: &Request) -> Option<Reply> {
    let mount = req.path.strip_prefix("auth/")?.strip_suffix("/login")?;
    let key = format!("{mount}/");
    let kind = lock(shared).auth_mounts.get(&key).map(|m| m.kind.clone())?;
    match kind.as_str() {
        "approle" => Some(approle_login(&mut lock(shared), &key, &req.body)),
        "kubernetes" => Some(kube_login(shared, &key, &req.body).await),
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
        Some("approle") => approle_op(state, &key, tail, req),
        Some("kubernetes") => kube_op(state, &key, tail, req),
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
            let token = state.issue_token(spec);
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
        _ => no_handler(&req.path),
    }
}

fn approle_op(state: &mut State, mount: &str, tail: &str, req: &Request) -> Reply {
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

fn approle_login(state: &mut State, mount: &str, body: &Map<String, Value>) -> Reply {
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

fn kube_op(state: &mut State, mount: &str, tail: &str, req: &Request) -> Reply {
    let parts: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
    match (parts.as_slice(), req.op) {
        (["config"], Op::Write) => {
            let text = |k: &str| {
                req.body
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            if text("kubernetes_host").is_empty() {
                return Reply::bad_request("no host provided");
            }
            let config = KubeConfig {
                host: text("kubernetes_host"),
                ca_pem: text("kubernetes_ca_cert"),
            };
            state.kube_configs.insert(mount.to_string(), config);
            Reply::no_content()
        }
        (["config"], Op::Read) => match state.kube_configs.get(mount) {
            Some(c) => Reply::data(json!({
                "disable_iss_validation": true, "disable_local_ca_jwt": true, "issuer": "",
                "kubernetes_ca_cert": c.ca_pem, "kubernetes_host": c.host, "pem_keys": [], "token_reviewer_jwt_set": false,
            })),
            None => Reply::not_found(),
        },
        (["role", name], Op::Write) => put_kube_role(state, mount, name, &req.body),
        (["role", name], Op::Read) => {
            match state.kube_roles.get(&(mount.to_string(), name.to_string())) {
                Some(role) => {
                    let mut data = json!({
                        "alias_name_source": "serviceaccount_uid",
                        "bound_service_account_names": role.sa_names,
                        "bound_service_account_namespace_selector": "",
                        "bound_service_account_namespaces": role.sa_namespaces,
                        "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                        "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                        "token_policies": role.policies, "token_strictly_bind_ip": false, "token_ttl": 0, "token_type": "default",
                    });
                    if let Some(aud) = &role.audience {
                        data["audience"] = json!(aud);
                    }
                    Reply::data(with_legacy_policies(
                        role.legacy_policies,
                        &role.policies,
                        data,
                    ))
                }
                None => Reply::not_found(),
            }
        }
        (["role", name], Op::Delete) => {
            state
                .kube_roles
                .remove(&(mount.to_string(), name.to_string()));
            Reply::no_content()
        }
        _ => no_handler(&req.path),
    }
}

fn put_kube_role(state: &mut State, mount: &str, name: &str, body: &Map<String, Value>) -> Reply {
    let sa_names = string_list(body, &["bound_service_account_names"]).unwrap_or_default();
    let sa_namespaces =
        string_list(body, &["bound_service_account_namespaces"]).unwrap_or_default();
    if sa_names.is_empty() {
        return Reply::bad_request("\"bound_service_account_names\" can not be empty");
    }
    if sa_namespaces.is_empty() {
        return Reply::bad_request(
            "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set",
        );
    }
    let legacy_policies = !body.contains_key("token_policies") && body.contains_key("policies");
    let policies = string_list(body, &["token_policies", "policies"]).unwrap_or_default();
    let role = KubeRole {
        sa_names,
        sa_namespaces,
        policies: if legacy_policies {
            sorted(policies)
        } else {
            policies
        },
        legacy_policies,
        audience: body
            .get("audience")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_string),
    };
    state
        .kube_roles
        .insert((mount.to_string(), name.to_string()), role);
    Reply::no_content()
}

/// Kubernetes login as the OpenBao plugin does it: bound names and namespaces are checked against the
/// JWT's own claims first, then the API server's TokenReview (called with the client's JWT as bearer)
/// must confirm the same service account. Every TokenReview failure is a bare "permission denied".
async fn kube_login(shared: &Shared, mount: &str, body: &Map<String, Value>) -> Reply {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (role_name, jwt) = (text("role"), text("jwt"));
    if role_name.is_empty() {
        return Reply::bad_request("missing role");
    }
    if jwt.is_empty() {
        return Reply::bad_request("missing jwt");
    }
    let (role, config) = {
        let state = lock(shared);
        let Some(role) = state
            .kube_roles
            .get(&(mount.to_string(), role_name.clone()))
            .cloned()
        else {
            return Reply::bad_request(format!("invalid role name {role_name:?}"));
        };
        let Some(config) = state.kube_configs.get(mount).cloned() else {
            return Reply::bad_request("could not load backend configuration");
        };
        (role, config)
    };
    let Some(claims) = tokenreview::ServiceAccountClaims::from_jwt(&jwt) else {
        return Reply::permission_denied();
    };
    if !contains_glob(&role.sa_namespaces, &claims.namespace) {
        return Reply::error(
            axum::http::StatusCode::FORBIDDEN,
            "namespace not authorized",
        );
    }
    if !contains_glob(&role.sa_names, &claims.name) {
        return Reply::error(
            axum::http::StatusCode::FORBIDDEN,
            "service account name not authorized",
        );
    }
    let audiences = match &role.audience {
        Some(aud) => vec![aud.clone()],
        None => claims.audiences.clone(),
    };
    let reviewed = tokenreview::review(&config.host, &config.ca_pem, &jwt, &audiences).await;
    let expected = format!("system:serviceaccount:{}:{}", claims.namespace, claims.name);
    if reviewed.as_ref().map(|u| u.username.as_str()) != Ok(expected.as_str()) {
        return Reply::permission_denied();
    }
    let mut state = lock(shared);
    let accessor = state
        .auth_mounts
        .get(mount)
        .map(|m| m.accessor.clone())
        .unwrap_or_default();
    let entity_id = state.entity_for(format!("{accessor}/{}", claims.uid));
    let meta = BTreeMap::from([
        ("role".to_string(), role_name),
        ("service_account_name".to_string(), claims.name.clone()),
        (
            "service_account_namespace".to_string(),
            claims.namespace.clone(),
        ),
        (
            "service_account_secret_name".to_string(),
            claims.secret_name.clone(),
        ),
        ("service_account_uid".to_string(), claims.uid.clone()),
    ]);
    let spec = TokenSpec {
        policies: token_policies(&role.policies, true),
        meta: Some(meta),
        display_name: format!(
            "{}-{}-{}",
            mount.trim_end_matches('/'),
            claims.namespace,
            claims.name
        ),
        path: format!("auth/{mount}login"),
        entity_id,
        ttl_secs: DEFAULT_TTL_SECS,
        orphan: true,
    };
    Reply::auth(state.issue_token(spec).auth_block())
}

/// Vault's `StrListContainsGlob`: entries may start or end with `*`.
fn contains_glob(list: &[String], item: &str) -> bool {
    list.iter().any(|pat| {
        if pat == "*" || pat == item {
            return true;
        }
        match (pat.strip_prefix('*'), pat.strip_suffix('*')) {
            (Some(suffix), _) if !suffix.ends_with('*') => item.ends_with(suffix),
            (_, Some(prefix)) => item.starts_with(prefix),
            _ => false,
        }
    })
}

/// A list parameter given either as a JSON array or as a comma-separated string, as Vault accepts both.
fn string_list(body: &Map<String, Value>, keys: &[&str]) -> Option<Vec<String>> {
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
fn with_legacy_policies(legacy: bool, policies: &[String], mut data: Value) -> Value {
    if legacy {
        data["policies"] = json!(policies);
    }
    data
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_lists_match_like_vault() {
        let list = vec![
            "external-*".to_string(),
            "*-reader".to_string(),
            "exact".to_string(),
        ];
        assert!(contains_glob(&list, "external-secrets"));
        assert!(contains_glob(&list, "vault-reader"));
        assert!(contains_glob(&list, "exact"));
        assert!(!contains_glob(&list, "other"));
        assert!(contains_glob(&["*".to_string()], "anything"));
    }
}
