//! AWS Secrets Manager and Systems Manager Parameter Store probed as ESO would: the store's
//! credentials (static keys, or a ServiceAccount token exchanged with STS
//! `AssumeRoleWithWebIdentity`), then `additionalRoles` and `role` (with `externalID`) assumed in
//! turn — one STS call per hop, once per store — then, per distinct remote key, `DescribeSecret` and
//! `GetSecretValue` (Secrets Manager) or `GetParameter` with decryption (Parameter Store). Values
//! read for the comparison are returned as [`RemoteValue`]s and never formatted into an error, a
//! log line or a recorded call; access keys, session tokens and the web-identity token are never
//! recorded either (each call is recorded as `service Action name -> status`).
//!
//! Thin signed requests over the shared [`ProbeHttp`] client rather than the official SDK: see
//! docs/crates-aws.md.

pub mod iam;
mod secrets;
pub mod sign;
mod ssm;
mod sts;

pub mod errors;

use std::time::SystemTime;

use serde_json::Value;

pub use errors::AwsError;
pub use sign::AwsCreds;

use crate::model::chain::{KeyFacts, RemoteValue};
use crate::provider::vault::http::{self, ProbeHttp};

/// Which AWS service the store reads (`spec.provider.aws.service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsService {
    SecretsManager,
    ParameterStore,
}

/// Where the three APIs the probe uses answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEndpoints {
    pub secrets_manager: String,
    pub ssm: String,
    pub sts: String,
}

impl AwsEndpoints {
    /// AWS's regional endpoints, with ESO's own overrides (the controller's
    /// `AWS_SECRETSMANAGER_ENDPOINT`, `AWS_SSM_ENDPOINT`, `AWS_STS_ENDPOINT`) when given.
    pub fn for_region(region: &str, overrides: &EndpointOverrides) -> AwsEndpoints {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let pick = |custom: &Option<String>, service: &str| {
            custom
                .as_deref()
                .map(|c| c.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("https://{service}.{region}.{suffix}"))
        };
        AwsEndpoints {
            secrets_manager: pick(&overrides.secrets_manager, "secretsmanager"),
            ssm: pick(&overrides.ssm, "ssm"),
            sts: pick(&overrides.sts, "sts"),
        }
    }
}

/// Custom endpoints, as ESO reads them from its controller's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    pub secrets_manager: Option<String>,
    pub ssm: Option<String>,
    pub sts: Option<String>,
}

impl EndpointOverrides {
    /// The variables ESO's controller reads, looked up with `get` (the process environment, or
    /// the controller Deployment's env).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> EndpointOverrides {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        EndpointOverrides {
            secrets_manager: var("AWS_SECRETSMANAGER_ENDPOINT"),
            ssm: var("AWS_SSM_ENDPOINT"),
            sts: var("AWS_STS_ENDPOINT"),
        }
    }
}

/// The store's AWS settings.
#[derive(Debug, Clone)]
pub struct AwsStore {
    pub service: AwsService,
    pub region: String,
    /// `spec.provider.aws.prefix`, put in front of every key as ESO does.
    pub prefix: String,
    pub endpoints: AwsEndpoints,
    /// `additionalRoles`, assumed in order before `role`.
    pub additional_roles: Vec<String>,
    pub role: Option<String>,
    pub external_id: Option<String>,
}

/// How the first credentials are obtained.
pub enum AwsLogin<'a> {
    Static(&'a AwsCreds),
    /// IRSA: a ServiceAccount token for `role_arn`.
    WebIdentity {
        role_arn: &'a str,
        token: &'a str,
    },
}

#[derive(Debug, Clone, Default)]
pub struct AwsKey {
    pub key: String,
    /// ESO's `remoteRef.version`: a stage (`AWSPREVIOUS`), `uuid/<VersionId>`, or for Parameter
    /// Store a version number or label.
    pub version: Option<String>,
    pub property: Option<String>,
}

#[derive(Debug, Default)]
pub struct AwsOutcome {
    /// The identity the keys were read with, in words (an assumed role's ARN, or "static keys").
    pub identity: Option<String>,
    pub login_error: Option<String>,
    /// `AccessDenied`, `InvalidIdentityToken`, `InvalidClientTokenId`...
    pub login_code: Option<String>,
    pub keys: Vec<KeyFacts>,
    pub values: Vec<Option<RemoteValue>>,
}

/// One signed (or, with `creds: None`, unsigned) POST and its answer.
pub(crate) struct Call<'a> {
    pub http: &'a ProbeHttp,
    pub region: &'a str,
    /// Scrubbed from every message.
    pub scrub: Vec<String>,
}

pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub error_type: Option<String>,
}

impl Call<'_> {
    /// `what` is recorded as is (`secretsmanager GetSecretValue db`): no credential, no value.
    #[allow(clippy::too_many_arguments)]
    pub async fn post(
        &self,
        endpoint: &str,
        service: &str,
        creds: Option<&AwsCreds>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        what: &str,
    ) -> Result<Answer, AwsError> {
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let mut req = self.http.client.post(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(creds) = creds {
            let signed = sign::signed_headers(
                creds,
                self.region,
                service,
                &url,
                headers,
                &body,
                SystemTime::now(),
            )
            .map_err(AwsError::no_answer)?;
            for (k, v) in signed {
                req = req.header(k, v);
            }
        }
        let what = crate::sanitize::line(what);
        match req.body(body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                self.http.record(format!("{what} -> {status}"));
                let error_type = resp
                    .headers()
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp.text().await.unwrap_or_default();
                Ok(Answer {
                    status,
                    body,
                    error_type,
                })
            }
            Err(e) => {
                self.http.record(format!("{what} -> no answer"));
                Err(AwsError::no_answer(format!(
                    "no answer from {}: {}",
                    crate::sanitize::line(endpoint),
                    http::chain(&e)
                )))
            }
        }
    }

    /// A JSON-protocol action (`secretsmanager.GetSecretValue`, `AmazonSSM.GetParameter`).
    pub async fn json(
        &self,
        endpoint: &str,
        service: &str,
        creds: &AwsCreds,
        target: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, AwsError> {
        let payload = serde_json::to_vec(body).unwrap_or_default();
        let a = self
            .post(
                endpoint,
                service,
                Some(creds),
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                payload,
                what,
            )
            .await?;
        if a.status >= 300 {
            return Err(self.error(&a));
        }
        serde_json::from_str(&a.body).map_err(|_| AwsError {
            status: a.status,
            code: "InvalidAnswer".into(),
            message: format!("{what}: the answer is not JSON"),
        })
    }

    /// Names (never values) from a paginated JSON listing — `ListSecrets`' `SecretList` or
    /// `DescribeParameters`' `Parameters` — a few pages at most; empty when the listing is refused.
    pub async fn names(
        &self,
        endpoint: &str,
        service: &str,
        creds: &AwsCreds,
        listing: (&str, &str),
        page_size: u32,
        what: &str,
    ) -> Vec<String> {
        let (target, field) = listing;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..5 {
            let mut body = serde_json::json!({ "MaxResults": page_size });
            if let Some(t) = &token {
                body["NextToken"] = serde_json::json!(t);
            }
            let Ok(page) = self
                .json(endpoint, service, creds, target, &body, what)
                .await
            else {
                break;
            };
            for item in page
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = item.get("Name").and_then(Value::as_str) {
                    names.push(crate::sanitize::line(n));
                }
            }
            token = page
                .get("NextToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        names
    }

    pub fn error(&self, a: &Answer) -> AwsError {
        let scrub: Vec<&str> = self.scrub.iter().map(String::as_str).collect();
        errors::parse(a.status, a.error_type.as_deref(), &a.body, &scrub)
    }
}

/// Logs in (STS as needed), then reads every key.
pub async fn probe(
    http: &ProbeHttp,
    store: &AwsStore,
    login: &AwsLogin<'_>,
    keys: &[AwsKey],
) -> AwsOutcome {
    let mut out = AwsOutcome::default();
    let mut call = Call {
        http,
        region: &store.region,
        scrub: Vec::new(),
    };
    let creds = match sts::credentials(&mut call, store, login, &mut out).await {
        Some(c) => c,
        None => return out,
    };
    let (facts, values) = match store.service {
        AwsService::SecretsManager => secrets::read_all(&call, store, &creds, keys).await,
        AwsService::ParameterStore => ssm::read_all(&call, store, &creds, keys).await,
    };
    out.keys = facts;
    out.values = values;
    out
}

/// `arn:aws:secretsmanager:eu-west-1:123:secret:db` -> `eu-west-1`.
pub fn arn_region(key: &str) -> Option<&str> {
    let mut parts = key.split(':');
    (parts.next()? == "arn").then_some(())?;
    parts.nth(2).filter(|r| !r.is_empty())
}

/// An ARN key naming another region than the store's: ESO asks the store's region, which
/// does not hold it.
pub fn region_mismatch(key: &str, store_region: &str) -> Option<String> {
    let r = arn_region(key)?;
    (r != store_region).then(|| {
        format!("the key is an ARN in region {r}, but the store reads region {store_region}")
    })
}

/// An AWS timestamp (epoch seconds, possibly fractional) as RFC 3339.
pub fn epoch(v: Option<&Value>) -> Option<String> {
    let secs = v?.as_f64()?;
    jiff::Timestamp::from_second(secs as i64)
        .ok()
        .map(|t| t.to_string())
}

/// ESO's property lookup reads JSON: the top-level names of a JSON object value (never values).
pub fn property_names(value: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(m)) => m.keys().map(|k| crate::sanitize::line(k)).collect(),
        _ => Vec::new(),
    }
}

/// Does ESO find `property` in this value? (gjson: the whole name first, then a dotted path.)
pub fn has_property(value: &[u8], property: &str) -> bool {
    serde_json::from_slice::<Value>(value)
        .ok()
        .is_some_and(|doc| crate::analysis::chain::compare::json_path(&doc, property).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_region_and_eso_overrides() {
        let e = AwsEndpoints::for_region("eu-west-1", &EndpointOverrides::default());
        assert_eq!(
            e.secrets_manager,
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(e.sts, "https://sts.eu-west-1.amazonaws.com");
        let cn = AwsEndpoints::for_region("cn-north-1", &EndpointOverrides::default());
        assert_eq!(cn.ssm, "https://ssm.cn-north-1.amazonaws.com.cn");
        let o = EndpointOverrides::from_vars(|k| {
            (k == "AWS_SECRETSMANAGER_ENDPOINT").then(|| "http://127.0.0.1:5000/".to_string())
        });
        let e = AwsEndpoints::for_region("eu-west-1", &o);
        assert_eq!(e.secrets_manager, "http://127.0.0.1:5000");
        assert_eq!(e.ssm, "https://ssm.eu-west-1.amazonaws.com");
    }

    #[test]
    fn arn_keys_in_another_region_are_a_mismatch() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        assert_eq!(arn_region(arn), Some("us-east-1"));
        assert!(region_mismatch(arn, "eu-west-1").is_some());
        assert_eq!(region_mismatch(arn, "us-east-1"), None);
        assert_eq!(region_mismatch("db/prod", "eu-west-1"), None);
    }

    #[test]
    fn properties_are_found_as_eso_finds_them() {
        let v = br#"{"user":"app","db":{"host":"h"},"a.b":"x"}"#;
        assert_eq!(property_names(v), vec!["a.b", "db", "user"]);
        assert!(has_property(v, "db.host"));
        assert!(has_property(v, "a.b"));
        assert!(!has_property(v, "password"));
        assert!(!has_property(b"plain text", "user"));
    }
}
