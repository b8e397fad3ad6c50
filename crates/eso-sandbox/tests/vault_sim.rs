//! Behaviour of the in-process Vault that needs no OpenBao binary: kubernetes login through the
//! simulated API server, reference incident B end to end, token expiry, and that no error the sim
//! or `VaultAdmin` produces carries a token or a secret value. What the answers look like is pinned
//! by `vault_contract.rs` against the real server.

#[path = "vault_common.rs"]
mod common;

use common::call;
use eso_sandbox::vault::{VaultAdmin, VaultSim};
use serde_json::{Map, Value, json};

const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
const ESO_POLICIES: [&str; 5] = [
    "eso-default",
    "eso-order-service",
    "eso-payment-service",
    "eso-inventory-service",
    "eso-user-service",
];
const ORDER_POLICY: &str =
    "path \"registry-creds/data/order-service\" { capabilities = [\"read\"] }\n";
const CANARY: &str = "canary-6f1d2a-registry-password";

fn order_secret() -> Map<String, Value> {
    Map::from_iter([
        ("username".to_string(), json!("order")),
        ("password".to_string(), json!(CANARY)),
    ])
}

/// kube-sim with the ESO ServiceAccount, and Vault configured as incident B's cluster was.
async fn incident_b_setup(
    audiences: &[&str],
) -> anyhow::Result<(kube_sim::ApiServer, VaultSim, VaultAdmin, String)> {
    setup_with(audiences, true).await
}

async fn setup_with(
    audiences: &[&str],
    tls: bool,
) -> anyhow::Result<(kube_sim::ApiServer, VaultSim, VaultAdmin, String)> {
    let config = kube_sim::SimConfig {
        tls,
        ..kube_sim::SimConfig::default()
    };
    let api = kube_sim::ApiServer::start(config).await?;
    let store = api.store();
    let _ = store.create(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}}),
    );
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "external-secrets", "namespace": "external-secrets"}});
    let _ = store.create(sa);
    let audiences: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
    let jwt = store
        .issue_token("external-secrets", "external-secrets", &audiences, 3600)
        .map_err(|e| anyhow::anyhow!("issue_token: {e:?}"))?;

    let vault = VaultSim::start("root").await?;
    let admin = VaultAdmin::new(&vault.addr(), &vault.root_token())?;
    admin.enable_kv("registry-creds", 2).await?;
    admin
        .kv_put("registry-creds", "order-service", &order_secret())
        .await?;
    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &api.url(), api.ca_pem().as_deref())
        .await?;
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["external-secrets"],
            &["external-secrets"],
            &ESO_POLICIES,
            Some("vault"),
        )
        .await?;
    Ok((api, vault, admin, jwt))
}

async fn login(addr: &str, jwt: &str) -> (u16, Value) {
    let body = json!({"role": "external-secrets-operator", "jwt": jwt});
    call(addr, "POST", "auth/kubernetes/login", None, Some(body)).await
}

fn errors(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_b_policy_deleted_then_recreated() -> anyhow::Result<()> {
    let (api, vault, admin, jwt) = incident_b_setup(&["vault", API_AUDIENCE]).await?;
    let addr = vault.addr();
    let path = "registry-creds/data/order-service";

    let (status, body) = login(&addr, &jwt).await;
    assert_eq!(status, 200, "login: {:?}", errors(&body));
    let policies = body.pointer("/auth/policies").cloned().unwrap_or_default();
    assert_eq!(
        policies,
        json!([
            "default",
            "eso-default",
            "eso-inventory-service",
            "eso-order-service",
            "eso-payment-service",
            "eso-user-service"
        ])
    );
    let meta = body
        .pointer("/auth/metadata/service_account_namespace")
        .cloned();
    assert_eq!(meta, Some(json!("external-secrets")));
    let token = body
        .pointer("/auth/client_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (status, secret) = call(&addr, "GET", path, Some(token), None).await;
    assert_eq!(status, 200);
    assert_eq!(secret.pointer("/data/data/username"), Some(&json!("order")));

    admin.delete_policy("eso-order-service").await?;
    let (status, denied) = call(&addr, "GET", path, Some(token), None).await;
    assert_eq!(
        (status, errors(&denied)),
        (
            403,
            vec!["1 error occurred:\n\t* permission denied\n\n".to_string()]
        )
    );
    let caps = json!({"paths": [path]});
    let (_, caps) = call(
        &addr,
        "POST",
        "sys/capabilities-self",
        Some(token),
        Some(caps),
    )
    .await;
    assert_eq!(caps.pointer("/data/capabilities"), Some(&json!(["deny"])));

    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    let (status, _) = call(&addr, "GET", path, Some(token), None).await;
    assert_eq!(
        status, 200,
        "recreating the policy must restore access for existing tokens"
    );
    vault.shutdown().await;
    api.shutdown().await;
    Ok(())
}

/// Vault sends TokenReview with the client's JWT as bearer; an API server only accepts that bearer
/// for its own audience, so a token minted for "vault" alone fails, as it does against real OpenBao.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_only_audience_token_is_refused_like_openbao() -> anyhow::Result<()> {
    let (api, vault, _admin, jwt) = incident_b_setup(&["vault"]).await?;
    let (status, body) = login(&vault.addr(), &jwt).await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["permission denied".to_string()])
    );
    vault.shutdown().await;
    api.shutdown().await;
    Ok(())
}

/// `kubectl eso sandbox --tls=false` runs the API server on plain HTTP with no CA to configure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_login_works_against_a_plain_http_api_server() -> anyhow::Result<()> {
    let (api, vault, _admin, jwt) = setup_with(&["vault", API_AUDIENCE], false).await?;
    assert!(
        api.url().starts_with("http://"),
        "kube-sim should serve plain HTTP here"
    );
    let (status, body) = login(&vault.addr(), &jwt).await;
    assert_eq!(status, 200, "login: {:?}", errors(&body));
    vault.shutdown().await;
    api.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_service_account_is_named_in_the_error() -> anyhow::Result<()> {
    let (api, vault, admin, jwt) = incident_b_setup(&["vault", API_AUDIENCE]).await?;
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["someone-else"],
            &["external-secrets"],
            &ESO_POLICIES,
            Some("vault"),
        )
        .await?;
    let (status, body) = login(&vault.addr(), &jwt).await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["service account name not authorized".to_string()])
    );
    vault.shutdown().await;
    api.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn expired_tokens_are_refused() -> anyhow::Result<()> {
    let vault = VaultSim::start("root").await?;
    let admin = VaultAdmin::new(&vault.addr(), "root")?;
    let token = admin.create_token(&["default"], "2s").await?;
    let (status, _) = call(
        &vault.addr(),
        "GET",
        "auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (status, body) = call(
        &vault.addr(),
        "GET",
        "auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["permission denied".to_string()])
    );
    vault.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn errors_carry_no_token_or_secret_value() -> anyhow::Result<()> {
    let vault = VaultSim::start("root-canary-token").await?;
    let admin = VaultAdmin::new(&vault.addr(), &vault.root_token())?;
    admin.enable_kv("registry-creds", 2).await?;
    admin
        .kv_put("registry-creds", "order-service", &order_secret())
        .await?;

    let intruder = VaultAdmin::new(&vault.addr(), "s.intruder-canary")?;
    let failures = [
        intruder.put_policy("x", ORDER_POLICY).await.err(),
        admin
            .kv_put("no-such-mount", "order-service", &order_secret())
            .await
            .err(),
        intruder
            .kv_put("registry-creds", "order-service", &order_secret())
            .await
            .err(),
        admin.enable_kv("registry-creds", 2).await.err(),
    ];
    assert!(
        failures.iter().all(Option::is_some),
        "every call above must fail"
    );
    for err in failures.iter().flatten() {
        let text = format!("{err:#}");
        for canary in ["root-canary-token", "s.intruder-canary", CANARY] {
            assert!(!text.contains(canary), "token leaked into an error: {text}");
        }
    }
    let (_, denied) = call(
        &vault.addr(),
        "GET",
        "registry-creds/data/order-service",
        Some("s.x"),
        None,
    )
    .await;
    assert!(!denied.to_string().contains(CANARY));
    vault.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_stops_serving() -> anyhow::Result<()> {
    let vault = VaultSim::start("root").await?;
    let addr = vault.addr();
    let (status, _) = call(&addr, "GET", "sys/health", None, None).await;
    assert_eq!(status, 200);
    vault.shutdown().await;
    let refused = common::client()
        .get(format!("{addr}/v1/sys/health"))
        .send()
        .await;
    assert!(refused.is_err(), "the port must be closed after shutdown");
    Ok(())
}
