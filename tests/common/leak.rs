//! The leak tests' common walk: every command a case names, in every output format, with and
//! without `-v`, against one sandbox; then every output searched for every value the sandbox
//! holds or handed out (plain and base64) and for any JWT. One place, so a new format or a new
//! kind of run-time secret is added once for every leak test.

use std::process::Output;

use super::{SandboxEnv, assert_no_leak, stderr, stdout};

pub const FORMATS: [&str; 4] = ["table", "wide", "json", "yaml"];

/// Runs each command with `-o` in every format, with and without `-v`; each run must end as a
/// report does (exit 0 or 1). Returns the outputs, each named by scenario and arguments.
pub fn every_format(
    env: &SandboxEnv,
    scenario: &str,
    commands: &[&[&str]],
) -> Vec<(String, Output)> {
    let mut outputs = Vec::new();
    for command in commands {
        for format in FORMATS {
            for verbose in [false, true] {
                let mut args = command.to_vec();
                args.extend(["-o", format]);
                if verbose {
                    args.push("-v");
                }
                let what = format!("{scenario}: {}", args.join(" "));
                let o = tokio::task::block_in_place(|| env.run(&args));
                assert!(
                    o.status.code().is_some_and(|c| c <= 1),
                    "{what}: {}{}",
                    stdout(&o),
                    stderr(&o)
                );
                outputs.push((what, o));
            }
        }
    }
    outputs
}

/// No value (as is or base64) and no JWT (a JWS header starts `eyJhbGci`: the ServiceAccount
/// tokens the probe mints) in any of the outputs.
pub fn assert_none_leaked(outputs: &[(String, Output)], values: &[String]) {
    for (what, o) in outputs {
        assert_no_leak(o, values, what);
        let all = format!("{}{}", stdout(o), stderr(o));
        assert!(!all.contains("eyJhbGci"), "{what}: a JWT leaked in:\n{all}");
    }
}
