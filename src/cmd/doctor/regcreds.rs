//! Doctor's check 6 (`--regcred`): every `kubernetes.io/dockerconfigjson` Secret an ExternalSecret
//! in scope writes is logged in to with verify-regcred's client (no image pulls). The payloads come
//! from the managed Secrets doctor already read for the probe — no second LIST of Secrets — and
//! never leave this module: only login outcomes do.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kube::chain::batch::TargetData;
use crate::model::doctor::{RegcredResult, RegistryLogin};
use crate::model::scope::ScopeReport;
use crate::provider::registry::{self, ClientOptions, Outcome, PayloadFormat, RegistryClient};

/// How many registry logins run at once.
const REGCRED_CONCURRENCY: usize = 8;

const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";

/// The registry client with the registry CAs from `--provider-ca-file`, built before anything
/// is read so a bad file is a usage error.
pub fn client(cfg: &Config) -> Result<RegistryClient> {
    let cas = cfg.provider_ca_pems()?;
    RegistryClient::new(&ClientOptions {
        timeout: Duration::from_secs(15),
        extra_ca_pem: (!cas.is_empty()).then(|| cas.join("\n").into_bytes()),
    })
    .map_err(|e| Error::Usage(e.to_string()))
}

/// Logs in with every dockerconfigjson Secret in `managed` that an ExternalSecret in scope writes.
pub async fn check(
    registry_client: &RegistryClient,
    managed: &TargetData,
    scope: &ScopeReport,
) -> Vec<RegcredResult> {
    let writers: HashMap<(&str, &str), &str> = scope
        .external_secrets
        .iter()
        .map(|r| {
            (
                (r.namespace.as_str(), r.target.name.as_str()),
                r.name.as_str(),
            )
        })
        .collect();
    // Many Secrets often carry the same payload (one pull secret templated into every namespace): log in once
    // per distinct payload, not once per Secret — registries rate-limit, and repeated wrong passwords lock
    // accounts. The payloads stay in this map, in memory, and are dropped with it.
    let mut by_payload: BTreeMap<Result<Vec<u8>, String>, Vec<Writer>> = BTreeMap::new();
    for ((ns, name), secret) in managed {
        if secret.type_.as_deref() != Some(DOCKER_CONFIG_JSON) {
            continue;
        }
        let Some(es) = writers.get(&(ns.as_str(), name.as_str())) else {
            continue;
        };
        let key = PayloadFormat::DockerConfigJson.data_key();
        let payload = secret
            .data
            .get(key)
            .map(|v| v.bytes().to_vec())
            .ok_or_else(|| format!("no {key} key"));
        let who = (ns.clone(), name.clone(), es.to_string());
        by_payload.entry(payload).or_default().push(who);
    }
    let checked: Vec<(Option<String>, Vec<RegistryLogin>, Vec<Writer>)> =
        futures::stream::iter(by_payload)
            .map(|(payload, users)| async move {
                let (error, logins) = match payload {
                    Ok(bytes) => login_payload(registry_client, &bytes).await,
                    Err(e) => (Some(e), Vec::new()),
                };
                (error, logins, users)
            })
            .buffer_unordered(REGCRED_CONCURRENCY)
            .collect()
            .await;
    let mut results: Vec<RegcredResult> = checked
        .into_iter()
        .flat_map(|(error, logins, users)| {
            users
                .into_iter()
                .map(move |(namespace, secret, external_secret)| RegcredResult {
                    namespace,
                    secret,
                    external_secret,
                    payload_error: error.clone(),
                    registries: logins.clone(),
                })
        })
        .collect();
    results.sort_by(|a, b| (&a.namespace, &a.secret).cmp(&(&b.namespace, &b.secret)));
    results
}

/// (namespace, Secret, the ExternalSecret that writes it).
type Writer = (String, String, String);

/// Parse one payload and log in to each registry in it (verify-regcred's library, no image pulls).
async fn login_payload(
    client: &RegistryClient,
    payload: &[u8],
) -> (Option<String>, Vec<RegistryLogin>) {
    let config = match registry::parse(PayloadFormat::DockerConfigJson, payload) {
        Ok(c) => c,
        Err(e) => {
            let why = format!(
                "not JSON ({} at line {}, column {})",
                e.kind, e.line, e.column
            );
            return (Some(why), Vec::new());
        }
    };
    let checked = registry::verify(client, &config, &[]).await;
    let logins = checked
        .registries
        .into_iter()
        .map(|r| RegistryLogin {
            ok: matches!(r.outcome, Outcome::Ok | Outcome::NotChecked),
            outcome: serde_json::to_value(r.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            host: r.host,
            message: r.message,
        })
        .collect();
    (None, logins)
}
