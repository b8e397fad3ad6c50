//! Issue 18: fault injection reachable from outside the process while it runs. The real binary
//! serves a sandbox with `--admin-addr 127.0.0.1:0`; the test reads the admin URL it prints,
//! switches faults over plain HTTP (403, 429 with Retry-After, 500, hang) and runs the real
//! binary against the sandbox between switches.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The serving sandbox; killed (by its own handle) when the test ends, pass or fail.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("kubectl-eso")
}

/// `METHOD path` with `body` against the admin endpoint: (status code, body).
fn admin(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let host = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("admin {host}: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

#[test]
fn issue_18_admin_endpoint_switches_faults_of_a_running_sandbox() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("kubeconfig");
    let child = Command::new(bin())
        .env_remove("KUBECONFIG")
        .args([
            "sandbox",
            "--scenario",
            "healthy",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the sandbox: {e}"));
    let mut served = Served(child);
    let pipe = served
        .0
        .stderr
        .take()
        .unwrap_or_else(|| panic!("no stderr"));
    let mut lines = BufReader::new(pipe).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("admin: ") {
                    break rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
            }
            _ => panic!("the sandbox ended without printing its admin endpoint"),
        }
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep draining the sandbox's stderr so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let started = Instant::now();
    while !kubeconfig.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let scope = |extra: &[&str]| {
        let mut args = vec!["scope", "-A", "-o", "json"];
        args.extend_from_slice(extra);
        let t = Instant::now();
        let o = run_with(&kubeconfig, &args, &[]);
        (o, t.elapsed())
    };

    let (o, _) = scope(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "healthy before any fault: {}",
        stderr(&o)
    );

    assert_eq!(admin(&url, "POST", "/faults", "externalsecrets=403").0, 200);
    let (o, _) = scope(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("403"), "{}", stderr(&o));
    let (code, listed) = admin(&url, "GET", "/faults", "");
    assert_eq!((code, listed.trim()), (200, "externalsecrets=403"));

    assert_eq!(admin(&url, "DELETE", "/faults/externalsecrets", "").0, 204);
    let (o, _) = scope(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "fault switched off: {}",
        stderr(&o)
    );

    assert_eq!(
        admin(&url, "POST", "/faults", "externalsecrets=429:1").0,
        200
    );
    let (o, took) = scope(&["--request-timeout", "2s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("429"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(30), "429 bounded: {took:?}");

    assert_eq!(
        admin(&url, "POST", "/faults", "externalsecrets=hang").0,
        200
    );
    let (o, took) = scope(&["--request-timeout", "2s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        took < Duration::from_secs(30),
        "a hang is bounded: {took:?}"
    );

    assert_eq!(admin(&url, "DELETE", "/faults", "").0, 204);
    assert_eq!(admin(&url, "POST", "/faults", "secrets=500").0, 200);
    let (o, _) = scope(&[]);
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("500"),
        "a 500 on secrets is stated as degraded: {}",
        stdout(&o)
    );

    let (code, body) = admin(&url, "POST", "/faults", "externalsecrets=teapot");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("expected RESOURCE=FAULT"), "{body}");
    assert_eq!(admin(&url, "DELETE", "/faults", "").0, 204);
    let (o, _) = scope(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn issue_18_admin_endpoint_only_on_loopback() {
    let o = assert_cmd::Command::new(bin())
        .args(["sandbox", "--admin-addr", "0.0.0.0:0", "--", "scope", "-A"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("only listens on loopback"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
