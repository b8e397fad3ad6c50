//! ESO's own reloader (external-secrets-inc/reloader): its cluster-scoped `Config`
//! (`configs.reloader.external-secrets.io`, v1alpha1) reduced to what decides whether it
//! restarts a workload when a Kubernetes Secret changes. Read from its Go types
//! (`api/v1alpha1/reloader_types.go`): `spec.notificationSources[].type` and
//! `spec.destinationsToWatch[]` (`type`, and for `deployment` its `namespaceSelectors`,
//! `labelSelectors` and `names`). Nothing else of the Config is kept.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The Configs of the cluster, or why they were not read.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum EsoReloaderConfigs {
    /// Not looked at, or the LIST was refused or failed (the cause): no workload counts as
    /// covered.
    #[default]
    NotChecked,
    Unreadable(String),
    /// The LIST answered; empty also when the CRD is not installed (404).
    Listed(Vec<EsoReloaderConfig>),
}

/// One `Config`, as plain facts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EsoReloaderConfig {
    pub name: String,
    /// `spec.notificationSources[].type` (`KubernetesSecret`, `AwsSqs`, `Webhook`...).
    pub source_types: Vec<String>,
    pub destinations: Vec<EsoReloaderDestination>,
}

/// One `spec.destinationsToWatch[]` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EsoReloaderDestination {
    /// `type` (`deployment`, `externalsecret`, `secret`, `certificate`, `generic`).
    pub type_: String,
    /// The selectors of the block named after the type (`deployment:`); `None` when the block
    /// is absent.
    pub selectors: Option<EsoReloaderSelectors>,
}

/// `namespaceSelectors` (any one must match the namespace's labels), `labelSelectors` (must
/// match the resource's labels) and `names` (the resource's name must be one of them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EsoReloaderSelectors {
    pub namespace_selectors: Vec<LabelSelector>,
    pub label_selector: Option<LabelSelector>,
    pub names: Vec<String>,
}
