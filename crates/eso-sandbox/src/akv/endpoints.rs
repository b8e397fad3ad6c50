//! The fake's URL scheme, and the response type its request logic returns.
//!
//! Why this shape: the official SDK only talks https, and after the 401 challenge it insists that the
//! vault's host ends with `.<host of the challenge resource>`. An IP literal or `localhost` can never
//! pass that check (`127.0.0.1` would need a resource host like `0.0.1`, which a URL parser reads as
//! the IPv4 address `0.0.0.1`), and names other than localhost do not resolve here. So the fake looks
//! like an Azure Stack Hub cloud with its own domain: vaults are `https://<vault>.vault.<domain>/`,
//! the challenge resource is `https://vault.<domain>`, and clients reach those names through the
//! fake's own HTTPS proxy (plain `CONNECT`, on the same loopback port as the TLS server). A proxy and
//! an extra trusted CA are what real users of Azure Stack or of a corporate egress proxy configure
//! anyway (`HTTPS_PROXY`, `customCloudConfig`), so nothing here is a test-only backdoor.
//! The Entra ID authority needs no proxy: `https://127.0.0.1:<port>` passes the SDK's https check.

use serde_json::Value;

/// The domain of the simulated Azure Stack cloud. `.test` is reserved (RFC 2606), so it can never
/// collide with a real name.
pub const DOMAIN: &str = "sandbox.azurestack.test";

/// Where everything lives, for one running fake.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub port: u16,
    pub domain: String,
}

impl Endpoints {
    pub fn new(port: u16) -> Endpoints {
        Endpoints {
            port,
            domain: DOMAIN.to_owned(),
        }
    }

    /// The Entra ID authority host (customCloudConfig.activeDirectoryEndpoint), no tenant, no slash.
    pub fn authority_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The HTTP proxy that reaches the vault host names.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn key_vault_dns_suffix(&self) -> String {
        format!("vault.{}", self.domain)
    }

    /// customCloudConfig.keyVaultEndpoint, with the trailing slash Azure's own cloud configs use.
    pub fn key_vault_endpoint(&self) -> String {
        format!("{}/", self.resource())
    }

    /// The audience of Key Vault tokens, as named in the 401 challenge.
    pub fn resource(&self) -> String {
        format!("https://vault.{}", self.domain)
    }

    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.{}/", self.key_vault_dns_suffix())
    }

    /// The vault a Host header names (`hybridops.vault.<domain>[:port]` -> `hybridops`).
    pub fn vault_from_host<'a>(&self, host: &'a str) -> Option<&'a str> {
        let host = strip_port(host);
        let suffix = self.key_vault_dns_suffix();
        let name = host.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
        (!name.is_empty() && !name.contains('.')).then_some(name)
    }

    /// The host names the TLS certificate must cover.
    pub fn certificate_names(&self) -> Vec<String> {
        vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            self.key_vault_dns_suffix(),
            format!("*.{}", self.key_vault_dns_suffix()),
        ]
    }

    /// The issuer Key Vault expects in access tokens of a tenant (Entra v1 token format).
    pub fn token_issuer(tenant: &str) -> String {
        format!("https://sts.windows.net/{tenant}/")
    }
}

pub fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (name.ends_with(']') || !name.contains(':')) =>
        {
            name
        }
        _ => host,
    }
}

/// What the request logic answers; the server layer only copies it onto the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl ApiResponse {
    pub fn json(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> ApiResponse {
        self.headers.push((name, value));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` / `error.innererror.code` of a Key Vault error body, or `error` of an Entra one.
    pub fn error_code(&self) -> Option<&str> {
        match self.body.get("error")? {
            Value::String(s) => Some(s),
            e => e.get("code")?.as_str(),
        }
    }

    pub fn inner_error_code(&self) -> Option<&str> {
        self.body
            .get("error")?
            .get("innererror")?
            .get("code")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_come_from_the_host_header() {
        let ep = Endpoints::new(4443);
        assert_eq!(
            ep.vault_from_host("hybridops.vault.sandbox.azurestack.test"),
            Some("hybridops")
        );
        assert_eq!(
            ep.vault_from_host("hybridops.vault.sandbox.azurestack.test:443"),
            Some("hybridops")
        );
        assert_eq!(ep.vault_from_host("vault.sandbox.azurestack.test"), None);
        assert_eq!(
            ep.vault_from_host("a.b.vault.sandbox.azurestack.test"),
            None
        );
        assert_eq!(ep.vault_from_host("127.0.0.1:4443"), None);
        assert_eq!(
            ep.vault_from_host("evilvault.sandbox.azurestack.test"),
            None
        );
    }

    #[test]
    fn vault_url_passes_the_sdk_challenge_rule() {
        // The SDK accepts the challenge when the vault host ends with "." + resource host.
        let ep = Endpoints::new(1);
        let vault_host = ep
            .vault_url("hybridops")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        let resource_host = ep.resource().trim_start_matches("https://").to_owned();
        assert!(vault_host.ends_with(&format!(".{resource_host}")));
        assert_eq!(ep.key_vault_endpoint(), format!("{}/", ep.resource()));
    }
}
