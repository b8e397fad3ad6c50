//! Parameter Store, per distinct remote key: `GetParameter` with decryption, as ESO reads it
//! (`prefix` + key, `:version` appended when the ref names one). A SecureString whose KMS key
//! the identity may not use is told apart from an IAM refusal; a missing parameter is looked up
//! among `DescribeParameters` names (when allowed) for a near miss.

use serde_json::{Value, json};

use super::{AwsCreds, AwsError, AwsKey, AwsStore, Call, epoch, region_mismatch};
use crate::model::chain::{KeyFacts, RemoteValue, Sensitive};

const SERVICE: &str = "ssm";

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
            let wanted = format!("{}{}", store.prefix, f.key);
            f.did_you_mean = crate::provider::azure::closest(&wanted, &names);
        }
    }
    (facts, values)
}

async fn read_one(
    call: &Call<'_>,
    store: &AwsStore,
    creds: &AwsCreds,
    k: &AwsKey,
) -> (KeyFacts, Option<RemoteValue>) {
    let mut name = format!("{}{}", store.prefix, k.key);
    if let Some(v) = k.version.as_deref().filter(|v| !v.is_empty()) {
        name = format!("{name}:{v}");
    }
    let mut facts = KeyFacts {
        key: crate::sanitize::line(&k.key),
        path: crate::sanitize::line(&name),
        property: k.property.clone(),
        version: k.version.as_deref().map(crate::sanitize::line),
        ..KeyFacts::default()
    };
    let got = call
        .json(
            &store.endpoints.ssm,
            SERVICE,
            creds,
            "AmazonSSM.GetParameter",
            &json!({ "Name": name, "WithDecryption": true }),
            &format!("ssm GetParameter {name}"),
        )
        .await;
    let answer = match got {
        Ok(a) => a,
        Err(e) => {
            refused(&mut facts, &e, &name, region_mismatch(&name, &store.region));
            return (facts, None);
        }
    };
    let p = answer.get("Parameter").cloned().unwrap_or(Value::Null);
    facts.exists = Some(true);
    facts.readable = Some(true);
    if let Some(arn) = p.get("ARN").and_then(Value::as_str) {
        facts.path = crate::sanitize::line(arn);
    }
    facts.current_version = p
        .get("Version")
        .and_then(Value::as_i64)
        .map(|v| v.to_string());
    facts.updated = epoch(p.get("LastModifiedDate"));
    let Some(value) = p.get("Value").and_then(Value::as_str) else {
        facts.error = Some(format!("parameter {name} has no value"));
        return (facts, None);
    };
    let value = value.as_bytes().to_vec();
    facts.properties = super::property_names(&value);
    if let Some(prop) = &k.property {
        facts.property_exists = Some(super::has_property(&value, prop));
    }
    (
        facts,
        Some(RemoteValue::Single(Sensitive::from_bytes(value))),
    )
}

fn refused(facts: &mut KeyFacts, e: &AwsError, name: &str, mismatch: Option<String>) {
    facts.code = Some(e.code.clone());
    let path = facts.path.clone();
    facts.error = Some(match e.code.as_str() {
        "ParameterNotFound" => {
            facts.exists = Some(false);
            match mismatch {
                Some(m) => {
                    facts.code = Some("RegionMismatch".into());
                    format!("no parameter {name}: {m}")
                }
                None => format!("Parameter Store has no parameter {name} ({})", e.line()),
            }
        }
        "ParameterVersionNotFound" => {
            facts.exists = Some(true);
            format!(
                "parameter {name}: that version does not exist ({})",
                e.line()
            )
        }
        _ if e.is_kms() => {
            facts.readable = Some(false);
            facts.code = Some("KMSAccessDenied".into());
            format!(
                "KMS refuses to decrypt SecureString {path}: the identity may call \
                 ssm:GetParameter but not kms:Decrypt on its key ({})",
                e.line()
            )
        }
        _ if e.is_access_denied() => {
            facts.readable = Some(false);
            format!("ssm:GetParameter denied: {}", e.line())
        }
        "NoAnswer" => e.message.clone(),
        _ => format!("GetParameter on {path} failed: {}", e.line()),
    });
}

/// Parameter names (never values), a few pages at most; empty when DescribeParameters is refused.
async fn list_names(call: &Call<'_>, store: &AwsStore, creds: &AwsCreds) -> Vec<String> {
    call.names(
        &store.endpoints.ssm,
        SERVICE,
        creds,
        ("AmazonSSM.DescribeParameters", "Parameters"),
        50,
        "ssm DescribeParameters (names)",
    )
    .await
}
