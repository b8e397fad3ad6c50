//! The provider probe "as ESO" (or as the user) for one store, shared by describe-chain (one
//! ExternalSecret's refs) and doctor (the distinct refs of every ExternalSecret on the store, so one
//! login and one capabilities call cover them all). It turns a store object and the credentials
//! `auth::resolve` found into the provider client's login and key list, and leaves the rest —
//! what the answers mean — to the analysis.

use serde_json::Value;

use super::auth::ProbeAuth;
use crate::model::chain::{ProviderFacts, RemoteRefFacts, RemoteValue};
use crate::provider::azure::{self, AzureCloud, AzureKey, AzureLogin};
use crate::provider::vault::http::ProbeHttp;
use crate::provider::vault::{self, RemoteKey, VaultLogin, VaultStore};

/// Whose credentials the probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAs {
    /// The store's own credentials, resolved as ESO resolves them.
    Eso,
    /// The user's: `VAULT_TOKEN`, or the Azure CLI's login.
    Me,
}

impl ProbeAs {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeAs::Eso => "eso",
            ProbeAs::Me => "me",
        }
    }
}

/// Provider facts for a probe that did not run, and why.
pub fn skipped(who: ProbeAs, why: &str) -> ProviderFacts {
    ProviderFacts {
        probed: false,
        skipped: Some(why.to_string()),
        probe_as: who.as_str().into(),
        ..ProviderFacts::default()
    }
}

fn setting(store: &Value, pointer: &str) -> Option<String> {
    store
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Calls the provider the store names; returns the facts and, aligned with the remote refs, the
/// values read for the comparison.
pub async fn probe_store(
    http: &ProbeHttp,
    store: Option<&Value>,
    auth: Option<&ProbeAuth>,
    refs: &[RemoteRefFacts],
    who: ProbeAs,
) -> (ProviderFacts, Vec<Option<RemoteValue>>) {
    let Some(store) = store else {
        return (skipped(who, "the store could not be read"), Vec::new());
    };
    let mut facts = ProviderFacts {
        probed: true,
        probe_as: who.as_str().into(),
        ..ProviderFacts::default()
    };
    // Only refs naming one key are probed; `find` has none.
    // Entries reading from another store (`sourceRef.storeRef`) are not asked of this one.
    let probed: Vec<usize> = (0..refs.len())
        .filter(|i| !refs[*i].find && refs[*i].other_store.is_none())
        .collect();
    let mut values: Vec<Option<RemoteValue>> = refs.iter().map(|_| None).collect();
    let mut place = |got: Vec<Option<RemoteValue>>| {
        for (i, v) in probed.iter().zip(got) {
            values[*i] = v;
        }
    };
    if store.pointer("/spec/provider/vault").is_some() {
        let vs = VaultStore {
            server: setting(store, "/spec/provider/vault/server").unwrap_or_default(),
            namespace: setting(store, "/spec/provider/vault/namespace"),
            mount: setting(store, "/spec/provider/vault/path").unwrap_or_else(|| "secret".into()),
            kv_version: setting(store, "/spec/provider/vault/version")
                .unwrap_or_else(|| "v2".into()),
        };
        let keys: Vec<RemoteKey> = probed
            .iter()
            .map(|i| RemoteKey {
                key: refs[*i].key.clone(),
                property: refs[*i].property.clone(),
                version: refs[*i].version.clone(),
                no_read: refs[*i].generator,
                method: refs[*i].method.clone(),
            })
            .collect();
        let me_token;
        // When ESO is refused, the user's own token for this same Vault may read why.
        let mut with = vault::ExplainWith {
            user_token: vault::explain::user_token_for(&vs.server),
            ..vault::ExplainWith::default()
        };
        let login = if who == ProbeAs::Me {
            me_token = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty());
            match &me_token {
                Some(t) => {
                    facts.identity = Some("your VAULT_TOKEN".into());
                    VaultLogin::Token(t)
                }
                None => {
                    return (
                        skipped(who, "--probe-as me needs VAULT_TOKEN in the environment"),
                        values,
                    );
                }
            }
        } else {
            match auth {
                Some(ProbeAuth::VaultToken(t)) => {
                    facts.identity = Some("the token from the store's tokenSecretRef".into());
                    me_token = Some(t.text());
                    VaultLogin::Token(me_token.as_deref().unwrap_or_default())
                }
                Some(ProbeAuth::VaultKubernetes {
                    mount,
                    role,
                    jwt,
                    service_account,
                    audiences,
                }) => {
                    if service_account.contains('/') {
                        with.service_account = Some(service_account.clone());
                    }
                    with.audiences = audiences.clone();
                    facts.identity = Some(format!(
                        "kubernetes auth role {role} (auth/{mount}) with ServiceAccount {service_account}"
                    ));
                    facts.role = Some(role.clone());
                    me_token = Some(jwt.text());
                    VaultLogin::Kubernetes {
                        mount,
                        role,
                        jwt: me_token.as_deref().unwrap_or_default(),
                    }
                }
                Some(ProbeAuth::VaultAppRole {
                    mount,
                    role_id,
                    secret_id,
                }) => {
                    facts.identity = Some(format!("AppRole (auth/{mount})"));
                    me_token = Some(format!("{}\n{}", role_id.text(), secret_id.text()));
                    let (r, s) = me_token
                        .as_deref()
                        .and_then(|t| t.split_once('\n'))
                        .unwrap_or_default();
                    VaultLogin::AppRole {
                        mount,
                        role_id: r,
                        secret_id: s,
                    }
                }
                Some(ProbeAuth::Unavailable(why)) => {
                    return (skipped(who, why), values);
                }
                _ => return (skipped(who, "no usable Vault credentials"), values),
            }
        };
        let outcome = vault::probe_explained(http, &vs, &login, &keys, &with).await;
        facts.vault = outcome.explain;
        facts.policies = outcome.policies;
        facts.login_error = outcome.login_error;
        facts.login_code = outcome.login_code;
        facts.keys = outcome.keys;
        place(outcome.values);
        return (facts, values);
    }
    if store.pointer("/spec/provider/azurekv").is_some() {
        let p = "/spec/provider/azurekv";
        let cloud = match AzureCloud::for_environment(
            &setting(store, &format!("{p}/environmentType")).unwrap_or_default(),
            setting(
                store,
                &format!("{p}/customCloudConfig/activeDirectoryEndpoint"),
            )
            .as_deref(),
            setting(store, &format!("{p}/customCloudConfig/keyVaultEndpoint")).as_deref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                facts.error = Some(e);
                return (facts, values);
            }
        };
        // An ACRAccessToken generator's stand-in (issue 14): ESO logs in for Resource Manager.
        let mut cloud = cloud;
        if setting(store, &format!("{p}/acrRegistry")).is_some() {
            match resource_manager_audience(
                &setting(store, &format!("{p}/environmentType")).unwrap_or_default(),
                &setting(store, &format!("{p}/authType")).unwrap_or_default(),
            ) {
                Some(a) => cloud.key_vault_resource = a.into(),
                None => {
                    facts.error =
                        Some("this cloud's Resource Manager audience is not known".into());
                    return (facts, values);
                }
            }
        }
        let vault_url = setting(store, &format!("{p}/vaultUrl")).unwrap_or_default();
        let keys: Vec<AzureKey> = probed
            .iter()
            .map(|i| AzureKey {
                name: refs[*i].key.clone(),
                version: refs[*i].version.clone(),
            })
            .collect();
        let held;
        let login = if who == ProbeAs::Me {
            match az_token(&cloud).await {
                Ok(t) => {
                    facts.identity = Some("your Azure CLI login".into());
                    held = t;
                    AzureLogin::Bearer(&held)
                }
                Err(why) => return (skipped(who, &why), values),
            }
        } else {
            match auth {
                Some(ProbeAuth::AzureSecret {
                    tenant,
                    client_id,
                    secret,
                }) => {
                    facts.identity =
                        Some("the service principal from the store's authSecretRef".into());
                    held = secret.text();
                    AzureLogin::ClientSecret {
                        tenant,
                        client_id,
                        secret: &held,
                    }
                }
                Some(ProbeAuth::AzureAssertion {
                    tenant,
                    client_id,
                    assertion,
                }) => {
                    facts.identity = Some("workload identity (ServiceAccount token)".into());
                    held = assertion.text();
                    AzureLogin::Assertion {
                        tenant,
                        client_id,
                        assertion: &held,
                    }
                }
                Some(ProbeAuth::Unavailable(why)) => return (skipped(who, why), values),
                _ => return (skipped(who, "no usable Azure credentials"), values),
            }
        };
        let outcome = azure::probe(http, &cloud, &vault_url, &login, &keys).await;
        facts.login_error = outcome.login_error;
        facts.login_code = outcome.login_code;
        facts.keys = outcome.keys;
        place(outcome.values);
        return (facts, values);
    }
    if store.pointer("/spec/provider/aws").is_some() {
        return super::probe_aws::probe(http, store, auth, refs, who).await;
    }
    if store.pointer("/spec/provider/kubernetes").is_some() {
        return super::probe_kube::probe(http, store, auth, refs, who).await;
    }
    if let Some(r) = super::extract::out_of_process_provider(store) {
        let why = format!(
            "out-of-process provider (runtime {r}), not probed: ESO reaches it through the \
             provider's own service, which kubectl-eso does not call"
        );
        return (skipped(who, &why), values);
    }
    (skipped(who, &not_probed_provider(store)), values)
}

/// Why a store of another provider (GCP, Akeyless, 1Password, Bitwarden, Doppler…) is not probed,
/// naming it: ESO's status and Events are then the only evidence (issue 15).
pub fn not_probed_provider(store: &Value) -> String {
    let name = store
        .pointer("/spec/provider")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().next())
        .map(|k| crate::sanitize::line(k))
        .unwrap_or_else(|| "(none)".into());
    format!(
        "the {name} provider is not probed by this tool (it probes vault, azurekv, aws and \
         kubernetes); the diagnosis rests on ESO's status and Events"
    )
}

/// The Resource Manager audience ESO's ACRAccessToken generator asks Entra for
/// (`generators/v1/acr/acr.go`): a service principal or managed identity gets the cloud's
/// `TokenAudience` (`audienceForType`, `https://management.azure.com/` on the public cloud), a
/// workload identity its `ServiceManagementEndpoint` (`https://management.core.windows.net/`),
/// go-autorest's values. Azure Stack has neither in ESO.
fn resource_manager_audience(environment: &str, auth_type: &str) -> Option<&'static str> {
    let workload_identity = auth_type == "WorkloadIdentity";
    Some(match (environment, workload_identity) {
        ("" | "PublicCloud", false) => "https://management.azure.com",
        ("" | "PublicCloud", true) => "https://management.core.windows.net",
        ("USGovernmentCloud", false) => "https://management.usgovcloudapi.net",
        ("USGovernmentCloud", true) => "https://management.core.usgovcloudapi.net",
        ("ChinaCloud", false) => "https://management.chinacloudapi.cn",
        ("ChinaCloud", true) => "https://management.core.chinacloudapi.cn",
        ("GermanCloud", false) => "https://management.microsoftazure.de",
        ("GermanCloud", true) => "https://management.core.cloudapi.de",
        _ => return None,
    })
}

/// `--probe-as me` on Azure: a Key Vault token from the user's Azure CLI login.
async fn az_token(cloud: &AzureCloud) -> std::result::Result<String, String> {
    let out = tokio::process::Command::new("az")
        .args([
            "account",
            "get-access-token",
            "--resource",
            &cloud.key_vault_resource,
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("--probe-as me needs the Azure CLI (az): {e}"))?;
    if !out.status.success() {
        return Err("`az account get-access-token` failed: run `az login` first".into());
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if token.is_empty() {
        return Err("the Azure CLI returned no token".into());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::resource_manager_audience;

    /// Issue 14: an ACRAccessToken's login is probed for the audience ESO asks for, which
    /// depends on the auth method, not only on the cloud.
    #[test]
    fn issue14_acr_audience_follows_the_auth_method_as_in_eso() {
        for auth in ["ServicePrincipal", "ManagedIdentity"] {
            assert_eq!(
                resource_manager_audience("PublicCloud", auth),
                Some("https://management.azure.com")
            );
        }
        assert_eq!(
            resource_manager_audience("", "WorkloadIdentity"),
            Some("https://management.core.windows.net")
        );
        assert_eq!(
            resource_manager_audience("USGovernmentCloud", "ServicePrincipal"),
            Some("https://management.usgovcloudapi.net")
        );
        assert_eq!(
            resource_manager_audience("ChinaCloud", "WorkloadIdentity"),
            Some("https://management.core.chinacloudapi.cn")
        );
        // Near miss: Azure Stack has no audience in ESO's generator.
        assert_eq!(
            resource_manager_audience("AzureStackCloud", "ServicePrincipal"),
            None
        );
    }
}
