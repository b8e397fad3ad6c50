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

/// Issue 13, "say it once": `force-sync --store` on ExternalSecrets of a store that is not Ready
/// printed one identical error and one identical hint per ExternalSecret, and `--dry-run` printed
/// one progress line per ExternalSecret however many there were. `-o jsonpath=` is checked on
/// the same cluster. No controller runs here: nothing is waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_force_sync_says_a_shared_cause_once_and_totals_a_big_dry_run() {
    const V1: &str = "external-secrets.io/v1";
    let c = Cluster::start(kube_sim::EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let broken = c.create(vault_secret_store(V1, "prod", "vault"));
    c.set_status(&broken, store_status(false, "InvalidProviderConfig"));
    let fine = c.create(vault_secret_store(V1, "prod", "vault-ok"));
    c.set_status(&fine, store_status(true, "Valid"));
    for i in 0..7 {
        let name = format!("broken-{i}");
        seed_es(
            &c,
            V1,
            ("prod", &name),
            ("SecretStore", "vault"),
            &name,
            false,
            None,
        );
    }
    for i in 0..25 {
        let name = format!("fine-{i:02}");
        seed_es(
            &c,
            V1,
            ("prod", &name),
            ("SecretStore", "vault-ok"),
            &name,
            true,
            None,
        );
    }

    let o = c.run(&["force-sync", "--store", "SecretStore/vault", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "✗ cannot resync: 7 ExternalSecrets (prod/broken-0, prod/broken-1, prod/broken-2, \
             prod/broken-3, prod/broken-4 and 2 more): SecretStore/vault is not ready"
        ),
        "{err}"
    );
    assert_eq!(out.matches("hint:").count(), 1, "{out}");
    assert!(
        out.contains("hint: 7 ExternalSecrets (prod/broken-0,"),
        "{out}"
    );

    let o = c.run(&["force-sync", "--all", "-n", "prod", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("► would annotate 25 ExternalSecrets (prod/fine-00,"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("32 selected: 25 would be annotated, 7 cannot resync"),
        "{}",
        stdout(&o)
    );

    // -o jsonpath over scope's JSON, with range, a filter and a literal newline.
    let o = c.run(&[
        "scope",
        "-n",
        "prod",
        "-o",
        "jsonpath={range .externalSecrets[?(@.ready.status==\"False\")]}{.name}{\"\\n\"}{end}",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let names: Vec<String> = (0..7).map(|i| format!("broken-{i}")).collect();
    assert_eq!(stdout(&o), format!("{}\n", names.join("\n")));
    let o = c.run(&[
        "force-sync",
        "--all",
        "-n",
        "prod",
        "--dry-run",
        "-o",
        "jsonpath={.kind}",
    ]);
    assert_eq!(stdout(&o), "ForceSyncReport");
    // A malformed template is a usage error before any request.
    let o = c.run(&["scope", "-o", "jsonpath={.externalSecrets"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: jsonpath template"),
        "{}",
        stderr(&o)
    );
}

/// Issue 13: `scope -w` as `kubectl get -w`: the table, then the row of an ExternalSecret that
/// changes, printed again without a header, while the command keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_scope_watch_prints_a_changed_row() {
    use std::io::BufRead;
    const V1: &str = "external-secrets.io/v1";
    let c = Cluster::start(kube_sim::EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let store = c.create(vault_secret_store(V1, "prod", "vault"));
    c.set_status(&store, store_status(true, "Valid"));
    let a = seed_es(
        &c,
        V1,
        ("prod", "app-a"),
        ("SecretStore", "vault"),
        "app-a",
        true,
        Some("v-a"),
    );
    seed_es(
        &c,
        V1,
        ("prod", "app-b"),
        ("SecretStore", "vault"),
        "app-b",
        true,
        Some("v-b"),
    );

    let mut child = match Command::new(binary())
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["scope", "-n", "prod", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("{e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout")
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &dyn Fn(&str) -> bool| -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
            let done = what(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("not seen in 20s; got {seen:#?}");
    };
    // The whole report first, down to its verdict.
    let first = wait_for(&|l: &str| l.starts_with("  healthy"));
    assert!(first[0].starts_with("NAME"), "{first:#?}");

    let mut failed = es_status(false, &ago(0));
    failed["syncedResourceVersion"] = "1-abc".into();
    c.set_status(&a, failed);
    let changed = wait_for(&|l: &str| l.starts_with("app-a"));
    let row = changed.last().cloned().unwrap_or_default();
    assert!(
        row.contains("False") && row.contains("SecretSyncedError"),
        "{changed:#?}"
    );
    // Only the changed row: app-b did not change, and no header is printed again.
    assert!(
        changed
            .iter()
            .all(|l| !l.starts_with("app-b") && !l.starts_with("NAME")),
        "{changed:#?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 13: `scope -w` redraws on what changes a row without changing its ExternalSecret: the
/// target Secret deleted (the row's target goes missing), then the store turning not Ready (the
/// failing row's root cause). Before, only ExternalSecret events were watched and neither was printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_scope_watch_redraws_on_store_and_secret_changes() {
    use std::io::BufRead;
    const V1: &str = "external-secrets.io/v1";
    let c = Cluster::start(kube_sim::EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let store = c.create(vault_secret_store(V1, "prod", "vault"));
    let store = c.set_status(&store, store_status(true, "Valid"));
    for app in ["app-a", "app-b"] {
        seed_es(
            &c,
            V1,
            ("prod", app),
            ("SecretStore", "vault"),
            app,
            true,
            Some("canary-watch-value"),
        );
    }
    let mut child = match Command::new(binary())
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["scope", "-n", "prod", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("{e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout")
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &dyn Fn(&str) -> bool| -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
            let done = what(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("not seen in 20s; got {seen:#?}");
    };
    let first = wait_for(&|l: &str| l.starts_with("  healthy"));
    assert!(first[0].starts_with("NAME"), "{first:#?}");
    // Let the watches start from the state the table showed.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    if let Err(e) = c.api.store().delete("v1", "Secret", Some("prod"), "app-b") {
        panic!("delete Secret: {e:?}");
    }
    let changed = wait_for(&|l: &str| l.starts_with("app-b"));
    assert!(
        changed.iter().all(|l| !l.starts_with("app-a")),
        "only app-b's target changed: {changed:#?}"
    );

    c.set_status(&store, store_status(false, "InvalidProviderConfig"));
    // app-b, failing on its missing Secret, now has the store as its root cause.
    let changed = wait_for(&|l: &str| l.contains("[store-not-ready]"));
    assert!(
        changed.last().is_some_and(|l| l.starts_with("app-b")),
        "{changed:#?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
