//! The leak rule over issue 14's named scenarios: a ConfigMap target ESO wrote secret values into
//! (and one it deleted), a per-entry store override and a closed sync window. Every command that
//! reads them, in every format, with and without `-v`: no scenario value, as is or base64.

#![cfg(feature = "sandbox")]

mod common;

use common::leak::{assert_none_leaked, every_format};
use common::*;

async fn no_leak(scenario: &str, commands: &[&[&str]]) {
    let env = SandboxEnv::start(scenario).await;
    let values = env.secret_values();
    assert!(!values.is_empty(), "{scenario}: nothing to look for");
    let outputs = every_format(&env, scenario, commands);
    assert_none_leaked(&outputs, &values);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_configmap_targets_leak_nothing() {
    no_leak(
        "configmap-target-deleted",
        &[
            &["doctor", "-A"],
            &["describe-chain", "checkout-flags", "-n", "shop"],
            &["describe-chain", "checkout-settings", "-n", "shop"],
            &["scope", "-A"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_per_entry_stores_and_sync_windows_leak_nothing() {
    no_leak(
        "per-entry-store-broken",
        &[
            &["doctor", "-A"],
            &["describe-chain", "order-service-mixed", "-n", "prod"],
        ],
    )
    .await;
    no_leak(
        "sync-window-closed",
        &[
            &["doctor", "-A"],
            &["describe-chain", "ledger-db", "-n", "payments"],
            &["scope", "-A"],
        ],
    )
    .await;
}
