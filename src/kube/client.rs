//! Builds the Kubernetes client from kubectl's flags: the kubeconfig file (or kube's normal
//! inference, which merges a colon-separated $KUBECONFIG itself), context / cluster / user
//! overrides, impersonation and request timeouts.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::config::KubeTarget;
use crate::error::{Error, Result};

/// The client and the context's default namespace.
pub async fn connect(target: &KubeTarget) -> Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        cluster: target.cluster.clone(),
        user: target.user.clone(),
    };
    let overridden =
        options.context.is_some() || options.cluster.is_some() || options.user.is_some();
    let loaded = match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(format!("{}: {}", path.display(), one_line(&e))))?;
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
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(one_line(&e)))?;
    Ok((client, namespace))
}

/// An error and its sources on one line (kube's Display hides the useful part in `source()`).
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    crate::sanitize::line(&s)
}
