//! The Key Vault fake's network layer seen from outside, the way the simulated ESO controller and
//! non-SDK clients use it: `http_client()`, the token endpoint and vault over raw REST, the metadata
//! endpoints MSAL-based clients call for a custom authority, and the CONNECT proxy's routing rules.

use eso_sandbox::akv::{
    AccessGrant, AkvSim, AkvState, ClientSecret, Permission, Principal, SecretVersion, VaultState,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TENANT: &str = "2ed1d494-6c5a-4c5d-aa24-479446fb844d";
const APP: &str = "6f1c2a8e-0d4b-4c1e-9a77-3b1f0c2d9e10";
const APP_SECRET: &str = "canary-akv-sp-client-secret";
const VALUE: &str = "canary-netbox-db-password";

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn start() -> Result<AkvSim, Box<dyn std::error::Error>> {
    let state = AkvState {
        tenant_id: TENANT.to_owned(),
        vaults: vec![VaultState {
            name: "hybridops".to_owned(),
            location: "westeurope".to_owned(),
            secrets: [(
                "netbox-db-password".to_owned(),
                vec![SecretVersion {
                    value: VALUE.to_owned(),
                    enabled: true,
                    ..SecretVersion::default()
                }],
            )]
            .into(),
            ..VaultState::default()
        }],
        principals: vec![Principal {
            client_id: APP.to_owned(),
            client_secrets: vec![ClientSecret {
                value: APP_SECRET.to_owned(),
                expires: None,
            }],
            ..Principal::default()
        }],
        access: vec![AccessGrant {
            principal: APP.to_owned(),
            vault: "hybridops".to_owned(),
            permissions: vec![Permission::Get],
        }],
        oidc_issuers: Vec::new(),
    };
    Ok(AkvSim::start(state).await?)
}

#[tokio::test]
async fn http_client_gets_a_token_and_reads_the_secret() -> TestResult {
    let sim = start().await?;
    let http = sim.http_client()?;
    let url = format!(
        "{}secrets/netbox-db-password?api-version=7.6",
        sim.vault_url("hybridops")
    );

    let challenge = http.get(&url).send().await?;
    assert_eq!(challenge.status().as_u16(), 401);
    let header = challenge
        .headers()
        .get("www-authenticate")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        header,
        format!(
            "Bearer authorization=\"{}/{TENANT}\", resource=\"{}\"",
            sim.authority_url(),
            sim.key_vault_endpoint().trim_end_matches('/')
        )
    );

    let token: Value = http
        .post(format!(
            "{}/{TENANT}/oauth2/v2.0/token",
            sim.authority_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", &format!("{}.default", sim.key_vault_endpoint())),
        ])
        .send()
        .await?
        .json()
        .await?;
    let bearer = token["access_token"].as_str().ok_or("no access_token")?;

    let secret = http.get(&url).bearer_auth(bearer).send().await?;
    assert_eq!(secret.status().as_u16(), 200);
    assert_eq!(
        secret
            .headers()
            .get("x-ms-keyvault-region")
            .and_then(|h| h.to_str().ok()),
        Some("westeurope")
    );
    let body: Value = secret.json().await?;
    assert!(body["value"].as_str() == Some(VALUE), "value differs");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn metadata_endpoints_name_the_tenant_token_endpoint() -> TestResult {
    let sim = start().await?;
    let http = sim.http_client()?;
    let authority = sim.authority_url();
    let discovery: Value = http
        .get(format!("{authority}/common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                &format!("{authority}/{TENANT}/oauth2/v2.0/authorize"),
            ),
        ])
        .send()
        .await?
        .json()
        .await?;
    let oidc_url = discovery["tenant_discovery_endpoint"]
        .as_str()
        .ok_or("no tenant_discovery_endpoint")?;
    assert_eq!(
        oidc_url,
        format!("{authority}/{TENANT}/v2.0/.well-known/openid-configuration")
    );
    let oidc: Value = http.get(oidc_url).send().await?.json().await?;
    assert_eq!(
        oidc["token_endpoint"],
        format!("{authority}/{TENANT}/oauth2/v2.0/token")
    );
    sim.shutdown().await;
    Ok(())
}

/// Sends a raw proxy request and returns the status line of the answer.
async fn proxy_request(
    sim: &AkvSim,
    request: &str,
) -> Result<(String, TcpStream), Box<dyn std::error::Error>> {
    let addr = sim.proxy_url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    Ok((status, stream))
}

#[tokio::test]
async fn proxy_relays_loopback_and_refuses_unknown_hosts() -> TestResult {
    let sim = start().await?;

    // Another loopback service (e.g. the simulated API server) stays reachable through the proxy.
    let other = TcpListener::bind("127.0.0.1:0").await?;
    let port = other.local_addr()?.port();
    let echo = tokio::spawn(async move {
        if let Ok((mut s, _)) = other.accept().await {
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).await.is_ok() {
                let _ = s.write_all(&buf).await;
            }
        }
    });
    let (status, mut tunnel) =
        proxy_request(&sim, &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n")).await?;
    assert_eq!(status, "HTTP/1.1 200 Connection established");
    tunnel.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    tunnel.read_exact(&mut back).await?;
    assert_eq!(&back, b"ping");
    echo.await?;

    let (status, _) = proxy_request(
        &sim,
        "CONNECT nope.vault.sandbox.azurestack.test:443 HTTP/1.1\r\n\r\n",
    )
    .await?;
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    let (status, _) = proxy_request(&sim, "CONNECT example.com:443 HTTP/1.1\r\n\r\n").await?;
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    let (status, _) = proxy_request(&sim, "GET http://example.com/ HTTP/1.1\r\n\r\n").await?;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_frees_the_port() -> TestResult {
    let sim = start().await?;
    let addr = sim.proxy_url().trim_start_matches("http://").to_owned();
    sim.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "port still open after shutdown"
    );
    Ok(())
}
