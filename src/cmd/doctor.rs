//! `kubectl eso doctor`: the whole-cluster checklist and CI gate of issue 8. It reuses scope's
//! fetch (one LIST per resource type, Secrets as metadata only) and scope's analysis, adds three
//! LISTs for the ESO installation (CRDs, the Helm chart's Deployments, webhook configurations),
//! and turns both into one `DoctorReport`.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use crate::analysis::doctor::{DoctorOptions, analyse, fails};
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::cli::{DoctorArgs, FailOnArg};
use crate::config::Config;
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::chain::batch::{BatchOptions, TargetData, probe_stores};
use crate::kube::eso::{EsoApi, GROUP};
use crate::kube::list::{Listing, list_all, list_all_metadata};
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{client, eso};
use crate::kube::{doctor_stores, doctor_targets};
use crate::model::doctor::{
    CrdFacts, DeploymentFacts, DoctorExtras, InstallSnapshot, RegcredResult, RegistryLogin, Status,
    TargetExtras,
};
use crate::model::scope::{Fetched, ScopeReport, TargetState};
use crate::provider::registry::{self, ClientOptions, Outcome, PayloadFormat, RegistryClient};
use crate::render::doctor::DoctorFormat;
use crate::render::{self, RenderOptions};

const COMPONENT_SELECTOR: &str = "app.kubernetes.io/name in \
    (external-secrets,external-secrets-webhook,external-secrets-cert-controller)";

pub async fn run(cfg: &Config, args: &DoctorArgs, out: &mut impl Write) -> Result<Exit> {
    let opts = options(cfg, args)?;
    let diag = Diag::new(cfg.verbosity);
    let started = std::time::Instant::now();

    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    let query = ScopeQuery {
        namespace: namespace.as_deref(),
        selector: cfg.selector.as_deref(),
        workload: None,
    };
    let (snapshot, install) = futures::join!(
        fetch(&client, &eso, &query, &diag),
        fetch_install(&client, &eso, &diag)
    );
    let snapshot = snapshot?;

    let now = jiff::Timestamp::now();
    let scope = analyse_scope(
        &snapshot,
        &ScopeOptions {
            selector: cfg.selector.clone(),
            store: None,
            failing_only: false,
        },
        now,
    );
    let regcreds = if args.regcred {
        Some(check_regcreds(&client, cfg, namespace.as_deref(), &scope, &diag).await?)
    } else {
        None
    };
    let batch = batch_options(cfg)?;
    let ((targets, target_data), stores) = futures::join!(
        fetch_targets(&client, namespace.as_deref(), &scope, opts.probe, &diag),
        doctor_stores::fetch(&client, &snapshot, &scope, &diag)
    );
    let probes = if opts.probe {
        Some(probe_stores(&client, &snapshot, &target_data, &batch, &diag).await)
    } else {
        None
    };
    // The managed Secrets' values are not needed past the probes.
    drop(target_data);
    if let Some(probes) = &probes {
        for p in probes {
            // The benchmark and -v read this: requests grow with distinct keys, not ExternalSecrets.
            diag.log(
                1,
                format_args!(
                    "doctor: {} provider requests for {} ({} distinct remote keys, {} uses by ExternalSecrets)",
                    p.provider.calls.len(),
                    p.store,
                    p.provider.keys.len(),
                    p.users.len()
                ),
            );
        }
    }
    let extras = DoctorExtras {
        probes,
        regcreds,
        stores,
        targets,
    };
    let report = analyse(&install, &snapshot, &scope, &extras, &opts, now);
    diag.log(
        1,
        format_args!(
            "doctor: {} ExternalSecrets, {} error and {} warning findings in {:?}",
            scope.summary.external_secrets,
            report.totals.error_findings,
            report.totals.warning_findings,
            started.elapsed()
        ),
    );

    let render_opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    };
    let format = DoctorFormat::from_render(&render_opts, cfg.junit);
    render::doctor::write(out, &report, format).map_err(Error::Output)?;
    Ok(Exit::from_findings(fails(&report)))
}

/// Check 4's reads: the running pods that read a target Secret at start, and — only when the
/// providers are probed — the data of the Secrets ESO manages, for the prober to compare.
async fn fetch_targets(
    client: &Client,
    namespace: Option<&str>,
    scope: &ScopeReport,
    probe: bool,
    diag: &Diag,
) -> (TargetExtras, TargetData) {
    let targets: HashSet<(String, String)> = scope
        .external_secrets
        .iter()
        .filter(|r| r.target.state != TargetState::Missing)
        .map(|r| (r.namespace.clone(), r.target.name.clone()))
        .collect();
    let pods = async {
        if targets.is_empty() {
            return None;
        }
        Some(doctor_targets::pods_reading_at_start(client, namespace, &targets, diag).await)
    };
    let data = async {
        if !probe || targets.is_empty() {
            return Ok(TargetData::default());
        }
        doctor_targets::managed_secret_data(client, namespace, diag).await
    };
    let (pods, data) = futures::join!(pods, data);
    let (data, values_unread) = match data {
        Ok(d) => (d, None),
        Err(why) => (TargetData::default(), Some(why)),
    };
    (
        TargetExtras {
            pods,
            values_unread,
        },
        data,
    )
}

/// Each provider request, and each store's whole probe, gets this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

fn batch_options(cfg: &Config) -> Result<BatchOptions> {
    let mut ca_pems = Vec::new();
    for path in &cfg.provider_ca_files {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--provider-ca-file {}: {e}", path.display())))?;
        ca_pems.push(pem);
    }
    Ok(BatchOptions {
        ca_pems,
        timeout: PROBE_TIMEOUT,
    })
}

fn options(cfg: &Config, args: &DoctorArgs) -> Result<DoctorOptions> {
    Ok(DoctorOptions {
        selector: cfg.selector.clone(),
        stale_after: parse_stale_after(&args.stale_after)?,
        stale_after_text: args.stale_after.clone(),
        probe: !args.no_probe,
        fail_on: match args.fail_on {
            FailOnArg::Error => Status::Error,
            FailOnArg::Warning => Status::Warning,
        },
    })
}

pub fn parse_stale_after(input: &str) -> Result<Duration> {
    match humantime::parse_duration(input) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(Error::Usage(format!(
            "--stale-after {input:?}: expected a duration such as 2h, 90m or 1d"
        ))),
    }
}

/// The installation LISTs; each one that fails is a stated cause, never an abort.
async fn fetch_install(client: &Client, eso: &EsoApi, diag: &Diag) -> InstallSnapshot {
    let (crds, deployments, webhooks) = futures::join!(
        fetch_crds(client, diag),
        fetch_deployments(client, diag),
        fetch_webhooks(client, diag)
    );
    let mut served_versions: Vec<String> = match &crds {
        Ok(c) => c.iter().flat_map(|c| c.served.iter().cloned()).collect(),
        Err(_) => Vec::new(),
    };
    if served_versions.is_empty() {
        served_versions.push(eso.version.clone());
    }
    served_versions.sort();
    served_versions.dedup();
    InstallSnapshot {
        served_versions,
        crds,
        deployments,
        webhook_configurations: webhooks,
    }
}

async fn fetch_crds(client: &Client, diag: &Diag) -> Fetched<Vec<CrdFacts>> {
    // Dynamic objects: only a few fields are read, and typed CRDs would parse every schema.
    let ar = ApiResource::erase::<CustomResourceDefinition>(&());
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let what = Listing::new("customresourcedefinitions", None);
    let items = list_all(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items.iter().filter_map(crd_facts).collect())
}

fn crd_facts(o: &DynamicObject) -> Option<CrdFacts> {
    let spec = o.data.get("spec")?;
    if spec.get("group").and_then(Value::as_str) != Some(GROUP) {
        return None;
    }
    let served = spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let stored = o
        .data
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    Some(CrdFacts {
        name: o.metadata.name.clone()?,
        served,
        stored,
    })
}

async fn fetch_deployments(client: &Client, diag: &Diag) -> Fetched<Vec<DeploymentFacts>> {
    let api: Api<Deployment> = Api::all(client.clone());
    let what = Listing::new("deployments", None);
    let params = ListParams::default().labels(COMPONENT_SELECTOR);
    let items = list_all(&api, &params, &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items
        .into_iter()
        .filter_map(|d| {
            let component = d
                .metadata
                .labels
                .as_ref()?
                .get("app.kubernetes.io/name")?
                .clone();
            Some(DeploymentFacts {
                namespace: d.metadata.namespace.clone().unwrap_or_default(),
                name: d.metadata.name.clone()?,
                component,
                desired: d.spec.replicas.unwrap_or(1),
                ready: d.status.and_then(|s| s.ready_replicas).unwrap_or(0),
            })
        })
        .collect())
}

async fn fetch_webhooks(client: &Client, diag: &Diag) -> Fetched<Vec<String>> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let what = Listing::new("validatingwebhookconfigurations", None);
    let items = list_all_metadata(&api, &ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e))?;
    Ok(items.into_iter().filter_map(|m| m.metadata.name).collect())
}

/// How many registry logins run at once.
const REGCRED_CONCURRENCY: usize = 8;

/// Every dockerconfigjson Secret that an ExternalSecret in scope writes, logged in to with
/// verify-regcred's client. One LIST (by type) reads their data; it never leaves this function.
async fn check_regcreds(
    client: &Client,
    cfg: &Config,
    namespace: Option<&str>,
    scope: &ScopeReport,
    diag: &Diag,
) -> Result<Vec<RegcredResult>> {
    use futures::StreamExt;

    let mut ca = Vec::new();
    for path in &cfg.provider_ca_files {
        ca.extend(registry::read_ca_file(path).map_err(|e| Error::Usage(e.to_string()))?);
        ca.push(b'\n');
    }
    let registry_client = RegistryClient::new(&ClientOptions {
        timeout: Duration::from_secs(15),
        extra_ca_pem: (!ca.is_empty()).then_some(ca),
    })
    .map_err(|e| Error::Usage(e.to_string()))?;

    let api: Api<Secret> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let what = Listing::new("secrets", namespace);
    let params = ListParams::default().fields("type=kubernetes.io/dockerconfigjson");
    let secrets = list_all(&api, &params, &what, diag)
        .await
        .map_err(|e| what.fatal(&e))?;
    let writers: std::collections::HashMap<(&str, &str), &str> = scope
        .external_secrets
        .iter()
        .map(|r| {
            (
                (r.namespace.as_str(), r.target.name.as_str()),
                r.name.as_str(),
            )
        })
        .collect();
    let jobs: Vec<(Secret, String)> = secrets
        .into_iter()
        .filter_map(|s| {
            let key = (
                s.metadata.namespace.as_deref()?,
                s.metadata.name.as_deref()?,
            );
            let es = writers.get(&key)?.to_string();
            Some((s, es))
        })
        .collect();
    // Many Secrets often carry the same payload (one pull secret templated into every namespace): log in once
    // per distinct payload, not once per Secret — registries rate-limit, and repeated wrong passwords lock
    // accounts. The payloads stay in this map, in memory, and are dropped with it.
    let mut by_payload: std::collections::BTreeMap<Result<Vec<u8>, String>, Vec<Writer>> =
        Default::default();
    for (secret, es) in jobs {
        let who = (
            secret.metadata.namespace.clone().unwrap_or_default(),
            secret.metadata.name.clone().unwrap_or_default(),
            es,
        );
        by_payload.entry(payload_of(secret)).or_default().push(who);
    }
    let client_ref = &registry_client;
    let checked: Vec<(Option<String>, Vec<RegistryLogin>, Vec<Writer>)> =
        futures::stream::iter(by_payload)
            .map(|(payload, users)| async move {
                let (error, logins) = match payload {
                    Ok(bytes) => login_payload(client_ref, &bytes).await,
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
    Ok(results)
}

/// (namespace, Secret, the ExternalSecret that writes it).
type Writer = (String, String, String);

/// The `.dockerconfigjson` bytes of a Secret, or why there are none.
fn payload_of(secret: Secret) -> Result<Vec<u8>, String> {
    let key = PayloadFormat::DockerConfigJson.data_key();
    secret
        .data
        .and_then(|mut d| d.remove(key))
        .map(|b| b.0)
        .ok_or_else(|| format!("no {key} key"))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_after_takes_humane_durations_and_rejects_the_rest() {
        assert_eq!(
            parse_stale_after("2h").ok(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_stale_after("90m").ok(),
            Some(Duration::from_secs(5400))
        );
        for bad in ["", "0s", "two hours", "-1h"] {
            assert!(parse_stale_after(bad).is_err(), "{bad}");
        }
    }
}
