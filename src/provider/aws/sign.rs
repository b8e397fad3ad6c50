//! AWS Signature Version 4 for the probe's few requests, through the official `aws-sigv4` signer
//! (see docs/crates-aws.md for why not the full SDK). The credentials live in [`AwsCreds`], whose
//! Debug form is redacted, and the signature is computed over the exact method, URL, headers and
//! body that are then sent, so what was signed is what goes on the wire.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

/// An access key, its secret and (for temporary credentials) the session token.
pub struct AwsCreds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCreds(<redacted>)")
    }
}

/// The headers to add to a request so AWS accepts it: `x-amz-date`, `authorization` and, for
/// temporary credentials, `x-amz-security-token`.
pub fn signed_headers(
    creds: &AwsCreds,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "kubectl-eso",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the AWS request: {e}"))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("cannot sign the AWS request: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("cannot sign the AWS request: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_the_session_token_and_redacts_debug() {
        let creds = AwsCreds {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "canary-secret-key".into(),
            session_token: Some("canary-session".into()),
        };
        let got = signed_headers(
            &creds,
            "eu-west-1",
            "secretsmanager",
            "https://secretsmanager.eu-west-1.amazonaws.com/",
            &[("x-amz-target", "secretsmanager.GetSecretValue")],
            b"{}",
            SystemTime::UNIX_EPOCH,
        );
        let got = got.unwrap_or_default();
        let auth = got
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/eu-west-1/secretsmanager/aws4_request"
            ),
            "{auth}"
        );
        assert!(auth.contains("x-amz-target"), "{auth}");
        assert!(!auth.contains("canary"), "{auth}");
        assert!(got.iter().any(|(k, _)| k == "x-amz-security-token"));
        assert!(!format!("{creds:?}").contains("canary"));
    }
}
