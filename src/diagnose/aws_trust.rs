//! Why an IAM role's trust policy refuses a ServiceAccount's web identity (issue 15): AWS answers
//! every refused `AssumeRoleWithWebIdentity` with the same "Not authorized to perform
//! sts:AssumeRoleWithWebIdentity", so the role's trust policy (read with the user's own AWS keys,
//! `iam:GetRole`) is evaluated here against what the ServiceAccount's token carries: its issuer
//! (the `Federated` OIDC provider), its subject `system:serviceaccount:NS:NAME` and its audience,
//! under `StringEquals` / `StringLike` on `<issuer>:sub` and `<issuer>:aud`. Pure: no server.
//!
//! Not evaluated (reported as such, never as the fault): condition operators other than
//! `StringEquals` / `StringLike` (and their `ForAnyValue:` forms), `NotPrincipal`, `NotAction`.

use serde_json::Value;

use super::catalogue::AWS_IRSA_TRUST_MISMATCH;
use super::vault_explain::Explained;
use crate::model::chain::AwsTrustFacts;

/// `*` any run of characters, `?` one; `case_insensitive` for actions, as IAM compares them.
fn wildcard(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let lower = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, t): (Vec<char>, Vec<char>) = (
        lower(pattern).chars().collect(),
        lower(text).chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
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

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// What the token presents, read from its claims (not secret: issuer, subject, audiences).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    /// The issuer without `https://`, as IAM names the OIDC provider and its condition keys.
    pub issuer_host: String,
    pub subject: String,
    pub audiences: Vec<String>,
}

/// The outcome for one trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustVerdict {
    /// Statement (its Sid, or its position from 1) admits the token.
    Admits(String),
    /// No statement admits it; each web-identity statement's first fault, in order.
    Refuses(Vec<String>),
}

/// Evaluates `trust` for `sts:AssumeRoleWithWebIdentity` by `id`.
pub fn evaluate(trust: &Value, id: &WebIdentity) -> TrustVerdict {
    let statements: Vec<&Value> = match trust.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    };
    let mut faults = Vec::new();
    // An explicit Deny wins over any Allow, wherever it stands in the document.
    let mut denied = false;
    let mut admitted = None;
    for (i, s) in statements.iter().enumerate() {
        let name = s
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|sid| !sid.is_empty())
            .map(|sid| format!("statement {sid:?}"))
            .unwrap_or_else(|| format!("statement {}", i + 1));
        if !strings(s.get("Action"))
            .iter()
            .any(|a| wildcard(a, "sts:AssumeRoleWithWebIdentity", true))
        {
            continue;
        }
        let deny = s.get("Effect").and_then(Value::as_str) == Some("Deny");
        let federated = strings(s.pointer("/Principal/Federated"));
        let provider_suffix = format!(":oidc-provider/{}", id.issuer_host);
        let principal_ok = federated.iter().any(|f| f.ends_with(&provider_suffix));
        let fault = if !principal_ok {
            Some(format!(
                "{name} trusts the OIDC provider {} — not this cluster's issuer {}",
                if federated.is_empty() {
                    "(none)".to_string()
                } else {
                    federated.join(", ")
                },
                id.issuer_host
            ))
        } else {
            condition_fault(s, id).map(|f| format!("{name}: {f}"))
        };
        match (deny, fault) {
            (true, None) => {
                denied = true;
                faults.push(format!("{name} denies this ServiceAccount explicitly"));
            }
            (true, Some(_)) => {}
            (false, None) => {
                admitted.get_or_insert(name);
            }
            (false, Some(f)) => faults.push(f),
        }
    }
    if let Some(name) = admitted.filter(|_| !denied) {
        return TrustVerdict::Admits(name);
    }
    if denied {
        faults.retain(|f| f.ends_with("denies this ServiceAccount explicitly"));
        return TrustVerdict::Refuses(faults);
    }
    if statements.is_empty() || faults.is_empty() {
        faults.push(
            "no statement allows sts:AssumeRoleWithWebIdentity (a role for IRSA needs a \
             Federated principal with that action)"
                .into(),
        );
    }
    TrustVerdict::Refuses(faults)
}

/// The first condition of a statement the token does not meet, in words.
fn condition_fault(statement: &Value, id: &WebIdentity) -> Option<String> {
    let Some(Value::Object(ops)) = statement.get("Condition") else {
        return None;
    };
    for (op, keys) in ops {
        let Value::Object(keys) = keys else { continue };
        let base = op.trim_start_matches("ForAnyValue:");
        for (key, wanted) in keys {
            let wanted = strings(Some(wanted));
            let (claim, actual): (&str, Vec<&str>) = match key.rsplit_once(':') {
                Some((issuer, "sub")) if issuer.eq_ignore_ascii_case(&id.issuer_host) => {
                    ("sub", vec![id.subject.as_str()])
                }
                Some((issuer, "aud")) if issuer.eq_ignore_ascii_case(&id.issuer_host) => {
                    ("aud", id.audiences.iter().map(String::as_str).collect())
                }
                Some((issuer, claim @ ("sub" | "aud"))) => {
                    return Some(format!(
                        "{op} names {issuer}:{claim}, a key of another OIDC issuer than this \
                         cluster's {}",
                        id.issuer_host
                    ));
                }
                _ => continue,
            };
            let holds = match base {
                "StringEquals" => actual.iter().any(|a| wanted.iter().any(|w| w == a)),
                "StringLike" => actual
                    .iter()
                    .any(|a| wanted.iter().any(|w| wildcard(w, a, false))),
                // Not evaluated here: never named as the fault.
                _ => true,
            };
            if !holds {
                return Some(format!(
                    "{op} {key} is {} but the ServiceAccount's token has {claim} {}",
                    wanted
                        .iter()
                        .map(|w| format!("{w:?}"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    actual
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    None
}

/// The login explanation for a refused IRSA exchange, when the trust policy could be read.
pub fn explain(t: &AwsTrustFacts) -> Explained {
    let role = t
        .role_arn
        .rsplit('/')
        .next()
        .unwrap_or(&t.role_arn)
        .to_string();
    let read = format!(
        "aws iam get-role --role-name {role} --query Role.AssumeRolePolicyDocument --output json"
    );
    let Some(policy) = &t.trust_policy else {
        return Explained {
            evidence: t
                .unread
                .iter()
                .map(|u| format!("the trust policy of role {role} could not be read: {u}"))
                .collect(),
            next: vec![read],
            ..Explained::default()
        };
    };
    let id = WebIdentity {
        issuer_host: t.issuer.trim_start_matches("https://").to_string(),
        subject: t.subject.clone(),
        audiences: t.audiences.clone(),
    };
    match evaluate(policy, &id) {
        // The policy admits the token: the refusal is elsewhere (an OIDC provider missing from
        // IAM, an SCP); the generic finding stays.
        TrustVerdict::Admits(s) => Explained {
            evidence: vec![format!(
                "the trust policy of role {role} admits this token ({s}, read with your AWS keys): \
                 the refusal comes from elsewhere (the account's IAM OIDC provider, an SCP)"
            )],
            next: vec!["aws iam list-open-id-connect-providers".into()],
            ..Explained::default()
        },
        TrustVerdict::Refuses(faults) => Explained {
            code: Some(AWS_IRSA_TRUST_MISMATCH),
            cause: Some(format!(
                "the trust policy of IAM role {role} does not admit ServiceAccount {} ({}): {}",
                t.service_account,
                t.subject,
                faults.join("; ")
            )),
            evidence: vec![format!(
                "read with your AWS keys (iam:GetRole); the token's issuer {}, subject {}, \
                 audience {}",
                t.issuer,
                t.subject,
                t.audiences.join(", ")
            )],
            next: vec![format!(
                "make the role's trust policy admit {} (condition {}:sub) and audience \
                     sts.amazonaws.com ({}:aud)",
                t.subject, id.issuer_host, id.issuer_host
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOST: &str = "oidc.eks.eu-west-1.amazonaws.com/id/ABC";

    fn id(sub: &str, aud: &str) -> WebIdentity {
        WebIdentity {
            issuer_host: HOST.into(),
            subject: sub.into(),
            audiences: vec![aud.into()],
        }
    }

    fn trust(op: &str, provider_host: &str, sub: &str, aud: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{provider_host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {op: {format!("{provider_host}:sub"): sub, format!("{provider_host}:aud"): aud}}}]})
    }

    const SUB: &str = "system:serviceaccount:payments:eso-payments";

    #[test]
    fn issue15_a_matching_trust_policy_admits() {
        let t = trust("StringEquals", HOST, SUB, "sts.amazonaws.com");
        assert_eq!(
            evaluate(&t, &id(SUB, "sts.amazonaws.com")),
            TrustVerdict::Admits("statement 1".into())
        );
    }

    #[test]
    fn issue15_string_like_wildcard_that_matches_admits() {
        let t = trust(
            "StringLike",
            HOST,
            "system:serviceaccount:payments:*",
            "sts.amazonaws.com",
        );
        assert!(matches!(
            evaluate(&t, &id(SUB, "sts.amazonaws.com")),
            TrustVerdict::Admits(_)
        ));
        // The same text under StringEquals is literal: refused.
        let t = trust(
            "StringEquals",
            HOST,
            "system:serviceaccount:payments:*",
            "sts.amazonaws.com",
        );
        assert!(matches!(
            evaluate(&t, &id(SUB, "sts.amazonaws.com")),
            TrustVerdict::Refuses(_)
        ));
    }

    #[test]
    fn issue15_wrong_namespace_names_the_sub_condition() {
        let t = trust(
            "StringEquals",
            HOST,
            "system:serviceaccount:payment:eso-payments",
            "sts.amazonaws.com",
        );
        let TrustVerdict::Refuses(f) = evaluate(&t, &id(SUB, "sts.amazonaws.com")) else {
            panic!("admitted");
        };
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("statement 1: StringEquals"), "{f:?}");
        assert!(f[0].contains(&format!("{HOST}:sub")), "{f:?}");
        assert!(
            f[0].contains("system:serviceaccount:payment:eso-payments"),
            "{f:?}"
        );
        assert!(f[0].contains(SUB), "{f:?}");
    }

    #[test]
    fn issue15_audience_mismatch_names_the_aud_condition() {
        let t = trust("StringEquals", HOST, SUB, "sts.amazonaws.com");
        let TrustVerdict::Refuses(f) = evaluate(&t, &id(SUB, "api://AzureADTokenExchange")) else {
            panic!("admitted");
        };
        assert!(f[0].contains(&format!("{HOST}:aud")), "{f:?}");
        assert!(f[0].contains("api://AzureADTokenExchange"), "{f:?}");
    }

    #[test]
    fn issue15_another_oidc_provider_is_named() {
        let other = "oidc.eks.us-east-1.amazonaws.com/id/OTHER";
        let t = trust("StringEquals", other, SUB, "sts.amazonaws.com");
        let TrustVerdict::Refuses(f) = evaluate(&t, &id(SUB, "sts.amazonaws.com")) else {
            panic!("admitted");
        };
        assert!(
            f[0].contains(other) && f[0].contains("not this cluster's issuer"),
            "{f:?}"
        );
    }

    #[test]
    fn issue15_no_web_identity_statement_and_explicit_deny() {
        let t = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}]});
        let TrustVerdict::Refuses(f) = evaluate(&t, &id(SUB, "sts.amazonaws.com")) else {
            panic!("admitted");
        };
        assert!(f[0].starts_with("no statement allows"), "{f:?}");
        let mut t = trust("StringEquals", HOST, SUB, "sts.amazonaws.com");
        t["Statement"][0]["Effect"] = json!("Deny");
        assert!(matches!(
            evaluate(&t, &id(SUB, "sts.amazonaws.com")),
            TrustVerdict::Refuses(_)
        )); // An Allow followed by a matching Deny: the Deny wins, wherever it stands.
        let allow = trust("StringEquals", HOST, SUB, "sts.amazonaws.com");
        let mut both = allow.clone();
        let mut deny = allow["Statement"][0].clone();
        deny["Effect"] = json!("Deny");
        deny["Sid"] = json!("NoPayments");
        both["Statement"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("statements"))
            .push(deny);
        let TrustVerdict::Refuses(f) = evaluate(&both, &id(SUB, "sts.amazonaws.com")) else {
            panic!("admitted despite an explicit Deny");
        };
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("\"NoPayments\" denies"), "{f:?}");
        // Near miss: the same Allow alone admits.
        assert!(matches!(
            evaluate(&allow, &id(SUB, "sts.amazonaws.com")),
            TrustVerdict::Admits(_)
        ));
    }

    #[test]
    fn issue15_explain_turns_a_refusal_into_the_trust_finding_and_an_admission_into_none() {
        let facts = |policy: Value| AwsTrustFacts {
            role_arn: "arn:aws:iam::1:role/eso-payments".into(),
            service_account: "payments/eso-payments".into(),
            issuer: format!("https://{HOST}"),
            subject: SUB.into(),
            audiences: vec!["sts.amazonaws.com".into()],
            trust_policy: Some(policy),
            unread: None,
        };
        let refused = explain(&facts(trust(
            "StringEquals",
            HOST,
            "system:serviceaccount:payment:eso-payments",
            "sts.amazonaws.com",
        )));
        assert_eq!(refused.code, Some(AWS_IRSA_TRUST_MISMATCH));
        assert!(
            refused
                .cause
                .as_deref()
                .unwrap_or_default()
                .contains("eso-payments")
        );
        assert!(
            refused.next[0].contains("system:serviceaccount:payments:eso-payments"),
            "{:?}",
            refused.next
        );
        let admitted = explain(&facts(trust(
            "StringEquals",
            HOST,
            SUB,
            "sts.amazonaws.com",
        )));
        assert_eq!(admitted.code, None);
        let unread = explain(&AwsTrustFacts {
            trust_policy: None,
            unread: Some("AccessDenied".into()),
            ..facts(Value::Null)
        });
        assert_eq!(unread.code, None);
        assert!(unread.evidence[0].contains("could not be read"));
    }
}
