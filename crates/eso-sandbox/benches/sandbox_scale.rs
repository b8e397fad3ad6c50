//! Scale benchmark of the sandbox itself (issue 16): how long `sandbox --scenario scale --scale N` takes
//! to start (load the objects, let the simulated ESO reconcile every ExternalSecret) in wall and CPU
//! time (CPU is the figure to compare on a shared machine), how much memory the simulated cluster
//! holds per ExternalSecret and per stored object next to the size of its JSON, and what a 500-item
//! LIST page costs its API server, at the start of a LIST and at its end (a page must cost its own
//! size, not the cluster's).
//!
//! A plain `main` (harness = false), printing figures rather than passing or failing on time:
//!
//!   SANDBOX_SCALE=30000 cargo bench -p eso-sandbox --bench sandbox_scale
//!   SANDBOX_SCALE=100000 cargo bench -p eso-sandbox --bench sandbox_scale
//!   SANDBOX_SCALE=100000 SANDBOX_SCALE_PAGES=0 cargo bench ...    # the start only
//!
//! Server time per page, without the client's share: run with KUBE_SIM_REQUEST_LOG=FILE (one JSON
//! line per request, with its server micros).
//!
//! Unoptimised builds (`cargo test --all-targets` runs this file too) default to 500 ExternalSecrets.
//! It exits non-zero only when the sandbox does not start or a LIST does not return every object.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

fn scale() -> usize {
    let default = if cfg!(debug_assertions) { 500 } else { 10_000 };
    std::env::var("SANDBOX_SCALE")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) of this process in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) this process has used so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name; 100 ticks/s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Pages {
    times: Vec<Duration>,
    items: usize,
    bytes: usize,
}

impl Pages {
    fn print(&self, label: &str) {
        let mut t = self.times.clone();
        t.sort();
        let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        let total: Duration = self.times.iter().sum();
        println!(
            "  {label:<34} {:>7} items {:>4} pages {:>11} bytes  page: first {:>6.1} ms  median {:>6.1} ms  last {:>6.1} ms  max {:>6.1} ms  total {:>7.0} ms",
            self.items,
            self.times.len(),
            self.bytes,
            ms(self.times.first()),
            ms(t.get(t.len() / 2)),
            ms(self.times.last()),
            ms(t.last()),
            total.as_secs_f64() * 1000.0
        );
    }
}

/// Every page of a LIST with `limit=500`, timed one by one.
async fn list_pages(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    accept: &str,
) -> Result<Pages, String> {
    let mut pages = Pages {
        times: vec![],
        items: 0,
        bytes: 0,
    };
    let mut cont = String::new();
    loop {
        let mut url = format!("{base}{path}?limit=500");
        if !cont.is_empty() {
            url.push_str(&format!("&continue={cont}"));
        }
        let started = Instant::now();
        let resp = client
            .get(&url)
            .bearer_auth(token)
            .header("accept", accept)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("LIST {path} answered {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        pages.times.push(started.elapsed());
        pages.bytes += body.len();
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        pages.items += v
            .get("items")
            .or_else(|| v.get("rows"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        cont = v
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if cont.is_empty() {
            return Ok(pages);
        }
    }
}

async fn run() -> Result<bool, String> {
    let n = scale();
    let (rss_before, _) = memory_kib();
    let started = Instant::now();
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: "scale".into(),
        scale: Some(n),
        tls: true,
        ..SandboxOptions::default()
    })
    .await
    .map_err(|e| format!("the sandbox did not start: {e:#}"))?;
    let start_time = started.elapsed();
    let start_cpu = cpu_seconds();
    let (rss_after, hwm_after) = memory_kib();
    let store = sandbox.api().store();
    let count = |av: &str, kind: &str| store.count(av, kind, None);
    let es = count("external-secrets.io/v1", "ExternalSecret");
    let secrets = count("v1", "Secret");
    let pods = count("v1", "Pod");
    let events = count("v1", "Event");
    println!("sandbox --scenario scale --scale {n}");
    println!("  objects: {es} ExternalSecrets, {secrets} Secrets, {pods} Pods, {events} Events");
    println!(
        "  start time:                 {:>8.1} s wall, {start_cpu:.1} s CPU (user + system)",
        start_time.as_secs_f64()
    );
    println!(
        "  memory after start:         {:>8.1} MiB RSS ({:.1} MiB before), peak {:.1} MiB",
        mib(rss_after),
        mib(rss_before),
        mib(hwm_after)
    );
    println!(
        "  held per 1,000 ExternalSecrets (with their Secrets, Pods, Events): {:.1} MiB",
        mib(rss_after.saturating_sub(rss_before)) * 1000.0 / n.max(1) as f64
    );
    let (objects, json_bytes) = store.footprint();
    println!(
        "  stored: {objects} objects, {:.1} MiB of JSON; RSS per object {:.0} bytes for {:.0} bytes of JSON",
        json_bytes as f64 / 1048576.0,
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / objects.max(1) as f64,
        json_bytes as f64 / objects.max(1) as f64
    );

    if std::env::var("SANDBOX_SCALE_PAGES").as_deref() == Ok("0") {
        sandbox.shutdown().await;
        return Ok(true);
    }
    let ca = sandbox.api().ca_pem().ok_or("the sandbox has no CA")?;
    let cert = reqwest::Certificate::from_pem(ca.as_bytes()).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .tls_certs_only([cert])
        .http1_only()
        .build()
        .map_err(|e| e.to_string())?;
    let (base, token) = (sandbox.api().url(), sandbox.api().admin_token());
    let json = "application/json";
    let metadata =
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    // Warm the connection so the first page does not pay for the TLS handshake.
    list_pages(&client, &base, &token, "/api/v1/namespaces", json).await?;
    println!("LIST with limit=500 over HTTPS, every page timed:");
    let lists = [
        (
            "ExternalSecrets",
            "/apis/external-secrets.io/v1/externalsecrets",
            json,
            es,
        ),
        (
            "ExternalSecrets (Table)",
            "/apis/external-secrets.io/v1/externalsecrets",
            table,
            es,
        ),
        (
            "Secrets (metadata only)",
            "/api/v1/secrets",
            metadata,
            secrets,
        ),
        ("Pods", "/api/v1/pods", json, pods),
        ("Events", "/api/v1/events", json, events),
    ];
    let mut complete = true;
    for (label, path, accept, expected) in lists {
        let pages = list_pages(&client, &base, &token, path, accept).await?;
        pages.print(label);
        if pages.items != expected {
            println!(
                "  FAIL: {label}: {} items listed, {expected} stored",
                pages.items
            );
            complete = false;
        }
    }
    // A paged LIST while its type changes is served from an older resourceVersion: it must still
    // cost a page, not a rebuild of the whole type.
    let churn_store = store.clone();
    let churn = std::thread::spawn(move || {
        for i in 0..200 {
            let _ = churn_store.create(serde_json::json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("bench-churn-{i}"), "namespace": "team-000"},
                "involvedObject": {"kind": "Pod", "namespace": "team-000", "name": "app-00000-0"},
                "reason": "Bench", "message": "churn", "type": "Normal",
            }));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let pages = list_pages(&client, &base, &token, "/api/v1/events", json).await?;
    let _ = churn.join();
    pages.print("Events (while Events are written)");
    let (_, hwm_end) = memory_kib();
    println!("peak memory of the whole run: {:.1} MiB", mib(hwm_end));
    sandbox.shutdown().await;
    Ok(complete)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
