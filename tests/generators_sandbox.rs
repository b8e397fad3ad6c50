//! Issue 14 part A, generators, against the sandbox scenario `generator-role-removed`: pull secrets
//! made by VaultDynamicSecret generators with no secretStoreRef, one broken by a detached Vault
//! policy, and a Password generator. describe-chain walks ExternalSecret -> generator -> its
//! credentials -> Vault (asking capabilities on the generator's path, never reading it), doctor and
//! scope name the generator's failure with its own code, nothing says "names no store", and no
//! secret value leaks in any format.

#![cfg(feature = "sandbox")]

mod common;

use common::{SandboxEnv, assert_no_leak, stderr};
use serde_json::Value;

const SCENARIO: &str = "generator-role-removed";

fn link<'a>(chain: &'a Value, name: &str) -> &'a Value {
    chain["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["link"] == name)
        .unwrap_or_else(|| panic!("no link {name}: {chain:#}"))
}

/// One sandbox for every check: starting it is the expensive part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_generator_made_secrets() {
    let env = SandboxEnv::start(SCENARIO).await;
    describe_chain_walks_generators(&env);
    doctor_and_scope_blame_the_generator(&env);
    no_secret_value_leaks_from_generator_chains(&env);
    env.sandbox.shutdown().await;
}

fn describe_chain_walks_generators(env: &SandboxEnv) {
    // A Password generator: no store, no provider, healthy.
    let (code, chain) = env.json(&["describe-chain", "session-key", "-n", "prod", "-o", "json"]);
    assert_eq!(code, Some(0), "{chain:#}");
    let store = link(&chain, "store");
    assert_eq!(store["state"], "ok", "{chain:#}");
    assert!(
        store["summary"]
            .as_str()
            .is_some_and(|s| s.contains("generator Password prod/session-key")),
        "{store:#}"
    );
    assert!(!chain.to_string().contains("names no store"), "{chain:#}");

    // A ClusterGenerator running Password: the same, named as the cluster-wide object it is.
    let (code, chain) = env.json(&["describe-chain", "api-key", "-n", "prod", "-o", "json"]);
    assert_eq!(code, Some(0), "{chain:#}");
    let store = link(&chain, "store");
    assert_eq!(store["state"], "ok", "{chain:#}");
    assert!(
        store["summary"].as_str().is_some_and(
            |s| s.contains("ClusterGenerator shared-api-key") && s.contains("Password")
        ),
        "{store:#}"
    );
    assert_eq!(link(&chain, "provider")["state"], "ok", "{chain:#}");

    // A VaultDynamicSecret still allowed: logged in as ESO, the path readable, not read.
    let (code, chain) = env.json(&[
        "describe-chain",
        "payment-service-regcred",
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{chain:#}");
    assert_eq!(link(&chain, "provider")["state"], "ok", "{chain:#}");
    let calls: Vec<&str> = chain["provider"]["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        calls.iter().any(|c| c.contains("sys/capabilities-self")),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("GET") && c.contains("registry-dynamic/payment-service")),
        "the generator's path must never be read (it would mint): {calls:?}"
    );

    // The broken one: the provider link names the path without read, the verdict the code.
    let (code, chain) = env.json(&[
        "describe-chain",
        "order-service-regcred",
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(1), "{chain:#}");
    assert_eq!(link(&chain, "store")["state"], "ok", "{chain:#}");
    assert_eq!(link(&chain, "provider")["state"], "broken", "{chain:#}");
    let cause = chain["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("registry-dynamic/order-service"),
        "{:#}",
        chain["verdict"]
    );
    assert_eq!(
        chain["verdict"]["code"], "generator-failed",
        "{:#}",
        chain["verdict"]
    );
}

fn doctor_and_scope_blame_the_generator(env: &SandboxEnv) {
    let (code, doctor) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{doctor:#}");
    let findings: Vec<&Value> = doctor["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["findings"].as_array().into_iter().flatten())
        .collect();
    assert!(
        findings.iter().any(|f| f["code"] == "generator-failed"
            && f["object"] == "ExternalSecret prod/order-service-regcred"),
        "{doctor:#}"
    );
    // The healthy generators are not blamed, and nothing calls a store missing.
    for f in &findings {
        let object = f["object"].as_str().unwrap_or_default();
        assert!(
            !object.contains("payment-service-regcred")
                && !object.contains("session-key")
                && !object.contains("api-key"),
            "{f:#}"
        );
        assert!(
            !f["code"].as_str().unwrap_or_default().starts_with("store-"),
            "{f:#}"
        );
    }

    let (_, scope) = env.json(&["scope", "-A", "-o", "json"]);
    let text = scope.to_string();
    assert!(!text.contains("names no usable store"), "{scope:#}");
    let verdicts: Vec<&str> = scope["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["message"].as_str())
        .collect();
    assert!(
        verdicts.iter().any(|m| m.contains(
            "prod/order-service-regcred fails on its generator VaultDynamicSecret/order-service-registry"
        )),
        "{verdicts:?}"
    );
}

fn no_secret_value_leaks_from_generator_chains(env: &SandboxEnv) {
    let mut values = env.secret_values();
    // The Password generators' output is made at run time: look for it too.
    for target in ["session-key", "api-key"] {
        if let Some(s) = env
            .sandbox
            .api()
            .store()
            .get("v1", "Secret", Some("prod"), target)
            && let Some(pw) = s.pointer("/data/password").and_then(Value::as_str)
        {
            values.push(pw.to_string());
            if let Ok(raw) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, pw)
            {
                values.push(String::from_utf8_lossy(&raw).into_owned());
            }
        }
    }
    assert!(values.len() >= 5, "nothing to look for");
    for name in [
        "order-service-regcred",
        "payment-service-regcred",
        "session-key",
        "api-key",
    ] {
        for format in ["table", "wide", "json", "yaml"] {
            let o = env.run(&["describe-chain", name, "-n", "prod", "-o", format, "-vv"]);
            assert!(
                o.status.code().is_some_and(|c| c < 2),
                "{name} {format}: {}",
                stderr(&o)
            );
            assert_no_leak(&o, &values, &format!("{name} {format}"));
        }
    }
    for format in ["table", "json"] {
        let o = env.run(&["doctor", "-A", "-o", format]);
        assert_no_leak(&o, &values, &format!("doctor {format}"));
    }
}
