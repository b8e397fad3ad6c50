//! The chain `describe-chain` walks, as plain data: ExternalSecret -> store -> credentials ->
//! provider -> target Secret -> consumers. The fetchers fill the facts (recording a failed lookup
//! on its link instead of aborting), the analysis adds each link's state and the verdict, and all
//! three output formats print this one report. No field ever holds a secret value: credentials and
//! target data appear as key names and sizes, and the provider comparison as yes/no.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How one link of the chain looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Ok,
    Warning,
    Broken,
    Unknown,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Ok => "ok",
            LinkState::Warning => "warning",
            LinkState::Broken => "broken",
            LinkState::Unknown => "unknown",
        }
    }
}

/// The six links, in the order the chain is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkName {
    ExternalSecret,
    Store,
    Credentials,
    Provider,
    Target,
    Consumers,
}

impl LinkName {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkName::ExternalSecret => "ExternalSecret",
            LinkName::Store => "Store",
            LinkName::Credentials => "Credentials",
            LinkName::Provider => "Provider",
            LinkName::Target => "Target Secret",
            LinkName::Consumers => "Consumers",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionFacts {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFacts {
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// `series.count` for an Event series, else `count` (1 when absent).
    pub count: i32,
    /// `firstTimestamp`, else `eventTime` (issue 13: since when).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// One `data[]` / `dataFrom[]` entry: where in the provider ESO looks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRefFacts {
    /// `data[0]`, `dataFrom[1]`.
    pub source: String,
    /// `secretKey` for data[], `extract` / `find` for dataFrom[].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `dataFrom[].extract` copies every property of the remote secret.
    #[serde(default)]
    pub extract: bool,
    /// `dataFrom[].find` has no single key: it is not probed.
    #[serde(default)]
    pub find: bool,
    /// A generator's path (VaultDynamicSecret): its permissions are asked, it is never read,
    /// because reading it would mint a credential (issue 14).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generator: bool,
    /// A VaultDynamicSecret's `spec.method` (`POST`, `LIST`, ...) when it is not a read: ESO
    /// writes, lists or deletes the path, which needs another capability (issue 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The store this entry reads from when its `sourceRef.storeRef` overrides the chain's store
    /// (`ClusterSecretStore vault-old`): that store is walked as its own link, and this key is not
    /// probed against the chain's store (issue 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_store: Option<String>,
}

/// One generator an ExternalSecret's `dataFrom[].sourceRef.generatorRef` names (issue 14).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorFacts {
    /// `dataFrom[0]`.
    pub source: String,
    /// As referenced: `Password`, `VaultDynamicSecret`, ..., `ClusterGenerator`.
    pub kind: String,
    pub name: String,
    /// Absent for a ClusterGenerator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A ClusterGenerator's `spec.kind`: what it really runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<String>,
    /// `None` when the lookup itself failed (see `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// Non-secret settings: path, method, server, auth method, role, registry, length...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFacts {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ConditionFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_name: Option<String>,
    pub target_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<String>,
    /// The target is rendered from `target.template`: its keys are not the provider's values.
    #[serde(default)]
    pub templated: bool,
    pub remote_refs: Vec<RemoteRefFacts>,
    pub events: Vec<EventFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_cluster_external_secret: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreFacts {
    /// As referenced: `SecretStore` or `ClusterSecretStore`.
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `None` when the lookup itself failed (see `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// Set when a store of the same name exists only as the other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_kind_exists: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ConditionFacts>,
    pub events: Vec<EventFacts>,
    /// ClusterSecretStore `spec.conditions`: does it admit the ExternalSecret's namespace?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admits_namespace: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_note: Option<String>,
    /// `vault`, `azurekv`, ... (the key under `spec.provider`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Non-secret settings: server, path, version, auth method, role, vaultUrl, tenant...
    pub settings: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when the ExternalSecret takes every value from generators (issue 14): this link is
    /// then the generator (kind `VaultDynamicSecret`, ...), which has no Ready condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// ESO's kubernetes provider (issue 15): which cluster the store reads, so that the commands
    /// that look there run on that cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_cluster: Option<KubeCluster>,
}

/// The cluster a `kubernetes` provider store reads (issue 15), and how kubectl reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "cluster")]
pub enum KubeCluster {
    /// The store's own cluster (`kubernetes.default…`): the kubeconfig's current context.
    Home,
    /// Another cluster's API server.
    #[serde(rename_all = "camelCase")]
    Remote {
        server: String,
        /// A context of the user's kubeconfig whose cluster is that server, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// The cluster a kubeconfig in a Secret (`authRef`) names.
    FromSecret,
}

/// One Secret key or ServiceAccount the store's auth needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialFacts {
    /// What it is for: `token`, `appRole secretId`, `clientId`, `clientSecret`, `serviceAccount`, `caBundle`...
    pub purpose: String,
    /// `Secret ns/name` or `ServiceAccount ns/name`.
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_present: Option<bool>,
    /// Size in bytes of the referenced key's value (never the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// The object's key names (Secrets) or workload-identity annotations (ServiceAccounts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the provider said about one remote key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFacts {
    pub key: String,
    /// The exact API path (Vault: `registry-creds/data/order-service`) or secret URL path.
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// May the probing identity read it (or make the call `needs` names)? `None` when not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readable: Option<bool>,
    /// The capability ESO's call needs when it is not `read` (a VaultDynamicSecret that POSTs
    /// needs `update` or `create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub destroyed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_exists: Option<bool>,
    /// Property names of the remote secret (Vault), never values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    /// AWS: the `remoteRef.version` this key was read at (`None`: the current one); the same key
    /// at two versions is two entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// AWS: the KMS key the secret is encrypted with (`aws/secretsmanager` when AWS's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// AWS Secrets Manager: the version stages the secret has (`AWSCURRENT`, `AWSPREVIOUS`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// AWS Secrets Manager: when a secret scheduled for deletion will be deleted; Key Vault: when
    /// a soft-deleted secret will be purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// When it was deleted (Vault KV v2 `deletion_time`, Key Vault `deletedDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// AWS: `iam:SimulatePrincipalPolicy` for the refused action, asked with the user's own keys:
    /// `implicitDeny`, `explicitDeny` (or `allowed`: then not the identity policy), and the ids
    /// of the policies whose statements matched (issue 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_matched: Vec<String>,
    /// A similarly named key that does exist (a typo in `remoteRef.key`?).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    /// Provider error code (`SecretNotFound`, `ForbiddenByRbac`, HTTP 403...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl KeyFacts {
    /// AWS: the action and resource ARN of the refusal in `error` ("... is not authorized to
    /// perform: ACTION on resource: ARN because ..."); `None` when it names no ARN.
    pub fn aws_denied(&self) -> Option<(String, String)> {
        let error = self.error.as_deref()?;
        let after = |marker: &str| {
            error
                .split_once(marker)
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(|w| w.trim_end_matches([';', ',', ')']).to_string())
        };
        let action = after("authorized to perform: ")?;
        let resource = after("on resource: ").filter(|r| r.starts_with("arn:"))?;
        Some((action, resource))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFacts {
    pub probed: bool,
    /// Why it was not probed (`--no-probe`, managed identity, unsupported provider...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// `eso` or `me`.
    pub probe_as: String,
    /// Who logged in, in words: "kubernetes auth role external-secrets-operator as external-secrets/external-secrets".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Vault: the policies of the logged-in token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_error: Option<String>,
    /// Provider error code of the login (`AADSTS7000222`, HTTP 403...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_code: Option<String>,
    /// Kubernetes `authRef`: how the kubeconfig's user signs in — `token`, `cert`, `token and
    /// cert` (client-go sends both) or `anonymous` — read from the kubeconfig itself (the store's
    /// spec does not say), so a 401 names the credential that was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_user: Option<String>,
    pub keys: Vec<KeyFacts>,
    /// Every provider request made (method and path, no tokens), in order.
    pub calls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Vault: what was read to explain a refusal (the mount, the role, the policies' rules), with
    /// ESO's token where it may read it and the user's own token otherwise (issue 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultExplain>,
    /// AWS: the IRSA role's trust policy and what the ServiceAccount's token presents, read to
    /// explain a refused `AssumeRoleWithWebIdentity` (issue 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_trust: Option<AwsTrustFacts>,
}

/// A refused IRSA exchange, as read to explain it: configuration and token claims only (the
/// token itself is never kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTrustFacts {
    pub role_arn: String,
    /// `namespace/name`.
    pub service_account: String,
    /// The token's `iss`, `sub` and `aud` claims.
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    /// The role's trust policy (`AssumeRolePolicyDocument`), read with the user's AWS keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<serde_json::Value>,
    /// Why it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// What explains a Vault refusal, as read from Vault. Never a token or a secret value: mount
/// settings, a role's bindings and policy rules are configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultExplain {
    /// Whose token read it: `eso`, `you` (VAULT_TOKEN for the same VAULT_ADDR) or both.
    pub read_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<VaultMountFacts>,
    /// Why the mount could not be read, and the command that would tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_unread: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<VaultRoleFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_unread: Option<String>,
    /// The auth methods' mount paths (`kubernetes`, `token`), read with the user's token
    /// (`sys/auth`) when a login was refused: a login at a path where nothing is mounted is
    /// refused with a bare 403, like a bad credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mounts: Option<Vec<String>>,
    /// The login's ServiceAccount (`namespace/name`) and the audiences its token was asked for
    /// (empty: the API server's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<VaultPolicyFacts>,
    /// Policies that could not be read, each with why and the command that would show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies_unread: Vec<String>,
    /// `auth/<mount>/config` of a refused kubernetes login, read with the user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_config: Option<VaultAuthConfigFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_config_unread: Option<String>,
    /// Whether the login's ServiceAccount may create TokenReviews (a SubjectAccessReview, asked
    /// when Vault refused its kubernetes login without a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer_may_review: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer_unchecked: Option<String>,
    /// The `kubernetes` Service's ClusterIP in `default` (what a pod's KUBERNETES_SERVICE_HOST
    /// says), read when a kubernetes login was refused and the mount has no reviewer JWT: a
    /// `kubernetes_host` at that address is Vault reaching the API server from inside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_service_ip: Option<String>,
}

/// What a Vault kubernetes auth mount's config says about its TokenReviews; never the JWT.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuthConfigFacts {
    pub kubernetes_host: String,
    /// `false`: Vault sends the TokenReview with its own pod's token when it runs in a cluster
    /// and may read it (`disable_local_ca_jwt` false), else with each client's own JWT.
    pub token_reviewer_jwt_set: bool,
    /// `disable_local_ca_jwt` as the config reads it (absent on older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_ca_jwt: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultMountFacts {
    /// As asked (`secret`).
    pub path: String,
    /// `false` when Vault says nothing is mounted there.
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// KV's `options.version` (`1`, `2`), when it is a KV mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRoleFacts {
    /// `auth/<mount>/role/<name>`.
    pub path: String,
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_service_account_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_service_account_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPolicyFacts {
    pub name: String,
    pub rules: Vec<VaultRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRule {
    pub path: String,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetKey {
    pub name: String,
    pub size: usize,
    /// Same bytes as the provider's current value? `None` when not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches_provider: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetFacts {
    pub name: String,
    /// `target.manifest.kind` when ESO writes something else than a Secret (`ConfigMap`, a
    /// custom resource; issue 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// `ExternalSecret/<name>`, another owner, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by_this: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub keys: Vec<TargetKey>,
    /// Whether ESO's `reconcile.external-secrets.io/data-hash` annotation is set (its value, an unkeyed hash of
    /// the Secret's data, is never shown).
    #[serde(default)]
    pub data_hash_present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<String>,
    /// "yes", "no", or why it could not be compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerFacts {
    /// `deployment`, `statefulset`, `daemonset`, `cronjob`, `pod`.
    pub kind: String,
    pub name: String,
    /// env, envFrom, volume, projected, imagePullSecrets.
    pub uses: Vec<String>,
    /// Pods: Running, ImagePullBackOff, CrashLoopBackOff...; workloads: the worst of their pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// Pods only: started before the Secret last changed (env vars do not refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_before_change: Option<bool>,
    /// Pods: the owning workload, `deployment/order-service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Pods that fail or run on an old value: the last secret-related lines their container printed
    /// (issue 17; `analysis::app_logs`), redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<String>,
    /// Where `log_lines` come from: `container netbox`, `container netbox, previous instance`; or
    /// why the log could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumersFacts {
    pub items: Vec<ConsumerFacts>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Everything gathered, before judgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainFacts {
    pub external_secret: ExternalSecretFacts,
    /// The generators it names (issue 14), in `dataFrom[]` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<GeneratorFacts>,
    pub store: StoreFacts,
    /// The stores `data[]` / `dataFrom[]` entries name in their own `sourceRef.storeRef`, other
    /// than `store` (issue 14): each is a Store link of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_stores: Vec<StoreFacts>,
    pub credentials: Vec<CredentialFacts>,
    pub provider: ProviderFacts,
    pub target: TargetFacts,
    pub consumers: ConsumersFacts,
}

/// One link's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    pub link: LinkName,
    pub state: LinkState,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when this link has been failing (issue 13), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// How many times the failure was recorded (Warning Events' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainVerdict {
    pub state: LinkState,
    /// The root cause's finding code (issue 12), the same doctor and scope give for this chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The first broken link (or first warning when nothing is broken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkName>,
    pub cause: String,
    /// Consumers hurt by it: `deployment/order-service (ImagePullBackOff)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impact: Vec<String>,
    pub next: Vec<String>,
}

pub const CHAIN_REPORT_KIND: &str = "ChainReport";

/// What all three output formats print.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub api_version: String,
    pub kind: String,
    pub links: Vec<LinkReport>,
    pub verdict: ChainVerdict,
    /// Since when the chain has been failing (issue 13): the ExternalSecret's failure, else that
    /// of the link the verdict names; RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// How many times that failure was recorded (Warning Events' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
    /// This chain's findings as doctor ranks them: root causes first, effects under them.
    pub findings: Vec<crate::model::finding::Finding>,
    #[serde(flatten)]
    pub facts: ChainFacts,
}

impl ChainReport {
    pub fn any_broken(&self) -> bool {
        self.links.iter().any(|l| l.state == LinkState::Broken)
    }
}

/// A secret value held only in memory (a credential, a target key, a provider's current value).
/// It is not serializable and its Debug form is redacted, so it cannot slip into a report or a log.
pub struct Sensitive(Vec<u8>);

impl Sensitive {
    /// Every value held this way is also remembered by the output boundary (`crate::redact`), so
    /// it is replaced wherever a message quotes it (issue 18).
    pub fn from_bytes(b: Vec<u8>) -> Self {
        crate::redact::learn(&b);
        Sensitive(b)
    }
    pub fn from_string(s: String) -> Self {
        Self::from_bytes(s.into_bytes())
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// The value as text (credentials are text); invalid UTF-8 is replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_string()
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes redacted>", self.0.len())
    }
}

impl Sensitive {
    /// Equal bytes, compared in constant time for equal lengths (the length is not secret here:
    /// the report prints sizes anyway).
    pub fn same_as(&self, other: &[u8]) -> bool {
        self.0.len() == other.len()
            && self
                .0
                .iter()
                .zip(other)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A provider's current value for one remote key, held only until it has been compared.
#[derive(Debug)]
pub enum RemoteValue {
    /// Key Vault secrets, or one Vault property.
    Single(Sensitive),
    /// Every property of a Vault secret (for `dataFrom.extract` and `property` lookups).
    Map(BTreeMap<String, Sensitive>),
}
