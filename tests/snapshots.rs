//! Issue 13 "Done when": every command's table output (scope, describe-chain, doctor,
//! force-sync --dry-run, verify-regcred) on every sandbox scenario at 80 and 160 columns, as
//! insta snapshots under `tests/snapshots/`, and no line of describe-chain or doctor longer than
//! the width (`render::wrap`: the one exception it allows is an indent alone, never reached here).
//!
//! Deterministic by construction where it can be: the sandbox back-dates each incident to the
//! same ages (3h12m, x17; `eso_sandbox::backdate`), and the simulated ESO is paused once the
//! sandbox has settled, so nothing changes while the commands run. What cannot be fixed is
//! redacted by insta filters: loopback ports, timestamps, uuids (tenant, trace and correlation
//! ids), pod name hashes, and up to two minutes of drift in the ages (a loaded machine may cross a minute or two).
//!
//! Every scenario `sandbox --list` shows is covered without an entry here: one sandbox per
//! scenario, all commands and both widths on it, two scenarios at a time. A scenario without
//! snapshots (added on another branch) fails, naming them; outside CI insta writes them as
//! `.snap.new` to review.
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
        // moto chooses a secret ARN's six-character suffix at random, and these texts print
        // ARNs: the simulation's suffixes are stable. tests/aws_sandbox_moto.rs compares the
        // moto-backed runs with the simulated ones, root cause for root cause.
        aws_backend: eso_sandbox::aws::AwsBackend::Simulation,
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
    // The AWS region's endpoints and the on-call operator's keys, as `kubectl eso sandbox` hands them.
    if let Some(aws) = sandbox.aws() {
        for var in [
            "AWS_SECRETSMANAGER_ENDPOINT",
            "AWS_SSM_ENDPOINT",
            "AWS_STS_ENDPOINT",
            "AWS_ENDPOINT_URL_IAM",
        ] {
            env.push((var, aws.endpoint()));
        }
        let op = aws.operator_credentials();
        env.push(("AWS_ACCESS_KEY_ID", op.access_key_id));
        env.push(("AWS_SECRET_ACCESS_KEY", op.secret_access_key));
        if sandbox.akv().is_none() {
            env.push(("NO_PROXY", "127.0.0.1,localhost".to_string()));
        }
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

/// The ExternalSecret describe-chain, force-sync and verify-regcred look at: the one the scenario
/// is about where the first failing one is not it; otherwise the first failing one `scope`
/// lists (the first of all on a healthy cluster), so a new scenario needs no entry here.
fn subject(env: &Env, scenario: &str) -> (String, String) {
    let fixed = match scenario {
        "healthy" | "vault-policy-removed" => Some(("order-service-regcred", "prod")),
        "akv-sp-secret-expired" | "rotation-not-propagated" => {
            Some(("netbox-db-password", "netbox"))
        }
        _ => None,
    };
    if let Some((es, ns)) = fixed {
        return (es.into(), ns.into());
    }
    let (json, _) = env.run(&["scope", "-A", "-o", "json"], 80);
    let report: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{scenario}: scope -o json: {e}\n{json}"));
    let rows = report["externalSecrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let row = rows
        .iter()
        .find(|r| r["failing"] == true)
        .or(rows.first())
        .unwrap_or_else(|| panic!("{scenario}: no ExternalSecret in\n{json}"));
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (s(&row["name"]), s(&row["namespace"]))
}

/// Every scenario `sandbox --list` shows, but the generated `scale` (hundreds of objects).
fn scenarios() -> Vec<&'static str> {
    eso_sandbox::scenario_names()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| *n != "scale")
        .collect()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in filters() {
        s.add_filter(pattern, replacement);
    }
    s
}

/// What changes from one run to the next, and what stands for it in the snapshots, in the order
/// insta applies them.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
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
        // ...and the date left at the end of the line before it: the day the suite runs.
        (r"\b\d{4}-\d{2}-\d{2}\b", "[DATE]"),
        // `<deployment>-<pod-template-hash>-<suffix>`: the hash is a u32's decimal digits spelt
        // in kube's alphabet (1 to 10 of them: 7 happens) and changes with the template, which
        // holds the run's registry port.
        (
            r"-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b",
            "-[POD]",
        ),
        (r"/tmp/[^\s:]+", "[TMP]"),
        // ESO's log lines quoted as evidence depend on how often the simulated controller has
        // retried by the time doctor reads them, and their excerpt's cut on the length of their
        // epoch time: one marker stands for them (tests/eso_logs_sandbox.rs checks their content).
        (
            r"(?m)^(\s*)evidence: ESO log \([^)]*\):(?:\n {5,}\S.*)*(?:\n\s*evidence: ESO log \([^)]*\):(?:\n {5,}\S.*)*)*",
            "${1}evidence: ESO log [LINES]",
        ),
        // ESO's JSON log lines carry epoch seconds.
        (r#""ts":\d+(?:\.\d+)?"#, r#""ts":[TS]"#),
        // Up to two minutes of drift (the sandbox's ages are whole minutes; a loaded 2-core
        // machine running the whole suite may cross two).
        (r"\b3h1[234]m\b", "3h12m"),
        (r"\b3h3[234]m\b", "3h32m"),
        (r"\b2[567]m\b", "25m"),
        // Rows that are not back-dated (the healthy ExternalSecrets beside an incident) are
        // seconds old, and how many seconds depends on the machine's load (kubectl's ages count
        // seconds up to 119s).
        (r"\b(?:1[01][0-9]|[1-9]?[0-9])s\b", "[SECONDS]"),
    ]
}

#[test]
fn the_filters_cover_what_changes_between_runs_and_nothing_else() {
    let apply = |text: &str| {
        filters().into_iter().fold(text.to_string(), |t, (p, r)| {
            let re = regex::Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            re.replace_all(&t, r).into_owned()
        })
    };
    for (text, expected) in [
        // A pod-template-hash of 7 characters (stop 25's CI), 10, and 1.
        ("order-service-f7c4b85-8hv4k", "order-service-[POD]"),
        ("billing-5d8f9c7b6c-x2kqz", "billing-[POD]"),
        ("notifier-7-x2kqz", "notifier-[POD]"),
        // A timestamp the wrapping split, on the day after the snapshot was written.
        (
            "Correlation ID: x Timestamp: 2026-12-06\n      08:04:55Z",
            "Correlation ID: x Timestamp: [DATE]\n      [TIME]",
        ),
        // Near misses: names that only look like a pod's.
        ("istio-service-proxy", "istio-service-proxy"),
        ("eso-incident-20261205-0640", "eso-incident-20261205-0640"),
        ("platform-secrets-reader", "platform-secrets-reader"),
    ] {
        assert_eq!(apply(text), expected, "{text}");
    }
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

/// Placeholders a person would have to fill in (`<region>`, `<vault>`, `KIND/NAME`, issue 13):
/// a value the facts lack is read by the command that finds it out instead. The table cells
/// `<none>`, `<never>`, `<unknown>` and the redaction mark are kubectl's words, not placeholders.
fn placeholders(text: &str) -> Vec<String> {
    let re =
        regex::Regex::new(r"<[A-Za-z][A-Za-z0-9_-]*>|KIND/NAME").unwrap_or_else(|e| panic!("{e}"));
    re.find_iter(text)
        .map(|m| m.as_str().to_string())
        .filter(|m| {
            !matches!(
                m.as_str(),
                "<none>" | "<never>" | "<unknown>" | "<redacted>"
            )
        })
        .collect()
}

async fn scenario(name: &str) {
    let env = start(name).await;
    let (es, ns) = subject(&env, name);
    let (es, ns) = (es.as_str(), ns.as_str());
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
            let placeholders = placeholders(&text);
            assert!(
                placeholders.is_empty(),
                "{name} {command}: a next step to fill in by hand: {placeholders:?}\n{text}"
            );
            if matches!(*command, "describe-chain" | "doctor") {
                let long = too_long(&text, columns);
                assert!(long.is_empty(), "{name} {command}:\n{}", long.join("\n"));
            }
            // A pod's name holds its template's hash, and the template the registry's random
            // port: 8 to 10 characters, so verify-regcred's pod table is padded differently
            // from run to run. Its columns are compared with the padding squeezed, and so are
            // scope's, whose AGE column is as wide as a load-dependent number of seconds.
            let text = if matches!(*command, "verify-regcred" | "scope") {
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

/// One test over every scenario, two at a time (the machines have two cores): a scenario added
/// on another branch is snapshotted without an entry here. Its first run has no snapshots and
/// fails, listing them; every failure is reported at the end, not only the first.
#[test]
fn issue_13_snapshots_of_every_scenario() {
    let failures = two_at_a_time(scenarios(), scenario);
    assert!(
        failures.is_empty(),
        "{} scenario(s) differ from tests/snapshots/ (a new scenario has none yet):\n{}\n\
         After an intended change: INSTA_UPDATE=always cargo test --test snapshots, then review \
         git diff tests/snapshots/",
        failures.len(),
        failures.join("\n")
    );
}
