//! Issue 16 "Done when": outputs are byte-for-byte the same as before the reduction — every LIST
//! page cut to what the diagnosis reads (`kube::reduce`) loses nothing users see. Each command
//! runs twice in this process against the same paused sandbox, once reducing and once keeping
//! every object whole as before issue 16 (`kube::reduce::keep_whole_objects`, set by nothing but
//! this test), and the bytes of table, wide, JSON and YAML output must be equal.
//!
//! The scenarios are those whose output reads what the reduction touches: owner references
//! (two owners of one Secret), a Secret's last write time from its managedFields (rotation not
//! propagated), Events by uid and name (Vault's error), consumer pods (a missing key), and the
//! `scale` scenario, whose many Events about ExternalSecrets the reduction drops or keeps. The
//! snapshot tests cover every scenario's tables against the committed snapshots.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};
use eso_sandbox::{Sandbox, SandboxOptions};
use kubectl_eso::cli::Cli;
use kubectl_eso::kube::reduce::keep_whole_objects;

/// Runs one command in this process and returns its stdout.
async fn run(kubeconfig: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let mut argv: Vec<OsString> = vec!["kubectl-eso".into(), "--kubeconfig".into()];
    argv.push(kubeconfig.into());
    argv.extend(args.iter().map(OsString::from));
    let matches = Cli::command()
        .try_get_matches_from(&argv)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut out = Vec::new();
    kubectl_eso::cmd::dispatch(cli, argv[0].as_os_str(), &mut out)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    out
}

/// The first line where two outputs differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let mut la = a.lines();
    let mut lb = b.lines();
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => break,
            (x, y) if x == y => {}
            (x, y) => return format!("line {n}:\n  reduced: {x:?}\n  whole:   {y:?}"),
        }
    }
    "same lines, different bytes (line endings?)".into()
}

const COMMANDS: &[&[&str]] = &[
    &["scope", "-A"],
    &["scope", "-A", "-o", "wide"],
    &["scope", "-A", "-o", "json"],
    &["scope", "-A", "-o", "yaml"],
    &["doctor", "-A", "--no-probe"],
    &["doctor", "-A", "--no-probe", "-o", "json"],
];

/// The commands' futures are large in a debug build: run on a stack as big as the binary's
/// main thread has, and workers as big (a test thread has 2 MiB).
#[test]
fn issue16_reduced_pages_give_the_same_bytes_as_whole_objects() {
    const STACK: usize = 16 << 20;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runner = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("runtime: {e}"))
                .block_on(compare_every_scenario());
        })
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    if let Err(panic) = runner.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn compare_every_scenario() {
    for (scenario, scale) in [
        ("two-owners-one-secret", None),
        ("rotation-not-propagated", None),
        ("vault-policy-removed", None),
        ("consumer-key-missing", None),
        ("scale", Some(300)),
    ] {
        let sandbox = Sandbox::start(SandboxOptions {
            scenario: scenario.into(),
            scale,
            ..SandboxOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
        sandbox.set_eso_paused(true);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sandbox.api().kubeconfig(None))
            .unwrap_or_else(|e| panic!("write kubeconfig: {e}"));
        for args in COMMANDS {
            // Ages are computed from the clock: a pair that straddles a second (or a minute)
            // boundary may differ for that reason alone, so a pair is tried three times. A field
            // the reduction lost differs every time.
            let mut last = None;
            for _ in 0..3 {
                keep_whole_objects(false);
                let reduced = run(&kubeconfig, args).await;
                keep_whole_objects(true);
                let whole = run(&kubeconfig, args).await;
                keep_whole_objects(false);
                assert!(!reduced.is_empty(), "{scenario} {args:?}: no output");
                if reduced == whole {
                    last = None;
                    break;
                }
                last = Some(first_difference(&reduced, &whole));
            }
            if let Some(diff) = last {
                panic!("{scenario} {args:?}: the reduction changed the output, {diff}");
            }
        }
        sandbox.shutdown().await;
    }
}
