//! Where a credential may go (issue 18, defect 1). The provider probe logs in with ESO's identity —
//! a token minted for ESO's ServiceAccount, or a credentials Secret ESO reads — or with the user's
//! own (`VAULT_TOKEN`, the Azure CLI). Any tenant who may create a namespaced SecretStore chooses
//! the host in it, so sending a credential to that host would hand the tenant a token whenever an
//! admin runs `doctor -A`. The rule, documented in `docs/security.md`:
//!
//! - a host on the never-contact list (link-local addresses, cloud metadata services) is never
//!   contacted, whatever store names it and whatever flag says;
//! - a ClusterSecretStore's hosts are vouched for: only cluster admins create those;
//! - a namespaced SecretStore's host is vouched for when a ClusterSecretStore uses the same host
//!   (scheme, host and port), when the user lists it with `--trust-provider-host`, or when it is
//!   one of the providers' own public endpoints (Azure's sign-in and Key Vault domains), which no
//!   tenant can stand up a listener behind;
//! - everything else is "not probed", with the flag that would allow it.
//!
//! Pure: the caller hands in the store object as read and the hosts the cluster's
//! ClusterSecretStores use.

use std::collections::BTreeSet;

use serde_json::Value;

pub use crate::egress::{never_contact, never_contact_ip};

/// One place a credential would be sent to: `https://vault.example:8200` → (`https`,
/// `vault.example`, 8200).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses a provider URL; `None` when it has no host (the probe then fails on its own).
    pub fn parse(url: &str) -> Option<Endpoint> {
        let u = url::Url::parse(url.trim()).ok()?;
        let host = match u.host()? {
            url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Endpoint {
            scheme: u.scheme().to_string(),
            port: u.port_or_known_default()?,
            host,
        })
    }

    /// `host:port` as `--trust-provider-host` takes it (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Where a store's probe would send credentials: Vault's server; Key Vault's vault URL and the
/// sign-in authority (custom clouds name their own).
pub fn store_endpoints(store: &Value) -> Vec<Endpoint> {
    let s = |p: &str| store.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let mut urls: Vec<String> = Vec::new();
    if store.pointer("/spec/provider/vault").is_some() {
        urls.push(s("/spec/provider/vault/server").to_string());
    }
    if store.pointer("/spec/provider/azurekv").is_some() {
        urls.push(s("/spec/provider/azurekv/vaultUrl").to_string());
        let custom = s("/spec/provider/azurekv/customCloudConfig/activeDirectoryEndpoint");
        if !custom.is_empty() {
            urls.push(custom.to_string());
        }
    }
    // ESO's kubernetes provider (issue 15): another cluster's API server; the store's own
    // cluster (`kubernetes.default…`) is no host a tenant chooses.
    if let KubeServer::Url(u) = kubernetes_server(store) {
        urls.push(u);
    }
    let mut out: Vec<Endpoint> = urls.iter().filter_map(|u| Endpoint::parse(u)).collect();
    out.sort();
    out.dedup();
    out
}

/// Where a `kubernetes` provider store's API server is (issue 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeServer {
    /// The store's own cluster: `kubernetes.default`, `kubernetes.default.svc` or
    /// `kubernetes.default.svc.cluster.local`, any scheme and port (the CRD's default
    /// `kubernetes.default` when unset). Another suffix after `.svc.` is a name a tenant chose
    /// (`kubernetes.default.svc.evil.example` resolves outside the cluster): a URL like any other,
    /// vouched for under the host rules; a cluster with its own cluster domain vouches with
    /// `--trust-provider-host`. From outside the cluster the probe reaches that API
    /// server through the kubeconfig's own server, which the user already sends credentials to.
    Home,
    /// Another API server, with the scheme client-go would use (https when the store gives a CA
    /// or a client certificate, else http, when the URL names none).
    Url(String),
    /// `authRef`: a kubeconfig in a Secret names the server.
    FromSecret,
}

/// The API server a `spec.provider.kubernetes` store reads from; `Home` for any other store.
pub fn kubernetes_server(store: &Value) -> KubeServer {
    let Some(k) = store.pointer("/spec/provider/kubernetes") else {
        return KubeServer::Home;
    };
    if k.get("authRef").is_some_and(|r| !r.is_null()) {
        return KubeServer::FromSecret;
    }
    let raw = k
        .pointer("/server/url")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or("kubernetes.default");
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        let tls = k.pointer("/server/caBundle").is_some()
            || k.pointer("/server/caProvider").is_some()
            || k.pointer("/auth/cert").is_some();
        format!("{}://{raw}", if tls { "https" } else { "http" })
    };
    let host = url::Url::parse(&url).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    });
    match host.as_deref() {
        Some(
            "kubernetes.default"
            | "kubernetes.default.svc"
            | "kubernetes.default.svc.cluster.local",
        ) => KubeServer::Home,
        _ => KubeServer::Url(url),
    }
}

/// What the user and the cluster vouch for.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// `--trust-provider-host` (and `$KUBECTL_ESO_TRUST_PROVIDER_HOST`): `host` or `host:port`,
    /// lower case.
    pub flagged: Vec<String>,
    /// The kubeconfig's API server: the user already sends their own credentials there, so a
    /// kubernetes-provider store naming it may receive ESO's (issue 15).
    pub home: Option<Endpoint>,
}

impl TrustPolicy {
    fn flags(&self, e: &Endpoint) -> bool {
        let hp = e.host_port();
        self.home.as_ref() == Some(e)
            || self
                .flagged
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&hp) || f.eq_ignore_ascii_case(&e.host))
    }

    /// This policy for `store`: the kubeconfig's API server is vouched for a kubernetes-provider
    /// store only (docs/security.md rule 8). A Vault or Key Vault store naming that host gets
    /// no such pass: its login token is not the user's to send there.
    pub fn for_store(&self, store: &Value, home: Option<Endpoint>) -> TrustPolicy {
        let kubernetes = store.pointer("/spec/provider/kubernetes").is_some();
        TrustPolicy {
            home: home.filter(|_| kubernetes),
            ..self.clone()
        }
    }
}

/// The hosts every ClusterSecretStore sends to.
pub fn cluster_store_endpoints<'a>(stores: impl Iterator<Item = &'a Value>) -> BTreeSet<Endpoint> {
    stores.flat_map(store_endpoints).collect()
}

/// Is the probe allowed to send credentials for this store? `Err` says why not, in a sentence
/// that names the flag that would allow it (when any flag could).
pub fn vouch(
    cluster_store: bool,
    endpoints: &[Endpoint],
    vouched_by_cluster_stores: &BTreeSet<Endpoint>,
    policy: &TrustPolicy,
) -> Result<(), String> {
    for e in endpoints {
        if let Some(why) = never_contact(&e.host) {
            return Err(format!(
                "not probed: {} is {why}; kubectl-eso never sends credentials there",
                e.host
            ));
        }
    }
    if cluster_store {
        return Ok(());
    }
    let unvouched: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| {
            !vouched_by_cluster_stores.contains(e) && !policy.flags(e) && !public_provider_host(e)
        })
        .collect();
    if unvouched.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unvouched.iter().map(|e| e.host_port()).collect();
    let flags: Vec<String> = names
        .iter()
        .map(|n| format!("--trust-provider-host {n}"))
        .collect();
    Err(format!(
        "not probed: the host {} is named by a namespaced SecretStore and no ClusterSecretStore \
         uses it, so it is not vouched for; to send ESO's credentials there, add {}",
        names.join(", "),
        flags.join(" ")
    ))
}

/// Providers' own public endpoints, which only the provider operates.
fn public_provider_host(e: &Endpoint) -> bool {
    const SUFFIXES: &[&str] = &[
        // Key Vault and Managed HSM, every national cloud.
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".vault.microsoftazure.de",
        ".managedhsm.azure.net",
    ];
    const HOSTS: &[&str] = &[
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
    ];
    e.scheme == "https"
        && e.port == 443
        && (HOSTS.contains(&e.host.as_str()) || SUFFIXES.iter().any(|s| e.host.ends_with(s)))
}

/// Parses one `--trust-provider-host` value: `host` or `host:port`, no scheme, no path.
pub fn parse_trusted_host(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let bad = || {
        format!(
            "--trust-provider-host {raw:?}: expected a host or host:port, such as vault.example.com:8200"
        )
    };
    if v.is_empty() || v.contains("://") || v.contains('/') || v.contains('@') {
        return Err(bad());
    }
    // Parse as the authority of a URL so IPv6 brackets and ports follow one rule.
    let u = url::Url::parse(&format!("https://{v}")).map_err(|_| bad())?;
    let host = match u.host().ok_or_else(bad)? {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    if never_contact(&host).is_some() {
        return Err(format!(
            "--trust-provider-host {raw:?}: {host} is a link-local or metadata address, never contacted"
        ));
    }
    let has_port = v.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit())
            && (!h.contains(':') || h.ends_with(']'))
    });
    Ok(match (has_port, u.port_or_known_default()) {
        (true, Some(p)) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            Endpoint {
                scheme: "https".into(),
                host: bare.to_string(),
                port: p,
            }
            .host_port()
        }
        _ => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vault_store(server: &str) -> Value {
        json!({"spec": {"provider": {"vault": {"server": server, "auth": {"kubernetes": {"role": "r"}}}}}})
    }

    fn ends(store: &Value) -> Vec<Endpoint> {
        store_endpoints(store)
    }

    #[test]
    fn issue18_metadata_address_is_refused_even_for_a_cluster_store_and_with_the_flag() {
        let policy = TrustPolicy {
            flagged: vec!["169.254.169.254".into()],
            ..TrustPolicy::default()
        };
        for server in [
            "http://169.254.169.254/",
            "http://169.254.10.1:8200",
            "http://[fe80::1]:8200",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://metadata.google.internal/",
            "http://METADATA.GOOGLE.INTERNAL./",
        ] {
            let e = ends(&vault_store(server));
            assert_eq!(e.len(), 1, "{server}");
            let got = vouch(true, &e, &BTreeSet::new(), &policy);
            assert!(got.is_err(), "{server} must never be contacted");
            assert!(got.unwrap_err().contains("never sends credentials"));
        }
    }

    #[test]
    fn issue18_namespaced_store_host_is_not_vouched_for_by_default() {
        let e = ends(&vault_store("https://vault.tenant.example:8200"));
        let why = vouch(false, &e, &BTreeSet::new(), &TrustPolicy::default()).unwrap_err();
        assert!(why.contains("vault.tenant.example:8200"), "{why}");
        assert!(
            why.contains("--trust-provider-host vault.tenant.example:8200"),
            "{why}"
        );
    }

    #[test]
    fn a_host_a_cluster_store_uses_vouches_for_the_namespaced_store() {
        let cluster = [vault_store("https://vault.corp.example:8200/")];
        let vouched = cluster_store_endpoints(cluster.iter());
        let same = ends(&vault_store("https://VAULT.corp.example:8200"));
        assert!(vouch(false, &same, &vouched, &TrustPolicy::default()).is_ok());
        // Near misses: another port, another scheme, another host.
        for other in [
            "https://vault.corp.example:8201",
            "http://vault.corp.example:8200",
            "https://vault.corp.example.attacker.example:8200",
        ] {
            let e = ends(&vault_store(other));
            assert!(
                vouch(false, &e, &vouched, &TrustPolicy::default()).is_err(),
                "{other} must not be vouched for"
            );
        }
    }

    #[test]
    fn the_flag_vouches_by_host_or_host_and_port() {
        let e = ends(&vault_store("http://127.0.0.1:8200"));
        let by_port = TrustPolicy {
            flagged: vec!["127.0.0.1:8200".into()],
            ..TrustPolicy::default()
        };
        let by_host = TrustPolicy {
            flagged: vec!["127.0.0.1".into()],
            ..TrustPolicy::default()
        };
        let other_port = TrustPolicy {
            flagged: vec!["127.0.0.1:8201".into()],
            ..TrustPolicy::default()
        };
        assert!(vouch(false, &e, &BTreeSet::new(), &by_port).is_ok());
        assert!(vouch(false, &e, &BTreeSet::new(), &by_host).is_ok());
        assert!(vouch(false, &e, &BTreeSet::new(), &other_port).is_err());
    }

    #[test]
    fn azure_public_endpoints_are_vouched_for_custom_authorities_are_not() {
        let public = json!({"spec": {"provider": {"azurekv": {"vaultUrl": "https://team.vault.azure.net/"}}}});
        assert!(
            vouch(
                false,
                &ends(&public),
                &BTreeSet::new(),
                &TrustPolicy::default()
            )
            .is_ok()
        );
        let custom = json!({"spec": {"provider": {"azurekv": {
            "vaultUrl": "https://team.vault.azure.net/",
            "environmentType": "AzureStackCloud",
            "customCloudConfig": {"activeDirectoryEndpoint": "https://login.tenant.example/"}}}}});
        let why = vouch(
            false,
            &ends(&custom),
            &BTreeSet::new(),
            &TrustPolicy::default(),
        );
        assert!(why.unwrap_err().contains("login.tenant.example:443"));
        // A look-alike of a Microsoft domain is not Microsoft's.
        let lookalike = json!({"spec": {"provider": {"azurekv": {"vaultUrl": "https://vault.azure.net.attacker.example/"}}}});
        assert!(
            vouch(
                false,
                &ends(&lookalike),
                &BTreeSet::new(),
                &TrustPolicy::default()
            )
            .is_err()
        );
    }

    #[test]
    fn trusted_host_values_are_validated() {
        assert_eq!(
            parse_trusted_host("Vault.Example.com:8200").unwrap(),
            "vault.example.com:8200"
        );
        assert_eq!(
            parse_trusted_host("vault.example.com").unwrap(),
            "vault.example.com"
        );
        assert_eq!(parse_trusted_host("[::1]:8200").unwrap(), "[::1]:8200");
        for bad in [
            "",
            "https://vault:8200",
            "vault/x",
            "u@vault",
            "169.254.169.254",
        ] {
            assert!(parse_trusted_host(bad).is_err(), "{bad:?}");
        }
    }

    fn kube_store(spec: Value) -> Value {
        json!({"spec": {"provider": {"kubernetes": spec}}})
    }

    #[test]
    fn issue15_in_cluster_api_server_names_are_the_home_cluster() {
        for url in [
            None,
            Some("kubernetes.default"),
            Some("https://kubernetes.default.svc"),
            Some("https://kubernetes.default.svc.cluster.local:443"),
        ] {
            let mut spec =
                json!({"remoteNamespace": "shared", "auth": {"serviceAccount": {"name": "r"}}});
            if let Some(u) = url {
                spec["server"] = json!({"url": u});
            }
            let store = kube_store(spec);
            assert_eq!(kubernetes_server(&store), KubeServer::Home, "{url:?}");
            // Nothing a tenant chose: vouched for a namespaced store without any flag.
            assert!(
                vouch(
                    false,
                    &ends(&store),
                    &BTreeSet::new(),
                    &TrustPolicy::default()
                )
                .is_ok()
            );
        }
        // Near misses: a look-alike host, and a bare `kubernetes` (another namespace's Service).
        for url in [
            "https://kubernetes.default.example.com",
            "https://kubernetes.default.svc.evil.example",
            "https://kubernetes",
        ] {
            let store = kube_store(json!({"server": {"url": url}}));
            assert_eq!(
                kubernetes_server(&store),
                KubeServer::Url(url.into()),
                "{url}"
            );
        }
    }

    #[test]
    fn issue15_a_remote_api_server_is_vouched_only_as_any_provider_host() {
        let store = kube_store(
            json!({"server": {"url": "https://k8s.tenant.example:6443", "caBundle": "eA=="},
            "auth": {"token": {"bearerToken": {"name": "t", "key": "token"}}}}),
        );
        let e = ends(&store);
        assert_eq!(e.len(), 1);
        let why = vouch(false, &e, &BTreeSet::new(), &TrustPolicy::default()).unwrap_err();
        assert!(
            why.contains("--trust-provider-host k8s.tenant.example:6443"),
            "{why}"
        );
        // A ClusterSecretStore's server is vouched; so is the kubeconfig's own API server.
        assert!(vouch(true, &e, &BTreeSet::new(), &TrustPolicy::default()).is_ok());
        let home = TrustPolicy::default()
            .for_store(&store, Endpoint::parse("https://k8s.tenant.example:6443"));
        assert!(vouch(false, &e, &BTreeSet::new(), &home).is_ok());
        // Near miss: a namespaced Vault store naming the kubeconfig's server is not vouched by it.
        let vault = vault_store("https://k8s.tenant.example:6443");
        let vault_policy = TrustPolicy::default()
            .for_store(&vault, Endpoint::parse("https://k8s.tenant.example:6443"));
        assert!(vouch(false, &ends(&vault), &BTreeSet::new(), &vault_policy).is_err());
        // Near miss: the kubeconfig's server on another port vouches for nothing else.
        let other = TrustPolicy::default()
            .for_store(&store, Endpoint::parse("https://k8s.tenant.example:443"));
        assert!(vouch(false, &e, &BTreeSet::new(), &other).is_err());
        // No scheme and no CA: client-go speaks plain http, and so does the probe.
        let plain = kube_store(json!({"server": {"url": "10.0.0.1:8080"}}));
        assert_eq!(
            kubernetes_server(&plain),
            KubeServer::Url("http://10.0.0.1:8080".into())
        );
        // A metadata address is never contacted, whatever kind of store names it.
        let meta = kube_store(json!({"server": {"url": "http://169.254.169.254"}}));
        assert!(
            vouch(
                true,
                &ends(&meta),
                &BTreeSet::new(),
                &TrustPolicy::default()
            )
            .is_err()
        );
    }
}
