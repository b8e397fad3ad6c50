//! Kubernetes auth: the backend config, roles, and login through the API server's TokenReview,
//! with the order of checks and the error texts of OpenBao's kubernetes plugin.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::auth::{sorted, string_list, with_legacy_policies};
use super::reply::Reply;
use super::router::{Op, Request, Shared, lock, no_handler};
use super::state::{DEFAULT_TTL_SECS, KubeConfig, KubeRole, State, TokenSpec, token_policies};
use super::tokenreview;

pub fn handle(state: &mut State, mount: &str, tail: &str, req: &Request) -> Reply {
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
pub async fn login(shared: &Shared, mount: &str, body: &Map<String, Value>) -> Reply {
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
