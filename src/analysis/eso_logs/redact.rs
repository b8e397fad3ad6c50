//! The redaction every log line passes before it is kept (issue 17): the shared output boundary
//! (`src/redact.rs`: every value the run learned in every encoded form, then JWTs, Vault tokens,
//! AWS keys, `Authorization:` / `X-Vault-Token:` headers and word-bounded `password=` pairs), plus
//! the pairs log lines carry that it does not catch yet (`DB_PASSWORD=x`, `"secret": "x"`). The
//! extra pass is strictly additive, so it can move into the boundary itself.

use std::sync::LazyLock;

use regex::Regex;

pub use crate::redact::MARK;

/// The shared boundary's redactor (`src/redact.rs`), plus the pairs it does not see yet.
#[derive(Default, Clone)]
pub struct Redactor(crate::redact::Redactor);

impl Redactor {
    /// Remember a value (and its encoded forms and parts) to replace wherever it appears.
    pub fn learn(&mut self, value: &[u8]) {
        self.0.learn(value);
    }

    /// Known values, then token shapes.
    pub fn redact(&self, text: &str) -> String {
        let known = self.0.redact(text);
        redact_pairs(&known)
    }
}

/// Token-shaped strings replaced, whatever the run knows.
pub fn redact_token_shapes(text: &str) -> String {
    redact_pairs(&crate::redact::redact_token_shapes(text))
}

static PAIRS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // The name must not continue a word ("ExternalSecret": is a kind, not a secret), and a value
    // never starts a JSON object or array.
    Regex::new(
        r#"(?i)(^|[^a-z])((?:authorization|proxy-authorization)["']?\s*[:=]\s*["']?(?:bearer|basic|negotiate)?\s*|(?:x-vault-token|x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|token|client[_-]?secret|secret[_-]?access[_-]?key|passwd|password|pwd|secret)["']?\s*[:=]\s*["']?)([^\s"'&,;{}\[\]]+)"#,
    )
    .ok()
});

/// `DB_PASSWORD=x`, `"secret": "x"`: names the boundary's word-bounded pairs miss, never inside
/// another word (`"ExternalSecret":` is a kind).
fn redact_pairs(text: &str) -> String {
    match PAIRS.as_ref() {
        Some(pairs) => pairs
            .replace_all(text, |c: &regex::Captures| {
                let value = c.get(3).map_or("", |m| m.as_str());
                if value == MARK {
                    format!("{}{}{value}", &c[1], &c[2])
                } else {
                    format!("{}{}{MARK}", &c[1], &c[2])
                }
            })
            .into_owned(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

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
            ("DB_PASSWORD=hunter2hunter2", "hunter2"),
            ("token s.AbCdEfGhIjKlMnOpQrStUvWx used", "s.AbCd"),
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
            r#"{"level":"error","ExternalSecret":{"name":"order-service-regcred","namespace":"prod"},"SecretStore":"prod/vault"}"#,
            "FATAL:  password authentication failed for user \"netbox\"",
            "the token expired",
        ] {
            assert_eq!(redact_token_shapes(line), line);
        }
    }
}
