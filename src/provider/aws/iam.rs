//! IAM reads that explain a refusal (issue 15), made with the user's own AWS keys: `GetRole` for
//! a role's trust policy, `SimulatePrincipalPolicy` for an action the store's identity was refused. IAM is global: `https://iam.amazonaws.com` (`.cn` partition:
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
        None if region.starts_with("us-gov-") => "https://iam.us-gov.amazonaws.com".into(),
        None => "https://iam.amazonaws.com".into(),
    }
}

/// The region IAM's requests are signed for at `endpoint`: each partition's IAM lives in one
/// region (`cn-north-1`, `us-gov-west-1`, else `us-east-1`).
fn signing_region(endpoint: &str) -> &'static str {
    if endpoint.contains(".amazonaws.com.cn") {
        "cn-north-1"
    } else if endpoint.contains("iam.us-gov.") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

/// One IAM Query API call (form-encoded POST, signed for its partition's region) with the user's keys, which
/// are blanked from any error text; an answer of 300 or more is its AWS error.
async fn query(
    http: &ProbeHttp,
    endpoint: &str,
    creds: &AwsCreds,
    params: &[(&str, &str)],
    what: &str,
) -> Result<super::Answer, AwsError> {
    let mut scrub = vec![creds.access_key_id.clone(), creds.secret_access_key.clone()];
    scrub.extend(creds.session_token.clone());
    let call = Call {
        http,
        region: signing_region(endpoint),
        scrub,
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Version", "2010-05-08")
        .extend_pairs(params.iter().copied())
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
            what,
        )
        .await?;
    if a.status >= 300 {
        return Err(call.error(&a));
    }
    Ok(a)
}

/// The trust policy (`AssumeRolePolicyDocument`, URL-decoded JSON) of the role `role_arn`.
/// `GetRole` takes a name and answers from the account of the user's keys: a role of that name
/// in another account is not the store's, and its policy would explain nothing.
pub async fn role_trust_policy(
    http: &ProbeHttp,
    endpoint: &str,
    creds: &AwsCreds,
    role_arn: &str,
) -> Result<Value, AwsError> {
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let a = query(
        http,
        endpoint,
        creds,
        &[("Action", "GetRole"), ("RoleName", role_name)],
        &format!("iam GetRole {role_name}"),
    )
    .await?;
    if let Some(found) = xml_text(&a.body, "Arn").filter(|f| f != role_arn) {
        return Err(AwsError {
            status: a.status,
            code: "OtherAccount".into(),
            message: format!(
                "your AWS keys read role {found}, not the store's {role_arn}: use keys of the \
                 role's account"
            ),
        });
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

/// What `iam:SimulatePrincipalPolicy` said about one action on one resource for a principal:
/// `allowed`, `implicitDeny` or `explicitDeny`, and the ids of the policies whose statements
/// matched (the deny's, or the allow's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    pub decision: String,
    pub matched: Vec<String>,
}

/// `iam:SimulatePrincipalPolicy` for `principal_arn` (an IAM user or role, not a session).
pub async fn simulate_principal_policy(
    http: &ProbeHttp,
    endpoint: &str,
    creds: &AwsCreds,
    principal_arn: &str,
    action: &str,
    resource_arn: &str,
) -> Result<Simulation, AwsError> {
    let a = query(
        http,
        endpoint,
        creds,
        &[
            ("Action", "SimulatePrincipalPolicy"),
            ("PolicySourceArn", principal_arn),
            ("ActionNames.member.1", action),
            ("ResourceArns.member.1", resource_arn),
        ],
        &format!("iam SimulatePrincipalPolicy {action} {resource_arn}"),
    )
    .await?;
    simulation(&a.body).ok_or_else(|| AwsError {
        status: a.status,
        code: "InvalidAnswer".into(),
        message: "SimulatePrincipalPolicy answered without EvalDecision".into(),
    })
}

/// The first evaluation result of a `SimulatePrincipalPolicy` answer.
fn simulation(body: &str) -> Option<Simulation> {
    let decision = xml_text(body, "EvalDecision")?;
    let mut matched = Vec::new();
    let mut rest = body;
    while let Some(id) = xml_text(rest, "SourcePolicyId") {
        if !matched.contains(&id) {
            matched.push(id);
        }
        let Some(at) = rest.find("</SourcePolicyId>") else {
            break;
        };
        rest = &rest[at + "</SourcePolicyId>".len()..];
    }
    Some(Simulation { decision, matched })
}

/// The IAM principal behind a caller ARN: an assumed-role session's role
/// (`arn:aws:sts::A:assumed-role/R/S` -> `arn:aws:iam::A:role/R`), a user as is.
pub fn principal_of(caller_arn: &str) -> Option<String> {
    let rest = caller_arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (partition, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match (service, resource.split_once('/')) {
        ("iam", Some(("user" | "role", _))) => Some(caller_arn.to_string()),
        ("sts", Some(("assumed-role", r))) => {
            let role = r.split('/').next().filter(|r| !r.is_empty())?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => None,
    }
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
        assert_eq!(
            endpoint("us-gov-east-1", None),
            "https://iam.us-gov.amazonaws.com"
        );
        // Each partition's IAM is signed for its own region.
        assert_eq!(
            signing_region(&endpoint("cn-northwest-1", None)),
            "cn-north-1"
        );
        assert_eq!(
            signing_region(&endpoint("us-gov-east-1", None)),
            "us-gov-west-1"
        );
        assert_eq!(signing_region(&endpoint("eu-west-1", None)), "us-east-1");
        assert_eq!(signing_region("http://127.0.0.1:9"), "us-east-1");
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

    #[test]
    fn issue15_simulation_answer_and_principal() {
        let body = r#"<SimulatePrincipalPolicyResponse><SimulatePrincipalPolicyResult><EvaluationResults><member>
<EvalDecision>explicitDeny</EvalDecision><MatchedStatements><member><SourcePolicyId>deny-billing</SourcePolicyId></member>
<member><SourcePolicyId>deny-billing</SourcePolicyId></member><member><SourcePolicyId>other</SourcePolicyId></member></MatchedStatements>
</member></EvaluationResults></SimulatePrincipalPolicyResult></SimulatePrincipalPolicyResponse>"#;
        assert_eq!(
            simulation(body),
            Some(Simulation {
                decision: "explicitDeny".into(),
                matched: vec!["deny-billing".into(), "other".into()]
            })
        );
        let implicit = "<EvaluationResults><member><EvalDecision>implicitDeny</EvalDecision><MatchedStatements/></member></EvaluationResults>";
        assert_eq!(
            simulation(implicit),
            Some(Simulation {
                decision: "implicitDeny".into(),
                matched: vec![]
            })
        );
        assert_eq!(simulation("<Error><Code>AccessDenied</Code></Error>"), None);

        assert_eq!(
            principal_of("arn:aws:sts::1:assumed-role/eso-shop/kubectl-eso-probe").as_deref(),
            Some("arn:aws:iam::1:role/eso-shop")
        );
        assert_eq!(
            principal_of("arn:aws:iam::1:user/eso").as_deref(),
            Some("arn:aws:iam::1:user/eso")
        );
        // Near misses: a federated user, not an ARN.
        assert_eq!(principal_of("arn:aws:sts::1:federated-user/bob"), None);
        assert_eq!(principal_of("eso"), None);
    }
}
