//! Issue 12's leak rule over the outputs it added: the Vault explanation (policies, role and mount
//! read with the operator's VAULT_TOKEN) and the pull-secret host check (auths keys and the
//! registry username), in every format, with and without `-v`. Neither a Secret value, nor the
//! registry username, nor the operator's token may appear, as is or base64.

mod common;

use common::leak::{assert_none_leaked, every_format};
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
    let outputs = every_format(&env, scenario, commands);
    // Checked after the runs: the tokens the probe was handed (Vault logins, ServiceAccount
    // tokens) are known then.
    values.extend(sandbox_run_time_secrets(&env.sandbox));
    assert_none_leaked(&outputs, &values);
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

/// Issue 15: ESO's kubernetes provider. The probe reads the remote Secret with a token it
/// requested for the store's ServiceAccount (or presenting the store's client certificate) and
/// compares it with the target: neither the value, nor the minted token, nor the client key, nor
/// any other run-time secret is printed, in any format or verbosity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_kubernetes_provider_leaks_nothing() {
    for scenario in [
        "kubernetes-shared-namespace",
        "kubernetes-rbac-missing",
        "kubernetes-cert-untrusted",
    ] {
        let env = SandboxEnv::start(scenario).await;
        let outputs = every_format(
            &env,
            scenario,
            &[
                &["doctor", "-A"],
                &["describe-chain", "billing-db", "-n", "billing"],
                &["scope", "-A"],
            ],
        );
        // Collected after the runs: the ServiceAccount tokens the probe requested are known then.
        let mut values = sandbox_run_time_secrets(&env.sandbox);
        assert!(
            values.iter().any(|v| v.contains("canary-k8s-billing-db")),
            "{scenario}: the remote Secret's value is not searched for"
        );
        // A client key: its PEM is among the Secret values; its body and each of its lines too.
        let keys: Vec<String> = values
            .iter()
            .filter(|v| v.contains("PRIVATE KEY-----"))
            .cloned()
            .collect();
        if scenario == "kubernetes-cert-untrusted" {
            assert!(
                !keys.is_empty(),
                "{scenario}: the client key is not searched for"
            );
        }
        for key in keys {
            let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
            values.push(body.concat());
            values.extend(body.iter().filter(|l| l.len() >= 16).map(|l| l.to_string()));
        }
        for (what, o) in &outputs {
            assert_no_secret_form(o, &values, what);
        }
        env.sandbox.shutdown().await;
    }
}

/// Issue 15: the AWS scenarios' outputs, in every format, with and without `-v`, and with
/// `--probe-as me` on the operator's keys. Checked after every run, against every value the
/// region holds or handed out by then: the IAM users' access key ids and secret keys, the
/// session tokens STS minted for the probe's IRSA logins, the operator's keys, secret and
/// parameter values — plain and base64.
async fn aws_no_leak(scenario: &str, commands: &[&[&str]]) {
    let mut env = SandboxEnv::start(scenario).await;
    env.login_aws_operator();
    let outputs = every_format(&env, scenario, commands);
    let mut values = env.secret_values();
    let aws = env.sandbox.aws().map(|a| a.sensitive()).unwrap_or_default();
    // Keys of the scenario's users, the operator's, and at least one minted session token.
    assert!(
        aws.iter().any(|v| v.starts_with("AKIA"))
            && aws.iter().any(|v| v.starts_with("sandbox-operator-")),
        "{scenario}: the region's credentials are missing from the leak check"
    );
    values.extend(aws);
    // And every token minted during the runs (the IRSA ServiceAccount tokens among them).
    values.extend(sandbox_run_time_secrets(&env.sandbox));
    values.sort();
    values.dedup();
    assert_none_leaked(&outputs, &values);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_aws_irsa_and_static_keys_leak_nothing() {
    aws_no_leak(
        "aws-healthy",
        &[
            &["doctor", "-A"],
            &["describe-chain", "shop-db", "-n", "shop"],
            &["describe-chain", "shop-payment-api", "-n", "shop"],
            &[
                "describe-chain",
                "shop-db",
                "-n",
                "shop",
                "--probe-as",
                "me",
            ],
            &["scope", "-A"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_aws_refusals_leak_nothing() {
    aws_no_leak(
        "aws-access-denied-one-secret",
        &[
            &["doctor", "-A"],
            &["describe-chain", "billing-stripe", "-n", "billing"],
            &[
                "describe-chain",
                "billing-stripe",
                "-n",
                "billing",
                "--probe-as",
                "me",
            ],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_aws_trust_explanation_leaks_nothing() {
    // The refused IRSA exchange explained with the operator's keys (iam:GetRole): the token's
    // claims are shown, never the token, the operator's keys or a value.
    aws_no_leak(
        "aws-irsa-trust-mismatch",
        &[
            &["doctor", "-A"],
            &["describe-chain", "payments-db", "-n", "payments"],
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
