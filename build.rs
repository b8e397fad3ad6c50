//! Build script of the `kubectl-eso` package: bakes the git commit into `--version`
//! (`KUBECTL_ESO_COMMIT`; a release build outside a git checkout may set it in the environment),
//! and tells the tests which real servers are on PATH (`build-support/test_servers.rs`: tests
//! whose server is missing are reported as ignored with the reason; with CI=true none are).

#[path = "build-support/test_servers.rs"]
mod test_servers;

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    test_servers::emit();

    println!("cargo::rerun-if-env-changed=KUBECTL_ESO_COMMIT");
    let commit = match std::env::var("KUBECTL_ESO_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves: HEAD itself, the branch it points at, and packed refs.
            // Only existing files are named (a missing one would make cargo rerun every time).
            let mut watch: Vec<PathBuf> = Vec::new();
            if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
                watch.push(head.into());
            }
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
                && let Some(file) = git(&["rev-parse", "--git-path", &branch])
            {
                watch.push(file.into());
            }
            if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
                watch.push(packed.into());
            }
            for file in watch.iter().filter(|f| f.is_file()) {
                println!("cargo::rerun-if-changed={}", file.display());
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo::rustc-env=KUBECTL_ESO_COMMIT={commit}");
}
