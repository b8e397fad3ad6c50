//! The running fake's mutable world: the scenario state plus run-time faults behind one lock, and the
//! handle scenario steps use to change it (rotate a secret, disable it, expire a client secret,
//! revoke access, throttle). Request logic only ever reads it under the lock.

use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use super::state::{
    AccessGrant, AkvState, ClientSecret, OidcIssuer, Permission, PermissionModel, Principal,
    SecretVersion, VaultState, new_version_id, normalize,
};

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

    /// Publishes (or replaces) an OIDC issuer's JWK Set: federated assertions from `issuer` are then
    /// verified against these keys, as Entra ID does with the issuer's `jwks_uri`.
    pub fn trust_issuer(&self, issuer: &str, jwks: serde_json::Value) {
        let mut inner = self.lock();
        inner.state.oidc_issuers.retain(|i| i.issuer != issuer);
        inner.state.oidc_issuers.push(OidcIssuer {
            issuer: issuer.to_owned(),
            jwks,
        });
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

    /// `az keyvault secret delete` on a soft-delete vault: the name answers SecretNotFound, the
    /// secret is kept under `deletedsecrets/NAME` for 90 days.
    pub fn soft_delete_secret(&self, vault: &str, name: &str) -> Result<(), HandleError> {
        let mut inner = self.lock();
        let v = vault_mut(&mut inner.state, vault)?;
        let versions = v
            .secrets
            .remove(name)
            .ok_or_else(|| HandleError::NoSecret {
                vault: vault.to_owned(),
                secret: name.to_owned(),
            })?;
        let now = Timestamp::now();
        v.deleted_secrets.insert(
            name.to_owned(),
            super::state::DeletedSecret {
                deleted_date: now,
                scheduled_purge_date: now
                    .saturating_add(jiff::SignedDuration::from_hours(90 * 24))
                    .unwrap_or(now),
                versions,
            },
        );
        Ok(())
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
