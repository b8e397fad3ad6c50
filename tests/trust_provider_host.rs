//! Issue 18, defect 1: the provider probe must not send ESO's credentials to a host a tenant
//! names in a namespaced SecretStore. A plain TCP listener on loopback stands in for such a host
//! (and for the metadata address, which a test must not contact for real): the tests assert no
//! request reached it from `doctor -A` and `describe-chain`, that the output says why and which
//! flag would allow it, and that the flag — or a ClusterSecretStore on the same host — does allow it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Cluster, external_secret, run_with, stdout};
use kube_sim::EsoCrds;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V1: &str = "external-secrets.io/v1";

/// A listener that counts connections and answers every request with Vault's 403.
async fn stand_in() -> (String, Arc<AtomicUsize>) {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = r#"{"errors":["permission denied"]}"#;
                let reply = format!(
                    "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), hits)
}

fn vault_store(kind: &str, ns: Option<&str>, name: &str, server: &str) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": V1, "kind": kind, "metadata": metadata,
        "spec": {"provider": {"vault": {
            "server": server, "path": "secret", "version": "v2",
            // No serviceAccountRef: ESO logs in with its own ServiceAccount's token.
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "r"}}
        }}}
    })
}

async fn cluster_with_tenant_store(server: &str) -> Cluster {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["tenant", "external-secrets"]);
    // ESO's own ServiceAccount (external-secrets/external-secrets) comes with the chart objects.
    c.create(vault_store("SecretStore", Some("tenant"), "grab", server));
    c.create(external_secret(
        V1,
        "tenant",
        "app",
        "SecretStore",
        "grab",
        "app",
    ));
    c
}

fn run(c: &Cluster, args: &[&str]) -> std::process::Output {
    run_with(&c.kubeconfig, args, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_tenant_store_host_receives_nothing_from_doctor_or_describe_chain() {
    let (host, hits) = stand_in().await;
    let c = cluster_with_tenant_store(&format!("http://{host}")).await;

    let doctor = run(&c, &["doctor", "-A"]);
    let describe = run(&c, &["describe-chain", "app", "-n", "tenant"]);
    let describe_json = run(&c, &["describe-chain", "app", "-n", "tenant", "-o", "json"]);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the unvouched host was contacted"
    );
    for o in [&doctor, &describe, &describe_json] {
        let text = stdout(o);
        assert!(
            text.contains("not vouched for"),
            "the output must say why the provider was not probed:\n{text}"
        );
        assert!(
            text.contains(&format!("--trust-provider-host {host}")),
            "the output must name the flag that allows it:\n{text}"
        );
    }
    // A check that did not run is not a pass.
    assert_ne!(doctor.status.code(), Some(0), "{}", stdout(&doctor));

    // The user vouches for the host: now the probe goes there (and gets the stand-in's 403).
    let allowed = run(
        &c,
        &[
            "describe-chain",
            "app",
            "-n",
            "tenant",
            "--trust-provider-host",
            &host,
        ],
    );
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "--trust-provider-host must allow the probe:\n{}",
        stdout(&allowed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_a_cluster_store_on_the_same_host_vouches_for_it_and_a_near_miss_does_not() {
    let (host, hits) = stand_in().await;
    let c = cluster_with_tenant_store(&format!("http://{host}")).await;
    // Same host, other port: not the same host.
    let (other, other_hits) = stand_in().await;
    c.create(vault_store(
        "ClusterSecretStore",
        None,
        "platform",
        &format!("http://{other}"),
    ));
    let _ = run(&c, &["describe-chain", "app", "-n", "tenant"]);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);

    c.create(vault_store(
        "ClusterSecretStore",
        None,
        "platform-same-host",
        &format!("http://{host}/"),
    ));
    let o = run(&c, &["describe-chain", "app", "-n", "tenant"]);
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "a ClusterSecretStore on the same host vouches for it:\n{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_metadata_address_is_never_contacted_even_by_a_cluster_store_or_the_flag() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["app", "external-secrets"]);
    c.create(vault_store(
        "ClusterSecretStore",
        None,
        "imds",
        "http://169.254.169.254/",
    ));
    c.create(external_secret(
        V1,
        "app",
        "x",
        "ClusterSecretStore",
        "imds",
        "x",
    ));
    let started = std::time::Instant::now();
    let o = run(
        &c,
        &["doctor", "-A", "--trust-provider-host", "example.com"],
    );
    let d = run(&c, &["describe-chain", "x", "-n", "app"]);
    for out in [&o, &d] {
        // Human output is wrapped to the terminal's width: the phrase is looked for unwrapped.
        let text = stdout(out).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("169.254.169.254 is a cloud instance-metadata service"),
            "{text}"
        );
        assert!(!text.contains("did not answer"), "{text}");
    }
    // Nothing waited on a connection to the address.
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    let refused = run(
        &c,
        &["doctor", "-A", "--trust-provider-host", "169.254.169.254"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(common::stderr(&refused).contains("never contacted"));
}
