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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_bundle_on_every_scenario_writes_the_folder_and_no_value() {
    // Every scenario the sandbox ships (the generated scale one is for benchmarks).
    let scenarios: Vec<&str> = eso_sandbox::scenario_names()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| *name != "scale")
        .collect();
    assert!(
        scenarios.contains(&"eso-leader-election-lost"),
        "{scenarios:?}"
    );
    for scenario in scenarios {
        let env = SandboxEnv::start(scenario).await;
        let out_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let out_path = out_dir.path().display().to_string();
        let o = env.run(&["bundle", "-A", "--out", &out_path]);
        let expected = if matches!(scenario, "healthy" | "aws-healthy") {
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
        // The AWS region's keys, session tokens and values (issue 15).
        secrets_values.extend(env.sandbox.aws().map(|a| a.sensitive()).unwrap_or_default());
        for p in &all {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            for v in &secrets_values {
                assert!(
                    !text.contains(v.as_str()),
                    "{scenario}: {} holds a secret value: {v}",
                    p.display()
                );
            }
        }
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
        if !matches!(scenario, "healthy" | "aws-healthy") {
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
