//! The catalogue of resource types the simulated apiserver serves: the built-in kinds, and one entry per
//! CustomResourceDefinition derived from the CRD object itself (never from hand-written tables), so
//! discovery, routing, validation and printing all read the same facts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// One served (or present-but-unserved) version of a resource type.
#[derive(Debug, Clone)]
pub struct TypeVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub schema: Option<Arc<Value>>,
    pub printer_columns: Vec<Value>,
    /// JSONPaths without the leading dot, e.g. `spec.secretStoreRef.name`.
    pub selectable_fields: Vec<String>,
    pub status_subresource: bool,
}

/// A resource type (group + plural), with everything the server needs to know about it.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub versions: Vec<TypeVersion>,
    /// Served from a CustomResourceDefinition: sorted keys, `continue: ""`, list items with kind.
    pub custom: bool,
    /// Subresources besides `status` (e.g. `token` on serviceaccounts).
    pub extra_subresources: Vec<String>,
    /// Only `create` is allowed (TokenReview, access reviews): nothing is stored.
    pub create_only: bool,
    /// events.k8s.io/v1 events are a view of the core events: (group, plural) of the real storage.
    pub storage_alias: Option<(String, String)>,
    /// Built-in field selectors beyond metadata.name / metadata.namespace.
    pub builtin_fields: Vec<&'static str>,
}

impl ResourceType {
    pub fn gr(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn version(&self, name: &str) -> Option<&TypeVersion> {
        self.versions.iter().find(|v| v.name == name)
    }

    pub fn served_version(&self, name: &str) -> Option<&TypeVersion> {
        self.version(name).filter(|v| v.served)
    }

    pub fn storage_version(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.storage)
            .or_else(|| self.versions.iter().find(|v| v.served))
            .map(|v| v.name.as_str())
            .unwrap_or("v1")
    }

    pub fn has_status(&self) -> bool {
        self.versions.iter().any(|v| v.status_subresource)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `generation` is kept for kinds with a spec/status split (all CRs, Deployments, ...).
    pub fn tracks_generation(&self) -> bool {
        self.custom || self.has_status() && self.plural != "pods" && self.plural != "namespaces"
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else if self.group.is_empty() && self.plural == "namespaces" {
            vec![
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

#[derive(Clone, Copy)]
struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    fields: &'static [&'static str],
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

const NEW_EVENT_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "deprecatedSource",
    "type",
];

const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        status,
        fields: &[],
    }
}

const BUILTINS: &[Builtin] = &[
    b("", "v1", "namespaces", "Namespace", false, &["ns"], true),
    Builtin {
        fields: &["type"],
        ..b("", "v1", "secrets", "Secret", true, &[], false)
    },
    b(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
    ),
    b("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
    Builtin {
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ..b("", "v1", "pods", "Pod", true, &["po"], true)
    },
    Builtin {
        fields: EVENT_FIELDS,
        ..b("", "v1", "events", "Event", true, &["ev"], false)
    },
    b("", "v1", "services", "Service", true, &["svc"], true),
    b(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
    ),
    b(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
    ),
    b("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], true),
    b(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
    ),
    b("batch", "v1", "jobs", "Job", true, &[], true),
    b("batch", "v1", "cronjobs", "CronJob", true, &["cj"], true),
    Builtin {
        fields: NEW_EVENT_FIELDS,
        ..b(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            false,
        )
    },
    b(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
    ),
    b(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
    b(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
    b(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        false,
        &[],
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        &[],
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
        &[],
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
        &[],
        false,
    ),
];

fn singular_of(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

fn builtin_type(bt: &Builtin) -> ResourceType {
    let create_only = matches!(bt.group, "authentication.k8s.io" | "authorization.k8s.io");
    ResourceType {
        group: bt.group.into(),
        plural: bt.plural.into(),
        singular: singular_of(bt.kind),
        kind: bt.kind.into(),
        list_kind: format!("{}List", bt.kind),
        namespaced: bt.namespaced,
        short_names: bt.short.iter().map(|s| s.to_string()).collect(),
        categories: match bt.plural {
            "pods" | "deployments" | "statefulsets" | "daemonsets" | "replicasets" | "jobs"
            | "cronjobs" | "services" => vec!["all".into()],
            "customresourcedefinitions"
            | "validatingwebhookconfigurations"
            | "mutatingwebhookconfigurations" => vec!["api-extensions".into()],
            _ => vec![],
        },
        versions: vec![TypeVersion {
            name: bt.version.into(),
            served: true,
            storage: true,
            schema: None,
            printer_columns: vec![],
            selectable_fields: vec![],
            status_subresource: bt.status,
        }],
        custom: false,
        extra_subresources: match bt.plural {
            "serviceaccounts" => vec!["token".into()],
            "pods" => vec!["log".into()],
            _ => vec![],
        },
        create_only,
        storage_alias: (bt.group == "events.k8s.io").then(|| (String::new(), "events".to_string())),
        builtin_fields: bt.fields.to_vec(),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Derive the served type from a CustomResourceDefinition object. None when the object is not a usable CRD.
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let kind = names.get("kind")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let versions = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter_map(|v| {
            Some(TypeVersion {
                name: v.get("name")?.as_str()?.to_string(),
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                selectable_fields: v
                    .get("selectableFields")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.get("jsonPath")?.as_str())
                            .map(|p| p.trim_start_matches('.').to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                status_subresource: v.pointer("/subresources/status").is_some(),
            })
        })
        .collect();
    Some(ResourceType {
        group: spec.get("group")?.as_str()?.to_string(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| singular_of(&kind)),
        list_kind: names
            .get("listKind")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}List")),
        kind,
        plural,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strs(names.get("shortNames").unwrap_or(&Value::Null)),
        categories: strs(names.get("categories").unwrap_or(&Value::Null)),
        versions,
        custom: true,
        extra_subresources: vec![],
        create_only: false,
        storage_alias: None,
        builtin_fields: vec![],
    })
}

/// All types, keyed by "group/plural".
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, Arc<ResourceType>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let mut r = Self::default();
        for bt in BUILTINS {
            r.insert(builtin_type(bt));
        }
        r
    }

    pub fn insert(&mut self, rt: ResourceType) {
        self.types.insert(rt.gr(), Arc::new(rt));
    }

    pub fn remove(&mut self, group: &str, plural: &str) {
        self.types.remove(&format!("{group}/{plural}"));
    }

    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types.get(&format!("{group}/{plural}")).cloned()
    }

    /// Lookup by apiVersion + kind, as in-process callers and object bodies name a type.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.types
            .values()
            .find(|t| {
                t.group == group
                    && t.kind == kind
                    && t.version(version).is_some()
                    && t.storage_alias.is_none()
            })
            .or_else(|| {
                self.types
                    .values()
                    .find(|t| t.group == group && t.kind == kind)
            })
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }
}

/// "apps/v1" -> ("apps", "v1"); "v1" -> ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_fields_come_from_the_crd_object() {
        let crd = serde_json::json!({"spec": {"group": "example.io", "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                          "selectableFields": [{"jsonPath": ".spec.color"}]}]}});
        let rt = from_crd(&crd).expect("valid crd");
        assert_eq!(rt.gr(), "example.io/widgets");
        assert!(!rt.namespaced);
        assert_eq!(rt.short_names, vec!["wd"]);
        assert_eq!(rt.list_kind, "WidgetList");
        assert_eq!(rt.versions[0].selectable_fields, vec!["spec.color"]);
        assert!(rt.has_status() && rt.tracks_generation());
    }

    #[test]
    fn builtins_are_registered() {
        let r = Registry::with_builtins();
        assert!(
            r.get("", "secrets")
                .is_some_and(|t| !t.has_status() && t.namespaced)
        );
        assert!(
            r.by_kind("apps/v1", "Deployment")
                .is_some_and(|t| t.tracks_generation())
        );
        assert!(r.by_kind("v1", "Event").is_some_and(|t| t.group.is_empty()));
        assert!(
            r.get("events.k8s.io", "events")
                .is_some_and(|t| t.storage_alias.is_some())
        );
    }
}
