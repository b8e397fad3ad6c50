//! Text that fits the terminal (issue 13): the width to print to, word wrapping with a hanging
//! indent, and long provider errors turned around so their cause comes first. A person reading
//! `describe-chain` or `doctor` at 3 a.m. should not have to scroll sideways or hunt for
//! "permission denied" at column 230.
//!
//! The width is `COLUMNS` when set, else the terminal's when stdout is one, else 80 (a pipe or a
//! file: what `kubectl` and most tools assume). Wrapping counts characters and breaks at blanks.
//! A token longer than the room on a line (a URL with a tenant id, a long path) is the one
//! decision to make: it is cut at its last `/`, `?`, `&`, `=` or `-` that fits, else at the
//! width, so **no line is ever longer than the width** — the terminal would cut it at the same
//! place anyway, and then break the layout's indentation too. The whole token is always in
//! `-o wide`, `-o json` and `-o yaml`, which never wrap. Commands (next steps) wrap with a shell
//! continuation (` \`) at blanks, so a wrapped command still pastes as one. Decorative rules
//! (the Azure SDK's lines of dashes) are shortened to `--`: they carry nothing.

use std::io::IsTerminal;

/// The narrowest layout still printed as such; narrower widths are treated as this.
pub const MIN_WIDTH: usize = 40;
/// Without `COLUMNS` and without a terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// The width to wrap to: `COLUMNS`, else the terminal's, else 80.
pub fn width() -> usize {
    let columns = std::env::var("COLUMNS").ok();
    let tty = std::io::stdout().is_terminal();
    let terminal = if tty {
        terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
    } else {
        None
    };
    choose_width(columns.as_deref(), terminal)
}

/// [`width`] without the environment: `COLUMNS` wins when it is a positive number.
pub fn choose_width(columns: Option<&str>, terminal: Option<usize>) -> usize {
    let from_env = columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    from_env
        .or(terminal.filter(|t| *t > 0))
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Word-wraps `text` (one line: callers sanitise first) to `width`: the first line starts with
/// `first`, the others with `rest`. No line is longer than `width` (see the module notes) unless
/// an indent alone is.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    let words = text.split_whitespace().map(|w| {
        if w.len() >= 4 && w.chars().all(|c| c == '-' || c == '=') {
            &w[..2]
        } else {
            w
        }
    });
    for word in words {
        if !empty && len(&line) + 1 + len(word) > width {
            lines.push(std::mem::take(&mut line));
            line = rest.to_string();
            empty = true;
        }
        let mut word = word;
        // A token longer than a whole line is cut where it fits (module notes).
        loop {
            let room = width.saturating_sub(len(&line) + usize::from(!empty));
            if len(word) <= room || room == 0 && empty {
                break;
            }
            if room < 8 && !empty {
                lines.push(std::mem::take(&mut line));
                line = rest.to_string();
                empty = true;
                continue;
            }
            let (head, tail) = cut(word, room.max(1));
            if !empty {
                line.push(' ');
            }
            line.push_str(head);
            lines.push(std::mem::take(&mut line));
            line = rest.to_string();
            empty = true;
            word = tail;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Splits `word` so the head has at most `room` characters, after a separator when one fits.
fn cut(word: &str, room: usize) -> (&str, &str) {
    let limit = word
        .char_indices()
        .nth(room)
        .map(|(i, _)| i)
        .unwrap_or(word.len());
    let at = word[..limit]
        .rfind(['/', '?', '&', '=', '-'])
        .map(|i| i + 1)
        .filter(|i| *i > limit / 2)
        .unwrap_or(limit);
    word.split_at(at)
}

/// Wraps a shell command: continuation lines end in ` \` so the command pastes as one.
pub fn wrap_command(cmd: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    // Leave room for the " \" that ends every line but the last.
    let lines = wrap(cmd, width.saturating_sub(2), first, rest);
    let n = lines.len();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i + 1 < n { format!("{l} \\") } else { l })
        .collect()
}

/// Programs whose invocations are wrapped as commands; any other step is a sentence.
const PROGRAMS: &[&str] = &[
    "kubectl", "vault", "bao", "az", "aws", "helm", "curl", "docker",
];

/// Wraps one next step: a command with shell continuations, a sentence as text.
pub fn wrap_step(step: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let program = step.split_whitespace().next().unwrap_or_default();
    if PROGRAMS.contains(&program) {
        wrap_command(step, width, first, rest)
    } else {
        wrap(step, width, first, rest)
    }
}

/// The cause part of a provider error, pulled to the front: HTTP status, provider error code
/// (`SecretNotFound`, `SecretDisabled`, `AADSTS7000222`...), Vault's "permission denied".
/// `None` when the text names none of them.
pub fn cause_of(error: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let status = regex_first(
        r"(?:RESPONSE|Code:|status(?: code)?:?|HTTP(?:/\d(?:\.\d)?)?)\s+(\d{3})\b",
        error,
    );
    if let Some(s) = status {
        parts.push(format!("HTTP {s}"));
    }
    // Key Vault: the inner error code is the specific one (Forbidden -> SecretDisabled).
    let codes = regex_all(r#""code":\s*"([A-Za-z]+)""#, error);
    if let Some(c) = codes.last() {
        parts.push(c.clone());
    } else if let Some(c) = regex_first(r"ERROR CODE:\s*([A-Za-z_]+)", error) {
        parts.push(c);
    }
    if let Some(c) = regex_first(r"\b(AADSTS\d+)\b", error)
        && !parts.contains(&c)
    {
        parts.push(c);
    }
    let lower = error.to_ascii_lowercase();
    for phrase in [
        "permission denied",
        "invalid role name",
        "service account name not authorized",
        "namespace not authorized",
        "connection refused",
        "certificate signed by unknown authority",
    ] {
        if lower.contains(phrase) {
            parts.push(phrase.to_string());
            break;
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `[cause] whole error` when a cause can be named and the error's first 60 characters do not
/// already say all of it.
pub fn cause_first(error: &str) -> String {
    let start: String = error.chars().take(60).collect();
    match cause_of(error) {
        Some(c) if cause_of(&start).is_none_or(|s| s != c) => format!("[{c}] {error}"),
        _ => error.to_string(),
    }
}

/// A provider error without the SDK's dump (issue 13): the Azure SDK follows its one useful
/// sentence with the whole HTTP exchange — the response's JSON, dash rules, trace and
/// correlation ids, a troubleshooting link — 1.5 KB on one line. What stays: the text before
/// the dump (what was asked, of which URL) and the provider's own sentence from the JSON
/// (`error_description` of Entra ID without its trace ids, Key Vault's `message` up to its
/// first full stop). Text without such a dump is returned as it is. The checklist and table
/// views print this, with [`cause_of`] in front; `-o json` / `-o yaml` keep the whole text.
pub fn brief(error: &str) -> String {
    // The dump starts at the SDK's first rule of dashes (whole, or already shortened to `--`).
    let rule = regex::Regex::new(r"\s-{2,}\s").ok();
    let Some(dump) = rule
        .and_then(|r| r.find(error))
        .filter(|_| error.contains('{'))
    else {
        return error.to_string();
    };
    let lead = error[..dump.start()]
        .trim_end_matches([' ', ':'])
        .to_string();
    let said = regex_first(r#""error_description":\s*"([^"]*)""#, error)
        .map(|d| {
            let end = d.find(" Trace ID:").unwrap_or(d.len());
            d[..end].trim().to_string()
        })
        .or_else(|| {
            regex_first(r#""message":\s*"([^"]*)""#, error).map(|m| {
                let end = m.find(". ").map(|i| i + 1).unwrap_or(m.len());
                m[..end].trim().to_string()
            })
        });
    match said {
        Some(s) if !s.is_empty() => format!("{lead}: {s}"),
        _ => lead,
    }
}

/// [`cause_first`] over [`brief`]: the cause is read from the whole text (the provider's code
/// may be only in the dump), the text shown is the brief one.
pub fn cause_first_brief(error: &str) -> String {
    let short = brief(error);
    let start: String = short.chars().take(60).collect();
    match cause_of(error) {
        Some(c) if cause_of(&start).is_none_or(|s| s != c) => format!("[{c}] {short}"),
        _ => short,
    }
}

fn regex_first(pattern: &str, text: &str) -> Option<String> {
    let re = regex::Regex::new(pattern).ok()?;
    re.captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

fn regex_all(pattern: &str, text: &str) -> Vec<String> {
    let Ok(re) = regex::Regex::new(pattern) else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_13_width_prefers_columns_then_terminal_then_80() {
        assert_eq!(choose_width(Some("132"), Some(200)), 132);
        assert_eq!(choose_width(None, Some(200)), 200);
        assert_eq!(choose_width(None, None), 80);
        // Near misses: junk or zero in COLUMNS is ignored; a tiny width is raised.
        assert_eq!(choose_width(Some("wide"), Some(100)), 100);
        assert_eq!(choose_width(Some("0"), None), 80);
        assert_eq!(choose_width(Some("10"), None), MIN_WIDTH);
    }

    #[test]
    fn issue_13_wrap_keeps_every_line_within_the_width() {
        let text = "role external-secrets-operator grants policies [default, eso-default, \
                    eso-inventory-service, eso-payment-service, eso-user-service]; none allows \
                    read on registry-creds/data/order-service";
        for width in [60, 80, 160] {
            let lines = wrap(text, width, "Cause:    ", "          ");
            assert!(lines.iter().all(|l| len(l) <= width), "{width}: {lines:#?}");
            assert!(lines[0].starts_with("Cause:    role"), "{lines:?}");
            let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
            assert_eq!(
                joined[1..].join(" "),
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        assert_eq!(wrap("", 80, "  ", "  "), vec![""]);
    }

    #[test]
    fn issue_13_a_token_longer_than_the_line_is_cut_at_a_separator() {
        let url = "https://127.0.0.1:33411/2ed1d494-6c5a-4c5d-aa24-479446fb844d/oauth2/v2.0/token";
        let lines = wrap(&format!("POST {url} now"), 40, "", "  ");
        assert!(lines.iter().all(|l| len(l) <= 40), "{lines:#?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("POST{url}now"));
        // Cut after a separator, not in the middle of the tenant id's groups.
        assert!(
            lines.iter().any(|l| l.ends_with('/') || l.ends_with('-')),
            "{lines:#?}"
        );
        let word = "x".repeat(100);
        let lines = wrap(&word, 40, "  ", "  ");
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines.iter().all(|l| len(l) <= 40), "{lines:#?}");
        // Near miss: a token that fits is never cut.
        assert_eq!(wrap("a/b/c", 40, "", ""), vec!["a/b/c"]);
        // Rules of dashes are shortened, not wrapped over two lines.
        assert_eq!(wrap(&"-".repeat(80), 40, "", ""), vec!["--"]);
    }

    #[test]
    fn issue_13_commands_wrap_with_a_shell_continuation() {
        let cmd = "kubectl eso describe-chain order-service-regcred -n prod --probe-as me";
        let lines = wrap_command(cmd, 40, "  ", "      ");
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| len(l) <= 40), "{lines:?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")));
        assert!(!lines[lines.len() - 1].ends_with('\\'));
        // Near miss: a sentence is not given continuations.
        let prose = wrap_step(
            "store the new client secret in Secret external-secrets/akv-sp-credentials",
            40,
            "",
            "  ",
        );
        assert!(prose.iter().all(|l| !l.ends_with('\\')), "{prose:?}");
        assert!(wrap_step(cmd, 40, "", "  ")[0].ends_with('\\'));
    }

    #[test]
    fn issue_13_the_sdk_dump_is_left_out_and_the_cause_kept() {
        let entra = "ClientSecretCredential: authentication failed: POST \
            https://127.0.0.1:1/t/oauth2/v2.0/token ------------------------------------------ \
            RESPONSE 401: 401 Unauthorized ERROR CODE: \
            invalid_client -- { \"error\": \"invalid_client\", \"error_codes\": [ 7000222 ], \
            \"error_description\": \"AADSTS7000222: The provided client secret keys for app 'x' \
            are expired. Trace ID: 1 Correlation ID: 2 Timestamp: 3\", \"trace_id\": \"1\" } \
            -- To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot";
        let short = cause_first_brief(entra);
        assert_eq!(
            short,
            "[HTTP 401, invalid_client, AADSTS7000222] ClientSecretCredential: authentication \
             failed: POST https://127.0.0.1:1/t/oauth2/v2.0/token: AADSTS7000222: The provided \
             client secret keys for app 'x' are expired."
        );
        assert!(
            !short.contains("Trace ID") && !short.contains('{'),
            "{short}"
        );

        let missing = "error processing spec.data[0] (key: k), err: GET https://v/secrets/k/ -- \
            RESPONSE 404: 404 Not Found ERROR CODE: SecretNotFound -- { \"error\": { \"code\": \
            \"SecretNotFound\", \"message\": \"A secret with (name/id) k was not found in this key \
            vault. If you recently deleted this secret you may recover it.\" } } --";
        assert_eq!(
            cause_first_brief(missing),
            "[HTTP 404, SecretNotFound] error processing spec.data[0] (key: k), err: GET \
             https://v/secrets/k/: A secret with (name/id) k was not found in this key vault."
        );
        // Near misses: Vault's error has no dump and stays whole; a plain sentence is untouched.
        let vault = "err: Error making API request. Code: 403. Errors: * permission denied";
        assert_eq!(brief(vault), vault);
        assert_eq!(
            cause_first_brief("store -- is not ready"),
            "store -- is not ready"
        );
    }

    #[test]
    fn issue_13_cause_is_pulled_to_the_front() {
        let vault = "error processing spec.dataFrom[0].extract, err: cannot read secret data from \
                     Vault: Error making API request. URL: GET http://127.0.0.1:1/v1/x Code: 403. \
                     Errors: * 1 error occurred: * permission denied";
        assert_eq!(
            cause_of(vault).as_deref(),
            Some("HTTP 403, permission denied")
        );
        assert!(cause_first(vault).starts_with("[HTTP 403, permission denied] error processing"));

        let akv = "err: GET https://v/secrets/x RESPONSE 403: 403 Forbidden ERROR CODE: Forbidden \
                   { \"error\": { \"code\": \"Forbidden\", \"innererror\": { \"code\": \"SecretDisabled\" } } }";
        assert_eq!(cause_of(akv).as_deref(), Some("HTTP 403, SecretDisabled"));

        let missing = "RESPONSE 404: 404 Not Found ERROR CODE: SecretNotFound";
        assert_eq!(
            cause_of(missing).as_deref(),
            Some("HTTP 404, SecretNotFound")
        );

        let entra = "ClientSecretCredential: authentication failed: RESPONSE 401 \
                     \"error_description\": \"AADSTS7000222: keys are expired\"";
        assert_eq!(cause_of(entra).as_deref(), Some("HTTP 401, AADSTS7000222"));

        // Near miss: a plain sentence has no cause to pull, and is left as it is.
        assert_eq!(cause_of("ClusterSecretStore \"akv\" is not ready"), None);
        assert_eq!(cause_first("store is not ready"), "store is not ready");
        // Near miss: a sentence that starts with its cause is not prefixed twice.
        let said = "Entra ID refused the credentials: AADSTS7000222: keys are expired";
        assert_eq!(cause_first(said), said);
    }
}
