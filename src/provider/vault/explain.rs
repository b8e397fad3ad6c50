//! Reads what explains a Vault refusal (issue 12): the mount's type and KV version
//! (`sys/internal/ui/mounts/<path>`, which any token with a capability under the mount may read —
//! ESO's own token first), and, with the user's own token only, the Kubernetes-auth role's bindings
//! (`auth/<mount>/role/<name>`) and the text of the policies ESO's token carries
//! (`sys/policies/acl/<name>`). The user's token is sent only to the Vault the user named in
//! `VAULT_ADDR`, and only when it is the store's server. Bounded: one mount read (two when the first
//! is refused), one role read, at most [`MAX_POLICIES`] policy reads, and only for a probe that
//! failed. What could not be read is said with the command that would read it.

use serde_json::Value;

use super::http::ProbeHttp;
use super::{VaultStore, call, vault_errors};
use crate::diagnose::vault_explain::{mount_facts, parse_policy, role_facts};
use crate::model::chain::{
    VaultAuthConfigFacts, VaultExplain, VaultMountFacts, VaultPolicyFacts, VaultRoleFacts,
};

/// The most policies read for one explanation.
pub const MAX_POLICIES: usize = 8;

/// What to read, and with which tokens.
#[derive(Debug, Default, Clone)]
pub struct Ask<'a> {
    /// ESO's token, when its login succeeded.
    pub eso_token: Option<&'a str>,
    /// The user's own token, already checked to belong to this store's Vault.
    pub user_token: Option<&'a str>,
    pub mount: bool,
    /// The auth mount and role to read.
    pub role: Option<(&'a str, &'a str)>,
    /// The policies to read (ESO's token's).
    pub policies: &'a [String],
    /// `namespace/name` of the ServiceAccount ESO logs in with, and its token's audiences.
    pub service_account: Option<String>,
    /// Read the auth mount's config (kubernetes_host, whether a reviewer JWT is set).
    pub auth_config: bool,
    pub audiences: Vec<String>,
}

fn no_user_token(server: &str) -> String {
    format!(
        "set VAULT_ADDR={} and VAULT_TOKEN (or log in with `vault login`) to a token of yours \
         that may read it",
        crate::sanitize::line(server.trim_end_matches('/'))
    )
}

pub async fn explain(http: &ProbeHttp, store: &VaultStore, ask: &Ask<'_>) -> VaultExplain {
    let mut x = VaultExplain {
        service_account: ask.service_account.clone(),
        audiences: ask.audiences.clone(),
        ..VaultExplain::default()
    };
    let used = |who: &str, x: &mut VaultExplain| {
        if !x.read_with.iter().any(|w| w == who) {
            x.read_with.push(who.to_string());
        }
    };
    if ask.mount {
        let path = store.mount.trim_matches('/').to_string();
        let mut refused = Vec::new();
        for (who, token) in [("eso", ask.eso_token), ("you", ask.user_token)] {
            let Some(token) = token else { continue };
            let Ok(a) = call(
                http,
                store,
                reqwest::Method::GET,
                &format!("sys/internal/ui/mounts/{path}"),
                Some(token),
                None,
            )
            .await
            else {
                break;
            };
            used(who, &mut x);
            if a.status == 200
                && let Some(d) = a.body.get("data")
            {
                x.mount = Some(mount_facts(&path, d));
                break;
            }
            refused.push(format!("{who}: {}", vault_errors(&a)));
        }
        // Vault answers 403 both for "no capability under it" and "nothing mounted": a token
        // that may list the mounts tells them apart.
        if x.mount.is_none()
            && let Some(token) = ask.user_token
            && let Ok(a) = call(
                http,
                store,
                reqwest::Method::GET,
                "sys/mounts",
                Some(token),
                None,
            )
            .await
        {
            if a.status == 200 {
                let table = a
                    .body
                    .get("data")
                    .filter(|d| d.is_object())
                    .unwrap_or(&a.body);
                x.mount = Some(match table.get(format!("{path}/")) {
                    Some(m) => mount_facts(&path, m),
                    None => VaultMountFacts {
                        path: path.clone(),
                        exists: false,
                        ..VaultMountFacts::default()
                    },
                });
            } else {
                refused.push(format!("you (sys/mounts): {}", vault_errors(&a)));
            }
        }
        if x.mount.is_none() {
            x.mount_unread = Some(if refused.is_empty() {
                format!(
                    "the mount {path}/ was not read: {}",
                    no_user_token(&store.server)
                )
            } else {
                format!(
                    "the mount {path}/ could not be read ({}): no capability under it, or \
                     nothing is mounted there; `vault secrets list` tells",
                    refused.join("; ")
                )
            });
        }
    }
    if let Some((mount, _)) = ask.role
        && let Some(token) = ask.user_token
        && let Ok(a) = call(
            http,
            store,
            reqwest::Method::GET,
            "sys/auth",
            Some(token),
            None,
        )
        .await
        && a.status == 200
    {
        used("you", &mut x);
        let table = a
            .body
            .get("data")
            .filter(|d| d.is_object())
            .unwrap_or(&a.body);
        let mounts: Vec<String> = table
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.get("type").is_some())
            .map(|(k, _)| k.trim_end_matches('/').to_string())
            .collect();
        let present = mounts.iter().any(|m| m == mount.trim_matches('/'));
        x.auth_mounts = Some(mounts);
        if !present {
            // Nothing to read under a mount that does not exist.
            return x;
        }
    }
    if ask.auth_config
        && let Some((mount, _)) = ask.role
    {
        read_auth_config(http, store, ask.user_token, mount, &mut x).await;
    }
    if let Some((mount, role)) = ask.role {
        let path = format!("auth/{mount}/role/{role}");
        match ask.user_token {
            None => {
                x.role_unread = Some(format!(
                    "role {role} was not read: {}",
                    no_user_token(&store.server)
                ))
            }
            Some(token) => {
                match call(http, store, reqwest::Method::GET, &path, Some(token), None).await {
                    Ok(a) => {
                        used("you", &mut x);
                        match a.status {
                            200 => {
                                x.role = Some(role_facts(
                                    &path,
                                    a.body.get("data").unwrap_or(&Value::Null),
                                ))
                            }
                            404 => {
                                x.role = Some(VaultRoleFacts {
                                    path,
                                    exists: false,
                                    ..VaultRoleFacts::default()
                                })
                            }
                            _ => {
                                x.role_unread = Some(format!(
                                    "role {role} could not be read with your token: {}",
                                    vault_errors(&a)
                                ))
                            }
                        }
                    }
                    Err(e) => x.role_unread = Some(e),
                }
            }
        }
    }
    let wanted: Vec<&String> = ask
        .policies
        .iter()
        .filter(|p| p.as_str() != "default")
        .collect();
    if ask.user_token.is_none() && !wanted.is_empty() {
        x.policies_unread.push(format!(
            "the policies {} were not read: {}",
            wanted
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            no_user_token(&store.server)
        ));
    }
    for name in wanted.iter().take(MAX_POLICIES) {
        let Some(token) = ask.user_token else {
            break;
        };
        if name.as_str() == "root" {
            x.policies.push(VaultPolicyFacts {
                name: name.to_string(),
                rules: Vec::new(),
            });
            continue;
        }
        let Ok(a) = call(
            http,
            store,
            reqwest::Method::GET,
            &format!("sys/policies/acl/{name}"),
            Some(token),
            None,
        )
        .await
        else {
            x.policies_unread
                .push(format!("policy {name}: no answer from Vault"));
            continue;
        };
        used("you", &mut x);
        let text = a
            .body
            .pointer("/data/policy")
            .and_then(Value::as_str)
            .filter(|_| a.status == 200);
        match text.map(parse_policy) {
            Some(Ok(rules)) => x.policies.push(VaultPolicyFacts {
                name: name.to_string(),
                rules,
            }),
            Some(Err(e)) => x
                .policies_unread
                .push(format!("policy {name} could not be parsed: {e}")),
            None => x.policies_unread.push(format!(
                "policy {name} could not be read with your token: {}",
                vault_errors(&a)
            )),
        }
    }
    if ask.user_token.is_some() && wanted.len() > MAX_POLICIES {
        x.policies_unread.push(format!(
            "{} more policies not read (at most {MAX_POLICIES} are)",
            wanted.len() - MAX_POLICIES
        ));
    }
    x
}

/// `auth/<mount>/config` with the user's token: who sends the TokenReview, to which API server.
async fn read_auth_config(
    http: &ProbeHttp,
    store: &VaultStore,
    user_token: Option<&str>,
    mount: &str,
    x: &mut VaultExplain,
) {
    let path = format!("auth/{mount}/config");
    let Some(token) = user_token else {
        x.auth_config_unread = Some(format!(
            "{path} was not read: {}",
            no_user_token(&store.server)
        ));
        return;
    };
    match call(http, store, reqwest::Method::GET, &path, Some(token), None).await {
        Ok(a) if a.status == 200 => {
            if !x.read_with.iter().any(|w| w == "you") {
                x.read_with.push("you".into());
            }
            let d = a.body.get("data").cloned().unwrap_or(Value::Null);
            x.auth_config = Some(VaultAuthConfigFacts {
                kubernetes_host: d
                    .get("kubernetes_host")
                    .and_then(Value::as_str)
                    .map(crate::sanitize::line)
                    .unwrap_or_default(),
                token_reviewer_jwt_set: d
                    .get("token_reviewer_jwt_set")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                disable_local_ca_jwt: d.get("disable_local_ca_jwt").and_then(Value::as_bool),
            });
        }
        Ok(a) => {
            x.auth_config_unread = Some(format!(
                "{path} could not be read with your token: {}",
                vault_errors(&a)
            ))
        }
        Err(e) => x.auth_config_unread = Some(e),
    }
}

/// The user's own Vault token, when the user's `VAULT_ADDR` is this store's server: `VAULT_TOKEN`,
/// else `~/.vault-token` (what `vault login` / `bao login` write).
pub fn user_token_for(server: &str) -> Option<String> {
    use crate::analysis::trust::Endpoint;
    let addr = std::env::var("VAULT_ADDR").ok()?;
    let (mine, theirs) = (Endpoint::parse(&addr)?, Endpoint::parse(server)?);
    if mine != theirs {
        return None;
    }
    if let Some(t) = std::env::var("VAULT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Some(t.trim().to_string());
    }
    let home = std::env::var_os("HOME")?;
    let t = std::fs::read_to_string(std::path::Path::new(&home).join(".vault-token")).ok()?;
    Some(t.trim().to_string()).filter(|t| !t.is_empty())
}
