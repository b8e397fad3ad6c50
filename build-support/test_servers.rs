//! Shared by the build scripts of the crates whose tests start real servers: finds each server's
//! binary on PATH at build time and emits a `has_<name>` cfg when it is there, so a test that needs
//! a missing server is compiled with `#[ignore = "needs …: how to install it"]` and cargo reports
//! it as ignored, with the reason, in its own summary — never as passed. With `CI=true` every cfg
//! is set whatever PATH holds: nothing is ignored there, and a missing server fails its tests.
//! Included with `#[path]` by `build.rs`, `crates/kube-sim/build.rs` and `crates/eso-sandbox/build.rs`.

use std::path::{Path, PathBuf};

/// (cfg name, binary, extra absolute locations tried after PATH). The install hints live on the
/// tests' `ignore` attributes; `.ci/run` installs all of them.
pub const SERVERS: &[(&str, &str, &[&str])] = &[
    ("has_bao", "bao", &[]),
    ("has_kubectl", "kubectl", &[]),
    // Debian installs the distribution registry outside the usual PATH on some images.
    (
        "has_docker_registry",
        "docker-registry",
        &["/usr/bin/docker-registry"],
    ),
    ("has_moto", "moto_server", &[]),
    ("has_python3", "python3", &[]),
    // A real terminal for the width tests (tests/tty_width.rs, issue 13).
    ("has_tmux", "tmux", &[]),
    // GNU time, for the peak memory of the memory regression check (issue 16).
    ("has_gnu_time", "time", &["/usr/bin/time"]),
    // The shells whose completion scripts are exercised (tests/completion_sandbox.rs, issue 13).
    ("has_zsh", "zsh", &[]),
    ("has_fish", "fish", &[]),
];

fn on_path(binary: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .chain(extra.iter().map(PathBuf::from))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file() || path.with_extension("exe").is_file()
}

/// Prints the cargo directives: check-cfg registration for every name, rerun triggers, and the
/// cfgs of the servers found (all of them when CI=true).
pub fn emit() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for (cfg, binary, extra) in SERVERS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if ci || on_path(binary, extra).is_some() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
