//! IAM reads that explain a refusal (issue 15), made with the user's own AWS keys: `GetRole` for
//! a role's trust policy. IAM is global: `https://iam.amazonaws.com` (`.cn` partition:
//! `https://iam.cn-north-1.amazonaws.com.cn`), or the endpoint the user sets in this tool's
//! environment as the AWS SDKs read it (`AWS_ENDPOINT_URL_IAM`). Signed for `us-east-1`.

use serde_json::Value;

use super::errors::{AwsError, xml_text};
use super::{AwsCreds, Call};
use crate::provider::vault::http::ProbeHttp;

/// Where IAM answers for a store in `region`.
pub fn endpoint(region: &str, custom: Option<String>) -> String {
    match custom.filter(|c| !c.trim().is_empty()) {
        Some(c) => c.trim().trim_end_matches('/').to_string(),
        None if region.starts_with("cn-") => "https://iam.cn-north-1.amazonaws.com.cn".into(),
        None => "https://iam.amazonaws.com".into(),
    }
}

/// The role's trust policy (`AssumeRolePolicyDocument`, URL-decoded JSON).
pub async fn role_trust_policy(
    http: &ProbeHttp,
    endpoint: &str,
    creds: &AwsCreds,
    role_name: &str,
) -> Result<Value, AwsError> {
    let mut scrub = vec![creds.access_key_id.clone(), creds.secret_access_key.clone()];
    scrub.extend(creds.session_token.clone());
    let call = Call {
        http,
        region: "us-east-1",
        scrub,
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("Action", "GetRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role_name),
        ])
        .finish();
    let a = call
        .post(
            endpoint,
            "iam",
            Some(creds),
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.into_bytes(),
            &format!("iam GetRole {role_name}"),
        )
        .await?;
    if a.status >= 300 {
        return Err(call.error(&a));
    }
    let doc = xml_text(&a.body, "AssumeRolePolicyDocument").ok_or_else(|| AwsError {
        status: a.status,
        code: "InvalidAnswer".into(),
        message: "GetRole answered without AssumeRolePolicyDocument".into(),
    })?;
    let decoded: String =
        form_urlencoded::parse(format!("d={}", doc.replace('+', "%2B")).as_bytes())
            .map(|(_, v)| v.into_owned())
            .next()
            .unwrap_or_default();
    serde_json::from_str(&decoded).map_err(|_| AwsError {
        status: a.status,
        code: "InvalidAnswer".into(),
        message: "the role's trust policy is not JSON".into(),
    })
}

/// The `iss`, `sub` and `aud` claims of a JWT (decoded, not verified: only read to explain).
pub fn token_claims(jwt: &str) -> Option<(String, String, Vec<String>)> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let aud = match v.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Some((s("iss")?, s("sub")?, aud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_iam_endpoint_and_token_claims() {
        assert_eq!(endpoint("eu-west-1", None), "https://iam.amazonaws.com");
        assert_eq!(
            endpoint("cn-north-1", None),
            "https://iam.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint("eu-west-1", Some("http://127.0.0.1:9/".into())),
            "http://127.0.0.1:9"
        );
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"ES256"}"#),
            enc(
                r#"{"iss":"https://k","sub":"system:serviceaccount:a:b","aud":["sts.amazonaws.com"]}"#
            )
        );
        assert_eq!(
            token_claims(&jwt),
            Some((
                "https://k".into(),
                "system:serviceaccount:a:b".into(),
                vec!["sts.amazonaws.com".into()]
            ))
        );
        assert_eq!(token_claims("not-a-jwt"), None);
    }
}
