//! The Key Vault + Entra ID world as plain data: what a scenario declares (vaults, secret versions,
//! service principals, access grants), deserialized from scenario YAML. The request logic in
//! `vault_api` and `entra` only reads it, so it stays unit-testable without a server.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Scenario data for the fake (YAML, camelCase).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AkvState {
    pub tenant_id: String,
    #[serde(default)]
    pub vaults: Vec<VaultState>,
    #[serde(default)]
    pub principals: Vec<Principal>,
    #[serde(default)]
    pub access: Vec<AccessGrant>,
    /// The OpenID Connect issuers whose signing keys the tenant can fetch (Entra ID reads them from
    /// `<issuer>/.well-known/openid-configuration` -> `jwks_uri`): a federated assertion is only
    /// accepted when one of these keys verifies it. The sandbox registers its cluster's issuer.
    #[serde(default)]
    pub oidc_issuers: Vec<OidcIssuer>,
}

/// One OIDC issuer and its published JWK Set (`{"keys": [...]}`, RS256 or ES256 keys).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcIssuer {
    pub issuer: String,
    pub jwks: serde_json::Value,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultState {
    /// The vault name, the first DNS label of its URL (e.g. `hybridops`).
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// Which authorization system the vault uses; it decides how a denial reads (access policy or RBAC).
    #[serde(default)]
    pub permission_model: PermissionModel,
    /// The vault's network rules reject the caller: every authenticated request gets ForbiddenByFirewall.
    #[serde(default)]
    pub firewall_blocks: bool,
    #[serde(default = "default_subscription")]
    pub subscription_id: String,
    #[serde(default = "default_resource_group")]
    pub resource_group: String,
    /// Secret name -> versions, oldest first; the last one is the current version.
    #[serde(default)]
    pub secrets: BTreeMap<String, Vec<SecretVersion>>,
    /// Soft-deleted secrets (`az keyvault secret delete` on a vault with soft delete, the
    /// default): served by `deletedsecrets/NAME`, recoverable until purged.
    #[serde(default)]
    pub deleted_secrets: BTreeMap<String, DeletedSecret>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletedSecret {
    pub deleted_date: Timestamp,
    pub scheduled_purge_date: Timestamp,
    pub versions: Vec<SecretVersion>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum PermissionModel {
    /// Vault access policies: denial is innererror `AccessDenied`.
    #[default]
    AccessPolicy,
    /// Azure RBAC (`enableRbacAuthorization`): denial is innererror `ForbiddenByRbac`.
    Rbac,
    /// Access policies granted only to an application acting for a user (compound identity): an
    /// app-only caller such as ESO is always refused with innererror `ForbiddenByPolicy`.
    CompoundIdentity,
}

#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVersion {
    /// 32 hex characters like Key Vault's; generated when absent.
    #[serde(default)]
    pub version: Option<String>,
    pub value: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub exp: Option<Timestamp>,
    #[serde(default)]
    pub nbf: Option<Timestamp>,
    #[serde(default)]
    pub created: Option<Timestamp>,
    #[serde(default)]
    pub updated: Option<Timestamp>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

// Hand-written so that a `{:?}` of the state can never print a secret value.
impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("version", &self.version)
            .field("value", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .finish_non_exhaustive()
    }
}

/// A service principal (app registration) in the tenant.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Principal {
    pub client_id: String,
    /// The service principal's object id; derived from the client id when absent.
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub client_secrets: Vec<ClientSecret>,
    /// PEM certificates registered on the app; a client assertion must be signed by one of their keys.
    #[serde(default)]
    pub certificates: Vec<String>,
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
}

#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecret {
    pub value: String,
    #[serde(default)]
    pub expires: Option<Timestamp>,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// Workload identity federation: which external tokens may stand in for the app.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    pub issuer: String,
    /// For Kubernetes: `system:serviceaccount:<namespace>:<serviceaccount>`.
    pub subject: String,
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessGrant {
    /// The principal's client id.
    pub principal: String,
    pub vault: String,
    #[serde(default = "all_permissions")]
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Get,
    List,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Get => "get",
            Permission::List => "list",
        }
    }

    /// The RBAC data action Key Vault names in a ForbiddenByRbac message.
    pub fn rbac_action(self) -> &'static str {
        match self {
            Permission::Get => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            Permission::List => "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        }
    }
}

fn default_location() -> String {
    "westeurope".to_owned()
}
fn default_subscription() -> String {
    "00000000-0000-0000-0000-000000000000".to_owned()
}
fn default_resource_group() -> String {
    "rg-sandbox".to_owned()
}
fn default_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_owned()]
}
fn all_permissions() -> Vec<Permission> {
    vec![Permission::Get, Permission::List]
}
fn yes() -> bool {
    true
}

/// Fills what a scenario may leave out (version ids, timestamps, object ids) so that every later read
/// sees complete data. Versions without `created` are spaced a minute apart, ending at `now`.
pub fn normalize(state: &mut AkvState, now: Timestamp) {
    for vault in &mut state.vaults {
        for versions in vault.secrets.values_mut() {
            let count = versions.len() as i64;
            for (i, v) in versions.iter_mut().enumerate() {
                if v.version.is_none() {
                    v.version = Some(new_version_id());
                }
                let age = SignedDuration::from_mins(count - 1 - i as i64);
                let created = *v
                    .created
                    .get_or_insert(now.saturating_sub(age).unwrap_or(now));
                v.updated.get_or_insert(created);
            }
        }
    }
    for p in &mut state.principals {
        if p.object_id.is_none() {
            p.object_id = Some(derived_object_id(&p.client_id));
        }
    }
}

pub fn new_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A stable object id per client id, so messages naming `oid=` do not change between runs.
fn derived_object_id(client_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, client_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
tenantId: 2ed1d494-6c5a-4c5d-aa24-479446fb844d
vaults:
  - name: hybridops
    permissionModel: Rbac
    secrets:
      netbox-db-password:
        - value: canary-old
          created: "2026-01-01T00:00:00Z"
        - value: canary-new
          exp: "2026-06-01T00:00:00Z"
          contentType: text/plain
          tags: {owner: netbox}
principals:
  - clientId: 7d8cdf74-0000-4000-8000-274d963d358b
    clientSecrets:
      - value: canary-sp
        expires: "2026-03-01T00:00:00Z"
    federatedCredentials:
      - issuer: https://kube-sim.sandbox.test
        subject: system:serviceaccount:external-secrets:external-secrets
access:
  - principal: 7d8cdf74-0000-4000-8000-274d963d358b
    vault: hybridops
    permissions: [get]
"#;

    #[test]
    fn scenario_yaml_is_camel_case_with_defaults() {
        let parsed: Result<AkvState, _> = serde_saphyr::from_str(SCENARIO);
        let mut state = parsed.map_err(|e| e.to_string()).unwrap_or_default();
        assert_eq!(state.vaults.len(), 1, "scenario did not parse");
        let now: Timestamp = "2026-02-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        normalize(&mut state, now);
        let vault = &state.vaults[0];
        assert_eq!(vault.permission_model, PermissionModel::Rbac);
        assert_eq!(vault.location, "westeurope");
        let versions = &vault.secrets["netbox-db-password"];
        assert_eq!(
            versions[0].created.map(|t| t.as_second()),
            Some(1_767_225_600)
        );
        assert_eq!(versions[1].created, Some(now));
        assert!(
            versions
                .iter()
                .all(|v| v.enabled && v.version.as_ref().is_some_and(|id| id.len() == 32))
        );
        assert_eq!(
            versions[1].tags.get("owner").map(String::as_str),
            Some("netbox")
        );
        let app = &state.principals[0];
        assert!(app.object_id.is_some());
        assert_eq!(
            app.federated_credentials[0].audiences,
            ["api://AzureADTokenExchange"]
        );
        assert_eq!(state.access[0].permissions, [Permission::Get]);
        assert!(
            !format!("{state:?}").contains("canary"),
            "Debug must not print values"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let parsed: Result<AkvState, _> = serde_saphyr::from_str("tenantId: t\nvaultz: []\n");
        assert!(parsed.is_err());
    }
}
