//! Check 3, providers, over per-store batched probes: a failed login is one error on the store;
//! a key problem (describe-chain's own `key_problem`: no permission, missing, disabled, expired…)
//! is an error on every ExternalSecret using that key, and so is a `property` the remote secret
//! lacks; a Key Vault secret expiring within 14 days is a warning. What the values say about the
//! target Secrets (stale, CreatedOnce) is check 4's.

use std::time::Duration;

use jiff::Timestamp;

use super::{finding, finish};
use crate::analysis::chain::key_problem;
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
    if !p.provider.probed {
        return;
    }
    if let Some(e) = &p.provider.login_error {
        let code = p
            .provider
            .login_code
            .as_deref()
            .map(|c| format!(" [{}]", sanitize::line(c)))
            .unwrap_or_default();
        out.push(finding(
            Status::Error,
            store,
            format!("login as ESO failed{code}: {}", sanitize::line(e)),
            "renew or fix the store's credentials (client secret, Vault role / token), then \
             kubectl eso force-sync --store KIND/NAME -A"
                .into(),
        ));
        return;
    }
    if let Some(e) = &p.provider.error {
        out.push(finding(
            Status::Warning,
            store,
            format!("could not be probed: {}", sanitize::line(e)),
            "check the store's provider settings".into(),
        ));
        return;
    }
    for key in &p.provider.keys {
        let users = p.users.iter().filter(|u| u.key == key.key);
        if let Some(problem) = key_problem(key, now) {
            for u in users {
                out.push(finding(
                    Status::Error,
                    es_object(u),
                    sanitize::line(&problem),
                    sanitize::line(&format!(
                        "kubectl eso describe-chain {} -n {}",
                        u.name, u.namespace
                    )),
                ));
            }
            continue;
        }
        let expiring = expires_soon(key, now);
        for u in users {
            if !u.missing_properties.is_empty() {
                out.push(finding(
                    Status::Error,
                    es_object(u),
                    missing_properties(key, &u.missing_properties),
                    sanitize::line(&format!(
                        "fix remoteRef.property in the ExternalSecret, or add the property to the \
                         remote secret; kubectl eso describe-chain {} -n {}",
                        u.name, u.namespace
                    )),
                ));
            }
            if let Some(at) = &expiring {
                out.push(finding(
                    Status::Warning,
                    es_object(u),
                    format!(
                        "secret {} expires at {at}, within 14 days",
                        sanitize::line(&key.key)
                    ),
                    "rotate the secret in the provider and move its expiry".into(),
                ));
            }
        }
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
