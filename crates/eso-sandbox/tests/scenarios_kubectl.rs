//! Every sandbox scenario, seen through the real `kubectl` as a user would see it: statuses, reasons, the
//! `UpdateFailed` event text, Secrets present or stale, pods' states — and, after `kubectl annotate …
//! force-sync=…`, the simulated ESO reconciling as ESO would (issue 3, "Done when").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// kubectl from PATH. The tests that call this are ignored (with the reason) when the build found no
/// kubectl, except with CI=true, where a missing kubectl fails them here.
fn kubectl_binary() -> PathBuf {
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

struct Run {
    sandbox: Sandbox,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(scenario: &str) -> Run {
    let kubectl = kubectl_binary();
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: scenario.into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox {scenario} did not start: {e:#}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.api().kubeconfig(None)).expect("write kubeconfig");
    Run {
        sandbox,
        kubeconfig,
        kubectl,
        _dir: dir,
    }
}

impl Run {
    async fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        kubectl_at(&self.kubectl, &self.kubeconfig, args).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        let (ok, out, err) = self.kubectl(&full).await;
        assert!(ok, "kubectl {args:?} failed: {err}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubectl {args:?} printed no JSON ({e}): {out}"))
    }

    async fn es(&self, ns: &str, name: &str) -> Value {
        self.json(&["get", "externalsecret", name, "-n", ns]).await
    }

    async fn update_failed_messages(&self, ns: &str, es: &str) -> Vec<String> {
        let events = self
            .json(&[
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                &format!("involvedObject.name={es},reason=UpdateFailed"),
            ])
            .await;
        events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }

    async fn pod_reasons(&self, ns: &str, app: &str) -> Vec<String> {
        let pods = self
            .json(&["get", "pods", "-n", ns, "-l", &format!("app={app}")])
            .await;
        pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                p.pointer("/status/containerStatuses/0/state/waiting/reason")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        p.pointer("/status/phase")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string()
                    })
            })
            .collect()
    }
}

async fn kubectl_at(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("run kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ready(es: &Value) -> (String, String) {
    let c = es["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
    )
}

fn decoded(secret: &Value, key: &str) -> String {
    let raw = secret["data"][key].as_str().unwrap_or_default();
    String::from_utf8(STANDARD.decode(raw).unwrap_or_default()).unwrap_or_default()
}

async fn wait_for<F: Fn(&Value) -> bool>(run: &Run, ns: &str, name: &str, pred: F) -> Value {
    for _ in 0..100 {
        let es = run.es(ns, name).await;
        if pred(&es) {
            return es;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.es(ns, name).await
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_everything_synced_and_running() {
    let run = start("healthy").await;
    let all = run.json(&["get", "externalsecrets", "-A"]).await;
    let items = all["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items.len() >= 9,
        "expected the scenario's ExternalSecrets and the ClusterExternalSecret's children"
    );
    for es in &items {
        assert_eq!(
            ready(es),
            ("True".into(), "SecretSynced".into()),
            "{}",
            es["metadata"]["name"]
        );
    }
    let regcred = run
        .json(&["get", "secret", "regcred-order-service", "-n", "prod"])
        .await;
    assert_eq!(regcred["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        regcred["metadata"]["labels"]["reconcile.external-secrets.io/managed"],
        "true"
    );
    for (ns, app) in [
        ("prod", "order-service"),
        ("netbox", "netbox"),
        ("grafana", "grafana"),
    ] {
        let reasons = run.pod_reasons(ns, app).await;
        assert!(
            !reasons.is_empty() && reasons.iter().all(|r| r == "Running"),
            "{ns}/{app}: {reasons:?}"
        );
    }
    let css = run
        .json(&["get", "clustersecretstore", "akv-hybridops"])
        .await;
    assert_eq!(ready(&css), ("True".into(), "Valid".into()));
    // ESO's own installation, as the Helm chart makes it.
    let eso = run
        .json(&[
            "get",
            "deployments",
            "-n",
            "external-secrets",
            "-l",
            "app.kubernetes.io/instance=external-secrets",
        ])
        .await;
    let names: Vec<&str> = eso["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let (ok, out, err) = run
        .kubectl(&["get", "validatingwebhookconfigurations", "-o", "name"])
        .await;
    assert!(
        ok && out.contains("externalsecret-validate") && out.contains("secretstore-validate"),
        "{out}{err}"
    );
    for ns in ["netbox", "grafana"] {
        let child = run.es(ns, "platform-ca").await;
        assert_eq!(
            child["metadata"]["ownerReferences"][0]["kind"],
            "ClusterExternalSecret"
        );
    }
    run.sandbox.shutdown().await;
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_policy_removed_then_restored() {
    let run = start("vault-policy-removed").await;
    let es = run.es("prod", "order-service-regcred").await;
    assert_eq!(ready(&es), ("False".into(), "SecretSyncedError".into()));
    assert_eq!(
        es["status"]["conditions"][0]["message"],
        "could not get secret data from provider"
    );
    let messages = run
        .update_failed_messages("prod", "order-service-regcred")
        .await;
    assert!(
        messages.iter().any(|m| m.contains("permission denied")),
        "{messages:?}"
    );
    // The regcred still holds the previous credentials, which the registry now rejects.
    let regcred = run
        .json(&["get", "secret", "regcred-order-service", "-n", "prod"])
        .await;
    assert!(decoded(&regcred, ".dockerconfigjson").contains("canary-order-service-v1-pw"));
    let reasons = run.pod_reasons("prod", "order-service").await;
    assert!(
        !reasons.is_empty() && reasons.iter().all(|r| r == "ImagePullBackOff"),
        "{reasons:?}"
    );
    // Other services on the same store are fine.
    for svc in ["payment-service", "inventory-service", "user-service"] {
        let other = run.es("prod", &format!("{svc}-regcred")).await;
        assert_eq!(ready(&other).0, "True", "{svc}");
    }
    let refresh_before = es["status"]["refreshTime"].clone();
    let synced_before = es["status"]["syncedResourceVersion"].clone();

    // A force-sync while the policy is still missing fails again, with Vault's text, and changes nothing else.
    let (ok, _, err) = run
        .kubectl(&[
            "annotate",
            "es",
            "order-service-regcred",
            "-n",
            "prod",
            "force-sync=1",
            "--overwrite",
        ])
        .await;
    assert!(ok, "{err}");
    run.sandbox.wait_idle().await;
    let es = run.es("prod", "order-service-regcred").await;
    assert_eq!(ready(&es).0, "False");
    assert_eq!(es["status"]["refreshTime"], refresh_before);
    assert_eq!(es["status"]["syncedResourceVersion"], synced_before);

    // Restore the policy and attach it again (the incident's fix), then force-sync: ESO syncs.
    let admin = run.sandbox.vault_admin().expect("vault admin");
    admin
        .put_policy(
            "eso-order-service",
            "path \"registry-creds/data/order-service\" { capabilities = [\"read\"] }\n",
        )
        .await
        .expect("put policy");
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
        .expect("put role");
    let (ok, _, err) = run
        .kubectl(&[
            "annotate",
            "es",
            "order-service-regcred",
            "-n",
            "prod",
            "force-sync=2",
            "--overwrite",
        ])
        .await;
    assert!(ok, "{err}");
    let es = wait_for(&run, "prod", "order-service-regcred", |es| {
        ready(es).0 == "True"
    })
    .await;
    assert_eq!(ready(&es), ("True".into(), "SecretSynced".into()));
    // refreshTime has one-second resolution; the synced version names the annotation that asked.
    assert_ne!(
        es["status"]["syncedResourceVersion"], synced_before,
        "{es:#}"
    );
    let regcred = run
        .json(&["get", "secret", "regcred-order-service", "-n", "prod"])
        .await;
    assert!(decoded(&regcred, ".dockerconfigjson").contains("canary-order-service-v2-pw"));
    run.sandbox.shutdown().await;
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_sp_secret_expired_breaks_the_whole_store() {
    let run = start("akv-sp-secret-expired").await;
    let css = run
        .json(&["get", "clustersecretstore", "akv-hybridops"])
        .await;
    assert_eq!(
        ready(&css),
        ("False".into(), "InvalidProviderConfig".into())
    );
    let store_events = run
        .json(&[
            "get",
            "events",
            "-A",
            "--field-selector",
            "involvedObject.name=akv-hybridops,reason=InvalidProviderConfig",
        ])
        .await;
    let text = store_events.to_string();
    assert!(
        text.contains("AADSTS7000222"),
        "store event should carry Entra's error: {text}"
    );
    let mut namespaces = std::collections::BTreeSet::new();
    for (ns, name) in [
        ("netbox", "netbox-db-password"),
        ("netbox", "netbox-secret-key"),
        ("grafana", "grafana-admin"),
        ("awx", "awx-admin-password"),
        ("awx", "awx-db-password"),
    ] {
        assert_eq!(ready(&run.es(ns, name).await).0, "False", "{ns}/{name}");
        let messages = run.update_failed_messages(ns, name).await;
        assert!(
            messages
                .iter()
                .any(|m| m.contains("ClusterSecretStore \"akv-hybridops\" is not ready")),
            "{ns}/{name}: {messages:?}"
        );
        namespaces.insert(ns);
    }
    assert_eq!(namespaces.len(), 3);
    run.sandbox.shutdown().await;
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_wrong_key_is_secret_not_found_and_netbox_cannot_start() {
    let run = start("akv-wrong-key").await;
    assert_eq!(
        ready(&run.es("netbox", "netbox-db-password").await).0,
        "False"
    );
    let messages = run
        .update_failed_messages("netbox", "netbox-db-password")
        .await;
    assert!(
        messages
            .iter()
            .any(|m| m.contains("SecretNotFound") && m.contains("netbox-db-pasword")),
        "{messages:?}"
    );
    let (found, _, err) = run
        .kubectl(&["get", "secret", "netbox-db-credentials", "-n", "netbox"])
        .await;
    assert!(!found && err.contains("NotFound"), "{err}");
    assert_eq!(
        run.pod_reasons("netbox", "netbox").await,
        vec!["CreateContainerConfigError".to_string()]
    );
    assert_eq!(ready(&run.es("grafana", "grafana-admin").await).0, "True");
    run.sandbox.shutdown().await;
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akv_secret_disabled_leaves_a_stale_secret() {
    let run = start("akv-secret-disabled").await;
    assert_eq!(
        ready(&run.es("netbox", "netbox-db-password").await).0,
        "False"
    );
    let messages = run
        .update_failed_messages("netbox", "netbox-db-password")
        .await;
    assert!(
        messages.iter().any(|m| m.contains("SecretDisabled")),
        "{messages:?}"
    );
    let secret = run
        .json(&["get", "secret", "netbox-db-credentials", "-n", "netbox"])
        .await;
    assert_eq!(decoded(&secret, "password"), "canary-netbox-db-password-v1");
    assert_eq!(
        run.pod_reasons("netbox", "netbox").await,
        vec!["Running".to_string()]
    );
    run.sandbox.shutdown().await;
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_not_propagated_with_created_once() {
    let run = start("rotation-not-propagated").await;
    let es = run.es("netbox", "netbox-db-password").await;
    assert_eq!(ready(&es), ("True".into(), "SecretSynced".into()));
    let refresh = es["status"]["refreshTime"].clone();
    let (ok, _, err) = run
        .kubectl(&[
            "annotate",
            "es",
            "netbox-db-password",
            "-n",
            "netbox",
            "force-sync=1",
            "--overwrite",
        ])
        .await;
    assert!(ok, "{err}");
    run.sandbox.wait_idle().await;
    let es = run.es("netbox", "netbox-db-password").await;
    assert_eq!(
        es["status"]["refreshTime"], refresh,
        "CreatedOnce must not refresh"
    );
    let secret = run
        .json(&["get", "secret", "netbox-db-credentials", "-n", "netbox"])
        .await;
    assert_eq!(
        decoded(&secret, "password"),
        "canary-netbox-db-password-v1",
        "the Secret is stale"
    );
    assert_eq!(
        run.pod_reasons("netbox", "netbox").await,
        vec!["Running".to_string()]
    );
    run.sandbox.shutdown().await;
}
