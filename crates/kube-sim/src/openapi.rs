//! A minimal OpenAPI v3 discovery (`/openapi/v3` and one document per group-version), generated from
//! the type catalogue. It carries no schemas: its only job is to tell kubectl that every resource's PATCH
//! accepts `fieldValidation`, so `kubectl apply` leaves validation to the server (which prunes and
//! validates custom resources from their CRD) instead of failing to download a client-side schema.
//! Older kubectl (Debian's 1.20) validates against `/openapi/v2` instead; an empty v2 document there
//! makes it skip client-side validation for every kind, as it does for kinds a cluster publishes no schema for.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Served group-versions, as their OpenAPI path keys (`api/v1`, `apis/apps/v1`).
fn served(reg: &Registry) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for rt in reg.all() {
        for v in rt.versions.iter().filter(|v| v.served) {
            out.insert(
                gv_path(&rt.group, &v.name),
                (rt.group.clone(), v.name.clone()),
            );
        }
    }
    out
}

/// `GET /openapi/v3`: where each group-version's document lives.
pub fn root(reg: &Registry) -> Value {
    let paths: serde_json::Map<String, Value> = served(reg)
        .keys()
        .map(|p| {
            let hash = ring::digest::digest(&ring::digest::SHA256, p.as_bytes());
            let hash: String = hash.as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            (
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// `GET /openapi/v3/<gv path>`: a PATCH operation per resource, tagged with its kind.
pub fn group_version(reg: &Registry, gv: &str) -> Option<Value> {
    let (group, version) = served(reg).get(gv)?.clone();
    let mut paths = serde_json::Map::new();
    for rt in reg
        .all()
        .filter(|t| t.group == group && t.served_version(&version).is_some() && !t.create_only)
    {
        let scope = if rt.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let path = format!("/{gv}/{scope}{}/{{name}}", rt.plural);
        let op = json!({
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
            ],
            "responses": {"200": {"description": "OK"}}
        });
        paths.insert(path, json!({"patch": op}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.13"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}

fn proto_string(field: u8, s: &str) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2, s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

/// An OpenAPI v2 document with no paths or definitions, as a gnostic `openapi_v2.Document`
/// (swagger = 1, info = 2 {title = 1, version = 2}).
pub fn v2_protobuf() -> Vec<u8> {
    let info = [proto_string(1, "Kubernetes"), proto_string(2, "v1.32.13")].concat();
    let mut out = proto_string(1, "2.0");
    out.push((2 << 3) | 2);
    out.push(info.len() as u8);
    out.extend(info);
    out
}

/// The same empty document as JSON.
pub fn v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.13"}, "paths": {}, "definitions": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_version_advertises_field_validation() {
        let reg = Registry::with_builtins();
        let root = root(&reg);
        assert!(
            root["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("/openapi/v3/api/v1?hash="))
        );
        let doc = group_version(&reg, "apis/apps/v1").expect("apps/v1 served");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            op["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation"))
        );
        assert!(group_version(&reg, "apis/nope/v1").is_none());
    }

    #[test]
    fn v2_document_is_well_formed_protobuf() {
        let doc = v2_protobuf();
        assert_eq!(&doc[..5], b"\x0a\x032.0");
        assert_eq!(doc[5], 0x12);
        assert_eq!(doc[6] as usize, doc.len() - 7);
        assert_eq!(v2_json()["swagger"], "2.0");
    }
}
