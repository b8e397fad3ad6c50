//! Issue 17 "Done when": `bundle` on every incident scenario writes the dated folder with the
//! report, the summary, the redacted objects, Events, pod statuses and ESO's log lines, and a scan
//! of every file in it finds no secret value (plain or base64), no planted token and no data-hash.

mod common;

use common::*;

const TOKENS: &[&str] = &[
    "hvs.CAESIJ3kq9vR2xTnL0pW8mZcY5aBdE7fGhIjKlMnOpQrStUv",
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
];

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every scenario the sandbox ships (the generated scale one is for benchmarks), two at a time.
#[test]
fn issue17_bundle_on_every_scenario_writes_the_folder_and_no_value() {
    let scenarios: Vec<&'static str> = eso_sandbox::scenario_names()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| *name != "scale")
        .collect();
    assert!(
        scenarios.contains(&"eso-leader-election-lost"),
        "{scenarios:?}"
    );
    let failures = two_at_a_time(scenarios, bundle_of);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn bundle_of(scenario: &'static str) {
    {
        let env = SandboxEnv::start(scenario).await;
        let out_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let out_path = out_dir.path().display().to_string();
        let o = env.run(&["bundle", "-A", "--out", &out_path]);
        // sync-window-closed's one finding is a warning, and like doctor, bundle fails on errors.
        let expected = if matches!(
            scenario,
            "healthy" | "aws-healthy" | "kubernetes-shared-namespace" | "sync-window-closed"
        ) {
            Some(0)
        } else {
            Some(1)
        };
        assert_eq!(
            o.status.code(),
            expected,
            "{scenario}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let dirs: Vec<_> = std::fs::read_dir(out_dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(dirs.len(), 1, "{scenario}: {dirs:?}");
        let dir = &dirs[0];
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            name.starts_with("eso-incident-") && name.len() == "eso-incident-20261205-0640".len(),
            "{name}"
        );
        assert_eq!(stdout(&o).trim(), dir.display().to_string());
        let all = files(dir);
        for wanted in [
            "summary.md",
            "doctor.json",
            "externalsecrets.yaml",
            "clustersecretstores.yaml",
            "secrets-metadata.yaml",
            "events.yaml",
            "pods.yaml",
        ] {
            assert!(
                all.iter().any(|p| p.ends_with(wanted)),
                "{scenario}: no {wanted} in {all:?}"
            );
        }
        assert!(
            all.iter().any(|p| p.to_string_lossy().contains("/logs/")),
            "{scenario}: no logs in {all:?}"
        );
        let mut secrets_values = sandbox_secret_values(&env.sandbox);
        secrets_values.extend(TOKENS.iter().map(|t| t.to_string()));
        // And what the run minted or holds besides: tokens the probe was handed, the AWS
        // region's keys and session tokens (issue 15) — plain and base64.
        secrets_values.extend(sandbox_run_time_secrets(&env.sandbox));
        assert_no_value_in(dir, &secrets_values, scenario);
        // The application's own secret-related lines, where it logs any.
        if scenario == "rotation-not-propagated" {
            let app = all
                .iter()
                .find(|p| p.to_string_lossy().contains("/logs/app-netbox-netbox-"))
                .unwrap_or_else(|| panic!("no netbox application log in {all:?}"));
            let text = std::fs::read_to_string(app).unwrap_or_default();
            assert!(text.contains("password authentication failed"), "{text}");
            let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
            assert!(
                summary.contains("## What the applications log")
                    && summary.contains("password authentication failed"),
                "{summary}"
            );
        }
        if scenario == "eso-leader-election-lost" {
            assert!(
                all.iter()
                    .any(|p| p.to_string_lossy().ends_with("-previous.log")),
                "no previous instance's log in {all:?}"
            );
        }
        let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
        assert!(
            summary.contains("## Root cause") && summary.contains("## Timeline"),
            "{summary}"
        );
        if !matches!(
            scenario,
            "healthy" | "aws-healthy" | "kubernetes-shared-namespace"
        ) {
            assert!(
                summary.contains("**`"),
                "{scenario}: no root cause code in {summary}"
            );
        }
        let doctor: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("doctor.json")).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{scenario}: doctor.json: {e}"));
        assert_eq!(doctor["kind"], "DoctorReport");
        // Secrets are there by metadata only.
        let secrets =
            std::fs::read_to_string(dir.join("secrets-metadata.yaml")).unwrap_or_default();
        // (A scenario whose ExternalSecrets never synced has no target Secret at all.)
        assert!(
            secrets.trim() == "[]" || secrets.contains("kind: Secret"),
            "{scenario}: {secrets}"
        );
        assert!(
            !secrets.lines().any(|l| {
                let l = l.trim_start().trim_start_matches("- ");
                l.starts_with("data:") || l.starts_with("stringData:")
            }),
            "{scenario}: {secrets}"
        );
    }
}

/// Every file under `dir`, scanned for each value as is and base64-encoded.
fn assert_no_value_in(dir: &std::path::Path, values: &[String], what: &str) -> usize {
    use base64::Engine;
    let all = files(dir);
    for p in &all {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for v in values {
            for form in [
                v.clone(),
                base64::engine::general_purpose::STANDARD.encode(v),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v),
            ] {
                assert!(
                    !text.contains(&form),
                    "{what}: {} holds a secret value ({} chars)",
                    p.display(),
                    form.len()
                );
            }
        }
    }
    all.len()
}

fn only_entry(dir: &std::path::Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn codes(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str().map(str::to_string))
        .collect()
}

/// Issue 17: `bundle --archive` writes one .tar.gz that the system's tar lists and extracts;
/// `doctor --evidence DIR` and `describe-chain --evidence DIR` write the same folder with their
/// output unchanged. A canary scan of every file, and of every output, finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_archive_and_evidence_hold_no_value() {
    let env = SandboxEnv::start("vault-policy-removed").await;
    let mut values = sandbox_secret_values(&env.sandbox);
    values.extend(TOKENS.iter().map(|t| t.to_string()));
    assert!(!values.is_empty());
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sub = |name: &str| {
        let p = out.path().join(name);
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let (archive_dir, doctor_dir, chain_dir, extracted) = (sub("a"), sub("d"), sub("c"), sub("x"));
    let path = |p: &std::path::Path| p.display().to_string();

    let runs = tokio::task::block_in_place(|| {
        vec![
            env.run(&["bundle", "-A", "--out", &path(&archive_dir), "--archive"]),
            env.run(&["doctor", "-A", "-o", "json"]),
            env.run(&[
                "doctor",
                "-A",
                "-o",
                "json",
                "--evidence",
                &path(&doctor_dir),
            ]),
            env.run(&["describe-chain", "order-service-regcred", "-n", "prod"]),
            env.run(&[
                "describe-chain",
                "order-service-regcred",
                "-n",
                "prod",
                "--evidence",
                &path(&chain_dir),
            ]),
        ]
    });
    for o in &runs {
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
        assert_no_leak(o, &values, "output");
    }

    // The archive: the only thing written, listed and extracted by the system's tar.
    let archive = only_entry(&archive_dir);
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        name.starts_with("eso-incident-") && name.ends_with(".tar.gz"),
        "{name}"
    );
    assert_eq!(stdout(&runs[0]).trim(), path(&archive));
    let listed = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let folder = name.trim_end_matches(".tar.gz");
    let listing = stdout(&listed);
    for wanted in [
        "summary.md",
        "doctor.json",
        "externalsecrets.yaml",
        "events.yaml",
    ] {
        assert!(
            listing.lines().any(|l| l == format!("{folder}/{wanted}")),
            "{wanted} not in\n{listing}"
        );
    }
    let x = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&extracted)
        .output()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(x.status.success(), "{}", stderr(&x));
    let n = assert_no_value_in(&extracted, &values, "archive");
    assert!(n >= 6, "{n} files extracted");

    // doctor --evidence: the same report on stdout, the folder's path on stderr.
    let plain: serde_json::Value =
        serde_json::from_str(&stdout(&runs[1])).unwrap_or_else(|e| panic!("doctor: {e}"));
    let with: serde_json::Value = serde_json::from_str(&stdout(&runs[2]))
        .unwrap_or_else(|e| panic!("doctor --evidence: {e}\n{}", stdout(&runs[2])));
    assert_eq!(codes(&plain), codes(&with));
    assert!(!codes(&with).is_empty());
    let folder = only_entry(&doctor_dir);
    assert!(
        stderr(&runs[2]).contains(&format!("evidence: {}", path(&folder))),
        "{}",
        stderr(&runs[2])
    );
    assert!(folder.join("summary.md").is_file() && folder.join("doctor.json").is_file());
    assert_no_value_in(&folder, &values, "doctor --evidence");

    // describe-chain --evidence: its report beside the namespace's bundle, stdout as without.
    let folder = only_entry(&chain_dir);
    let chain: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("describe-chain.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("describe-chain.json: {e}"));
    assert_eq!(chain["kind"], "ChainReport", "{chain}");
    assert!(folder.join("summary.md").is_file() && folder.join("doctor.json").is_file());
    let shown = stdout(&runs[4]);
    assert!(!shown.contains("eso-incident-"), "{shown}");
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&stdout(&runs[3])), first(&shown));
    assert_eq!(stdout(&runs[3]).lines().count(), shown.lines().count());
    assert_no_value_in(&folder, &values, "describe-chain --evidence");
    env.sandbox.shutdown().await;
}
