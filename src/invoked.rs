//! The name this binary was run under (issue 13), computed in one place and applied at the one
//! output boundary. Analysis stays pure: it writes every suggested command with the canonical
//! name `kubectl eso`, and [`rewrite`] turns that into the invoked name on the way out (stdout,
//! the error line, help), so a copy-pasted "Next:" line runs this tool and not another plugin.
//!
//! How the name is found: kubectl sets no environment variable for plugins (it `exec`s the
//! plugin's file with argv[0] = the path `exec.LookPath` found, always with a directory part for
//! PATH entries), so argv[0] is all there is:
//! - a path whose file is `kubectl-eso` → `kubectl eso`; `kubectl-eso_chain` (krew's link) →
//!   `kubectl eso-chain` (kubectl maps `_` in a plugin file name to `-`);
//! - a bare `kubectl-eso`, as a shell passes it when the user typed it → `kubectl-eso`;
//! - any other name (a renamed binary, `target/debug/...` under `cargo run`) → argv[0] as given,
//!   when it is a plain path that can be pasted back into a shell, else `kubectl-eso`.
//!
//! A `kubectl-eso` run by its full path directly is indistinguishable from kubectl's exec and is
//! shown as `kubectl eso`, which works whenever the binary is on PATH.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::Path;

/// How analysis and the static texts (examples, hints) write this tool's name.
pub const CANONICAL: &str = "kubectl eso";

/// The command a user types to run this binary again, from its argv[0].
pub fn from_argv0(argv0: Option<&OsStr>) -> String {
    let Some(raw) = argv0.and_then(OsStr::to_str) else {
        return CANONICAL.to_string();
    };
    let path = Path::new(raw);
    let stem = path
        .file_stem()
        .and_then(OsStr::to_str)
        .unwrap_or("kubectl-eso");
    let has_dir = path.parent().is_some_and(|p| !p.as_os_str().is_empty());
    match stem.strip_prefix("kubectl-") {
        Some(rest) if !rest.is_empty() && is_plain(rest) && has_dir => {
            format!("kubectl {}", rest.replace('_', "-"))
        }
        Some(rest) if !rest.is_empty() && is_plain(rest) => stem.to_string(),
        _ if !raw.is_empty() && is_plain(raw) => raw.to_string(),
        _ => "kubectl-eso".to_string(),
    }
}

/// Characters that survive a shell, JSON and YAML unquoted: anything else falls back to a
/// fixed name rather than print an argv[0] that cannot be pasted back.
fn is_plain(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// `text` with each `kubectl eso` that names this tool (followed by a space, a quote, a backtick
/// or the end, never `kubectl eso-chain` or `kubectl esoX`) replaced by `invoked`.
pub fn rewrite<'a>(text: &'a str, invoked: &str) -> Cow<'a, str> {
    if invoked == CANONICAL || !text.contains(CANONICAL) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find(CANONICAL) {
        let after = &rest[at + CANONICAL.len()..];
        let boundary = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        out.push_str(&rest[..at]);
        out.push_str(if boundary { invoked } else { CANONICAL });
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// [`rewrite`] over output bytes; non-UTF-8 output (none is written today) passes unchanged.
pub fn rewrite_bytes<'a>(out: &'a [u8], invoked: &str) -> Cow<'a, [u8]> {
    match std::str::from_utf8(out) {
        Ok(text) => match rewrite(text, invoked) {
            Cow::Borrowed(_) => Cow::Borrowed(out),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
        Err(_) => Cow::Borrowed(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(argv0: &str) -> String {
        from_argv0(Some(OsStr::new(argv0)))
    }

    #[test]
    fn issue_13_the_invoked_name_follows_argv0() {
        // kubectl execs plugins by the path it found on PATH.
        assert_eq!(name("/usr/local/bin/kubectl-eso"), "kubectl eso");
        assert_eq!(
            name("/home/a/.krew/bin/kubectl-eso_chain"),
            "kubectl eso-chain"
        );
        assert_eq!(name("kubectl-eso.exe"), "kubectl-eso");
        // A shell passes the bare name the user typed.
        assert_eq!(name("kubectl-eso"), "kubectl-eso");
        assert_eq!(name("kubectl-eso_chain"), "kubectl-eso_chain");
        assert_eq!(name("target/debug/eso-dev"), "target/debug/eso-dev");
        assert_eq!(name("/tmp/a b/eso"), "kubectl-eso");
        assert_eq!(from_argv0(None), "kubectl eso");
    }

    #[test]
    fn issue_13_rewrite_replaces_only_this_tools_name() {
        let text = "Next: kubectl eso force-sync a -n b\n`kubectl eso scope -A`\nkubectl eso-chain x \
                    kubectl esoteric kubectl eso";
        assert_eq!(
            rewrite(text, "kubectl eso-chain"),
            "Next: kubectl eso-chain force-sync a -n b\n`kubectl eso-chain scope -A`\n\
             kubectl eso-chain x kubectl esoteric kubectl eso-chain"
        );
        assert!(matches!(rewrite(text, CANONICAL), Cow::Borrowed(_)));
        assert_eq!(
            rewrite_bytes(b"run kubectl eso doctor", "kubectl-eso").as_ref(),
            b"run kubectl-eso doctor"
        );
    }
}
