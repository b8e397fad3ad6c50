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
                // Nor a ServiceAccount token (the probe mints them for workload identity and
                // Vault's kubernetes auth): a JWS header starts `eyJhbGci`.
                let all = format!("{}{}", stdout(&o), stderr(&o));
                assert!(!all.contains("eyJhbGci"), "{what}: a JWT leaked in:\n{all}");
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

/// Issue 12's provider classes added with scenarios: soft-deleted Vault and Key Vault secrets, a
/// revoked Vault token and a destroyed AppRole secret-id (both canaries), a refused TokenReview (the SubjectAccessReview and
/// the auth mount's config read with the operator's token) and a workload-identity subject
/// mismatch (the ServiceAccount token exchanged with Entra ID), and an expired Key Vault secret
/// that ESO still syncs (its value is in the target Secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_vault_provider_classes_leak_nothing() {
    no_leak(
        "vault-secret-soft-deleted",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "stripe-api", "-n", "invoices"],
        ],
    )
    .await;
    no_leak(
        "vault-token-revoked",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "warehouse-dsn", "-n", "reporting"],
        ],
    )
    .await;
    no_leak(
        "vault-approle-secret-id-expired",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "clickhouse-creds", "-n", "analytics"],
        ],
    )
    .await;
    no_leak(
        "vault-role-missing",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "warehouse-api", "-n", "inventory"],
        ],
    )
    .await;
    no_leak(
        "vault-tokenreview-forbidden",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "carrier-api", "-n", "shipping"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_azure_provider_classes_leak_nothing() {
    no_leak(
        "akv-secret-soft-deleted",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "smtp-relay", "-n", "mail"],
        ],
    )
    .await;
    no_leak(
        "akv-secret-expired",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "smtp-relay", "-n", "mail"],
        ],
    )
    .await;
    no_leak(
        "akv-federated-subject-mismatch",
        None,
        &[
            &["doctor", "-A"],
            &["describe-chain", "stripe-webhook", "-n", "payments"],
        ],
    )
    .await;
}
