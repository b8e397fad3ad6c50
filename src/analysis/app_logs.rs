//! Application logs as evidence (issue 17): the runbook's "an application pod logs secret-related
//! errors (missing env vars, auth failures)" and, after the fix, "the application no longer logs
//! them". Pure functions over lines already read and redacted: which consumer pods are worth
//! reading (failing, or running on a Secret older than the provider's), which of their lines look
//! secret-related, the phrase that makes each one so, and whether the pods after a restart still
//! print any of the phrases their predecessors printed.

use crate::model::chain::ConsumerFacts;
use crate::sanitize;

/// Lines shown per container.
pub const LINES_SHOWN: usize = 5;
/// How much of one line is shown.
const LINE_CHARS: usize = 240;

/// What a line says that makes it secret-related, lower case, most specific first.
const PHRASES: &[&str] = &[
    "password authentication failed",
    "authentication failed",
    "authentication failure",
    "auth failed",
    "login failed",
    "access denied",
    "permission denied",
    "invalid credentials",
    "invalid password",
    "invalid api key",
    "invalid token",
    "bad credentials",
    "unauthorized",
    "forbidden",
    "401",
    "403",
    "missing environment variable",
    "environment variable not set",
    "is not set",
    "not found in environment",
    "keyerror",
    "no such file or directory",
];

/// Pod states whose containers never ran: an image that cannot be pulled or a missing Secret
/// never starts a container, so there is no log to read.
const NEVER_RAN: &[&str] = &[
    "Pending",
    "ContainerCreating",
    "PodInitializing",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// Consumer pods whose logs are read, at most: a crash loop, a pod not Ready or one running on a
/// stale value all print their trouble, and a healthy pod's lines are filtered out anyway.
pub const PODS_READ: usize = 10;

/// Whether a consumer pod's log is worth reading: its containers have run (crash-looping, not
/// Ready, or Running on a value that may be stale: the pod's state does not tell).
pub fn worth_reading(c: &ConsumerFacts) -> bool {
    c.kind == "pod" && c.state.as_deref().is_some_and(|s| !NEVER_RAN.contains(&s))
}

/// The phrase that makes `line` secret-related: one of [`PHRASES`], or a name the pod reads the
/// Secret under (an environment variable or a key of the Secret) that is long enough not to be a
/// common word.
pub fn phrase_of(line: &str, names: &[String]) -> Option<String> {
    // Colour codes would glue a phrase to the letter that ends them.
    let l = sanitize::line(line).to_ascii_lowercase();
    if let Some(p) = PHRASES.iter().find(|p| contains_word(&l, p)) {
        return Some((*p).to_string());
    }
    names
        .iter()
        .filter(|n| n.len() >= 4)
        .find(|n| contains_word(&l, &n.to_ascii_lowercase()))
        .cloned()
}

/// `needle` in `hay` not glued to letters or digits on either side (`401` is not `4012`).
fn contains_word(hay: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let at = from + i;
        let end = at + needle.len();
        if !word(hay[..at].chars().next_back()) && !word(hay[end..].chars().next()) {
            return true;
        }
        from = at + needle.len().max(1);
    }
    false
}

/// The secret-related lines among `lines` (already redacted), the last [`LINES_SHOWN`], shortened.
pub fn secret_related(lines: &[String], names: &[String]) -> Vec<String> {
    let kept: Vec<String> = lines
        .iter()
        .filter(|l| phrase_of(l, names).is_some())
        .map(|l| shorten(&sanitize::line(l)))
        .collect();
    let skip = kept.len().saturating_sub(LINES_SHOWN);
    kept.into_iter().skip(skip).collect()
}

fn shorten(l: &str) -> String {
    if l.chars().count() <= LINE_CHARS {
        return l.to_string();
    }
    let mut out: String = l.chars().take(LINE_CHARS).collect();
    out.push('…');
    out
}

/// The distinct phrases of `lines`, in order of first appearance.
pub fn phrases(lines: &[String], names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in lines.iter().filter_map(|l| phrase_of(l, names)) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// After a restart: the phrases the old pods printed that the new pods print too.
pub fn still_logged(before: &[String], after_lines: &[String], names: &[String]) -> Vec<String> {
    let after = phrases(after_lines, names);
    before
        .iter()
        .filter(|p| after.contains(p))
        .cloned()
        .collect()
}

/// The line force-sync prints for one restarted workload whose old pods logged `before`.
pub fn verification(workload: &str, before: &[String], still: &[String]) -> String {
    let quoted = |ps: &[String]| {
        ps.iter()
            .map(|p| format!("`{}`", sanitize::line(p)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let w = sanitize::line(workload);
    if still.is_empty() {
        format!("verified: {w} no longer logs {}", quoted(before))
    } else {
        format!(
            "not verified: {w}'s new pods still log {} — the Secret is not the cause, or not the only one",
            quoted(still)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = r#"django.db.utils.OperationalError: connection to server at "postgres.netbox.svc" (10.96.0.12), port 5432 failed: FATAL:  password authentication failed for user "netbox""#;

    fn pod(state: &str, stale: Option<bool>) -> ConsumerFacts {
        ConsumerFacts {
            kind: "pod".into(),
            name: "netbox-7d9c-abcde".into(),
            state: Some(state.into()),
            started_before_change: stale,
            ..ConsumerFacts::default()
        }
    }

    #[test]
    fn issue17_pods_whose_containers_ran_are_read_the_others_have_no_log() {
        assert!(worth_reading(&pod("CrashLoopBackOff", None)));
        assert!(worth_reading(&pod("Running", Some(true))));
        assert!(worth_reading(&pod("Error", None)));
        assert!(!worth_reading(&pod("Pending", None)));
        assert!(!worth_reading(&pod("ImagePullBackOff", None)));
        assert!(!worth_reading(&pod("CreateContainerConfigError", None)));
        let mut workload = pod("CrashLoopBackOff", None);
        workload.kind = "deployment".into();
        assert!(!worth_reading(&workload));
    }

    #[test]
    fn issue17_secret_related_lines_and_their_near_misses() {
        let names = vec!["SECRET_FROM_ESO".to_string(), "pw".to_string()];
        assert_eq!(
            phrase_of(AUTH, &names).as_deref(),
            Some("password authentication failed")
        );
        assert_eq!(
            phrase_of("Error: missing environment variable DB_URL", &names).as_deref(),
            Some("missing environment variable")
        );
        assert_eq!(
            phrase_of("reading SECRET_FROM_ESO from the environment", &names).as_deref(),
            Some("SECRET_FROM_ESO")
        );
        assert_eq!(
            phrase_of("GET /api HTTP/1.1 401", &names).as_deref(),
            Some("401")
        );
        // near misses: a number containing 401, a short key name inside a word, an ordinary line
        assert_eq!(phrase_of("processed 4012 rows", &names), None);
        assert_eq!(phrase_of("upward trend", &names), None);
        assert_eq!(phrase_of("Performing database migrations...", &names), None);
        let lines: Vec<String> = [
            "Performing database migrations...",
            AUTH,
            "⏳ Waiting on DB...",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(secret_related(&lines, &names), vec![AUTH.to_string()]);
    }

    #[test]
    fn issue17_only_the_last_lines_are_kept_and_control_sequences_go() {
        let lines: Vec<String> = (0..9)
            .map(|i| format!("\u{1b}[31mauth failed\u{1b}[0m attempt {i}"))
            .collect();
        let kept = secret_related(&lines, &[]);
        assert_eq!(kept.len(), LINES_SHOWN);
        assert!(kept[LINES_SHOWN - 1].ends_with("attempt 8"));
        assert!(kept.iter().all(|l| !l.contains('\u{1b}')));
    }

    #[test]
    fn issue17_verification_after_a_restart() {
        let before = phrases(&[AUTH.to_string()], &[]);
        assert_eq!(before, vec!["password authentication failed".to_string()]);
        let healthy = vec!["Listening on :8080".to_string()];
        let still = still_logged(&before, &healthy, &[]);
        assert!(still.is_empty());
        assert_eq!(
            verification("deployment/netbox", &before, &still),
            "verified: deployment/netbox no longer logs `password authentication failed`"
        );
        let still = still_logged(&before, &[AUTH.to_string()], &[]);
        assert!(
            verification("deployment/netbox", &before, &still)
                .starts_with("not verified: deployment/netbox's new pods still log")
        );
    }
}
