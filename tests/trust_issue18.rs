//! Issue 18 ("never crash on data", bounded everything, readable errors), end to end: the built
//! binary against the simulated apiserver — a refreshInterval no Go duration can hold, huge flag
//! values, an existing force-sync annotation at i64::MAX, a 429 storm with Retry-After, a provider
//! that never answers, a 10 MB Event message, a Vault key with `..`, and API errors that used to
//! print Rust's debug dump. The sandbox's `--fault` flag is tested here too: it is how the real
//! binary meets 403 / 429 / 500 / hangs / dropped watches from outside the process.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use kube_sim::{EsoCrds, Fault};
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

/// A synced ExternalSecret in prod on a ready Vault SecretStore, with its target Secret.
fn seed_synced(c: &Cluster, interval: &str) -> Value {
    c.namespaces(&["prod"]);
    let store = c.create(vault_secret_store(V1, "prod", "vault"));
    c.set_status(&store, store_status(true, "Valid"));
    let mut es = external_secret(V1, "prod", "order", "SecretStore", "vault", "order-creds");
    es["spec"]["refreshInterval"] = json!(interval);
    let es = c.create(es);
    let es = c.set_status(&es, es_status(true, &ago(600)));
    c.create(owned_secret(
        &es,
        "order-creds",
        "Opaque",
        "password",
        "pw-canary-18",
    ));
    es
}

fn assert_not_a_crash(o: &Output, what: &str) {
    let err = stderr(o);
    assert_ne!(
        o.status.code(),
        Some(2),
        "{what} exited 2:\n{err}{}",
        stdout(o)
    );
    assert!(
        !err.contains("internal error") && !err.contains("overflow"),
        "{what}: {err}"
    );
}

fn assert_one_line_usage_error(o: &Output, part: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}{}", stdout(o));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(part), "{err}");
    assert!(!err.contains("internal error"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_a_refresh_interval_no_go_duration_can_hold_does_not_stop_any_command() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_synced(&c, "3000000000000000h");
    for args in [
        vec!["scope", "-n", "prod"],
        vec!["scope", "-A", "-o", "json"],
        vec!["doctor", "-n", "prod", "--no-probe"],
        vec![
            "describe-chain",
            "order",
            "-n",
            "prod",
            "--no-probe",
            "-o",
            "json",
        ],
    ] {
        let o = c.run(&args);
        assert_not_a_crash(&o, &args.join(" "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_huge_flag_durations_are_one_line_errors_and_write_nothing() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_synced(&c, "1h");
    let huge = "300000000000y";
    let o = c.run(&["force-sync", "order", "-n", "prod", "--timeout", huge]);
    assert_one_line_usage_error(&o, "--timeout \"300000000000y\": longer than the maximum");
    let es = c
        .api
        .store()
        .get(V1, "ExternalSecret", Some("prod"), "order")
        .unwrap_or_default();
    assert!(
        es.pointer("/metadata/annotations/force-sync").is_none(),
        "force-sync wrote the annotation before failing: {es}"
    );
    let o = c.run(&["scope", "-n", "prod", "--request-timeout", huge]);
    assert_one_line_usage_error(&o, "--request-timeout");
    let o = c.run(&["doctor", "-n", "prod", "--provider-timeout", huge]);
    assert_one_line_usage_error(&o, "--provider-timeout");
    let o = c.run(&["describe-chain", "order", "-n", "prod", "--timeout", huge]);
    assert_one_line_usage_error(&o, "--timeout");
    let o = c.run(&[
        "verify-regcred",
        "order-creds",
        "-n",
        "prod",
        "--timeout",
        huge,
    ]);
    assert_one_line_usage_error(&o, "--timeout");
    let o = c.run(&["doctor", "-n", "prod", "--stale-after", huge]);
    assert_one_line_usage_error(&o, "--stale-after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_an_existing_force_sync_annotation_at_i64_max_is_not_wrapped_negative() {
    let c = Cluster::start(EsoCrds::V1).await;
    let es = seed_synced(&c, "1h");
    let mut annotated = es.clone();
    annotated["metadata"]["annotations"] = json!({"force-sync": i64::MAX.to_string()});
    if let Err(e) = c.api.store().replace(annotated) {
        panic!("annotating: {e:?}");
    }
    let o = c.run(&["force-sync", "order", "-n", "prod", "--no-wait"]);
    assert_not_a_crash(&o, "force-sync");
    let es = c
        .api
        .store()
        .get(V1, "ExternalSecret", Some("prod"), "order")
        .unwrap_or_default();
    let value = es
        .pointer("/metadata/annotations/force-sync")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let n: i64 = value.parse().unwrap_or(-1);
    assert!(
        n > 0 && value != i64::MAX.to_string(),
        "annotation {value:?}\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_429_with_retry_after_stays_within_the_request_timeout() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_synced(&c, "1h");
    c.api.faults().set(
        "externalsecrets",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    let o = c.run(&["scope", "-n", "prod", "--request-timeout", "2s"]);
    let took = started.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(err.contains("429 Too Many Requests"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Without --request-timeout the default budget bounds it too.
    c.api.faults().set(
        "externalsecrets",
        Fault::TooManyRequests {
            retry_after_secs: 1000,
        },
    );
    let started = Instant::now();
    let o = c.run(&["scope", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_api_errors_are_one_readable_line_naming_server_and_context() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_synced(&c, "1h");
    c.api.faults().set("externalsecrets", Fault::Forbidden);
    let o = c.run(&["scope", "-n", "prod"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot list externalsecrets in prod: 403 Forbidden: ")
            && err.contains(&format!("server {}", c.api.url()))
            && err.contains("context kube-sim"),
        "{err}"
    );
    for dump in ["Status {", "Some(", "ApiError", "metadata:"] {
        assert!(!err.contains(dump), "{dump} in {err}");
    }
}

/// A TCP listener on loopback that accepts connections and never answers.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64).flatten() {
            held.push(stream);
        }
    });
    (port, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_doctor_provider_timeout_follows_the_flag() {
    let c = Cluster::start(EsoCrds::V1).await;
    let (port, _server) = silent_server();
    c.namespaces(&["prod", "external-secrets"]);
    c.create(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "vault-token", "namespace": "external-secrets"},
        "data": {"token": b64("hvs.issue18-token")}
    }));
    let store = c.create(json!({
        "apiVersion": V1, "kind": "ClusterSecretStore", "metadata": {"name": "silent"},
        "spec": {"provider": {"vault": {
            "server": format!("http://127.0.0.1:{port}"), "path": "secret", "version": "v2",
            "auth": {"tokenSecretRef": {"name": "vault-token", "namespace": "external-secrets", "key": "token"}}
        }}}
    }));
    c.set_status(&store, store_status(true, "Valid"));
    let es = c.create(external_secret(
        V1,
        "prod",
        "order",
        "ClusterSecretStore",
        "silent",
        "order-creds",
    ));
    c.set_status(&es, es_status(true, &ago(10)));
    let started = Instant::now();
    let o = c.run(&["doctor", "-n", "prod", "--provider-timeout", "1s"]);
    let took = started.elapsed();
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("did not answer within 1s") || out.contains("no answer from Vault"),
        "the silent provider is not reported:\n{out}"
    );
    assert!(
        took < Duration::from_secs(20),
        "doctor took {took:?}: the probe did not follow --provider-timeout 1s\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_a_10_mb_event_message_is_cut_in_every_output() {
    let c = Cluster::start(EsoCrds::V1).await;
    let es = seed_synced(&c, "1h");
    let es = c.set_status(&es, es_status(false, &ago(5)));
    let huge = format!("permission denied {}", "x".repeat(10 * 1024 * 1024));
    c.create(update_failed_event(&es, &huge, &ago(1)));
    for args in [
        vec![
            "describe-chain",
            "order",
            "-n",
            "prod",
            "--no-probe",
            "-o",
            "json",
        ],
        vec!["describe-chain", "order", "-n", "prod", "--no-probe"],
        vec!["scope", "-n", "prod", "-o", "json"],
        vec!["scope", "-n", "prod", "-o", "wide"],
        vec!["doctor", "-n", "prod", "--no-probe", "-o", "json"],
    ] {
        let o = c.run(&args);
        let out = stdout(&o);
        assert!(
            out.len() < 64 * 1024 && stderr(&o).len() < 64 * 1024,
            "{}: {} bytes of output",
            args.join(" "),
            out.len()
        );
        if args.contains(&"describe-chain") && args.contains(&"json") {
            assert!(
                out.contains("bytes in all]"),
                "the cut is not marked:\n{out}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_a_remote_key_with_dot_dot_is_refused_before_vault_is_asked() {
    let env = SandboxEnv::start("healthy").await;
    let store = env.sandbox.api().store();
    let namespaced = store
        .get(V1, "SecretStore", Some("prod"), "vault")
        .unwrap_or_else(|| panic!("the healthy scenario has SecretStore prod/vault"));
    // A ClusterSecretStore (vouched for by a cluster admin) on the same Vault.
    let cluster_store = json!({
        "apiVersion": V1, "kind": "ClusterSecretStore", "metadata": {"name": "vault-cluster"},
        "spec": namespaced["spec"].clone()
    });
    if let Err(e) = store.create(cluster_store) {
        panic!("{e:?}");
    }
    let es = json!({
        "apiVersion": V1, "kind": "ExternalSecret",
        "metadata": {"name": "traversal", "namespace": "prod"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-cluster"},
            "target": {"name": "traversal"},
            "data": [{"secretKey": "policy", "remoteRef": {"key": "../../sys/policy/root"}}]
        }
    });
    if let Err(e) = store.create(es) {
        panic!("{e:?}");
    }
    let o = env.run(&["describe-chain", "traversal", "-n", "prod", "-o", "json"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains("remote key \\\"../../sys/policy/root\\\" refused"),
        "{out}"
    );
    assert!(
        !out.contains("sys/policy/root ->"),
        "Vault was asked:\n{out}"
    );
    assert!(!out.contains("\"readable\": true"), "{out}");
    let o = env.run(&["doctor", "-n", "prod"]);
    let out = stdout(&o);
    assert!(
        out.contains("remote key \"../../sys/policy/root\" refused"),
        "{out}{}",
        stderr(&o)
    );
}

/// `kubectl-eso sandbox --fault … -- <subcommand>`: the real binary against a misbehaving
/// apiserver, started and configured entirely from the command line.
fn sandbox_with_faults(faults: &[&str], command: &[&str]) -> (Output, Duration) {
    let mut cmd = match assert_cmd::Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    cmd.env_remove("KUBECONFIG").arg("sandbox");
    for f in faults {
        cmd.arg("--fault").arg(f);
    }
    cmd.arg("--kubeconfig-out")
        .arg(dir.path().join("kubeconfig"))
        .arg("--")
        .args(command)
        .timeout(Duration::from_secs(120));
    let started = Instant::now();
    match cmd.output() {
        Ok(o) => (o, started.elapsed()),
        Err(e) => panic!("running kubectl-eso sandbox: {e}"),
    }
}

#[test]
fn issue_18_sandbox_fault_flag_reaches_the_real_binary() {
    let (o, _) = sandbox_with_faults(&["externalsecrets=403"], &["scope", "-A"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("403 Forbidden"), "{err}");

    let (o, took) = sandbox_with_faults(
        &["externalsecrets=429:1"],
        &["scope", "-A", "--request-timeout", "2s"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("429"), "{err}");
    assert!(took < Duration::from_secs(60), "{took:?}");

    let (o, _) = sandbox_with_faults(&["secrets=500"], &["scope", "-A", "-o", "json"]);
    let out = stdout(&o);
    assert_ne!(o.status.code(), Some(2), "{out}{}", stderr(&o));
    assert!(out.contains("500"), "the degraded list is stated:\n{out}");

    let (o, took) = sandbox_with_faults(
        &["externalsecrets=hang"],
        &["scope", "-A", "--request-timeout", "2s"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(took < Duration::from_secs(60), "{took:?}");

    let (o, _) = sandbox_with_faults(&["externalsecrets=teapot"], &["scope", "-A"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("expected RESOURCE=FAULT"), "{err}");
}

#[test]
fn issue_18_force_sync_survives_dropped_watches_from_the_sandbox_flag() {
    let (o, _) = sandbox_with_faults(
        &["externalsecrets=drop-watch:1", "events=drop-watch:1"],
        &[
            "force-sync",
            "order-service-regcred",
            "-n",
            "prod",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_the_sandbox_eso_survives_a_refresh_interval_go_cannot_hold() {
    let env = SandboxEnv::start("healthy").await;
    let store = env.sandbox.api().store();
    let es = |name: &str, interval: &str| {
        json!({
            "apiVersion": V1, "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {
                "refreshInterval": interval,
                "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
                "target": {"name": name},
                "dataFrom": [{"extract": {"key": "order-service"}}]
            }
        })
    };
    if let Err(e) = store.create(es("huge-interval", "3000000000000000h")) {
        panic!("{e:?}");
    }
    // Give the controller time to reconcile (and, before the fix, die on) the first object.
    env.sandbox.wait_idle().await;
    if let Err(e) = store.create(es("after-it", "1h")) {
        panic!("{e:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = |name: &str| {
        store
            .get(V1, "ExternalSecret", Some("prod"), name)
            .and_then(|o| o.pointer("/status/conditions/0/status").cloned())
            == Some(json!("True"))
    };
    while !ready("after-it") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        ready("after-it"),
        "the simulated ESO stopped reconciling after the huge refreshInterval"
    );
    // And the binary reads the same objects without crashing.
    let o = env.run(&["scope", "-n", "prod"]);
    assert_not_a_crash(&o, "scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_doctor_and_describe_chain_end_by_their_deadline() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_synced(&c, "1h");
    // Each request answers, but slowly: no single request times out, the run as a whole would.
    c.api
        .faults()
        .set("externalsecrets", Fault::Latency(Duration::from_secs(20)));
    for args in [
        vec!["doctor", "-n", "prod", "--no-probe", "--deadline", "2s"],
        vec![
            "describe-chain",
            "order",
            "-n",
            "prod",
            "--no-probe",
            "--deadline",
            "2s",
        ],
    ] {
        let started = Instant::now();
        let o = c.run(&args);
        let took = started.elapsed();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", args[0]);
        assert!(err.contains("did not finish within 2s"), "{err}");
        assert!(took < Duration::from_secs(15), "{}: {took:?}", args[0]);
    }
    let o = c.run(&["doctor", "-n", "prod", "--deadline", "300000000000y"]);
    assert_one_line_usage_error(&o, "--deadline");
}
