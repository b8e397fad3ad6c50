//! Discovery documents (`/version`, `/api`, `/apis`, group and group-version resource lists, and the
//! aggregated `APIGroupDiscoveryList` kubectl prefers), generated from the same type catalogue that
//! routes requests, so what kubectl discovers is exactly what the server serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use crate::resources::{Registry, ResourceType};

pub fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.13", "gitCommit": "63adf010aa20e104c0b7043b47f42f50c9f72b17",
           "gitTreeState": "clean", "buildDate": "2026-11-22T10:37:50Z", "goVersion": "go1.24.11", "compiler": "gc",
           "platform": "linux/amd64"})
}

pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn storage_hash(rt: &ResourceType) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}/{}/{}", rt.group, rt.storage_version(), rt.kind).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(&d.as_ref()[..8])
}

/// A served version of a group and the types it serves.
type VersionTypes = (String, Vec<Arc<ResourceType>>);

/// Group name -> served versions (preferred first) -> types. The core group is "".
fn groups(reg: &Registry) -> BTreeMap<String, Vec<VersionTypes>> {
    let mut out: BTreeMap<String, Vec<VersionTypes>> = BTreeMap::new();
    for rt in reg.all() {
        for v in rt.versions.iter().filter(|v| v.served) {
            let versions = out.entry(rt.group.clone()).or_default();
            match versions.iter_mut().find(|(name, _)| *name == v.name) {
                Some((_, types)) => types.push(rt.clone()),
                None => versions.push((v.name.clone(), vec![rt.clone()])),
            }
        }
    }
    for versions in out.values_mut() {
        versions.sort_by_key(|(v, _)| std::cmp::Reverse(version_priority(v)));
    }
    out
}

/// Kubernetes' version ordering: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.trim_start_matches('v');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n.parse().unwrap_or(0))
    } else {
        (2, 0)
    };
    (stage, major, minor)
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn group_entry(name: &str, versions: &[VersionTypes]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|(v, _)| json!({"groupVersion": group_version(name, v), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(json!({}))})
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = groups(reg)
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, versions)| group_entry(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let all = groups(reg);
    let versions = all.get(group).filter(|_| !group.is_empty())?;
    let mut g = group_entry(group, versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn sorted_types(mut types: Vec<Arc<ResourceType>>) -> Vec<Arc<ResourceType>> {
    types.sort_by(|a, b| a.plural.cmp(&b.plural));
    types
}

fn subresources(rt: &ResourceType, version: &str) -> Vec<(String, Value, Vec<&'static str>)> {
    let mut out = vec![];
    if rt.version(version).is_some_and(|v| v.status_subresource) {
        out.push((
            "status".to_string(),
            json!({"group": "", "version": "", "kind": rt.kind}),
            vec!["get", "patch", "update"],
        ));
    }
    // Extra subresources served: serviceaccounts/token and pods/log (no scale: `kubectl scale` would get a 404).
    if rt.extra_subresources.iter().any(|s| s == "log") {
        out.push((
            "log".into(),
            json!({"group": "", "version": "", "kind": "Pod"}),
            vec!["get"],
        ));
    }
    if rt.extra_subresources.iter().any(|s| s == "token") {
        out.push((
            "token".into(),
            json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}),
            vec!["create"],
        ));
    }
    out
}

pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let all = groups(reg);
    let (_, types) = all.get(group)?.iter().find(|(v, _)| v == version)?;
    let mut resources = vec![];
    for rt in sorted_types(types.clone()) {
        let mut r = json!({"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                           "kind": rt.kind, "verbs": rt.verbs()});
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        if !rt.create_only {
            r["storageVersionHash"] = json!(storage_hash(&rt));
        }
        resources.push(r);
        for (sub, kind, verbs) in subresources(&rt, version) {
            let mut s = json!({"name": format!("{}/{sub}", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                               "kind": kind["kind"], "verbs": verbs});
            if kind["group"] != "" {
                s["group"] = kind["group"].clone();
                s["version"] = kind["version"].clone();
            }
            resources.push(s);
        }
    }
    let mut list = json!({"kind": "APIResourceList", "groupVersion": group_version(group, version), "resources": resources});
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    Some(list)
}

fn aggregated_group(name: &str, versions: &[VersionTypes]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|(v, types)| {
            let resources: Vec<Value> = sorted_types(types.clone())
                .iter()
                .map(|rt| {
                    let mut r = json!({
                        "resource": rt.plural,
                        "responseKind": {"group": "", "version": "", "kind": rt.kind},
                        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": rt.singular,
                        "verbs": rt.verbs(),
                    });
                    if !rt.short_names.is_empty() {
                        r["shortNames"] = json!(rt.short_names);
                    }
                    if !rt.categories.is_empty() {
                        r["categories"] = json!(rt.categories);
                    }
                    let subs: Vec<Value> = subresources(rt, v)
                        .into_iter()
                        .map(|(sub, kind, verbs)| json!({"subresource": sub, "responseKind": kind, "verbs": verbs}))
                        .collect();
                    if !subs.is_empty() {
                        r["subresources"] = json!(subs);
                    }
                    r
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut meta = json!({"creationTimestamp": null});
    if !name.is_empty() {
        meta["name"] = json!(name);
    }
    json!({"metadata": meta, "versions": vs})
}

/// Aggregated discovery for `/apis` (all named groups) or `/api` (core only).
pub fn aggregated(reg: &Registry, core: bool) -> Value {
    let items: Vec<Value> = groups(reg)
        .iter()
        .filter(|(name, _)| name.is_empty() == core)
        .map(|(name, versions)| aggregated_group(name, versions))
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut vs = vec!["v1alpha1", "v1", "v1beta1", "v2"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, vec!["v2", "v1", "v1beta1", "v1alpha1"]);
    }

    #[test]
    fn core_resource_list_has_token_subresource() {
        let reg = Registry::with_builtins();
        let list = api_resource_list(&reg, "", "v1").expect("core served");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"serviceaccounts/token")
                && names.contains(&"pods/status")
                && names.contains(&"pods/log")
                && names.contains(&"secrets")
        );
        assert!(list.get("apiVersion").is_none());
        assert!(api_resource_list(&reg, "apps", "v9").is_none());
    }
}
