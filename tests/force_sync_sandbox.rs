//! Issue 6 "Done when", against the sandbox (simulated cluster + simulated ESO + Vault), running the
//! built binary: a healthy ExternalSecret syncs and the new refresh time is reported; in
//! `vault-policy-removed` the forced sync fails with Vault's "permission denied" text and exit 1,
//! then after the policy is restored it syncs and `--restart` restarts order-service; CreatedOnce and
//! ClusterExternalSecret-owned ExternalSecrets are reported, not waited on; `--dry-run` changes
//! nothing; ESO ignoring the request ends in a timeout with exit 1; a dropped watch is resumed.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{run_with, stderr, stdout, write_file};
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

const ESO: &str = "external-secrets.io/v1";

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn start(scenario: &str) -> Env {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: scenario.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
    Env {
        sandbox,
        _dir: dir,
        kubeconfig,
    }
}

impl Env {
    /// Runs the binary off the async threads, so the simulated ESO keeps working meanwhile.
    async fn run(&self, args: &[&str]) -> Output {
        let kubeconfig = self.kubeconfig.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_with(&kubeconfig, &args, &[])
        })
        .await
        .unwrap_or_else(|e| panic!("runner: {e}"))
    }

    fn es(&self, ns: &str, name: &str) -> Value {
        self.sandbox
            .api()
            .store()
            .get(ESO, "ExternalSecret", Some(ns), name)
            .unwrap_or_else(|| panic!("ExternalSecret {ns}/{name} missing"))
    }

    fn deployment(&self, ns: &str, name: &str) -> Value {
        self.sandbox
            .api()
            .store()
            .get("apps/v1", "Deployment", Some(ns), name)
            .unwrap_or_else(|| panic!("Deployment {ns}/{name} missing"))
    }
}

/// No secret value of the scenario, plain or base64, in anything the command printed.
fn assert_no_secret_values(env: &Env, o: &Output) {
    use base64::Engine;
    let all = format!("{}{}", stdout(o), stderr(o));
    for v in env.sandbox.canaries() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&v);
        assert!(
            !all.contains(&v) && !all.contains(&b64),
            "secret value leaked: {all}"
        );
    }
}

fn json_of(o: &Output) -> Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn result<'a>(report: &'a Value, ns: &str, name: &str) -> &'a Value {
    report["externalSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["namespace"] == ns && r["name"] == name)
        .unwrap_or_else(|| panic!("{ns}/{name} not in report: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_external_secret_syncs_and_reports_the_new_refresh_time() {
    let env = start("healthy").await;
    let before = env.es("prod", "order-service-regcred");
    let o = env
        .run(&[
            "force-sync",
            "order-service-regcred",
            "-n",
            "prod",
            "--timeout",
            "30s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    let r = result(&report, "prod", "order-service-regcred");
    assert_eq!(r["outcome"], "synced", "{report:#}");
    let after = env.es("prod", "order-service-regcred");
    assert_ne!(
        after["status"]["syncedResourceVersion"], before["status"]["syncedResourceVersion"],
        "ESO did not resync"
    );
    assert_eq!(
        r["refreshTime"], after["status"]["refreshTime"],
        "{report:#}"
    );
    assert_eq!(
        after["metadata"]["annotations"]["force-sync"], r["annotation"],
        "{after:#}"
    );
    let err = stderr(&o);
    assert!(
        err.contains("► annotating ExternalSecret prod/order-service-regcred"),
        "{err}"
    );
    assert!(err.contains("◎ waiting for 1 ExternalSecret"), "{err}");
    assert!(
        err.contains("✔ synced prod/order-service-regcred at "),
        "{err}"
    );
    // The table form names the outcome and the summary.
    let o = env
        .run(&["force-sync", "order-service-regcred", "-n", "prod"])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 selected: 1 synced, 0 failed"),
        "{}",
        stdout(&o)
    );
    // --no-wait annotates and returns at once.
    let before = env.es("prod", "payment-service-regcred");
    let o = env
        .run(&[
            "force-sync",
            "payment-service-regcred",
            "-n",
            "prod",
            "--no-wait",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    let r = result(&report, "prod", "payment-service-regcred");
    assert_eq!(r["outcome"], "annotated", "{report:#}");
    assert_eq!(report["wait"], false);
    let after = env.es("prod", "payment-service-regcred");
    assert_ne!(
        after["metadata"]["annotations"]["force-sync"],
        before["metadata"]["annotations"]["force-sync"]
    );
    assert_eq!(
        after["metadata"]["annotations"]["force-sync"],
        r["annotation"]
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_removed_fails_with_vaults_text_then_syncs_and_restarts_after_the_fix() {
    let env = start("vault-policy-removed").await;
    let o = env
        .run(&[
            "force-sync",
            "order-service-regcred",
            "-n",
            "prod",
            "--timeout",
            "30s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert_no_secret_values(&env, &o);
    let report = json_of(&o);
    let r = result(&report, "prod", "order-service-regcred");
    assert_eq!(r["outcome"], "failed", "{report:#}");
    let message = r["message"].as_str().unwrap_or_default();
    assert!(message.contains("permission denied"), "{report:#}");
    assert!(
        stderr(&o).contains("✗ failed: prod/order-service-regcred:")
            && stderr(&o).contains("permission denied"),
        "{}",
        stderr(&o)
    );

    // The incident's fix, in the provider: the policy back, attached to the role again.
    let admin = env
        .sandbox
        .vault_admin()
        .unwrap_or_else(|e| panic!("vault admin: {e:#}"));
    admin
        .put_policy(
            "eso-order-service",
            "path \"registry-creds/data/order-service\" { capabilities = [\"read\"] }\n",
        )
        .await
        .unwrap_or_else(|e| panic!("put policy: {e:#}"));
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["external-secrets"],
            &["external-secrets"],
            &[
                "eso-default",
                "eso-order-service",
                "eso-payment-service",
                "eso-inventory-service",
                "eso-user-service",
            ],
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("put role: {e:#}"));
    let generation_before =
        env.deployment("prod", "order-service")["metadata"]["generation"].clone();

    let o = env
        .run(&[
            "force-sync",
            "order-service-regcred",
            "-n",
            "prod",
            "--restart",
            "--timeout",
            "45s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_no_secret_values(&env, &o);
    let report = json_of(&o);
    assert_eq!(
        result(&report, "prod", "order-service-regcred")["outcome"],
        "synced"
    );
    let restart = report["restarts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["workload"] == "deployment/order-service")
        .unwrap_or_else(|| panic!("order-service not restarted: {report:#}"));
    assert_eq!(restart["action"], "restarted", "{report:#}");
    assert_eq!(restart["uses"][0], "imagePullSecrets", "{report:#}");
    // Written to the cluster as kubectl rollout restart writes it.
    let d = env.deployment("prod", "order-service");
    let at = &d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(at.as_str().is_some_and(|s| s.ends_with('Z')), "{d:#}");
    assert_ne!(d["metadata"]["generation"], generation_before);
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl-rollout"), "{managers:?}");
    assert!(
        stderr(&o).contains("► restarting deployment/order-service in prod")
            && stderr(&o).contains("✔ rolled out deployment/order-service in prod"),
        "{}",
        stderr(&o)
    );
    // Only the consumer of the synced Secret was restarted.
    let other = env.deployment("prod", "payment-service");
    assert!(
        other["spec"]["template"]["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/restartedAt")
            .is_none(),
        "{other:#}"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_once_is_reported_not_annotated_nor_waited_on() {
    let env = start("rotation-not-propagated").await;
    let started = Instant::now();
    let o = env
        .run(&[
            "force-sync",
            "netbox-db-password",
            "-n",
            "netbox",
            "--timeout",
            "40s",
            "-o",
            "json",
        ])
        .await;
    assert!(started.elapsed() < Duration::from_secs(20), "it waited");
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    let r = result(&report, "netbox", "netbox-db-password");
    assert_eq!(r["outcome"], "cannot-resync", "{report:#}");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CreatedOnce"),
        "{report:#}"
    );
    let es = env.es("netbox", "netbox-db-password");
    assert!(
        es["metadata"]["annotations"].get("force-sync").is_none(),
        "{es:#}"
    );
    assert!(
        stderr(&o).contains("✗ cannot resync netbox/netbox-db-password"),
        "{}",
        stderr(&o)
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_external_secret_children_point_at_the_parent() {
    let env = start("healthy").await;
    let started = Instant::now();
    let o = env
        .run(&[
            "force-sync",
            "platform-ca",
            "-n",
            "netbox",
            "--timeout",
            "40s",
        ])
        .await;
    assert!(started.elapsed() < Duration::from_secs(20), "it waited");
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("cannot resync"), "{out}");
    assert!(
        out.contains("owned by ClusterExternalSecret platform-ca"),
        "{out}"
    );
    assert!(
        out.contains("kubectl eso force-sync clusterexternalsecret/platform-ca"),
        "{out}"
    );
    let es = env.es("netbox", "platform-ca");
    assert!(
        es["metadata"]["annotations"].get("force-sync").is_none(),
        "{es:#}"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_not_ready_is_named_instead_of_waiting() {
    let env = start("akv-sp-secret-expired").await;
    let started = Instant::now();
    let o = env
        .run(&[
            "force-sync",
            "--all",
            "-n",
            "netbox",
            "--timeout",
            "40s",
            "-o",
            "json",
        ])
        .await;
    assert!(started.elapsed() < Duration::from_secs(20), "it waited");
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    let r = result(&report, "netbox", "netbox-db-password");
    assert_eq!(r["outcome"], "cannot-resync", "{report:#}");
    let m = r["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("ClusterSecretStore/akv-hybridops is not ready"),
        "{m}"
    );
    let es = env.es("netbox", "netbox-db-password");
    assert!(
        es["metadata"]["annotations"].get("force-sync").is_none(),
        "{es:#}"
    );
    assert_no_secret_values(&env, &o);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_external_secret_resyncs_its_children_through_the_parent() {
    let env = start("healthy").await;
    let before = env.es("netbox", "platform-ca");
    let o = env
        .run(&[
            "force-sync",
            "clusterexternalsecret/platform-ca",
            "--timeout",
            "30s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["summary"]["selected"], 2, "{report:#}");
    for ns in ["grafana", "netbox"] {
        assert_eq!(
            result(&report, ns, "platform-ca")["outcome"],
            "synced",
            "{report:#}"
        );
    }
    let ces = env
        .sandbox
        .api()
        .store()
        .get(ESO, "ClusterExternalSecret", None, "platform-ca")
        .unwrap_or_else(|| panic!("platform-ca missing"));
    let value = &ces["spec"]["externalSecretMetadata"]["annotations"]["force-sync"];
    assert_eq!(
        value,
        &result(&report, "netbox", "platform-ca")["annotation"]
    );
    let after = env.es("netbox", "platform-ca");
    assert_eq!(&after["metadata"]["annotations"]["force-sync"], value);
    assert_ne!(
        after["status"]["syncedResourceVersion"],
        before["status"]["syncedResourceVersion"]
    );
    assert!(
        stderr(&o).contains("► annotating ClusterExternalSecret platform-ca with force-sync="),
        "{}",
        stderr(&o)
    );
    env.sandbox.shutdown().await;
}

fn versions(env: &Env) -> Vec<(String, Value, Value)> {
    let store = env.sandbox.api().store();
    let mut out = Vec::new();
    for (api, kind) in [(ESO, "ExternalSecret"), ("apps/v1", "Deployment")] {
        for o in store.list(api, kind, None) {
            out.push((
                format!(
                    "{kind} {}/{}",
                    o["metadata"]["namespace"], o["metadata"]["name"]
                ),
                o["metadata"]["resourceVersion"].clone(),
                o["metadata"]["annotations"].clone(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing() {
    let env = start("healthy").await;
    env.sandbox.wait_idle().await;
    let before = versions(&env);
    let o = env
        .run(&[
            "force-sync",
            "--all",
            "-A",
            "--restart",
            "--dry-run",
            "-o",
            "json",
        ])
        .await;
    // The ClusterExternalSecret's children cannot be resynced directly: exit 1.
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["dryRun"], true);
    let r = result(&report, "prod", "order-service-regcred");
    assert_eq!(r["outcome"], "would-annotate", "{report:#}");
    assert!(r.get("annotation").is_none(), "{report:#}");
    let would: Vec<&str> = report["restarts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "would-restart")
        .filter_map(|r| r["workload"].as_str())
        .collect();
    assert!(would.contains(&"deployment/order-service"), "{report:#}");
    assert_eq!(
        result(&report, "netbox", "platform-ca")["outcome"],
        "cannot-resync"
    );
    assert!(stderr(&o).contains("► would annotate prod/order-service-regcred (dry run)"));
    assert_eq!(versions(&env), before, "--dry-run changed the cluster");
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eso_ignoring_the_request_times_out_with_exit_1() {
    let env = start("healthy").await;
    env.sandbox.set_eso_paused(true);
    let started = Instant::now();
    let o = env
        .run(&[
            "force-sync",
            "order-service-regcred",
            "-n",
            "prod",
            "--timeout",
            "3s",
            "-o",
            "json",
        ])
        .await;
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let report = json_of(&o);
    let r = result(&report, "prod", "order-service-regcred");
    assert_eq!(r["outcome"], "timed-out", "{report:#}");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or_default()
            .contains("last seen: Ready=True"),
        "{report:#}"
    );
    assert!(stderr(&o).contains("✗ timed out: prod/order-service-regcred"));
    env.sandbox.set_eso_paused(false);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_is_resumed() {
    let env = start("healthy").await;
    // Every watch on ExternalSecrets ends after one event: our own annotation patches alone
    // would end it before ESO answers.
    env.sandbox
        .api()
        .faults()
        .set("externalsecrets", kube_sim::Fault::DropWatchAfter(1));
    let o = env
        .run(&[
            "force-sync",
            "-n",
            "prod",
            "-l",
            "app.kubernetes.io/part-of=shop",
            "--timeout",
            "30s",
            "-o",
            "json",
            "-v",
        ])
        .await;
    env.sandbox.api().faults().clear();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["summary"]["synced"], 4, "{report:#}");
    assert!(
        stderr(&o).contains("WATCH externalsecrets: resumed from resourceVersion"),
        "{}",
        stderr(&o)
    );
    env.sandbox.shutdown().await;
}

#[test]
fn selection_mistakes_are_one_line_usage_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kc = write_file(dir.path(), "kubeconfig", "apiVersion: v1\nkind: Config\n");
    for (args, needle) in [
        (
            vec!["force-sync", "a", "--all", "-n", "x"],
            "mutually exclusive",
        ),
        (vec!["force-sync", "-n", "x"], "nothing selected"),
        (vec!["force-sync", "a", "-A"], "use -n NAMESPACE"),
        (
            vec!["force-sync", "a", "-n", "x", "-l", "app=b"],
            "cannot be combined",
        ),
        (
            vec!["force-sync", "--all", "--timeout", "soon"],
            "--timeout",
        ),
        (
            vec!["force-sync", "--all", "--no-wait", "--restart"],
            "--no-wait",
        ),
    ] {
        let o = run_with(&kc, &args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

/// Issue 13: on the healthy scenario a resync changes no Secret, so `--all --restart` restarts
/// nothing ("not restarted: the Secret did not change"), and a workload Stakater Reloader manages
/// is left to it and named. Before, every deployment of the namespace was rolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_restart_only_what_the_sync_changed_and_leave_reloader_alone() {
    let env = start("healthy").await;
    let mut d = env.deployment("prod", "payment-service");
    d["metadata"]["annotations"]["reloader.stakater.com/auto"] = "true".into();
    if let Err(e) = env.sandbox.api().store().replace(d) {
        panic!("annotate payment-service: {e:?}");
    }
    // The dry run says what it would do, with its own words ("0 restarted" before).
    let o = env
        .run(&[
            "force-sync",
            "--all",
            "-n",
            "prod",
            "--restart",
            "--dry-run",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("; 3 workloads would be restarted, 1 left to Reloader"),
        "{}",
        stdout(&o)
    );
    // `--all --restart` rolled every healthy deployment of the namespace.
    let o = env
        .run(&[
            "force-sync",
            "--all",
            "-n",
            "prod",
            "--restart",
            "--timeout",
            "30s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    let action = |workload: &str| {
        report["restarts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["workload"] == workload)
            .map(|r| r["action"].clone())
            .unwrap_or_else(|| panic!("{workload} missing: {report:#}"))
    };
    assert_eq!(action("deployment/order-service"), "skipped-unchanged");
    assert_eq!(action("deployment/payment-service"), "left-to-reloader");
    assert!(
        stderr(&o).contains("not restarted: the Secret did not change: deployment/order-service"),
        "{}",
        stderr(&o)
    );
    for name in [
        "order-service",
        "payment-service",
        "inventory-service",
        "user-service",
    ] {
        let d = env.deployment("prod", name);
        assert!(
            d["spec"]["template"]["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/restartedAt")
                .is_none(),
            "{name} was restarted: {d:#}"
        );
    }
    env.sandbox.shutdown().await;
}
