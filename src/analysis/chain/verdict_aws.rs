//! The AWS half of the verdict: a broken AWS key or login turned into the next steps an AWS user
//! runs (the aws CLI command that shows the cause, then the fix), keyed on the probe's plain
//! codes (`ScheduledForDeletion`, `KMSAccessDenied`, `VersionNotFound`, `RegionMismatch`...).
//! The cause sentence itself is the probe's, already specific (action, ARN, stage, date).

use crate::model::chain::{ChainFacts, KeyFacts};

fn region(f: &ChainFacts) -> String {
    f.store
        .settings
        .get("region")
        .cloned()
        .unwrap_or_else(|| super::verdict::from_store(f, "aws.region"))
}

fn parameter_store(f: &ChainFacts) -> bool {
    f.store.settings.get("service").map(String::as_str) == Some("ParameterStore")
}

pub(super) fn key_cause(
    f: &ChainFacts,
    k: &KeyFacts,
    fallback: &str,
    next: &mut Vec<String>,
    force_sync: &str,
) -> String {
    let region = region(f);
    let es = &f.external_secret.name;
    let id = &k.key;
    let mut cause = fallback.to_string();
    match k.code.as_deref().unwrap_or_default() {
        "ScheduledForDeletion" => next.push(format!(
            "aws secretsmanager restore-secret --secret-id {id} --region {region}"
        )),
        "ResourceNotFoundException" | "ParameterNotFound" => {
            next.push(if parameter_store(f) {
                format!("aws ssm describe-parameters --region {region} --query \"Parameters[].Name\"")
            } else {
                format!(
                    "aws secretsmanager list-secrets --region {region} --query \"SecretList[].Name\""
                )
            });
            next.push(format!("fix remoteRef.key of {es} in Git"));
            if let Some(n) = &k.did_you_mean {
                cause = format!("{cause}; did you mean {n}?");
            }
        }
        "VersionNotFound" | "ParameterVersionNotFound" => {
            next.push(if parameter_store(f) {
                format!("aws ssm get-parameter-history --name {id} --region {region} --query \"Parameters[].Version\"")
            } else {
                format!(
                    "aws secretsmanager describe-secret --secret-id {id} --region {region} --query VersionIdsToStages"
                )
            });
            next.push(format!("fix remoteRef.version of {es} in Git"));
        }
        "KMSAccessDenied" => {
            // The key is the secret's own (KmsKeyId), when the probe did not name it. Without one
            // it is the AWS managed key (alias/aws/secretsmanager, alias/aws/ssm), which
            // get-key-policy only takes by id: describe-key turns the alias into it.
            let key = k.kms_key.clone().unwrap_or_else(|| {
                let of_secret = if parameter_store(f) {
                    format!("\"$(aws ssm describe-parameters --region {region} --parameter-filters Key=Name,Values={id} --query 'Parameters[0].KeyId || `alias/aws/ssm`' --output text)\"")
                } else {
                    format!("\"$(aws secretsmanager describe-secret --secret-id {id} --region {region} --query 'KmsKeyId || `alias/aws/secretsmanager`' --output text)\"")
                };
                format!("\"$(aws kms describe-key --key-id {of_secret} --region {region} --query KeyMetadata.KeyId --output text)\"")
            });
            next.push(format!(
                "aws kms get-key-policy --key-id {key} --policy-name default --region {region}"
            ));
            next.push("allow kms:Decrypt for the store's identity in the key policy (or a grant)".into());
        }
        "RegionMismatch" => next.push(format!(
            "set spec.provider.aws.region of store {} to the key's region, or use a store for that region",
            f.store.name
        )),
        _ if k.readable == Some(false) => {
            let action = if parameter_store(f) {
                "ssm:GetParameter"
            } else {
                "secretsmanager:GetSecretValue"
            };
            // IAM simulates a user or a role, not a role's session; AWS's refusal names the ARN.
            let who = f
                .provider
                .identity
                .as_deref()
                .and_then(|i| i.split_whitespace().next())
                .and_then(crate::provider::aws::iam::principal_of);
            let (action, resource) = k
                .aws_denied()
                .unwrap_or_else(|| (action.to_string(), k.path.clone()));
            if k.policy_decision.is_none() {
                next.push(match who {
                    Some(who) => format!(
                        "aws iam simulate-principal-policy --policy-source-arn {who} --action-names {action} --resource-arns {resource}"
                    ),
                    // Who the store logs in as (role, serviceAccountRef or secretRef) is in its auth.
                    None => format!(
                        "{}   # the identity the store logs in as",
                        super::verdict::store_get(f, "aws.auth")
                    ),
                });
            }
            next.push(format!("grant {action} on {resource} to the store's identity"));
        }
        _ if k.property_exists == Some(false) => next.push(format!(
            "fix remoteRef.property of {es} in Git, or add {:?} to the secret's JSON",
            k.property.as_deref().unwrap_or_default()
        )),
        _ => {}
    }
    next.push(force_sync.to_string());
    cause
}

/// Next steps for a failed STS exchange.
pub(super) fn login_next(f: &ChainFacts, next: &mut Vec<String>, force_sync: &str) {
    let p = &f.provider;
    // The first role ARN the error names (`sts:AssumeRole on arn:aws:iam::1:role/x: ...`).
    let role = p
        .login_error
        .as_deref()
        .and_then(|e| e.split_whitespace().find(|w| w.contains(":role/")))
        .and_then(|arn| arn.trim_end_matches([':', ',', ')']).rsplit('/').next())
        .map(str::to_string);
    match p.login_code.as_deref() {
        Some("AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim") => {
            if let Some(r) = role {
                next.push(format!(
                    "aws iam get-role --role-name {r} --query Role.AssumeRolePolicyDocument --output json"
                ));
            }
        }
        Some("InvalidClientTokenId" | "SignatureDoesNotMatch" | "UnrecognizedClientException") => {
            // Which IAM user the key belongs to and when it was last used (NoSuchEntity: the key
            // is gone); the shell reads the key id from its Secret, this tool never prints it.
            next.push(match super::verdict::from_secret(f, "accessKeyID") {
                Some(id) => format!(
                    "aws iam get-access-key-last-used --access-key-id {id}   # whose key, still there?"
                ),
                // Which Secret and key hold it, read from the store: then the line above applies.
                None => format!(
                    "{}   # the Secret and key holding the access key id",
                    super::verdict::store_get(f, "aws.auth.secretRef.accessKeyIDSecretRef")
                ),
            });
            next.push("store a valid key pair in the store's secretRef Secret".into());
        }
        _ => {}
    }
    next.push(force_sync.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chain::ProviderFacts;

    fn facts(service: &str) -> ChainFacts {
        let mut f = ChainFacts::default();
        f.store.name = "aws".into();
        f.store.settings.insert("region".into(), "eu-west-1".into());
        f.store.settings.insert("service".into(), service.into());
        f.external_secret.name = "db".into();
        f.provider = ProviderFacts {
            identity: Some(
                "arn:aws:iam::1:user/eso (the access key from the store's secretRef)".into(),
            ),
            ..ProviderFacts::default()
        };
        f
    }

    fn next_for(f: &ChainFacts, k: &KeyFacts) -> (String, Vec<String>) {
        let mut next = Vec::new();
        let cause = key_cause(
            f,
            k,
            "the cause",
            &mut next,
            "kubectl eso force-sync db -n prod",
        );
        (cause, next)
    }

    #[test]
    fn issue15_each_aws_cause_gets_its_own_next_step() {
        let f = facts("SecretsManager");
        let gone = KeyFacts {
            key: "prod/gone".into(),
            code: Some("ScheduledForDeletion".into()),
            ..KeyFacts::default()
        };
        let (_, next) = next_for(&f, &gone);
        assert_eq!(
            next[0],
            "aws secretsmanager restore-secret --secret-id prod/gone --region eu-west-1"
        );
        let denied = KeyFacts {
            key: "prod/api".into(),
            path: "arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-x".into(),
            readable: Some(false),
            code: Some("AccessDeniedException".into()),
            ..KeyFacts::default()
        };
        let (_, next) = next_for(&f, &denied);
        assert!(
            next[0].starts_with("aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::1:user/eso --action-names secretsmanager:GetSecretValue"),
            "{next:?}"
        );
        // An IRSA session is simulated as its role, on the ARN AWS's refusal names.
        let mut irsa = f.clone();
        irsa.provider.identity =
            Some("arn:aws:sts::1:assumed-role/eso/kubectl-eso-probe (IRSA role ...)".into());
        let named = KeyFacts {
            error: Some("User: arn:aws:sts::1:assumed-role/eso/kubectl-eso-probe is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf because ...".into()),
            ..denied.clone()
        };
        let (_, next) = next_for(&irsa, &named);
        assert_eq!(
            next[0],
            "aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::1:role/eso --action-names secretsmanager:GetSecretValue \
             --resource-arns arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf"
        );
        // Already simulated with the user's keys (the cause says the decision): no command to run.
        let simulated = KeyFacts {
            policy_decision: Some("implicitDeny".into()),
            ..named
        };
        let (_, next) = next_for(&irsa, &simulated);
        assert!(
            next[0].starts_with("grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-AbCdEf"),
            "{next:?}"
        );
        let kms = KeyFacts {
            readable: Some(false),
            code: Some("KMSAccessDenied".into()),
            kms_key: Some("alias/prod".into()),
            ..denied.clone()
        };
        let (_, next) = next_for(&f, &kms);
        assert!(
            next[0].contains("aws kms get-key-policy --key-id alias/prod"),
            "{next:?}"
        );
        let typo = KeyFacts {
            key: "prod/dbx".into(),
            exists: Some(false),
            code: Some("ResourceNotFoundException".into()),
            did_you_mean: Some("prod/db".into()),
            ..KeyFacts::default()
        };
        let (cause, next) = next_for(&f, &typo);
        assert_eq!(cause, "the cause; did you mean prod/db?");
        assert!(
            next[0].starts_with("aws secretsmanager list-secrets"),
            "{next:?}"
        );
        let ps = facts("ParameterStore");
        let (_, next) = next_for(
            &ps,
            &KeyFacts {
                code: Some("ParameterNotFound".into()),
                ..typo
            },
        );
        assert!(
            next[0].starts_with("aws ssm describe-parameters"),
            "{next:?}"
        );
        assert_eq!(
            next.last().map(String::as_str),
            Some("kubectl eso force-sync db -n prod")
        );
    }

    #[test]
    fn issue_13_an_unknown_region_key_or_identity_is_looked_up_not_a_placeholder() {
        let mut f = facts("SecretsManager");
        f.store.settings.remove("region");
        f.store.kind = "SecretStore".into();
        f.store.namespace = Some("prod".into());
        f.provider.identity = None;
        let kms = KeyFacts {
            key: "prod/api".into(),
            path: "arn:aws:secretsmanager:eu-west-1:1:secret:prod/api-x".into(),
            readable: Some(false),
            code: Some("KMSAccessDenied".into()),
            ..KeyFacts::default()
        };
        let (_, next) = next_for(&f, &kms);
        let region =
            "\"$(kubectl get secretstore aws -n prod -o jsonpath='{.spec.provider.aws.region}')\"";
        assert_eq!(
            next[0],
            format!(
                "aws kms get-key-policy --key-id \"$(aws kms describe-key --key-id \"$(aws \
                 secretsmanager describe-secret --secret-id prod/api --region {region} --query \
                 'KmsKeyId || `alias/aws/secretsmanager`' --output text)\" --region {region} \
                 --query KeyMetadata.KeyId --output text)\" --policy-name default --region {region}"
            )
        );
        let denied = KeyFacts {
            code: Some("AccessDeniedException".into()),
            ..kms
        };
        let (_, next) = next_for(&f, &denied);
        assert_eq!(
            next[0],
            "kubectl get secretstore aws -n prod -o jsonpath='{.spec.provider.aws.auth}'   # the \
             identity the store logs in as"
        );
        for (_, n) in [
            next_for(&f, &denied),
            next_for(&facts("ParameterStore"), &denied),
        ] {
            assert!(
                n.iter()
                    .all(|s| !s.contains('<') && !s.contains("KIND/NAME")),
                "{n:?}"
            );
        }
    }

    #[test]
    fn issue15_a_refused_trust_policy_points_at_the_role() {
        let mut f = facts("SecretsManager");
        f.provider.login_code = Some("AccessDenied".into());
        f.provider.login_error = Some(
            "sts:AssumeRole on arn:aws:iam::1:role/locked: the caller may not assume role arn:aws:iam::1:role/locked".into(),
        );
        let mut next = Vec::new();
        login_next(&f, &mut next, "force");
        assert_eq!(
            next,
            vec![
                "aws iam get-role --role-name locked --query Role.AssumeRolePolicyDocument --output json"
                    .to_string(),
                "force".to_string()
            ]
        );
    }

    #[test]
    fn issue_13_a_rejected_access_key_is_looked_up_without_a_placeholder() {
        let mut f = facts("SecretsManager");
        f.provider.login_code = Some("InvalidClientTokenId".into());
        f.credentials = vec![crate::model::chain::CredentialFacts {
            purpose: "accessKeyID".into(),
            object: "Secret prod/aws-creds".into(),
            key: Some("access-key".into()),
            exists: Some(true),
            key_present: Some(true),
            ..Default::default()
        }];
        let mut next = Vec::new();
        login_next(&f, &mut next, "force");
        assert!(next.iter().all(|n| !n.contains('<')), "{next:?}");
        let mut unknown = f.clone();
        unknown.credentials.clear();
        let mut steps = Vec::new();
        login_next(&unknown, &mut steps, "force");
        assert_eq!(
            steps[0],
            "kubectl get secretstore aws -o jsonpath='{.spec.provider.aws.auth.secretRef.\
             accessKeyIDSecretRef}'   # the Secret and key holding the access key id"
        );
        assert_eq!(
            next[0],
            "aws iam get-access-key-last-used --access-key-id \"$(kubectl get secret aws-creds -n \
             prod -o jsonpath='{.data.access-key}' | base64 -d)\"   # whose key, still there?"
        );
    }
}
