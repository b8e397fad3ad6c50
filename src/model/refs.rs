//! References the user types and the report prints: a store (`ClusterSecretStore/akv-hybridops`)
//! and a workload (`deployment/order-service`). Parsing lives here so the CLI, the analysis and
//! later subcommands agree on one spelling.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StoreKind {
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    /// ESO's reading of `secretStoreRef.kind`: absent or empty means SecretStore.
    pub fn from_spec(kind: Option<&str>) -> Option<Self> {
        match kind.unwrap_or("SecretStore") {
            "" | "SecretStore" => Some(StoreKind::SecretStore),
            "ClusterSecretStore" => Some(StoreKind::ClusterSecretStore),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// A store as an ExternalSecret sees it. `namespace` is set for SecretStores (they live in the
/// ExternalSecret's namespace) and absent for ClusterSecretStores.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRef {
    pub kind: StoreKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for StoreRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind.as_str(), ns, self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

impl StoreRef {
    /// Short form for table cells: `SecretStore/vault`, `ClusterSecretStore/akv-hybridops`.
    pub fn short(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

/// `--store KIND/NAME`: which store the user wants to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFilter {
    pub kind: StoreKind,
    pub name: String,
}

impl StoreFilter {
    pub fn parse(input: &str) -> Result<Self, String> {
        let (kind, name) = input.split_once('/').ok_or_else(|| {
            format!("--store {input:?}: expected KIND/NAME, e.g. ClusterSecretStore/akv-hybridops")
        })?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "secretstore" | "secretstores" | "ss" => StoreKind::SecretStore,
            "clustersecretstore" | "clustersecretstores" | "css" => StoreKind::ClusterSecretStore,
            _ => {
                return Err(format!(
                    "--store {input:?}: kind must be SecretStore or ClusterSecretStore"
                ));
            }
        };
        if name.is_empty() || name.contains('/') {
            return Err(format!("--store {input:?}: expected KIND/NAME"));
        }
        Ok(StoreFilter {
            kind,
            name: name.to_string(),
        })
    }

    pub fn matches(&self, store: &StoreRef) -> bool {
        store.kind == self.kind && store.name == self.name
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Pod,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::Pod => "pod",
        }
    }
}

/// `deployment/NAME`, `statefulset/NAME`, `daemonset/NAME`, `pod/NAME`, with kubectl's aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

impl WorkloadRef {
    pub fn parse(input: &str) -> Result<Self, String> {
        let (kind, name) = input.split_once('/').ok_or_else(|| {
            format!("workload {input:?}: expected KIND/NAME, e.g. deployment/order-service")
        })?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" | "deployment.apps" => WorkloadKind::Deployment,
            "statefulset" | "statefulsets" | "sts" | "statefulset.apps" => {
                WorkloadKind::StatefulSet
            }
            "daemonset" | "daemonsets" | "ds" | "daemonset.apps" => WorkloadKind::DaemonSet,
            "pod" | "pods" | "po" => WorkloadKind::Pod,
            _ => {
                return Err(format!(
                    "workload {input:?}: kind must be deployment, statefulset, daemonset or pod"
                ));
            }
        };
        if name.is_empty() || name.contains('/') {
            return Err(format!("workload {input:?}: expected KIND/NAME"));
        }
        Ok(WorkloadRef {
            kind,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_filter_accepts_kinds_and_short_names() {
        assert_eq!(
            StoreFilter::parse("css/akv-hybridops"),
            Ok(StoreFilter {
                kind: StoreKind::ClusterSecretStore,
                name: "akv-hybridops".into()
            })
        );
        assert_eq!(
            StoreFilter::parse("SecretStore/vault").map(|f| f.kind),
            Ok(StoreKind::SecretStore)
        );
    }

    #[test]
    fn store_filter_rejects_bad_input_with_a_message() {
        for bad in ["vault", "Vault/x", "css/", "css/a/b"] {
            let err = StoreFilter::parse(bad).err().unwrap_or_default();
            assert!(err.starts_with("--store"), "{bad}: {err}");
        }
    }

    #[test]
    fn workload_ref_understands_kubectl_aliases() {
        let w = WorkloadRef::parse("deploy/order-service");
        assert_eq!(
            w,
            Ok(WorkloadRef {
                kind: WorkloadKind::Deployment,
                name: "order-service".into()
            })
        );
        assert_eq!(
            WorkloadRef::parse("sts/db").map(|w| w.kind),
            Ok(WorkloadKind::StatefulSet)
        );
        assert!(WorkloadRef::parse("job/x").is_err());
        assert!(WorkloadRef::parse("order-service").is_err());
    }

    #[test]
    fn store_kind_defaults_like_eso() {
        assert_eq!(StoreKind::from_spec(None), Some(StoreKind::SecretStore));
        assert_eq!(
            StoreKind::from_spec(Some("ClusterSecretStore")),
            Some(StoreKind::ClusterSecretStore)
        );
        assert_eq!(StoreKind::from_spec(Some("GlobalSecretStore")), None);
    }
}
