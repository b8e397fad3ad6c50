//! `kubectl eso verify-regcred` (issue 7): does this pull secret actually log in to its registry?
//! Reads the Secret (or follows an ExternalSecret to it), validates its payload, logs in to every
//! registry in it the way a container runtime does, checks the images the pods using it pull, and
//! lists those pods stuck pulling — answering incident B's step 3 without printing a password.
//!
//! fetch (Secret, pods) -> registry checks (`provider::registry`) -> report -> render -> exit code.
//! The pure pod analysis (`pods`) and the writers (`render`) sit beside the command because they
//! serve only it; they can move to `analysis/` and `render/` unchanged.

mod pods;
mod render;

use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use serde::Serialize;

use crate::cli::VerifyRegcredArgs;
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::list::{Listing, api_error, list_all, status_code};
use crate::kube::{client, eso};
use crate::provider::registry::{
    self, ClientOptions, ConfigFinding, ImageReport, PayloadFormat, RegistryClient, RegistryReport,
    Severity,
};
use crate::render::RenderOptions;

pub use pods::{PodUsage, pods_using};
pub use render::write;

pub const REGCRED_REPORT_KIND: &str = "RegcredReport";

/// Everything the command learned, for table, JSON and YAML alike.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRegcredReport {
    /// `kubectl-eso/v1`, as every report (issue 13); the shape is `docs/schemas/verify-regcred.json`.
    pub api_version: String,
    /// `RegcredReport`.
    pub kind: String,
    pub namespace: String,
    pub secret: String,
    /// The ExternalSecret followed to the Secret (`--from-es`).
    pub external_secret: Option<String>,
    #[serde(rename = "type")]
    pub secret_type: String,
    /// Why the payload could not be read at all (missing key, not JSON).
    pub payload_error: Option<String>,
    pub registries: Vec<RegistryReport>,
    pub images: Vec<ImageReport>,
    pub findings: Vec<ConfigFinding>,
    /// Pods referencing the Secret in `imagePullSecrets` that are stuck pulling.
    pub stuck_pods: Vec<StuckPod>,
    /// Set when the pods could not be listed (the registry checks still ran).
    pub pods_error: Option<String>,
    pub ok: bool,
}

/// A container waiting on an image pull, with the kubelet's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StuckPod {
    pub pod: String,
    pub container: String,
    pub image: String,
    pub reason: String,
    pub message: String,
}

pub async fn run(cfg: &Config, args: &VerifyRegcredArgs, out: &mut impl Write) -> Result<Exit> {
    let es_arg = match (&args.secret, &args.from_es) {
        (Some(_), None) => None,
        (None, Some(es)) => Some(es.as_str()),
        _ => {
            return Err(Error::Usage(
                "give exactly one of SECRET or --from-es EXTERNALSECRET".into(),
            ));
        }
    };
    if cfg.namespace == NamespaceChoice::All {
        return Err(Error::Usage(
            "a Secret lives in one namespace: use -n NAMESPACE instead of -A".into(),
        ));
    }
    let timeout = parse_timeout(&args.timeout)?;
    check_images(&args.image)?;
    // `--ca-file` and the global provider CAs (`--provider-ca-file`, KUBECTL_ESO_PROVIDER_CA_FILE) all count.
    let mut cas = match &args.ca_file {
        Some(path) => vec![crate::config::read_ca_pem(path)?],
        None => Vec::new(),
    };
    cas.extend(cfg.provider_ca_pems()?);
    let extra_ca_pem = (!cas.is_empty()).then(|| cas.join("\n").into_bytes());
    let registry_client = RegistryClient::new(&ClientOptions {
        timeout,
        extra_ca_pem,
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    let diag = Diag::new(cfg.verbosity);

    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let namespace = cfg
        .namespace
        .resolve(&default_ns)
        .unwrap_or_else(|| default_ns.clone());
    let secret_name = match (es_arg, &args.secret) {
        (Some(es), _) => target_of(&client, &namespace, es, &diag).await?,
        (None, Some(name)) => name.clone(),
        (None, None) => return Err(Error::Usage("give a SECRET".into())),
    };
    let secret = get_secret(&client, &namespace, &secret_name, &diag).await?;
    let secret_type = secret.type_.clone().unwrap_or_default();
    let Some(format) = PayloadFormat::from_secret_type(&secret_type) else {
        return Err(Error::Usage(format!(
            "Secret {namespace}/{secret_name} has type {:?}, not {} or {}: it is not a pull secret",
            crate::sanitize::line(&secret_type),
            registry::dockerconfig::TYPE_DOCKERCONFIGJSON,
            registry::dockerconfig::TYPE_DOCKERCFG,
        )));
    };

    let (pods, pods_error) = match list_pods(&client, &namespace, &diag).await {
        Ok(pods) => (pods, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let usage = pods_using(&pods, &secret_name);
    let mut images: Vec<String> = args.image.clone();
    for image in usage.images {
        if !images.contains(&image) {
            images.push(image);
        }
    }

    let mut report = VerifyRegcredReport {
        api_version: crate::model::scope::REPORT_API_VERSION.to_string(),
        kind: REGCRED_REPORT_KIND.to_string(),
        namespace: namespace.clone(),
        secret: secret_name.clone(),
        external_secret: es_arg.map(str::to_string),
        secret_type,
        payload_error: None,
        registries: Vec::new(),
        images: Vec::new(),
        findings: Vec::new(),
        stuck_pods: usage.stuck,
        pods_error,
        ok: false,
    };
    let payload = secret
        .data
        .as_ref()
        .and_then(|d| d.get(format.data_key()))
        .map(|b| b.0.as_slice());
    match payload.map(|bytes| registry::parse(format, bytes)) {
        None => {
            report.payload_error = Some(format!("Secret has no {:?} key", format.data_key()));
        }
        Some(Err(not_json)) => report.payload_error = Some(not_json.to_string()),
        Some(Ok(config)) => {
            let checked = registry::verify(&registry_client, &config, &images).await;
            for r in &checked.registries {
                diag.log(
                    1,
                    format_args!(
                        "registry {}: {:?}",
                        crate::sanitize::line(&r.host),
                        r.outcome
                    ),
                );
            }
            report.ok = checked.all_ok();
            report.registries = checked.registries;
            report.images = checked.images;
            report.findings = checked.findings;
            report.ok = report.ok
                && !report
                    .findings
                    .iter()
                    .any(|f| f.severity == Severity::Error);
        }
    }

    let opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now: jiff::Timestamp::now(),
    };
    write(out, &report, &opts).map_err(Error::Output)?;
    Ok(Exit::from_findings(!report.ok))
}

/// A mistyped `--image` is a usage error, not a finding about the pull secret.
fn check_images(images: &[String]) -> Result<()> {
    for image in images {
        registry::parse_image(image).map_err(|e| Error::Usage(format!("--image: {e}")))?;
    }
    Ok(())
}

/// `--timeout 15s`, `1m`, ... (humantime); zero makes no sense for a login check.
fn parse_timeout(input: &str) -> Result<Duration> {
    crate::config::parse_duration_flag(
        "--timeout",
        input,
        crate::config::MAX_FLAG_DURATION,
        "15s or 1m",
    )?
    .ok_or_else(|| Error::Usage("--timeout must be more than 0s".into()))
}

async fn get_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    diag: &Diag,
) -> Result<Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    diag.log(1, format_args!("GET secret {namespace}/{name}"));
    api.get(name).await.map_err(|e| match status_code(&e) {
        Some(404) => Error::NotFound(format!("Secret {namespace}/{name} not found")),
        _ => api_error(&format!("cannot read Secret {namespace}/{name}"), &e),
    })
}

/// The Secret an ExternalSecret writes: `spec.target.name`, defaulting to the ExternalSecret's name.
async fn target_of(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    diag: &Diag,
) -> Result<String> {
    let eso = eso::discover(client, diag).await?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &eso.external_secrets());
    diag.log(1, format_args!("GET externalsecret {namespace}/{name}"));
    let es = api.get(name).await.map_err(|e| match status_code(&e) {
        Some(404) => Error::NotFound(format!("ExternalSecret {namespace}/{name} not found")),
        _ => api_error(
            &format!("cannot read ExternalSecret {namespace}/{name}"),
            &e,
        ),
    })?;
    Ok(es
        .data
        .pointer("/spec/target/name")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(name)
        .to_string())
}

async fn list_pods(client: &kube::Client, namespace: &str, diag: &Diag) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listing = Listing::new("pods", Some(namespace));
    list_all(&api, &ListParams::default(), &listing, diag)
        .await
        .map_err(|e| listing.fatal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_kubectl_durations() {
        assert_eq!(parse_timeout("15s").ok(), Some(Duration::from_secs(15)));
        assert_eq!(parse_timeout("1m").ok(), Some(Duration::from_secs(60)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn a_bad_image_flag_is_a_usage_error() {
        assert!(check_images(&["registry.internal:5000/order-service:1.4.2".into()]).is_ok());
        let err = check_images(&["Order-Service".into()]).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(
                "--image: image reference \"Order-Service\": repository name must be lower case"
                    .into()
            )
        );
    }
}
