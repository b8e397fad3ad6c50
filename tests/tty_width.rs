//! Issue 13 "Done when": on a real terminal 80 columns wide (a tmux pane), with no `COLUMNS` in
//! the environment, `describe-chain` and `doctor` find the width themselves and print no line
//! longer than the terminal. tmux is the terminal: `capture-pane -J` joins the rows a too-long
//! line was wrapped over, so any joined line over 80 characters is a line the tool printed too
//! long. Needs tmux (`apt-get install tmux`; `.ci/run` installs it); without it the test is
//! ignored with that reason, and under CI=true it runs and fails.

mod common;

use common::*;
use eso_sandbox::{Sandbox, SandboxOptions};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .arg("-f")
        .arg("/dev/null")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("tmux is not on PATH ({e}): apt-get install tmux"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `command` in a fresh 80x50 tmux pane and returns what the pane shows, rows joined.
fn in_terminal(socket: &str, command: &str) -> String {
    tmux(
        socket,
        &[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "50",
            "-s",
            "t",
            &format!("{command}; echo __DONE__; sleep 120"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = tmux(socket, &["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
        if screen.contains("__DONE__") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    tmux(socket, &["kill-server"]);
    assert!(screen.contains("__DONE__"), "did not finish:\n{screen}");
    screen
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg_attr(not(has_tmux), ignore = "needs tmux on PATH: apt-get install tmux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_describe_chain_and_doctor_fit_an_80_column_terminal() {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: "vault-policy-removed".into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox: {e:#}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
    let vault = sandbox.vault().addr();
    let host = vault
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let exe = env!("CARGO_BIN_EXE_kubectl-eso");
    for (i, args) in ["describe-chain order-service-regcred -n prod", "doctor -A"]
        .iter()
        .enumerate()
    {
        let command = format!(
            "env -u COLUMNS -u LINES NO_COLOR=1 KUBECTL_ESO_TRUST_PROVIDER_HOST={} {} --kubeconfig {} {args}",
            quote(&host),
            quote(exe),
            quote(&kubeconfig.display().to_string()),
        );
        let socket = format!("kubectl-eso-{}-{i}", std::process::id());
        let screen = in_terminal(&socket, &command);
        // The command ran and said something about the incident, not a usage error.
        assert!(
            screen.contains("order-service-regcred"),
            "{args}:\n{screen}"
        );
        let long: Vec<&str> = screen.lines().filter(|l| l.chars().count() > 80).collect();
        assert!(
            long.is_empty(),
            "{args}: lines over 80 columns:\n{long:#?}\n{screen}"
        );
    }
    sandbox.shutdown().await;
}
