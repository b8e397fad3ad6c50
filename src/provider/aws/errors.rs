//! AWS error answers in the two shapes the probe meets — JSON (`__type` / `message`, Secrets
//! Manager and SSM) and XML (`<Error><Code>…`, STS; moto also answers IAM refusals on JSON
//! services in XML) — reduced to a code and a one-line message that is safe to print. AWS puts no
//! secret value in these messages, but `SignatureDoesNotMatch` quotes the canonical request,
//! which carries the session token header: that message is cut to its first sentence, and every
//! message is scrubbed of the credentials in use before it leaves this module.

use serde_json::Value;

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status, 0 when no answer came.
    pub status: u16,
    /// `AccessDeniedException`, `ResourceNotFoundException`, `InvalidClientTokenId`...
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn no_answer(message: String) -> AwsError {
        AwsError {
            status: 0,
            code: "NoAnswer".into(),
            message,
        }
    }

    /// IAM said no (either spelling AWS uses).
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation"
        )
    }

    /// The refusal came from KMS (decrypting the secret), not from the service's own policy.
    pub fn is_kms(&self) -> bool {
        self.code == "DecryptionFailure"
            || self.code.starts_with("KMS")
            || self.code == "InvalidKeyId"
            || self.message.contains("kms:")
            || self.message.contains("KMS")
            || self.message.contains("customer master key")
    }

    /// `CODE: message` for a report line.
    pub fn line(&self) -> String {
        if self.message.is_empty() {
            format!("HTTP {} {}", self.status, self.code)
        } else {
            format!("HTTP {} {}: {}", self.status, self.code, self.message)
        }
    }
}

/// Parses an error answer; `error_type` is the `x-amzn-ErrorType` header when present.
pub fn parse(status: u16, error_type: Option<&str>, body: &str, scrub: &[&str]) -> AwsError {
    let (mut code, mut message) = (String::new(), String::new());
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        code = ["__type", "code", "Code"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        message = ["message", "Message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
    } else if body.trim_start().starts_with('<') {
        code = xml_text(body, "Code").unwrap_or_default();
        message = xml_text(body, "Message").unwrap_or_default();
    }
    if code.is_empty() {
        code = error_type.unwrap_or_default().to_string();
    }
    // `com.amazonaws.secretsmanager#ResourceNotFoundException`, `X:http://internal...`.
    let code = code
        .rsplit('#')
        .next()
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let code = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        crate::sanitize::line(&code)
    };
    if code == "SignatureDoesNotMatch" || code == "IncompleteSignature" {
        message = message.split(". ").next().unwrap_or_default().to_string();
    }
    AwsError {
        status,
        code,
        message: clean(&message, scrub),
    }
}

/// One line, whitespace collapsed, the credentials in use blanked.
pub fn clean(message: &str, scrub: &[&str]) -> String {
    let mut m = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for s in scrub.iter().filter(|s| s.len() >= 4) {
        m = m.replace(s, "<redacted>");
    }
    crate::sanitize::line(&m)
}

/// The text of the first `<tag>…</tag>` (entities decoded). AWS's XML answers are small and
/// regular; the probe reads a handful of leaf elements from them.
pub fn xml_text(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(
        body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_xml_and_header_codes_are_read() {
        let aws = parse(
            400,
            None,
            r#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#,
            &[],
        );
        assert_eq!(aws.code, "ResourceNotFoundException");
        assert_eq!(
            aws.message,
            "Secrets Manager can't find the specified secret."
        );
        // moto answers IAM refusals on JSON services in the Query protocol's XML.
        let moto = parse(
            403,
            None,
            "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/eso is not authorized to perform: secretsmanager:GetSecretValue</Message></Error></Errors></ErrorResponse>",
            &[],
        );
        assert!(moto.is_access_denied());
        assert!(moto.message.contains("secretsmanager:GetSecretValue"));
        let header = parse(
            400,
            Some("InvalidRequestException:http://internal.amazon.com/coral/"),
            "",
            &[],
        );
        assert_eq!(header.code, "InvalidRequestException");
        assert_eq!(parse(502, None, "bad gateway", &[]).code, "HTTP 502");
    }

    #[test]
    fn signature_errors_lose_the_canonical_request_and_credentials_are_blanked() {
        let e = parse(
            403,
            None,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. The Canonical String for this request should have been 'POST / x-amz-security-token:canary-token'</Message></Error></ErrorResponse>",
            &[],
        );
        assert!(!e.message.contains("canary"), "{}", e.message);
        let e = parse(
            400,
            None,
            r#"{"__type":"UnrecognizedClientException","message":"key AKIACANARY1234 is bad"}"#,
            &["AKIACANARY1234"],
        );
        assert_eq!(e.message, "key <redacted> is bad");
    }

    #[test]
    fn kms_refusals_are_told_apart() {
        let kms = AwsError {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "Access to KMS is not allowed".into(),
        };
        assert!(kms.is_access_denied() && kms.is_kms());
        let iam = AwsError {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "User: arn:aws:iam::1:user/u is not authorized to perform: secretsmanager:GetSecretValue".into(),
        };
        assert!(!iam.is_kms());
    }
}
