//! Every finding code, declared once with its family and its place in the causal order. A code is
//! a promise to users (scripts match on it): never rename one, add a new one. `docs/findings.md`
//! documents each (what it means, why it happens, how to fix) and a test keeps the two in step.

/// Where in the chain a cause sits. A finding explains findings of a later layer about the same
/// objects (`diagnose::rank`); the ESO controller explains every ExternalSecret's symptoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Controller,
    StoreRef,
    Credentials,
    Provider,
    /// A store that is not Ready is the symptom of its credentials or provider when those show
    /// the cause, and the cause of its ExternalSecrets' failures.
    Store,
    Ownership,
    ExternalSecret,
    Target,
    Consumers,
    Leftovers,
}

pub struct Entry {
    pub code: &'static str,
    pub layer: Layer,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $layer:ident;)*) => {
        $(pub const $name: &str = $code;)*
        pub const CATALOGUE: &[Entry] = &[$(Entry { code: $code, layer: Layer::$layer }),*];
    };
}

codes! {
    // ESO itself
    ESO_API_V1BETA1_ONLY = "eso-api-v1beta1-only", Controller;
    ESO_CRD_MISSING = "eso-crd-missing", Controller;
    ESO_CRD_STORED_VERSION = "eso-crd-stored-version", Controller;
    ESO_CRD_VERSION_MISMATCH = "eso-crd-version-mismatch", Controller;
    ESO_CRD_VERSION_UNSERVED = "eso-crd-version-unserved", Controller;
    ESO_CONTROLLER_MISSING = "eso-controller-missing", Controller;
    ESO_COMPONENT_MISSING = "eso-component-missing", Controller;
    ESO_CONTROLLER_NOT_READY = "eso-controller-not-ready", Controller;
    ESO_COMPONENT_NOT_READY = "eso-component-not-ready", Controller;
    ESO_CONTROLLER_DUPLICATE = "eso-controller-duplicate", Controller;
    ESO_WEBHOOK_MISSING = "eso-webhook-missing", Controller;
    ESO_WEBHOOK_UNAVAILABLE = "eso-webhook-unavailable", Controller;
    CHECK_NOT_RUN = "check-not-run", Controller;
    // what only ESO's own logs show (issue 17)
    ESO_LOG_LEADER_ELECTION_LOST = "eso-log-leader-election-lost", Controller;
    ESO_LOG_WEBHOOK_CERTIFICATE = "eso-log-webhook-certificate", Controller;
    ESO_LOG_TWO_CONTROLLERS = "eso-log-two-controllers", Controller;
    ESO_LOG_PROVIDER_RATE_LIMITED = "eso-log-provider-rate-limited", Provider;
    ESO_LOG_STORE_VALIDATION = "eso-log-store-validation", Store;
    // store references
    STORE_MISSING = "store-missing", StoreRef;
    STORE_NAME_TYPO = "store-name-typo", StoreRef;
    STORE_KIND_MISMATCH = "store-kind-mismatch", StoreRef;
    STORE_OTHER_NAMESPACE = "store-other-namespace", StoreRef;
    STORE_CONDITIONS_DENY = "store-conditions-deny", StoreRef;
    STORE_CONDITIONS_UNKNOWN = "store-conditions-unknown", StoreRef;
    // generators (issue 14)
    GENERATOR_MISSING = "generator-missing", StoreRef;
    GENERATOR_CREDENTIALS_MISSING = "generator-credentials-missing", Credentials;
    GENERATOR_FAILED = "generator-failed", Provider;
    // stores and their credentials
    STORE_NOT_READY = "store-not-ready", Store;
    STORE_VALIDATION_UNKNOWN = "store-validation-unknown", Store;
    CREDENTIALS_SECRET_MISSING = "credentials-secret-missing", Credentials;
    CREDENTIALS_KEY_MISSING = "credentials-key-missing", Credentials;
    CREDENTIALS_KEY_NEAR_MISS = "credentials-key-near-miss", Credentials;
    CREDENTIALS_REFERENT_MISSING = "credentials-referent-missing", Credentials;
    CREDENTIALS_SERVICE_ACCOUNT_MISSING = "credentials-service-account-missing", Credentials;
    // providers
    PROVIDER_NOT_PROBED = "provider-not-probed", Provider;
    PROVIDER_CLASS_MISSING = "provider-class-missing", Provider;
    PROVIDER_UNREACHABLE = "provider-unreachable", Provider;
    PROVIDER_LOGIN_FAILED = "provider-login-failed", Provider;
    VAULT_ROLE_BINDING_MISMATCH = "vault-role-binding-mismatch", Provider;
    VAULT_ROLE_MISSING = "vault-role-missing", Provider;
    VAULT_AUTH_MOUNT_MISSING = "vault-auth-mount-missing", Provider;
    VAULT_TOKENREVIEW_REFUSED = "vault-tokenreview-refused", Provider;
    VAULT_TOKEN_EXPIRED = "vault-token-expired", Credentials;
    VAULT_POLICY_DENIED = "vault-policy-denied", Provider;
    VAULT_POLICY_PATH_KV2_DATA = "vault-policy-path-kv2-data", Provider;
    VAULT_KV_VERSION_MISMATCH = "vault-kv-version-mismatch", Provider;
    VAULT_MOUNT_MISSING = "vault-mount-missing", Provider;
    VAULT_SECRET_DELETED = "vault-secret-deleted", Provider;
    AWS_IRSA_TRUST_MISMATCH = "aws-irsa-trust-mismatch", Provider;
    AWS_KMS_DECRYPT_DENIED = "aws-kms-decrypt-denied", Provider;
    AWS_VERSION_MISSING = "aws-version-missing", Provider;
    AWS_REGION_MISMATCH = "aws-region-mismatch", Provider;
    AZURE_CLIENT_SECRET_EXPIRED = "azure-client-secret-expired", Credentials;
    AZURE_CLIENT_SECRET_INVALID = "azure-client-secret-invalid", Credentials;
    AZURE_FEDERATED_CREDENTIAL_MISMATCH = "azure-federated-credential-mismatch", Provider;
    AZURE_ACCESS_POLICY_DENIED = "azure-access-policy-denied", Provider;
    AZURE_RBAC_DENIED = "azure-rbac-denied", Provider;
    AZURE_FIREWALL_DENIED = "azure-firewall-denied", Provider;
    AZURE_SECRET_DISABLED = "azure-secret-disabled", Provider;
    // ESO's kubernetes provider (issue 15)
    KUBERNETES_TOKEN_REJECTED = "kubernetes-token-rejected", Credentials;
    KUBERNETES_RBAC_DENIED = "kubernetes-rbac-denied", Provider;
    KUBERNETES_CA_UNTRUSTED = "kubernetes-ca-untrusted", Provider;
    KUBERNETES_CA_INVALID = "kubernetes-ca-invalid", Provider;
    KUBERNETES_CERT_REJECTED = "kubernetes-cert-rejected", Credentials;
    KUBERNETES_CLIENT_CERT_INVALID = "kubernetes-client-cert-invalid", Credentials;
    KUBERNETES_KUBECONFIG_INVALID = "kubernetes-kubeconfig-invalid", Credentials;
    AZURE_SECRET_DELETED = "azure-secret-deleted", Provider;
    PROVIDER_KEY_MISSING = "provider-key-missing", Provider;
    PROVIDER_KEY_NEAR_MISS = "provider-key-near-miss", Provider;
    PROVIDER_READ_DENIED = "provider-read-denied", Provider;
    PROVIDER_SECRET_DELETED = "provider-secret-deleted", Provider;
    PROVIDER_PROPERTY_MISSING = "provider-property-missing", Provider;
    PROVIDER_SECRET_EXPIRED = "provider-secret-expired", Provider;
    PROVIDER_SECRET_EXPIRING = "provider-secret-expiring", Provider;
    // ownership
    TARGET_SHARED = "target-shared", Ownership;
    TARGET_NOT_OWNED = "target-not-owned", Ownership;
    TARGET_MERGE_MISSING = "target-merge-missing", Ownership;
    TARGET_RESOURCE_MISSING = "target-resource-missing", Ownership;
    // PushSecrets (issue 14): Kubernetes -> provider
    PUSHSECRET_STORE_MISSING = "pushsecret-store-missing", StoreRef;
    PUSHSECRET_SOURCE_MISSING = "pushsecret-source-missing", Credentials;
    PUSHSECRET_KEY_MISSING = "pushsecret-key-missing", Credentials;
    PUSHSECRET_WRITE_DENIED = "pushsecret-write-denied", Provider;
    PUSHSECRET_WRITE_NOT_CHECKED = "pushsecret-write-not-checked", Provider;
    PUSHSECRET_NOT_READY = "pushsecret-not-ready", ExternalSecret;
    CLUSTERPUSHSECRET_NAMESPACE_FAILED = "clusterpushsecret-namespace-failed", ExternalSecret;
    // the ExternalSecret's own state
    ES_NOT_READY = "es-not-ready", ExternalSecret;
    ES_TARGET_MISSING = "es-target-missing", ExternalSecret;
    ES_STALE = "es-stale", ExternalSecret;
    ES_SYNC_WINDOW_CLOSED = "es-sync-window-closed", ExternalSecret;
    TARGET_RESOURCE_DELETED = "target-resource-deleted", ExternalSecret;
    CES_NAMESPACE_FAILED = "ces-namespace-failed", ExternalSecret;
    REFRESH_NEVER = "refresh-never", Target;
    // the target Secret's values
    TARGET_VALUE_OUTDATED = "target-value-outdated", Target;
    // consumers
    CONSUMER_OLD_VALUE = "consumer-old-value", Consumers;
    CONSUMER_KEY_MISSING = "consumer-key-missing", Consumers;
    PULL_SECRET_HOST_MISMATCH = "pull-secret-host-mismatch", Consumers;
    REGCRED_UNREADABLE = "regcred-unreadable", Consumers;
    REGCRED_NO_REGISTRY = "regcred-no-registry", Consumers;
    REGCRED_LOGIN_FAILED = "regcred-login-failed", Consumers;
    // leftovers
    LEFTOVER_STAND_IN = "leftover-stand-in", Leftovers;
    // notes that explain nothing: last among findings of their severity
    ESO_VERSION_NEWER = "eso-version-newer", Leftovers;
}

/// The layer of a code; unknown codes sort last (they never explain anything).
pub fn layer(code: &str) -> Layer {
    CATALOGUE
        .iter()
        .find(|e| e.code == code)
        .map(|e| e.layer)
        .unwrap_or(Layer::Leftovers)
}

pub fn known(code: &str) -> bool {
    CATALOGUE.iter().any(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for e in CATALOGUE {
            assert!(seen.insert(e.code), "duplicate code {}", e.code);
            assert!(
                e.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                e.code
            );
        }
    }

    #[test]
    fn issue12_every_code_is_documented_and_every_documented_code_exists() {
        let docs = include_str!("../../docs/findings.md");
        let documented: Vec<&str> = docs
            .lines()
            .filter_map(|l| l.strip_prefix("### `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for e in CATALOGUE {
            assert!(
                documented.contains(&e.code),
                "docs/findings.md has no entry for {}",
                e.code
            );
        }
        for d in documented {
            assert!(known(d), "docs/findings.md documents unknown code {d}");
        }
    }
}
