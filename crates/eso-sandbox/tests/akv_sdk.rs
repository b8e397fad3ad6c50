//! Drives the Key Vault fake with Microsoft's official Rust SDK exactly as the product will: a custom
//! (Azure Stack) cloud authority, a vault URL on the cloud's own domain, and a reqwest transport that
//! trusts one extra CA and goes through an https proxy. If these pass, the product's Key Vault probe
//! can be tested against the sandbox with no test-only code path in the product.
//! Secret values are compared in memory only; assertion messages never contain them.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::{
    SecretClientGetSecretOptions, SecretClientListSecretPropertiesVersionsOptions,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eso_sandbox::akv::{
    AccessGrant, AkvSim, AkvState, ClientSecret, FederatedCredential, OidcIssuer, Permission,
    PermissionModel, Principal, SecretVersion, VaultState,
};
use futures::TryStreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

const TENANT: &str = "2ed1d494-6c5a-4c5d-aa24-479446fb844d";
const ESO_APP: &str = "7d8cdf74-1111-4111-8111-274d963d358b";
const STALE_APP: &str = "7d8cdf74-2222-4222-8222-274d963d358b";
const CERT_APP: &str = "7d8cdf74-3333-4333-8333-274d963d358b";
const WI_APP: &str = "7d8cdf74-4444-4444-8444-274d963d358b";
const ESO_SECRET: &str = "canary-sp-secret-7Q~good";
const STALE_SECRET: &str = "canary-sp-secret-7Q~stale";
const DB_OLD: &str = "canary-netbox-db-old";
const DB_NOW: &str = "canary-netbox-db-current";
const SA_ISSUER: &str = "https://kube-sim.sandbox.test";
const SA_SUBJECT: &str = "system:serviceaccount:external-secrets:external-secrets";
const KEY_PEM: &str = include_str!("../src/akv/testdata/assertion-key.pem");

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn certificate_pem() -> Result<String, Box<dyn std::error::Error>> {
    let key = rcgen::KeyPair::from_pem(KEY_PEM)?;
    Ok(rcgen::CertificateParams::new(vec!["eso-sp".to_owned()])?
        .self_signed(&key)?
        .pem())
}

fn scenario(cert_pem: String) -> AkvState {
    let vault = |name: &str, model, firewall_blocks| VaultState {
        name: name.to_owned(),
        permission_model: model,
        firewall_blocks,
        location: "westeurope".to_owned(),
        subscription_id: "sub-1".to_owned(),
        resource_group: "rg-hybrid".to_owned(),
        secrets: [
            (
                "netbox-db-password".to_owned(),
                vec![secret(DB_OLD, true), secret(DB_NOW, true)],
            ),
            ("retired".to_owned(), vec![secret("canary-retired", false)]),
        ]
        .into(),
        deleted_secrets: Default::default(),
    };
    let app = |id: &str| Principal {
        client_id: id.to_owned(),
        ..Principal::default()
    };
    let grant = |principal: &str, vault: &str| AccessGrant {
        principal: principal.to_owned(),
        vault: vault.to_owned(),
        permissions: vec![Permission::Get, Permission::List],
    };
    AkvState {
        tenant_id: TENANT.to_owned(),
        vaults: vec![
            vault("hybridops", PermissionModel::AccessPolicy, false),
            vault("rbacops", PermissionModel::Rbac, false),
            vault("walled", PermissionModel::AccessPolicy, true),
        ],
        principals: vec![
            Principal {
                client_secrets: vec![ClientSecret {
                    value: ESO_SECRET.to_owned(),
                    expires: None,
                }],
                ..app(ESO_APP)
            },
            Principal {
                client_secrets: vec![ClientSecret {
                    value: STALE_SECRET.to_owned(),
                    expires: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)),
                }],
                ..app(STALE_APP)
            },
            Principal {
                certificates: vec![cert_pem],
                ..app(CERT_APP)
            },
            Principal {
                federated_credentials: vec![FederatedCredential {
                    issuer: SA_ISSUER.to_owned(),
                    subject: SA_SUBJECT.to_owned(),
                    audiences: vec!["api://AzureADTokenExchange".to_owned()],
                }],
                ..app(WI_APP)
            },
        ],
        access: vec![
            grant(ESO_APP, "hybridops"),
            grant(ESO_APP, "walled"),
            grant(CERT_APP, "hybridops"),
            grant(WI_APP, "hybridops"),
        ],
        // The cluster's published service-account key: Entra verifies federated tokens with it.
        oidc_issuers: vec![OidcIssuer {
            issuer: SA_ISSUER.to_owned(),
            jwks: cluster_key().jwks(),
        }],
    }
}

/// The simulated cluster's service-account signing key (ES256, as kube-sim's), one per test process.
struct ClusterKey(ring::signature::EcdsaKeyPair);

fn cluster_key() -> &'static ClusterKey {
    static KEY: std::sync::OnceLock<ClusterKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .ok()
            .and_then(|p| {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, p.as_ref(), &rng).ok()
            });
        match pair {
            Some(pair) => ClusterKey(pair),
            None => panic!("no P-256 key"),
        }
    })
}

impl ClusterKey {
    fn jwks(&self) -> Value {
        use ring::signature::KeyPair;
        let point = self.0.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "sandbox",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]})
    }

    fn sign(&self, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"sandbox"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        match self
            .0
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
        {
            Ok(sig) => format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            Err(_) => panic!("signing failed"),
        }
    }
}

fn secret(value: &str, enabled: bool) -> SecretVersion {
    SecretVersion {
        value: value.to_owned(),
        enabled,
        ..SecretVersion::default()
    }
}

async fn start() -> Result<AkvSim, Box<dyn std::error::Error>> {
    Ok(AkvSim::start(scenario(certificate_pem()?)).await?)
}

/// The transport the product builds: one extra trusted CA, ring only, an https proxy.
fn client_options(sim: &AkvSim) -> Result<ClientOptions, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(sim.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .proxy(reqwest::Proxy::https(sim.proxy_url())?)
        .build()?;
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = sim.authority_url();
    Ok(ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        retry: RetryOptions::none(),
        ..ClientOptions::default()
    })
}

fn secret_credential(
    sim: &AkvSim,
    client_id: &str,
    secret: &str,
) -> Result<Arc<dyn TokenCredential>, Box<dyn std::error::Error>> {
    Ok(ClientSecretCredential::new(
        TENANT,
        client_id.to_owned(),
        Secret::new(secret.to_owned()),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(sim)?,
        }),
    )?)
}

fn vault_client(
    sim: &AkvSim,
    vault: &str,
    credential: Arc<dyn TokenCredential>,
) -> Result<SecretClient, Box<dyn std::error::Error>> {
    Ok(SecretClient::new(
        &sim.vault_url(vault),
        credential,
        Some(SecretClientOptions {
            client_options: client_options(sim)?,
            ..SecretClientOptions::default()
        }),
    )?)
}

async fn get_value(
    client: &SecretClient,
    name: &str,
    version: Option<&str>,
) -> azure_core::Result<Option<String>> {
    let options = SecretClientGetSecretOptions {
        secret_version: version.map(str::to_owned),
        ..SecretClientGetSecretOptions::default()
    };
    Ok(client
        .get_secret(name, Some(options))
        .await?
        .into_model()?
        .value)
}

/// The HTTP status and JSON body behind an SDK error, wherever it sits in the `source()` chain
/// (credential errors wrap the token endpoint's answer). Pitfall 3: read the body ourselves.
fn http_failure(err: &azure_core::Error) -> Option<(u16, Value)> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(az) = e.downcast_ref::<azure_core::Error>()
            && let ErrorKind::HttpResponse {
                status,
                raw_response,
                ..
            } = az.kind()
        {
            let body = raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice(r.body().as_ref()).ok())
                .unwrap_or(Value::Null);
            return Some((u16::from(*status), body));
        }
        current = e.source();
    }
    None
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        out.push_str(" <- ");
        out.push_str(&e.to_string());
        current = e.source();
    }
    out
}

async fn expect_failure(
    result: azure_core::Result<Option<String>>,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    match result {
        Ok(_) => Err("expected the SDK call to fail".into()),
        Err(e) => {
            http_failure(&e).ok_or_else(|| format!("no HTTP answer in: {}", chain(&e)).into())
        }
    }
}

#[tokio::test]
async fn sdk_reads_current_and_older_versions_through_the_custom_cloud() -> TestResult {
    let sim = start().await?;
    let client = vault_client(
        &sim,
        "hybridops",
        secret_credential(&sim, ESO_APP, ESO_SECRET)?,
    )?;

    let current = get_value(&client, "netbox-db-password", None).await;
    let current = current.map_err(|e| chain(&e))?;
    assert!(current.as_deref() == Some(DB_NOW), "current value differs");

    let versions: Vec<_> = client
        .list_secret_properties_versions(
            "netbox-db-password",
            Some(SecretClientListSecretPropertiesVersionsOptions {
                maxresults: Some(1),
                ..Default::default()
            }),
        )?
        .try_collect()
        .await?;
    assert_eq!(versions.len(), 2, "one version per page, nextLink followed");
    let oldest = versions[0]
        .id
        .as_deref()
        .and_then(|id| id.rsplit('/').next())
        .ok_or("version id")?
        .to_owned();
    let old = get_value(&client, "netbox-db-password", Some(&oldest)).await?;
    assert!(old.as_deref() == Some(DB_OLD), "old version value differs");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn sdk_errors_carry_key_vault_codes_in_the_body() -> TestResult {
    let sim = start().await?;
    let cred = secret_credential(&sim, ESO_APP, ESO_SECRET)?;
    let hybridops = vault_client(&sim, "hybridops", cred.clone())?;

    let (status, body) = expect_failure(get_value(&hybridops, "retired", None).await).await?;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(body["error"]["innererror"]["code"], "SecretDisabled");

    let (status, body) =
        expect_failure(get_value(&hybridops, "no-such-secret", None).await).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SecretNotFound"))
    );

    let rbac = vault_client(&sim, "rbacops", cred.clone())?;
    let (status, body) = expect_failure(get_value(&rbac, "netbox-db-password", None).await).await?;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByRbac");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"));

    let walled = vault_client(&sim, "walled", cred)?;
    let (_, body) = expect_failure(get_value(&walled, "netbox-db-password", None).await).await?;
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByFirewall");

    let cert_only = vault_client(
        &sim,
        "rbacops",
        secret_credential(&sim, ESO_APP, ESO_SECRET)?,
    )?;
    sim.state()
        .set_permission_model("rbacops", PermissionModel::AccessPolicy)?;
    let (_, body) = expect_failure(get_value(&cert_only, "netbox-db-password", None).await).await?;
    assert_eq!(body["error"]["innererror"]["code"], "AccessDenied");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("appid={ESO_APP};")));
    assert!(message.contains(
        "does not have secrets get permission on key vault 'rbacops;location=westeurope'"
    ));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn sdk_credential_errors_carry_aadsts_codes() -> TestResult {
    let sim = start().await?;
    let cases = [
        (ESO_APP, "wrong-secret-value", 401, "7000215"),
        (STALE_APP, STALE_SECRET, 401, "7000222"),
        (
            "7d8cdf74-9999-4999-8999-274d963d358b",
            ESO_SECRET,
            400,
            "700016",
        ),
    ];
    for (app, secret, want_status, want_code) in cases {
        let client = vault_client(&sim, "hybridops", secret_credential(&sim, app, secret)?)?;
        let result = get_value(&client, "netbox-db-password", None).await;
        let (status, body) = expect_failure(result).await?;
        assert_eq!(status, want_status, "{want_code}");
        assert_eq!(body["error_codes"][0].to_string(), want_code);
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.starts_with(&format!("AADSTS{want_code}: ")));
        assert!(
            !body.to_string().contains(secret),
            "the secret must not be echoed"
        );
    }
    sim.shutdown().await;
    Ok(())
}

/// A client assertion signed with the app's registered certificate (what ESO's `clientCertificate`
/// auth does), via ClientAssertionCredential so no openssl is needed (CRATES.md pitfall 4).
#[derive(Debug)]
struct CertificateAssertion {
    token_url: String,
    cert_der: Vec<u8>,
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let thumb = ring::digest::digest(&ring::digest::SHA256, &self.cert_der);
        let header =
            json!({"alg": "RS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(thumb)});
        let now = jiff::Timestamp::now().as_second();
        let claims = json!({"aud": self.token_url, "iss": CERT_APP, "sub": CERT_APP, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let fail =
            |what: &str| azure_core::Error::with_message(ErrorKind::Credential, what.to_owned());
        let key =
            PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes()).map_err(|_| fail("key"))?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(key.secret_pkcs8_der())
            .map_err(|_| fail("key"))?;
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| fail("sign"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

#[tokio::test]
async fn sdk_authenticates_with_a_certificate_assertion() -> TestResult {
    let cert_pem = certificate_pem()?;
    let sim = AkvSim::start(scenario(cert_pem.clone())).await?;
    let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())?.to_vec();
    let credential = ClientAssertionCredential::new(
        TENANT.to_owned(),
        CERT_APP.to_owned(),
        CertificateAssertion {
            token_url: format!("{}/{TENANT}/oauth2/v2.0/token", sim.authority_url()),
            cert_der,
        },
        Some(ClientAssertionCredentialOptions {
            client_options: client_options(&sim)?,
        }),
    )?;
    let client = vault_client(&sim, "hybridops", credential)?;
    let value = get_value(&client, "netbox-db-password", None)
        .await
        .map_err(|e| chain(&e))?;
    assert!(value.as_deref() == Some(DB_NOW), "value differs");
    sim.shutdown().await;
    Ok(())
}

fn service_account_token(subject: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"iss": SA_ISSUER, "sub": subject, "aud": ["api://AzureADTokenExchange"], "iat": now, "exp": now + 3600});
    cluster_key().sign(&claims)
}

#[tokio::test]
async fn sdk_workload_identity_matches_the_federated_credential() -> TestResult {
    let sim = start().await?;
    let dir = tempfile::tempdir()?;
    let mut outcomes = Vec::new();
    for subject in [SA_SUBJECT, "system:serviceaccount:netbox:default"] {
        let path = dir.path().join(subject.replace(':', "_"));
        std::fs::write(&path, service_account_token(subject))?;
        let credential =
            WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: client_options(&sim)?,
                },
                client_id: Some(WI_APP.to_owned()),
                tenant_id: Some(TENANT.to_owned()),
                token_file_path: Some(path),
            }))?;
        let client = vault_client(&sim, "hybridops", credential)?;
        outcomes.push(get_value(&client, "netbox-db-password", None).await);
    }
    let matched = outcomes.remove(0).map_err(|e| chain(&e))?;
    assert!(matched.as_deref() == Some(DB_NOW), "value differs");
    let (status, body) = expect_failure(outcomes.remove(0)).await?;
    assert_eq!(
        (status, body["error_codes"][0].as_i64()),
        (400, Some(70021))
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn run_time_changes_are_seen_by_the_next_call() -> TestResult {
    let sim = start().await?;
    let client = vault_client(
        &sim,
        "hybridops",
        secret_credential(&sim, ESO_APP, ESO_SECRET)?,
    )?;
    let handle = sim.state();

    let rotated = "canary-netbox-db-rotated";
    handle.set_secret("hybridops", "netbox-db-password", rotated)?;
    let value = get_value(&client, "netbox-db-password", None).await?;
    assert!(value.as_deref() == Some(rotated), "rotation not visible");

    handle.set_throttle(Some(1));
    let (status, _) = expect_failure(get_value(&client, "netbox-db-password", None).await).await?;
    assert_eq!(status, 429);
    handle.set_throttle(None);

    handle.revoke(ESO_APP, "hybridops");
    let (_, body) = expect_failure(get_value(&client, "netbox-db-password", None).await).await?;
    assert_eq!(body["error"]["innererror"]["code"], "AccessDenied");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_unknown_vault_fails_like_a_name_that_does_not_resolve() -> TestResult {
    let sim = start().await?;
    let client = vault_client(
        &sim,
        "no-such-vault",
        secret_credential(&sim, ESO_APP, ESO_SECRET)?,
    )?;
    let err = match get_value(&client, "netbox-db-password", None).await {
        Ok(_) => return Err("a vault that does not exist answered".into()),
        Err(e) => e,
    };
    assert!(
        http_failure(&err).is_none(),
        "no HTTP answer from a vault that does not exist"
    );
    assert!(chain(&err).contains("tunnel"), "{}", chain(&err));
    sim.shutdown().await;
    Ok(())
}

/// Why the fake needs its own domain and proxy: the SDK accepts a challenge only when the vault host
/// ends with "." + the resource host, and no resource host can be a suffix of a loopback address,
/// because a URL parser reads numeric labels as an IPv4 address. If this ever fails, loopback vault
/// URLs became possible and the proxy could go.
#[test]
fn loopback_vault_hosts_cannot_pass_the_challenge_rule() -> TestResult {
    for suffix in ["0.0.1", "0.1", "1"] {
        let url = azure_core::http::Url::parse(&format!("https://{suffix}/.default"))?;
        let host = url.host_str().ok_or("no host")?;
        assert!(
            !"127.0.0.1".ends_with(&format!(".{host}")),
            "{suffix} -> {host}"
        );
    }
    Ok(())
}
