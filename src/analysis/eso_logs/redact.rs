//! The redaction every log line passes before it is kept (issue 17): every value the run knows is
//! replaced (as is and base64-encoded), then anything shaped like a credential — JWTs, Vault tokens
//! (`hvs.`, `hvb.`, `s.`), AWS access keys, `Authorization:` / `X-Vault-Token:` headers, and
//! `password=` / `client_secret=`-style pairs. It keeps the API the shared redaction boundary
//! (`src/redact.rs`, branch `trust`) has — `Redactor::learn` / `redact` and `redact_token_shapes` —
//! so switching to it is an import.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use regex::Regex;

pub const MARK: &str = "<redacted>";

/// Values shorter than this are not learnt: they would blank out ordinary words.
const MIN_LEN: usize = 6;

/// Replaces the values it has learnt.
#[derive(Default, Clone)]
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// Remember a value (and its base64 forms) to replace wherever it appears.
    pub fn learn(&mut self, value: &[u8]) {
        let text = String::from_utf8_lossy(value).into_owned();
        for t in [text.clone(), text.trim().to_string()] {
            if t.len() >= MIN_LEN && !self.forms.contains(&t) {
                self.forms.push(STANDARD.encode(&t));
                self.forms.push(URL_SAFE_NO_PAD.encode(&t));
                self.forms.push(t);
            }
        }
        // Longest first, so a value containing another is replaced whole.
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        self.forms.dedup();
    }

    /// Known values, then token shapes.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MARK);
            }
        }
        redact_token_shapes(&out)
    }
}

static SHAPES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // JWTs: three base64url segments, the header always starts `{"` = `eyJ`.
        r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
        // Vault service / batch / recovery tokens, and the legacy `s.` service token.
        r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}",
        r"\bs\.[A-Za-z0-9]{24,}\b",
        // AWS access key ids.
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// `Authorization: Bearer x`, `X-Vault-Token: x`, `password=x`, `"client_secret":"x"`: the name is
/// kept, the value replaced.
static PAIRS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)((?:authorization|proxy-authorization)["']?\s*[:=]\s*["']?(?:bearer|basic|negotiate)?\s*|(?:x-vault-token|x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|token|client[_-]?secret|secret[_-]?access[_-]?key|aws[_-]?secret[_-]?access[_-]?key|passwd|password|pwd|secret)["']?\s*[:=]\s*["']?)([^\s"'&,;}\]]+)"#,
    )
    .ok()
});

/// Token-shaped strings replaced, whatever the run knows.
pub fn redact_token_shapes(text: &str) -> String {
    let mut out = text.to_string();
    if let Some(pairs) = PAIRS.as_ref() {
        out = pairs
            .replace_all(&out, |c: &regex::Captures| {
                let value = c.get(2).map_or("", |m| m.as_str());
                if value == MARK {
                    format!("{}{value}", &c[1])
                } else {
                    format!("{}{MARK}", &c[1])
                }
            })
            .into_owned();
    }
    for re in SHAPES.iter() {
        out = re.replace_all(&out, MARK).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARIES: &[&str] = &[
        "canary-netbox-db-password-v1",
        "canary-akv-sp-client-secret-v1",
    ];

    fn redactor() -> Redactor {
        let mut r = Redactor::default();
        for c in CANARIES {
            r.learn(c.as_bytes());
        }
        r
    }

    fn assert_clean(out: &str) {
        for c in CANARIES {
            assert!(!out.contains(c), "{c} in {out}");
            assert!(!out.contains(&STANDARD.encode(c)), "base64 {c} in {out}");
        }
    }

    #[test]
    fn issue17_canary_values_in_log_lines_never_come_out() {
        let r = redactor();
        let lines = [
            r#"{"level":"error","msg":"could not get secret data from provider","error":"value canary-netbox-db-password-v1 rejected"}"#,
            "DEBUG: DATABASE password=canary-netbox-db-password-v1",
            "client_secret=Y2FuYXJ5LWFrdi1zcC1jbGllbnQtc2VjcmV0LXYx",
            "b64 Y2FuYXJ5LW5ldGJveC1kYi1wYXNzd29yZC12MQ== seen",
        ];
        for l in lines {
            let out = r.redact(l);
            assert_clean(&out);
            assert!(out.contains(MARK), "{out}");
        }
    }

    #[test]
    fn issue17_token_shapes_are_replaced_and_names_kept() {
        let cases = [
            (
                "X-Vault-Token: hvs.CAESIJ3kq9vR2xTnL0pW8mZcY5aBdE7fGhIjKlMnOpQrStUv",
                "hvs.CAES",
            ),
            (
                r#""Authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl""#,
                "eyJhbGci",
            ),
            ("authorization: Basic b3JkZXI6cHc=", "b3JkZXI6cHc"),
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
            ),
            (r#"{"password":"hunter2hunter2"}"#, "hunter2"),
            ("token s.AbCdEfGhIjKlMnOpQrStUvWxYz12", "s.AbCd"),
        ];
        for (line, secret) in cases {
            let out = redact_token_shapes(line);
            assert!(!out.contains(secret), "{secret} survived in {out}");
            assert!(out.contains(MARK), "{out}");
        }
        let kept = redact_token_shapes("X-Vault-Token: hvs.CAESIJ3kq9vR2xTnL0pW8mZcY5aBdE7f");
        assert!(kept.starts_with("X-Vault-Token: "), "{kept}");
    }

    #[test]
    fn near_misses_are_left_alone() {
        for line in [
            r#"{"msg":"could not get secret data from provider","ClusterSecretStore":{"name":"akv-hybridops"}}"#,
            "FATAL:  password authentication failed for user \"netbox\"",
            "the token expired",
        ] {
            assert_eq!(redact_token_shapes(line), line);
        }
    }
}
