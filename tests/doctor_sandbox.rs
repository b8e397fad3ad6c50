//! Issue 8 "Done when" against the sandbox scenarios: the built binary runs `doctor` against each
//! incident and must exit 1 with the right error findings and nothing false about the healthy
//! parts; `healthy` exits 0 with every check ok; `--fail-on warning` turns a warning into exit 1;
//! `-o junit` is JUnit XML (parsed by Python's XML parser); and no secret value leaks from any
//! scenario in any output format, with and without `-v`.

mod common;

use common::*;
use serde_json::{Value, json};

const SCENARIOS: [&str; 7] = [
    "healthy",
    "vault-policy-removed",
    "akv-sp-secret-expired",
    "akv-wrong-key",
    "akv-secret-disabled",
    "rotation-not-propagated",
    "generator-role-removed",
];

async fn start(scenario: &str) -> SandboxEnv {
    SandboxEnv::start(scenario).await
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

/// `(severity, object)` of every finding of one check.
fn findings(report: &Value, id: &str) -> Vec<(String, String)> {
    check(report, id)["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["severity"].as_str().unwrap_or_default().to_string(),
                f["object"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn error_objects(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["findings"].as_array().into_iter().flatten())
        .filter(|f| f["severity"] == "error")
        .filter_map(|f| f["object"].as_str().map(str::to_string))
        .collect();
    out.sort();
    // The same object is often named by two checks (its status, and the live probe).
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_exits_zero_with_every_check_ok() {
    let env = start("healthy").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    for c in report["checks"].as_array().into_iter().flatten() {
        let expected = if c["id"] == "regcreds" {
            "skipped"
        } else {
            "ok"
        };
        assert_eq!(c["status"], expected, "{c:#}");
    }
    assert!(check(&report, "external-secrets")["checked"].as_u64() >= Some(9));
    assert!(check(&report, "installation")["checked"].as_u64() >= Some(9));
    assert!(
        check(&report, "providers")["checked"].as_u64() >= Some(2),
        "Vault and Key Vault stores probed: {report:#}"
    );

    let (code, report) = env.json(&["doctor", "-A", "--no-probe", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(check(&report, "providers")["status"], "skipped");

    let (code, report) = env.json(&["doctor", "-A", "--regcred", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    let regcreds = check(&report, "regcreds");
    assert_eq!(regcreds["status"], "ok", "{report:#}");
    assert_eq!(
        regcreds["checked"], 4,
        "the four regcreds in prod: {report:#}"
    );
    // Without the probe the pull secrets are still read (once, with the other managed Secrets).
    let (code, report) = env.json(&["doctor", "-A", "--regcred", "--no-probe", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(check(&report, "regcreds")["checked"], 4, "{report:#}");
    assert_eq!(check(&report, "providers")["status"], "skipped");

    let o = env.run(&["doctor", "-A"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("No findings."), "{text}");
    assert!(text.contains("ESO installation       ok"), "{text}");
    assert!(text.contains("0 error"), "{text}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_warning_turns_a_stale_secret_into_exit_one() {
    let env = start("healthy").await;
    // Everything was refreshed when the sandbox started: with a 1s threshold all of it is stale.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (code, report) = env.json(&["doctor", "-A", "--stale-after", "1s", "-o", "json"]);
    assert_eq!(code, Some(0), "warnings alone pass by default: {report:#}");
    let stale = findings(&report, "external-secrets");
    assert!(
        !stale.is_empty() && stale.iter().all(|(s, _)| s == "warning"),
        "{stale:?}"
    );
    let o = env.run(&[
        "doctor",
        "-A",
        "--stale-after",
        "1s",
        "--fail-on",
        "warning",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));

    let o = env.run(&["doctor", "-A", "--stale-after", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--stale-after"), "{}", stderr(&o));
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_removed_names_only_order_service() {
    let env = start("vault-policy-removed").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        error_objects(&report),
        vec!["ExternalSecret prod/order-service-regcred"],
        "{report:#}"
    );
    let text = check(&report, "external-secrets").to_string();
    assert!(text.contains("permission denied"), "{text}");
    assert_eq!(check(&report, "stores")["status"], "ok", "{report:#}");
    // The live probe as ESO finds the same ExternalSecret on its own.
    assert_eq!(
        findings(&report, "providers"),
        vec![(
            "error".into(),
            "ExternalSecret prod/order-service-regcred".into()
        )],
        "{report:#}"
    );

    // Incident B's stale regcred no longer logs in; the other three still do.
    let (code, report) = env.json(&["doctor", "-A", "--regcred", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        findings(&report, "regcreds"),
        vec![("error".into(), "Secret prod/regcred-order-service".into())],
        "{report:#}"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_sp_secret_expired_is_a_store_error_and_five_externalsecrets() {
    let env = start("akv-sp-secret-expired").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        findings(&report, "stores"),
        vec![("error".into(), "ClusterSecretStore akv-hybridops".into())],
        "{report:#}"
    );
    let es = findings(&report, "external-secrets");
    assert_eq!(es.len(), 5, "{es:?}");
    assert!(
        es.iter().all(|(s, o)| s == "error" && !o.contains("prod/")),
        "only the Key Vault ExternalSecrets: {es:?}"
    );
    assert_eq!(check(&report, "installation")["status"], "ok");
    // One login fails for the whole store: one finding, not one per ExternalSecret.
    assert_eq!(
        findings(&report, "providers"),
        vec![("error".into(), "ClusterSecretStore akv-hybridops".into())],
        "{report:#}"
    );
    env.sandbox.shutdown().await;
}

/// `(requests, distinct keys)` per store from doctor's `-v` lines.
fn provider_requests(stderr: &str) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("kubectl-eso: doctor: ")?;
            let (n, rest) = rest.split_once(" provider requests for ")?;
            let (store, rest) = rest.split_once(" (")?;
            let (keys, _) = rest.split_once(" distinct remote keys")?;
            Some((store.to_string(), n.parse().ok()?, keys.parse().ok()?))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_provider_requests_follow_distinct_keys_not_externalsecrets() {
    let mut seen = Vec::new();
    for n in [100, 400] {
        let env = SandboxEnv::start_scaled("scale", Some(n)).await;
        let o = env.run(&["doctor", "-A", "-o", "json", "-v"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let per_store = provider_requests(&stderr(&o));
        assert!(!per_store.is_empty(), "no per-store lines: {}", stderr(&o));
        for (store, requests, keys) in &per_store {
            // One login, one capabilities call, then one read per distinct remote key.
            assert!(*keys > 0, "{store}");
            assert!(
                *requests <= keys + 2,
                "{store}: {requests} requests for {keys} keys"
            );
        }
        seen.push(per_store);
        env.sandbox.shutdown().await;
    }
    assert_eq!(
        seen[0], seen[1],
        "four times the ExternalSecrets, same provider requests"
    );
}

/// Check 4 has exactly this one finding; its message.
fn sole_finding(report: &Value, severity: &str, object: &str) -> String {
    assert_eq!(
        findings(report, "external-secrets"),
        vec![(severity.to_string(), object.to_string())],
        "{report:#}"
    );
    messages(report, "external-secrets").join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_not_propagated_is_found_only_by_the_probe() {
    let env = start("rotation-not-propagated").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let text = sole_finding(&report, "error", "ExternalSecret netbox/netbox-db-password");
    assert!(text.contains("CreatedOnce"), "{text}");
    assert_eq!(findings(&report, "providers"), vec![], "{report:#}");
    // Without the probe the cluster alone looks healthy: ESO reports Ready.
    let (code, report) = env.json(&["doctor", "-A", "--no-probe", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_esos_label_is_still_compared() {
    // ESO leaves its managed label off a Secret it merges into, and older releases labelled none:
    // doctor reads such a target by name instead of missing the rotation.
    let env = start("rotation-not-propagated").await;
    let store = env.sandbox.api().store();
    let Some(mut secret) = store.get("v1", "Secret", Some("netbox"), "netbox-db-credentials")
    else {
        panic!("no target Secret netbox-db-credentials");
    };
    if let Some(labels) = secret["metadata"]["labels"].as_object_mut() {
        labels.remove("reconcile.external-secrets.io/managed");
    }
    let replaced = store.replace(secret);
    assert!(replaced.is_ok(), "{replaced:?}");
    let o = env.run(&["doctor", "-A", "-o", "json", "-v"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("GET secret netbox/netbox-db-credentials"),
        "{}",
        stderr(&o)
    );
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    let text = sole_finding(&report, "error", "ExternalSecret netbox/netbox-db-password");
    assert!(text.contains("CreatedOnce"), "{text}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_key_problems_name_the_one_externalsecret() {
    for scenario in ["akv-wrong-key", "akv-secret-disabled"] {
        let env = start(scenario).await;
        let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
        assert_eq!(code, Some(1), "{scenario}: {report:#}");
        assert_eq!(
            error_objects(&report),
            vec!["ExternalSecret netbox/netbox-db-password"],
            "{scenario}: {report:#}"
        );
        assert_eq!(check(&report, "stores")["status"], "ok", "{scenario}");
        assert_eq!(
            findings(&report, "providers"),
            vec![(
                "error".into(),
                "ExternalSecret netbox/netbox-db-password".into()
            )],
            "{scenario}: {report:#}"
        );
        env.sandbox.shutdown().await;
    }
}

/// Runs Python's XML parser over the output and checks the JUnit structure CI tools read.
fn assert_junit(xml: &str, failed_cases: &[&str]) {
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1, suites
cases = suites[0].findall("testcase")
assert int(suites[0].get("tests")) == len(cases) >= 5, cases
failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
assert int(suites[0].get("failures")) == len(failed)
print(",".join(failed))
"#;
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match python {
        Ok(c) => c,
        Err(e) => panic!("python3 is needed to validate the JUnit XML: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        if let Err(e) = stdin.write_all(xml.as_bytes()) {
            panic!("writing to python3: {e}");
        }
    }
    let o = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        o.status.success(),
        "not JUnit XML: {}\n{xml}",
        String::from_utf8_lossy(&o.stderr)
    );
    let failed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(failed, failed_cases.join(","), "{xml}");
}

#[cfg_attr(
    not(has_python3),
    ignore = "needs python3 on PATH (validates the JUnit XML)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_is_valid_and_fails_the_broken_checks() {
    let env = start("akv-sp-secret-expired").await;
    let o = env.run(&["doctor", "-A", "-o", "junit"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_junit(&stdout(&o), &["ExternalSecrets", "Providers", "Stores"]);
    // JUnit is doctor's alone: elsewhere it is a one-line usage error.
    let o = env.run(&["scope", "-A", "-o", "junit"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    env.sandbox.shutdown().await;

    let env = start("healthy").await;
    let o = env.run(&["doctor", "-A", "-o", "junit"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_junit(&stdout(&o), &[]);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_leaks_from_doctor_in_any_format() {
    for scenario in SCENARIOS {
        let env = start(scenario).await;
        let values = env.secret_values();
        assert!(values.len() >= 3, "{scenario}: nothing to look for");
        let formats: [&[&str]; 5] = [
            &["-o", "table", "--regcred"],
            &["-o", "wide"],
            &["-o", "json", "--regcred"],
            &["-o", "yaml", "--regcred"],
            &["-o", "junit", "--regcred"],
        ];
        for format in formats {
            for verbose in [false, true] {
                let mut args = vec!["doctor", "-A"];
                args.extend_from_slice(format);
                if verbose {
                    args.push("-v");
                }
                let o = env.run(&args);
                assert!(
                    o.status.code().is_some_and(|c| c < 2),
                    "{scenario} {args:?}: {}",
                    stderr(&o)
                );
                assert_no_leak(&o, &values, &format!("{scenario} {args:?}"));
            }
        }
        env.sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_namespace_and_a_hand_made_copy() {
    let env = start("akv-wrong-key").await;
    let created = env.sandbox.api().store().create(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "netbox-db-credentials-manual", "namespace": "netbox"},
        "type": "Opaque", "data": {"password": "bWFudWFsLWNvcHk="}
    }));
    assert!(created.is_ok(), "{created:?}");
    let (code, report) = env.json(&["doctor", "-n", "netbox", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["scope"]["namespace"], "netbox");
    // The ClusterSecretStore's credentials live outside netbox: read by name, they are fine.
    assert_eq!(check(&report, "stores")["status"], "ok", "{report:#}");
    assert_eq!(
        error_objects(&report),
        vec!["ExternalSecret netbox/netbox-db-password"]
    );
    assert_eq!(
        findings(&report, "leftovers"),
        vec![(
            "warning".into(),
            "Secret netbox/netbox-db-credentials-manual".into()
        )],
        "{report:#}"
    );
    env.sandbox.shutdown().await;
}

/// Check 2's messages, one string per finding.
fn messages(report: &Value, id: &str) -> Vec<String> {
    check(report, id)["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["cause"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_store_conditions_and_credential_keys_are_checked() {
    let env = start("healthy").await;
    let store = env.sandbox.api().store();
    let Some(mut css) = store.get(
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        "akv-hybridops",
    ) else {
        panic!("no ClusterSecretStore akv-hybridops in healthy");
    };
    // Only the namespaces labelled for the platform CA: awx (unlabelled) is shut out, as in a
    // store tightened without looking at who uses it.
    css["spec"]["conditions"] = serde_json::json!([
        {"namespaceSelector": {"matchExpressions": [
            {"key": "platform-ca", "operator": "In", "values": ["enabled"]}]}},
        {"namespaceRegexes": ["^external-"]}
    ]);
    // A reference to a key the credentials Secret does not have (its keys: ClientID, ClientSecret).
    css["spec"]["provider"]["azurekv"]["authSecretRef"]["clientSecret"]["key"] =
        Value::from("client-secret");
    let replaced = store.replace(css);
    assert!(replaced.is_ok(), "{replaced:?}");

    let (code, report) = env.json(&["doctor", "-A", "--no-probe", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let stores = findings(&report, "stores");
    assert!(
        stores.iter().all(|f| *f
            == (
                "error".to_string(),
                "ClusterSecretStore akv-hybridops".to_string()
            )),
        "{report:#}"
    );
    let text = messages(&report, "stores");
    // Issue 12: the near miss is named as the fix.
    assert!(
        text.iter().any(|m| m.starts_with(
            "the store references key client-secret of Secret external-secrets/akv-sp-credentials, \
             which has no such key but has ClientSecret: did you mean ClientSecret?"
        )),
        "{text:?}"
    );
    let refused: Vec<&String> = text
        .iter()
        .filter(|m| m.starts_with("spec.conditions do not admit namespace"))
        .collect();
    assert_eq!(refused.len(), 1, "only awx is shut out: {text:?}");
    assert!(refused[0].contains("namespace awx, where"), "{text:?}");
    // The table says the same in plain words, with the next step.
    let o = env.run(&["doctor", "-A", "--no-probe"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("add awx to the store's spec.conditions"),
        "{}",
        stdout(&o)
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue8_a_rotation_is_followed_from_the_provider_to_the_pods() {
    let env = start("healthy").await;
    // Timestamps are whole seconds: let the pods' start and the next write fall apart.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = "canary-grafana-admin-pw-rotated";
    let Some(akv) = env.sandbox.akv() else {
        panic!("healthy has a Key Vault");
    };
    let set = akv
        .state()
        .set_secret("hybridops", "grafana-admin-password", rotated);
    assert!(set.is_ok(), "{set:?}");

    // Rotated in Key Vault, not yet in the cluster: ESO brings it within the hour, so a warning.
    let o = env.run(&["doctor", "-A", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains(rotated) && !stderr(&o).contains(rotated));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    let text = sole_finding(&report, "warning", "ExternalSecret grafana/grafana-admin");
    assert!(text.contains("(admin-password differs)"), "{text}");
    assert!(
        check(&report, "external-secrets")
            .to_string()
            .contains("kubectl eso force-sync grafana-admin -n grafana"),
        "{report:#}"
    );

    // Synced: the Secret holds the new value, and grafana's pod still runs with the old one.
    let o = env.run(&[
        "force-sync",
        "grafana-admin",
        "-n",
        "grafana",
        "--timeout",
        "30s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // Issue 12: a pod running the old value is an error (nothing restarts it by itself), so
    // the gate fails and the finding leads the report.
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        report["findings"][0]["code"], "consumer-old-value",
        "{report:#}"
    );
    let text = sole_finding(&report, "error", "ExternalSecret grafana/grafana-admin");
    assert!(
        text.starts_with("deployment/grafana started before Secret grafana-admin last changed"),
        "{text}"
    );
    assert!(
        check(&report, "external-secrets")
            .to_string()
            .contains("kubectl rollout restart deployment/grafana -n grafana"),
        "{report:#}"
    );
    // Reloader's annotation on the workload makes it a warning that names Reloader.
    let store = env.sandbox.api().store();
    let Some(mut deploy) = store.get("apps/v1", "Deployment", Some("grafana"), "grafana") else {
        panic!("no deployment grafana");
    };
    deploy["metadata"]["annotations"]["reloader.stakater.com/auto"] = json!("true");
    let replaced = store.replace(deploy);
    assert!(replaced.is_ok(), "{replaced:?}");
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    let text = sole_finding(&report, "warning", "ExternalSecret grafana/grafana-admin");
    assert!(text.contains("Reloader restarts them"), "{text}");
    // With --fail-on warning that is a failing gate.
    let o = env.run(&["doctor", "-A", "--fail-on", "warning"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    env.sandbox.shutdown().await;
}

/// What the AWS region answered since `from`, as `(service, action, target) -> count`.
fn aws_requests(
    env: &SandboxEnv,
    from: usize,
) -> std::collections::BTreeMap<(String, String, String), usize> {
    let mut out = std::collections::BTreeMap::new();
    let log = env.sandbox.aws().map(|a| a.requests()).unwrap_or_default();
    for r in log.into_iter().skip(from) {
        *out.entry((r.service, r.action, r.target)).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_aws_requests_follow_distinct_keys_and_one_sts_call_per_store() {
    // Counted by the region itself (every request it answered), not by the tool's own report.
    let env = start("aws-healthy").await;
    let run = |env: &SandboxEnv| {
        env.sandbox.set_eso_paused(true);
        let from = env.sandbox.aws().map(|a| a.requests().len()).unwrap_or(0);
        let o = tokio::task::block_in_place(|| env.run(&["doctor", "-A", "-o", "json"]));
        let counted = aws_requests(env, from);
        env.sandbox.set_eso_paused(false);
        (o, counted)
    };
    let (o, before) = run(&env);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let sts = |c: &std::collections::BTreeMap<(String, String, String), usize>| {
        c.iter()
            .filter(|((s, a, _), _)| s == "sts" && a == "AssumeRoleWithWebIdentity")
            .map(|(_, n)| *n)
            .sum::<usize>()
    };
    // One IRSA store (aws-secrets), one STS exchange.
    assert_eq!(sts(&before), 1, "{before:?}");
    for ((service, action, target), n) in &before {
        assert_eq!(
            *n, 1,
            "{service} {action} {target} asked {n} times: {before:?}"
        );
    }
    // Forty more ExternalSecrets on the same two stores and the same three keys.
    let store = env.sandbox.api().store();
    for i in 0..40 {
        let (store_name, key, property) = match i % 3 {
            0 => ("aws-secrets", "shop/db", Some("password")),
            1 => ("aws-secrets", "shop/session-key", None),
            _ => ("aws-parameters", "/shop/payment-api-key", None),
        };
        let mut remote = json!({ "key": key });
        if let Some(p) = property {
            remote["property"] = json!(p);
        }
        let es = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": format!("shop-extra-{i}"), "namespace": "shop"},
            "spec": {"refreshInterval": "1h",
                "secretStoreRef": {"name": store_name, "kind": "SecretStore"},
                "target": {"name": format!("shop-extra-{i}")},
                "data": [{"secretKey": "value", "remoteRef": remote}]}
        });
        let applied = store.apply(es);
        assert!(applied.is_ok(), "{applied:?}");
    }
    assert!(env.sandbox.wait_idle().await, "ESO did not settle");
    let (o, after) = run(&env);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        before, after,
        "43 ExternalSecrets instead of 3, same AWS requests"
    );
    env.sandbox.shutdown().await;
}

/// Issue 12: ESO's webhook scaled to zero while its ValidatingWebhookConfigurations remain: the
/// ExternalSecrets keep syncing, so the installation alone shows it, as an error (every apply of
/// an ExternalSecret or store is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_webhook_without_pods_is_the_root_cause_and_fails_doctor() {
    let env = start("eso-webhook-unavailable").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let root = &report["findings"][0];
    assert_eq!(root["code"], "eso-webhook-unavailable", "{report:#}");
    assert_eq!(
        root["object"],
        "Deployment external-secrets/external-secrets-webhook"
    );
    assert_eq!(
        root["next"][0],
        "kubectl scale deployment external-secrets-webhook -n external-secrets --replicas=1"
    );
    // The ExternalSecret itself is fine: no finding about it.
    let all = report["findings"].to_string();
    assert!(!all.contains("ExternalSecret web/api-token"), "{report:#}");
    env.sandbox.shutdown().await;
}

/// Issue 12, the near miss of `eso-controller-duplicate`: the second ESO release scaled to zero
/// while the chart's controller runs is parked, not a cause: no duplicate, and no
/// "nothing reconciles" either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_second_controller_scaled_to_zero_is_no_finding() {
    let env = start("eso-controller-duplicate").await;
    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["findings"][0]["code"], "eso-controller-duplicate");

    let store = env.sandbox.api().store();
    let (ns, name) = ("platform-secrets", "platform-eso-external-secrets");
    let Some(mut deploy) = store.get("apps/v1", "Deployment", Some(ns), name) else {
        panic!("no deployment {ns}/{name}");
    };
    deploy["spec"]["replicas"] = json!(0);
    let replaced = store.replace(deploy);
    assert!(replaced.is_ok(), "{replaced:?}");
    // The simulated workload controller brings readyReplicas down.
    let mut ready = None;
    for _ in 0..50 {
        ready = store
            .get("apps/v1", "Deployment", Some(ns), name)
            .map(|d| d["status"]["readyReplicas"].as_i64().unwrap_or(0));
        if ready == Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, Some(0), "the deployment never scaled down");

    let (code, report) = env.json(&["doctor", "-A", "-o", "json"]);
    assert!(
        findings(&report, "installation").is_empty(),
        "{:#}",
        check(&report, "installation")
    );
    let all = report["findings"].to_string();
    assert!(
        !all.contains("eso-controller-duplicate") && !all.contains("eso-controller-not-ready"),
        "{report:#}"
    );
    assert_eq!(code, Some(0), "{report:#}");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_denied_aws_read_is_simulated_with_the_operators_keys() {
    // AWS names the refused action and ARN, not the policy: with the operator's keys
    // (iam:SimulatePrincipalPolicy) the store identity's policies are simulated for it.
    let mut env = start("aws-access-denied-one-secret").await;
    let chain = |env: &SandboxEnv| {
        tokio::task::block_in_place(|| {
            env.json(&[
                "describe-chain",
                "billing-stripe",
                "-n",
                "billing",
                "-o",
                "json",
            ])
        })
    };
    // Near miss first: without the operator's keys nothing is simulated, and the command that
    // would simulate it is the next step, on the ARN AWS named.
    let (code, v) = chain(&env);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        v["provider"]["keys"][0]["policyDecision"],
        Value::Null,
        "{v:#}"
    );
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(!cause.contains("SimulatePrincipalPolicy"), "{cause}");
    assert!(
        v["verdict"]["next"].to_string().contains(
            "aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::123456789012:user/eso-billing \
             --action-names secretsmanager:GetSecretValue --resource-arns arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing/stripe-"
        ),
        "{v:#}"
    );

    env.login_aws_operator();
    let (code, v) = chain(&env);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        v["provider"]["keys"][0]["policyDecision"], "implicitDeny",
        "{v:#}"
    );
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("iam:SimulatePrincipalPolicy (your AWS keys): implicitDeny"),
        "{cause}"
    );
    // doctor's root cause says the same.
    let (code, d) = tokio::task::block_in_place(|| env.json(&["doctor", "-A", "-o", "json"]));
    assert_eq!(code, Some(1), "{d:#}");
    let root = &d["findings"][0];
    assert_eq!(root["code"], "provider-read-denied", "{d:#}");
    assert!(root.to_string().contains("implicitDeny"), "{root:#}");
    // The region was asked once per denied key, as the store's user.
    let asked: Vec<_> = env
        .sandbox
        .aws()
        .map(|a| a.requests())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.action == "SimulatePrincipalPolicy")
        .map(|r| r.target)
        .collect();
    assert_eq!(
        asked,
        vec!["arn:aws:iam::123456789012:user/eso-billing"; 2],
        "one per run (describe-chain, doctor)"
    );
    env.sandbox.shutdown().await;
}
