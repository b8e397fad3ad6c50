//! Issue 17 against the sandbox: ESO's controller logs read through `pods/log` become doctor's
//! "logs" check — their lines attached as evidence to the finding about the same store or
//! ExternalSecret, every canary value and token the scenarios plant in them redacted — a refused
//! `pods/log` makes that check "not checked" (never ok), and real `kubectl logs` reads the same
//! lines from the simulated cluster.

mod common;

use common::*;
use serde_json::Value;

fn all_findings(report: &Value) -> Vec<&Value> {
    fn walk<'a>(f: &'a Value, out: &mut Vec<&'a Value>) {
        out.push(f);
        for e in f["effects"].as_array().into_iter().flatten() {
            walk(e, out);
        }
    }
    let mut out = Vec::new();
    for c in report["checks"].as_array().into_iter().flatten() {
        for f in c["findings"].as_array().into_iter().flatten() {
            walk(f, &mut out);
        }
    }
    out
}

fn logs_check(report: &Value) -> &Value {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == "logs")
        .unwrap_or_else(|| panic!("no logs check in {report:#}"))
}

/// Planted in the scenarios' log lines (crates/eso-sandbox/scenarios/*.yaml).
const TOKENS: &[&str] = &[
    "hvs.CAESIJ3kq9vR2xTnL0pW8mZcY5aBdE7fGhIjKlMnOpQrStUv",
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
];

fn assert_no_values(env: &SandboxEnv, text: &str) {
    for v in sandbox_secret_values(&env.sandbox).iter().chain(
        TOKENS
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert!(!text.contains(v.as_str()), "a secret value leaked: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_doctor_attaches_eso_log_lines_to_the_store_finding_and_redacts_them() {
    for scenario in ["akv-sp-secret-expired", "vault-policy-removed"] {
        let env = SandboxEnv::start(scenario).await;
        let out = env.run(&["doctor", "-A", "-o", "json", "-v"]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_no_values(&env, &text);
        let report: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{scenario}: not JSON ({e}): {text}"));
        let logs = logs_check(&report);
        assert_ne!(logs["status"], "skipped", "{scenario}: {logs:#}");
        assert!(logs["checked"].as_u64() >= Some(3), "{scenario}: {logs:#}");
        let with_log: Vec<&Value> = all_findings(&report)
            .into_iter()
            .filter(|f| {
                f["evidence"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e.as_str().is_some_and(|e| e.starts_with("ESO log (")))
            })
            .collect();
        assert!(
            !with_log.is_empty(),
            "{scenario}: no ESO log evidence in {report:#}"
        );
        let expected_object = match scenario {
            "akv-sp-secret-expired" => "akv-hybridops",
            _ => "order-service-regcred",
        };
        assert!(
            with_log.iter().any(|f| f["object"]
                .as_str()
                .is_some_and(|o| o.contains(expected_object))),
            "{scenario}: log evidence not under {expected_object}: {with_log:#?}"
        );
        // The table shows the same evidence, redacted too.
        let table = env.run(&["doctor", "-A"]);
        assert_no_values(&env, &format!("{}{}", stdout(&table), stderr(&table)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_a_refused_pods_log_is_not_checked_never_ok() {
    let env = SandboxEnv::start("healthy").await;
    env.sandbox
        .api()
        .faults()
        .set("pods/log", kube_sim::Fault::Forbidden);
    let (_, report) = env.json(&["doctor", "-A", "-o", "json"]);
    let logs = logs_check(&report);
    assert_eq!(logs["status"], "skipped", "{logs:#}");
    assert!(
        logs["skippedBecause"]
            .as_str()
            .is_some_and(|s| s.contains("not checked") && s.contains("pods/log")),
        "{logs:#}"
    );
    assert!(
        report["incomplete"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i.as_str().is_some_and(|i| i.contains("logs"))),
        "{report:#}"
    );
}

fn kubectl() -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("kubectl is not on PATH: apt-get install kubernetes-client"),
    }
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_real_kubectl_logs_reads_the_simulated_controller() {
    let env = SandboxEnv::start("akv-sp-secret-expired").await;
    let kubectl = kubectl();
    let run = |args: &[&str]| {
        std::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&env.kubeconfig)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("kubectl: {e}"))
    };
    let out = run(&[
        "logs",
        "deploy/external-secrets",
        "-n",
        "external-secrets",
        "--since=1h",
        "--tail=50",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"msg\":\"could not get secret data from provider\""),
        "{}",
        stdout(&out)
    );
    let tail = run(&[
        "logs",
        "deploy/external-secrets",
        "-n",
        "external-secrets",
        "--tail=1",
        "--timestamps",
    ]);
    assert!(tail.status.success(), "{}", stderr(&tail));
    assert_eq!(stdout(&tail).lines().count(), 1, "{}", stdout(&tail));
    // A container that never started: the apiserver's 400, as kubectl prints it.
    let waiting = run(&[
        "logs",
        "deploy/external-secrets",
        "-n",
        "external-secrets",
        "--previous",
    ]);
    assert!(!waiting.status.success());
    assert!(
        stderr(&waiting).contains("previous terminated container"),
        "{}",
        stderr(&waiting)
    );
}

/// Issue 17 "Done when": an incident found from ESO's logs alone. Every ExternalSecret of
/// eso-leader-election-lost is synced and scope sees nothing; only the previous instance of ESO's
/// controller says it lost leader election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_an_incident_found_from_eso_logs_alone() {
    let env = SandboxEnv::start("eso-leader-election-lost").await;
    let (scope_code, scope) = env.json(&["scope", "-A", "-o", "json"]);
    assert_eq!(scope_code, Some(0), "{scope:#}");
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let findings = all_findings(&report);
    assert!(
        findings.iter().all(|f| f["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("eso-log-"))),
        "only the log shows this incident: {report:#}"
    );
    let lost = findings
        .iter()
        .find(|f| f["code"] == "eso-log-leader-election-lost")
        .unwrap_or_else(|| panic!("no eso-log-leader-election-lost in {report:#}"));
    let evidence: Vec<&str> = lost["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains(", previous)") && e.contains("leader election lost")),
        "{lost:#}"
    );
    assert!(
        lost["next"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|n| n.contains("--previous")),
        "{lost:#}"
    );
}

/// Issue 17, "who changed what, and where to fix it": on store-name-typo, once the broken
/// ExternalSecret carries Argo CD's instance label and Argo CD's write in `managedFields`, doctor
/// and describe-chain say to fix the field in Git, name the application and when it last wrote
/// the object, and suggest no `kubectl edit`/`patch` on it. Near miss: before the label, the
/// finding names no manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_an_argo_cd_managed_external_secret_is_fixed_in_git() {
    let env = SandboxEnv::start("store-name-typo").await;
    let broken = |report: &Value| -> Value {
        let all: Vec<Value> = match report.get("checks") {
            Some(_) => all_findings(report).into_iter().cloned().collect(),
            None => report["findings"].as_array().cloned().unwrap_or_default(),
        };
        all.into_iter()
            .find(|f| {
                f["object"] == "ExternalSecret payments/ledger-db"
                    && f["field"]
                        .as_str()
                        .is_some_and(|x| x.starts_with("spec.secretStoreRef"))
            })
            .unwrap_or_else(|| panic!("no finding on ledger-db's store ref: {report:#}"))
    };
    let doctor = ["doctor", "-n", "payments", "-o", "json"];
    let chain = [
        "describe-chain",
        "ledger-db",
        "-n",
        "payments",
        "-o",
        "json",
    ];

    let (_, before) = tokio::task::block_in_place(|| env.json(&doctor));
    let f = broken(&before);
    assert!(!f.to_string().contains("Argo CD"), "{f:#}");

    let store = env.sandbox.api().store();
    let mut es = store
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("payments"),
            "ledger-db",
        )
        .unwrap_or_else(|| panic!("no ExternalSecret payments/ledger-db"));
    es["metadata"]["labels"]["argocd.argoproj.io/instance"] = "payments".into();
    es["metadata"]["managedFields"] = serde_json::json!([{
        "manager": "argocd-controller", "operation": "Apply",
        "apiVersion": "external-secrets.io/v1", "time": "2026-12-05T03:10:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}
    }]);
    store
        .replace(es)
        .unwrap_or_else(|e| panic!("replace ExternalSecret: {e}"));

    for args in [&doctor[..], &chain[..]] {
        let (code, report) = tokio::task::block_in_place(|| env.json(args));
        assert_eq!(code, Some(1), "{args:?}: {report:#}");
        let f = broken(&report);
        let next: Vec<&str> = f["next"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            next.first()
                .is_some_and(|n| n.starts_with("fix spec.secretStoreRef")
                    && n.ends_with(
                        "in Git: this object is applied by Argo CD application payments"
                    )),
            "{args:?}: {next:?}"
        );
        assert!(
            !next
                .iter()
                .any(|n| n.contains("kubectl edit") || n.contains("kubectl patch")),
            "{args:?}: {next:?}"
        );
        // describe-chain's verdict, which a person reads first, says the same.
        if args[0] == "describe-chain" {
            let verdict = report["verdict"]["next"].to_string();
            assert!(
                verdict.contains(
                    "fix spec.secretStoreRef.name in Git: this object is applied by Argo CD \
                     application payments"
                ) && !verdict.contains("of ledger-db in Git"),
                "{verdict}"
            );
        }
        let evidence = f["evidence"].to_string();
        assert!(
            evidence.contains(
                "managed: applied by Argo CD application payments; last written by \
                 argocd-controller at 2026-12-05T03:10:00Z"
            ),
            "{args:?}: {f:#}"
        );
    }
    env.sandbox.shutdown().await;
}
