//! ESO's own reloader's `Config`s (`configs.reloader.external-secrets.io`, cluster-scoped): one
//! LIST, reduced to the facts of `model::eso_reloader` as each page arrives. A 404 (the CRD is
//! not installed) means there are none; any other failure (a 403 above all) leaves them not
//! checked, so no workload counts as covered.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client};
use serde_json::Value;

use super::list::{Listing, list_reduced, status_code};
use crate::diag::Diag;
use crate::model::eso_reloader::{
    EsoReloaderConfig, EsoReloaderConfigs, EsoReloaderDestination, EsoReloaderSelectors,
};

/// Every `Config` of the cluster, as facts.
pub async fn configs(client: &Client, diag: &Diag) -> EsoReloaderConfigs {
    let gvk = GroupVersionKind::gvk("reloader.external-secrets.io", "v1alpha1", "Config");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "configs");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let what = Listing::new("configs.reloader.external-secrets.io", None);
    match list_reduced(&api, &ListParams::default(), &what, diag, |o| {
        Some(config_facts(&o))
    })
    .await
    {
        Ok(configs) => EsoReloaderConfigs::Listed(configs),
        Err(e) if status_code(&e) == Some(404) => EsoReloaderConfigs::Listed(Vec::new()),
        Err(e) => {
            let cause = what.degraded(&e).cause;
            diag.log(1, format_args!("ESO Reloader Configs not checked: {cause}"));
            EsoReloaderConfigs::Unreadable(cause)
        }
    }
}

/// A `Config`'s notification source types and destinations; everything else is dropped.
pub fn config_facts(o: &DynamicObject) -> EsoReloaderConfig {
    let spec = o.data.get("spec");
    let list = |k: &str| {
        spec.and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    EsoReloaderConfig {
        name: o.metadata.name.clone().unwrap_or_default(),
        source_types: list("notificationSources")
            .iter()
            .map(|s| str_of(s, "type"))
            .collect(),
        destinations: list("destinationsToWatch")
            .iter()
            .map(|d| {
                let type_ = str_of(d, "type");
                // The block is named after the type (`type: deployment` + `deployment:`).
                let selectors = d
                    .as_object()
                    .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(&type_)))
                    .map(|(_, b)| EsoReloaderSelectors {
                        namespace_selectors: b
                            .get("namespaceSelectors")
                            .and_then(|v| serde_json::from_value(v.clone()).ok())
                            .unwrap_or_default(),
                        label_selector: b
                            .get("labelSelectors")
                            .and_then(|v| serde_json::from_value(v.clone()).ok()),
                        names: b
                            .get("names")
                            .and_then(|v| serde_json::from_value(v.clone()).ok())
                            .unwrap_or_default(),
                    });
                EsoReloaderDestination { type_, selectors }
            })
            .collect(),
    }
}

/// The labels of each namespace, when some Config selects namespaces by label: one GET per
/// namespace; a namespace that cannot be read is left out (its workloads are not covered).
pub async fn namespace_labels(
    client: &Client,
    configs: &EsoReloaderConfigs,
    namespaces: BTreeSet<String>,
    diag: &Diag,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let EsoReloaderConfigs::Listed(list) = configs else {
        return BTreeMap::new();
    };
    let wanted = list.iter().flat_map(|c| &c.destinations).any(|d| {
        d.selectors
            .as_ref()
            .is_some_and(|s| !s.namespace_selectors.is_empty())
    });
    if !wanted {
        return BTreeMap::new();
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let mut out = BTreeMap::new();
    for ns in namespaces {
        diag.log(1, format_args!("GET namespace {ns} (metadata)"));
        if let Ok(Some(m)) = api.get_metadata_opt(&ns).await {
            out.insert(ns, m.metadata.labels.unwrap_or_default());
        }
    }
    out
}

/// What the consumer rule needs of ESO's reloader for doctor's pods: the Configs, and the labels
/// of the pods' namespaces when a Config selects namespaces. Nothing is read when no pod that
/// reads a target at start belongs to a workload.
pub async fn for_pods(
    client: &Client,
    pods: &[crate::model::doctor::PodFacts],
    diag: &Diag,
) -> (
    EsoReloaderConfigs,
    BTreeMap<String, BTreeMap<String, String>>,
) {
    if pods.iter().all(|p| p.workload.is_none()) {
        return (EsoReloaderConfigs::NotChecked, BTreeMap::new());
    }
    let configs = configs(client, diag).await;
    let namespaces = pods.iter().map(|p| p.namespace.clone()).collect();
    let labels = namespace_labels(client, &configs, namespaces, diag).await;
    (configs, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_config_keeps_its_source_types_and_the_block_named_after_each_destination_type() {
        let o: DynamicObject = match serde_json::from_value(json!({
            "apiVersion": "reloader.external-secrets.io/v1alpha1",
            "kind": "Config",
            "metadata": {"name": "to-deployments"},
            "spec": {
                "notificationSources": [
                    {"type": "KubernetesSecret", "kubernetesSecret": {"serverURL": "https://k"}}
                ],
                "destinationsToWatch": [
                    {"type": "deployment", "deployment": {
                        "names": ["api"],
                        "labelSelectors": {"matchLabels": {"app": "api"}},
                        "namespaceSelectors": [{"matchLabels": {"team": "a"}}]
                    }},
                    {"type": "externalsecret", "deployment": {"names": ["not-this-one"]}}
                ]
            }
        })) {
            Ok(o) => o,
            Err(e) => panic!("bad fixture: {e}"),
        };
        let c = config_facts(&o);
        assert_eq!(c.name, "to-deployments");
        assert_eq!(c.source_types, vec!["KubernetesSecret".to_string()]);
        let d = &c.destinations[0];
        assert_eq!(d.type_, "deployment");
        let s = d.selectors.clone().unwrap_or_default();
        assert_eq!(s.names, vec!["api".to_string()]);
        assert!(s.label_selector.is_some());
        assert_eq!(s.namespace_selectors.len(), 1);
        // Near miss: a block not named after the destination's type is not its selectors.
        assert_eq!(c.destinations[1].selectors, None);
    }
}
