//! Who manages an object (issue 17, "who changed what, and where to fix it"): from GitOps labels and
//! annotations (Argo CD, Flux Kustomization / HelmRelease, Helm) and the `managedFields` managers,
//! name the tool that applies it and when each manager last wrote it, so a next step says "fix it
//! in Git: applied by Argo CD application shop" instead of `kubectl edit` on an object a controller
//! will revert. Pure: it reads an object's metadata as JSON.

use serde::Serialize;
use serde_json::Value;

/// The tool that applies an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", rename_all = "camelCase")]
pub enum Manager {
    ArgoCd {
        application: String,
    },
    FluxKustomization {
        name: String,
        namespace: Option<String>,
    },
    FluxHelmRelease {
        name: String,
        namespace: Option<String>,
    },
    Helm {
        release: Option<String>,
    },
    /// A person (or script) with kubectl: `kubectl-client-side-apply`, `kubectl-edit`, ...
    Kubectl {
        manager: String,
    },
}

/// One `managedFields` entry: who wrote, how, when (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Write {
    pub manager: String,
    pub operation: String,
    pub time: Option<String>,
}

/// Who manages an object and who wrote it last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Management {
    pub manager: Option<Manager>,
    /// Newest first.
    pub writes: Vec<Write>,
}

fn s<'a>(meta: &'a Value, pointer: &str) -> Option<&'a str> {
    meta.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

fn esc(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn label<'a>(meta: &'a Value, key: &str) -> Option<&'a str> {
    s(meta, &format!("/labels/{}", esc(key)))
}

fn annotation<'a>(meta: &'a Value, key: &str) -> Option<&'a str> {
    s(meta, &format!("/annotations/{}", esc(key)))
}

/// `metadata` of any object.
pub fn management(meta: &Value) -> Management {
    let mut writes: Vec<Write> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(Write {
                manager: e.get("manager")?.as_str()?.to_string(),
                operation: e
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect();
    // RFC 3339 in UTC sorts as text; entries without a time go last.
    writes.sort_by(|a, b| b.time.cmp(&a.time));
    Management {
        manager: manager(meta, &writes),
        writes,
    }
}

fn manager(meta: &Value, writes: &[Write]) -> Option<Manager> {
    if let Some(app) = label(meta, "argocd.argoproj.io/instance").or_else(|| {
        annotation(meta, "argocd.argoproj.io/tracking-id")
            .and_then(|t| t.split(':').next())
            .filter(|a| !a.is_empty())
    }) {
        return Some(Manager::ArgoCd {
            application: app.to_string(),
        });
    }
    if let Some(name) = label(meta, "kustomize.toolkit.fluxcd.io/name") {
        return Some(Manager::FluxKustomization {
            name: name.to_string(),
            namespace: label(meta, "kustomize.toolkit.fluxcd.io/namespace").map(str::to_string),
        });
    }
    if let Some(name) = label(meta, "helm.toolkit.fluxcd.io/name") {
        return Some(Manager::FluxHelmRelease {
            name: name.to_string(),
            namespace: label(meta, "helm.toolkit.fluxcd.io/namespace").map(str::to_string),
        });
    }
    if label(meta, "app.kubernetes.io/managed-by") == Some("Helm") {
        return Some(Manager::Helm {
            release: annotation(meta, "meta.helm.sh/release-name").map(str::to_string),
        });
    }
    // No label: the managers of its fields say who applies it.
    for w in writes {
        let m = w.manager.as_str();
        if m == "argocd-controller" || m == "argocd-application-controller" {
            return Some(Manager::ArgoCd {
                application: "unknown".into(),
            });
        }
        if m == "kustomize-controller" {
            return Some(Manager::FluxKustomization {
                name: "unknown".into(),
                namespace: None,
            });
        }
        if m == "helm-controller" {
            return Some(Manager::FluxHelmRelease {
                name: "unknown".into(),
                namespace: None,
            });
        }
        if m == "helm" {
            return Some(Manager::Helm { release: None });
        }
        // `kubectl-eso` is this tool (force-sync's annotation), not a person's edit.
        if m == "kubectl" || (m.starts_with("kubectl-") && m != "kubectl-eso") {
            return Some(Manager::Kubectl {
                manager: m.to_string(),
            });
        }
    }
    None
}

impl Manager {
    /// Whether a hand edit would be reverted by a controller.
    pub fn reverts_hand_edits(&self) -> bool {
        matches!(
            self,
            Manager::ArgoCd { .. }
                | Manager::FluxKustomization { .. }
                | Manager::FluxHelmRelease { .. }
        )
    }

    /// "applied by Argo CD application shop".
    pub fn describe(&self) -> String {
        let ns = |n: &Option<String>| n.as_ref().map(|n| format!(" in {n}")).unwrap_or_default();
        match self {
            Manager::ArgoCd { application } => {
                format!("applied by Argo CD application {application}")
            }
            Manager::FluxKustomization { name, namespace } => {
                format!("applied by Flux Kustomization {name}{}", ns(namespace))
            }
            Manager::FluxHelmRelease { name, namespace } => {
                format!("applied by Flux HelmRelease {name}{}", ns(namespace))
            }
            Manager::Helm { release: Some(r) } => format!("installed by Helm release {r}"),
            Manager::Helm { release: None } => "installed by Helm".into(),
            Manager::Kubectl { manager } => format!("last applied by hand ({manager})"),
        }
    }
}

/// The next step for a wrong `field` of `object` (kubectl style: `externalsecret/x -n ns`): in Git
/// when a GitOps tool applies it, in the chart's values for Helm, else the kubectl edit.
pub fn fix_step(management: &Management, field: &str, object: &str) -> String {
    match &management.manager {
        Some(m) if m.reverts_hand_edits() => {
            format!("fix {field} in Git: this object is {}", m.describe())
        }
        Some(m @ Manager::Helm { .. }) => format!(
            "fix {field} in the chart's values and upgrade: this object is {}",
            m.describe()
        ),
        _ => format!("kubectl edit {object}   # {field}"),
    }
}

/// For each finding whose object a GitOps tool or Helm manages, the first next step says where
/// to fix it, `kubectl edit` / `kubectl patch` steps on that object are dropped (the tool would
/// revert them), and the evidence says who manages it and who wrote it last. `meta_of` gives the
/// metadata of a finding's object (`ExternalSecret ns/name`, `ClusterSecretStore name`), if read.
pub fn steer(
    findings: &mut [crate::model::finding::Finding],
    meta_of: &dyn Fn(&str) -> Option<Value>,
) {
    for f in findings.iter_mut() {
        steer(&mut f.effects, meta_of);
        let Some(meta) = meta_of(&f.object) else {
            continue;
        };
        let m = management(&meta);
        let Some(manager) = &m.manager else { continue };
        if let Some(w) = m.writes.first() {
            let fact = format!(
                "managed: {}; last written by {}{}",
                manager.describe(),
                w.manager,
                w.time
                    .as_ref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default()
            );
            if !f.evidence.contains(&fact) {
                f.evidence.push(fact);
            }
        }
        if !(manager.reverts_hand_edits() || matches!(manager, Manager::Helm { .. })) {
            continue;
        }
        let field = f.field.clone().unwrap_or_else(|| "the spec".into());
        let name = f
            .object
            .rsplit(['/', ' '])
            .next()
            .unwrap_or_default()
            .to_string();
        f.next.retain(|n| {
            !((n.contains("kubectl edit") || n.contains("kubectl patch")) && n.contains(&name))
        });
        let step = fix_step(&m, &field, &f.object);
        if !f.next.contains(&step) {
            f.next.insert(0, step);
        }
    }
}

/// The link walk's own next steps say "fix FIELD of NAME in Git" without knowing who applies the
/// object. Where `steer` gave `root` (the same facts' root finding) a step naming the manager
/// ("fix F in Git: this object is applied by Argo CD application shop"), that step replaces the
/// walk's generic one for the same field of the same object; other steps are left alone.
pub fn steer_walk_steps(next: &mut [String], root: &crate::model::finding::Finding) {
    let Some(step) = root
        .next
        .first()
        .filter(|n| n.contains(": this object is "))
    else {
        return;
    };
    let field = root.field.as_deref().unwrap_or_default();
    let name = root.object.rsplit(['/', ' ']).next().unwrap_or_default();
    let tail = format!("of {name} in Git");
    for n in next.iter_mut() {
        let generic = n
            .strip_prefix("fix ")
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(f, rest)| !f.is_empty() && field.starts_with(f) && rest == tail);
        if generic {
            n.clone_from(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue17_the_walks_git_step_names_the_manager_for_the_same_field_only() {
        use crate::model::doctor::Status;
        use crate::model::finding::Finding;
        let mut root = Finding::new(
            "store-missing",
            Status::Error,
            "ExternalSecret payments/ledger-db".into(),
            "missing".into(),
            "fix spec.secretStoreRef.name in Git: this object is applied by Argo CD application \
             payments"
                .into(),
        );
        root.field = Some("spec.secretStoreRef.name".into());
        let walk = || {
            vec![
                "kubectl get secretstores -n payments".to_string(),
                "fix spec.secretStoreRef of ledger-db in Git".to_string(),
                "fix remoteRef.key of ledger-db in Git".to_string(),
                "fix spec.secretStoreRef of other-db in Git".to_string(),
            ]
        };
        let mut next = walk();
        steer_walk_steps(&mut next, &root);
        assert_eq!(next[1], root.next[0]);
        // Another field, another object, another kind of step: unchanged.
        assert_eq!(next[0], walk()[0]);
        assert_eq!(next[2], walk()[2]);
        assert_eq!(next[3], walk()[3]);
        // Near miss: a root step that names no manager changes nothing.
        root.next = vec!["kubectl edit externalsecret/ledger-db -n payments".into()];
        let mut next = walk();
        steer_walk_steps(&mut next, &root);
        assert_eq!(next, walk());
    }

    #[test]
    fn issue17_steer_replaces_kubectl_edit_on_an_argo_managed_external_secret() {
        use crate::model::doctor::Status;
        use crate::model::finding::Finding;
        let mut findings = vec![
            Finding::new(
                "store-name-typo",
                Status::Error,
                "ExternalSecret shop/cart-db".into(),
                "no store".into(),
                "kubectl edit externalsecret cart-db -n shop".into(),
            )
            .field("spec.secretStoreRef.name")
            .then("kubectl eso scope -n shop".into()),
            Finding::new(
                "store-name-typo",
                Status::Error,
                "ExternalSecret shop/by-hand".into(),
                "no store".into(),
                "kubectl edit externalsecret by-hand -n shop".into(),
            ),
        ];
        let meta = |object: &str| {
            (object == "ExternalSecret shop/cart-db").then(|| {
                json!({"labels": {"argocd.argoproj.io/instance": "shop"},
                       "managedFields": [mf("argocd-controller", "Apply", "2026-12-01T10:00:00Z")]})
            })
        };
        steer(&mut findings, &meta);
        assert_eq!(
            findings[0].next,
            vec![
                "fix spec.secretStoreRef.name in Git: this object is applied by Argo CD application shop"
                    .to_string(),
                "kubectl eso scope -n shop".to_string()
            ]
        );
        assert!(
            findings[0]
                .evidence
                .iter()
                .any(|e| e.contains("last written by argocd-controller"))
        );
        // near miss: no metadata, no change
        assert_eq!(
            findings[1].next,
            vec!["kubectl edit externalsecret by-hand -n shop".to_string()]
        );
    }

    fn mf(manager: &str, op: &str, time: &str) -> Value {
        json!({"manager": manager, "operation": op, "time": time, "apiVersion": "external-secrets.io/v1", "fieldsType": "FieldsV1"})
    }

    #[test]
    fn issue17_argo_cd_application_from_its_label_and_git_in_the_next_step() {
        let meta = json!({
            "labels": {"argocd.argoproj.io/instance": "shop"},
            "managedFields": [mf("argocd-controller", "Apply", "2026-12-01T10:00:00Z"),
                              mf("external-secrets", "Update", "2026-12-05T06:00:00Z")],
        });
        let m = management(&meta);
        assert_eq!(
            m.manager,
            Some(Manager::ArgoCd {
                application: "shop".into()
            })
        );
        assert_eq!(m.writes[0].manager, "external-secrets");
        assert_eq!(
            fix_step(&m, "spec.secretStoreRef", "externalsecret/x -n shop"),
            "fix spec.secretStoreRef in Git: this object is applied by Argo CD application shop"
        );
    }

    #[test]
    fn issue17_flux_helm_and_managers_without_labels() {
        let flux = json!({"labels": {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}});
        assert_eq!(
            management(&flux).manager.map(|m| m.describe()).as_deref(),
            Some("applied by Flux Kustomization apps in flux-system")
        );
        let hr = json!({"labels": {"helm.toolkit.fluxcd.io/name": "eso"}});
        assert!(matches!(
            management(&hr).manager,
            Some(Manager::FluxHelmRelease { .. })
        ));
        let helm = json!({"labels": {"app.kubernetes.io/managed-by": "Helm"}, "annotations": {"meta.helm.sh/release-name": "netbox"}});
        let m = management(&helm);
        assert!(fix_step(&m, "spec.data", "x").starts_with("fix spec.data in the chart's values"));
        let by_kustomize =
            json!({"managedFields": [mf("kustomize-controller", "Apply", "2026-12-01T10:00:00Z")]});
        assert!(
            management(&by_kustomize)
                .manager
                .is_some_and(|m| m.reverts_hand_edits())
        );
    }

    #[test]
    fn issue17_a_hand_applied_object_gets_the_kubectl_edit() {
        let meta = json!({"managedFields": [mf("kubectl-client-side-apply", "Update", "2026-12-01T10:00:00Z"),
                                           mf("kubectl-edit", "Update", "2026-12-04T10:00:00Z")]});
        let m = management(&meta);
        assert_eq!(
            m.manager,
            Some(Manager::Kubectl {
                manager: "kubectl-edit".into()
            })
        );
        assert_eq!(m.writes[0].time.as_deref(), Some("2026-12-04T10:00:00Z"));
        assert_eq!(
            fix_step(&m, "spec.secretStoreRef", "externalsecret/x -n shop"),
            "kubectl edit externalsecret/x -n shop   # spec.secretStoreRef"
        );
        // near misses: this tool's own force-sync write is nobody's edit, and a helm.sh
        // annotation alone is not Helm managing it
        let by_us = json!({"managedFields": [mf("kubectl-eso", "Update", "2026-12-01T10:00:00Z")]});
        assert_eq!(management(&by_us).manager, None);
        let near = json!({"annotations": {"meta.helm.sh/release-name": "x"}});
        assert_eq!(management(&near).manager, None);
    }
}
