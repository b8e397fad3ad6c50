//! A TLS fake of Azure Key Vault's secrets REST API and of Entra ID's token endpoint, because no Key
//! Vault emulator exists and the product must be tested against the answers real Azure gives (the
//! 401 challenge, 403 with its innererror codes, 404, 429, AADSTS errors). It looks like an Azure Stack
//! Hub cloud with its own CA, reached through its own loopback HTTPS proxy; see `endpoints` for why.
//!
//! Typical client set-up (this is what the official SDK needs, and what ESO's `customCloudConfig`
//! names): authority `authority_url()`, Key Vault audience `key_vault_endpoint()`, vault
//! `vault_url(name)`, a transport that trusts `ca_pem()` and uses `proxy_url()` as its https proxy.

mod endpoints;
mod entra;
mod handle;
pub(crate) mod jwt;
mod server;
mod state;
mod vault_api;

use std::sync::Arc;

use anyhow::Context;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use endpoints::{ApiResponse, DOMAIN};
pub use handle::{AkvHandle, Faults, HandleError};
pub use state::{
    AccessGrant, AkvState, ClientSecret, FederatedCredential, OidcIssuer, Permission,
    PermissionModel, Principal, SecretVersion, VaultState,
};

/// A running fake. Dropping it stops the server too; `shutdown` also waits for that.
pub struct AkvSim {
    ep: endpoints::Endpoints,
    ca_pem: String,
    handle: AkvHandle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AkvSim {
    /// Serves HTTPS (and the CONNECT proxy) on 127.0.0.1 with an ephemeral port and a fresh CA.
    pub async fn start(state: AkvState) -> anyhow::Result<AkvSim> {
        anyhow::ensure!(
            !state.tenant_id.is_empty()
                && state
                    .tenant_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "Key Vault sandbox: tenantId {:?} is not a valid tenant id",
            state.tenant_id
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("Key Vault sandbox: binding 127.0.0.1")?;
        let ep = endpoints::Endpoints::new(listener.local_addr()?.port());
        let tls = crate::tls::generate("Azure Stack", &ep.certificate_names())
            .context("Key Vault sandbox: generating certificates")?;
        let mut key_bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key_bytes)
            .map_err(|_| anyhow::anyhow!("Key Vault sandbox: no system randomness"))?;
        let handle = AkvHandle::new(state, jiff::Timestamp::now());
        let shared = Arc::new(server::Shared {
            handle: handle.clone(),
            ep: ep.clone(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key_bytes),
            acceptor: tokio_rustls::TlsAcceptor::from(tls.server_config),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, shared, stopped));
        Ok(AkvSim {
            ep,
            ca_pem: tls.ca_pem,
            handle,
            stop: Some(stop),
            task,
        })
    }

    /// The CA that signed the server certificate (PEM); clients add it as an extra trusted root.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// What a store's `vaultUrl` should be: `https://<vault>.vault.sandbox.azurestack.test/`.
    pub fn vault_url(&self, vault: &str) -> String {
        self.ep.vault_url(vault)
    }

    /// `customCloudConfig.activeDirectoryEndpoint`: `https://127.0.0.1:<port>` (no tenant).
    pub fn authority_url(&self) -> String {
        self.ep.authority_url()
    }

    /// `customCloudConfig.keyVaultEndpoint`: `https://vault.sandbox.azurestack.test/`.
    pub fn key_vault_endpoint(&self) -> String {
        self.ep.key_vault_endpoint()
    }

    /// `customCloudConfig.keyVaultDNSSuffix`: `vault.sandbox.azurestack.test`.
    pub fn key_vault_dns_suffix(&self) -> String {
        self.ep.key_vault_dns_suffix()
    }

    /// The https proxy (`HTTPS_PROXY`) through which the vault host names are reachable.
    pub fn proxy_url(&self) -> String {
        self.ep.proxy_url()
    }

    pub fn tenant_id(&self) -> String {
        self.handle.lock().state.tenant_id.clone()
    }

    /// Run-time control: rotate, disable, expire, grant / revoke, throttle.
    pub fn state(&self) -> AkvHandle {
        self.handle.clone()
    }

    /// A reqwest client set up as a Key Vault client of this fake must be: trusts only `ca_pem()`,
    /// sends everything through `proxy_url()`, ring provider passed explicitly.
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.context("Key Vault sandbox CA")?)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .proxy(reqwest::Proxy::all(self.proxy_url())?)
            .build()?)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for AkvSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
