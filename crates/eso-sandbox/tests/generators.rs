//! Issue 14: the simulated ESO serves generators as ESO does. An ExternalSecret with only a
//! `dataFrom[].sourceRef.generatorRef` (no secretStoreRef) is valid: a Password generator makes a
//! password, a VaultDynamicSecret logs in to Vault with its own provider block and reads its path,
//! and when the Vault policy behind one is detached the ExternalSecret fails with ESO's
//! "error using generator" text while the others stay synced.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

const ES: &str = "external-secrets.io/v1";

fn ready(sandbox: &Sandbox, name: &str) -> Option<(String, String)> {
    let es = sandbox
        .api()
        .store()
        .get(ES, "ExternalSecret", Some("prod"), name)?;
    let c = es
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str().unwrap_or_default().to_string(),
    ))
}

fn secret_key(sandbox: &Sandbox, name: &str, key: &str) -> Option<Vec<u8>> {
    let s = sandbox
        .api()
        .store()
        .get("v1", "Secret", Some("prod"), name)?;
    STANDARD
        .decode(
            s.pointer(&format!("/data/{}", key.replace('/', "~1")))?
                .as_str()?,
        )
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_generators_sync_and_a_detached_policy_fails_the_generator() {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: "generator-role-removed".into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox did not start: {e:#}"));

    // Password generator: no store at all, a fresh 32-character password.
    assert_eq!(
        ready(&sandbox, "session-key"),
        Some(("True".into(), "SecretSynced".into()))
    );
    let pw = secret_key(&sandbox, "session-key", "password").unwrap_or_default();
    assert_eq!(pw.len(), 32, "password length");
    assert_eq!(pw.iter().filter(|b| b.is_ascii_digit()).count(), 6);

    // VaultDynamicSecret still allowed by policy: synced, the registry credentials templated in.
    assert_eq!(
        ready(&sandbox, "payment-service-regcred"),
        Some(("True".into(), "SecretSynced".into()))
    );
    let cfg =
        secret_key(&sandbox, "regcred-payment-service", ".dockerconfigjson").unwrap_or_default();
    let cfg: Value = serde_json::from_slice(&cfg).unwrap_or_default();
    let auths = cfg["auths"].as_object().cloned().unwrap_or_default();
    assert!(
        auths.values().any(|a| a["username"] == "payment-service"),
        "{cfg}"
    );

    // The detached policy: the generator's read is refused, ESO's words in the Warning event.
    assert_eq!(
        ready(&sandbox, "order-service-regcred"),
        Some(("False".into(), "SecretSyncedError".into()))
    );
    let events = sandbox.api().store().list("v1", "Event", Some("prod"));
    let text: Vec<String> = events
        .iter()
        .filter(|e| {
            e.pointer("/involvedObject/name") == Some(&Value::from("order-service-regcred"))
        })
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        text.iter().any(
            |m| m.starts_with("error using generator: unable to get dynamic secret:")
                && m.contains("permission denied")
        ),
        "{text:?}"
    );
    sandbox.shutdown().await;
}
