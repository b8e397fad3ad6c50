//! IAM policy evaluation as the simulated region needs it: identity policies (`Allow` / `Deny`,
//! `Action` and `Resource` with `*` and `?` wildcards, an explicit deny winning) and role trust
//! policies for `sts:AssumeRoleWithWebIdentity` (the `Federated` OIDC provider, `StringEquals` /
//! `StringLike` on `<issuer>:sub` and `<issuer>:aud`) and `sts:AssumeRole` (`AWS` principals,
//! `sts:ExternalId`). Not simulated: `NotAction`, `NotResource`, `NotPrincipal`, condition
//! operators other than those two, resource policies, permission boundaries, SCPs.

use serde_json::Value;

/// `*` any run of characters, `?` one character; case-insensitive for actions, as IAM is.
pub fn wildcard(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_ascii_lowercase().chars().collect(),
            text.to_ascii_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A string or an array of strings.
pub fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    ExplicitDeny,
}

/// Identity-based policies of one principal, for `action` on `resource`.
pub fn evaluate(policies: &[Value], action: &str, resource: &str) -> Decision {
    evaluate_matched(policies, action, resource).0
}

/// As [`evaluate`], with the indices of the policies whose statements decided it (the denying
/// ones for an explicit deny, the allowing ones otherwise), as `SimulatePrincipalPolicy` names
/// its `MatchedStatements`.
pub fn evaluate_matched(
    policies: &[Value],
    action: &str,
    resource: &str,
) -> (Decision, Vec<usize>) {
    let (mut allows, mut denies) = (Vec::new(), Vec::new());
    for (i, policy) in policies.iter().enumerate() {
        for s in statements(policy) {
            // Conditions in identity policies are not simulated: such a statement never applies.
            if s.get("Condition").is_some() {
                continue;
            }
            let acts = strings(s.get("Action"));
            let res = strings(s.get("Resource"));
            if !acts.iter().any(|a| wildcard(a, action, true))
                || !res.iter().any(|r| wildcard(r, resource, false))
            {
                continue;
            }
            let seen = |v: &Vec<usize>| v.last() == Some(&i);
            match s.get("Effect").and_then(Value::as_str) {
                Some("Deny") if !seen(&denies) => denies.push(i),
                Some("Allow") if !seen(&allows) => allows.push(i),
                _ => {}
            }
        }
    }
    if !denies.is_empty() {
        (Decision::ExplicitDeny, denies)
    } else if !allows.is_empty() {
        (Decision::Allowed, allows)
    } else {
        (Decision::ImplicitDeny, Vec::new())
    }
}

/// Whether every condition of a statement holds for `context` (key → value, keys compared
/// case-insensitively as IAM does). Unknown operators never hold.
fn conditions_hold(statement: &Value, context: &[(String, String)]) -> bool {
    let Some(Value::Object(ops)) = statement.get("Condition") else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let actual = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str());
            let Some(actual) = actual else {
                return false;
            };
            let wanted = strings(Some(wanted));
            match op.as_str() {
                "StringEquals" => wanted.contains(&actual),
                "StringLike" => wanted.iter().any(|w| wildcard(w, actual, false)),
                _ => false,
            }
        })
    })
}

/// A trust policy admits a web identity: a statement allowing `sts:AssumeRoleWithWebIdentity` to
/// the `Federated` principal `provider_arn` whose conditions hold for the token's `sub` / `aud`.
pub fn trust_admits_web_identity(
    trust: &Value,
    provider_arn: &str,
    issuer_host: &str,
    sub: &str,
    audiences: &[&str],
) -> bool {
    statements(trust).iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && strings(s.get("Action"))
                .iter()
                .any(|a| wildcard(a, "sts:AssumeRoleWithWebIdentity", true))
            && strings(s.pointer("/Principal/Federated")).contains(&provider_arn)
            && audiences.iter().any(|aud| {
                conditions_hold(
                    s,
                    &[
                        (format!("{issuer_host}:sub"), sub.to_string()),
                        (format!("{issuer_host}:aud"), aud.to_string()),
                    ],
                )
            })
    })
}

/// A trust policy admits `caller` (an IAM user ARN, or the role ARN of an assumed-role session)
/// for `sts:AssumeRole`; `account_root` is `arn:aws:iam::ACCOUNT:root`, which admits every
/// principal of the account whose own policies allow the call.
pub fn trust_admits_principal(
    trust: &Value,
    caller: &str,
    account_root: &str,
    caller_may: bool,
    external_id: Option<&str>,
) -> bool {
    let context: Vec<(String, String)> = external_id
        .map(|e| vec![("sts:ExternalId".to_string(), e.to_string())])
        .unwrap_or_default();
    statements(trust).iter().any(|s| {
        let principals = strings(s.pointer("/Principal/AWS"));
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && strings(s.get("Action"))
                .iter()
                .any(|a| wildcard(a, "sts:AssumeRole", true))
            && (principals.contains(&caller)
                || (caller_may && principals.contains(&account_root))
                || principals.contains(&"*"))
            && conditions_hold(s, &context)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OIDC: &str = "kubernetes.default.svc.cluster.local";
    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/kubernetes.default.svc.cluster.local";

    fn trust(op: &str, sub: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {op: {format!("{OIDC}:sub"): sub, format!("{OIDC}:aud"): "sts.amazonaws.com"}}}]})
    }

    #[test]
    fn wildcards_follow_iam() {
        assert!(wildcard(
            "secretsmanager:Get*",
            "secretsmanager:GetSecretValue",
            true
        ));
        assert!(wildcard(
            "SecretsManager:getsecretvalue",
            "secretsmanager:GetSecretValue",
            true
        ));
        assert!(!wildcard("ssm:Get*", "secretsmanager:GetSecretValue", true));
        assert!(wildcard(
            "arn:aws:secretsmanager:*:*:secret:prod/*",
            "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCdEf",
            false
        ));
        assert!(!wildcard(
            "arn:aws:secretsmanager:*:*:secret:prod/db-??????",
            "arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf",
            false
        ));
    }

    #[test]
    fn explicit_deny_wins_and_nothing_allowed_is_an_implicit_deny() {
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]});
        let deny = json!({"Statement": {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:prod/api-*"}});
        let arn = "arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf";
        assert_eq!(
            evaluate(
                std::slice::from_ref(&allow),
                "secretsmanager:GetSecretValue",
                arn
            ),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(
                &[allow.clone(), deny.clone()],
                "secretsmanager:GetSecretValue",
                arn
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(
                &[allow, deny],
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCdEf"
            ),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&[], "ssm:GetParameter", "*"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn the_deciding_policies_are_named() {
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
        let deny = json!({"Statement": {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:prod/api-*"}});
        let other = json!({"Statement": {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}});
        let policies = [other, allow, deny];
        let api = "arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf";
        let db = "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCdEf";
        assert_eq!(
            evaluate_matched(&policies, "secretsmanager:GetSecretValue", api),
            (Decision::ExplicitDeny, vec![2])
        );
        // Near miss: another secret, the allowing policy (once, though two statements match).
        assert_eq!(
            evaluate_matched(&policies, "secretsmanager:GetSecretValue", db),
            (Decision::Allowed, vec![1])
        );
        assert_eq!(
            evaluate_matched(&policies[..1], "secretsmanager:GetSecretValue", db),
            (Decision::ImplicitDeny, vec![])
        );
    }

    #[test]
    fn web_identity_trust_checks_provider_subject_and_audience() {
        let sub = "system:serviceaccount:payments:eso-payments";
        let t = trust("StringEquals", sub);
        assert!(trust_admits_web_identity(
            &t,
            PROVIDER,
            OIDC,
            sub,
            &["sts.amazonaws.com"]
        ));
        // Near misses: another namespace, another audience, another OIDC provider.
        assert!(!trust_admits_web_identity(
            &t,
            PROVIDER,
            OIDC,
            "system:serviceaccount:billing:eso-payments",
            &["sts.amazonaws.com"]
        ));
        assert!(!trust_admits_web_identity(
            &t,
            PROVIDER,
            OIDC,
            sub,
            &["api://AzureADTokenExchange"]
        ));
        assert!(!trust_admits_web_identity(
            &t,
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",
            OIDC,
            sub,
            &["sts.amazonaws.com"]
        ));
        // StringLike with a wildcard matches; StringEquals with the same text does not.
        let like = trust("StringLike", "system:serviceaccount:payments:*");
        assert!(trust_admits_web_identity(
            &like,
            PROVIDER,
            OIDC,
            sub,
            &["sts.amazonaws.com"]
        ));
        let equals = trust("StringEquals", "system:serviceaccount:payments:*");
        assert!(!trust_admits_web_identity(
            &equals,
            PROVIDER,
            OIDC,
            sub,
            &["sts.amazonaws.com"]
        ));
    }

    #[test]
    fn assume_role_trust_names_the_caller_or_the_account() {
        let t = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "team-a"}}}]});
        assert!(trust_admits_principal(
            &t,
            "arn:aws:iam::1:user/eso",
            "arn:aws:iam::1:root",
            true,
            Some("team-a")
        ));
        assert!(!trust_admits_principal(
            &t,
            "arn:aws:iam::1:user/eso",
            "arn:aws:iam::1:root",
            true,
            Some("team-b")
        ));
        assert!(!trust_admits_principal(
            &t,
            "arn:aws:iam::1:user/eso",
            "arn:aws:iam::1:root",
            false,
            Some("team-a")
        ));
    }
}
