//! Issue 13, dynamic completion: `kubectl-eso __complete` (what kubectl >= 1.26 runs through
//! `kubectl_complete-eso`, and what the `completion bash` script calls) offers names from the
//! cluster the typed flags name: ExternalSecrets and PushSecrets of the `-n` namespace (or the
//! context's), namespaces, contexts, stores, workloads. Quiet and quick when the cluster is
//! unreachable. Against the `healthy` sandbox's kube-sim.

#![cfg(feature = "sandbox")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-eso"))
}

fn run(kubeconfig: &Path, words: &[&str]) -> Output {
    let o = Command::new(binary())
        .arg("__complete")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(words)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| panic!("running the binary: {e}"));
    assert_eq!(o.status.code(), Some(0), "{words:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{words:?}: completion must be quiet");
    o
}

fn complete(kubeconfig: &Path, words: &[&str]) -> String {
    stdout(&run(kubeconfig, words))
}

/// Every answer, with the sandbox's secret values (and the kubeconfig's token) checked absent.
fn complete_no_leak(kubeconfig: &Path, words: &[&str], values: &[String]) -> String {
    let o = run(kubeconfig, words);
    assert_no_secret_form(&o, values, &words.join(" "));
    stdout(&o)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_completion_offers_names_from_the_cluster() {
    let env = SandboxEnv::start("healthy").await;
    env.sandbox
        .api()
        .store()
        .create(json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": {"name": "push-db-password", "namespace": "prod"},
            "spec": {"secretStoreRefs": [{"name": "vault", "kind": "SecretStore"}],
                     "selector": {"secret": {"name": "db-password"}}}
        }))
        .unwrap_or_else(|e| panic!("PushSecret: {e:?}"));
    let kc = env.kubeconfig.clone();
    let values = env.secret_values();
    assert!(!values.is_empty());
    // Blocking runs of the binary off the runtime's worker threads.
    let out = tokio::task::block_in_place(|| {
        let mut answers = Vec::new();
        for words in [
            &["describe-chain", "-n", "prod", ""][..],
            &["describe-chain", "-n", "netbox", "netbox-d"],
            &["scope", "-n", ""],
            &["scope", "--namespace=ne"],
            &["doctor", "--context", ""],
            &["force-sync", "-n", "prod", "--store", ""],
            &["force-sync", "-n", "prod", "order-service-regcred", ""],
            &["scope", "-n", "prod", "deployment/or"],
            &["verify-regcred", "-n", "netbox", "--from-es", ""],
            &["verify-regcred", "-n", "prod", "regcred-o"],
            &["verify-regcred", "-n", "netbox", ""],
        ] {
            answers.push(complete_no_leak(&kc, words, &values));
        }
        answers
    });
    let es = lines(&out[0]);
    assert!(es.contains(&"order-service-regcred"), "{es:?}");
    assert!(es.contains(&"pushsecret/push-db-password"), "{es:?}");
    assert!(!es.contains(&"netbox-db-password"), "{es:?}");
    assert_eq!(es.last(), Some(&":4"), "{es:?}");
    assert_eq!(out[1], "netbox-db-password\n:4\n");
    let ns = lines(&out[2]);
    assert!(ns.contains(&"prod") && ns.contains(&"netbox"), "{ns:?}");
    assert_eq!(out[3], "--namespace=netbox\n:4\n");
    assert_eq!(out[4], "kube-sim\n:4\n");
    let stores = lines(&out[5]);
    assert!(stores.contains(&"SecretStore/vault"), "{stores:?}");
    assert!(
        stores.contains(&"ClusterSecretStore/akv-hybridops"),
        "{stores:?}"
    );
    let more = lines(&out[6]);
    assert!(more.contains(&"payment-service-regcred"), "{more:?}");
    assert!(!more.contains(&"order-service-regcred"), "{more:?}");
    assert_eq!(out[7], "deployment/order-service\n:4\n");
    let from_es = lines(&out[8]);
    assert!(from_es.contains(&"netbox-secret-key"), "{from_es:?}");
    assert!(!from_es.contains(&"order-service-regcred"), "{from_es:?}");
    // Pull secrets only, by their type (the sandbox's are dockerconfigjson).
    assert_eq!(out[9], "regcred-order-service\n:4\n");
    assert!(!out[10].contains("netbox-db-credentials"), "{}", out[10]);

    // Without -n: the context's namespace, as kubectl.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let netbox = write_file(
        dir.path(),
        "kubeconfig",
        &env.sandbox.api().kubeconfig(Some("netbox")),
    );
    let out = tokio::task::block_in_place(|| complete(&netbox, &["describe-chain", "netbox-"]));
    assert_eq!(out, "netbox-db-password\nnetbox-secret-key\n:4\n");

    // The shell script kubectl runs, and the bash script of `completion bash`, ask the same.
    let out =
        tokio::task::block_in_place(|| bash_completion(&kc, "describe-chain -n netbox netbox-d"));
    assert_eq!(out, "netbox-db-password\n");
    // bash splits `--namespace=netb` at `=` and replaces only `netb`.
    let out = tokio::task::block_in_place(|| bash_completion(&kc, "scope --namespace=netb"));
    assert_eq!(out, "netbox\n");
    let out = tokio::task::block_in_place(|| bash_completion(&kc, "force-sync -n netbox "));
    assert!(out.contains("netbox-db-password\n"), "{out}");
    env.sandbox.shutdown().await;
}

/// COMPREPLY of `kubectl-eso <line><TAB>` with the script of `kubectl-eso completion bash`.
fn bash_completion(kubeconfig: &Path, line: &str) -> String {
    let generated = Command::new(binary())
        .args(["completion", "bash"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write_file(dir.path(), "kubectl-eso.bash", &stdout(&generated));
    let bin_dir = binary().parent().map(Path::to_path_buf).unwrap_or_default();
    // As an interactive bash sets them for `kubectl-eso LINE<TAB>` (bash-completion not loaded).
    let test = format!(
        "source {file}; COMP_WORDBREAKS=$' \\t\\n\"\\'><=;|&(:'; COMP_LINE='kubectl-eso {line}'; \
         COMP_POINT=${{#COMP_LINE}}; _kubectl_eso_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file = file.display()
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &test])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn issue_13_completion_is_quiet_and_quick_without_a_cluster() {
    // A port nothing listens on: the connection is refused at once; a black hole would take
    // the whole budget, which the unit of `kube::complete` bounds.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kc = write_file(
        dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
             http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: canary-token-x\n\
             contexts:\n- name: gone\n  context:\n    cluster: c\n    user: u\n\
             current-context: gone\n"
        ),
    );
    let started = Instant::now();
    assert_eq!(complete(&kc, &["describe-chain", "-n", "prod", ""]), ":4\n");
    assert_eq!(complete(&kc, &["scope", "-n", ""]), ":4\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Contexts come from the file alone.
    assert_eq!(complete(&kc, &["scope", "--context", "g"]), "gone\n:4\n");
    // A missing kubeconfig: nothing, and no error line.
    let missing = dir.path().join("nope");
    assert_eq!(complete(&missing, &["scope", "--context", ""]), ":4\n");
}
