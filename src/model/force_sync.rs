//! What `force-sync` knows and reports. `Baseline` is an ExternalSecret as it was just before the
//! annotation (what "changed" is measured against); `ForceSyncReport` is the one report the
//! table, JSON and YAML renderers print, with one outcome per selected ExternalSecret and one row
//! per workload restart. Its serialized shape is documented in the README.

use serde::{Deserialize, Serialize};

pub const FORCE_SYNC_REPORT_KIND: &str = "ForceSyncReport";

/// The annotation ESO users conventionally set; any annotation change makes ESO resync.
pub const FORCE_SYNC_ANNOTATION: &str = "force-sync";
/// The hash of the data ESO wrote, on every target Secret it manages.
pub const DATA_HASH_ANNOTATION: &str = "reconcile.external-secrets.io/data-hash";
/// The pod template annotation `kubectl rollout restart` writes.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// An ExternalSecret's state just before the annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub synced_resource_version: Option<String>,
    pub ready_status: Option<String>,
    pub ready_message: Option<String>,
    /// The target Secret's name, for `--restart`.
    pub target: String,
    /// The `force-sync` annotation's value before, if any.
    pub force_sync: Option<String>,
    /// Ready condition and last refresh, in one line, for a timeout with nothing newer seen.
    pub seen: String,
}

impl Baseline {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What happened to one ExternalSecret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// ESO synced it after the annotation: new syncedResourceVersion and Ready=True.
    Synced,
    /// ESO tried and failed (a new UpdateFailed Event, or Ready=False with a new message).
    Failed,
    /// Nothing conclusive within `--timeout`.
    TimedOut,
    /// A resync cannot happen (CreatedOnce, refreshInterval 0, owned by a ClusterExternalSecret,
    /// store not ready): not annotated, not waited on.
    CannotResync,
    /// `--dry-run`: would be annotated.
    WouldAnnotate,
    /// Annotated, not waited on (`--no-wait`).
    Annotated,
    /// Named on the command line but not in the cluster.
    NotFound,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Synced => "synced",
            OutcomeKind::Failed => "failed",
            OutcomeKind::TimedOut => "timed out",
            OutcomeKind::CannotResync => "cannot resync",
            OutcomeKind::WouldAnnotate => "would annotate",
            OutcomeKind::Annotated => "annotated",
            OutcomeKind::NotFound => "not found",
        }
    }

    /// Whether this outcome makes the command exit 1.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            OutcomeKind::Failed
                | OutcomeKind::TimedOut
                | OutcomeKind::CannotResync
                | OutcomeKind::NotFound
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    #[serde(rename = "outcome")]
    pub kind: OutcomeKind,
    /// The event text, the reason a resync cannot happen, or what was last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `status.refreshTime` after a successful sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// What to do instead, for `cannot-resync` (annotate the parent ClusterExternalSecret, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Outcome {
    pub fn new(kind: OutcomeKind, message: Option<String>) -> Self {
        Outcome {
            kind,
            message,
            refresh_time: None,
            hint: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretResult {
    pub namespace: String,
    pub name: String,
    /// `ClusterSecretStore/NAME` or `SecretStore/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub target: String,
    /// The value written to the `force-sync` annotation (unix seconds); absent when not annotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// How `--restart` treats workloads that read the Secret through a plain volume mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    None,
    /// Only workloads that cannot see the new value without a restart.
    Needed,
    /// Every consumer, volume mounts included.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartAction {
    /// Restarted and rolled out.
    Restarted,
    /// `--dry-run`: would be restarted after a successful sync.
    WouldRestart,
    /// Reads the Secret through a volume without subPath: the kubelet refreshes the files.
    SkippedRefreshesItself,
    /// Its Secret did not sync, so a restart would bring back the old value.
    SkippedNotSynced,
    /// Restarted, but the rollout did not finish within the timeout.
    RolloutTimedOut,
    /// The restart patch was refused.
    Failed,
    /// The sync left the Secret as it was (same resourceVersion, or same data hash): a restart
    /// would change nothing (issue 13).
    SkippedUnchanged,
    /// Managed by Stakater Reloader (its annotations): Reloader restarts it when the Secret
    /// changes, and a second restart from here would roll it twice (issue 13).
    LeftToReloader,
}

impl RestartAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartAction::Restarted => "restarted",
            RestartAction::WouldRestart => "would restart",
            RestartAction::SkippedRefreshesItself => "skipped: volume refreshes itself",
            RestartAction::SkippedNotSynced => "skipped: secret not synced",
            RestartAction::RolloutTimedOut => "rollout timed out",
            RestartAction::Failed => "failed",
            RestartAction::SkippedUnchanged => "not restarted: the Secret did not change",
            RestartAction::LeftToReloader => "left to Reloader",
        }
    }

    pub fn is_problem(self) -> bool {
        matches!(self, RestartAction::RolloutTimedOut | RestartAction::Failed)
    }
}

/// A workload that consumes one or more of the synced Secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartResult {
    pub namespace: String,
    /// `deployment/NAME`, `statefulset/NAME` or `daemonset/NAME`.
    pub workload: String,
    /// The Secrets it consumes that were force-synced.
    pub secrets: Vec<String>,
    /// How it reads them: env, envFrom, volume, volume-subPath, projected, imagePullSecrets.
    pub uses: Vec<String>,
    pub action: RestartAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Issue 17: the old pods logged secret-related errors; whether the new pods still do
    /// (`verified: netbox no longer logs ...`). `None` when the old pods logged none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_check: Option<LogCheck>,
}

/// What the restarted workload's pods logged before and after (issue 17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogCheck {
    /// The new pods no longer print any of the phrases the old ones printed.
    pub verified: bool,
    /// The secret-related phrases the old pods printed (`password authentication failed`).
    pub before: Vec<String>,
    /// Those the new pods print too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForceSyncSummary {
    pub selected: usize,
    pub synced: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cannot_resync: usize,
    pub not_found: usize,
    pub restarted: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForceSyncReport {
    pub api_version: String,
    pub kind: String,
    pub dry_run: bool,
    pub wait: bool,
    pub timeout_seconds: u64,
    pub restart: RestartMode,
    pub external_secrets: Vec<ExternalSecretResult>,
    pub restarts: Vec<RestartResult>,
    pub summary: ForceSyncSummary,
}

/// A workload as `--restart` needs it: its pod template and its rollout progress, the same
/// fields for Deployments, StatefulSets and DaemonSets.
#[derive(Debug, Clone, Default)]
pub struct WorkloadState {
    pub namespace: String,
    pub kind: Option<super::refs::WorkloadKind>,
    pub name: String,
    pub pod_spec: Option<k8s_openapi::api::core::v1::PodSpec>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    /// Desired pods (`spec.replicas`, default 1; `desiredNumberScheduled` for DaemonSets).
    pub desired: i64,
    /// Pods that exist at all, old template included.
    pub current: i64,
    pub updated: i64,
    pub available: i64,
    /// The workload's Stakater Reloader annotations (`reloader.stakater.com/auto`,
    /// `secret.reloader.stakater.com/auto`, `secret.reloader.stakater.com/reload`), if any.
    pub reloader: std::collections::BTreeMap<String, String>,
    /// The workload's own labels (ESO Reloader `Config`s select workloads by them).
    pub labels: std::collections::BTreeMap<String, String>,
    /// `spec.selector.matchLabels`: which pods are the workload's.
    pub selector: std::collections::BTreeMap<String, String>,
    /// When the oldest of its pods' containers started (env is read then); `None` when unknown.
    pub oldest_pod_started: Option<jiff::Timestamp>,
}

/// What tells whether a sync changed a target Secret, read from its metadata only (no data is
/// downloaded): its resourceVersion and the data hash ESO writes on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    pub resource_version: Option<String>,
    /// `reconcile.external-secrets.io/data-hash`, a hash of the data ESO wrote.
    pub data_hash: Option<String>,
    /// The Secret's last write (the newest `managedFields` time): pods started before it run
    /// with older values even when this sync changed nothing.
    pub written_at: Option<jiff::Timestamp>,
}

impl WorkloadState {
    pub fn reference(&self) -> String {
        match self.kind {
            Some(k) => format!("{}/{}", k.as_str(), self.name),
            None => self.name.clone(),
        }
    }
}
