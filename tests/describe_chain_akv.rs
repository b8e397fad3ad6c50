//! Issue 5, Key Vault beyond the sandbox scenarios: workload identity (a TokenRequest for the
//! store's ServiceAccount with audience api://AzureADTokenExchange, exchanged at Entra ID as a
//! client assertion) and the 403 causes a user must tell apart (RBAC role missing, access policy,
//! firewall), against the Key Vault fake reached through its proxy and CA as on Azure Stack.

mod common;

use common::*;
use eso_sandbox::akv::{AkvSim, AkvState};
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";
const CLIENT_ID: &str = "0b3f6c1e-5d2a-4e8b-9c7d-1a2b3c4d5e6f";
/// The user of `--probe-as me`, whose Azure CLI login may read `policyonly`.
const USER_ID: &str = "9a8b7c6d-1111-4222-8333-444455556666";

async fn akv(value: &str) -> AkvSim {
    let vault = |name: &str, model: &str, firewall: bool| {
        json!({"name": name, "permissionModel": model, "firewallBlocks": firewall,
            "secrets": {"netbox-db-password": [{"value": value}]}})
    };
    let state: AkvState = serde_json::from_value(json!({
        "tenantId": "2ed1d494-6c5a-4c5d-aa24-479446fb844d",
        "vaults": [
            vault("hybridops", "AccessPolicy", false),
            vault("rbaconly", "Rbac", false),
            vault("policyonly", "AccessPolicy", false),
            vault("walled", "AccessPolicy", true),
        ],
        "principals": [{"clientId": CLIENT_ID, "federatedCredentials": [{
            "issuer": "https://kubernetes.default.svc.cluster.local",
            "subject": "system:serviceaccount:netbox:netbox-wi"}]},
            {"clientId": USER_ID, "clientSecrets": [{"value": "user-secret-0123456789"}]}],
        "access": [
            {"principal": CLIENT_ID, "vault": "hybridops", "permissions": ["get", "list"]},
            {"principal": CLIENT_ID, "vault": "walled", "permissions": ["get", "list"]},
            {"principal": USER_ID, "vault": "policyonly", "permissions": ["get"]}
        ]
    }))
    .unwrap_or_else(|e| panic!("akv state: {e}"));
    AkvSim::start(state)
        .await
        .unwrap_or_else(|e| panic!("akv: {e:#}"))
}

/// A workload-identity ClusterSecretStore on `vault`, an ExternalSecret on it and its target.
fn seed(c: &Cluster, a: &AkvSim, vault: &str, value: &str) {
    let css = c.create(json!({
        "apiVersion": V1, "kind": "ClusterSecretStore", "metadata": {"name": vault},
        "spec": {"provider": {"azurekv": {
            "tenantId": a.tenant_id(), "vaultUrl": a.vault_url(vault),
            "environmentType": "AzureStackCloud", "useAzureSDK": true,
            "customCloudConfig": {"activeDirectoryEndpoint": a.authority_url(),
                "keyVaultEndpoint": a.key_vault_endpoint(), "keyVaultDNSSuffix": a.key_vault_dns_suffix()},
            "authType": "WorkloadIdentity",
            "serviceAccountRef": {"name": "netbox-wi", "namespace": "netbox"}
        }}}
    }));
    c.set_status(&css, store_status(true, "Valid"));
    let es = c.create(json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": vault, "namespace": "netbox"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": vault},
            "target": {"name": vault},
            "data": [{"secretKey": "password", "remoteRef": {"key": "netbox-db-password"}}]}
    }));
    let es = c.set_status(&es, es_status(true, &ago(5)));
    c.create(owned_secret(&es, vault, "Opaque", "password", value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_and_the_403_causes() {
    let value = canary("akv-wi");
    let a = akv(&value).await;
    let c = Cluster::start(EsoCrds::V1).await;
    // Entra ID verifies the federated token with the cluster's published service-account keys.
    let Some(jwks) = c.api.store().authenticator().jwks() else {
        panic!("the simulated cluster has no service-account signing key")
    };
    a.state().trust_issuer(kube_sim::auth::ISSUER, jwks);
    c.namespaces(&["netbox"]);
    c.create(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "netbox-wi", "namespace": "netbox",
        "annotations": {"azure.workload.identity/client-id": CLIENT_ID}}}),
    );
    for vault in ["hybridops", "rbaconly", "policyonly", "walled"] {
        seed(&c, &a, vault, &value);
    }
    let ca = write_file(c.dir.path(), "akv-ca.pem", &a.ca_pem());
    let ca = ca.to_string_lossy().into_owned();
    let proxy = a.proxy_url();
    let run = |name: &str| {
        let o = run_with(
            &c.kubeconfig,
            &[
                "describe-chain",
                name,
                "-n",
                "netbox",
                "-o",
                "json",
                "--provider-ca-file",
                &ca,
            ],
            &[("HTTPS_PROXY", &proxy), ("NO_PROXY", "127.0.0.1,localhost")],
        );
        assert_no_canary(&o, std::slice::from_ref(&value));
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o)));
        (o, v)
    };

    let (o, v) = run("hybridops");
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert_eq!(
        v["provider"]["identity"],
        "workload identity (ServiceAccount token)"
    );
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
    let sa = v["credentials"].to_string();
    assert!(sa.contains("azure.workload.identity/client-id"), "{sa}");

    for (vault, want) in [
        (
            "rbaconly",
            "\"Key Vault Secrets User\" is missing (403 ForbiddenByRbac)",
        ),
        (
            "policyonly",
            "access policies do not give the store's identity get",
        ),
        (
            "walled",
            "firewall blocks the caller (403 ForbiddenByFirewall)",
        ),
    ] {
        let (o, v) = run(vault);
        assert_eq!(o.status.code(), Some(1), "{vault}: {v:#}");
        assert_eq!(v["verdict"]["link"], "provider", "{vault}: {v:#}");
        let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
        assert!(cause.contains(want), "{vault}: {cause}");
    }

    // --probe-as me: the user's Azure CLI token reads the secret ESO may not read.
    let token = user_token(&a).await;
    let bin = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let az = bin.path().join("az");
    std::fs::write(&az, format!("#!/bin/sh\necho {token}\n")).unwrap_or_else(|e| panic!("{e}"));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run_with(
        &c.kubeconfig,
        &[
            "describe-chain",
            "policyonly",
            "-n",
            "netbox",
            "-o",
            "json",
            "--probe-as",
            "me",
            "--provider-ca-file",
            &ca,
        ],
        &[
            ("HTTPS_PROXY", &proxy),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("PATH", &path),
        ],
    );
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o)));
    assert_eq!(v["provider"]["identity"], "your Azure CLI login", "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains(&token));
    a.shutdown().await;
}

/// A Key Vault token for the user, as `az account get-access-token` would print it.
async fn user_token(a: &AkvSim) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = reqwest::Certificate::from_pem_bundle(a.ca_pem().as_bytes())
        .unwrap_or_else(|e| panic!("ca: {e}"));
    let client = reqwest::Client::builder()
        .tls_certs_only(certs)
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    let scope = format!("{}.default", a.key_vault_endpoint());
    let answer: Value = client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            a.authority_url(),
            a.tenant_id()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", USER_ID),
            ("client_secret", "user-secret-0123456789"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("token: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("token json: {e}"));
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}
