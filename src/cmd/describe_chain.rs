//! `kubectl eso describe-chain NAME`: gather the chain from the cluster, probe the provider as ESO
//! would (or as the user, or not at all), compare the target Secret with the provider's current
//! value in memory and drop that value, then judge every link, print, and exit 1 when a link is
//! broken or could not be checked.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::analysis::chain::{analyse, compare::compare};
use crate::cli::{DescribeChainArgs, ProbeAsArg};
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::chain::{ChainQuery, Gathered, ProbeAuth, gather};
use crate::kube::{client, eso};
use crate::model::chain::{LinkState, ProviderFacts, RemoteValue};
use crate::provider::azure::{self, AzureCloud, AzureKey, AzureLogin};
use crate::provider::vault::http::ProbeHttp;
use crate::provider::vault::{self, RemoteKey, VaultLogin, VaultStore};
use crate::render::{self, RenderOptions};

pub async fn run(cfg: &Config, args: &DescribeChainArgs, out: &mut impl Write) -> Result<Exit> {
    let timeout = crate::config::parse_request_timeout(&args.timeout)
        .map_err(|_| {
            Error::Usage(format!(
                "--timeout {:?}: expected a duration such as 30s or 1m",
                args.timeout
            ))
        })?
        .unwrap_or(Duration::from_secs(30));
    if cfg.namespace == NamespaceChoice::All {
        return Err(Error::Usage(
            "an ExternalSecret lives in one namespace: use -n NAMESPACE instead of -A".into(),
        ));
    }
    let mut cas = Vec::new();
    for path in &cfg.provider_ca_files {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--provider-ca-file {}: {e}", path.display())))?;
        cas.push(pem);
    }
    let diag = Diag::new(cfg.verbosity);
    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg
        .namespace
        .resolve(&default_ns)
        .unwrap_or(default_ns.clone());
    let probe_as_eso = args.probe_as == ProbeAsArg::Eso;
    let query = ChainQuery {
        namespace: &namespace,
        name: &args.name,
        resolve_auth: !args.no_probe && probe_as_eso,
    };
    let mut g = gather(&client, &eso, &query, &diag).await?;

    let mut values: Vec<Option<RemoteValue>> = Vec::new();
    g.facts.provider = if args.no_probe {
        skipped(args, "--no-probe")
    } else {
        let http = {
            let mut all = cas.clone();
            all.extend(g.store_ca_pem.clone());
            ProbeHttp::new(&all, timeout, diag)
        };
        match http {
            Err(e) => ProviderFacts {
                error: Some(e.clone()),
                ..skipped(args, &e)
            },
            Ok(http) => {
                let probed = tokio::time::timeout(timeout, probe(&http, &g, args)).await;
                match probed {
                    Ok((facts, v)) => {
                        values = v;
                        ProviderFacts {
                            calls: http.calls(),
                            ..facts
                        }
                    }
                    Err(_) => ProviderFacts {
                        probed: true,
                        probe_as: probe_as(args),
                        error: Some(format!(
                            "the provider did not answer within {}",
                            args.timeout
                        )),
                        calls: http.calls(),
                        ..ProviderFacts::default()
                    },
                }
            }
        }
    };
    compare(
        &g.facts.external_secret,
        &mut g.facts.target,
        &g.target_data,
        &values,
    );
    // The provider's copy is not needed past the comparison.
    drop(values);
    // Entra ID and ESO's events quote credentials (the client id); nothing here quotes values,
    // and scrubbing values would also blank names that happen to equal one (a username).
    let known: Vec<&crate::model::chain::Sensitive> = g.credential_values.iter().collect();
    let facts = crate::analysis::chain::redact::redact(g.facts, &known);
    g.target_data.clear();

    let now = jiff::Timestamp::now();
    let report = analyse(facts, now);
    let opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    };
    render::chain::write(out, &report, &opts).map_err(Error::Output)?;
    Ok(Exit::from_findings(
        report.any_broken() || report.verdict.state == LinkState::Unknown,
    ))
}

fn probe_as(args: &DescribeChainArgs) -> String {
    match args.probe_as {
        ProbeAsArg::Eso => "eso".into(),
        ProbeAsArg::Me => "me".into(),
    }
}

fn skipped(args: &DescribeChainArgs, why: &str) -> ProviderFacts {
    ProviderFacts {
        probed: false,
        skipped: Some(why.to_string()),
        probe_as: probe_as(args),
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
async fn probe(
    http: &ProbeHttp,
    g: &Gathered,
    args: &DescribeChainArgs,
) -> (ProviderFacts, Vec<Option<RemoteValue>>) {
    let refs = &g.facts.external_secret.remote_refs;
    let Some(store) = &g.store else {
        return (skipped(args, "the store could not be read"), Vec::new());
    };
    let mut facts = ProviderFacts {
        probed: true,
        probe_as: probe_as(args),
        ..ProviderFacts::default()
    };
    // Only refs naming one key are probed; `find` has none.
    let probed: Vec<usize> = (0..refs.len()).filter(|i| !refs[*i].find).collect();
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
            })
            .collect();
        let me_token;
        let login = if args.probe_as == ProbeAsArg::Me {
            me_token = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty());
            match &me_token {
                Some(t) => {
                    facts.identity = Some("your VAULT_TOKEN".into());
                    VaultLogin::Token(t)
                }
                None => {
                    return (
                        skipped(args, "--probe-as me needs VAULT_TOKEN in the environment"),
                        values,
                    );
                }
            }
        } else {
            match &g.auth {
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
                }) => {
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
                    return (skipped(args, why), values);
                }
                _ => return (skipped(args, "no usable Vault credentials"), values),
            }
        };
        let outcome = vault::probe(http, &vs, &login, &keys).await;
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
        let vault_url = setting(store, &format!("{p}/vaultUrl")).unwrap_or_default();
        let keys: Vec<AzureKey> = probed
            .iter()
            .map(|i| AzureKey {
                name: refs[*i].key.clone(),
                version: refs[*i].version.clone(),
            })
            .collect();
        let held;
        let login = if args.probe_as == ProbeAsArg::Me {
            match az_token(&cloud).await {
                Ok(t) => {
                    facts.identity = Some("your Azure CLI login".into());
                    held = t;
                    AzureLogin::Bearer(&held)
                }
                Err(why) => return (skipped(args, &why), values),
            }
        } else {
            match &g.auth {
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
                Some(ProbeAuth::Unavailable(why)) => return (skipped(args, why), values),
                _ => return (skipped(args, "no usable Azure credentials"), values),
            }
        };
        let outcome = azure::probe(http, &cloud, &vault_url, &login, &keys).await;
        facts.login_error = outcome.login_error;
        facts.login_code = outcome.login_code;
        facts.keys = outcome.keys;
        place(outcome.values);
        return (facts, values);
    }
    (
        skipped(
            args,
            "this provider is not probed by kubectl-eso (Vault and Azure Key Vault are)",
        ),
        values,
    )
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
