//! `kubectl eso verify-regcred` (issue 7): does this pull secret actually log in to its registry?
//! Reads the Secret (or follows an ExternalSecret to it), validates its payload, logs in to every
//! registry in it the way a container runtime does, checks the images the pods using it pull, and
//! lists those pods stuck pulling — answering incident B's step 3 without printing a password.
//!
//! fetch (Secret, pods) -> registry checks (`provider::registry`) -> report -> render -> exit code.
//! The pure pieces (which pods use the Secret, what they pull, which are stuck) and the table
//! writer live here for now because they serve only this command.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, Secret};
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
    self, ClientOptions, ConfigFinding, ImageReport, Outcome, PayloadFormat, RegistryClient,
    RegistryReport, Severity,
};
use crate::render::structured::{write_json, write_yaml};
use crate::render::table::{cell, new_table, status_cell, trimmed_lines, truncate};
use crate::render::{Format, RenderOptions};

const MESSAGE_WIDTH: usize = 70;
const STUCK_REASONS: &[&str] = &["ImagePullBackOff", "ErrImagePull", "InvalidImageName"];

/// Everything the command learned, for table, JSON and YAML alike.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRegcredReport {
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
    let extra_ca_pem = args
        .ca_file
        .as_deref()
        .map(registry::read_ca_file)
        .transpose()
        .map_err(|e| Error::Usage(e.to_string()))?;
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

/// `--timeout 15s`, `1m`, ... (humantime); zero makes no sense for a login check.
fn parse_timeout(input: &str) -> Result<Duration> {
    let timeout = humantime::parse_duration(input.trim()).map_err(|e| {
        Error::Usage(format!(
            "--timeout {:?}: {e} (examples: 15s, 1m)",
            crate::sanitize::line(input)
        ))
    })?;
    if timeout.is_zero() {
        return Err(Error::Usage("--timeout must be more than 0s".into()));
    }
    Ok(timeout)
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

/// What the pods referencing a pull secret pull, and which of them are stuck pulling.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// Distinct images, in pod order.
    pub images: Vec<String>,
    pub stuck: Vec<StuckPod>,
}

/// Pure: the pods whose `imagePullSecrets` name `secret`, their images (init containers too) and
/// their containers waiting with an image-pull reason.
pub fn pods_using(pods: &[Pod], secret: &str) -> PodUsage {
    let mut usage = PodUsage::default();
    let mut seen = BTreeSet::new();
    for pod in pods {
        let Some(spec) = &pod.spec else { continue };
        let references = spec
            .image_pull_secrets
            .iter()
            .flatten()
            .any(|r| r.name == secret);
        if !references {
            continue;
        }
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        for image in containers.filter_map(|c| c.image.as_deref()) {
            if seen.insert(image.to_string()) {
                usage.images.push(image.to_string());
            }
        }
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod.status.iter().flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        });
        usage
            .stuck
            .extend(statuses.filter_map(|status| stuck_container(&pod_name, status)));
    }
    usage
}

fn stuck_container(pod: &str, status: &ContainerStatus) -> Option<StuckPod> {
    let waiting = status.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    STUCK_REASONS.contains(&reason).then(|| StuckPod {
        pod: pod.to_string(),
        container: status.name.clone(),
        image: status.image.clone(),
        reason: reason.to_string(),
        message: crate::sanitize::line(waiting.message.as_deref().unwrap_or("")),
    })
}

// ---------------------------------------------------------------- rendering

pub fn write(
    out: &mut impl Write,
    report: &VerifyRegcredReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Table | Format::Wide => write_table(out, report, opts),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Unauthorized => "unauthorized",
        Outcome::Denied => "denied",
        Outcome::NotFound => "not found",
        Outcome::Unreachable => "unreachable",
        Outcome::TlsError => "tls error",
        Outcome::UnexpectedResponse => "unexpected response",
        Outcome::InvalidEntry => "invalid entry",
        Outcome::NotChecked => "not checked",
        Outcome::NoEntry => "no entry",
        Outcome::InvalidImage => "invalid image",
    }
}

fn write_table(
    out: &mut impl Write,
    report: &VerifyRegcredReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    let wide = opts.format == Format::Wide;
    let msg = |text: &str| {
        if wide {
            text.to_string()
        } else {
            truncate(text, MESSAGE_WIDTH)
        }
    };
    let from = match &report.external_secret {
        Some(es) => format!(" (target of ExternalSecret {})", crate::sanitize::line(es)),
        None => String::new(),
    };
    writeln!(
        out,
        "Secret {}/{}{from}, type {}",
        crate::sanitize::line(&report.namespace),
        crate::sanitize::line(&report.secret),
        crate::sanitize::line(&report.secret_type)
    )?;
    writeln!(out)?;
    if let Some(error) = &report.payload_error {
        writeln!(out, "Payload unreadable: {}", crate::sanitize::line(error))?;
    } else if report.registries.is_empty() {
        writeln!(out, "No registries in the pull secret.")?;
    } else {
        let headers: &[&str] = if wide {
            &["REGISTRY", "HOST", "USERNAME", "RESULT", "MESSAGE"]
        } else {
            &["REGISTRY", "USERNAME", "RESULT", "MESSAGE"]
        };
        let mut t = new_table(headers, opts.color);
        for r in &report.registries {
            let mut row = vec![cell(&r.registry)];
            if wide {
                row.push(cell(&r.host));
            }
            row.extend([
                cell(r.username.as_deref().unwrap_or("<none>")),
                status_cell(
                    outcome_word(r.outcome),
                    r.outcome != Outcome::Ok,
                    opts.color,
                ),
                cell(&msg(&r.message)),
            ]);
            t.add_row(row);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if !report.images.is_empty() {
        writeln!(out)?;
        let mut t = new_table(&["IMAGE", "ENTRY", "RESULT", "MESSAGE"], opts.color);
        for i in &report.images {
            t.add_row(vec![
                cell(&i.image),
                cell(i.entry.as_deref().unwrap_or("<none>")),
                status_cell(
                    outcome_word(i.outcome),
                    i.outcome != Outcome::Ok,
                    opts.color,
                ),
                cell(&msg(&i.message)),
            ]);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if !report.stuck_pods.is_empty() {
        writeln!(out)?;
        writeln!(out, "Pods using this Secret that cannot pull their image:")?;
        let headers: &[&str] = if wide {
            &["POD", "CONTAINER", "IMAGE", "REASON", "MESSAGE"]
        } else {
            &["POD", "CONTAINER", "REASON", "MESSAGE"]
        };
        let mut t = new_table(headers, opts.color);
        for p in &report.stuck_pods {
            let mut row = vec![cell(&p.pod), cell(&p.container)];
            if wide {
                row.push(cell(&p.image));
            }
            row.extend([
                status_cell(&p.reason, true, opts.color),
                cell(&msg(&p.message)),
            ]);
            t.add_row(row);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if let Some(error) = &report.pods_error {
        writeln!(out)?;
        writeln!(out, "Pods not checked: {}", crate::sanitize::line(error))?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
        writeln!(out, "Findings in the payload:")?;
        for f in &report.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            writeln!(out, "  {level}: {}", crate::sanitize::line(&f.message))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", verdict(report))
}

fn verdict(report: &VerifyRegcredReport) -> String {
    if report.ok {
        return format!(
            "OK: every registry in {} accepts its credentials",
            crate::sanitize::line(&report.secret)
        );
    }
    let failed_registries = report
        .registries
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Ok | Outcome::NotChecked))
        .count();
    let failed_images = report
        .images
        .iter()
        .filter(|i| i.outcome != Outcome::Ok)
        .count();
    let mut parts = Vec::new();
    if report.payload_error.is_some() {
        parts.push("the payload cannot be read".to_string());
    }
    if failed_registries > 0 {
        parts.push(format!(
            "{failed_registries} of {} registries failed",
            report.registries.len()
        ));
    }
    if failed_images > 0 {
        parts.push(format!(
            "{failed_images} of {} images cannot be pulled",
            report.images.len()
        ));
    }
    if report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error)
    {
        parts.push("the payload has malformed entries".to_string());
    }
    if parts.is_empty() {
        parts.push("no registry could be checked".to_string());
    }
    format!("FAILED: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, secret: &str, image: &str, waiting: Option<(&str, &str)>) -> Pod {
        let status = waiting.map(|(reason, message)| {
            serde_json::json!({"containerStatuses": [{
                "name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}}
            }]})
        });
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {
                "imagePullSecrets": [{"name": secret}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": image}]
            },
            "status": status,
        });
        serde_json::from_value(value).unwrap_or_else(|e| panic!("pod: {e}"))
    }

    #[test]
    fn pods_referencing_the_secret_give_images_and_stuck_containers() {
        let pods = vec![
            pod(
                "order-service-1",
                "regcred",
                "reg:5000/order-service:1.4.2",
                Some((
                    "ImagePullBackOff",
                    "Back-off pulling image \"reg:5000/order-service:1.4.2\"",
                )),
            ),
            pod(
                "order-service-2",
                "regcred",
                "reg:5000/order-service:1.4.2",
                None,
            ),
            pod(
                "other",
                "other-regcred",
                "reg:5000/other:1",
                Some(("ErrImagePull", "x")),
            ),
            pod(
                "crashing",
                "regcred",
                "reg:5000/order-service:1.4.2",
                Some(("CrashLoopBackOff", "back-off")),
            ),
        ];
        let usage = pods_using(&pods, "regcred");
        assert_eq!(
            usage.images,
            vec![
                "busybox:1.36".to_string(),
                "reg:5000/order-service:1.4.2".to_string()
            ]
        );
        assert_eq!(usage.stuck.len(), 1, "{:?}", usage.stuck);
        assert_eq!(usage.stuck[0].pod, "order-service-1");
        assert_eq!(usage.stuck[0].reason, "ImagePullBackOff");
        assert!(usage.stuck[0].message.contains("Back-off pulling image"));
    }

    #[test]
    fn timeouts_parse_like_kubectl_durations() {
        assert_eq!(parse_timeout("15s").ok(), Some(Duration::from_secs(15)));
        assert_eq!(parse_timeout("1m").ok(), Some(Duration::from_secs(60)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    fn report(outcome: Outcome) -> VerifyRegcredReport {
        VerifyRegcredReport {
            namespace: "prod".into(),
            secret: "regcred-order-service".into(),
            external_secret: None,
            secret_type: "kubernetes.io/dockerconfigjson".into(),
            payload_error: None,
            registries: vec![RegistryReport {
                registry: "127.0.0.1:5000".into(),
                host: "127.0.0.1:5000".into(),
                username: Some("order-service".into()),
                outcome,
                message: "authentication required".into(),
            }],
            images: Vec::new(),
            findings: Vec::new(),
            stuck_pods: vec![StuckPod {
                pod: "order-service-abc".into(),
                container: "app".into(),
                image: "127.0.0.1:5000/order-service:1.4.2".into(),
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into(),
            }],
            pods_error: None,
            ok: outcome == Outcome::Ok,
        }
    }

    #[test]
    fn table_names_the_registry_result_and_stuck_pods() {
        let opts = RenderOptions {
            format: Format::Table,
            color: false,
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        let mut out = Vec::new();
        write(&mut out, &report(Outcome::Unauthorized), &opts)
            .unwrap_or_else(|e| panic!("write: {e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("unauthorized"), "{text}");
        assert!(text.contains("order-service-abc"), "{text}");
        assert!(text.contains("FAILED: 1 of 1 registries failed"), "{text}");
        let mut ok_out = Vec::new();
        write(&mut ok_out, &report(Outcome::Ok), &opts).unwrap_or_else(|e| panic!("write: {e}"));
        assert!(String::from_utf8_lossy(&ok_out).contains("OK: every registry"));
    }
}
