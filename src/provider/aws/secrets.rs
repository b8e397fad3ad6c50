//! Secrets Manager, per distinct remote key: `DescribeSecret` (exists, scheduled for deletion,
//! KMS key, version stages — none of it secret) then `GetSecretValue` with ESO's version mapping
//! (no version: stage `AWSCURRENT`; `uuid/<id>`: that VersionId; anything else: that stage).
//! ESO itself needs only `GetSecretValue`, so a refused `DescribeSecret` is noted, not a finding.
//! A missing secret is looked up among `ListSecrets` names (when allowed) for a near miss.

use base64::Engine;
use serde_json::{Value, json};

use super::{AwsCreds, AwsError, AwsKey, AwsStore, Call, epoch, region_mismatch};
use crate::model::chain::{KeyFacts, RemoteValue, Sensitive};

const SERVICE: &str = "secretsmanager";

pub(super) async fn read_all(
    call: &Call<'_>,
    store: &AwsStore,
    creds: &AwsCreds,
    keys: &[AwsKey],
) -> (Vec<KeyFacts>, Vec<Option<RemoteValue>>) {
    let mut facts = Vec::new();
    let mut values = Vec::new();
    for k in keys {
        let (f, v) = read_one(call, store, creds, k).await;
        facts.push(f);
        values.push(v);
    }
    if facts.iter().any(|f| f.exists == Some(false)) {
        let names = list_names(call, store, creds).await;
        for f in facts.iter_mut().filter(|f| f.exists == Some(false)) {
            f.did_you_mean = crate::provider::azure::closest(&f.key, &names);
        }
    }
    (facts, values)
}

/// What ESO asks `GetSecretValue` for.
fn version_selector(version: Option<&str>) -> (&'static str, String) {
    match version {
        None | Some("") => ("VersionStage", "AWSCURRENT".into()),
        Some(v) => match v.strip_prefix("uuid/") {
            Some(id) => ("VersionId", id.to_string()),
            None => ("VersionStage", v.to_string()),
        },
    }
}

async fn read_one(
    call: &Call<'_>,
    store: &AwsStore,
    creds: &AwsCreds,
    k: &AwsKey,
) -> (KeyFacts, Option<RemoteValue>) {
    let id = format!("{}{}", store.prefix, k.key);
    let mut facts = KeyFacts {
        key: crate::sanitize::line(&k.key),
        path: crate::sanitize::line(&id),
        property: k.property.clone(),
        version: k.version.as_deref().map(crate::sanitize::line),
        ..KeyFacts::default()
    };
    let mismatch = region_mismatch(&id, &store.region);
    let endpoint = &store.endpoints.secrets_manager;
    let describe = call
        .json(
            endpoint,
            SERVICE,
            creds,
            "secretsmanager.DescribeSecret",
            &json!({ "SecretId": id }),
            &format!("secretsmanager DescribeSecret {id}"),
        )
        .await;
    let mut deleted_at = None;
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut describe_note = None;
    match describe {
        Ok(d) => {
            facts.exists = Some(true);
            if let Some(arn) = d.get("ARN").and_then(Value::as_str) {
                facts.path = crate::sanitize::line(arn);
            }
            deleted_at = epoch(d.get("DeletedDate"));
            facts.updated = epoch(d.get("LastChangedDate"));
            facts.deletion_date = deleted_at.clone();
            facts.kms_key = Some(
                d.get("KmsKeyId")
                    .and_then(Value::as_str)
                    .map(crate::sanitize::line)
                    .unwrap_or_else(|| "aws/secretsmanager".into()),
            );
            if let Some(m) = d.get("VersionIdsToStages").and_then(Value::as_object) {
                for (vid, st) in m {
                    let st: Vec<String> = st
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(crate::sanitize::line)
                        .collect();
                    if st.iter().any(|s| s == "AWSCURRENT") {
                        facts.current_version = Some(crate::sanitize::line(vid));
                    }
                    facts.stages.extend(st.iter().cloned());
                    stages.push((vid.clone(), st));
                }
            }
            facts.stages.sort();
            facts.stages.dedup();
        }
        Err(e) if e.code == "ResourceNotFoundException" => {
            facts.exists = Some(false);
            facts.code = Some(e.code.clone());
            facts.error = Some(match &mismatch {
                Some(m) => format!("no secret {id} in region {}: {m}", store.region),
                None => format!(
                    "Secrets Manager in region {} has no secret named {id} ({})",
                    store.region,
                    e.line()
                ),
            });
            if mismatch.is_some() {
                facts.code = Some("RegionMismatch".into());
            }
            return (facts, None);
        }
        Err(e) if e.is_access_denied() => {
            describe_note = Some(format!("DescribeSecret refused ({})", e.code));
        }
        Err(e) if e.code == "NoAnswer" => {
            facts.error = Some(e.message);
            return (facts, None);
        }
        Err(e) => describe_note = Some(format!("DescribeSecret failed: {}", e.line())),
    }
    let (field, wanted) = version_selector(k.version.as_deref());
    if !stages.is_empty() {
        let present = stages.iter().any(|(vid, st)| match field {
            "VersionId" => *vid == wanted,
            _ => st.contains(&wanted),
        });
        if !present {
            facts.stages.sort();
            facts.code = Some("VersionNotFound".into());
            facts.error = Some(format!(
                "secret {id} has no version with {} {wanted} (stages: {}); ESO's GetSecretValue \
                 fails with ResourceNotFoundException",
                if field == "VersionId" { "id" } else { "stage" },
                facts.stages.join(", ")
            ));
            return (facts, None);
        }
    }
    let got = call
        .json(
            endpoint,
            SERVICE,
            creds,
            "secretsmanager.GetSecretValue",
            &json!({ "SecretId": id, field: wanted }),
            &format!("secretsmanager GetSecretValue {id}"),
        )
        .await;
    let answer = match got {
        Ok(a) => a,
        Err(e) => {
            refused(&mut facts, &e, &id, deleted_at.as_deref(), describe_note);
            return (facts, None);
        }
    };
    facts.readable = Some(true);
    facts.exists = Some(true);
    if let Some(arn) = answer.get("ARN").and_then(Value::as_str) {
        facts.path = crate::sanitize::line(arn);
    }
    if let Some(v) = answer.get("VersionId").and_then(Value::as_str)
        && facts.current_version.is_none()
    {
        facts.current_version = Some(crate::sanitize::line(v));
    }
    let value = match (
        answer.get("SecretString").and_then(Value::as_str),
        answer.get("SecretBinary").and_then(Value::as_str),
    ) {
        (Some(s), _) => Some(s.as_bytes().to_vec()),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
        _ => None,
    };
    let Some(value) = value else {
        facts.error = Some(format!(
            "secret {id} has neither a string nor a binary value"
        ));
        return (facts, None);
    };
    facts.properties = super::property_names(&value);
    if let Some(p) = &k.property {
        facts.property_exists = Some(super::has_property(&value, p));
    }
    (
        facts,
        Some(RemoteValue::Single(Sensitive::from_bytes(value))),
    )
}

/// Maps a `GetSecretValue` refusal to its plain cause.
fn refused(
    facts: &mut KeyFacts,
    e: &AwsError,
    id: &str,
    deleted_at: Option<&str>,
    describe_note: Option<String>,
) {
    facts.code = Some(e.code.clone());
    let note = describe_note.map(|n| format!("; {n}")).unwrap_or_default();
    let arn = facts.path.clone();
    facts.error = Some(if e.is_kms() {
        facts.readable = Some(false);
        facts.code = Some("KMSAccessDenied".into());
        let key = facts
            .kms_key
            .clone()
            .unwrap_or_else(|| "the secret's KMS key".into());
        format!(
            "KMS refuses to decrypt {arn}: the identity may call secretsmanager:GetSecretValue \
             but not kms:Decrypt on key {key} ({}){note}",
            e.line()
        )
    } else if e.is_access_denied() {
        facts.readable = Some(false);
        format!("secretsmanager:GetSecretValue denied: {}{note}", e.line())
    } else if e.code == "InvalidRequestException"
        && (deleted_at.is_some() || e.message.contains("deleted"))
    {
        facts.code = Some("ScheduledForDeletion".into());
        format!(
            "secret {id} is scheduled for deletion{}: GetSecretValue fails with \
             InvalidRequestException until it is restored ({}){note}",
            deleted_at
                .map(|d| format!(" (DeletedDate {d})"))
                .unwrap_or_default(),
            e.line()
        )
    } else if e.code == "ResourceNotFoundException" {
        if facts.exists == Some(true) {
            format!(
                "secret {id} exists but has no version ESO asks for ({}){note}",
                e.line()
            )
        } else {
            facts.exists = Some(false);
            format!("no secret named {id} ({}){note}", e.line())
        }
    } else {
        format!("GetSecretValue on {arn} failed: {}{note}", e.line())
    });
}

/// Secret names (never values), a few pages at most; empty when ListSecrets is refused.
async fn list_names(call: &Call<'_>, store: &AwsStore, creds: &AwsCreds) -> Vec<String> {
    call.names(
        &store.endpoints.secrets_manager,
        SERVICE,
        creds,
        ("secretsmanager.ListSecrets", "SecretList"),
        100,
        "secretsmanager ListSecrets (names)",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described() -> KeyFacts {
        KeyFacts {
            key: "prod/db".into(),
            path: "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCd".into(),
            exists: Some(true),
            kms_key: Some("arn:aws:kms:eu-west-1:1:key/k-1".into()),
            ..KeyFacts::default()
        }
    }

    /// AWS's answers that moto cannot give (moto does not call KMS, and scopes no refusal to
    /// an ARN): the documented JSON bodies, parsed as the probe parses them.
    #[test]
    fn issue15_aws_kms_and_iam_refusals_map_to_plain_causes() {
        let kms = crate::provider::aws::errors::parse(
            400,
            None,
            r#"{"__type":"AccessDeniedException","Message":"Access to KMS is not allowed"}"#,
            &[],
        );
        let mut f = described();
        refused(&mut f, &kms, "prod/db", None, None);
        assert_eq!(f.code.as_deref(), Some("KMSAccessDenied"));
        assert_eq!(f.readable, Some(false));
        let e = f.error.unwrap_or_default();
        assert!(
            e.contains("not kms:Decrypt on key arn:aws:kms:eu-west-1:1:key/k-1"),
            "{e}"
        );

        let decrypt = crate::provider::aws::errors::parse(
            400,
            None,
            r#"{"__type":"DecryptionFailure","Message":"Secrets Manager can't decrypt the protected secret text using the provided KMS key."}"#,
            &[],
        );
        let mut f = described();
        refused(&mut f, &decrypt, "prod/db", None, None);
        assert_eq!(f.code.as_deref(), Some("KMSAccessDenied"));

        let iam = crate::provider::aws::errors::parse(
            400,
            None,
            r#"{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::1:assumed-role/eso/x is not authorized to perform: secretsmanager:GetSecretValue on resource: prod/db because no identity-based policy allows the secretsmanager:GetSecretValue action"}"#,
            &[],
        );
        let mut f = described();
        refused(
            &mut f,
            &iam,
            "prod/db",
            None,
            Some("DescribeSecret refused (AccessDeniedException)".into()),
        );
        assert_eq!(f.code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(f.readable, Some(false));
        let e = f.error.unwrap_or_default();
        assert!(e.starts_with("secretsmanager:GetSecretValue denied: HTTP 400 AccessDeniedException: User: arn:aws:sts::1:assumed-role/eso/x"), "{e}");
        assert!(
            e.ends_with("; DescribeSecret refused (AccessDeniedException)"),
            "{e}"
        );

        let stage = crate::provider::aws::errors::parse(
            400,
            None,
            r#"{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS"}"#,
            &[],
        );
        let mut f = described();
        refused(&mut f, &stage, "prod/db", None, None);
        assert_eq!(
            f.exists,
            Some(true),
            "the secret exists, the version does not"
        );
        assert!(
            f.error
                .unwrap_or_default()
                .contains("no version ESO asks for")
        );
    }

    #[test]
    fn versions_map_as_eso_maps_them() {
        assert_eq!(
            version_selector(None),
            ("VersionStage", "AWSCURRENT".to_string())
        );
        assert_eq!(
            version_selector(Some("AWSPREVIOUS")),
            ("VersionStage", "AWSPREVIOUS".to_string())
        );
        assert_eq!(
            version_selector(Some("uuid/0ea455be")),
            ("VersionId", "0ea455be".to_string())
        );
    }
}
