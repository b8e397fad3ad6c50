//! Issue 4 foundation behaviour that needs no cluster: usage and help wording, bad flags, exit
//! codes, completions.

use assert_cmd::Command;

fn eso(args: &[&str]) -> std::process::Output {
    let mut cmd = match Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    match cmd
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn issue4_help_says_kubectl_eso_and_has_examples() {
    let o = eso(&["scope", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("Usage: kubectl eso scope"), "{out}");
    assert!(
        out.contains("Examples:")
            && out.contains("kubectl eso scope deployment/order-service -n prod"),
        "{out}"
    );
    let out = text(&eso(&["completion", "--help"]).stdout);
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn issue4_bad_flags_are_exit_2_with_usage() {
    let o = eso(&["scope", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    // issue 18: one line and a hint, not clap's 4-6 lines.
    assert!(
        err.starts_with("error: unexpected argument '--no-such-flag'")
            && err.contains("\nhint: ")
            && err.contains("see 'kubectl eso scope --help'"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    let o = eso(&["scope", "-o", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = eso(&["scope", "--request-timeout", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
}

#[test]
fn issue4_unreachable_cluster_is_exit_2_in_one_line() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    // A port nothing listens on.
    let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n";
    let path = dir.path().join("kc");
    if let Err(e) = std::fs::write(&path, kc) {
        panic!("{e}");
    }
    let o = eso(&[
        "scope",
        "--kubeconfig",
        path.to_str().unwrap_or_default(),
        "--request-timeout",
        "5s",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    let missing = eso(&["scope", "--kubeconfig", "/nonexistent/kc"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot load kubeconfig"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn issue4_completion_scripts_for_three_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let o = eso(&["completion", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let out = text(&o.stdout);
        assert!(
            out.contains("kubectl-eso") && out.contains("__complete"),
            "{shell}: {out}"
        );
    }
    let o = eso(&["__complete", "scope", "-o", ""]);
    assert_eq!(text(&o.stdout), "table\nwide\njson\nyaml\n:4\n");
}

#[test]
fn issue4_kubectl_plugin_completion_script_answers_in_cobra_format() {
    let script = format!(
        "{}/completions/kubectl_complete-eso",
        env!("CARGO_MANIFEST_DIR")
    );
    let bin = assert_cmd::cargo::cargo_bin("kubectl-eso");
    let bin_dir = bin.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // kubectl runs the script with the words after `kubectl eso`, the last one being completed.
    let o = match std::process::Command::new(&script)
        .args(["sc"])
        .env("PATH", path)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("{script}: {e}"),
    };
    assert_eq!(text(&o.stdout), "scope\n:4\n", "{}", text(&o.stderr));
}
