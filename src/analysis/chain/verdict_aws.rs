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
        .unwrap_or_else(|| "<region>".into())
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
            let key = k.kms_key.clone().unwrap_or_else(|| "<key-id>".into());
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
            let who = f
                .provider
                .identity
                .as_deref()
                .and_then(|i| i.split_whitespace().next())
                .filter(|i| i.starts_with("arn:"))
                .unwrap_or("<identity-arn>");
            next.push(format!(
                "aws iam simulate-principal-policy --policy-source-arn {who} --action-names {action} --resource-arns {}",
                k.path
            ));
            next.push(format!("grant {action} on {} to the store's identity", k.path));
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
    let role = p
        .login_error
        .as_deref()
        .and_then(|e| e.split(" on ").nth(1))
        .and_then(|r| {
            r.split(':')
                .nth(5)
                .map(|_| r.split(": ").next().unwrap_or(r))
        })
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string);
    match p.login_code.as_deref() {
        Some("AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim") => {
            if let Some(r) = role {
                next.push(format!(
                    "aws iam get-role --role-name {r} --query Role.AssumeRolePolicyDocument"
                ));
            }
        }
        Some("InvalidClientTokenId" | "SignatureDoesNotMatch" | "UnrecognizedClientException") => {
            next.push(
                "aws iam list-access-keys --user-name <user>   # is the key still active?".into(),
            );
            next.push("store a valid key pair in the store's secretRef Secret".into());
        }
        _ => {}
    }
    next.push(force_sync.to_string());
}
