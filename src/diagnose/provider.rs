//! Provider refusals named by their cause, not their symptom (issue 12): which failure class a
//! login error or a key's facts belong to, read from the provider's own error codes and texts
//! (OpenBao / Vault's kubernetes, AppRole and token auth; Entra ID's AADSTS codes; Key Vault's
//! inner error codes). Pure: the caller turns the class into a finding with its object and next
//! command.

use crate::diagnose::catalogue::*;
use crate::model::chain::KeyFacts;

/// A class and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub code: &'static str,
    pub cause: String,
}

fn class(code: &'static str, cause: impl Into<String>) -> Class {
    Class {
        code,
        cause: cause.into(),
    }
}

/// A failed login. `auth` is the store's auth method (`kubernetes`, `token`, `appRole`) when
/// known, `error` the provider's text (already scrubbed of credentials), `code` the provider's
/// error code when it gave one (`AADSTS7000222`, `HTTP 403`).
pub fn login(provider: &str, auth: Option<&str>, code: Option<&str>, error: &str) -> Class {
    let text = error.to_ascii_lowercase();
    let code_text = code.unwrap_or_default().to_ascii_lowercase();
    let has = |needle: &str| {
        let needle = needle.to_ascii_lowercase();
        text.contains(&needle) || code_text.contains(&needle)
    };
    if provider == "kubernetes" {
        return match code.unwrap_or_default() {
            "HTTP 401" if auth == Some("cert") => class(
                KUBERNETES_CERT_REJECTED,
                "the API server does not accept the store's client certificate (401 \
                 Unauthorized): a CA of its --client-ca-file did not sign it, it expired, or it \
                 is not made for client auth",
            ),
            "HTTP 401" => class(
                KUBERNETES_TOKEN_REJECTED,
                "the API server rejects the store's credential (401 Unauthorized)",
            ),
            crate::provider::kubernetes::LOGIN_CA_INVALID => class(
                KUBERNETES_CA_INVALID,
                "ESO cannot build its client: the store's CA (server.caBundle / \
                 server.caProvider) is not a PEM certificate",
            ),
            crate::provider::kubernetes::LOGIN_CLIENT_CERT_INVALID => class(
                KUBERNETES_CLIENT_CERT_INVALID,
                "ESO cannot build its client: the store's client certificate and key \
                 (auth.cert) are not a PEM certificate and its own private key",
            ),
            crate::provider::kubernetes::LOGIN_KUBECONFIG_INVALID => class(
                KUBERNETES_KUBECONFIG_INVALID,
                "ESO cannot build its client: client-go refuses the kubeconfig in the store's \
                 authRef Secret",
            ),
            "TLS alert" => class(
                PROVIDER_LOGIN_FAILED,
                "the API server ended the TLS handshake: something in front of it (or its own \
                 TLS settings) refused the client, before any request was read",
            ),
            "TLS" => class(
                KUBERNETES_CA_UNTRUSTED,
                "the API server's certificate is not signed by the CA the store trusts \
                 (server.caBundle / server.caProvider)",
            ),
            "unreachable" => class(PROVIDER_UNREACHABLE, "the API server could not be reached"),
            _ => class(PROVIDER_LOGIN_FAILED, "the API server refused ESO's client"),
        };
    }
    if provider == "azurekv" || has("aadsts") {
        if has("AADSTS7000222") {
            return class(
                AZURE_CLIENT_SECRET_EXPIRED,
                "the service principal's client secret has expired (AADSTS7000222)",
            );
        }
        if has("AADSTS7000215") || has("AADSTS7000216") {
            return class(
                AZURE_CLIENT_SECRET_INVALID,
                "Entra ID rejects the client secret: it is not a current secret of this \
                 application (AADSTS7000215)",
            );
        }
        if [
            "AADSTS70021",
            "AADSTS700211",
            "AADSTS700212",
            "AADSTS700213",
            "AADSTS700024",
        ]
        .iter()
        .any(|c| has(c))
        {
            let presented = match (
                assertion_field(error, "Subject"),
                assertion_field(error, "Issuer"),
            ) {
                (Some(sub), Some(iss)) => format!(": ESO presents subject {sub} from issuer {iss}"),
                (Some(sub), None) => format!(": ESO presents subject {sub}"),
                _ => String::new(),
            };
            return class(
                AZURE_FEDERATED_CREDENTIAL_MISMATCH,
                format!(
                    "no federated identity credential of the application matches the \
                     ServiceAccount token's issuer, subject or audience (workload identity){presented}"
                ),
            );
        }
    }
    if has("service account name not authorized") {
        return class(
            VAULT_ROLE_BINDING_MISMATCH,
            "the Vault role's bound_service_account_names do not include the ServiceAccount ESO \
             logs in with",
        );
    }
    if has("namespace not authorized") {
        return class(
            VAULT_ROLE_BINDING_MISMATCH,
            "the Vault role's bound_service_account_namespaces do not include the namespace of \
             the ServiceAccount ESO logs in with",
        );
    }
    if has("invalid audience") || has("aud) claim") {
        return class(
            VAULT_ROLE_BINDING_MISMATCH,
            "the Vault role's audience does not match the audience of the token ESO sends",
        );
    }
    if has("invalid role name") || (has("role") && has("not found")) {
        return class(
            VAULT_ROLE_MISSING,
            "the Vault role the store names does not exist on that auth mount",
        );
    }
    if has("no handler for route") || has("unsupported path") {
        return class(
            VAULT_AUTH_MOUNT_MISSING,
            "no auth method is mounted at the store's auth mount path",
        );
    }
    if has("lookup failed") || has("tokenreviews") || has("token review") {
        return class(
            VAULT_TOKENREVIEW_REFUSED,
            "Vault could not confirm the ServiceAccount token with the Kubernetes API \
             (TokenReview): its reviewer needs system:auth-delegator, or its kubernetes_host / \
             CA is wrong",
        );
    }
    if has("invalid role or secret id") || has("invalid secret id") || has("secret id") {
        return class(
            VAULT_TOKEN_EXPIRED,
            "the AppRole secret-id is expired, used up or revoked",
        );
    }
    // OpenBao answers a revoked or expired token with a bare "permission denied" (403).
    if provider == "vault" && auth == Some("token") && (has("permission denied") || has("403")) {
        return class(
            VAULT_TOKEN_EXPIRED,
            "Vault refuses the store's token (permission denied on auth/token/lookup-self): it \
             was revoked or has expired",
        );
    }
    // OpenBao's kubernetes auth answers every failed TokenReview with a bare "permission denied"
    // (the reason is only in its own log), and so does a login path where nothing is mounted.
    if provider == "vault" && auth == Some("kubernetes") && has("permission denied") {
        return class(
            VAULT_TOKENREVIEW_REFUSED,
            "Vault's kubernetes auth refused ESO's ServiceAccount token without a reason: Vault \
             could not confirm it with the Kubernetes API (TokenReview — its reviewer lacks \
             system:auth-delegator, or kubernetes_host / its CA is wrong, or the ServiceAccount \
             was recreated), or nothing is mounted at the store's auth path",
        );
    }
    if provider == "vault" && (has("bad token") || has("permission denied") || has("403")) {
        return class(
            VAULT_TOKEN_EXPIRED,
            "Vault refuses the credential: the token is expired or revoked, or the login is \
             not allowed",
        );
    }
    class(PROVIDER_LOGIN_FAILED, "the provider refused ESO's login")
}

/// One field of Entra's AADSTS70021 text, `Assertion Subject: 'system:serviceaccount:a:b'.`
/// (`Issuer`, `Subject`, `Audience`); `None` when absent or not one word.
pub fn assertion_field(text: &str, field: &str) -> Option<String> {
    let label = format!("Assertion {field}: '");
    let rest = &text[text.find(&label)? + label.len()..];
    let value = &rest[..rest.find('\'')?];
    (!value.is_empty() && !value.contains(char::is_whitespace))
        .then(|| crate::sanitize::line(value))
}

/// What is wrong with one remote key, if anything. `store_kv_version` is the store's `version`
/// for Vault stores.
pub fn key(
    provider: &str,
    k: &KeyFacts,
    store_kv_version: Option<&str>,
    now: jiff::Timestamp,
) -> Option<Class> {
    if provider == "kubernetes" && k.readable == Some(false) {
        let ns = k
            .path
            .rsplit_once(" in namespace ")
            .map(|(_, ns)| ns)
            .unwrap_or("default");
        return Some(class(
            KUBERNETES_RBAC_DENIED,
            crate::diagnose::kubernetes::denied_cause(&k.key, ns, k.error.as_deref()),
        ));
    }
    if provider != "vault" && provider != "azurekv" {
        return other_provider_key(k, now);
    }
    let error = k.error.as_deref().unwrap_or_default().to_ascii_lowercase();
    let code = k.code.as_deref().unwrap_or_default();
    if k.enabled == Some(false) || code == "SecretDisabled" {
        return Some(class(
            AZURE_SECRET_DISABLED,
            format!("secret {} is disabled in Key Vault", k.key),
        ));
    }
    if k.readable == Some(false) || code.contains("Forbidden") || code == "AccessDenied" {
        return Some(match code {
            "ForbiddenByRbac" => class(
                AZURE_RBAC_DENIED,
                format!(
                    "Key Vault's RBAC gives ESO's identity no role that may get secret {} (Key \
                     Vault Secrets User)",
                    k.key
                ),
            ),
            "ForbiddenByFirewall" => class(
                AZURE_FIREWALL_DENIED,
                "Key Vault's firewall does not admit the network ESO calls from",
            ),
            "AccessDenied" | "ForbiddenByPolicy" => class(
                AZURE_ACCESS_POLICY_DENIED,
                format!(
                    "no Key Vault access policy gives ESO's identity get on secrets ({})",
                    k.key
                ),
            ),
            _ if provider == "vault" => class(
                VAULT_POLICY_DENIED,
                format!(
                    "ESO's Vault token has no read capability on {} (capabilities: {})",
                    k.path,
                    if k.capabilities.is_empty() {
                        "none".to_string()
                    } else {
                        k.capabilities.join(", ")
                    }
                ),
            ),
            _ => class(
                PROVIDER_READ_DENIED,
                format!("ESO's identity may not read {}", k.path),
            ),
        });
    }
    if k.exists == Some(false) {
        if error.contains("invalid path for a versioned k/v secrets engine")
            || (provider == "vault"
                && store_kv_version == Some("v1")
                && error.contains("versioned"))
        {
            return Some(class(
                VAULT_KV_VERSION_MISMATCH,
                format!(
                    "the store says version v1 but the mount is a KV v2 engine: ESO reads {} \
                     instead of its data/ path",
                    k.path
                ),
            ));
        }
        if let Some(near) = &k.did_you_mean {
            return Some(class(
                PROVIDER_KEY_NEAR_MISS,
                format!(
                    "{} does not exist; {near} does: did you mean {near}?",
                    k.path
                ),
            ));
        }
        return Some(class(
            PROVIDER_KEY_MISSING,
            format!("{} does not exist", k.path),
        ));
    }
    if provider == "azurekv" && k.deleted {
        return Some(class(
            AZURE_SECRET_DELETED,
            format!(
                "secret {} was deleted from Key Vault{} and is soft-deleted{}: Key Vault answers \
                 SecretNotFound for its name until it is recovered",
                k.key,
                k.deleted_at
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default(),
                k.deletion_date
                    .as_deref()
                    .map(|t| format!(" (recoverable until {t})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if provider == "vault" && (k.destroyed || k.deleted) {
        let version = k
            .current_version
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default();
        let cause = if k.destroyed {
            format!(
                "the current version{version} of {} is destroyed: the secret exists but its \
                 data is gone, and ESO reads only the current version",
                k.path
            )
        } else {
            format!(
                "the current version{version} of {} was soft-deleted{}: the secret exists, its \
                 data can be restored, and ESO reads only the current version",
                k.path,
                k.deleted_at
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default()
            )
        };
        return Some(class(VAULT_SECRET_DELETED, cause));
    }
    // Expiry, not-before, a missing property, and any other text the provider gave.
    let problem = crate::analysis::chain::key_problem(k, now)?;
    let code = if k.property_exists == Some(false) {
        PROVIDER_PROPERTY_MISSING
    } else if k.expires.is_some() || k.not_before.is_some() {
        PROVIDER_SECRET_EXPIRED
    } else {
        PROVIDER_READ_DENIED
    };
    Some(class(code, problem))
}

/// Providers whose codes are not classified here (AWS, …): the class from the facts, the cause
/// in the provider's own words as the probe recorded them (which action on which ARN).
fn other_provider_key(k: &KeyFacts, now: jiff::Timestamp) -> Option<Class> {
    // AWS's own classes first: the probe names them from DescribeSecret and the refusal's code.
    let code = match k.code.as_deref() {
        Some("KMSAccessDenied") => Some(AWS_KMS_DECRYPT_DENIED),
        Some("VersionNotFound" | "ParameterVersionNotFound") => Some(AWS_VERSION_MISSING),
        Some("RegionMismatch") => Some(AWS_REGION_MISMATCH),
        _ => None,
    };
    if let Some(code) = code {
        // The probe's sentence names the key, stage or region; "does not exist" would not.
        let cause = k
            .error
            .clone()
            .or_else(|| crate::analysis::chain::key_problem(k, now))?;
        return Some(class(code, cause));
    }
    let problem = crate::analysis::chain::key_problem(k, now)?;
    let code = if k.readable == Some(false) {
        PROVIDER_READ_DENIED
    } else if k.exists == Some(false) && k.did_you_mean.is_some() {
        PROVIDER_KEY_NEAR_MISS
    } else if k.exists == Some(false) {
        PROVIDER_KEY_MISSING
    } else if k.property_exists == Some(false) {
        PROVIDER_PROPERTY_MISSING
    } else if k.deleted || k.destroyed || k.code.as_deref() == Some("ScheduledForDeletion") {
        // AWS: a secret scheduled for deletion (DescribeSecret's DeletedDate) is refused until
        // it is restored.
        PROVIDER_SECRET_DELETED
    } else {
        PROVIDER_READ_DENIED
    };
    Some(class(code, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_an_aws_secret_scheduled_for_deletion_is_a_deleted_secret() {
        let now = jiff::Timestamp::now();
        let gone = KeyFacts {
            key: "catalog/search-api-key".into(),
            exists: Some(true),
            code: Some("ScheduledForDeletion".into()),
            error: Some("secret catalog/search-api-key is scheduled for deletion".into()),
            ..KeyFacts::default()
        };
        let c = other_provider_key(&gone, now).map(|c| c.code);
        assert_eq!(c, Some(PROVIDER_SECRET_DELETED));
        // Near miss: another InvalidRequestException (not a deletion) stays a refused read.
        let other = KeyFacts {
            code: Some("InvalidRequestException".into()),
            error: Some("GetSecretValue failed: InvalidRequestException".into()),
            ..gone
        };
        let c = other_provider_key(&other, now).map(|c| c.code);
        assert_eq!(c, Some(PROVIDER_READ_DENIED));
    }

    #[test]
    fn issue15_aws_kms_version_and_region_refusals_have_their_own_class() {
        let now = jiff::Timestamp::now();
        let base = KeyFacts {
            key: "prod/db".into(),
            path: "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCdEf".into(),
            ..KeyFacts::default()
        };
        let kms = KeyFacts {
            readable: Some(false),
            code: Some("KMSAccessDenied".into()),
            error: Some("KMS refuses to decrypt prod/db".into()),
            ..base.clone()
        };
        let stage = KeyFacts {
            exists: Some(true),
            code: Some("VersionNotFound".into()),
            error: Some("secret prod/db has no version with stage AWSPENDING".into()),
            ..base.clone()
        };
        let parameter_version = KeyFacts {
            exists: Some(true),
            code: Some("ParameterVersionNotFound".into()),
            error: Some("parameter /prod/db: that version does not exist".into()),
            ..base.clone()
        };
        let region = KeyFacts {
            exists: Some(false),
            code: Some("RegionMismatch".into()),
            error: Some("no secret prod/db in region eu-west-1: it is in us-east-1".into()),
            ..base.clone()
        };
        let class_of = |k: &KeyFacts| other_provider_key(k, now).map(|c| c.code);
        assert_eq!(class_of(&kms), Some(AWS_KMS_DECRYPT_DENIED));
        assert_eq!(class_of(&stage), Some(AWS_VERSION_MISSING));
        assert_eq!(class_of(&parameter_version), Some(AWS_VERSION_MISSING));
        assert_eq!(class_of(&region), Some(AWS_REGION_MISMATCH));
        // The cause is the probe's sentence, not a generic one.
        let cause = other_provider_key(&stage, now)
            .map(|c| c.cause)
            .unwrap_or_default();
        assert!(cause.contains("AWSPENDING"), "{cause}");
        let cause = other_provider_key(&region, now)
            .map(|c| c.cause)
            .unwrap_or_default();
        assert!(cause.contains("it is in us-east-1"), "{cause}");
        // Near misses: an identity-policy refusal and a plainly missing secret keep their class.
        let denied = KeyFacts {
            readable: Some(false),
            code: Some("AccessDeniedException".into()),
            error: Some("secretsmanager:GetSecretValue denied".into()),
            ..base.clone()
        };
        assert_eq!(class_of(&denied), Some(PROVIDER_READ_DENIED));
        let missing = KeyFacts {
            exists: Some(false),
            code: Some("ResourceNotFoundException".into()),
            error: Some("no secret".into()),
            ..base.clone()
        };
        assert_eq!(class_of(&missing), Some(PROVIDER_KEY_MISSING));
        // A healthy key is no finding at all.
        assert_eq!(class_of(&base), None);
    }

    #[test]
    fn issue12_vault_login_texts_map_to_their_cause() {
        let cases = [
            (
                "service account name not authorized",
                VAULT_ROLE_BINDING_MISMATCH,
            ),
            ("namespace not authorized", VAULT_ROLE_BINDING_MISMATCH),
            ("invalid role name \"eso\"", VAULT_ROLE_MISSING),
            (
                "no handler for route \"auth/k8s/login\". route entry not found.",
                VAULT_AUTH_MOUNT_MISSING,
            ),
            (
                "lookup failed: service account unauthorized; this could mean it has been deleted",
                VAULT_TOKENREVIEW_REFUSED,
            ),
            ("invalid role or secret ID", VAULT_TOKEN_EXPIRED),
        ];
        for (text, code) in cases {
            assert_eq!(login("vault", None, None, text).code, code, "{text}");
        }
    }

    #[test]
    fn issue12_a_bare_permission_denied_is_read_by_the_auth_method() {
        let denied = "the token was refused: permission denied";
        assert_eq!(
            login("vault", Some("token"), Some("HTTP 403"), denied).code,
            VAULT_TOKEN_EXPIRED
        );
        let k8s = "login at auth/kubernetes/login failed: permission denied";
        assert_eq!(
            login("vault", Some("kubernetes"), Some("HTTP 403"), k8s).code,
            VAULT_TOKENREVIEW_REFUSED
        );
        // Near misses: a kubernetes login refused for a named reason keeps that reason, and a
        // token store's network failure is no token problem.
        assert_eq!(
            login(
                "vault",
                Some("kubernetes"),
                Some("HTTP 403"),
                "namespace not authorized"
            )
            .code,
            VAULT_ROLE_BINDING_MISMATCH
        );
        assert_eq!(
            login("vault", Some("token"), None, "connection refused").code,
            PROVIDER_LOGIN_FAILED
        );
        assert_eq!(
            login(
                "vault",
                Some("appRole"),
                Some("HTTP 400"),
                "invalid role or secret ID"
            )
            .code,
            VAULT_TOKEN_EXPIRED
        );
    }

    #[test]
    fn azure_codes_map_and_a_bare_failure_stays_generic() {
        assert_eq!(
            login("azurekv", None, Some("AADSTS7000222"), "x").code,
            AZURE_CLIENT_SECRET_EXPIRED
        );
        assert_eq!(
            login(
                "azurekv",
                None,
                None,
                "AADSTS7000215: Invalid client secret provided"
            )
            .code,
            AZURE_CLIENT_SECRET_INVALID
        );
        assert_eq!(
            login(
                "azurekv",
                None,
                None,
                "AADSTS700213: No matching federated identity record"
            )
            .code,
            AZURE_FEDERATED_CREDENTIAL_MISMATCH
        );
        // Entra's full text names the subject ESO presented: the cause quotes it.
        let text = "AADSTS70021: No matching federated identity record found for presented \
                    assertion. Assertion Issuer: 'https://oidc.example/abc'. Assertion Subject: \
                    'system:serviceaccount:platform:kv-reader'. Assertion Audience: \
                    'api://AzureADTokenExchange'. https://docs.microsoft.com/x";
        let c = login("azurekv", None, None, text);
        assert_eq!(c.code, AZURE_FEDERATED_CREDENTIAL_MISMATCH);
        assert!(
            c.cause
                .contains("subject system:serviceaccount:platform:kv-reader from issuer https://oidc.example/abc"),
            "{}",
            c.cause
        );
        assert_eq!(
            assertion_field(text, "Audience").as_deref(),
            Some("api://AzureADTokenExchange")
        );
        assert_eq!(assertion_field("AADSTS70021: no details", "Subject"), None);
        // Near miss: an Azure error that is none of these, and a network error for Vault.
        assert_eq!(
            login("azurekv", None, None, "AADSTS90002: Tenant not found").code,
            PROVIDER_LOGIN_FAILED
        );
        assert_eq!(
            login("vault", None, None, "connection refused").code,
            PROVIDER_LOGIN_FAILED
        );
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::UNIX_EPOCH
    }

    fn k() -> KeyFacts {
        KeyFacts {
            key: "app".into(),
            path: "secret/data/app".into(),
            ..KeyFacts::default()
        }
    }

    #[test]
    fn issue12_kv_version_mismatch_is_named_not_reported_as_missing() {
        let mut facts = k();
        facts.path = "secret/app".into();
        facts.exists = Some(false);
        facts.error = Some("Invalid path for a versioned K/V secrets engine".into());
        assert_eq!(
            key("vault", &facts, Some("v1"), now()).map(|c| c.code),
            Some(VAULT_KV_VERSION_MISMATCH)
        );
        // Without Vault's warning, a 404 is a missing key.
        facts.error = None;
        assert_eq!(
            key("vault", &facts, Some("v1"), now()).map(|c| c.code),
            Some(PROVIDER_KEY_MISSING)
        );
    }

    #[test]
    fn issue12_a_soft_deleted_or_destroyed_version_is_not_a_missing_key() {
        let mut deleted = k();
        deleted.exists = Some(true);
        deleted.deleted = true;
        deleted.current_version = Some("3".into());
        deleted.deleted_at = Some("2026-12-05T10:17:04Z".into());
        let c = key("vault", &deleted, Some("v2"), now());
        assert_eq!(c.as_ref().map(|c| c.code), Some(VAULT_SECRET_DELETED));
        let cause = c.map(|c| c.cause).unwrap_or_default();
        assert!(
            cause.contains("version 3") && cause.contains("soft-deleted"),
            "{cause}"
        );

        let mut destroyed = deleted.clone();
        destroyed.deleted = false;
        destroyed.destroyed = true;
        let c = key("vault", &destroyed, Some("v2"), now());
        assert!(c.is_some_and(|c| c.code == VAULT_SECRET_DELETED && c.cause.contains("destroyed")));

        // Near miss: a 404 without the version's metadata is a key that does not exist.
        let mut missing = k();
        missing.exists = Some(false);
        missing.code = Some("HTTP 404".into());
        assert_eq!(
            key("vault", &missing, Some("v2"), now()).map(|c| c.code),
            Some(PROVIDER_KEY_MISSING)
        );
    }

    #[test]
    fn issue12_a_soft_deleted_key_vault_secret_is_named_and_a_missing_one_is_not() {
        let mut gone = k();
        gone.key = "stripe-key".into();
        gone.exists = Some(true);
        gone.deleted = true;
        gone.deleted_at = Some("2026-12-05T10:00:00Z".into());
        gone.deletion_date = Some("2027-03-05T10:00:00Z".into());
        let c = key("azurekv", &gone, None, now());
        assert_eq!(c.as_ref().map(|c| c.code), Some(AZURE_SECRET_DELETED));
        assert!(c.is_some_and(|c| c.cause.contains("recoverable until 2027-03-05T10:00:00Z")));
        // Near miss: SecretNotFound with no deleted secret of that name.
        let mut missing = k();
        missing.exists = Some(false);
        missing.code = Some("SecretNotFound".into());
        assert_eq!(
            key("azurekv", &missing, None, now()).map(|c| c.code),
            Some(PROVIDER_KEY_MISSING)
        );
    }

    #[test]
    fn issue12_an_expired_key_vault_secret_is_named_and_a_later_expiry_is_not() {
        let mut expired = k();
        expired.exists = Some(true);
        expired.readable = Some(true);
        expired.expires = Some("1969-12-31T00:00:00Z".into());
        assert_eq!(
            key("azurekv", &expired, None, now()).map(|c| c.code),
            Some(PROVIDER_SECRET_EXPIRED)
        );
        expired.expires = Some("1970-02-01T00:00:00Z".into());
        assert_eq!(key("azurekv", &expired, None, now()), None);
    }

    /// Issue 12: Key Vault's three refusals each name their own mechanism; a refusal with no
    /// code Key Vault uses (the near miss) stays a generic read denial.
    #[test]
    fn issue12_key_vault_access_policy_rbac_and_firewall_are_told_apart() {
        let refused = |code: &str| {
            let mut d = k();
            d.readable = Some(false);
            d.code = Some(code.into());
            key("azurekv", &d, None, now()).map(|c| c.code)
        };
        assert_eq!(
            refused("ForbiddenByPolicy"),
            Some(AZURE_ACCESS_POLICY_DENIED)
        );
        assert_eq!(refused("AccessDenied"), Some(AZURE_ACCESS_POLICY_DENIED));
        assert_eq!(refused("ForbiddenByRbac"), Some(AZURE_RBAC_DENIED));
        assert_eq!(refused("ForbiddenByFirewall"), Some(AZURE_FIREWALL_DENIED));
        assert_eq!(refused("Unauthorized"), Some(PROVIDER_READ_DENIED));
    }

    #[test]
    fn aws_refusals_are_not_taken_for_azure_ones() {
        let mut denied = k();
        denied.readable = Some(false);
        denied.code = Some("AccessDenied".into());
        denied.error = Some("not allowed secretsmanager:GetSecretValue on arn:aws:…".into());
        let c = key("aws", &denied, None, now());
        assert_eq!(c.as_ref().map(|c| c.code), Some(PROVIDER_READ_DENIED));
        assert!(c.is_some_and(|c| c.cause.contains("secretsmanager:GetSecretValue")));
    }

    #[test]
    fn key_classes() {
        let mut denied = k();
        denied.readable = Some(false);
        denied.capabilities = vec!["deny".into()];
        let c = key("vault", &denied, Some("v2"), now()).map(|c| (c.code, c.cause));
        assert_eq!(c.as_ref().map(|c| c.0), Some(VAULT_POLICY_DENIED));
        assert!(c.is_some_and(|c| c.1.contains("secret/data/app")));

        let mut rbac = k();
        rbac.readable = Some(false);
        rbac.code = Some("ForbiddenByRbac".into());
        assert_eq!(
            key("azurekv", &rbac, None, now()).map(|c| c.code),
            Some(AZURE_RBAC_DENIED)
        );
        let mut typo = k();
        typo.exists = Some(false);
        typo.did_you_mean = Some("apps".into());
        assert_eq!(
            key("vault", &typo, Some("v2"), now()).map(|c| c.code),
            Some(PROVIDER_KEY_NEAR_MISS)
        );
        assert_eq!(key("vault", &k(), Some("v2"), now()), None);
    }

    #[test]
    fn issue15_kubernetes_refusals_are_classed_by_the_api_servers_answer() {
        assert_eq!(
            login("kubernetes", None, Some("HTTP 401"), "401 Unauthorized").code,
            KUBERNETES_TOKEN_REJECTED
        );
        assert_eq!(
            login("kubernetes", None, Some("TLS"), "invalid peer certificate").code,
            KUBERNETES_CA_UNTRUSTED
        );
        assert_eq!(
            login(
                "kubernetes",
                None,
                Some("unreachable"),
                "connection refused"
            )
            .code,
            PROVIDER_UNREACHABLE
        );
        // Issue 15: a client certificate's 401, and a client ESO cannot build (its CA or its
        // certificate and key), each its own class; near misses: the same 401 to a token, and a
        // CA that is a certificate but not the server's (TLS) stay what they were.
        assert_eq!(
            login(
                "kubernetes",
                Some("cert"),
                Some("HTTP 401"),
                "401 Unauthorized"
            )
            .code,
            KUBERNETES_CERT_REJECTED
        );
        assert_eq!(
            login(
                "kubernetes",
                Some("token"),
                Some("HTTP 401"),
                "401 Unauthorized"
            )
            .code,
            KUBERNETES_TOKEN_REJECTED
        );
        assert_eq!(
            login(
                "kubernetes",
                Some("token"),
                Some("CA"),
                "server.caBundle is not a PEM certificate"
            )
            .code,
            KUBERNETES_CA_INVALID
        );
        assert_eq!(
            login(
                "kubernetes",
                Some("cert"),
                Some("TLS"),
                "invalid peer certificate: UnknownIssuer"
            )
            .code,
            KUBERNETES_CA_UNTRUSTED
        );
        assert_eq!(
            login(
                "kubernetes",
                Some("cert"),
                Some("client certificate"),
                "clientKey is not the private key of clientCert"
            )
            .code,
            KUBERNETES_CLIENT_CERT_INVALID
        );
        assert_eq!(
            login(
                "kubernetes",
                Some("authRef (kubeconfig)"),
                Some("kubeconfig"),
                "invalid configuration: no configuration has been provided"
            )
            .code,
            KUBERNETES_KUBECONFIG_INVALID
        );
        // A server that ends the handshake is no CA problem of ours.
        assert_eq!(
            login(
                "kubernetes",
                Some("cert"),
                Some("TLS alert"),
                "received fatal alert: CertificateRequired"
            )
            .code,
            PROVIDER_LOGIN_FAILED
        );
        // Near miss: a Vault 401-ish text is not a kubernetes token rejection.
        assert_ne!(
            login("vault", None, Some("HTTP 401"), "permission denied").code,
            KUBERNETES_TOKEN_REJECTED
        );
        let mut denied = k();
        denied.key = "db-creds".into();
        denied.path = "secrets/db-creds in namespace shared".into();
        denied.readable = Some(false);
        denied.code = Some("Forbidden".into());
        denied.error = Some("secrets \"db-creds\" is forbidden: User \"system:serviceaccount:apps:eso\" cannot get resource \"secrets\" in API group \"\" in the namespace \"shared\"".into());
        let c = key("kubernetes", &denied, None, now());
        assert_eq!(c.as_ref().map(|c| c.code), Some(KUBERNETES_RBAC_DENIED));
        assert!(c.is_some_and(|c| c.cause.contains(
            "system:serviceaccount:apps:eso may not get secret db-creds in namespace shared"
        )));
        // Near misses: a missing Secret is not a refusal, and a refusal from AWS is not RBAC.
        let mut missing = k();
        missing.path = "secrets/app in namespace shared".into();
        missing.exists = Some(false);
        assert_eq!(
            key("kubernetes", &missing, None, now()).map(|c| c.code),
            Some(PROVIDER_KEY_MISSING)
        );
        denied.error = Some("not allowed".into());
        assert_eq!(
            key("aws", &denied, None, now()).map(|c| c.code),
            Some(PROVIDER_READ_DENIED)
        );
    }
}
