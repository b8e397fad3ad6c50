//! Issue 16 against the sandbox run as a separate process (its API server's request log is a
//! per-process setting, `KUBE_SIM_REQUEST_LOG`): `--cached` LISTs with `resourceVersion=0` and says
//! so in every output, a plain run does neither; and the memory regression check
//! (`tests/bench/memory-check.sh`: peak RSS per 1,000 ExternalSecrets of `scope` and `doctor`)
//! at a small size of the `scale` scenario.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The two tests each start a scale sandbox: run one at a time, so the memory check does not
/// measure a sandbox whose simulated ESO shares two cores with the other test's.
static ONE_SANDBOX: std::sync::Mutex<()> = std::sync::Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-eso");
const CACHED_NOTE: &str =
    "Read from the API server's watch cache (--cached): possibly a few seconds stale.";

/// A sandbox process with its request log; killed when dropped.
struct Sandbox {
    child: Child,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    fn start(args: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = dir.path().join("sandbox.kubeconfig");
        let child = Command::new(BIN)
            .arg("sandbox")
            .args(args)
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .env("KUBE_SIM_REQUEST_LOG", dir.path().join("requests.log"))
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the sandbox: {e}"));
        let mut sb = Sandbox {
            child,
            dir,
            kubeconfig,
        };
        // The kubeconfig appears only once the API answers.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !sb.kubeconfig.exists() {
            assert!(Instant::now() < deadline, "no kubeconfig after 120 s");
            if let Ok(Some(status)) = sb.child.try_wait() {
                panic!("sandbox exited early with {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        sb
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("requests.log")
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Runs the plugin; returns its output and the requests it caused.
    fn run(&self, args: &[&str]) -> (Output, Vec<Value>) {
        let before = self.requests().len();
        let out = Command::new(BIN)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("run {args:?}: {e}"));
        (out, self.requests().split_off(before))
    }
}

/// The collection LISTs among the requests (paths of GETs with a query that is no watch, and
/// the LISTs of ExternalSecrets, Secrets and Events, which every run makes).
fn lists(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["method"] == "GET")
        .filter_map(|r| r["path"].as_str())
        .filter(|p| !p.contains("watch="))
        .filter(|p| {
            let path = p.split('?').next().unwrap_or_default();
            ["/externalsecrets", "/secrets", "/events", "/pods"]
                .iter()
                .any(|plural| path.ends_with(plural))
        })
        .map(str::to_string)
        .collect()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            text(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Issue 16: `--cached` reads every LIST from the watch cache (`resourceVersion=0`, no limit, so
/// no continue) and every output says so; without it, LISTs are paged consistent reads
/// (`limit=500`, no resourceVersion) and nothing is said.
#[test]
fn issue16_cached_lists_at_resource_version_zero_and_says_so() {
    let _one = ONE_SANDBOX.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::start(&["--scenario", "vault-policy-removed"]);
    for (args, format) in [
        (&["scope", "-A", "--cached", "-o", "json"][..], "json"),
        (&["scope", "-A", "--cached"][..], "table"),
        (
            &["doctor", "-A", "--no-probe", "--cached", "-o", "json"][..],
            "json",
        ),
        (&["doctor", "-A", "--no-probe", "--cached"][..], "table"),
    ] {
        let (o, requests) = sb.run(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let lists = lists(&requests);
        assert!(lists.len() >= 3, "{args:?} made too few LISTs: {lists:?}");
        for l in &lists {
            assert!(
                l.contains("resourceVersion=0") && !l.contains("limit="),
                "{args:?}: not a watch-cache LIST: {l}"
            );
        }
        match format {
            "json" => assert_eq!(json(&o)["scope"]["cached"], Value::Bool(true), "{args:?}"),
            _ => assert!(
                text(&o).trim_end().ends_with(CACHED_NOTE),
                "{args:?}:\n{}",
                text(&o)
            ),
        }
    }
    for args in [
        &["scope", "-A", "-o", "json"][..],
        &["doctor", "-A", "--no-probe", "-o", "json"][..],
    ] {
        let (o, requests) = sb.run(args);
        let lists = lists(&requests);
        assert!(lists.len() >= 3, "{args:?} made too few LISTs: {lists:?}");
        for l in &lists {
            assert!(
                l.contains("limit=500") && !l.contains("resourceVersion="),
                "{args:?}: not a consistent paged LIST: {l}"
            );
        }
        assert!(json(&o)["scope"].get("cached").is_none(), "{args:?}");
    }
    let (o, _) = sb.run(&["scope", "-A"]);
    assert!(!text(&o).contains("--cached"), "{}", text(&o));
}

/// Issue 16: the memory regression check CI runs at a small size — peak RSS per 1,000
/// ExternalSecrets of `scope -A -o json` and `doctor -A --no-probe`, from two sizes of the scale
/// scenario so fixed costs cancel out, against the limits in the script (the issue's targets).
#[cfg_attr(not(has_gnu_time), ignore = "needs GNU time: apt-get install time")]
#[test]
fn issue16_memory_per_thousand_external_secrets_stays_under_the_limits() {
    let _one = ONE_SANDBOX.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/memory-check.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["1000", "3000"])
        .env("KUBECTL_ESO_BIN", BIN)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let report = text(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    // Three measured lines, whatever the verdict: a check that did not measure is no pass.
    let measured = report
        .lines()
        .filter(|l| l.contains("KiB per 1,000 ExternalSecrets"))
        .count();
    assert_eq!(measured, 3, "the check did not measure:\n{report}{err}");
    assert_eq!(out.status.code(), Some(0), "over a limit:\n{report}{err}");
    eprintln!("{report}");
}
