//! Issue 14 part A, per-entry stores, in the sandbox scenario `per-entry-store-broken`: an
//! ExternalSecret reads one key from its
//! healthy `secretStoreRef` and another from a `data[].sourceRef.storeRef` whose store is broken
//! (its token Secret is missing). The simulated ESO fails it naming that store; describe-chain walks
//! both stores (the broken one is the verdict, not the default store) and doctor and scope put the
//! failure on the per-entry store.

#![cfg(feature = "sandbox")]

mod common;

use common::SandboxEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_a_broken_per_entry_store_is_found_and_blamed() {
    let env = SandboxEnv::start("per-entry-store-broken").await;

    let (code, chain) = env.json(&[
        "describe-chain",
        "order-service-mixed",
        "-n",
        "prod",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(1), "{chain:#}");
    let stores: Vec<(&str, &str)> = chain["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["link"] == "store")
        .map(|l| {
            (
                l["state"].as_str().unwrap_or_default(),
                l["summary"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(stores.len(), 2, "{chain:#}");
    assert_eq!(stores[0].0, "ok", "{stores:?}");
    assert!(
        stores[0].1.starts_with("SecretStore prod/vault "),
        "{stores:?}"
    );
    assert_eq!(stores[1].0, "broken", "{stores:?}");
    assert!(
        stores[1].1.starts_with("SecretStore prod/vault-legacy"),
        "{stores:?}"
    );
    // The root cause is the per-entry store's missing token, not the default store.
    let cause = chain["verdict"]["cause"].as_str().unwrap_or_default();
    assert_eq!(
        chain["verdict"]["code"], "credentials-secret-missing",
        "{:#}",
        chain["verdict"]
    );
    assert!(
        cause.contains("vault-legacy-token"),
        "{:#}",
        chain["verdict"]
    );
    // The entry read from vault-legacy is marked so the default store is not asked for it.
    let refs = &chain["externalSecret"]["remoteRefs"];
    assert_eq!(
        refs[1]["otherStore"], "SecretStore vault-legacy",
        "{refs:#}"
    );
    assert!(refs[0].get("otherStore").is_none(), "{refs:#}");

    let (code, doctor) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{doctor:#}");
    let text = doctor["findings"].to_string();
    assert!(text.contains("vault-legacy"), "{doctor:#}");
    let (_, scope) = env.json(&["scope", "-A", "-o", "json"]);
    let row = scope["externalSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "order-service-mixed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["store"]["name"], "vault-legacy", "{row:#}");
    env.sandbox.shutdown().await;
}
