//! The pure parts of the registry login dance: parsing `WWW-Authenticate` challenges, reading the
//! access list of a registry JWT, and turning registry/token-endpoint answers into one short, clean
//! line of text with any credential scrubbed out. Kept apart from the HTTP code so each rule is
//! unit-tested on the exact header and body shapes real registries send.

use base64::Engine as _;
use serde_json::Value;

use super::redact::REDACTED;

/// One challenge from a `WWW-Authenticate` header: `Bearer realm="...",service="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased scheme (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters with lower-cased names, in header order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in one or more `WWW-Authenticate` header values (RFC 7235: a scheme
/// token, then `name=value` or `name="quoted value"` pairs separated by commas).
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    for header in headers {
        let mut rest = header.trim();
        let mut current: Option<Challenge> = None;
        while !rest.is_empty() {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let token_end = rest
                .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            let token = &rest[..token_end];
            let after = rest[token_end..].trim_start();
            if let Some(value_part) = after.strip_prefix('=') {
                let (value, remaining) = read_value(value_part.trim_start());
                // A parameter before any scheme is malformed and skipped.
                if let Some(challenge) = current.as_mut() {
                    challenge.params.push((token.to_ascii_lowercase(), value));
                }
                rest = remaining;
            } else {
                if let Some(done) = current.take() {
                    challenges.push(done);
                }
                current = Some(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: Vec::new(),
                });
                rest = after;
            }
        }
        if let Some(done) = current {
            challenges.push(done);
        }
    }
    challenges
}

/// Reads a token or quoted string; returns it and what follows.
fn read_value(input: &str) -> (String, &str) {
    if let Some(quoted) = input.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (value, &quoted[i + 1..]),
                c => value.push(c),
            }
        }
        (value, "")
    } else {
        let end = input.find(',').unwrap_or(input.len());
        (input[..end].trim().to_string(), &input[end..])
    }
}

/// Whether a registry bearer token (a JWT) grants `action` on repository `name`, read from its
/// `access` claim. `None` when the token is opaque (not a JWT we can read): then only the
/// registry's answer can tell. The signature is not checked: the registry does that; we only
/// want to explain a refusal.
pub fn token_grants(token: &str, name: &str, action: &str) -> Option<bool> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let access = claims.get("access")?.as_array()?;
    Some(access.iter().any(|grant| {
        grant.get("type").and_then(Value::as_str) == Some("repository")
            && grant.get("name").and_then(Value::as_str) == Some(name)
            && grant
                .get("actions")
                .and_then(Value::as_array)
                .is_some_and(|actions| {
                    actions
                        .iter()
                        .any(|a| a.as_str() == Some(action) || a.as_str() == Some("*"))
                })
    }))
}

/// Longest message we pass on from a server.
const MAX_MESSAGE: usize = 300;

/// The human-readable part of a registry or token-endpoint error body: the `errors[].message`
/// list of the Distribution API (with `code` when the message is empty), the OAuth2
/// `error_description`/`error`, Docker Hub's `details`, or else the first line of plain text.
pub fn error_text(body: &[u8], secrets: &[String]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(json) => json_error_text(&json),
        Err(_) => String::from_utf8_lossy(body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string(),
    };
    clean(&text, secrets)
}

fn json_error_text(json: &Value) -> String {
    if let Some(errors) = json.get("errors").and_then(Value::as_array) {
        let messages: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                let code = e.get("code").and_then(Value::as_str).unwrap_or("");
                match (message.is_empty(), code.is_empty()) {
                    (false, _) => Some(message.to_string()),
                    (true, false) => Some(code.to_string()),
                    (true, true) => None,
                }
            })
            .collect();
        if !messages.is_empty() {
            return messages.join("; ");
        }
    }
    for field in ["error_description", "details", "message", "error"] {
        if let Some(text) = json.get(field).and_then(Value::as_str)
            && !text.is_empty()
        {
            return text.to_string();
        }
    }
    String::new()
}

/// Makes server- or library-provided text safe to print: credentials replaced, control characters
/// and escape sequences dropped, whitespace collapsed, length capped.
pub fn clean(text: &str, secrets: &[String]) -> String {
    let scrub = |text: &str| {
        let mut scrubbed = text.to_string();
        for secret in secrets {
            // Very short "secrets" would mangle ordinary words; a 1-3 character password is
            // reported elsewhere as weak anyway and is not worth corrupting messages for.
            if secret.len() >= 4 {
                scrubbed = scrubbed.replace(secret.as_str(), REDACTED);
            }
        }
        scrubbed
    };
    // The shared sanitizer drops whole escape sequences (OSC titles included: issue 18 found
    // `]0;pwned` left behind by the CSI-only loop this replaced); scrubbing again afterwards
    // catches a credential an escape sequence had split.
    let flat = scrub(&crate::sanitize::line(&scrub(text)));
    let mut out = String::new();
    let mut last_space = false;
    for c in flat.chars() {
        if c.is_whitespace() {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    let out = out.trim_end().to_string();
    if out.chars().count() > MAX_MESSAGE {
        let mut cut: String = out.chars().take(MAX_MESSAGE).collect();
        cut.push('…');
        cut
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_from_distribution() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull",error="insufficient_scope""#;
        let challenges = parse_challenges([header]);
        assert_eq!(challenges.len(), 1);
        let c = &challenges[0];
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:app:pull"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn basic_and_several_challenges() {
        let challenges = parse_challenges([
            r#"Basic realm="Registry Realm""#,
            r#"Bearer realm="https://a/t", service=x, Basic realm="b\"q""#,
        ]);
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, vec!["basic", "bearer", "basic"]);
        assert_eq!(challenges[0].param("realm"), Some("Registry Realm"));
        assert_eq!(challenges[1].param("service"), Some("x"));
        assert_eq!(challenges[2].param("realm"), Some("b\"q"));
        assert!(parse_challenges([""]).is_empty());
    }

    fn jwt(claims: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"ES256"}"#), enc(claims))
    }

    #[test]
    fn token_access_list_is_read() {
        let pull = jwt(r#"{"access":[{"type":"repository","name":"app","actions":["pull"]}]}"#);
        assert_eq!(token_grants(&pull, "app", "pull"), Some(true));
        assert_eq!(token_grants(&pull, "other", "pull"), Some(false));
        assert_eq!(token_grants(&pull, "app", "push"), Some(false));
        let none = jwt(r#"{"access":[]}"#);
        assert_eq!(token_grants(&none, "app", "pull"), Some(false));
        assert_eq!(token_grants("opaque-token", "app", "pull"), None);
        assert_eq!(token_grants(&jwt(r#"{"sub":"x"}"#), "app", "pull"), None);
    }

    #[test]
    fn error_text_prefers_registry_messages() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(error_text(body, &[]), "authentication required");
        assert_eq!(
            error_text(br#"{"details":"incorrect username or password"}"#, &[]),
            "incorrect username or password"
        );
        assert_eq!(
            error_text(
                br#"{"error":"invalid_grant","error_description":"expired"}"#,
                &[]
            ),
            "expired"
        );
        assert_eq!(error_text(b"\n  plain failure\nmore", &[]), "plain failure");
        assert_eq!(
            error_text(br#"{"errors":[{"code":"DENIED"}]}"#, &[]),
            "DENIED"
        );
    }

    #[test]
    fn clean_scrubs_secrets_and_control_characters() {
        let secrets = vec![
            "s3cr3t-pass".to_string(),
            "dTpzM2NyM3QtcGFzcw==".to_string(),
        ];
        let dirty = "bad \u{1b}[31mcreds s3cr3t-pass\r\n header dTpzM2NyM3QtcGFzcw==";
        let cleaned = clean(dirty, &secrets);
        assert!(!cleaned.contains("s3cr3t"));
        assert!(!cleaned.contains("dTpz"));
        assert!(!cleaned.contains('\u{1b}'));
        assert_eq!(cleaned, "bad creds <redacted> header <redacted>");
        // issue 18: an OSC sequence goes whole, and a credential split by an escape is caught.
        assert_eq!(clean("a\u{1b}]0;pwned\u{7}b", &[]), "ab");
        assert_eq!(clean("x\u{1b}]2;t\u{1b}\\y \u{9d}0;z\u{7}w", &[]), "xy w");
        assert_eq!(clean("s3cr3t\u{1b}[0m-pass", &secrets), "<redacted>");
        let long = "x".repeat(1000);
        assert_eq!(clean(&long, &[]).chars().count(), MAX_MESSAGE + 1);
    }
}
