//! Issue 7, `kubectl eso verify-regcred`, end to end: the built binary against the sandbox's
//! incident B (`vault-policy-removed`): the regcred still holds the old registry credentials, the
//! sandbox registry has rotated them, and the order-service pods are stuck in ImagePullBackOff.
//! Also the leak test: no password, `auth` value or token in stdout/stderr, in any output format,
//! with `-v`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

const USERS: &[&str] = &[
    "order-service",
    "payment-service",
    "inventory-service",
    "user-service",
];

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    ca_file: String,
}

async fn start(scenario: &str) -> Env {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: scenario.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(
        dir.path(),
        "sandbox.kubeconfig",
        &sandbox.api().kubeconfig(Some("prod")),
    );
    let ca_file = write_file(dir.path(), "registry-ca.pem", &sandbox.registry().ca_pem())
        .display()
        .to_string();
    Env {
        sandbox,
        _dir: dir,
        kubeconfig,
        ca_file,
    }
}

/// Waits until the sandbox kubelet has put `count` pods of the deployment into a pull back-off.
async fn wait_for_stuck_pods(env: &Env, prefix: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stuck = env
            .sandbox
            .api()
            .store()
            .list("v1", "Pod", Some("prod"))
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
                    && p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                        == "ImagePullBackOff"
            })
            .count();
        if stuck >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {stuck} {prefix} pods in ImagePullBackOff after 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every form a leaked credential could take: every secret value the sandbox holds (common helper: canaries,
/// stored and decoded Secret data, `auth` / `password` inside dockerconfigjson, data-hash) plus the base64 of
/// `user:password` as an `auth` field would hold it.
fn leak_forms(sandbox: &Sandbox) -> Vec<String> {
    let mut forms = sandbox_secret_values(sandbox);
    for canary in sandbox.canaries() {
        for user in USERS {
            forms.push(b64(&format!("{user}:{canary}")));
        }
    }
    forms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue7_incident_b_regcred_is_unauthorized_with_stuck_pods() {
    let env = start("vault-policy-removed").await;
    wait_for_stuck_pods(&env, "order-service", 1).await;
    let registry = env.sandbox.registry().host();
    let args = [
        "verify-regcred",
        "regcred-order-service",
        "-n",
        "prod",
        "--ca-file",
        env.ca_file.as_str(),
    ];
    let o = run_with(&env.kubeconfig, &args, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains(&registry), "{out}");
    assert!(out.contains("unauthorized"), "{out}");
    assert!(out.contains("authentication required"), "{out}");
    assert!(out.contains("ImagePullBackOff"), "{out}");
    assert!(out.contains("order-service-"), "{out}");

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let o = run_with(&env.kubeconfig, &json_args, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(report["registries"][0]["outcome"], "unauthorized");
    assert_eq!(report["registries"][0]["username"], "order-service");
    assert_eq!(report["stuckPods"][0]["reason"], "ImagePullBackOff");
    assert_eq!(report["images"][0]["outcome"], "unauthorized", "{report:#}");

    let forms = leak_forms(&env.sandbox);
    assert!(!forms.is_empty(), "the sandbox should name its canaries");
    for format in ["table", "wide", "json", "yaml"] {
        let mut leak_args = args.to_vec();
        leak_args.extend(["-o", format, "-v", "-v"]);
        let o = run_with(&env.kubeconfig, &leak_args, &[]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert_no_leak(&o, &forms, "verify-regcred");
    }
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue7_a_working_regcred_exits_zero_and_follows_its_external_secret() {
    let env = start("vault-policy-removed").await;
    let ca = env.ca_file.as_str();
    let o = run_with(
        &env.kubeconfig,
        &[
            "verify-regcred",
            "--from-es",
            "payment-service-regcred",
            "-n",
            "prod",
            "--ca-file",
            ca,
        ],
        &[],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("regcred-payment-service"), "{out}");
    assert!(out.contains("OK: every registry"), "{out}");
    assert_no_leak(&o, &leak_forms(&env.sandbox), "verify-regcred");

    // Without the sandbox CA the registry's certificate is not trusted: a finding, not a crash.
    let o = run_with(
        &env.kubeconfig,
        &[
            "verify-regcred",
            "regcred-payment-service",
            "-n",
            "prod",
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(
        report["registries"][0]["outcome"], "tls-error",
        "{report:#}"
    );

    let missing = run_with(
        &env.kubeconfig,
        &["verify-regcred", "nope", "-n", "prod"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stdout(&missing));
    assert!(
        stderr(&missing).contains("Secret prod/nope not found"),
        "{}",
        stderr(&missing)
    );
    env.sandbox.shutdown().await;
}
