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

/// A bin directory holding the binary under krew's name (`kubectl-eso_chain`) as well, the
/// script of `<krew name> completion <shell>` (it registers both names), and a kubeconfig with
/// two contexts on a port nothing listens on: contexts come from the file alone, so the shell
/// tests need no cluster.
struct ShellSetup {
    dir: tempfile::TempDir,
    script: PathBuf,
    kubeconfig: PathBuf,
}

fn shell_setup(shell: &str) -> ShellSetup {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap_or_else(|e| panic!("{e}"));
    for name in ["kubectl-eso", "kubectl-eso_chain"] {
        std::os::unix::fs::symlink(binary(), bin.join(name)).unwrap_or_else(|e| panic!("{e}"));
    }
    let generated = Command::new(bin.join("kubectl-eso_chain"))
        .args(["completion", shell])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generated.status.code(), Some(0), "{}", stderr(&generated));
    let script = write_file(dir.path(), &format!("eso.{shell}"), &stdout(&generated));
    let kubeconfig = write_file(
        dir.path(),
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
         http://127.0.0.1:9\nusers:\n- name: u\n  user:\n    token: canary-token-x\n\
         contexts:\n- name: gone\n  context:\n    cluster: c\n    user: u\n\
         - name: prod-eu\n  context:\n    cluster: c\n    user: u\ncurrent-context: gone\n",
    );
    ShellSetup {
        dir,
        script,
        kubeconfig,
    }
}

/// Runs `shell args… code` with the setup's bin directory first on PATH; its stdout.
fn run_shell(setup: &ShellSetup, shell: &str, args: &[&str], code: &str) -> String {
    let path = format!(
        "{}:{}",
        setup.dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new(shell)
        .args(args)
        .arg(code)
        .env("PATH", path)
        .env("KUBECONFIG", &setup.kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("{shell} is not on PATH ({e}): apt-get install {shell}"));
    assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{shell}: completion must be quiet");
    stdout(&o)
}

/// Issue 13: the zsh script passes the words up to the cursor, the empty word being completed
/// included, to `__complete` under the name typed (the krew name too) and offers its answer;
/// with no candidate and no "no file completion" directive it falls back to files. zsh's
/// completion builtins only run inside a completion widget, so `compdef`, `compadd` and `_files`
/// are stand-ins printing what they were given; `words` and `CURRENT` are set as zsh sets them.
#[cfg_attr(not(has_zsh), ignore = "needs zsh on PATH: apt-get install zsh")]
#[test]
fn issue_13_zsh_script_asks_complete_with_the_words_typed() {
    let setup = shell_setup("zsh");
    let code = format!(
        r#"compdef() {{ print -r -- "compdef ${{(j:|:)@}}" }}
compadd() {{ print -r -- "compadd ${{(j:|:)@}}" }}
_files() {{ print -r -- "_files" }}
source {script}
tab() {{ words=("$@"); CURRENT=$#; _kubectl_eso }}
tab kubectl-eso scope --context ''
tab kubectl-eso_chain scope --context p
tab kubectl-eso scope --names
tab kubectl-eso scope --kubeconfig ''
words=(kubectl-eso scope --context p -n prod); CURRENT=4; _kubectl_eso
"#,
        script = setup.script.display()
    );
    let out = run_shell(&setup, "zsh", &["-f", "-c"], &code);
    assert_eq!(
        out,
        "compdef _kubectl_eso|kubectl-eso|kubectl-eso_chain\n\
         compadd -Q|--|gone|prod-eu\n\
         compadd -Q|--|prod-eu\n\
         compadd -Q|--|--namespace\n\
         _files\n\
         compadd -Q|--|prod-eu\n"
    );
}

/// Issue 13: the fish script, through fish's own completion machinery (`complete -C LINE`
/// completes LINE as a TAB at its end would), under both names.
#[cfg_attr(not(has_fish), ignore = "needs fish on PATH: apt-get install fish")]
#[test]
fn issue_13_fish_script_asks_complete_with_the_words_typed() {
    let setup = shell_setup("fish");
    let code = format!(
        "source {script}
complete -C 'kubectl-eso scope --context '
echo ==
complete -C 'kubectl-eso_chain scope --context p'
echo ==
complete -C 'kubectl-eso scope --names'
echo ==
complete -C 'kubectl-eso scope --context=p'
",
        script = setup.script.display()
    );
    let out = run_shell(&setup, "fish", &["--no-config", "-c"], &code);
    assert_eq!(
        out,
        "gone\nprod-eu\n==\nprod-eu\n==\n--namespace\n==\n--context=prod-eu\n"
    );
}
