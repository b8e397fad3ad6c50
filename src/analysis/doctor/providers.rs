//! Check 3, providers, over per-store batched probes: a failed login is one error on the store;
//! a key problem (describe-chain's own `key_problem`: no permission, missing, disabled, expired…)
//! is an error on every ExternalSecret using that key, and so is a `property` the remote secret
//! lacks; a Key Vault secret expiring within 14 days is a warning. What the values say about the
//! target Secrets (stale, CreatedOnce) is check 4's.

use std::time::Duration;

use jiff::Timestamp;

use super::{finding, finish};
use crate::diagnose::catalogue::*;
use crate::model::chain::KeyFacts;
use crate::model::doctor::*;
use crate::sanitize;

const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

pub fn check(probes: &[StoreProbe], now: Timestamp) -> Check {
    let mut findings = Vec::new();
    for p in probes {
        store_findings(p, now, &mut findings);
    }
    let probed = probes.iter().filter(|p| p.provider.probed).count();
    finish(CheckId::Providers, probed, findings)
}

fn store_findings(p: &StoreProbe, now: Timestamp, out: &mut Vec<Finding>) {
    let store = sanitize::line(&p.store.to_string());
    let users_of = |key: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = p
            .users
            .iter()
            .filter(|u| key.is_none_or(|k| u.key == k))
            .map(es_object)
            .collect();
        v.dedup();
        v
    };
    if !p.provider.probed {
        let why = p
            .provider
            .skipped
            .as_deref()
            .unwrap_or("the provider was not probed");
        out.push(
            finding(
                PROVIDER_NOT_PROBED,
                Status::Warning,
                store,
                sanitize::line(why),
                sanitize::line(&describe_store(p)),
            )
            .about_store(&p.store),
        );
        return;
    }
    if let Some(e) = &p.provider.login_error {
        let class =
            crate::diagnose::provider::login(&p.provider_kind, p.provider.login_code.as_deref(), e);
        let code = p
            .provider
            .login_code
            .as_deref()
            .map(|c| format!(" [{}]", sanitize::line(c)))
            .unwrap_or_default();
        let mut f = finding(
            class.code,
            Status::Error,
            store,
            sanitize::line(&format!("login as ESO failed: {}", class.cause)),
            sanitize::line(&login_next(p, class.code)),
        )
        .evidence(sanitize::line(&format!("the provider said{code}: {e}")))
        .about_store(&p.store);
        if let Some(who) = &p.provider.identity {
            f = f.evidence(sanitize::line(&format!("logged in as {who}")));
        }
        for es in users_of(None) {
            f = f.affects(es);
        }
        out.push(f);
        return;
    }
    if let Some(e) = &p.provider.error {
        out.push(
            finding(
                PROVIDER_UNREACHABLE,
                Status::Warning,
                store,
                format!("could not be probed: {}", sanitize::line(e)),
                sanitize::line(&describe_store(p)),
            )
            .about_store(&p.store),
        );
        return;
    }
    for key in &p.provider.keys {
        let users: Vec<&KeyUser> = p.users.iter().filter(|u| u.key == key.key).collect();
        let class = crate::diagnose::provider::key(
            &p.provider_kind,
            key,
            p.settings.get("version").map(String::as_str),
            now,
        );
        if let Some(class) = class {
            for u in &users {
                out.push(
                    finding(
                        class.code,
                        Status::Error,
                        es_object(u),
                        sanitize::line(&class.cause),
                        sanitize::line(&key_next(p, u, class.code)),
                    )
                    .field("spec.data[].remoteRef.key")
                    .about_es(&u.namespace, &u.name)
                    .about_store(&p.store),
                );
            }
            continue;
        }
        let expiring = expires_soon(key, now);
        for u in users {
            if !u.missing_properties.is_empty() {
                out.push(
                    finding(
                        PROVIDER_PROPERTY_MISSING,
                        Status::Error,
                        es_object(u),
                        missing_properties(key, &u.missing_properties),
                        sanitize::line(&format!(
                            "fix remoteRef.property in the ExternalSecret (kubectl edit \
                             externalsecret {} -n {}), or add the property to the remote secret",
                            u.name, u.namespace
                        )),
                    )
                    .field("spec.data[].remoteRef.property")
                    .about_es(&u.namespace, &u.name)
                    .about_store(&p.store),
                );
            }
            if let Some(at) = &expiring {
                out.push(
                    finding(
                        PROVIDER_SECRET_EXPIRING,
                        Status::Warning,
                        es_object(u),
                        format!(
                            "secret {} expires at {at}, within 14 days",
                            sanitize::line(&key.key)
                        ),
                        "rotate the secret in the provider and move its expiry".into(),
                    )
                    .about_es(&u.namespace, &u.name)
                    .about_store(&p.store),
                );
            }
        }
    }
}

fn describe_store(p: &StoreProbe) -> String {
    match &p.store.namespace {
        Some(ns) => format!("kubectl describe secretstore {} -n {ns}", p.store.name),
        None => format!("kubectl describe clustersecretstore {}", p.store.name),
    }
}

/// After fixing the login, the store must validate again before anything syncs.
fn login_next(p: &StoreProbe, code: &str) -> String {
    let setting = |k: &str| {
        p.settings
            .get(k)
            .map(String::as_str)
            .unwrap_or("kubernetes")
    };
    let role_cmd = format!(
        "vault read auth/{}/role/{}",
        setting("mountPath"),
        p.settings.get("role").map(String::as_str).unwrap_or("")
    );
    let fix = match code {
        AZURE_CLIENT_SECRET_EXPIRED | AZURE_CLIENT_SECRET_INVALID => {
            "create a new client secret for the service principal in Entra ID (az ad app \
             credential reset --append, or the portal's Certificates & secrets) and put it in the \
             credentials Secret the store references"
                .to_string()
        }
        AZURE_FEDERATED_CREDENTIAL_MISMATCH => "compare the application's federated credentials \
             (az ad app federated-credential list) with the ServiceAccount's issuer and subject \
             (system:serviceaccount:NAMESPACE:NAME)"
            .to_string(),
        VAULT_ROLE_BINDING_MISMATCH | VAULT_ROLE_MISSING => format!(
            "{role_cmd} shows the role's bound ServiceAccount names, namespaces and audience; bind \
             it to the ServiceAccount ESO logs in with"
        ),
        VAULT_AUTH_MOUNT_MISSING => {
            "vault auth list shows the mounted auth methods; fix the store's auth mountPath"
                .to_string()
        }
        VAULT_TOKENREVIEW_REFUSED => format!(
            "vault read auth/{}/config; grant Vault's token reviewer ServiceAccount the \
             system:auth-delegator ClusterRole",
            setting("mountPath")
        ),
        _ => "renew or fix the store's credentials".to_string(),
    };
    format!("{fix}; then {}", describe_store(p))
}

fn key_next(p: &StoreProbe, u: &KeyUser, code: &str) -> String {
    let chain = format!("kubectl eso describe-chain {} -n {}", u.name, u.namespace);
    match code {
        VAULT_KV_VERSION_MISMATCH => match &p.store.namespace {
            Some(ns) => format!(
                "kubectl patch secretstore {} -n {ns} --type merge -p \
                 '{{\"spec\":{{\"provider\":{{\"vault\":{{\"version\":\"v2\"}}}}}}}}'",
                p.store.name
            ),
            None => format!(
                "kubectl patch clustersecretstore {} --type merge -p \
                 '{{\"spec\":{{\"provider\":{{\"vault\":{{\"version\":\"v2\"}}}}}}}}'",
                p.store.name
            ),
        },
        VAULT_POLICY_DENIED => {
            // The policies ESO's token carries, each readable with the user's own token.
            let reads: Vec<String> = p
                .provider
                .policies
                .iter()
                .filter(|name| name.as_str() != "default")
                .map(|name| format!("vault policy read {name}"))
                .collect();
            match reads.is_empty() {
                true => format!("{chain} --probe-as me"),
                false => format!("{}; {chain} --probe-as me", reads.join("; ")),
            }
        }
        _ => chain,
    }
}

fn missing_properties(key: &KeyFacts, missing: &[String]) -> String {
    let have = if key.properties.is_empty() {
        String::new()
    } else {
        format!(" (properties: {})", key.properties.join(", "))
    };
    sanitize::line(&format!(
        "remote key {} has no property {}{have}: ESO fails the sync",
        key.key,
        missing.join(", ")
    ))
}

fn es_object(u: &KeyUser) -> String {
    sanitize::line(&format!("ExternalSecret {}/{}", u.namespace, u.name))
}

fn expires_soon(k: &KeyFacts, now: Timestamp) -> Option<String> {
    let raw = k.expires.as_deref()?;
    let at: Timestamp = raw.parse().ok()?;
    let left = at.duration_since(now).unsigned_abs();
    (at > now && left <= EXPIRY_WARNING).then(|| sanitize::line(raw))
}
