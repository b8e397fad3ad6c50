//! The AWS branch of the provider probe: the store's `spec.provider.aws` settings and the
//! credentials `auth` resolved, turned into the AWS client's login and key list. Requests go once
//! per distinct (key, version); every ref of the ExternalSecret then gets its own key facts
//! (its `property` checked against the one value read) and its own copy of the value for the
//! comparison. `--probe-as me` reads with the user's own keys and assumes none of the store's
//! roles. Custom endpoints come from the same variables ESO's controller reads
//! (`AWS_SECRETSMANAGER_ENDPOINT`, `AWS_SSM_ENDPOINT`, `AWS_STS_ENDPOINT`), set in this tool's
//! environment.

use serde_json::Value;

use super::auth::ProbeAuth;
use super::probe::{ProbeAs, skipped};
use crate::model::chain::{ProviderFacts, RemoteRefFacts, RemoteValue, Sensitive};
use crate::provider::aws::{
    self, AwsCreds, AwsEndpoints, AwsKey, AwsLogin, AwsService, AwsStore, EndpointOverrides,
};
use crate::provider::vault::http::ProbeHttp;

/// The store's settings; `Err` says why it cannot be probed.
pub fn store_settings(store: &Value, overrides: &EndpointOverrides) -> Result<AwsStore, String> {
    let p = store
        .pointer("/spec/provider/aws")
        .ok_or("the store has no spec.provider.aws")?;
    let s = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let service = match s("service").as_deref() {
        Some("SecretsManager") => AwsService::SecretsManager,
        Some("ParameterStore") => AwsService::ParameterStore,
        Some(other) => {
            return Err(format!(
                "spec.provider.aws.service {:?} is neither SecretsManager nor ParameterStore",
                crate::sanitize::line(other)
            ));
        }
        None => return Err("spec.provider.aws.service is not set".into()),
    };
    let region = s("region").ok_or("spec.provider.aws.region is not set")?;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || region.split('-').count() < 3
    {
        return Err(format!(
            "spec.provider.aws.region {:?} is not an AWS region name (like eu-west-1)",
            crate::sanitize::line(&region)
        ));
    }
    Ok(AwsStore {
        service,
        endpoints: AwsEndpoints::for_region(&region, overrides),
        region,
        prefix: s("prefix").unwrap_or_default(),
        additional_roles: p
            .get("additionalRoles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        role: s("role"),
        external_id: s("externalID"),
    })
}

pub async fn probe(
    http: &ProbeHttp,
    store: &Value,
    auth: Option<&ProbeAuth>,
    refs: &[RemoteRefFacts],
    who: ProbeAs,
) -> (ProviderFacts, Vec<Option<RemoteValue>>) {
    let mut facts = ProviderFacts {
        probed: true,
        probe_as: who.as_str().into(),
        ..ProviderFacts::default()
    };
    let mut values: Vec<Option<RemoteValue>> = refs.iter().map(|_| None).collect();
    let overrides = EndpointOverrides::from_vars(|k| std::env::var(k).ok());
    let mut settings = match store_settings(store, &overrides) {
        Ok(s) => s,
        Err(e) => {
            facts.error = Some(e);
            return (facts, values);
        }
    };
    if who == ProbeAs::Me {
        // As the user, like VAULT_TOKEN or the Azure CLI login: the user's own identity reads,
        // without assuming the store's roles (ESO's roles rarely trust a person).
        settings.role = None;
        settings.additional_roles.clear();
    }
    facts.role = settings.role.clone();
    // The credential the login borrows, held for the length of the probe.
    let me;
    let jwt;
    // IRSA: the role and the ServiceAccount, to explain a refused exchange.
    let mut irsa: Option<(String, String, String)> = None;
    let (login, described) = if who == ProbeAs::Me {
        me = match creds_from_env() {
            Some(c) => c,
            None => {
                return (
                    skipped(
                        who,
                        "--probe-as me needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
                    ),
                    values,
                );
            }
        };
        (
            AwsLogin::Static(&me),
            "your AWS access key (environment)".to_string(),
        )
    } else {
        match auth {
            Some(ProbeAuth::AwsStatic {
                access_key_id,
                secret_access_key,
                session_token,
            }) => {
                me = AwsCreds {
                    access_key_id: access_key_id.text(),
                    secret_access_key: secret_access_key.text(),
                    session_token: session_token.as_ref().map(Sensitive::text),
                };
                (
                    AwsLogin::Static(&me),
                    "the access key from the store's secretRef".to_string(),
                )
            }
            Some(ProbeAuth::AwsWebIdentity {
                role_arn,
                token,
                service_account,
            }) => {
                facts.role = facts.role.clone().or_else(|| Some(role_arn.clone()));
                jwt = token.text();
                irsa = Some((role_arn.clone(), service_account.clone(), jwt.clone()));
                (
                    AwsLogin::WebIdentity {
                        role_arn,
                        token: &jwt,
                    },
                    format!("IRSA role {role_arn} with ServiceAccount {service_account}"),
                )
            }
            Some(ProbeAuth::Unavailable(why)) => return (skipped(who, why), values),
            _ => return (skipped(who, "no usable AWS credentials"), values),
        }
    };
    // One request per distinct (key, version); the property is checked per ref below.
    let mut distinct: Vec<AwsKey> = Vec::new();
    let mut slot: Vec<Option<usize>> = Vec::new();
    for r in refs {
        if r.find || r.key.is_empty() {
            slot.push(None);
            continue;
        }
        let at = distinct
            .iter()
            .position(|k| k.key == r.key && k.version == r.version)
            .unwrap_or_else(|| {
                distinct.push(AwsKey {
                    key: r.key.clone(),
                    version: r.version.clone(),
                    property: None,
                });
                distinct.len() - 1
            });
        slot.push(Some(at));
    }
    let outcome = aws::probe(http, &settings, &login, &distinct).await;
    facts.identity = Some(match &outcome.identity {
        Some(arn) if settings.role.is_some() || !settings.additional_roles.is_empty() => {
            format!("{arn} (assumed from {described})")
        }
        Some(arn) if arn != &described => format!("{arn} ({described})"),
        _ => described,
    });
    facts.login_error = outcome.login_error;
    facts.login_code = outcome.login_code;
    // AWS says only "Not authorized to perform sts:AssumeRoleWithWebIdentity": with the user's
    // own keys (as VAULT_TOKEN explains a Vault refusal) read the role's trust policy, so the
    // diagnosis can name the statement and condition at fault.
    if let Some((role_arn, service_account, token)) = &irsa
        && facts.login_code.as_deref() == Some("AccessDenied")
        && facts
            .login_error
            .as_deref()
            .is_some_and(|e| e.contains("AssumeRoleWithWebIdentity"))
    {
        facts.aws_trust =
            explain_trust(http, &settings.region, role_arn, service_account, token).await;
    }
    // AWS says which action on which ARN it refused, not which policy: with the user's own keys
    // ask IAM to simulate the store identity's policies for it (once per distinct denied key).
    let mut keys = outcome.keys;
    if who == ProbeAs::Eso
        && let Some(principal) = outcome.identity.as_deref().and_then(aws::iam::principal_of)
    {
        explain_denials(http, &settings, &principal, &mut keys).await;
    }
    for (i, r) in refs.iter().enumerate() {
        let Some(at) = slot[i] else { continue };
        let Some(base) = keys.get(at) else {
            continue;
        };
        let mut k = base.clone();
        let value = outcome.values.get(at).and_then(Option::as_ref);
        if let Some(p) = &r.property {
            k.property = Some(p.clone());
            if let Some(RemoteValue::Single(v)) = value {
                k.property_exists = Some(aws::has_property(v.bytes(), p));
            }
        }
        if !facts.keys.contains(&k) {
            facts.keys.push(k);
        }
        values[i] = value.map(|v| match v {
            RemoteValue::Single(s) => {
                RemoteValue::Single(Sensitive::from_bytes(s.bytes().to_vec()))
            }
            RemoteValue::Map(m) => RemoteValue::Map(
                m.iter()
                    .map(|(k, s)| (k.clone(), Sensitive::from_bytes(s.bytes().to_vec())))
                    .collect(),
            ),
        });
    }
    (facts, values)
}

/// `iam:SimulatePrincipalPolicy` for each key refused with `AccessDeniedException`, asked with
/// the user's keys; nothing without them, and a refused simulation is left unsaid (the refusal
/// itself already names the action and ARN).
async fn explain_denials(
    http: &ProbeHttp,
    settings: &AwsStore,
    principal: &str,
    keys: &mut [crate::model::chain::KeyFacts],
) {
    let Some(creds) = creds_from_env() else {
        return;
    };
    let endpoint = aws::iam::endpoint(&settings.region, std::env::var("AWS_ENDPOINT_URL_IAM").ok());
    for k in keys.iter_mut() {
        if k.readable != Some(false) || k.code.as_deref() != Some("AccessDeniedException") {
            continue;
        }
        let Some((action, resource)) = k.aws_denied() else {
            continue;
        };
        if let Ok(sim) = aws::iam::simulate_principal_policy(
            http, &endpoint, &creds, principal, &action, &resource,
        )
        .await
        {
            k.policy_decision = Some(crate::sanitize::line(&sim.decision));
            k.policy_matched = sim
                .matched
                .iter()
                .map(|m| crate::sanitize::line(m))
                .collect();
        }
    }
}

/// The role's trust policy read with the user's keys, and the claims of the token STS refused.
/// `None` when the user has no AWS keys in the environment (nothing to read with).
async fn explain_trust(
    http: &ProbeHttp,
    region: &str,
    role_arn: &str,
    service_account: &str,
    jwt: &str,
) -> Option<crate::model::chain::AwsTrustFacts> {
    let creds = creds_from_env()?;
    let (issuer, subject, audiences) = aws::iam::token_claims(jwt)?;
    let mut t = crate::model::chain::AwsTrustFacts {
        role_arn: role_arn.to_string(),
        service_account: service_account.to_string(),
        issuer,
        subject,
        audiences,
        ..Default::default()
    };
    let endpoint = aws::iam::endpoint(region, std::env::var("AWS_ENDPOINT_URL_IAM").ok());
    match aws::iam::role_trust_policy(http, &endpoint, &creds, role_arn).await {
        Ok(policy) => t.trust_policy = Some(policy),
        Err(e) => t.unread = Some(crate::sanitize::line(&e.line())),
    }
    Some(t)
}

/// `--probe-as me`: the standard AWS variables of the user's environment.
fn creds_from_env() -> Option<AwsCreds> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(AwsCreds {
        access_key_id: get("AWS_ACCESS_KEY_ID")?,
        secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
        session_token: get("AWS_SESSION_TOKEN"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn store_settings_follow_eso_fields() {
        let store = json!({"spec": {"provider": {"aws": {
            "service": "SecretsManager", "region": "eu-west-1", "role": "arn:aws:iam::1:role/r",
            "externalID": "x", "additionalRoles": ["arn:aws:iam::1:role/a"], "prefix": "prod/"}}}});
        let s = store_settings(&store, &EndpointOverrides::default());
        let s = s.map(|s| {
            (
                s.service,
                s.region,
                s.prefix,
                s.additional_roles.len(),
                s.external_id,
            )
        });
        assert_eq!(
            s,
            Ok((
                AwsService::SecretsManager,
                "eu-west-1".to_string(),
                "prod/".to_string(),
                1,
                Some("x".to_string())
            ))
        );
        let bad = json!({"spec": {"provider": {"aws": {"service": "SecretsManager", "region": "Europe"}}}});
        assert!(store_settings(&bad, &EndpointOverrides::default()).is_err());
        let none = json!({"spec": {"provider": {"aws": {"region": "eu-west-1"}}}});
        assert!(store_settings(&none, &EndpointOverrides::default()).is_err());
    }
}
