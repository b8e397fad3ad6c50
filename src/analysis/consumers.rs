//! Which Secrets a pod template consumes, and how. `scope WORKLOAD` walks from an application to
//! its Secrets with this; force-sync and describe-chain walk the other way (which workloads use
//! this Secret) with the same functions, so there is one reading of a PodSpec in the product.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use crate::model::eso_reloader::{EsoReloaderConfigs, EsoReloaderSelectors};

/// How a pod template refers to a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretUse {
    /// `env[].valueFrom.secretKeyRef`
    Env,
    /// `envFrom[].secretRef`
    EnvFrom,
    /// `volumes[].secret`
    Volume,
    /// `volumes[].projected.sources[].secret`
    ProjectedVolume,
    /// `imagePullSecrets[]`
    ImagePullSecret,
}

impl SecretUse {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretUse::Env => "env",
            SecretUse::EnvFrom => "envFrom",
            SecretUse::Volume => "volume",
            SecretUse::ProjectedVolume => "projected",
            SecretUse::ImagePullSecret => "imagePullSecrets",
        }
    }
}

/// Every Secret the pod spec names, each with the distinct ways it is used, sorted by name.
/// Init and ephemeral containers count: a missing Secret blocks them just the same.
pub fn secrets_used(spec: &PodSpec) -> BTreeMap<String, Vec<SecretUse>> {
    let mut found: BTreeMap<String, Vec<SecretUse>> = BTreeMap::new();
    let mut add = |name: Option<&str>, how: SecretUse| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let uses = found.entry(name.to_string()).or_default();
            if !uses.contains(&how) {
                uses.push(how);
                uses.sort();
            }
        }
    };

    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        container_secrets(c, &mut add);
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        for e in c.env.iter().flatten() {
            let name = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref());
            add(name.map(|r| r.name.as_str()), SecretUse::Env);
        }
        for e in c.env_from.iter().flatten() {
            add(
                e.secret_ref.as_ref().map(|r| r.name.as_str()),
                SecretUse::EnvFrom,
            );
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(s) = &v.secret {
            add(s.secret_name.as_deref(), SecretUse::Volume);
        }
        if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                add(
                    src.secret.as_ref().map(|s| s.name.as_str()),
                    SecretUse::ProjectedVolume,
                );
            }
        }
    }
    for r in spec.image_pull_secrets.iter().flatten() {
        add(Some(r.name.as_str()), SecretUse::ImagePullSecret);
    }
    found
}

fn container_secrets(c: &Container, add: &mut impl FnMut(Option<&str>, SecretUse)) {
    for e in c.env.iter().flatten() {
        let name = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref());
        add(name.map(|r| r.name.as_str()), SecretUse::Env);
    }
    for e in c.env_from.iter().flatten() {
        add(
            e.secret_ref.as_ref().map(|r| r.name.as_str()),
            SecretUse::EnvFrom,
        );
    }
}

/// Every ConfigMap the pod spec names (`env[].valueFrom.configMapKeyRef`, `envFrom[].configMapRef`,
/// `volumes[].configMap`, projected `configMap` sources), each with the distinct ways it is used:
/// ExternalSecrets may write ConfigMaps (`target.manifest`, issue 14), consumed like Secrets.
pub fn configmaps_used(spec: &PodSpec) -> BTreeMap<String, Vec<SecretUse>> {
    let mut found: BTreeMap<String, Vec<SecretUse>> = BTreeMap::new();
    let mut add = |name: Option<&str>, how: SecretUse| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let uses = found.entry(name.to_string()).or_default();
            if !uses.contains(&how) {
                uses.push(how);
                uses.sort();
            }
        }
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env.iter().flatten() {
            let r = e
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref());
            add(r.map(|r| r.name.as_str()), SecretUse::Env);
        }
        for e in c.env_from.iter().flatten() {
            add(
                e.config_map_ref.as_ref().map(|r| r.name.as_str()),
                SecretUse::EnvFrom,
            );
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            add(Some(c.name.as_str()), SecretUse::Volume);
        }
        if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                add(
                    src.config_map.as_ref().map(|c| c.name.as_str()),
                    SecretUse::ProjectedVolume,
                );
            }
        }
    }
    found
}

/// How a pod spec uses the target an ExternalSecret writes: a Secret, or a ConfigMap
/// (`target.manifest`); other kinds are not mounted by pods.
pub fn target_uses(spec: &PodSpec, kind: &str, name: &str) -> Vec<String> {
    match kind {
        "ConfigMap" => {
            let mut out: Vec<String> = configmaps_used(spec)
                .remove(name)
                .unwrap_or_default()
                .into_iter()
                .map(|u| u.as_str().to_string())
                .collect();
            let volumes: Vec<&str> = spec
                .volumes
                .iter()
                .flatten()
                .filter(|v| {
                    v.config_map.as_ref().is_some_and(|c| c.name == name)
                        || v.projected.as_ref().is_some_and(|p| {
                            p.sources
                                .iter()
                                .flatten()
                                .any(|s| s.config_map.as_ref().is_some_and(|c| c.name == name))
                        })
                })
                .map(|v| v.name.as_str())
                .collect();
            let sub_path = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .flat_map(|c| c.volume_mounts.iter().flatten())
                .any(|m| {
                    volumes.contains(&m.name.as_str())
                        && m.sub_path.as_deref().is_some_and(|p| !p.is_empty())
                });
            if sub_path {
                out.push(VOLUME_SUB_PATH.into());
            }
            out
        }
        "Secret" => secret_uses(spec, name),
        _ => Vec::new(),
    }
}

/// How the pod spec uses one Secret; empty when it does not use it at all.
pub fn uses_of(spec: &PodSpec, secret: &str) -> Vec<SecretUse> {
    secrets_used(spec).remove(secret).unwrap_or_default()
}

/// The `uses` string of a Secret volume mounted through `subPath`.
pub const VOLUME_SUB_PATH: &str = "volume-subPath";

/// How a pod spec uses `secret`, with mounts through `subPath` told apart: the kubelet never
/// updates those, so they need a restart like env vars do.
pub fn secret_uses(spec: &PodSpec, secret: &str) -> Vec<String> {
    let mut out: Vec<String> = uses_of(spec, secret)
        .into_iter()
        .map(|u| u.as_str().to_string())
        .collect();
    if mounted_with_sub_path(spec, secret) {
        out.push(VOLUME_SUB_PATH.into());
    }
    out
}

fn mounted_with_sub_path(spec: &PodSpec, secret: &str) -> bool {
    let volumes: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.secret
                .as_ref()
                .is_some_and(|s| s.secret_name.as_deref() == Some(secret))
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .flatten()
                        .any(|s| s.secret.as_ref().is_some_and(|s| s.name == secret))
                })
        })
        .map(|v| v.name.as_str())
        .collect();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .any(|m| {
            volumes.contains(&m.name.as_str())
                && (m.sub_path.as_deref().is_some_and(|p| !p.is_empty())
                    || m.sub_path_expr.as_deref().is_some_and(|p| !p.is_empty()))
        })
}

/// Whether these uses read the value once, when the container starts (environment variables,
/// `subPath` mounts): a container started before the Secret last changed still has the old value.
/// Plain volume files are refreshed by the kubelet and never need this.
pub fn read_at_start(uses: &[String]) -> bool {
    uses.iter().any(|u| {
        u == SecretUse::Env.as_str() || u == SecretUse::EnvFrom.as_str() || u == VOLUME_SUB_PATH
    })
}

/// Whether a restart is what brings these uses a new Secret value: everything read at start, and
/// image pull secrets (a pod in ImagePullBackOff waits out its back-off otherwise).
pub fn needs_restart(uses: &[String]) -> bool {
    read_at_start(uses)
        || uses
            .iter()
            .any(|u| u == SecretUse::ImagePullSecret.as_str())
}

/// When the Secret's data last changed, as far as the API server can tell: the newest
/// managedFields time (every writer, ESO included, leaves one), else the creation time.
pub fn last_changed(meta: &ObjectMeta) -> Option<Timestamp> {
    let newest = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.time.as_ref())
        .map(|t| t.0)
        .max();
    newest.or(meta.creation_timestamp.as_ref().map(|t| t.0))
}

/// When the pod's running containers read their environment: the earliest `startedAt` of a
/// running container (a container still waiting has read nothing yet). `None` when none runs.
pub fn containers_started(status: Option<&PodStatus>) -> Option<Timestamp> {
    status?
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .map(|t| t.0)
        .min()
}

/// Whether `kubectl rollout restart` works on this workload (`deployment/x` style).
pub fn rollout_restartable(workload: &str) -> bool {
    ["deployment/", "statefulset/", "daemonset/"]
        .iter()
        .any(|k| workload.starts_with(k))
}

/// The workload controlling a pod, kubectl style (`deployment/order-service`): a Deployment's
/// ReplicaSet is `<deployment>-<pod-template-hash>`, so the Deployment is named instead.
pub fn controller_workload(meta: &ObjectMeta) -> Option<String> {
    controlling_workload(meta.owner_references.as_deref().unwrap_or_default())
}

/// [`controller_workload`] from the owner references alone.
pub fn controlling_workload(
    owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> Option<String> {
    let o = owners.iter().find(|o| o.controller == Some(true))?;
    Some(match o.kind.as_str() {
        "ReplicaSet" => match o.name.rsplit_once('-') {
            Some((d, _)) => format!("deployment/{d}"),
            None => format!("replicaset/{}", o.name),
        },
        other => format!("{}/{}", other.to_ascii_lowercase(), o.name),
    })
}

/// Will Stakater Reloader restart this workload when `secret` changes? Judged from the
/// workload's annotations as Reloader reads them: `reloader.stakater.com/auto` or
/// `secret.reloader.stakater.com/auto` set to true, `secret.reloader.stakater.com/reload` listing
/// the Secret, or `reloader.stakater.com/search` with the Secret's own
/// `reloader.stakater.com/match: "true"`; never for a Secret annotated
/// `reloader.stakater.com/ignore: "true"`. (ESO's own reloader, external-secrets-inc/reloader, is
/// configured by its `Config` resource, not by annotations on the workload: see
/// [`eso_reloader_config`].)
pub fn reloader_restarts(
    annotations: &std::collections::BTreeMap<String, String>,
    secret: &str,
    secret_annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let on = |k: &str| annotations.get(k).is_some_and(|v| v.trim() == "true");
    let secret_on = |k: &str| {
        secret_annotations
            .and_then(|a| a.get(k))
            .is_some_and(|v| v.trim() == "true")
    };
    if secret_on("reloader.stakater.com/ignore") {
        return false;
    }
    on("reloader.stakater.com/auto")
        || on("secret.reloader.stakater.com/auto")
        || annotations
            .get("secret.reloader.stakater.com/reload")
            .is_some_and(|list| list.split(',').any(|n| n.trim() == secret))
        || (on("reloader.stakater.com/search") && secret_on("reloader.stakater.com/match"))
}

/// The ESO Reloader `Config` (external-secrets-inc/reloader) that restarts this workload when a
/// Kubernetes Secret changes, by name: one with a `KubernetesSecret` notification source and a
/// destination of the workload's kind (`deployment`: the only workload kind its
/// `destinationsToWatch` defines) whose `names`, `labelSelectors` and `namespaceSelectors` all
/// admit it, as Kubernetes label selectors match. A Config with `namespaceSelectors` counts only
/// when the namespace's labels are known; Configs not read (refused) cover nothing.
pub fn eso_reloader_config<'a>(
    configs: &'a EsoReloaderConfigs,
    kind: &str,
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Option<&'a str> {
    let EsoReloaderConfigs::Listed(configs) = configs else {
        return None;
    };
    let ns_labels = namespace_labels.map(|l| {
        let mut l = l.clone();
        l.entry("kubernetes.io/metadata.name".to_string())
            .or_insert_with(|| namespace.to_string());
        l
    });
    let admits = |s: &EsoReloaderSelectors| {
        (s.names.is_empty() || s.names.iter().any(|n| n == name))
            && s.label_selector
                .as_ref()
                .is_none_or(|sel| selector_matches(sel, labels))
            && (s.namespace_selectors.is_empty()
                || ns_labels.as_ref().is_some_and(|l| {
                    s.namespace_selectors
                        .iter()
                        .any(|sel| selector_matches(sel, l))
                }))
    };
    configs
        .iter()
        .find(|c| {
            c.source_types.iter().any(|t| t == "KubernetesSecret")
                && c.destinations.iter().any(|d| {
                    d.type_.eq_ignore_ascii_case(kind) && d.selectors.as_ref().is_none_or(&admits)
                })
        })
        .map(|c| c.name.as_str())
}

/// `metav1.LabelSelector` semantics: every `matchLabels` pair present, every
/// `matchExpressions` requirement met (`In`, `NotIn`, `Exists`, `DoesNotExist`; any other
/// operator matches nothing). An empty selector matches everything.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let values =
        |r: &LabelSelectorRequirement| -> Vec<String> { r.values.clone().unwrap_or_default() };
    let exprs = sel.match_expressions.iter().flatten().all(|r| {
        let have = labels.get(&r.key);
        match r.operator.as_str() {
            "In" => have.is_some_and(|v| values(r).contains(v)),
            "NotIn" => have.is_none_or(|v| !values(r).contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    pairs && exprs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue12_reloader_annotations_and_near_misses() {
        let a =
            |k: &str, v: &str| std::collections::BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(reloader_restarts(
            &a("reloader.stakater.com/auto", "true"),
            "db",
            None
        ));
        assert!(reloader_restarts(
            &a("secret.reloader.stakater.com/reload", "x, db"),
            "db",
            None
        ));
        assert!(!reloader_restarts(
            &a("secret.reloader.stakater.com/reload", "db-old"),
            "db",
            None
        ));
        assert!(!reloader_restarts(
            &a("reloader.stakater.com/auto", "false"),
            "db",
            None
        ));
        assert!(!reloader_restarts(
            &a("configmap.reloader.stakater.com/auto", "true"),
            "db",
            None
        ));
    }

    #[test]
    fn issue12_reloader_search_needs_the_secrets_match_and_ignore_wins() {
        let a =
            |k: &str, v: &str| std::collections::BTreeMap::from([(k.to_string(), v.to_string())]);
        let search = a("reloader.stakater.com/search", "true");
        assert!(reloader_restarts(
            &search,
            "db",
            Some(&a("reloader.stakater.com/match", "true"))
        ));
        // Near misses: search without the Secret's match; auto on a Secret Reloader ignores.
        assert!(!reloader_restarts(&search, "db", None));
        assert!(!reloader_restarts(
            &search,
            "db",
            Some(&a("reloader.stakater.com/match", "false"))
        ));
        assert!(!reloader_restarts(
            &a("reloader.stakater.com/auto", "true"),
            "db",
            Some(&a("reloader.stakater.com/ignore", "true"))
        ));
    }

    fn eso_config(v: serde_json::Value) -> EsoReloaderConfigs {
        match serde_json::from_value::<Vec<(String, Vec<String>, String, serde_json::Value)>>(v) {
            Ok(rows) => EsoReloaderConfigs::Listed(
                rows.into_iter()
                    .map(|(name, sources, type_, sel)| {
                        crate::model::eso_reloader::EsoReloaderConfig {
                            name,
                            source_types: sources,
                            destinations: vec![
                                crate::model::eso_reloader::EsoReloaderDestination {
                                    type_,
                                    selectors: Some(EsoReloaderSelectors {
                                        namespace_selectors: serde_json::from_value(
                                            sel["namespaceSelectors"].clone(),
                                        )
                                        .unwrap_or_default(),
                                        label_selector: serde_json::from_value(
                                            sel["labelSelectors"].clone(),
                                        )
                                        .unwrap_or_default(),
                                        names: serde_json::from_value(sel["names"].clone())
                                            .unwrap_or_default(),
                                    }),
                                },
                            ],
                        }
                    })
                    .collect(),
            ),
            Err(e) => panic!("bad fixture: {e}"),
        }
    }

    #[test]
    fn eso_reloader_config_covers_a_matching_deployment_and_near_misses_do_not() {
        let labels = BTreeMap::from([
            ("app".to_string(), "orders".to_string()),
            ("tier".to_string(), "api".to_string()),
        ]);
        let sel = json!({"labelSelectors": {
            "matchLabels": {"app": "orders"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["api", "web"]}]
        }});
        let cfgs = eso_config(json!([[
            "orders-reload",
            ["KubernetesSecret"],
            "deployment",
            sel
        ]]));
        let at = |c: &EsoReloaderConfigs, kind: &str, l: &BTreeMap<String, String>| {
            eso_reloader_config(c, kind, "shop", "orders", l, None).map(str::to_string)
        };
        assert_eq!(
            at(&cfgs, "Deployment", &labels).as_deref(),
            Some("orders-reload")
        );
        // Near miss: one label off (tier not In the values).
        let mut off = labels.clone();
        off.insert("tier".into(), "batch".into());
        assert_eq!(at(&cfgs, "Deployment", &off), None);
        // Near miss: same selectors, but the Config listens only to a webhook.
        let webhook = eso_config(json!([["orders-reload", ["Webhook"], "deployment", sel]]));
        assert_eq!(at(&webhook, "Deployment", &labels), None);
        // Near miss: the workload is a StatefulSet; the Config lists deployments.
        assert_eq!(at(&cfgs, "StatefulSet", &labels), None);
        // Refused LIST: never covered.
        assert_eq!(
            at(
                &EsoReloaderConfigs::Unreadable("403".into()),
                "Deployment",
                &labels
            ),
            None
        );
    }

    #[test]
    fn eso_reloader_names_and_namespace_selectors() {
        let labels = BTreeMap::new();
        let named =
            eso_config(json!([["c", ["KubernetesSecret"], "deployment", {"names": ["orders"]}]]));
        assert_eq!(
            eso_reloader_config(&named, "Deployment", "shop", "orders", &labels, None),
            Some("c")
        );
        assert_eq!(
            eso_reloader_config(&named, "Deployment", "shop", "orders-v2", &labels, None),
            None
        );
        let in_ns = eso_config(
            json!([["c", ["KubernetesSecret"], "deployment", {"namespaceSelectors": [
                {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}
            ]}]]),
        );
        let ns = BTreeMap::new();
        assert_eq!(
            eso_reloader_config(&in_ns, "Deployment", "shop", "x", &labels, Some(&ns)),
            Some("c")
        );
        assert_eq!(
            eso_reloader_config(&in_ns, "Deployment", "shops", "x", &labels, Some(&ns)),
            None
        );
        // Namespace labels unknown: not assumed to match.
        assert_eq!(
            eso_reloader_config(&in_ns, "Deployment", "shop", "x", &labels, None),
            None
        );
    }

    #[test]
    fn label_selector_operators_as_kubernetes_defines_them() {
        let sel = |v: serde_json::Value| -> LabelSelector {
            serde_json::from_value(v).unwrap_or_default()
        };
        let l = BTreeMap::from([("a".to_string(), "1".to_string())]);
        let e = |op: &str, vals: serde_json::Value| {
            selector_matches(
                &sel(json!({"matchExpressions": [{"key": "a", "operator": op, "values": vals}]})),
                &l,
            )
        };
        assert!(selector_matches(&sel(json!({})), &l));
        assert!(e("In", json!(["1", "2"])));
        assert!(!e("In", json!(["2"])));
        assert!(e("NotIn", json!(["2"])));
        assert!(!e("NotIn", json!(["1"])));
        assert!(e("Exists", json!(null)));
        assert!(!e("DoesNotExist", json!(null)));
        assert!(!e("Gt", json!(["0"])));
        assert!(!selector_matches(
            &sel(json!({"matchLabels": {"a": "2"}})),
            &l
        ));
        assert!(selector_matches(
            &sel(json!({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]})),
            &l
        ));
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        match serde_json::from_value(v) {
            Ok(s) => s,
            Err(e) => panic!("bad fixture: {e}"),
        }
    }

    #[test]
    fn finds_every_kind_of_reference() {
        let s = spec(json!({
            "containers": [{
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "B", "value": "plain"},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}
                ],
                "envFrom": [{"secretRef": {"name": "api"}}, {"configMapRef": {"name": "cm"}}]
            }],
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-only"}}]}],
            "volumes": [
                {"name": "v1", "secret": {"secretName": "tls"}},
                {"name": "v2", "projected": {"sources": [{"secret": {"name": "bundle"}}, {"configMap": {"name": "cm"}}]}},
                {"name": "v3", "emptyDir": {}}
            ],
            "imagePullSecrets": [{"name": "regcred-order-service"}]
        }));
        let used = secrets_used(&s);
        let names: Vec<&str> = used.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "api",
                "bundle",
                "db",
                "init-only",
                "regcred-order-service",
                "tls"
            ]
        );
        assert_eq!(used["db"], [SecretUse::Env]);
        assert_eq!(used["bundle"], [SecretUse::ProjectedVolume]);
        assert_eq!(used["regcred-order-service"], [SecretUse::ImagePullSecret]);
    }

    #[test]
    fn one_secret_used_several_ways_is_listed_once() {
        let s = spec(json!({
            "containers": [
                {"name": "a", "envFrom": [{"secretRef": {"name": "db"}}]},
                {"name": "b", "envFrom": [{"secretRef": {"name": "db"}}]}
            ],
            "volumes": [{"name": "v", "secret": {"secretName": "db"}}]
        }));
        assert_eq!(uses_of(&s, "db"), [SecretUse::EnvFrom, SecretUse::Volume]);
        assert!(uses_of(&s, "other").is_empty());
    }

    /// Issue 14: ConfigMap targets are found through every way a pod reads a ConfigMap, and a
    /// Secret of the same name is not mistaken for it.
    #[test]
    fn issue14_configmap_consumers() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{"name": "c",
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}}],
                "envFrom": [{"secretRef": {"name": "settings"}}],
                "volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": "a"}]}],
            "volumes": [{"name": "v", "configMap": {"name": "settings"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "settings"}}]}}]
        }))
        .unwrap_or_default();
        assert_eq!(
            target_uses(&spec, "ConfigMap", "settings"),
            vec!["env", "volume", "projected", VOLUME_SUB_PATH]
        );
        assert_eq!(target_uses(&spec, "Secret", "settings"), vec!["envFrom"]);
        assert!(target_uses(&spec, "Application", "settings").is_empty());
    }
}
