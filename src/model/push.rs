//! PushSecret and ClusterPushSecret (`external-secrets.io/v1alpha1`, issue 14): Kubernetes →
//! provider, the other direction of ExternalSecret. The objects as read (only the fields the tool
//! uses, everything defaulted so newer releases parse), and the facts gathered about one
//! PushSecret: its source Secret's key names (never values), the stores its refs resolve to, and
//! what each store's provider says about *writing* — asked without writing anything.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::chain::EventFacts;
use super::eso::Condition;
use super::refs::StoreRef;

pub const PUSH_API_VERSION: &str = "external-secrets.io/v1alpha1";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushSecret {
    pub metadata: ObjectMeta,
    pub spec: PushSecretSpec,
    pub status: PushSecretStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushSecretSpec {
    pub secret_store_refs: Vec<PushStoreRef>,
    pub selector: PushSelector,
    pub data: Vec<PushData>,
    /// `None` (default) or `Delete`: delete the remote secret when the entry or PushSecret goes.
    pub deletion_policy: Option<String>,
    /// `Replace` (default) or `IfNotExists`.
    pub update_policy: Option<String>,
    pub refresh_interval: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushStoreRef {
    pub name: Option<String>,
    /// SecretStore (default) or ClusterSecretStore.
    pub kind: Option<String>,
    /// Instead of a name: every store of that kind with these labels.
    pub label_selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// Kept only to know one is there: the tool does not evaluate expressions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushSelector {
    pub secret: Option<NamedSecret>,
    /// A generator as the source (issue 14's generators are another helper's work): shown, not
    /// walked.
    pub generator_ref: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NamedSecret {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushData {
    #[serde(rename = "match")]
    pub match_: PushMatch,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushMatch {
    /// The source Secret's key; empty means the whole Secret.
    pub secret_key: Option<String>,
    pub remote_ref: PushRemoteRef,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushRemoteRef {
    pub remote_key: String,
    pub property: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PushSecretStatus {
    pub conditions: Vec<Condition>,
    pub refresh_time: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterPushSecret {
    pub metadata: ObjectMeta,
    pub spec: ClusterPushSecretSpec,
    pub status: ClusterPushSecretStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterPushSecretSpec {
    /// The PushSecrets it creates are named after it unless this says otherwise.
    pub push_secret_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterPushSecretStatus {
    pub conditions: Vec<Condition>,
    pub provisioned_namespaces: Vec<String>,
    pub failed_namespaces: Vec<super::eso::FailedNamespace>,
}

impl PushSecret {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub fn source_secret(&self) -> Option<&str> {
        self.spec
            .selector
            .secret
            .as_ref()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty())
    }

    /// The ClusterPushSecret that created it, if one did.
    pub fn owner_cluster_push_secret(&self) -> Option<&str> {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ClusterPushSecret")
            .map(|o| o.name.as_str())
    }
}

/// Everything doctor reads about pushing: the PushSecrets in scope and the ClusterPushSecrets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushSnapshot {
    pub push_secrets: Vec<PushFacts>,
    pub cluster_push_secrets: Vec<ClusterPushFacts>,
}

/// One ClusterPushSecret: where it created its PushSecret and where it could not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushFacts {
    pub name: String,
    /// The name of the PushSecrets it creates (`spec.pushSecretName`, else its own name).
    pub push_secret_name: String,
    pub ready: Option<Condition>,
    pub provisioned_namespaces: Vec<String>,
    /// `(namespace, ESO's reason)` per `status.failedNamespaces` entry.
    pub failed_namespaces: Vec<(String, Option<String>)>,
}

impl ClusterPushSecret {
    pub fn facts(&self) -> ClusterPushFacts {
        let name = self.metadata.name.clone().unwrap_or_default();
        ClusterPushFacts {
            push_secret_name: self
                .spec
                .push_secret_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            ready: super::eso::ready_condition(&self.status.conditions).cloned(),
            provisioned_namespaces: self.status.provisioned_namespaces.clone(),
            failed_namespaces: self
                .status
                .failed_namespaces
                .iter()
                .map(|f| (f.namespace.clone(), f.reason.clone()))
                .collect(),
        }
    }

    /// Whether it concerns `namespace`: it provisioned there or failed to.
    pub fn touches(&self, namespace: &str) -> bool {
        self.status
            .provisioned_namespaces
            .iter()
            .any(|n| n == namespace)
            || self
                .status
                .failed_namespaces
                .iter()
                .any(|f| f.namespace == namespace)
    }
}

/// Everything read about one PushSecret: facts, never a value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushFacts {
    pub namespace: String,
    pub name: String,
    /// The Ready condition as ESO wrote it (`Synced` / `Errored`, or a newer reason).
    pub ready: Option<Condition>,
    pub refresh_time: Option<String>,
    pub deletion_policy: String,
    pub update_policy: String,
    pub owner_cluster_push_secret: Option<String>,
    pub source: PushSource,
    /// `(secretKey, remoteKey, property)` per `spec.data[]` entry.
    pub data: Vec<PushEntry>,
    pub stores: Vec<PushStoreFacts>,
    /// Newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEntry {
    pub secret_key: Option<String>,
    pub remote_key: String,
    pub property: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSource {
    /// `spec.selector.secret.name`; `None` for a generator source.
    pub secret: Option<String>,
    /// `Some(true)` found, `Some(false)` missing, `None` not read (with the reason in `error`).
    pub found: Option<bool>,
    /// Key names of the source Secret (never values).
    pub keys: Vec<String>,
    pub error: Option<String>,
    /// A generator instead of a Secret: `Kind/name`.
    pub generator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushStoreFacts {
    pub store: StoreRef,
    /// How it was chosen: `name` or `labels k=v`.
    pub chosen_by: String,
    pub found: Option<bool>,
    pub ready: Option<Condition>,
    pub provider: Option<String>,
    pub write: WriteCheck,
}

/// What the provider said about writing each remote key, asked without writing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteCheck {
    /// The provider was asked.
    pub checked: bool,
    /// Why it was not (not vouched for, no credentials, a provider that cannot be asked).
    pub not_checked: Option<String>,
    pub identity: Option<String>,
    pub login_error: Option<String>,
    pub policies: Vec<String>,
    pub paths: Vec<WritePath>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WritePath {
    pub remote_key: String,
    /// The API path (`secret/data/app`).
    pub path: String,
    /// What ESO needs there: `create or update`, `delete`, ...
    pub needs: String,
    /// The capabilities Vault granted on the path.
    pub capabilities: Vec<String>,
    pub allowed: bool,
}
