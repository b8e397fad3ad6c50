//! Generators in the simulated ESO (`dataFrom[].sourceRef.generatorRef`, issue 14): find the generator
//! object (a namespaced kind of `generators.external-secrets.io`, or a `ClusterGenerator` wrapping one) and run
//! it. `Password` makes a password as ESO's does; `VaultDynamicSecret` logs in to Vault with its own provider
//! block (exactly like a SecretStore's) and calls its path. Other kinds fail with ESO's words for a generator
//! this controller cannot run, so a scenario using one shows the failure a user would see.

use super::Ctx;
use super::provider::{self, ProviderError};
use super::stores::{self, Provider, str_at};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const GENERATOR_API_VERSION: &str = "generators.external-secrets.io/v1alpha1";

/// ESO's `errGenerate`.
pub fn generate_error(e: impl std::fmt::Display) -> ProviderError {
    ProviderError(format!("error using generator: {e}"))
}

/// The plural resource name of a generator kind, as the API server knows it.
pub fn plural(kind: &str) -> String {
    format!("{}s", kind.to_ascii_lowercase())
}

/// The `ClusterGenerator.spec.generator` field holding the spec of `kind` (`passwordSpec`, `acrAccessTokenSpec`).
pub fn cluster_spec_field(kind: &str) -> String {
    let lower_prefix: String = match kind {
        "ACRAccessToken" => "acrAccessToken".into(),
        "ECRAuthorizationToken" => "ecrAuthorizationToken".into(),
        "GCRAccessToken" => "gcrAccessToken".into(),
        "STSSessionToken" => "stsSessionToken".into(),
        "SSHKey" => "sshKey".into(),
        "UUID" => "uuid".into(),
        "MFA" => "mfa".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
    };
    format!("{lower_prefix}Spec")
}

/// The generator a `generatorRef` names, as (kind, spec, the object itself): a ClusterGenerator is unwrapped.
pub fn find(
    ctx: &Ctx,
    ns: &str,
    generator_ref: &Value,
) -> Result<(String, Value, Value), ProviderError> {
    let kind = str_at(generator_ref, "/kind").unwrap_or_default();
    let name = str_at(generator_ref, "/name").unwrap_or_default();
    let not_found = |kind: &str| {
        ProviderError(format!(
            "{}.generators.external-secrets.io \"{name}\" not found",
            plural(kind)
        ))
    };
    if kind == "ClusterGenerator" {
        let obj = ctx
            .store
            .get(GENERATOR_API_VERSION, kind, None, name)
            .ok_or_else(|| not_found(kind))?;
        let inner = str_at(&obj, "/spec/kind").unwrap_or_default().to_string();
        let spec = obj
            .pointer(&format!("/spec/generator/{}", cluster_spec_field(&inner)))
            .cloned()
            .ok_or_else(|| {
                ProviderError(format!(
                    "ClusterGenerator \"{name}\" has no spec.generator.{} for kind {inner}",
                    cluster_spec_field(&inner)
                ))
            })?;
        return Ok((inner, spec, obj));
    }
    let obj = ctx
        .store
        .get(GENERATOR_API_VERSION, kind, Some(ns), name)
        .ok_or_else(|| not_found(kind))?;
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    Ok((kind.to_string(), spec, obj))
}

/// Run the generator a `generatorRef` names for an ExternalSecret in `ns`.
pub async fn generate(
    ctx: &Ctx,
    ns: &str,
    generator_ref: &Value,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let (kind, spec, obj) = find(ctx, ns, generator_ref)?;
    match kind.as_str() {
        "Password" => password(&spec).map_err(generate_error),
        "VaultDynamicSecret" => vault_dynamic_secret(ctx, ns, &spec, &obj)
            .await
            .map_err(generate_error),
        other => Err(generate_error(format!(
            "the sandbox's ESO cannot run {other} generators"
        ))),
    }
}

const DEFAULT_SYMBOLS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";

/// ESO's Password generator: `length` (24), `digits` and `symbols` (a quarter of the length each),
/// `symbolCharacters`, `noUpper`, `allowRepeat`; one key, `password`.
fn password(spec: &Value) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let num = |k: &str| spec.get(k).and_then(Value::as_u64).map(|n| n as usize);
    let length = num("length").unwrap_or(24);
    let digits = num("digits").unwrap_or(length / 4);
    let symbols = num("symbols").unwrap_or(length / 4);
    if digits + symbols > length {
        return Err(format!(
            "unable to generate password: number of digits and symbols must be less than the length ({length})"
        ));
    }
    let symbol_chars: Vec<char> = str_at(spec, "/symbolCharacters")
        .unwrap_or(DEFAULT_SYMBOLS)
        .chars()
        .collect();
    let mut letters: Vec<char> = ('a'..='z').collect();
    if !spec
        .get("noUpper")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        letters.extend('A'..='Z');
    }
    let digit_chars: Vec<char> = ('0'..='9').collect();
    let rng = ring::rand::SystemRandom::new();
    let below = |n: usize| -> Result<usize, String> {
        let mut b = [0u8; 4];
        ring::rand::SecureRandom::fill(&rng, &mut b).map_err(|_| "no randomness".to_string())?;
        Ok(u32::from_le_bytes(b) as usize % n.max(1))
    };
    let pick = |set: &[char]| -> Result<char, String> {
        if set.is_empty() {
            return Err("unable to generate password: empty character set".into());
        }
        Ok(set[below(set.len())?])
    };
    let mut out = Vec::with_capacity(length);
    for _ in 0..digits {
        out.push(pick(&digit_chars)?);
    }
    for _ in 0..symbols {
        out.push(pick(&symbol_chars)?);
    }
    while out.len() < length {
        out.push(pick(&letters)?);
    }
    // Shuffle so digits and symbols are not all at the front.
    for i in (1..out.len()).rev() {
        out.swap(i, below(i + 1)?);
    }
    let key = spec
        .get("secretKeys")
        .and_then(Value::as_array)
        .and_then(|k| k.first())
        .and_then(Value::as_str)
        .unwrap_or("password")
        .to_string();
    Ok(BTreeMap::from([(
        key,
        out.into_iter().collect::<String>().into_bytes(),
    )]))
}

/// ESO's VaultDynamicSecret generator: the provider block is a Vault store's, resolved in the
/// generator's namespace; the result is `data` (default), `auth` or the raw response.
async fn vault_dynamic_secret(
    ctx: &Ctx,
    ns: &str,
    spec: &Value,
    obj: &Value,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    // A stand-in store so the store code resolves auth exactly as for a SecretStore in `ns`.
    let store = json!({
        "metadata": {
            "namespace": str_at(obj, "/metadata/namespace").unwrap_or(ns),
            "name": str_at(obj, "/metadata/name"),
            "uid": format!("generator-{}", str_at(obj, "/metadata/uid").unwrap_or_default()),
            "resourceVersion": str_at(obj, "/metadata/resourceVersion"),
        },
        "spec": {"provider": {"vault": spec.get("provider").cloned().unwrap_or(Value::Null)}},
    });
    let resolved = stores::resolve(ctx, &store, ns)?;
    let Provider::Vault { server, .. } = &resolved else {
        return Err(ProviderError("no Vault provider configured".into()));
    };
    let token = ctx.session(&store, &resolved).await?;
    let path = str_at(spec, "/path").unwrap_or_default();
    let method = str_at(spec, "/method").unwrap_or("GET");
    let response = provider::vault_dynamic(
        &ctx.http,
        server,
        &token,
        method,
        path,
        spec.get("parameters").cloned(),
    )
    .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            ctx.forget_session(&store);
            return Err(ProviderError(format!(
                "unable to get dynamic secret: {}",
                e.0
            )));
        }
    };
    let result = match str_at(spec, "/resultType").unwrap_or("Data") {
        "Auth" => response.get("auth").cloned(),
        "Raw" => Some(response),
        _ => response.get("data").cloned(),
    };
    let allow_empty = spec
        .get("allowEmptyResponse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match result {
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let bytes = match v {
                    Value::String(s) => s.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                (k.clone(), bytes)
            })
            .collect()),
        _ if allow_empty => Ok(BTreeMap::new()),
        _ => Err(ProviderError(format!(
            "empty response from Vault for {path}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_follows_the_spec() {
        let got = password(&json!({"length": 12, "digits": 3, "symbols": 2, "symbolCharacters": "-_", "noUpper": true}))
            .unwrap_or_default();
        let pw =
            String::from_utf8(got.get("password").cloned().unwrap_or_default()).unwrap_or_default();
        assert_eq!(pw.len(), 12);
        assert_eq!(pw.chars().filter(char::is_ascii_digit).count(), 3);
        assert_eq!(pw.chars().filter(|c| "-_".contains(*c)).count(), 2);
        assert!(!pw.chars().any(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn password_refuses_more_digits_than_length() {
        assert!(password(&json!({"length": 4, "digits": 3, "symbols": 3})).is_err());
    }

    #[test]
    fn cluster_generator_spec_fields() {
        assert_eq!(cluster_spec_field("Password"), "passwordSpec");
        assert_eq!(
            cluster_spec_field("VaultDynamicSecret"),
            "vaultDynamicSecretSpec"
        );
        assert_eq!(cluster_spec_field("ACRAccessToken"), "acrAccessTokenSpec");
        assert_eq!(
            cluster_spec_field("ECRAuthorizationToken"),
            "ecrAuthorizationTokenSpec"
        );
    }
}
