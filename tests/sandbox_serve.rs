//! Issue 3: `kubectl eso sandbox --scenario vault-policy-removed --kubeconfig-out F` in the background, then
//! `kubectl --kubeconfig F get es -A` by hand, as the README says; SIGTERM stops it cleanly.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

/// kubectl from PATH; the test is ignored (with the reason) when the build found none, and fails
/// here when it runs anyway (CI=true).
fn kubectl() -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("kubectl is not on PATH: apt-get install kubernetes-client"),
    }
}

#[cfg(unix)]
#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[test]
fn serve_mode_writes_a_kubeconfig_that_real_kubectl_uses_and_stops_on_sigterm() {
    let kubectl = kubectl();
    let (mut child, _dir, kubeconfig) = common::serve_sandbox("vault-policy-removed", &[], true);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kubeconfig)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        assert_eq!(
            mode & 0o077,
            0,
            "the kubeconfig holds the admin token: it must be private"
        );
    }
    let out = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "es", "-A"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| panic!("kubectl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("order-service-regcred"), "{text}");
    assert!(
        text.contains("SecretSyncedError") || text.contains("False"),
        "{text}"
    );

    // SIGTERM: clean stop, exit 0, the kubeconfig (which names a server that is gone) removed.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "sandbox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout.take() {
        use std::io::Read;
        let _ = s.read_to_string(&mut stdout);
    }
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("export KUBECONFIG="), "{stdout}");
    assert!(
        !kubeconfig.exists(),
        "the kubeconfig should be removed on stop"
    );
}
