//! Issue 12's leak rule over the outputs it added: the Vault explanation (policies, role and mount
//! read with the operator's VAULT_TOKEN) and the pull-secret host check (auths keys and the
//! registry username), in every format, with and without `-v`. Neither a Secret value, nor the
//! registry username, nor the operator's token may appear, as is or base64.

mod common;

use common::*;

async fn no_leak(scenario: &str, username: Option<&str>, commands: &[&[&str]]) {
    let mut env = SandboxEnv::start(scenario).await;
    env.login_vault_operator().await;
    let mut values = env.secret_values();
    values.extend(
        env.extra_env
            .iter()
            .filter(|(k, _)| k == "VAULT_TOKEN")
            .map(|(_, v)| v.clone()),
    );
    values.extend(username.map(str::to_string));
    assert!(values.len() >= 3, "{scenario}: nothing to look for");
    for command in commands {
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [false, true] {
                let mut args = command.to_vec();
                args.extend(["-o", format]);
                if verbose {
                    args.push("-v");
                }
                let what = format!("{scenario}: {}", args.join(" "));
                let o = tokio::task::block_in_place(|| env.run(&args));
                assert!(
                    o.status.code().is_some_and(|c| c <= 1),
                    "{what}: {}{}",
                    stdout(&o),
                    stderr(&o)
                );
                assert_no_leak(&o, &values, &what);
            }
        }
    }
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_vault_explanation_leaks_nothing() {
    no_leak(
        "vault-policy-kv2-path",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "billing-db", "-n", "billing"],
            &["scope", "-A"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_pull_secret_host_check_leaks_nothing() {
    no_leak(
        "pull-secret-port-missing",
        Some("billing-puller"),
        &[
            &["doctor", "-A"],
            &["describe-chain", "billing-regcred", "-n", "billing"],
            &[
                "verify-regcred",
                "--from-es",
                "billing-regcred",
                "-n",
                "billing",
            ],
        ],
    )
    .await;
}

/// Issue 12's Kubernetes-side classes: a Secret another controller owns (its hand-made value is
/// in the cluster), a missing ServiceAccount, a referent ClusterSecretStore and a stopped
/// controller (every value the Secrets hold, and the rotated one in Vault).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_ownership_and_identity_findings_leak_nothing() {
    no_leak(
        "target-owned-by-other-controller",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "invoice-signing", "-n", "billing"],
            &["scope", "-A"],
        ],
    )
    .await;
    no_leak(
        "referent-service-account-missing",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "session-key", "-n", "team-purple"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_service_account_and_controller_findings_leak_nothing() {
    no_leak(
        "service-account-missing",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "ledger-db", "-n", "ledger"],
        ],
    )
    .await;
    no_leak(
        "eso-controller-scaled-down",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "etl-api", "-n", "warehouse"],
        ],
    )
    .await;
}

/// The rest of issue 12's Kubernetes-side and ESO scenarios, through doctor (every finding of
/// every check, the ESO log lines it quotes): none prints a value it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_store_reference_and_eso_findings_leak_nothing() {
    for scenario in [
        "store-other-namespace",
        "ces-owned-store-typo",
        "eso-controller-duplicate",
        "eso-webhook-unavailable",
    ] {
        no_leak(scenario, None, &[&["doctor", "-A"]]).await;
    }
}
