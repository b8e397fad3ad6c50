//! Issue 18's leak rule, looking for everything secret rather than only stored values: every
//! read command (scope, describe-chain, doctor, verify-regcred — the last also without `-v`) in
//! every format and verbosity, completion, and the `sandbox -- …` path run against the sandbox;
//! afterwards the harness collects what the run handed out — TokenRequest JWTs the simulated
//! apiserver minted, Vault client tokens and accessors, the kubeconfig's bearer token,
//! `VAULT_TOKEN` — besides every Secret value (client ids and usernames included), and searches
//! every output for each of them as is, base64, hex, SHA-256 hex, URL-encoded and 8-character
//! prefixes. The akv scenario's Event quotes the service principal's client id: before the
//! output boundary (`src/redact.rs`) `scope` printed it.

mod common;

use std::process::Output;

use common::*;

/// Runs the binary as `SandboxEnv::run` does, with `VAULT_TOKEN` set to the sandbox Vault's root
/// token: a credential in the environment must not reach the output either.
fn run(env: &SandboxEnv, args: &[&str]) -> Output {
    let ca = env.provider_ca.display().to_string();
    let vault = env.sandbox.vault().addr();
    let vault_host = vault.trim_start_matches("http://").trim_end_matches('/');
    let root = env.sandbox.vault().root_token();
    let mut vars = vec![
        ("KUBECTL_ESO_PROVIDER_CA_FILE", ca.as_str()),
        ("KUBECTL_ESO_TRUST_PROVIDER_HOST", vault_host),
        ("VAULT_TOKEN", root.as_str()),
    ];
    if let Some(p) = &env.proxy {
        vars.push(("HTTPS_PROXY", p.as_str()));
        vars.push(("NO_PROXY", "127.0.0.1,localhost"));
    }
    run_with(&env.kubeconfig, args, &vars)
}

fn assert_ran(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        o.status.code().is_some_and(|c| c <= 2) && !err.contains("panicked"),
        "{what}: {}{err}",
        stdout(o)
    );
}

async fn every_command_in_every_format(scenario: &str, commands: &[&[&str]]) {
    let env = SandboxEnv::start(scenario).await;
    let mut outputs: Vec<(String, Output)> = Vec::new();
    for command in commands {
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [false, true] {
                let mut args: Vec<&str> = command.to_vec();
                args.extend(["-o", format]);
                if verbose {
                    args.push("-v");
                }
                let what = format!("{scenario}: {}", args.join(" "));
                let args_owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                let o = tokio::task::block_in_place(|| {
                    let args: Vec<&str> = args_owned.iter().map(String::as_str).collect();
                    run(&env, &args)
                });
                assert_ran(&o, &what);
                outputs.push((what, o));
            }
        }
    }
    let o = tokio::task::block_in_place(|| run(&env, &["completion", "bash"]));
    assert_ran(&o, "completion bash");
    outputs.push((format!("{scenario}: completion bash"), o));
    // As kubectl runs it: `__complete` first (a flag before it would make it a clap error),
    // asking the cluster for names.
    for words in [
        &["scope", "-n", ""][..],
        &["describe-chain", "-n", "prod", ""],
        &["verify-regcred", "-n", "prod", ""],
        &["force-sync", "-n", "prod", "--store", ""],
    ] {
        let o = tokio::task::block_in_place(|| {
            std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-eso"))
                .arg("__complete")
                .arg("--kubeconfig")
                .arg(&env.kubeconfig)
                .args(words)
                .env_remove("KUBECONFIG")
                .output()
                .unwrap_or_else(|e| panic!("__complete: {e}"))
        });
        assert_eq!(o.status.code(), Some(0), "__complete {words:?}");
        // Every scenario has namespaces: the cluster was asked.
        if words[0] == "scope" {
            assert!(
                stdout(&o).lines().count() > 1,
                "__complete {words:?}: no names"
            );
        }
        outputs.push((format!("{scenario}: __complete {}", words.join(" ")), o));
    }
    // Only now: the tokens minted during the runs are known.
    let secrets = sandbox_run_time_secrets(&env.sandbox);
    let jwts = env.sandbox.api().issued_tokens();
    assert!(
        secrets.len() >= 10 && jwts.iter().all(|t| secrets.contains(t)),
        "{scenario}: the leak test needs run-time values to look for ({} found)",
        secrets.len()
    );
    for (what, o) in &outputs {
        assert_no_secret_form(o, &secrets, what);
    }
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_no_run_time_secret_leaks_with_an_event_quoting_the_client_id() {
    every_command_in_every_format(
        "akv-sp-secret-expired",
        &[
            &["scope", "-A"],
            &["describe-chain", "netbox-db-password", "-n", "netbox"],
            &["doctor", "-A"],
            &["verify-regcred", "regcred-order-service", "-n", "prod"],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_no_run_time_secret_leaks_when_vault_refuses_and_probes_mint_tokens() {
    every_command_in_every_format(
        "vault-policy-removed",
        &[
            &["scope", "-A"],
            &["describe-chain", "order-service-regcred", "-n", "prod"],
            &["doctor", "-A"],
            &["verify-regcred", "regcred-order-service", "-n", "prod"],
        ],
    )
    .await;
}

/// The harness itself: a scope that printed a client id quoted in an Event is caught (this is
/// what `scope` did before the output boundary).
#[test]
fn issue_18_the_search_catches_a_quoted_client_id_in_any_form() {
    let id = "6f1c2a8e-0d4b-4c1e-9a77-3b1f0c2d9e10".to_string();
    for printed in [
        format!("keys for app '{id}' are expired"),
        format!("app {}", &id[..8]),
        format!("id={}", id.replace('-', "%2D")),
    ] {
        let o = Output {
            status: std::process::ExitStatus::default(),
            stdout: printed.clone().into_bytes(),
            stderr: Vec::new(),
        };
        let caught = std::panic::catch_unwind(|| {
            assert_no_secret_form(&o, std::slice::from_ref(&id), "scope")
        });
        assert!(caught.is_err(), "not caught: {printed}");
    }
}

/// `kubectl eso sandbox -- …`: the run-once path prints through the child's boundary; the
/// sandbox's admin token (in the kubeconfig it wrote) and its Event's client id stay out.
#[test]
fn issue_18_the_sandbox_run_once_path_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("kubeconfig");
    for args in [&["scope", "-A"][..], &["scope", "-A", "-o", "json", "-v"]] {
        let mut cmd = assert_cmd::Command::cargo_bin("kubectl-eso")
            .unwrap_or_else(|e| panic!("binary not built: {e}"));
        cmd.env_remove("KUBECONFIG")
            .args([
                "sandbox",
                "--scenario",
                "akv-sp-secret-expired",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .arg("--")
            .args(args)
            .timeout(std::time::Duration::from_secs(120));
        let o = cmd.output().unwrap_or_else(|e| panic!("{e}"));
        assert_ran(&o, "sandbox -- scope");
        assert!(
            stdout(&o).contains("akv-hybridops"),
            "the scenario ran: {}",
            stdout(&o)
        );
        let config = std::fs::read_to_string(&kubeconfig).unwrap_or_default();
        let token = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .map(|t| t.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no token in the kubeconfig:\n{config}"));
        let printed = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            printed.contains("for app '<redacted>'"),
            "the Event's client id is replaced:\n{printed}"
        );
        assert_no_secret_form(&o, &[token], "sandbox -- scope");
    }
}
