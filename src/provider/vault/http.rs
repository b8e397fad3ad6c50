//! The one HTTP client `describe-chain` probes providers with (Vault and Azure Key Vault alike):
//! rustls with the process's ring provider, the system's roots plus any `--provider-ca-file` and
//! store caBundle, the environment's HTTPS_PROXY / NO_PROXY honoured (reqwest's default, which real
//! users behind an egress proxy or on Azure Stack need), and a record of every request made so the
//! report and `-v` can show — and tests can count — exactly what was asked. Tokens and bodies are
//! never recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::diag::Diag;

#[derive(Clone)]
pub struct ProbeHttp {
    pub client: reqwest::Client,
    calls: Arc<Mutex<Vec<String>>>,
    diag: Diag,
    /// What the client was built with, for a sibling that also presents a client certificate.
    ca_pems: Vec<String>,
    timeout: Duration,
}

impl ProbeHttp {
    /// `ca_pems`: extra trusted CAs (PEM bundles); `timeout` per request.
    pub fn new(ca_pems: &[String], timeout: Duration, diag: Diag) -> Result<ProbeHttp, String> {
        let client = build(ca_pems, timeout, None)?;
        Ok(ProbeHttp {
            client,
            calls: Arc::new(Mutex::new(Vec::new())),
            diag,
            ca_pems: ca_pems.to_vec(),
            timeout,
        })
    }

    /// The same client (CAs, timeout, record of calls) presenting a TLS client certificate:
    /// `identity_pem` holds the certificate chain and its private key (ESO's kubernetes provider
    /// with `auth.cert`, issue 15). Kept in memory only; the error never quotes it.
    pub fn with_identity(&self, identity_pem: &[u8]) -> Result<ProbeHttp, String> {
        let identity = reqwest::Identity::from_pem(identity_pem)
            .map_err(|_| "the client certificate and key do not form a TLS identity".to_string())?;
        Ok(ProbeHttp {
            client: build(&self.ca_pems, self.timeout, Some(identity))?,
            ..self.clone()
        })
    }

    /// Records one request (`POST vault auth/kubernetes/login -> 200`).
    pub fn record(&self, call: String) {
        self.diag.log(1, format_args!("provider: {call}"));
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

fn build(
    ca_pems: &[String],
    timeout: Duration,
    identity: Option<reqwest::Identity>,
) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // Vault's token travels in X-Vault-Token and a login's JWT in the body, which reqwest
        // keeps across redirects: follow a redirect only to the host already vouched for.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .first()
                .is_some_and(|first| same_origin(first, attempt.url()));
            if same && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .dns_resolver(Arc::new(GuardedResolver))
        .user_agent(concat!("kubectl-eso/", env!("CARGO_PKG_VERSION")));
    let mut certs = Vec::new();
    for pem in ca_pems {
        let found = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("a provider CA is not valid PEM: {e}"))?;
        if found.is_empty() {
            return Err("a provider CA file holds no certificate".into());
        }
        certs.extend(found);
    }
    if !certs.is_empty() {
        builder = builder.tls_certs_merge(certs);
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the provider HTTP client: {e}"))
}

fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The system resolver, minus link-local and metadata addresses (`crate::egress`): a provider
/// host name that resolves only to such an address is never connected to.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if let Some(why) = crate::egress::never_contact(&host) {
                return Err(format!("{host} is {why}: never contacted").into());
            }
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| crate::egress::never_contact_ip(a.ip()).is_none())
                .collect();
            if kept.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local or metadata addresses: never contacted"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An error and its sources on one line: reqwest hides the cause (refused, TLS) in `source()`.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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
