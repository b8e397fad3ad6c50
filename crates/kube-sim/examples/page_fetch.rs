//! The page-fetch baseline of the scale benchmark (issue 16, tests/bench/scale.sh): a bare client that
//! fetches exactly the pages another client fetched — read from kube-sim's request log
//! (`KUBE_SIM_REQUEST_LOG`) — with the same Accept headers and query parameters, following its own
//! `continue` tokens, and with the same concurrency: a LIST (all its pages) or GET starts once every
//! request that had finished before it started in the logged run has finished here. It reads each
//! body just far enough to find the next `continue` token, keeps nothing, and prints what it fetched.
//! Its wall time and peak memory are the floor a real client can reach on that work.
//!
//! `cargo run --release -p kube-sim --example page_fetch -- KUBECONFIG REQUEST_LOG [FROM_LINE [TO_LINE]]`
//! (lines 1-based and inclusive; default: the whole log).

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

/// One request of the log, as kube-sim writes it.
#[derive(Debug, Deserialize)]
struct Logged {
    start_us: u64,
    method: String,
    path: String,
    #[serde(default)]
    accept: String,
    micros: u64,
}

/// A LIST with all its pages, or a single GET, to replay as one unit.
#[derive(Debug)]
struct Stream {
    /// The first request's path and query, without `continue`.
    path: String,
    accept: String,
    start_us: u64,
    end_us: u64,
    pages: usize,
}

/// Only what a client must read of a page to go on.
#[derive(Deserialize)]
struct PageMeta {
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Default, Deserialize)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    cont: Option<String>,
}

fn without_continue(path: &str) -> (String, bool) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_string(), false);
    };
    let mut had = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let is_cont = kv.starts_with("continue=");
            had |= is_cont;
            !is_cont && !kv.is_empty()
        })
        .collect();
    if kept.is_empty() {
        (base.to_string(), had)
    } else {
        (format!("{base}?{}", kept.join("&")), had)
    }
}

fn is_watch(path: &str) -> bool {
    path.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"))
}

/// Group the log's GETs into streams: a request with `continue` belongs to the latest open stream
/// with the same path (without `continue`).
fn streams(lines: &[Logged]) -> Vec<Stream> {
    let mut out: Vec<Stream> = Vec::new();
    for l in lines
        .iter()
        .filter(|l| l.method == "GET" && !is_watch(&l.path))
    {
        let (path, cont) = without_continue(&l.path);
        let end = l.start_us + l.micros;
        if cont
            && let Some(s) = out
                .iter_mut()
                .rev()
                .find(|s| s.path == path && s.accept == l.accept)
        {
            s.pages += 1;
            s.end_us = s.end_us.max(end);
            continue;
        }
        out.push(Stream {
            path,
            accept: l.accept.clone(),
            start_us: l.start_us,
            end_us: end,
            pages: 1,
        });
    }
    out
}

struct Target {
    server: String,
    token: String,
    client: reqwest::Client,
}

fn target(kubeconfig: &str) -> Result<Target, String> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|e| format!("{kubeconfig}: {e}"))?;
    let kc: Value = serde_saphyr::from_str(&text).map_err(|e| format!("{kubeconfig}: {e}"))?;
    let cluster = kc
        .pointer("/clusters/0/cluster")
        .ok_or("the kubeconfig has no cluster")?;
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .ok_or("the kubeconfig's cluster has no server")?
        .trim_end_matches('/')
        .to_string();
    let token = kc
        .pointer("/users/0/user/token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // HTTP/1.1 like kube-rs, so both clients pay for the same protocol.
    let mut builder = reqwest::Client::builder().http1_only();
    if let Some(ca) = cluster
        .get("certificate-authority-data")
        .and_then(Value::as_str)
    {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .map_err(|e| format!("certificate-authority-data: {e}"))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
        builder = builder.tls_certs_only([cert]);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    Ok(Target {
        server,
        token,
        client,
    })
}

/// Fetch one stream, following `continue`; returns (pages, bytes).
async fn fetch(t: &Target, s: &Stream) -> Result<(usize, usize), String> {
    let (mut pages, mut bytes) = (0, 0);
    let mut cont: Option<String> = None;
    loop {
        let mut url = format!("{}{}", t.server, s.path);
        if let Some(c) = &cont {
            url.push(if s.path.contains('?') { '&' } else { '?' });
            url.push_str("continue=");
            url.push_str(c);
        }
        let mut req = t.client.get(&url).bearer_auth(&t.token);
        if !s.accept.is_empty() {
            req = req.header("accept", &s.accept);
        }
        let body = req
            .send()
            .await
            .map_err(|e| format!("GET {}: {e}", s.path))?
            .bytes()
            .await
            .map_err(|e| format!("GET {}: {e}", s.path))?;
        pages += 1;
        bytes += body.len();
        let meta: PageMeta = serde_json::from_slice(&body).unwrap_or(PageMeta {
            metadata: ListMeta::default(),
        });
        match meta.metadata.cont.filter(|c| !c.is_empty()) {
            Some(c) => cont = Some(c),
            None => return Ok((pages, bytes)),
        }
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let [kubeconfig, log, rest @ ..] = args else {
        return Err("usage: page_fetch KUBECONFIG REQUEST_LOG [FROM_LINE [TO_LINE]]".into());
    };
    let line_arg = |i: usize, default: usize| -> Result<usize, String> {
        rest.get(i)
            .map(|s| s.parse::<usize>().map_err(|e| format!("line {s:?}: {e}")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let text = std::fs::read_to_string(log).map_err(|e| format!("{log}: {e}"))?;
    let all: Vec<&str> = text.lines().collect();
    let from = line_arg(0, 1)?.max(1);
    let to = line_arg(1, all.len())?.min(all.len());
    let lines: Vec<Logged> = all
        .get(from - 1..to)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let streams = streams(&lines);
    let logged_pages: usize = streams.iter().map(|s| s.pages).sum();
    let t = Arc::new(target(kubeconfig)?);
    let started = Instant::now();
    let mut done_tx = Vec::new();
    let mut done_rx = Vec::new();
    for _ in &streams {
        let (tx, rx) = watch::channel(false);
        done_tx.push(tx);
        done_rx.push(rx);
    }
    let streams = Arc::new(streams);
    let mut tasks = Vec::new();
    for (i, tx) in done_tx.into_iter().enumerate() {
        // What had finished before this stream started in the logged run must finish first here.
        let deps: Vec<watch::Receiver<bool>> = (0..streams.len())
            .filter(|&j| j != i && streams[j].end_us <= streams[i].start_us)
            .map(|j| done_rx[j].clone())
            .collect();
        let (t, streams) = (t.clone(), streams.clone());
        tasks.push(tokio::spawn(async move {
            for mut d in deps {
                let _ = d.wait_for(|done| *done).await;
            }
            let r = fetch(&t, &streams[i]).await;
            let _ = tx.send(true);
            r
        }));
    }
    let (mut pages, mut bytes) = (0, 0);
    for task in tasks {
        let (p, b) = task.await.map_err(|e| e.to_string())??;
        pages += p;
        bytes += b;
    }
    println!(
        "page_fetch: {} streams, {pages} requests (logged: {logged_pages}), {bytes} bytes, {:.3} s",
        streams.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
