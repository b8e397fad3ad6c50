//! The External Secrets Operator objects as the tool reads them: only the fields it uses, every
//! field defaulted, so an object from an older or newer ESO release (or a half-written one)
//! never fails to parse. The same structs serve `external-secrets.io/v1` and `v1beta1`, whose
//! shapes agree on everything read here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExternalSecret {
    pub metadata: ObjectMeta,
    pub spec: ExternalSecretSpec,
    pub status: ExternalSecretStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    pub secret_store_ref: Option<StoreRefSpec>,
    pub target: TargetSpec,
    pub refresh_interval: Option<String>,
    pub refresh_policy: Option<String>,
    pub data: Vec<DataSpec>,
    pub data_from: Vec<DataSpec>,
    /// ESO 2.7+: when periodic refreshes may run (`analysis::sync_window`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<Box<SyncWindows>>,
}

/// `spec.syncWindows`: `kind` (allow / deny) applies to every window.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct SyncWindows {
    pub kind: String,
    pub windows: Vec<SyncWindow>,
}

/// One cron `schedule` (UTC) and how long the window stays open after each firing (Go duration).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct SyncWindow {
    pub schedule: String,
    pub duration: String,
}

/// `data[]` and `dataFrom[]` entries may name their own store instead of `secretStoreRef`. The
/// remote key fields let doctor batch one probe per store from the single ExternalSecret LIST.
/// What most entries lack is boxed (issue 16: one entry per ExternalSecret of the cluster, a
/// third of the size inline).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataSpec {
    pub source_ref: Option<Box<SourceRef>>,
    /// `data[].secretKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// `data[].remoteRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ref: Option<RemoteRefSpec>,
    /// `dataFrom[].extract`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract: Option<Box<RemoteRefSpec>>,
    /// `dataFrom[].find`: no single key, kept only to know it is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub find: Option<Box<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RemoteRefSpec {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SourceRef {
    pub store_ref: Option<StoreRefSpec>,
    /// `dataFrom[].sourceRef.generatorRef` (ESO ignores it in `data[]`: deprecated, never implemented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRefSpec>,
}

/// A `generators.external-secrets.io` object an ExternalSecret takes values from.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(default, rename_all = "camelCase")]
pub struct GeneratorRefSpec {
    /// ESO's default is `generators.external-secrets.io/v1alpha1`.
    pub api_version: Option<String>,
    /// `Password`, `VaultDynamicSecret`, ..., or `ClusterGenerator`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StoreRefSpec {
    pub name: String,
    /// ESO's default when absent is SecretStore.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TargetSpec {
    /// ESO's default when absent is the ExternalSecret's own name.
    pub name: Option<String>,
    /// Owner (default), Orphan, Merge or None.
    pub creation_policy: Option<String>,
    /// `target.manifest`: ESO writes this kind (a ConfigMap, a custom resource) instead of a Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Box<ManifestSpec>>,
    /// Retain (default), Delete or Merge: what ESO does when the provider returns no data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct ManifestSpec {
    pub api_version: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    pub conditions: Vec<Condition>,
    pub refresh_time: Option<String>,
    pub synced_resource_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<String>,
}

/// SecretStore and ClusterSecretStore share this shape.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecretStore {
    pub metadata: ObjectMeta,
    pub spec: SecretStoreSpec,
    pub status: SecretStoreStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecretStoreSpec {
    /// One key per provider (`vault`, `azurekv`, ...).
    pub provider: serde_json::Map<String, serde_json::Value>,
    /// ClusterSecretStore `spec.conditions`: which namespaces may use it (raw; read by
    /// `analysis::store_conditions`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
    /// ESO PR 6710: an out-of-process provider (`ProviderClass` / `ClusterProviderClass`) named
    /// instead of an inline `provider` block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<serde_json::Value>,
    /// ESO PR 6710's design (`ProviderClass Design`, 2026-04-22): the runtime a store's provider
    /// block is handed to, `{name, kind}`; `kind` defaults to the store's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_ref: Option<serde_json::Value>,
    /// `spec.controller`: the controller class that may use the store; empty, every controller
    /// does (ESO's `ShouldProcessStore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
}

/// The out-of-process provider runtime a store names (ESO PR 6710): a namespaced `ProviderClass`
/// or a cluster-wide `ClusterProviderClass` (`external-secrets.io/v1alpha1`, `spec.address`,
/// `status.conditions[Ready]` — all the schema ESO's design shows).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProviderClassRef {
    pub kind: String,
    /// The ProviderClass's namespace; `None` for a ClusterProviderClass.
    pub namespace: Option<String>,
    pub name: String,
}

impl ProviderClassRef {
    /// `ProviderClass team-a/aws`, `ClusterProviderClass/aws`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// From a store's `kind`, namespace and `spec`: `spec.runtimeRef` (out of process even next
    /// to an inline `provider` block, which then configures the runtime; `kind` defaults to
    /// ProviderClass for a SecretStore, ClusterProviderClass for a ClusterSecretStore), else
    /// `spec.providerRef` when there is no inline block (`kind` defaults to ProviderClass). A
    /// ProviderClass lives in the store's namespace unless the reference names one.
    pub fn of_store(
        store_kind: &str,
        store_namespace: Option<&str>,
        spec: &serde_json::Value,
    ) -> Option<ProviderClassRef> {
        let inline = spec
            .get("provider")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|p| !p.is_empty());
        let (r, default_kind) = match spec.get("runtimeRef").and_then(|r| r.as_object()) {
            Some(r) => (
                r,
                if store_kind == "ClusterSecretStore" {
                    "ClusterProviderClass"
                } else {
                    "ProviderClass"
                },
            ),
            None if !inline => (
                spec.get("providerRef").and_then(|r| r.as_object())?,
                "ProviderClass",
            ),
            None => return None,
        };
        let get = |k: &str| {
            r.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let kind = get("kind").unwrap_or(default_kind).to_string();
        let namespace = match kind.as_str() {
            "ClusterProviderClass" => None,
            _ => get("namespace").or(store_namespace).map(str::to_string),
        };
        Some(ProviderClassRef {
            kind,
            namespace,
            name: get("name").unwrap_or_default().to_string(),
        })
    }
}

/// What reading a store's ProviderClass / ClusterProviderClass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderClassLookup {
    /// The API server does not serve the kind (discovery): ESO's out-of-process providers are not
    /// installed here, or under another version.
    NotServed,
    Missing,
    Found {
        address: Option<String>,
        /// The Ready condition as `True` / `False (Reason: message)`; `None` without one.
        ready: Option<String>,
    },
    /// Served, but it could not be read (RBAC, a timeout): the reason.
    Unreadable(String),
}

impl ProviderClassLookup {
    /// One line for the chain's provider link.
    pub fn describe(&self, r: &ProviderClassRef) -> String {
        let what = r.describe();
        match self {
            ProviderClassLookup::NotServed => {
                format!("{what}: the {} kind is not served here, not read", r.kind)
            }
            ProviderClassLookup::Missing => format!("{what}: not found"),
            ProviderClassLookup::Found { address, ready } => format!(
                "{what}: address {}, Ready {}",
                address.as_deref().unwrap_or("(none)"),
                ready.as_deref().unwrap_or("not reported")
            ),
            ProviderClassLookup::Unreadable(why) => format!("{what}: could not be read ({why})"),
        }
    }
}

/// One `{name, key, namespace?}` Secret key selector in a store's provider block (`secretRef`,
/// `tokenSecretRef`, `clientId`, `clientSecret`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretKeyRef {
    /// The selector's own namespace, else the store's (none for a ClusterSecretStore whose
    /// selector names none: ESO then uses the ExternalSecret's namespace).
    pub namespace: Option<String>,
    pub name: String,
    pub key: String,
}

/// One `serviceAccountRef` in a store's provider block (Vault kubernetes / jwt auth, Azure
/// workload identity, AWS jwt): the ServiceAccount ESO requests a token for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceAccountRef {
    /// The store's namespace for a SecretStore (ESO ignores the selector's); the selector's for a
    /// ClusterSecretStore, none when it names none (the ExternalSecret's namespace then).
    pub namespace: Option<String>,
    pub name: String,
    /// Where it is, from `spec.provider` (`vault.auth.kubernetes.serviceAccountRef`).
    pub field: String,
}

impl SecretStore {
    /// Every `serviceAccountRef` in the provider block, in order of appearance.
    pub fn service_account_refs(&self) -> Vec<ServiceAccountRef> {
        let mut out = Vec::new();
        let store_ns = self.metadata.namespace.as_deref();
        for (k, v) in &self.spec.provider {
            sa_selectors(v, store_ns, &format!("spec.provider.{k}"), &mut out);
        }
        out
    }

    /// The provider block's name (`vault`, `azurekv`, or one this tool does not know), or
    /// `out-of-process` for a store that names a provider through `spec.providerRef`.
    pub fn provider_name(&self) -> Option<String> {
        match self.spec.provider.keys().next() {
            Some(k) => Some(k.clone()),
            None => self
                .spec
                .provider_ref
                .as_ref()
                .map(|_| "out-of-process".to_string()),
        }
    }

    /// The out-of-process runtime this store names (ESO PR 6710), `store_kind` being
    /// `SecretStore` or `ClusterSecretStore`.
    pub fn provider_class_ref(&self, store_kind: &str) -> Option<ProviderClassRef> {
        let spec = serde_json::to_value(&self.spec).ok()?;
        ProviderClassRef::of_store(store_kind, self.metadata.namespace.as_deref(), &spec)
    }

    /// Every Secret key selector in the provider block, in order of appearance.
    pub fn secret_key_refs(&self) -> Vec<SecretKeyRef> {
        let mut out = Vec::new();
        for v in self.spec.provider.values() {
            selectors(v, self.metadata.namespace.as_deref(), &mut out);
        }
        out
    }
}

fn sa_selectors(
    v: &serde_json::Value,
    store_ns: Option<&str>,
    path: &str,
    out: &mut Vec<ServiceAccountRef>,
) {
    use serde_json::Value;
    let Value::Object(map) = v else { return };
    for (k, child) in map {
        let here = format!("{path}.{k}");
        if k == "serviceAccountRef"
            && let Some(name) = child.get("name").and_then(Value::as_str)
            && !name.is_empty()
        {
            let namespace = match store_ns {
                Some(ns) => Some(ns.to_string()),
                None => child
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            out.push(ServiceAccountRef {
                namespace,
                name: name.to_string(),
                field: here,
            });
        } else {
            sa_selectors(child, store_ns, &here, out);
        }
    }
}

fn selectors(v: &serde_json::Value, store_ns: Option<&str>, out: &mut Vec<SecretKeyRef>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(name)), Some(Value::String(key))) =
                (map.get("name"), map.get("key"))
            {
                // `caProvider` has the same shape and may point at a ConfigMap instead.
                if map.get("type").and_then(Value::as_str) == Some("ConfigMap") {
                    return;
                }
                let ns = map.get("namespace").and_then(Value::as_str).or(store_ns);
                out.push(SecretKeyRef {
                    namespace: ns.map(str::to_string),
                    name: name.clone(),
                    key: key.clone(),
                });
                return;
            }
            for child in map.values() {
                selectors(child, store_ns, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| selectors(i, store_ns, out)),
        _ => {}
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecretStoreStatus {
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterExternalSecret {
    pub metadata: ObjectMeta,
    pub spec: ClusterExternalSecretSpec,
    pub status: ClusterExternalSecretStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterExternalSecretSpec {
    /// Name of the ExternalSecrets it creates; defaults to the ClusterExternalSecret's name.
    pub external_secret_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterExternalSecretStatus {
    pub provisioned_namespaces: Vec<String>,
    pub failed_namespaces: Vec<FailedNamespace>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FailedNamespace {
    pub namespace: String,
    pub reason: Option<String>,
}

/// The `Ready` condition, which is the one ESO keeps for ExternalSecrets and stores.
pub fn ready_condition(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == "Ready")
}

impl ExternalSecret {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }

    /// The Secret ESO writes: `spec.target.name`, or the ExternalSecret's name.
    pub fn target_name(&self) -> &str {
        match self.spec.target.name.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => self.name(),
        }
    }

    /// The ClusterExternalSecret that owns it (and rewrites its spec), if one does.
    pub fn owner_cluster_external_secret(&self) -> Option<&str> {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ClusterExternalSecret")
            .map(|o| o.name.as_str())
    }

    /// The generators its `dataFrom[]` entries name, in order, without repeats.
    pub fn generator_refs(&self) -> Vec<&GeneratorRefSpec> {
        let mut out: Vec<&GeneratorRefSpec> = Vec::new();
        for g in self
            .spec
            .data_from
            .iter()
            .filter_map(|d| d.source_ref.as_ref()?.generator_ref.as_ref())
        {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// Every entry takes its values from a generator: no store is needed, and none named is valid.
    pub fn generators_only(&self) -> bool {
        self.spec.data.is_empty()
            && !self.spec.data_from.is_empty()
            && self.spec.data_from.iter().all(|d| {
                d.source_ref
                    .as_ref()
                    .is_some_and(|s| s.generator_ref.is_some())
            })
    }

    /// The kind ESO writes: `Secret`, or `target.manifest.kind` (`ConfigMap`, a custom resource).
    pub fn target_kind(&self) -> &str {
        match &self.spec.target.manifest {
            Some(m) if !m.kind.is_empty() => m.kind.as_str(),
            _ => "Secret",
        }
    }

    /// The store one entry reads from, by its source (`data[1]`, `dataFrom[0]`): its own
    /// `sourceRef.storeRef`, else `secretStoreRef` (issue 14). `None` for a generator's entry and
    /// when no store is named.
    pub fn store_for_entry(&self, source: &str) -> Option<&StoreRefSpec> {
        let (list, i) = if let Some(i) = source.strip_prefix("dataFrom[") {
            (&self.spec.data_from, i)
        } else {
            (&self.spec.data, source.strip_prefix("data[")?)
        };
        let entry = list.get(i.strip_suffix(']')?.parse::<usize>().ok()?)?;
        let own = entry.source_ref.as_ref();
        if own.is_some_and(|s| s.generator_ref.is_some() && s.store_ref.is_none()) {
            return None;
        }
        own.and_then(|s| s.store_ref.as_ref())
            .filter(|r| !r.name.is_empty())
            .or_else(|| {
                self.spec
                    .secret_store_ref
                    .as_ref()
                    .filter(|r| !r.name.is_empty())
            })
    }

    /// The store it reads from: `secretStoreRef`, else the first per-entry `sourceRef.storeRef`.
    pub fn store_ref(&self) -> Option<&StoreRefSpec> {
        self.spec
            .secret_store_ref
            .as_ref()
            .filter(|r| !r.name.is_empty())
            .or_else(|| {
                self.spec
                    .data
                    .iter()
                    .chain(&self.spec.data_from)
                    .filter_map(|d| d.source_ref.as_ref()?.store_ref.as_ref())
                    .find(|r| !r.name.is_empty())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_missing_fields_do_not_fail() {
        let es: ExternalSecret = match serde_json::from_value(json!({
            "metadata": {"name": "x", "namespace": "prod"},
            "spec": {"somethingNew": 1, "target": {}},
        })) {
            Ok(es) => es,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(es.target_name(), "x");
        assert!(es.store_ref().is_none());
        assert!(ready_condition(&es.status.conditions).is_none());
    }

    #[test]
    fn store_ref_falls_back_to_source_ref() {
        let es: ExternalSecret = match serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"dataFrom": [{"sourceRef": {"storeRef": {"name": "vault", "kind": "ClusterSecretStore"}}}]},
        })) {
            Ok(es) => es,
            Err(e) => panic!("{e}"),
        };
        let r = es.store_ref().map(|r| (r.name.as_str(), r.kind.as_deref()));
        assert_eq!(r, Some(("vault", Some("ClusterSecretStore"))));
    }

    /// Issue 14: each entry reads from its own storeRef, else from secretStoreRef.
    #[test]
    fn issue14_store_for_entry_follows_source_refs() {
        let es: ExternalSecret = match serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {
                "secretStoreRef": {"name": "vault"},
                "data": [
                    {"secretKey": "a", "remoteRef": {"key": "a"}},
                    {"secretKey": "b", "remoteRef": {"key": "b"},
                     "sourceRef": {"storeRef": {"name": "akv", "kind": "ClusterSecretStore"}}},
                ],
                "dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}],
            },
        })) {
            Ok(es) => es,
            Err(e) => panic!("{e}"),
        };
        let name = |s: &str| es.store_for_entry(s).map(|r| r.name.clone());
        assert_eq!(name("data[0]").as_deref(), Some("vault"));
        assert_eq!(name("data[1]").as_deref(), Some("akv"));
        assert_eq!(name("dataFrom[0]"), None);
        assert_eq!(name("data[7]"), None);
        assert_eq!(name("nonsense"), None);
    }

    /// Issue 14: an ExternalSecret made only of generatorRefs needs no store.
    #[test]
    fn issue14_generator_only_external_secret() {
        let es: ExternalSecret = match serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"target": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}},
                     "dataFrom": [
                {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}},
                {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}},
            ]},
        })) {
            Ok(es) => es,
            Err(e) => panic!("{e}"),
        };
        assert!(es.generators_only());
        assert!(es.store_ref().is_none());
        assert_eq!(es.generator_refs().len(), 1);
        assert_eq!(es.target_kind(), "ConfigMap");
        let mixed: ExternalSecret = match serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}},
                                  {"extract": {"key": "k"}}]},
        })) {
            Ok(es) => es,
            Err(e) => panic!("{e}"),
        };
        assert!(!mixed.generators_only());
        assert_eq!(mixed.target_kind(), "Secret");
    }
}
