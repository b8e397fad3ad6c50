//! Issue 5 "Done when" against the sandbox scenarios: the built binary walks one ExternalSecret per
//! incident and must name the right broken link and cause (incident B: the role, its policies and
//! the path without read; incident A: expired client secret, wrong key, disabled secret; a
//! rotation that did not propagate), exit 0 on the healthy scenario, stay within one login and one
//! capabilities call per store, and never print a secret value in any format, with or without -v.
//! Key Vault is reached as an Azure Stack user would reach it: HTTPS_PROXY and --provider-ca-file.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use std::process::Output;

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    ca_file: Option<std::path::PathBuf>,
    proxy: Option<String>,
}

async fn start(scenario: &str) -> Env {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: scenario.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
    let ca_file = sandbox
        .akv()
        .map(|a| write_file(dir.path(), "provider-ca.pem", &a.ca_pem()));
    let proxy = sandbox.akv().map(|a| a.proxy_url());
    Env {
        sandbox,
        _dir: dir,
        kubeconfig,
        ca_file,
        proxy,
    }
}

impl Env {
    /// `describe-chain` with the provider CA and the proxy a user of this cloud would configure.
    fn chain(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = vec!["describe-chain"];
        all.extend_from_slice(args);
        let ca = self
            .ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        if let Some(ca) = &ca {
            all.push("--provider-ca-file");
            all.push(ca);
        }
        // The sandbox's Vault is on loopback and its stores are namespaced: vouch for it as
        // `kubectl eso sandbox` does (issue 18).
        let mut env = vec![
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("KUBECTL_ESO_TRUST_PROVIDER_HOST", "127.0.0.1"),
        ];
        if let Some(p) = &self.proxy {
            env.push(("HTTPS_PROXY", p));
        }
        run_with(&self.kubeconfig, &all, &env)
    }

    fn json(&self, args: &[&str]) -> (Output, Value) {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let o = self.chain(&a);
        let v = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o)));
        (o, v)
    }

    /// Every secret value in the scenario and in the cluster (as in tests/sandbox_scope.rs).
    fn secret_values(&self) -> Vec<String> {
        let mut out = self.sandbox.canaries();
        for secret in self.sandbox.api().store().list("v1", "Secret", None) {
            // ESO's data-hash annotation is an unkeyed hash of the values: it must not be printed either.
            if let Some(h) =
                secret["metadata"]["annotations"]["reconcile.external-secrets.io/data-hash"]
                    .as_str()
            {
                out.push(h.to_string());
            }
            for (_, v) in secret["data"].as_object().into_iter().flatten() {
                let Some(b64) = v.as_str() else { continue };
                if b64.len() >= 8 {
                    out.push(b64.to_string());
                }
                let Ok(plain) = STANDARD.decode(b64) else {
                    continue;
                };
                let plain = String::from_utf8_lossy(&plain).into_owned();
                if let Ok(cfg) = serde_json::from_str::<Value>(&plain) {
                    for (_, entry) in cfg["auths"].as_object().into_iter().flatten() {
                        for field in ["auth", "password"] {
                            if let Some(s) = entry[field].as_str() {
                                out.push(s.to_string());
                            }
                        }
                    }
                }
                if plain.len() >= 8 {
                    out.push(plain);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn assert_no_leak(o: &Output, values: &[String], what: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for v in values {
        for form in [v.clone(), STANDARD.encode(v), URL_SAFE_NO_PAD.encode(v)] {
            assert!(
                !all.contains(&form),
                "{what}: a secret value leaked ({} chars) in:\n{all}",
                form.len()
            );
        }
    }
}

fn verdict(v: &Value) -> (String, String, String) {
    (
        v["verdict"]["link"].as_str().unwrap_or("").to_string(),
        v["verdict"]["cause"].as_str().unwrap_or("").to_string(),
        v["verdict"]["next"].to_string(),
    )
}

fn calls(v: &Value, needle: &str) -> usize {
    v["provider"]["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.as_str().is_some_and(|c| c.contains(needle)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_removed_names_role_policies_path_and_the_stuck_deployment() {
    let env = start("vault-policy-removed").await;
    let (o, v) = env.json(&["order-service-regcred", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (link, cause, next) = verdict(&v);
    assert_eq!(link, "provider", "{v:#}");
    assert_eq!(
        cause,
        "role external-secrets-operator grants policies [default, eso-default, \
         eso-inventory-service, eso-payment-service, eso-user-service]; none allows read on \
         registry-creds/data/order-service"
    );
    assert!(
        next.contains("vault policy read eso-order-service"),
        "{next}"
    );
    assert!(
        next.contains("kubectl eso force-sync order-service-regcred -n prod"),
        "{next}"
    );
    assert!(
        next.contains("kubectl rollout restart deployment/order-service -n prod"),
        "{next}"
    );
    assert!(
        v["verdict"]["impact"]
            .to_string()
            .contains("deployment/order-service (ImagePullBackOff)"),
        "{v:#}"
    );
    // One login and one batched capabilities call for the store; nothing per consumer pod.
    assert_eq!(calls(&v, "/login"), 1, "{}", v["provider"]["calls"]);
    assert_eq!(calls(&v, "sys/capabilities-self"), 1);
    assert!(
        v["provider"]["calls"]
            .as_array()
            .is_some_and(|c| c.len() <= 4)
    );

    // The table says the same in words.
    let o = env.chain(&["order-service-regcred", "-n", "prod"]);
    let text = stdout(&o);
    // Issue 13: the verdict comes first, with the root cause's code.
    assert!(
        text.starts_with("Verdict:  Provider link broken (vault-policy-denied)"),
        "{text}"
    );
    assert!(text.contains("ImagePullBackOff"), "{text}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_exits_zero_for_vault_and_key_vault() {
    let env = start("healthy").await;
    for (name, ns) in [
        ("order-service-regcred", "prod"),
        ("netbox-db-password", "netbox"),
    ] {
        let (o, v) = env.json(&[name, "-n", ns]);
        assert_eq!(o.status.code(), Some(0), "{name}: {v:#}\n{}", stderr(&o));
        assert_eq!(v["verdict"]["state"], "ok", "{v:#}");
        assert!(v["provider"]["probed"].as_bool().unwrap_or(false));
    }
    // Key Vault values are compared with the target in memory: the report only says yes.
    let (_, v) = env.json(&["netbox-db-password", "-n", "netbox"]);
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_incidents_get_the_right_link_and_cause() {
    let cases = [
        (
            "akv-sp-secret-expired",
            "credentials",
            "client secret has expired",
        ),
        (
            "akv-wrong-key",
            "provider",
            "no secret named netbox-db-pasword (404 SecretNotFound); did you mean netbox-db-password?",
        ),
        (
            "akv-secret-disabled",
            "provider",
            "netbox-db-password is disabled",
        ),
        ("rotation-not-propagated", "target", "CreatedOnce"),
    ];
    for (scenario, want_link, want_cause) in cases {
        let env = start(scenario).await;
        let (o, v) = env.json(&["netbox-db-password", "-n", "netbox"]);
        assert_eq!(o.status.code(), Some(1), "{scenario}: {}", stderr(&o));
        let (link, cause, _) = verdict(&v);
        assert_eq!(link, want_link, "{scenario}: {v:#}");
        assert!(cause.contains(want_cause), "{scenario}: {cause}");
        env.sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_probe_makes_no_provider_call_and_marks_the_provider_unknown() {
    let env = start("vault-policy-removed").await;
    let (_, v) = env.json(&["order-service-regcred", "-n", "prod", "--no-probe"]);
    assert_eq!(v["provider"]["probed"], false);
    assert_eq!(calls(&v, ""), 0);
    let provider = v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["link"] == "provider")
        .cloned()
        .unwrap_or_default();
    assert_eq!(provider["state"], "unknown", "{v:#}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_leaks_from_describe_chain_in_any_format() {
    let cases = [
        ("healthy", "order-service-regcred", "prod"),
        ("healthy", "netbox-db-password", "netbox"),
        ("vault-policy-removed", "order-service-regcred", "prod"),
        ("akv-sp-secret-expired", "netbox-db-password", "netbox"),
        ("akv-wrong-key", "netbox-db-password", "netbox"),
        ("akv-secret-disabled", "netbox-db-password", "netbox"),
        ("rotation-not-propagated", "netbox-db-password", "netbox"),
    ];
    for (scenario, name, ns) in cases {
        let env = start(scenario).await;
        let values = env.secret_values();
        assert!(values.len() >= 3, "{scenario}: nothing to look for");
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [false, true] {
                let mut args = vec![name, "-n", ns, "-o", format];
                if verbose {
                    args.push("-vv");
                }
                let o = env.chain(&args);
                assert!(
                    o.status.code().is_some_and(|c| c < 2),
                    "{scenario} {format}: {}",
                    stderr(&o)
                );
                assert_no_leak(
                    &o,
                    &values,
                    &format!("{scenario} {name} {format} -v={verbose}"),
                );
            }
        }
        env.sandbox.shutdown().await;
    }
}
