//! The Key Vault + Entra ID world as plain data: what a scenario declares (vaults, secret versions,
//! service principals, access grants) and the handle the sandbox uses to change it while it runs
//! (rotate a secret, disable it, expire a client secret, revoke access). The request logic in
//! `vault_api` and `entra` reads this state and never owns it, so it stays unit-testable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum PermissionModel {
    /// Vault access policies: denial is innererror `AccessDenied`.
    #[default]
    AccessPolicy,
    /// Azure RBAC (`enableRbacAuthorization`): denial is innererror `ForbiddenByRbac`.
    Rbac,
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

/// Run-time switches that are not part of the scenario's world.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer every vault request with 429 and this Retry-After (seconds).
    pub throttle_retry_after: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub state: AkvState,
    pub faults: Faults,
}

/// Shared, mutable view of the running fake; cheap to clone.
#[derive(Debug, Clone)]
pub struct AkvHandle {
    inner: Arc<Mutex<Inner>>,
}

/// Errors of the run-time mutations (a scenario step naming something that does not exist).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("no vault named {0:?} in the Key Vault sandbox")]
    NoVault(String),
    #[error("no secret named {secret:?} in vault {vault:?}")]
    NoSecret { vault: String, secret: String },
    #[error("no version {version:?} of secret {secret:?}")]
    NoVersion { secret: String, version: String },
    #[error("no service principal with client id {0:?}")]
    NoPrincipal(String),
}

impl AkvHandle {
    pub(crate) fn new(mut state: AkvState, now: Timestamp) -> AkvHandle {
        normalize(&mut state, now);
        AkvHandle {
            inner: Arc::new(Mutex::new(Inner {
                state,
                faults: Faults::default(),
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the plain data half-written in a way that
        // matters to a simulation, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the current world (for assertions and for the scenario loader).
    pub fn snapshot(&self) -> AkvState {
        self.lock().state.clone()
    }

    /// Adds a new current version (a rotation) and returns its version id.
    pub fn set_secret(&self, vault: &str, name: &str, value: &str) -> Result<String, HandleError> {
        let now = Timestamp::now();
        let mut inner = self.lock();
        let v = vault_mut(&mut inner.state, vault)?;
        let version = new_version_id();
        v.secrets
            .entry(name.to_owned())
            .or_default()
            .push(SecretVersion {
                version: Some(version.clone()),
                value: value.to_owned(),
                enabled: true,
                created: Some(now),
                updated: Some(now),
                ..SecretVersion::default()
            });
        Ok(version)
    }

    /// Enables or disables one version, or the current one when `version` is None.
    pub fn set_enabled(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        enabled: bool,
    ) -> Result<(), HandleError> {
        self.edit_version(vault, name, version, |v| v.enabled = enabled)
    }

    /// Sets (or clears) the expiry of one version, or of the current one when `version` is None.
    pub fn set_expiry(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        exp: Option<Timestamp>,
    ) -> Result<(), HandleError> {
        self.edit_version(vault, name, version, |v| v.exp = exp)
    }

    pub fn delete_secret(&self, vault: &str, name: &str) -> Result<(), HandleError> {
        let mut inner = self.lock();
        let v = vault_mut(&mut inner.state, vault)?;
        v.secrets
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| HandleError::NoSecret {
                vault: vault.to_owned(),
                secret: name.to_owned(),
            })
    }

    /// Makes every client secret of the app expire at `at` (use a past time to break the app now).
    pub fn expire_client_secrets(&self, client_id: &str, at: Timestamp) -> Result<(), HandleError> {
        let mut inner = self.lock();
        let p = principal_mut(&mut inner.state, client_id)?;
        for s in &mut p.client_secrets {
            s.expires = Some(at);
        }
        Ok(())
    }

    /// Adds a client secret to the app, as after a credential rotation in Entra ID.
    pub fn add_client_secret(
        &self,
        client_id: &str,
        value: &str,
        expires: Option<Timestamp>,
    ) -> Result<(), HandleError> {
        let mut inner = self.lock();
        let p = principal_mut(&mut inner.state, client_id)?;
        p.client_secrets.push(ClientSecret {
            value: value.to_owned(),
            expires,
        });
        Ok(())
    }

    /// Replaces the principal's permissions on the vault.
    pub fn grant(&self, client_id: &str, vault: &str, permissions: &[Permission]) {
        let mut inner = self.lock();
        inner
            .state
            .access
            .retain(|g| !(g.principal == client_id && g.vault == vault));
        inner.state.access.push(AccessGrant {
            principal: client_id.to_owned(),
            vault: vault.to_owned(),
            permissions: permissions.to_vec(),
        });
    }

    pub fn revoke(&self, client_id: &str, vault: &str) {
        self.lock()
            .state
            .access
            .retain(|g| !(g.principal == client_id && g.vault == vault));
    }

    pub fn set_firewall_blocks(&self, vault: &str, blocks: bool) -> Result<(), HandleError> {
        let mut inner = self.lock();
        vault_mut(&mut inner.state, vault)?.firewall_blocks = blocks;
        Ok(())
    }

    pub fn set_permission_model(
        &self,
        vault: &str,
        model: PermissionModel,
    ) -> Result<(), HandleError> {
        let mut inner = self.lock();
        vault_mut(&mut inner.state, vault)?.permission_model = model;
        Ok(())
    }

    /// Switches the 429 fault on (Some(retry-after seconds)) or off (None).
    pub fn set_throttle(&self, retry_after_secs: Option<u64>) {
        self.lock().faults.throttle_retry_after = retry_after_secs;
    }

    /// Every secret value and client secret the fake knows, for leak tests.
    pub fn canaries(&self) -> Vec<String> {
        let inner = self.lock();
        let secrets = inner
            .state
            .vaults
            .iter()
            .flat_map(|v| v.secrets.values().flatten().map(|s| s.value.clone()));
        let client_secrets = inner
            .state
            .principals
            .iter()
            .flat_map(|p| p.client_secrets.iter().map(|s| s.value.clone()));
        secrets.chain(client_secrets).collect()
    }

    fn edit_version(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        edit: impl FnOnce(&mut SecretVersion),
    ) -> Result<(), HandleError> {
        let mut inner = self.lock();
        let v = vault_mut(&mut inner.state, vault)?;
        let versions = v
            .secrets
            .get_mut(name)
            .ok_or_else(|| HandleError::NoSecret {
                vault: vault.to_owned(),
                secret: name.to_owned(),
            })?;
        let target = match version {
            None => versions.last_mut(),
            Some(id) => versions
                .iter_mut()
                .find(|s| s.version.as_deref() == Some(id)),
        }
        .ok_or_else(|| HandleError::NoVersion {
            secret: name.to_owned(),
            version: version.unwrap_or("current").to_owned(),
        })?;
        edit(target);
        target.updated = Some(Timestamp::now());
        Ok(())
    }
}

fn vault_mut<'a>(state: &'a mut AkvState, name: &str) -> Result<&'a mut VaultState, HandleError> {
    state
        .vaults
        .iter_mut()
        .find(|v| v.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| HandleError::NoVault(name.to_owned()))
}

fn principal_mut<'a>(
    state: &'a mut AkvState,
    client_id: &str,
) -> Result<&'a mut Principal, HandleError> {
    state
        .principals
        .iter_mut()
        .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
        .ok_or_else(|| HandleError::NoPrincipal(client_id.to_owned()))
}
