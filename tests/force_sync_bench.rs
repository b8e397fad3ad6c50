//! Issue 6 benchmark (not a timed test; `#[ignore]`d, run by tests/bench/force_sync.sh):
//! `force-sync --all -A` over the sandbox's `scale` scenario (500 ExternalSecrets in 200
//! namespaces on 4 ClusterSecretStores by default, FORCE_SYNC_BENCH_N to change). Prints the wall
//! time, how long the command ran after ESO's slowest sync (seen from inside the cluster), the
//! number of API requests the tool made and how many ExternalSecret watches it opened. It fails
//! if not everything synced, if more than one ExternalSecret watch was opened, or if the command
//! ran on for 1.5 s or more after the slowest sync.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{run_with, stderr, stdout, write_file};
use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

/// The number after `prefix` on the first stderr line that contains it.
fn number_after(text: &str, prefix: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(prefix))?;
    let rest = &line[line.find(prefix)? + prefix.len()..];
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

fn key(es: &Value) -> String {
    format!("{}/{}", es["metadata"]["namespace"], es["metadata"]["name"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run tests/bench/force_sync.sh"]
async fn force_sync_all_namespaces_scale() {
    let n: usize = std::env::var("FORCE_SYNC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: "scale".into(),
        scale: Some(n),
        ..SandboxOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox: {e:#}"));
    sandbox.wait_idle().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));

    // The moment ESO wrote its last new syncedResourceVersion, seen from inside the cluster.
    let store = sandbox.api().store();
    let initial: HashMap<String, Value> = store
        .list("external-secrets.io/v1", "ExternalSecret", None)
        .iter()
        .map(|es| (key(es), es["status"]["syncedResourceVersion"].clone()))
        .collect();
    let mut changes = store.subscribe();
    let last_sync = tokio::spawn(async move {
        let mut last: Option<Instant> = None;
        let mut synced = 0usize;
        let mut seen: HashMap<String, Value> = initial;
        while let Ok(ev) = changes.recv().await {
            if ev.object_kind != "ExternalSecret" {
                continue;
            }
            let rv = ev.object["status"]["syncedResourceVersion"].clone();
            let old = seen.insert(key(&ev.object), rv.clone());
            if old.is_some_and(|o| o != rv) {
                last = Some(Instant::now());
                synced += 1;
                if synced == n {
                    break;
                }
            }
        }
        last
    });

    let started = Instant::now();
    let o = tokio::task::spawn_blocking(move || {
        run_with(
            &kubeconfig,
            &[
                "force-sync",
                "--all",
                "-A",
                "--timeout",
                "50s",
                "-o",
                "json",
                "-v",
            ],
            &[],
        )
    })
    .await
    .unwrap_or_else(|e| panic!("runner: {e}"));
    let wall = started.elapsed();
    let finished = Instant::now();
    let last_sync = tokio::time::timeout(std::time::Duration::from_secs(5), last_sync)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    let after_slowest = last_sync.map(|t| finished.duration_since(t).as_secs_f64());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("json: {e}"));
    let synced = report["summary"]["synced"].as_u64().unwrap_or(0);
    let requests = number_after(&err, "force-sync: ").unwrap_or(f64::NAN);
    let es_watches = err
        .lines()
        .filter(|l| l.contains("WATCH externalsecrets: started"))
        .count();
    let resumes = err
        .lines()
        .filter(|l| l.contains("WATCH externalsecrets: resumed"))
        .count();
    println!("force-sync --all -A over {n} ExternalSecrets (sandbox scale scenario)");
    println!("  synced:                          {synced}/{n}");
    println!(
        "  wall time:                       {:.2} s",
        wall.as_secs_f64()
    );
    println!(
        "  ran after the slowest sync:      {:.3} s",
        after_slowest.unwrap_or(f64::NAN)
    );
    println!("  API requests made by the tool:   {requests}");
    println!("  ExternalSecret watches opened:   {es_watches} (resumed {resumes}x)");
    assert_eq!(synced as usize, n, "{err}");
    assert_eq!(es_watches, 1, "{err}");
    let after = after_slowest.unwrap_or(f64::INFINITY);
    assert!(after < 1.5, "ran {after}s after the slowest sync");
    sandbox.shutdown().await;
}
