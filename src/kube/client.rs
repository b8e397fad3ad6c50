//! Builds the Kubernetes client from kubectl's flags: the kubeconfig file (or kube's normal
//! inference, which merges a colon-separated $KUBECONFIG itself), context / cluster / user
//! overrides, impersonation and request timeouts.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::sync::OnceLock;

use kube::client::ClientBuilder;
use kube::{Client, Config};

use super::retry;

use crate::config::KubeTarget;
use crate::error::{Error, Result};

/// The client and the context's default namespace.
/// The kubeconfig's own credentials (bearer token, token file, client key, password) are
/// remembered by the output boundary, which replaces them wherever an error quotes them.
fn learn_credentials(auth: &kube::config::AuthInfo) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(auth) else {
        return;
    };
    for field in ["token", "client-key-data", "password"] {
        if let Some(serde_json::Value::String(v)) = fields.get(field) {
            crate::redact::learn(v.as_bytes());
            if let Ok(decoded) =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v)
            {
                crate::redact::learn(&decoded);
            }
        }
    }
    if let Some(serde_json::Value::String(path)) = fields.get("tokenFile")
        && let Ok(token) = std::fs::read(path)
    {
        crate::redact::learn(&token);
    }
}

pub async fn connect(target: &KubeTarget) -> Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        cluster: target.cluster.clone(),
        user: target.user.clone(),
    };
    let overridden =
        options.context.is_some() || options.cluster.is_some() || options.user.is_some();
    let mut context = target.context.clone();
    let loaded = match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(format!("{}: {}", path.display(), one_line(&e))))?;
            context = context.or_else(|| kc.current_context.clone());
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::Kubeconfig(one_line(&e)))
        }
        None if overridden => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::Kubeconfig(one_line(&e))),
        None => Config::infer()
            .await
            .map_err(|e| Error::Kubeconfig(one_line(&e))),
    };
    let mut config = loaded?;
    learn_credentials(&config.auth_info);
    if target.kubeconfig.is_none() && context.is_none() {
        context = Kubeconfig::read().ok().and_then(|k| k.current_context);
    }
    // Printed on purpose in every error line: a credential that merely begins like one of these
    // names is not quoted by it.
    for name in [
        context.as_deref(),
        Some(config.cluster_url.to_string().as_str()),
    ]
    .into_iter()
    .flatten()
    {
        crate::redact::public(name);
    }
    let _ = CLUSTER.set(format!(
        "server {}, context {}",
        config.cluster_url,
        context.as_deref().unwrap_or("in-cluster")
    ));
    if let Some(user) = &target.impersonate_user {
        config.auth_info.impersonate = Some(user.clone());
        if !target.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(target.impersonate_groups.clone());
        }
    }
    if let Some(t) = target.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
        // Count the read timeout from each request, not from when a pooled connection went idle.
        config.reset_reader_on_write = true;
    }
    // kube's own retry layer waits up to 1000 s per retry, 15 times: replace it with one whose
    // retries share the request's budget (issue 18).
    config.default_retry = false;
    let budget = target.request_timeout.unwrap_or(retry::DEFAULT_BUDGET);
    let namespace = config.default_namespace.clone();
    let client = ClientBuilder::try_from(config)
        .map_err(|e| Error::Kubeconfig(one_line(&e)))?
        // Retry clones the service per request; the boxed stack is not Clone, a buffer in front is.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(retry::BoundedRetry::new(
            budget,
        )))
        .build();
    Ok((client, namespace))
}

/// The cluster this run talks to, for error lines: set once by [`connect`].
static CLUSTER: OnceLock<String> = OnceLock::new();

/// `server https://…, context NAME` of the cluster connected to, when there is one.
pub fn cluster_label() -> Option<&'static str> {
    CLUSTER.get().map(String::as_str)
}

/// The API server's answer as a person reads it: `403 Forbidden: <the server's message>`.
/// kube's own Display appends the whole `Status { … }` debug dump (issue 18).
pub fn api_status_line(s: &kube::core::Status) -> String {
    let reason = http::StatusCode::from_u16(s.code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or(s.reason.as_str());
    let message = if s.message.is_empty() {
        s.reason.as_str()
    } else {
        s.message.as_str()
    };
    crate::sanitize::line(&format!("{} {reason}: {message}", s.code))
}

/// An error and its sources on one line (kube's Display hides the useful part in `source()`);
/// an API server's answer is rendered by [`api_status_line`], never as a debug dump.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = String::new();
    let mut cur = Some(e);
    while let Some(inner) = cur {
        if let Some(kube::Error::Api(status)) = inner.downcast_ref::<kube::Error>() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&api_status_line(status));
            break;
        }
        let text = inner.to_string();
        if !s.contains(&text) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&text);
        }
        cur = inner.source();
    }
    crate::sanitize::line(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_18_api_errors_read_as_code_reason_message_without_a_debug_dump() {
        let status = kube::core::Status::failure(
            "externalsecrets.external-secrets.io is forbidden: User \"bob\" cannot list",
            "Forbidden",
        )
        .with_code(403);
        let e = kube::Error::Api(Box::new(status));
        let line = one_line(&e);
        assert_eq!(
            line,
            "403 Forbidden: externalsecrets.external-secrets.io is forbidden: User \"bob\" cannot list"
        );
        assert!(
            !line.contains("Status {") && !line.contains("Some("),
            "{line}"
        );
    }
}
