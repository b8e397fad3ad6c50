//! Key Vault secrets REST API (7.x) as a pure function over the state: bearer challenge, token
//! checks, firewall, access policy / RBAC denial, and the get / list answers with the bodies and
//! messages real Key Vault sends, so the product's diagnosis can be tested against them.
//!
//! Order of checks, as Key Vault does it: token (401 + challenge: AKV10000 none, S2S12005 unreadable,
//! AKV10032 other tenant, AKV10022 other audience, S2S12086 expired), then 429 when throttled, then
//! the firewall (403 ForbiddenByFirewall), then permission (403 AccessDenied for access policies,
//! ForbiddenByRbac for RBAC, ForbiddenByPolicy for compound-identity-only policies), then the secret
//! (404 SecretNotFound, 403 SecretDisabled). Expired or not-yet-valid secrets are served with their
//! `exp` / `nbf` attributes, as Key Vault documents.

use jiff::Timestamp;
use ring::hmac;
use serde_json::{Map, Value, json};

use super::endpoints::{ApiResponse, Endpoints};
use super::handle::Faults;
use super::jwt;
use super::state::{AkvState, Permission, PermissionModel, SecretVersion, VaultState};

/// One request to a vault host, already taken apart by the server layer.
#[derive(Debug, Clone)]
pub struct VaultRequest<'a> {
    pub vault: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    /// The raw `Authorization` header.
    pub authorization: Option<&'a str>,
    /// Shown in ForbiddenByFirewall messages.
    pub client_addr: &'a str,
}

impl VaultRequest<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Who the access token says is calling.
struct Caller {
    appid: String,
    oid: String,
    iss: String,
}

impl Caller {
    fn describe(&self) -> String {
        format!("appid={};oid={};iss={}", self.appid, self.oid, self.iss)
    }
}

const MAX_PAGE: usize = 25;

pub fn handle(
    state: &AkvState,
    faults: &Faults,
    ep: &Endpoints,
    key: &hmac::Key,
    req: &VaultRequest<'_>,
    now: Timestamp,
) -> ApiResponse {
    let region = state
        .vaults
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(req.vault))
        .map(|v| v.location.clone())
        .unwrap_or_default();
    answer(state, faults, ep, key, req, now)
        .with_header("x-ms-keyvault-service-version", "1.9.2757.1".to_owned())
        .with_header("x-ms-keyvault-region", region)
        .with_header(
            "x-ms-keyvault-network-info",
            format!(
                "conn_type=Ipv4;addr={};act_addr_fam=InterNetwork;",
                req.client_addr
            ),
        )
}

fn answer(
    state: &AkvState,
    faults: &Faults,
    ep: &Endpoints,
    key: &hmac::Key,
    req: &VaultRequest<'_>,
    now: Timestamp,
) -> ApiResponse {
    let caller = match authenticate(state, ep, key, req.authorization, now) {
        Ok(caller) => caller,
        Err(resp) => return resp,
    };
    let Some(vault) = state
        .vaults
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(req.vault))
    else {
        // The proxy only lets known vault names through; a vault removed at run time ends here.
        return error(404, "VaultNotFound", "The vault was not found.".to_owned());
    };
    let Some(api_version) = req.query("api-version") else {
        return error(
            400,
            "BadParameter",
            "The 'api-version' query parameter is missing.".to_owned(),
        );
    };
    if let Some(secs) = faults.throttle_retry_after {
        return error(429, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached".to_owned())
            .with_header("retry-after", secs.to_string());
    }
    if vault.firewall_blocks {
        return forbidden(
            "ForbiddenByFirewall",
            format!(
                "Client address is not authorized and caller is not a trusted service.\r\nClient address: {}\r\nCaller: {}\r\nVault: {};location={}",
                req.client_addr,
                caller.describe(),
                vault.name,
                vault.location
            ),
        );
    }
    if req.method != "GET" {
        return error(
            405,
            "BadParameter",
            format!("Method {} is not supported by this sandbox.", req.method),
        );
    }
    let segments: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["secrets"] => {
            if let Some(denied) = authorize(state, vault, &caller, Permission::List, None) {
                return denied;
            }
            list_secrets(vault, ep, req, api_version)
        }
        ["secrets", name, "versions"] => {
            if let Some(denied) = authorize(state, vault, &caller, Permission::List, Some(name)) {
                return denied;
            }
            list_versions(vault, ep, req, api_version, name)
        }
        ["deletedsecrets", name] => get_deleted_secret(state, vault, ep, &caller, name),
        ["secrets", name] => get_secret(state, vault, ep, &caller, name, None),
        ["secrets", name, version] => get_secret(state, vault, ep, &caller, name, Some(version)),
        _ => error(
            404,
            "NotFound",
            "The requested resource was not found.".to_owned(),
        ),
    }
}

fn authenticate(
    state: &AkvState,
    ep: &Endpoints,
    key: &hmac::Key,
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<Caller, ApiResponse> {
    let challenge = |message: &str| {
        error(401, "Unauthorized", message.to_owned()).with_header(
            "www-authenticate",
            format!(
                "Bearer authorization=\"{}/{}\", resource=\"{}\"",
                ep.authority_url(),
                state.tenant_id,
                ep.resource()
            ),
        )
    };
    let Some(token) = authorization.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return Err(challenge(
            "AKV10000: Request is missing a Bearer or PoP token.",
        ));
    };
    let Ok(claims) = jwt::verify_hs256(token.trim(), key) else {
        return Err(challenge(
            "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.",
        ));
    };
    let expected_iss = Endpoints::token_issuer(&state.tenant_id);
    let iss = claims.claim_str("iss").unwrap_or_default().to_owned();
    if !iss.eq_ignore_ascii_case(&expected_iss) {
        return Err(challenge(&format!(
            "AKV10032: Invalid issuer. Expected one of {expected_iss}, found {iss}."
        )));
    }
    let aud = claims.claim_str("aud").unwrap_or_default();
    if aud.trim_end_matches('/') != ep.resource() {
        return Err(challenge(&format!(
            "AKV10022: Invalid audience. Expected {}, found: {aud}.",
            ep.resource()
        )));
    }
    if claims.claim_i64("exp").unwrap_or(0) <= now.as_second() {
        return Err(challenge(
            "[TokenExpired] Error validating token: 'S2S12086'.",
        ));
    }
    Ok(Caller {
        appid: claims.claim_str("appid").unwrap_or_default().to_owned(),
        oid: claims.claim_str("oid").unwrap_or_default().to_owned(),
        iss,
    })
}

/// None when allowed, else the 403 this vault's permission model produces.
fn authorize(
    state: &AkvState,
    vault: &VaultState,
    caller: &Caller,
    perm: Permission,
    secret: Option<&str>,
) -> Option<ApiResponse> {
    let allowed = state.access.iter().any(|g| {
        g.principal.eq_ignore_ascii_case(&caller.appid)
            && g.vault.eq_ignore_ascii_case(&vault.name)
            && g.permissions.contains(&perm)
    });
    if allowed && vault.permission_model != PermissionModel::CompoundIdentity {
        return None;
    }
    Some(match vault.permission_model {
        PermissionModel::CompoundIdentity => forbidden(
            "ForbiddenByPolicy",
            format!(
                "The policy requires the caller '{}' to use on-behalf-of (OBO) flow. For more information on OBO, please see https://go.microsoft.com/fwlink/?linkid=2152310",
                caller.describe()
            ),
        ),
        PermissionModel::AccessPolicy => forbidden(
            "AccessDenied",
            format!(
                "The user, group or application '{}' does not have secrets {} permission on key vault '{};location={}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
                caller.describe(),
                perm.as_str(),
                vault.name,
                vault.location
            ),
        ),
        PermissionModel::Rbac => {
            let mut resource = format!(
                "/subscriptions/{}/resourcegroups/{}/providers/microsoft.keyvault/vaults/{}",
                vault.subscription_id,
                vault.resource_group.to_lowercase(),
                vault.name.to_lowercase()
            );
            if let Some(name) = secret {
                resource.push_str(&format!("/secrets/{}", name.to_lowercase()));
            }
            forbidden(
                "ForbiddenByRbac",
                format!(
                    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: {}\r\nAction: '{}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {};location={}\r\n",
                    caller.describe(),
                    perm.rbac_action(),
                    resource,
                    vault.name,
                    vault.location
                ),
            )
        }
    })
}

fn get_secret(
    state: &AkvState,
    vault: &VaultState,
    ep: &Endpoints,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
) -> ApiResponse {
    if !valid_name(name) {
        return error(
            400,
            "BadParameter",
            format!("The request URI contains an invalid name: {name}"),
        );
    }
    if let Some(denied) = authorize(state, vault, caller, Permission::Get, Some(name)) {
        return denied;
    }
    let Some((stored_name, versions)) = find_secret(vault, name) else {
        return not_found(name);
    };
    let found = match version {
        None => versions.last(),
        Some(id) => versions.iter().find(|v| {
            v.version
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(id))
        }),
    };
    let Some(secret) = found else {
        return not_found(&format!("{name}/{}", version.unwrap_or_default()));
    };
    if !secret.enabled {
        return forbidden(
            "SecretDisabled",
            "Operation get is not allowed on a disabled secret.".to_owned(),
        );
    }
    // Key Vault hands out expired and not-yet-valid secrets too (documented: for recovery and
    // testing); judging exp / nbf is the caller's business, so the attributes carry them.
    let mut bundle = item(ep, vault, stored_name, secret, true);
    bundle.insert("value".to_owned(), Value::String(secret.value.clone()));
    ApiResponse::json(200, Value::Object(bundle))
}

/// `GET deletedsecrets/NAME` (needs `get`, as Key Vault documents): the deleted secret's
/// attributes and dates, never its value here.
fn get_deleted_secret(
    state: &AkvState,
    vault: &VaultState,
    ep: &Endpoints,
    caller: &Caller,
    name: &str,
) -> ApiResponse {
    if let Some(denied) = authorize(state, vault, caller, Permission::Get, Some(name)) {
        return denied;
    }
    let found = vault
        .deleted_secrets
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name));
    let Some((stored, deleted)) = found else {
        return error(
            404,
            "SecretNotFound",
            format!("Deleted Secret not found: {name}"),
        );
    };
    let Some(current) = deleted.versions.last() else {
        return error(
            404,
            "SecretNotFound",
            format!("Deleted Secret not found: {name}"),
        );
    };
    let mut bundle = item(ep, vault, stored, current, true);
    bundle.insert(
        "recoveryId".to_owned(),
        Value::String(format!(
            "{}deletedsecrets/{stored}",
            ep.vault_url(&vault.name)
        )),
    );
    bundle.insert(
        "deletedDate".to_owned(),
        Value::from(deleted.deleted_date.as_second()),
    );
    bundle.insert(
        "scheduledPurgeDate".to_owned(),
        Value::from(deleted.scheduled_purge_date.as_second()),
    );
    ApiResponse::json(200, Value::Object(bundle))
}

fn list_secrets(
    vault: &VaultState,
    ep: &Endpoints,
    req: &VaultRequest<'_>,
    api_version: &str,
) -> ApiResponse {
    let items: Vec<Value> = vault
        .secrets
        .iter()
        .filter_map(|(name, versions)| {
            versions
                .last()
                .map(|current| Value::Object(item(ep, vault, name, current, false)))
        })
        .collect();
    page(
        items,
        req,
        &format!(
            "{}secrets?api-version={api_version}",
            ep.vault_url(&vault.name)
        ),
    )
}

fn list_versions(
    vault: &VaultState,
    ep: &Endpoints,
    req: &VaultRequest<'_>,
    api_version: &str,
    name: &str,
) -> ApiResponse {
    let Some((stored_name, versions)) = find_secret(vault, name) else {
        return not_found(name);
    };
    let items = versions
        .iter()
        .map(|v| Value::Object(item(ep, vault, stored_name, v, true)))
        .collect();
    page(
        items,
        req,
        &format!(
            "{}secrets/{stored_name}/versions?api-version={api_version}",
            ep.vault_url(&vault.name)
        ),
    )
}

/// Slices a list with `maxresults` and an opaque `$skiptoken`, answering `nextLink` like Key Vault.
fn page(items: Vec<Value>, req: &VaultRequest<'_>, base: &str) -> ApiResponse {
    let size = req
        .query("maxresults")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=MAX_PAGE).contains(m))
        .unwrap_or(MAX_PAGE);
    let start = req
        .query("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let end = (start + size).min(items.len());
    let next = (end < items.len())
        .then(|| format!("{base}&$skiptoken={end}&maxresults={size}"))
        .map_or(Value::Null, Value::String);
    let value: Vec<Value> = items[start..end].to_vec();
    ApiResponse::json(200, json!({ "value": value, "nextLink": next }))
}

/// A SecretItem (list entry); with the version in `id` when `versioned`.
fn item(
    ep: &Endpoints,
    vault: &VaultState,
    name: &str,
    v: &SecretVersion,
    versioned: bool,
) -> Map<String, Value> {
    let mut id = format!("{}secrets/{name}", ep.vault_url(&vault.name));
    if versioned {
        id.push('/');
        id.push_str(v.version.as_deref().unwrap_or_default());
    }
    let mut attributes = Map::new();
    attributes.insert("enabled".to_owned(), Value::Bool(v.enabled));
    for (key, at) in [
        ("nbf", v.nbf),
        ("exp", v.exp),
        ("created", v.created),
        ("updated", v.updated),
    ] {
        if let Some(at) = at {
            attributes.insert(key.to_owned(), Value::from(at.as_second()));
        }
    }
    attributes.insert("recoverableDays".to_owned(), Value::from(90));
    attributes.insert(
        "recoveryLevel".to_owned(),
        Value::from("Recoverable+Purgeable"),
    );
    let mut out = Map::new();
    out.insert("id".to_owned(), Value::String(id));
    out.insert("attributes".to_owned(), Value::Object(attributes));
    if let Some(ct) = &v.content_type {
        out.insert("contentType".to_owned(), Value::String(ct.clone()));
    }
    if !v.tags.is_empty() {
        out.insert("tags".to_owned(), json!(v.tags));
    }
    out
}

/// Secret names are case-insensitive in Key Vault.
fn find_secret<'a>(vault: &'a VaultState, name: &str) -> Option<(&'a str, &'a Vec<SecretVersion>)> {
    vault
        .secrets
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, v)| (n.as_str(), v))
}

fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn not_found(what: &str) -> ApiResponse {
    error(
        404,
        "SecretNotFound",
        format!(
            "A secret with (name/id) {what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
    )
}

fn forbidden(inner: &str, message: String) -> ApiResponse {
    ApiResponse::json(
        403,
        json!({"error": {"code": "Forbidden", "message": message, "innererror": {"code": inner}}}),
    )
}

fn error(status: u16, code: &str, message: String) -> ApiResponse {
    ApiResponse::json(status, json!({"error": {"code": code, "message": message}}))
}

#[cfg(test)]
#[path = "vault_api_tests.rs"]
mod tests;
