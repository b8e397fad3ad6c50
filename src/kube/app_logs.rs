//! Reading a consumer pod's log through `pods/log` (issue 17): the last lines of each of its
//! containers (the instance before the last restart when the container is crash-looping), redacted
//! as they are read with every value the run knows, and reduced to the secret-related ones by
//! `analysis::app_logs`. Used by describe-chain's Consumers link and by force-sync `--restart`'s
//! verification.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;

use super::list::status_code;
use crate::analysis::app_logs;
use crate::analysis::eso_logs::redact::Redactor;
use crate::diag::Diag;

/// Lines read per container: enough for a start-up failure, little for a busy server.
const TAIL_LINES: i64 = 200;
const LIMIT_BYTES: i64 = 64 * 1024;

/// What one pod's containers printed that looks secret-related.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PodLines {
    /// `container netbox`, `container netbox, previous instance`, or why nothing could be read.
    pub source: Option<String>,
    /// Redacted, secret-related, the last few.
    pub lines: Vec<String>,
    /// Every redacted line read (for force-sync's comparison of phrases), not shown.
    pub all: Vec<String>,
}

/// The environment variables of `pod` that read `secret`: names its log may print.
pub fn env_names(pod: &Pod, secret: &str) -> Vec<String> {
    pod.spec
        .as_ref()
        .map(|s| env_names_in(s, &[secret.to_string()]))
        .unwrap_or_default()
}

/// The environment variables of a pod spec that read one of `secrets`.
pub fn env_names_in(spec: &k8s_openapi::api::core::v1::PodSpec, secrets: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for c in &spec.containers {
        for e in c.env.iter().flatten() {
            let reads = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_some_and(|r| secrets.contains(&r.name));
            if reads && !out.contains(&e.name) {
                out.push(e.name.clone());
            }
        }
    }
    out
}

/// The secret-related lines of `pod`'s first container that printed any. `names` are the Secret's
/// key names and the variables the pod reads it into.
pub async fn read(
    api: &Api<Pod>,
    pod: &Pod,
    names: &[String],
    redactor: &Redactor,
    diag: &Diag,
) -> PodLines {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let mut out = PodLines::default();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let status = statuses.iter().find(|s| s.name == c.name);
        let running = status
            .and_then(|s| s.state.as_ref())
            .is_some_and(|s| s.running.is_some());
        let previous = !running && status.is_some_and(|s| s.restart_count > 0);
        let params = LogParams {
            container: Some(c.name.clone()),
            previous,
            tail_lines: Some(TAIL_LINES),
            limit_bytes: Some(LIMIT_BYTES),
            ..LogParams::default()
        };
        diag.log(
            1,
            format_args!(
                "GET pods/{name}/log container={} previous={previous}",
                c.name
            ),
        );
        let text = match api.logs(&name, &params).await {
            Ok(text) => text,
            Err(e) if matches!(status_code(&e), Some(401 | 403)) => {
                out.source = Some("log not checked: no permission to get pods/log".into());
                return out;
            }
            // A container that never started has no log yet.
            Err(e) => {
                diag.log(
                    1,
                    format_args!(
                        "logs: {name} container {}: {}",
                        c.name,
                        super::client::one_line(&e)
                    ),
                );
                continue;
            }
        };
        let all: Vec<String> = text.lines().map(|l| redactor.redact(l)).collect();
        let lines = app_logs::secret_related(&all, names);
        out.all.extend(all);
        if !lines.is_empty() && out.lines.is_empty() {
            out.source = Some(format!(
                "container {}{}",
                crate::sanitize::line(&c.name),
                if previous { ", previous instance" } else { "" }
            ));
            out.lines = lines;
        }
    }
    out
}

/// The pods of `workload` (`deployment/NAME`) in `ns` not named in `except`, and every redacted line
/// their containers printed. For force-sync `--restart`: the pods before the restart, then the new ones.
pub async fn workload_lines(
    client: &kube::Client,
    ns: &str,
    workload: &str,
    except: &[String],
    names: &[String],
    redactor: &Redactor,
    diag: &Diag,
) -> Result<(Vec<String>, Vec<String>), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let what = super::list::Listing::new("pods", Some(ns));
    let pods = super::list::list_all(&api, &kube::api::ListParams::default(), &what, diag)
        .await
        .map_err(|e| what.degraded(&e).cause)?;
    let mut seen = Vec::new();
    let mut lines = Vec::new();
    for p in &pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let mine = crate::analysis::consumers::controller_workload(&p.metadata).as_deref()
            == Some(workload);
        let leaving = p.metadata.deletion_timestamp.is_some();
        if !mine || leaving || except.contains(&name) {
            continue;
        }
        let read = read(&api, p, names, redactor, diag).await;
        if read
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("log not checked"))
        {
            return Err("no permission to get pods/log".into());
        }
        lines.extend(read.all);
        seen.push(name);
    }
    Ok((seen, lines))
}
