//! Issue 13 (part A) at the binary's level: the name it was run under reaches usage, examples and
//! next steps; kubectl's habits (`--user`, `KUBECONFIG` lists, a missing kubeconfig, a bad `-l`,
//! `-o name`, `--no-headers`, a closed pipe); scope's answers for an unknown or empty namespace.
//! Each test failed before the change it covers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-eso"))
}

/// A link to the binary under `name` in a fresh directory (as krew links `kubectl-eso_chain`).
fn linked(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink(binary(), &link) {
        panic!("symlink {}: {e}", link.display());
    }
    link
}

fn output(cmd: &mut Command) -> Output {
    match cmd.env_remove("NO_COLOR").output() {
        Ok(o) => o,
        Err(e) => panic!("running the binary: {e}"),
    }
}

#[test]
fn issue_13_help_examples_use_the_krew_name() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let link = linked(dir.path(), "kubectl-eso_chain");
    let o = output(Command::new(&link).args(["scope", "--help"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Usage: kubectl eso-chain scope"), "{text}");
    assert!(text.contains("  kubectl eso-chain scope -A\n"), "{text}");
    assert!(!text.contains("kubectl eso "), "{text}");
}

#[test]
fn issue_13_run_by_its_bare_name_it_says_so() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    linked(dir.path(), "kubectl-eso");
    // A shell passes the name as typed when it finds it on PATH.
    let o = output(
        Command::new("kubectl-eso")
            .env("PATH", dir.path())
            .args(["doctor", "--help"]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("  kubectl-eso doctor -A\n"), "{text}");
    assert!(!text.contains("kubectl eso "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_next_steps_use_the_krew_name() {
    let env = SandboxEnv::start("vault-policy-removed").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let link = linked(dir.path(), "kubectl-eso_chain");
    for format in ["table", "json"] {
        let o = output(
            Command::new(&link)
                .env("KUBECTL_ESO_PROVIDER_CA_FILE", &env.provider_ca)
                .arg("--kubeconfig")
                .arg(&env.kubeconfig)
                .args(["describe-chain", "order-service-regcred", "-n", "prod"])
                .args(["--no-probe", "-o", format]),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("kubectl eso-chain "), "{format}: {text}");
        assert!(!text.contains("kubectl eso "), "{format}: {text}");
    }
    // scope suggests what to run next, under the same name.
    let o = output(
        Command::new(&link)
            .arg("--kubeconfig")
            .arg(&env.kubeconfig)
            .args(["scope", "-A"]),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(
            "Next:\n  kubectl eso-chain describe-chain order-service-regcred -n prod\n  \
             kubectl eso-chain doctor -A\n"
        ),
        "{text}"
    );
    env.sandbox.shutdown().await;
}

#[test]
fn issue_13_sandbox_list_into_a_closed_pipe_is_quiet() {
    let mut child = match Command::new(binary())
        .args(["sandbox", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    // Close the reading end before the binary writes, as `| head -0` would.
    drop(child.stdout.take());
    let o = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn issue_13_unknown_user_and_bad_selector_are_kubectl_one_liners() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = write_file(
        dir.path(),
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: c, user: u}}]\n\
         current-context: k\n",
    );
    let o = run_with(&kubeconfig, &["scope", "--user", "x"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: auth info \"x\" does not exist\n");

    let o = run_with(&kubeconfig, &["scope", "-l", "app=sh op"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: invalid label selector"), "{err}");

    // Connection errors name the server and the context.
    let o = run_with(&kubeconfig, &["scope"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("https://127.0.0.1:1") && err.contains("context k"),
        "{err}"
    );

    // A missing kubeconfig: one line, its path quoted once, no in-cluster talk outside a pod.
    let gone = dir.path().join("gone");
    let o = run_with(&gone, &["scope"], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        err,
        format!(
            "error: cannot load kubeconfig: \"{}\" does not exist\n",
            gone.display()
        )
    );
    assert!(!err.contains("KUBERNETES_SERVICE_HOST"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_scope_lists_like_kubectl_and_says_when_there_is_nothing() {
    let env = SandboxEnv::start("healthy").await;
    // A KUBECONFIG list with a missing file: kubectl skips it.
    let list = std::env::join_paths([
        env.kubeconfig.with_extension("gone"),
        env.kubeconfig.clone(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let o = output(
        Command::new(binary())
            .env("KUBECONFIG", &list)
            .args(["scope", "-A", "-o", "name"]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = stdout(&o);
    let (_, report) = env.json(&["scope", "-A", "-o", "json"]);
    let rows = report["externalSecrets"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(rows >= 9, "{report}");
    assert_eq!(names.lines().count(), rows, "{names}");
    assert!(
        names
            .lines()
            .all(|l| l.starts_with("externalsecret.external-secrets.io/")),
        "{names}"
    );

    let o = env.run(&["scope", "-A", "--no-headers"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), rows, "{text}");
    assert!(
        !text.contains("NAME") && !text.contains("Verdict"),
        "{text}"
    );

    // -o name is scope's only.
    let o = env.run(&["doctor", "-o", "name"]);
    assert_eq!(o.status.code(), Some(2));

    // A namespace that does not exist is an error, not "healthy".
    let o = env.run(&["scope", "-n", "nosuchns"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).starts_with("error: namespace \"nosuchns\" does not exist"),
        "{}",
        stderr(&o)
    );

    // The context's namespace holds no ExternalSecret: say so and point at -A.
    let o = env.run(&["scope"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(!text.contains("healthy"), "{text}");
    assert!(
        text.contains("no ExternalSecrets in namespace default"),
        "{text}"
    );
    assert!(text.contains("Next:\n  kubectl eso scope -A\n"), "{text}");
    env.sandbox.shutdown().await;
}
