//! What `scope` gathers and what it reports. `ScopeSnapshot` is everything read from the cluster,
//! with a per-resource error instead of an abort (a 403 on Secrets is data, not a crash);
//! `ScopeReport` is the one report type that the table, JSON and YAML renderers all print. Its
//! serialized shape is documented in the README and versioned by `apiVersion`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};
use super::refs::{StoreRef, WorkloadRef};

pub const REPORT_API_VERSION: &str = "kubectl-eso/v1";
pub const SCOPE_REPORT_KIND: &str = "ScopeReport";

/// One part of the cluster that could not be read, and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Degraded {
    /// Resource plural, e.g. `secrets`, `events`, `secretstores`.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub cause: String,
}

pub type Fetched<T> = Result<T, Degraded>;

/// Everything `scope` read, as read.
#[derive(Debug, Clone)]
pub struct ScopeSnapshot {
    /// `external-secrets.io/v1` or `external-secrets.io/v1beta1`.
    pub eso_api_version: String,
    /// `None` when looking at all namespaces.
    pub namespace: Option<String>,
    pub external_secrets: Vec<ExternalSecret>,
    pub secret_stores: Fetched<Vec<SecretStore>>,
    pub cluster_secret_stores: Fetched<Vec<SecretStore>>,
    pub cluster_external_secrets: Fetched<Vec<ClusterExternalSecret>>,
    /// Secrets as metadata only (no data is ever downloaded), reduced to what is read of them.
    pub secrets: Fetched<Vec<SecretMeta>>,
    /// `UpdateFailed` Events about ExternalSecrets.
    pub events: Fetched<Vec<Event>>,
    /// Warning Events about SecretStores in scope and ClusterSecretStores (recorded in
    /// `default`, as for every cluster-scoped object): a store's real error lives only there.
    pub store_events: Vec<Fetched<Vec<Event>>>,
    pub workload: Option<WorkloadSnapshot>,
    /// Issue 12: for a read of one namespace, the (namespace, name) of SecretStores elsewhere
    /// whose name an ExternalSecret here names but this namespace lacks (one metadata LIST of
    /// all namespaces, made only then; empty when not needed or not permitted).
    pub secret_stores_elsewhere: Vec<(String, String)>,
}

/// A Secret as scope and doctor read it, from its metadata (issue 16: one per Secret of the
/// cluster, so compact — about a quarter of a reduced `ObjectMeta` — with the namespace and the
/// owners' kinds shared between Secrets): where it is, who owns it, when its data last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub namespace: Arc<str>,
    pub name: Box<str>,
    /// Its `ownerReferences`.
    pub owners: Box<[Owner]>,
    /// When its data last changed: the newest `managedFields` time, else its creation
    /// (`analysis::consumers::last_changed`).
    pub last_changed: Option<jiff::Timestamp>,
    /// Its Stakater Reloader annotations (`reloader.stakater.com/match`, `…/ignore`,
    /// `analysis::consumers::reloader_restarts`), the only ones read; `None` without any.
    pub annotations: Option<Box<BTreeMap<String, String>>>,
}

/// The prefix of the Secret annotations Stakater Reloader reads.
pub const RELOADER_ANNOTATIONS: &str = "reloader.stakater.com/";

/// One `ownerReferences` entry as read: kind, name, uid, and whether it is the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: Arc<str>,
    pub name: Box<str>,
    pub uid: Box<str>,
    pub controller: bool,
}

impl SecretMeta {
    /// `None` for metadata without a namespace or a name (no LIST returns such a Secret).
    /// `shared` hands out one copy of each namespace and owner kind.
    pub fn from_meta(m: &ObjectMeta, shared: &mut SharedStrings) -> Option<SecretMeta> {
        let reloader: BTreeMap<String, String> = m
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(RELOADER_ANNOTATIONS))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(SecretMeta {
            namespace: shared.get(m.namespace.as_deref()?),
            name: m.name.as_deref()?.into(),
            owners: m
                .owner_references
                .iter()
                .flatten()
                .map(|o| {
                    Owner::new(
                        shared,
                        &o.kind,
                        o.name.as_str(),
                        o.uid.as_str(),
                        o.controller,
                    )
                })
                .collect(),
            last_changed: crate::analysis::consumers::last_changed(m),
            annotations: Self::reloader(reloader),
        })
    }

    /// Reloader's annotations as held: `None` without any.
    pub fn reloader(
        annotations: BTreeMap<String, String>,
    ) -> Option<Box<BTreeMap<String, String>>> {
        (!annotations.is_empty()).then(|| Box::new(annotations))
    }
}

impl Owner {
    /// One `ownerReferences` entry as read, its kind shared through `shared`.
    pub fn new(
        shared: &mut SharedStrings,
        kind: &str,
        name: impl Into<Box<str>>,
        uid: impl Into<Box<str>>,
        controller: Option<bool>,
    ) -> Owner {
        Owner {
            kind: shared.get(kind),
            name: name.into(),
            uid: uid.into(),
            controller: controller == Some(true),
        }
    }
}

impl From<&ObjectMeta> for SecretMeta {
    /// One Secret on its own (tests): a missing namespace or name reads as empty.
    fn from(m: &ObjectMeta) -> SecretMeta {
        let mut named = m.clone();
        named.namespace.get_or_insert_default();
        named.name.get_or_insert_default();
        match SecretMeta::from_meta(&named, &mut SharedStrings::default()) {
            Some(s) => s,
            None => unreachable!("namespace and name were just set"),
        }
    }
}

/// One shared copy of each string seen: for the few distinct values (namespaces, kinds) that
/// thousands of objects repeat.
#[derive(Debug, Default)]
pub struct SharedStrings(foldhash::HashSet<Arc<str>>);

impl SharedStrings {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(have) = self.0.get(s) {
            return have.clone();
        }
        let new: Arc<str> = s.into();
        self.0.insert(new.clone());
        new
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadSnapshot {
    pub workload: WorkloadRef,
    pub namespace: String,
    /// `None` when the workload does not exist.
    pub pod_spec: Option<PodSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeReport {
    pub api_version: String,
    pub kind: String,
    pub eso_api_version: String,
    pub scope: ScopeInfo,
    pub external_secrets: Vec<ExternalSecretRow>,
    pub cluster_external_secrets: Vec<ClusterExternalSecretRow>,
    pub stores: Vec<StoreRow>,
    pub summary: Summary,
    pub verdicts: Vec<Verdict>,
    /// Commands to run next (issue 13): describe-chain of the worst row and doctor, or `-A`
    /// when the namespace holds no ExternalSecret.
    #[serde(default)]
    pub next: Vec<String>,
    pub degraded: Vec<Degraded>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadReport>,
    /// Issue 14: the PushSecrets in scope (Kubernetes -> provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_secrets: Vec<PushSecretRow>,
    /// The ClusterPushSecrets in scope, with where they provisioned and failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_push_secrets: Vec<crate::model::push::ClusterPushFacts>,
}

/// One PushSecret as scope lists it: what it pushes where, and its first finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretRow {
    pub namespace: String,
    pub name: String,
    /// The Ready condition's status and reason (`Unknown` when there is none).
    pub ready: String,
    pub reason: Option<String>,
    pub source: Option<String>,
    /// `Kind/name` of each store it pushes to.
    pub stores: Vec<String>,
    pub failing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<RootCause>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeInfo {
    /// `None` when all namespaces were looked at.
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub store: Option<String>,
    pub workload: Option<String>,
    pub failing_only: bool,
    /// `--cached` (issue 16): read from the API server's watch cache (`resourceVersion=0`), so
    /// possibly a few seconds stale. Absent when read as usual (consistent LISTs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRow {
    pub namespace: String,
    pub name: String,
    /// `None` when the ExternalSecret names no store (or an unknown store kind).
    pub store: Option<StoreRef>,
    /// The generators its `dataFrom[]` names (`VaultDynamicSecret/order-service-registry`): with
    /// them, no store is a valid spec (issue 14).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<String>,
    pub ready: ReadyState,
    /// `status.refreshTime`, RFC 3339.
    pub last_sync: Option<String>,
    pub refresh_interval: Option<String>,
    pub target: TargetInfo,
    /// The latest `UpdateFailed` Event's message: ESO's condition message is a fixed string.
    pub error: Option<String>,
    /// The ClusterExternalSecret that owns it, if any.
    pub owned_by: Option<String>,
    pub failing: bool,
    /// Since when it has been failing (issue 13), RFC 3339: its Ready condition's transition,
    /// else its first Warning Event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// How many times ESO recorded the failure (its Warning Events' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
    /// The root cause doctor names for this ExternalSecret (issue 12): the first finding that
    /// concerns it, with the code and cause describe-chain and doctor give too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<RootCause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootCause {
    pub code: String,
    pub object: String,
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyState {
    /// `True`, `False` or `Unknown` (also when the condition is absent).
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    pub name: String,
    pub state: TargetState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    /// Exists and is owned by this ExternalSecret (or ownership is not expected).
    Present,
    Missing,
    /// Exists but another owner (or none) controls it while creationPolicy is Owner.
    NotOwned,
    /// Exists, but the last successful sync is older than two refresh intervals.
    Stale,
    /// Secrets could not be listed; see `degraded`.
    Unknown,
}

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Present => "present",
            TargetState::Missing => "missing",
            TargetState::NotOwned => "not owned",
            TargetState::Stale => "stale",
            TargetState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretRow {
    pub name: String,
    pub ready: ReadyState,
    /// `namespace/name` of each ExternalSecret it owns that is in scope.
    pub external_secrets: Vec<String>,
    pub failing: usize,
    pub failed_namespaces: Vec<String>,
    /// `status.provisionedNamespaces`: where ESO says it created the ExternalSecret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRow {
    pub store: StoreRef,
    /// `None` when the store list could not be read.
    pub found: Option<bool>,
    pub ready: ReadyState,
    pub provider: Option<String>,
    pub external_secrets: usize,
    pub failing: usize,
    pub failing_namespaces: Vec<String>,
    /// The latest Warning Event's message when the store is not ready.
    pub error: Option<String>,
    /// Since when the store has not been ready (issue 13), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// How many times ESO recorded the failure (the store's Warning Events' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub external_secrets: usize,
    pub failing: usize,
    pub by_store: Vec<StoreCount>,
    pub by_namespace: Vec<NamespaceCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCount {
    pub store: Option<StoreRef>,
    pub total: usize,
    pub failing: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCount {
    pub namespace: String,
    pub total: usize,
    pub failing: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictLevel {
    /// The store (or its provider / credentials) is the broken link.
    Store,
    /// Individual ExternalSecrets fail while their store works.
    App,
    /// Nothing in scope fails.
    Healthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub level: VerdictLevel,
    pub store: Option<StoreRef>,
    /// `namespace/name` of the failing ExternalSecrets this verdict covers.
    pub external_secrets: Vec<String>,
    pub namespaces: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadReport {
    pub workload: WorkloadRef,
    pub namespace: String,
    pub found: bool,
    pub secrets: Vec<ConsumedSecret>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumedSecret {
    pub name: String,
    /// How the pod template uses it: env, envFrom, volume, projected, imagePullSecrets.
    pub uses: Vec<String>,
    /// The ExternalSecrets (in the workload's namespace) that produce it.
    pub external_secrets: Vec<String>,
}
