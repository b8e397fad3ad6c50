//! What `doctor` gathers beyond scope's snapshot (the ESO installation itself) and the one report
//! type its table, JSON, YAML and JUnit writers all print: a checklist of checks, each with a
//! status and findings that name the object and the next step. The serialized shape is documented
//! in the README and versioned by `apiVersion`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scope::{Degraded, Fetched};

pub const DOCTOR_REPORT_KIND: &str = "DoctorReport";

/// A check's outcome, or a finding's severity (findings are only `warning` or `error`). Ordered
/// from best to worst so the worst finding decides a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// The check did not run (`--no-probe`, or what it needs could not be read).
    Skipped,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }
}

/// The checks of issue 8, in the order a person works through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    Installation,
    Stores,
    Providers,
    ExternalSecrets,
    Leftovers,
    Regcreds,
    PushSecrets,
    /// ESO's own logs (issue 17).
    Logs,
}

impl CheckId {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Installation => "installation",
            CheckId::Stores => "stores",
            CheckId::Providers => "providers",
            CheckId::ExternalSecrets => "external-secrets",
            CheckId::Leftovers => "leftovers",
            CheckId::Regcreds => "regcreds",
            CheckId::PushSecrets => "push-secrets",
            CheckId::Logs => "logs",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CheckId::Installation => "ESO installation",
            CheckId::Stores => "Stores",
            CheckId::Providers => "Providers",
            CheckId::ExternalSecrets => "ExternalSecrets",
            CheckId::Leftovers => "Leftovers",
            CheckId::Regcreds => "Registry credentials",
            CheckId::PushSecrets => "PushSecrets",
            CheckId::Logs => "ESO logs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub api_version: String,
    pub kind: String,
    pub eso_api_version: String,
    /// The ESO version the controller's image tag names (`v2.9.0`), when one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eso_version: Option<String>,
    pub scope: DoctorScope,
    /// Every finding of every check, root causes first, each with the findings it explains
    /// under it as `effects` (issue 12). The checks below list the same findings by check.
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
    pub totals: Totals,
    pub degraded: Vec<Degraded>,
    /// Checks that were asked for but could not run, wholly or in part (RBAC, unreachable,
    /// not vouched for): doctor fails on them unless `--allow-partial`.
    pub incomplete: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorScope {
    /// `None` when all namespaces were looked at.
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub probe: bool,
    /// `--stale-after` as given, e.g. `2h`.
    pub stale_after: String,
    /// `--fail-on`: `error` or `warning`.
    pub fail_on: Status,
    /// `--allow-partial`: checks that could not run do not fail the run.
    pub allow_partial: bool,
    /// `--cached` (issue 16): read from the API server's watch cache (`resourceVersion=0`), so
    /// possibly a few seconds stale. Absent when read as usual (consistent LISTs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub id: CheckId,
    pub title: String,
    pub status: Status,
    /// How many objects the check looked at.
    pub checked: usize,
    /// Why the check was skipped, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    pub findings: Vec<Finding>,
}

pub use super::finding::Finding;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub checks: usize,
    pub ok: usize,
    pub skipped: usize,
    pub warning: usize,
    pub error: usize,
    pub warning_findings: usize,
    pub error_findings: usize,
}

/// The ESO installation as read from the cluster: one GET /apis, one LIST each of the ESO CRDs,
/// of Deployments by the Helm chart's labels, and of ValidatingWebhookConfigurations.
#[derive(Debug, Clone)]
pub struct InstallSnapshot {
    /// Versions of `external-secrets.io` the API server serves (discovery).
    pub served_versions: Vec<String>,
    pub crds: Fetched<Vec<CrdFacts>>,
    pub deployments: Fetched<Vec<DeploymentFacts>>,
    pub webhook_configurations: Fetched<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdFacts {
    /// e.g. `externalsecrets.external-secrets.io`.
    pub name: String,
    pub served: Vec<String>,
    /// `status.storedVersions`: a version listed here may still be how objects sit in etcd.
    pub stored: Vec<String>,
    /// The release the CRD was installed from, when its labels say (`app.kubernetes.io/version`,
    /// else the version in `helm.sh/chart: external-secrets-X.Y.Z`), as written.
    pub release_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    pub namespace: String,
    pub name: String,
    /// The `app.kubernetes.io/name` label.
    pub component: String,
    pub desired: i32,
    pub ready: i32,
    /// The first container's image (`…/external-secrets:v2.9.0`): its tag is the ESO version.
    pub image: Option<String>,
    /// What the controller reconciles, from its first container's flags: `--controller-class`
    /// (`None`: ESO's `default`) and `--namespace` (`None`: every namespace).
    pub scope: ControllerScope,
    /// The Helm release that installed it (`meta.helm.sh/release-name`), when Helm did: the
    /// release name `helm upgrade` needs, which is not always the chart's default.
    pub helm_release: Option<String>,
}

/// A controller's `--controller-class` and `--namespace` flags, as ESO's `cmd/controller/root.go`
/// declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerScope {
    pub class: Option<String>,
    pub namespace: Option<String>,
}

impl ControllerScope {
    /// Reads `--controller-class` and `--namespace` in either of the forms cobra accepts
    /// (`--flag=value`, `--flag value`); an empty value is the flag's default.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> ControllerScope {
        let mut scope = ControllerScope::default();
        let mut it = args.iter().map(AsRef::as_ref).peekable();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (arg, None),
            };
            let slot = match flag {
                "--controller-class" => &mut scope.class,
                "--namespace" => &mut scope.namespace,
                _ => continue,
            };
            let value = match inline {
                Some(v) => Some(v),
                None => it.next_if(|v| !v.starts_with('-')),
            };
            *slot = value.filter(|v| !v.is_empty()).map(str::to_string);
        }
        if scope.class.as_deref() == Some("default") {
            scope.class = None;
        }
        scope
    }

    /// The class as ESO names it.
    pub fn class_name(&self) -> &str {
        self.class.as_deref().unwrap_or("default")
    }

    /// Do two controllers watch at least one namespace in common?
    pub fn namespaces_overlap(&self, other: &ControllerScope) -> bool {
        match (&self.namespace, &other.namespace) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

/// What doctor reads beyond scope's snapshot and the installation, one field per check that
/// needs it; `None` where the check was not asked for.
#[derive(Debug, Clone, Default)]
pub struct DoctorExtras {
    /// Check 3: one batched probe per store; `None` with `--no-probe`.
    pub probes: Option<Vec<StoreProbe>>,
    /// Check 6: `None` without `--regcred`.
    pub regcreds: Option<Vec<RegcredResult>>,
    /// Check 2: what the stores' conditions and credential references point at.
    pub stores: StoreExtras,
    /// Check 4: what the target Secrets' consumers and values say.
    pub targets: TargetExtras,
    /// Issue 14: the PushSecrets in scope and what their stores say about writing; `None` when
    /// not read, `Err` when they could not be listed.
    pub push: Option<Result<crate::model::push::PushSnapshot, String>>,
    /// Check 7: the recent, redacted lines of ESO's pods; `None` where the command does not read them.
    pub eso_logs: Option<Fetched<Vec<crate::model::logs::PodLog>>>,
}

/// Check 2's reads beyond scope's snapshot.
#[derive(Debug, Clone, Default)]
pub struct StoreExtras {
    /// The labels of every namespace, by name, from one metadata LIST of namespaces, for
    /// ClusterSecretStore `spec.conditions`; `None` when no store in use has conditions.
    pub namespace_labels: Option<Fetched<BTreeMap<String, BTreeMap<String, String>>>>,
    /// The key names of each credentials Secret a store references, by (namespace, name):
    /// `Ok(None)` when it does not exist. Read with one GET each; values are never kept.
    pub credential_keys: CredentialKeys,
    /// Issue 14: what reading each out-of-process store's ProviderClass / ClusterProviderClass
    /// found, by reference.
    pub provider_classes:
        BTreeMap<crate::model::eso::ProviderClassRef, crate::model::eso::ProviderClassLookup>,
    /// Whether each ServiceAccount a store's auth names exists, by (namespace, name), one GET
    /// each (issue 12).
    pub service_accounts: BTreeMap<(String, String), Fetched<bool>>,
}

/// Key names of credentials Secrets by (namespace, name); `Ok(None)`: the Secret does not exist.
pub type CredentialKeys = BTreeMap<(String, String), Fetched<Option<Vec<String>>>>;

/// Check 4's reads beyond scope's snapshot.
#[derive(Debug, Clone, Default)]
pub struct TargetExtras {
    /// The running pods in scope that read an ExternalSecret's target Secret at start (env,
    /// envFrom, subPath mounts), from one LIST of pods; `None` when there was nothing to look for.
    pub pods: Option<Fetched<Vec<PodFacts>>>,
    /// Target Secrets whose data could not be read (the whole LIST, or single Merge targets), so
    /// they were not compared.
    pub values_unread: Vec<Degraded>,
    /// The pods in scope, in any phase, that name a target Secret in `imagePullSecrets` or an
    /// `env[].valueFrom.secretKeyRef`, from the same LIST as `pods` (issue 12).
    pub pod_refs: Vec<PodRefs>,
    /// Key names and pull-secret hosts of the target Secrets whose data was read, by
    /// (namespace, name); empty when their data was not read. Never a value.
    pub secrets: BTreeMap<(String, String), TargetSecretFacts>,
    /// ESO Reloader `Config`s (external-secrets-inc/reloader); `NotChecked` when not read.
    pub eso_reloader: crate::model::eso_reloader::EsoReloaderConfigs,
    /// Labels of the pods' namespaces, read only when a Config selects namespaces.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// What the pull-secret and consumer-key rules may know of a target Secret: its type, its key
/// names and, for a pull secret, its `auths` keys as the kubelet indexes them (host[:port] and
/// path; scheme and `user:password@` dropped). Built where the data is held; never a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSecretFacts {
    pub type_: Option<String>,
    pub keys: Vec<String>,
    /// `None` when the Secret is not a pull secret or its payload cannot be parsed.
    pub auths_keys: Option<Vec<String>>,
}

/// One pod (any phase) reduced to its references to target Secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodRefs {
    pub namespace: String,
    pub name: String,
    /// The controlling workload, kubectl style (`deployment/order-service`).
    pub workload: Option<String>,
    /// Every `imagePullSecrets` name (targets or not: the kubelet uses them all).
    pub pull_secrets: Vec<String>,
    pub containers: Vec<ContainerRefs>,
}

/// One container (init containers included): its image, why it waits, and the secret keys it
/// reads through `env[].valueFrom.secretKeyRef` (non-optional ones only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerRefs {
    pub name: String,
    pub image: String,
    /// `state.waiting.reason` (`ImagePullBackOff`, `CreateContainerConfigError`...).
    pub waiting: Option<String>,
    /// (Secret name, key) pairs.
    pub key_refs: Vec<(String, String)>,
}

/// One running pod, reduced to what "started before its Secret last changed" needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    /// The controlling workload's Reloader annotations (`*reloader.stakater.com/*`), read with
    /// one GET of the workload's metadata; empty when it has none or could not be read.
    pub reloader: BTreeMap<String, String>,
    /// The controlling workload's labels, from the same GET (ESO Reloader `Config`s select
    /// workloads by them); empty when it has none or could not be read.
    pub workload_labels: BTreeMap<String, String>,
    /// The controlling workload, kubectl style (`deployment/order-service`), when there is one.
    pub workload: Option<String>,
    /// When its running containers started (the earliest): when they read their environment.
    pub started: jiff::Timestamp,
    /// The Secrets it read at start.
    pub reads_at_start: Vec<String>,
}

/// One store's live probe, batched as issue 8 asks: one login and one capabilities call for the
/// store, covering the distinct remote keys of every ExternalSecret that uses it.
#[derive(Debug, Clone)]
pub struct StoreProbe {
    pub store: super::refs::StoreRef,
    /// The provider block's name: `vault`, `azurekv`, ….
    pub provider_kind: String,
    /// The store's provider settings as describe-chain shows them (server, path, version,
    /// mountPath, role, …; never a credential).
    pub settings: BTreeMap<String, String>,
    /// ESO's kubernetes provider: the cluster the store reads (where its commands run).
    pub kube_cluster: Option<super::chain::KubeCluster>,
    /// As describe-chain's probe reports it; `keys` holds each distinct remote key once.
    pub provider: super::chain::ProviderFacts,
    pub users: Vec<KeyUser>,
    /// The target Secrets of the store's ExternalSecrets compared with the provider's values;
    /// only those that could be compared.
    pub targets: Vec<TargetValues>,
}

/// One ExternalSecret's target Secret compared in memory, key by key, with the value ESO would
/// write there now. Only key names leave the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetValues {
    /// The ExternalSecret's namespace and name.
    pub namespace: String,
    pub name: String,
    /// Target keys whose value is not the provider's current one (or that are missing); empty
    /// when every compared key matches.
    pub differs: Vec<String>,
}

/// One ExternalSecret's use of one remote key of a probed store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUser {
    pub namespace: String,
    pub name: String,
    /// The remote key, as in `KeyFacts::key`.
    pub key: String,
    /// The `remoteRef.version`s it asks of that key (`None`: the current one), to tell which
    /// of an AWS key's versions concerns it (`KeyFacts::version`).
    pub versions: Vec<Option<String>>,
    /// `remoteRef.property` values the ExternalSecret asks of this key that the remote secret
    /// does not have (ESO fails the sync on each).
    pub missing_properties: Vec<String>,
}

/// One `kubernetes.io/dockerconfigjson` Secret written by an ExternalSecret, checked with
/// verify-regcred's login (no image pulls). Holds outcomes only, never the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegcredResult {
    pub namespace: String,
    pub secret: String,
    pub external_secret: String,
    /// Why the payload could not be read at all.
    pub payload_error: Option<String>,
    pub registries: Vec<RegistryLogin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    pub host: String,
    /// verify-regcred's outcome word: `ok`, `unauthorized`, `unreachable`, ...
    pub outcome: String,
    /// Logged in, or the entry cannot be tried on its own (a wildcard host).
    pub ok: bool,
    pub message: String,
}
