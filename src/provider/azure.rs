//! Azure Key Vault probed as ESO would: an Entra ID client-credentials token (service principal
//! secret, or a workload-identity ServiceAccount token as client assertion) for the store's cloud,
//! then one GET per remote key. Key Vault has no "properties only" read, so the value arrives with
//! the answer; it is returned as a [`RemoteValue`] for the comparison and never printed.
//!
//! Plain reqwest rather than the official SDK: two REST calls are all the probe needs, the SDK's
//! `error_code` degrades to "403" on real answers so the body must be parsed here anyway
//! (CRATES.md pitfall 3), and the SDK would add minutes to every build on these machines. The
//! custom-cloud settings (Azure Stack `customCloudConfig`), HTTPS_PROXY / NO_PROXY and the
//! `--provider-ca-file` CAs are honoured through the shared [`ProbeHttp`] client.

use serde_json::Value;

use crate::model::chain::{KeyFacts, RemoteValue, Sensitive};
use crate::provider::vault::http::{self, ProbeHttp};

/// Where the store's cloud lives.
#[derive(Debug, Clone)]
pub struct AzureCloud {
    /// Entra ID authority host, no tenant (`https://login.microsoftonline.com`).
    pub authority: String,
    /// Key Vault token audience (`https://vault.azure.net`).
    pub key_vault_resource: String,
}

impl AzureCloud {
    /// ESO's `environmentType`, with `customCloudConfig` for Azure Stack.
    pub fn for_environment(
        environment: &str,
        custom_authority: Option<&str>,
        custom_key_vault: Option<&str>,
    ) -> Result<AzureCloud, String> {
        let (a, k) = match environment {
            "" | "PublicCloud" => (
                "https://login.microsoftonline.com",
                "https://vault.azure.net",
            ),
            "USGovernmentCloud" => (
                "https://login.microsoftonline.us",
                "https://vault.usgovcloudapi.net",
            ),
            "ChinaCloud" => ("https://login.chinacloudapi.cn", "https://vault.azure.cn"),
            "GermanCloud" => (
                "https://login.microsoftonline.de",
                "https://vault.microsoftazure.de",
            ),
            "AzureStackCloud" => match (custom_authority, custom_key_vault) {
                (Some(a), Some(k)) => (a, k),
                _ => {
                    return Err("environmentType AzureStackCloud needs customCloudConfig \
                                activeDirectoryEndpoint and keyVaultEndpoint"
                        .into());
                }
            },
            other => return Err(format!("unknown environmentType {other:?}")),
        };
        Ok(AzureCloud {
            authority: a.trim_end_matches('/').to_string(),
            key_vault_resource: k.trim_end_matches('/').to_string(),
        })
    }
}

pub enum AzureLogin<'a> {
    ClientSecret {
        tenant: &'a str,
        client_id: &'a str,
        secret: &'a str,
    },
    /// Workload identity: the ServiceAccount token as client assertion.
    Assertion {
        tenant: &'a str,
        client_id: &'a str,
        assertion: &'a str,
    },
    /// `--probe-as me`: a token the user's Azure CLI issued.
    Bearer(&'a str),
}

#[derive(Debug, Clone, Default)]
pub struct AzureKey {
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Default)]
pub struct AzureOutcome {
    pub login_error: Option<String>,
    /// `AADSTS7000222`, `invalid_client`, `HTTP 401`...
    pub login_code: Option<String>,
    pub keys: Vec<KeyFacts>,
    pub values: Vec<Option<RemoteValue>>,
}

pub async fn probe(
    http: &ProbeHttp,
    cloud: &AzureCloud,
    vault_url: &str,
    how: &AzureLogin<'_>,
    keys: &[AzureKey],
) -> AzureOutcome {
    let mut out = AzureOutcome::default();
    let bearer = match how {
        AzureLogin::Bearer(t) => Sensitive::from_string(t.to_string()),
        _ => match token(http, cloud, how).await {
            Ok(t) => t,
            Err((e, code)) => {
                out.login_error = Some(e);
                out.login_code = code;
                return out;
            }
        },
    };
    let bearer = bearer.text();
    for k in keys {
        let (facts, value) = get_secret(http, vault_url, &bearer, k).await;
        out.keys.push(facts);
        out.values.push(value);
    }
    // One `deletedsecrets/NAME` per missing name, however many versions of it were asked for.
    let mut deleted: std::collections::HashMap<&str, Deleted> = std::collections::HashMap::new();
    for (k, asked) in out.keys.iter_mut().zip(keys) {
        if k.exists != Some(false) {
            continue;
        }
        let state = match deleted.get(asked.name.as_str()) {
            Some(d) => d.clone(),
            None => {
                let d = deleted_secret(http, vault_url, &bearer, &asked.name).await;
                deleted.insert(asked.name.as_str(), d.clone());
                d
            }
        };
        state.apply(k);
    }
    if out.keys.iter().any(|k| k.exists == Some(false)) {
        // One listing (names only; Key Vault lists no values) to spot a typo in remoteRef.key.
        let names = list_names(http, vault_url, &bearer).await;
        for k in out.keys.iter_mut().filter(|k| k.exists == Some(false)) {
            k.did_you_mean = closest(&k.key, &names);
        }
    }
    out
}

/// Secret names in the vault, following `nextLink` for at most a few pages.
async fn list_names(http: &ProbeHttp, vault_url: &str, bearer: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut url = Some(format!(
        "{}/secrets?api-version=7.4&maxresults=25",
        vault_url.trim_end_matches('/')
    ));
    let mut pages = 0;
    while let Some(u) = url.take() {
        pages += 1;
        let Ok(resp) = http.client.get(&u).bearer_auth(bearer).send().await else {
            http.record("keyvault GET /secrets -> no answer".into());
            break;
        };
        http.record(format!(
            "keyvault GET /secrets (list) -> {}",
            resp.status().as_u16()
        ));
        if !resp.status().is_success() {
            break;
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        for item in body
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = item
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
            {
                names.push(crate::sanitize::line(name));
            }
        }
        url = body
            .get("nextLink")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && pages < 10)
            .map(str::to_string);
    }
    names
}

/// The existing name within two edits of `wanted`, if exactly one is nearest.
pub fn closest(wanted: &str, names: &[String]) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for n in names {
        let d = edit_distance(wanted, n);
        if d > 0 && d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, n));
        }
    }
    best.map(|(_, n)| n.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

async fn token(
    http: &ProbeHttp,
    cloud: &AzureCloud,
    how: &AzureLogin<'_>,
) -> Result<Sensitive, (String, Option<String>)> {
    let scope = format!("{}/.default", cloud.key_vault_resource);
    let (tenant, mut form) = match how {
        AzureLogin::ClientSecret {
            tenant,
            client_id,
            secret,
        } => (
            *tenant,
            vec![
                ("client_id", client_id.to_string()),
                ("client_secret", secret.to_string()),
            ],
        ),
        AzureLogin::Assertion {
            tenant,
            client_id,
            assertion,
        } => (
            *tenant,
            vec![
                ("client_id", client_id.to_string()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ),
                ("client_assertion", assertion.to_string()),
            ],
        ),
        AzureLogin::Bearer(_) => return Err(("no token request for a bearer".into(), None)),
    };
    form.push(("grant_type", "client_credentials".to_string()));
    form.push(("scope", scope));
    let path = format!("/{tenant}/oauth2/v2.0/token");
    let url = format!("{}{path}", cloud.authority);
    let resp = http.client.post(&url).form(&form).send().await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            http.record(format!("entra POST {path} -> no answer"));
            return Err((
                format!(
                    "no answer from Entra ID at {}: {}",
                    crate::sanitize::line(&cloud.authority),
                    http::chain(&e)
                ),
                None,
            ));
        }
    };
    let status = resp.status().as_u16();
    http.record(format!("entra POST {path} -> {status}"));
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            // Entra's trace and correlation ids and timestamp say nothing to the user.
            .map(|d| crate::sanitize::line(d.split("Trace ID:").next().unwrap_or(d)))
            .unwrap_or_else(|| format!("HTTP {status}"));
        let code = description
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.starts_with("AADSTS"))
            .map(str::to_string)
            .or_else(|| {
                body.get("error")
                    .and_then(Value::as_str)
                    .map(crate::sanitize::line)
            });
        return Err((
            format!("Entra ID refused the credentials: {description}"),
            code,
        ));
    }
    body.get("access_token")
        .and_then(Value::as_str)
        .map(|t| Sensitive::from_string(t.to_string()))
        .ok_or_else(|| {
            (
                "Entra ID answered without an access token".to_string(),
                None,
            )
        })
}

/// A name Key Vault does not know may be soft-deleted: `GET deletedsecrets/NAME` (needs `get`)
/// says when it was deleted and until when it can be recovered. Only the dates are kept; the
/// answer's body (which may carry the value) is dropped here.
/// What `deletedsecrets/NAME` said.
#[derive(Debug, Clone)]
enum Deleted {
    /// Not deleted, or no answer: the key stays missing.
    No,
    /// 403: whether it was deleted could not be read.
    Unreadable,
    /// Soft-deleted: when, and until when it can be recovered.
    Yes {
        at: Option<String>,
        purge: Option<String>,
    },
}

impl Deleted {
    fn apply(&self, k: &mut KeyFacts) {
        match self {
            Deleted::No => {}
            Deleted::Unreadable => {
                k.error = Some(format!(
                    "{}; whether it was deleted could not be read (HTTP 403)",
                    k.error.as_deref().unwrap_or("not found")
                ));
            }
            Deleted::Yes { at, purge } => {
                k.deleted = true;
                k.exists = Some(true);
                k.deleted_at.clone_from(at);
                k.deletion_date.clone_from(purge);
            }
        }
    }
}

async fn deleted_secret(http: &ProbeHttp, vault_url: &str, bearer: &str, name: &str) -> Deleted {
    let url = format!(
        "{}/deletedsecrets/{name}?api-version=7.4",
        vault_url.trim_end_matches('/'),
    );
    let shown = crate::sanitize::line(name);
    let Ok(resp) = http.client.get(&url).bearer_auth(bearer).send().await else {
        http.record(format!("keyvault GET /deletedsecrets/{shown} -> no answer"));
        return Deleted::No;
    };
    let status = resp.status().as_u16();
    http.record(format!("keyvault GET /deletedsecrets/{shown} -> {status}"));
    match status {
        200 => {}
        403 => return Deleted::Unreadable,
        _ => return Deleted::No,
    }
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let time = |name: &str| {
        body.get(name)
            .and_then(Value::as_i64)
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.to_string())
    };
    Deleted::Yes {
        at: time("deletedDate"),
        purge: time("scheduledPurgeDate"),
    }
}

async fn get_secret(
    http: &ProbeHttp,
    vault_url: &str,
    bearer: &str,
    k: &AzureKey,
) -> (KeyFacts, Option<RemoteValue>) {
    let path = format!(
        "/secrets/{}/{}",
        k.name,
        k.version.as_deref().unwrap_or_default()
    );
    let mut facts = KeyFacts {
        key: crate::sanitize::line(&k.name),
        path: crate::sanitize::line(path.trim_end_matches('/')),
        ..KeyFacts::default()
    };
    let url = format!("{}{path}?api-version=7.4", vault_url.trim_end_matches('/'));
    let resp = match http.client.get(&url).bearer_auth(bearer).send().await {
        Ok(r) => r,
        Err(e) => {
            http.record(format!("keyvault GET {} -> no answer", facts.path));
            facts.error = Some(format!(
                "no answer from Key Vault {}: {}",
                crate::sanitize::line(vault_url),
                http::chain(&e)
            ));
            return (facts, None);
        }
    };
    let status = resp.status().as_u16();
    http.record(format!("keyvault GET {} -> {status}", facts.path));
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        let code = body
            .pointer("/error/innererror/code")
            .or_else(|| body.pointer("/error/code"))
            .and_then(Value::as_str)
            .map(crate::sanitize::line)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(crate::sanitize::line)
            .unwrap_or_default();
        match code.as_str() {
            "SecretNotFound" => facts.exists = Some(false),
            "SecretDisabled" => {
                facts.exists = Some(true);
                facts.enabled = Some(false);
            }
            _ => {}
        }
        if status == 401 || status == 403 && code != "SecretDisabled" {
            facts.readable = Some(false);
        }
        facts.error = Some(format!("HTTP {status} {code}: {message}"));
        facts.code = Some(code);
        return (facts, None);
    }
    facts.readable = Some(true);
    facts.exists = Some(true);
    let attrs = body.get("attributes").cloned().unwrap_or(Value::Null);
    facts.enabled = attrs.get("enabled").and_then(Value::as_bool);
    let time = |name: &str| {
        attrs
            .get(name)
            .and_then(Value::as_i64)
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.to_string())
    };
    facts.expires = time("exp");
    facts.not_before = time("nbf");
    facts.updated = time("updated");
    facts.current_version = body
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
        .map(crate::sanitize::line);
    let value = body
        .get("value")
        .and_then(Value::as_str)
        .map(|v| RemoteValue::Single(Sensitive::from_string(v.to_string())));
    (facts, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_existing_name() {
        let names: Vec<String> = [
            "netbox-db-password",
            "netbox-secret-key",
            "grafana-admin-password",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            closest("netbox-db-pasword", &names).as_deref(),
            Some("netbox-db-password")
        );
        assert_eq!(closest("something-else", &names), None);
        assert_eq!(closest("netbox-db-password", &names), None);
    }

    #[test]
    fn clouds_resolve_and_azure_stack_needs_its_endpoints() {
        let c = AzureCloud::for_environment("PublicCloud", None, None);
        assert_eq!(
            c.map(|c| c.key_vault_resource).ok().as_deref(),
            Some("https://vault.azure.net")
        );
        let s = AzureCloud::for_environment(
            "AzureStackCloud",
            Some("https://127.0.0.1:1/"),
            Some("https://vault.x.test/"),
        );
        let s = s.map(|c| (c.authority, c.key_vault_resource));
        assert_eq!(
            s,
            Ok((
                "https://127.0.0.1:1".to_string(),
                "https://vault.x.test".to_string()
            ))
        );
        assert!(AzureCloud::for_environment("AzureStackCloud", None, None).is_err());
        assert!(AzureCloud::for_environment("Mars", None, None).is_err());
    }
}
