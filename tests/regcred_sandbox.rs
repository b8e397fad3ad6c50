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
    // Issue 12: the username is secret data; only its presence and length are reported.
    assert_eq!(report["registries"][0]["username"], "set (13 chars)");
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

/// Issue 12: a pull secret's usernames (from `auth`, `username` or an `auths` key written
/// `https://user:password@host`) are secret data. None may appear in any output format, with or
/// without `-v`; only "set (N chars)" may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_usernames_never_appear_in_any_format_or_verbosity() {
    let env = start("vault-policy-removed").await;
    let registry = env.sandbox.registry().host();
    const BASIC_USER: &str = "robot$leak-canary-4b8e";
    const BASIC_PASS: &str = "pw-canary-5a1c-9f0e";
    const TOKEN_USER: &str = "idtoken-user-canary-77d1";
    const KEY_USER: &str = "keyuser-canary-3e9b";
    const KEY_PASS: &str = "keypass-canary-c02d";
    let payload = serde_json::json!({"auths": {
        format!("https://{KEY_USER}:{KEY_PASS}@{registry}/"): {
            "username": BASIC_USER,
            "password": BASIC_PASS,
            "auth": b64(&format!("{BASIC_USER}:{BASIC_PASS}")),
        },
        format!("http://{KEY_USER}@127.0.0.1:1"): {
            "username": TOKEN_USER,
            "identitytoken": "refresh-canary-8d2e-41b7",
        },
    }});
    let created = env.sandbox.api().store().create(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "regcred-leakcheck", "namespace": "prod"},
        "data": {".dockerconfigjson": b64(&payload.to_string())},
    }));
    assert!(created.is_ok(), "{created:?}");
    let forms: Vec<String> = [
        BASIC_USER,
        BASIC_PASS,
        TOKEN_USER,
        KEY_USER,
        KEY_PASS,
        "refresh-canary-8d2e-41b7",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let base = [
        "verify-regcred",
        "regcred-leakcheck",
        "-n",
        "prod",
        "--ca-file",
        env.ca_file.as_str(),
        "--timeout",
        "5s",
    ];
    for format in ["table", "wide", "json", "yaml"] {
        for verbose in [false, true] {
            let mut args = base.to_vec();
            args.extend(["-o", format]);
            if verbose {
                args.extend(["-v", "-v"]);
            }
            let o = run_with(&env.kubeconfig, &args, &[]);
            assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
            // The check ran: the registry is named and the username's presence is reported.
            assert!(stdout(&o).contains(&registry), "{format}: {}", stdout(&o));
            assert!(
                stdout(&o).contains(&format!("set ({} chars)", BASIC_USER.len())),
                "{format}: {}",
                stdout(&o)
            );
            assert_no_leak(&o, &forms, "verify-regcred");
        }
    }
    env.sandbox.shutdown().await;
}
