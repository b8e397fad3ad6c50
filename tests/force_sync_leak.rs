//! The leak rule for `force-sync` (issue 6 with the project's standard): it reads ExternalSecrets, their
//! `UpdateFailed` events (which carry provider error texts) and the workloads consuming their Secrets, so every
//! output format, with and without `-v`, is checked against every secret value the sandbox holds — on a
//! failing sync (Vault's 403), a store that is not ready (Entra's error), and a successful sync with restarts.

mod common;

use common::*;
use eso_sandbox::{Sandbox, SandboxOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_leaks_from_force_sync_in_any_format() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "vault-policy-removed",
            &[
                "order-service-regcred",
                "payment-service-regcred",
                "-n",
                "prod",
            ],
        ),
        ("akv-sp-secret-expired", &["--all", "-A"]),
        ("healthy", &["--all", "-n", "prod", "--restart"]),
    ];
    for (scenario, selection) in cases {
        let sandbox = Sandbox::start(SandboxOptions {
            scenario: scenario.into(),
            ..SandboxOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
        let values = sandbox_secret_values(&sandbox);
        assert!(
            values.len() >= 3,
            "{scenario}: the leak test needs values to look for"
        );
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [false, true] {
                let mut args = vec!["force-sync"];
                args.extend_from_slice(selection);
                args.extend(["--timeout", "20s", "-o", format]);
                if verbose {
                    args.push("-v");
                }
                let kubeconfig = kubeconfig.clone();
                let o = tokio::task::spawn_blocking(move || run_with(&kubeconfig, &args, &[]))
                    .await
                    .unwrap_or_else(|e| panic!("run: {e}"));
                assert!(
                    o.status.code().is_some_and(|c| c < 2),
                    "{scenario} {format} -v={verbose}: {}{}",
                    stdout(&o),
                    stderr(&o)
                );
                assert_no_leak(
                    &o,
                    &values,
                    &format!("{scenario} force-sync -o {format} -v={verbose}"),
                );
            }
        }
        sandbox.shutdown().await;
    }
}
