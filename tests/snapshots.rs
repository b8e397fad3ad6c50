//! Issue 13 "Done when": every command's table output (scope, describe-chain, doctor,
//! force-sync --dry-run, verify-regcred) on every sandbox scenario at 80 and 160 columns, as
//! insta snapshots under `tests/snapshots/`, and no line of describe-chain or doctor longer than
//! the width (`render::wrap`: the one exception it allows is an indent alone, never reached here).
//!
//! Deterministic by construction where it can be: the sandbox back-dates each incident to the
//! same ages (3h12m, x17; `eso_sandbox::backdate`), and the simulated ESO is paused once the
//! sandbox has settled, so nothing changes while the commands run. What cannot be fixed is
//! redacted by insta filters: loopback ports, timestamps, uuids (tenant, trace and correlation
//! ids), pod name hashes, and one minute of drift in the ages (a slow machine may cross a minute).
//!
//! Regenerate after an intended output change: `INSTA_UPDATE=always cargo test --test snapshots`
//! (then review `git diff tests/snapshots/`).

mod common;

use common::*;
use eso_sandbox::{Sandbox, SandboxOptions};

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

/// A scenario's sandbox with the environment `kubectl eso sandbox` gives its subcommand.
async fn start(scenario: &str) -> Env {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: scenario.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
    sandbox.set_eso_paused(true);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
    let mut bundle = sandbox.registry().ca_pem();
    if let Some(akv) = sandbox.akv() {
        bundle.push('\n');
        bundle.push_str(&akv.ca_pem());
    }
    let ca = write_file(dir.path(), "provider-ca.pem", &bundle);
    let vault = sandbox.vault().addr();
    let host = vault
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let mut env = vec![
        ("KUBECTL_ESO_PROVIDER_CA_FILE", ca.display().to_string()),
        ("KUBECTL_ESO_TRUST_PROVIDER_HOST", host),
        ("NO_COLOR", "1".to_string()),
    ];
    if let Some(akv) = sandbox.akv() {
        env.push(("HTTPS_PROXY", akv.proxy_url()));
        env.push(("NO_PROXY", "127.0.0.1,localhost".to_string()));
    }
    Env {
        sandbox,
        _dir: dir,
        kubeconfig,
        env,
    }
}

impl Env {
    fn run(&self, args: &[&str], columns: usize) -> (String, i32) {
        let cols = columns.to_string();
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("COLUMNS", &cols));
        let o = run_with(&self.kubeconfig, args, &env);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        (text, o.status.code().unwrap_or(-1))
    }
}

/// The ExternalSecret each scenario's describe-chain and force-sync look at.
fn subject(scenario: &str) -> (&'static str, &'static str) {
    match scenario {
        "healthy" | "vault-policy-removed" => ("order-service-regcred", "prod"),
        "store-kind-mismatch" => ("warehouse-db", "analytics"),
        "two-owners-one-secret" => ("cart-db-v2", "shop"),
        "vault-policy-kv2-path" => ("billing-db", "billing"),
        _ => ("netbox-db-password", "netbox"),
    }
}

const SCENARIOS: [&str; 9] = [
    "healthy",
    "vault-policy-removed",
    "akv-sp-secret-expired",
    "akv-wrong-key",
    "akv-secret-disabled",
    "rotation-not-propagated",
    "store-kind-mismatch",
    "two-owners-one-secret",
    "vault-policy-kv2-path",
];

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?",
            "[TIME]",
        ),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[UUID]",
        ),
        // A time the wrapping split after its date ("Timestamp: 2026-12-05" / "08:04:55Z").
        (r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b", "[TIME]"),
        (r"-[a-z0-9]{8,10}-[a-z0-9]{5}\b", "-[POD]"),
        (r"/tmp/[^\s:]+", "[TMP]"),
        // One minute of drift, both ways round (the sandbox's ages are whole minutes).
        (r"\b3h1[23]m\b", "3h12m"),
        (r"\b3h3[23]m\b", "3h32m"),
        (r"\b2[56]m\b", "25m"),
    ] {
        s.add_filter(pattern, replacement);
    }
    s
}

/// Runs of blanks inside a line become three (kubectl's gap between columns); indentation stays.
fn squeeze_padding(text: &str) -> String {
    let gap = regex::Regex::new(r"(\S)[ ]{2,}").unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .map(|l| gap.replace_all(l, "$1   ").into_owned() + "\n")
        .collect()
}

fn too_long(text: &str, width: usize) -> Vec<String> {
    text.lines()
        .filter(|l| l.chars().count() > width)
        .map(|l| format!("{} > {width}: {l}", l.chars().count()))
        .collect()
}

async fn scenario(name: &str) {
    let env = start(name).await;
    let (es, ns) = subject(name);
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("scope", vec!["scope", "-A"]),
        ("describe-chain", vec!["describe-chain", es, "-n", ns]),
        ("doctor", vec!["doctor", "-A"]),
        ("force-sync", vec!["force-sync", es, "-n", ns, "--dry-run"]),
        // The Key Vault scenarios hold no pull secret: their ExternalSecret's Secret is refused.
        (
            "verify-regcred",
            vec!["verify-regcred", "--from-es", es, "-n", ns],
        ),
    ];
    let settings = settings();
    for columns in [80, 160] {
        for (command, args) in &commands {
            let (text, code) = env.run(args, columns);
            if matches!(*command, "describe-chain" | "doctor") {
                let long = too_long(&text, columns);
                assert!(long.is_empty(), "{name} {command}:\n{}", long.join("\n"));
            }
            // A pod's name holds its template's hash, and the template the registry's random
            // port: 8 to 10 characters, so verify-regcred's pod table is padded differently
            // from run to run. Its columns are compared with the padding squeezed.
            let text = if *command == "verify-regcred" {
                squeeze_padding(&text)
            } else {
                text
            };
            let snapshot = format!("{name}__{command}__{columns}");
            settings.bind(|| {
                insta::assert_snapshot!(snapshot, format!("exit code: {code}\n{text}"));
            });
        }
    }
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_healthy() {
    scenario(SCENARIOS[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_vault_policy_removed() {
    scenario(SCENARIOS[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_akv_sp_secret_expired() {
    scenario(SCENARIOS[2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_akv_wrong_key() {
    scenario(SCENARIOS[3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_akv_secret_disabled() {
    scenario(SCENARIOS[4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_rotation_not_propagated() {
    scenario(SCENARIOS[5]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_store_kind_mismatch() {
    scenario(SCENARIOS[6]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_two_owners_one_secret() {
    scenario(SCENARIOS[7]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_snapshots_vault_policy_kv2_path() {
    scenario(SCENARIOS[8]).await;
}

/// Every scenario the sandbox lists (but the generated `scale`) has its snapshots above.
#[test]
fn issue_13_every_scenario_is_snapshotted() {
    let listed: Vec<&str> = eso_sandbox::scenario_names()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| *n != "scale")
        .collect();
    let mut covered = SCENARIOS.to_vec();
    covered.sort_unstable();
    let mut listed = listed;
    listed.sort_unstable();
    assert_eq!(
        covered, listed,
        "the sandbox's scenarios and tests/snapshots.rs's SCENARIOS differ: add the new scenario \
         to SCENARIOS, a test that runs it and its subject(), then create its snapshots with \
         `INSTA_UPDATE=always cargo test --test snapshots` and review `git diff tests/snapshots/`"
    );
}
