//! Issue 14 (ESO PR 6710): reads the `ProviderClass` / `ClusterProviderClass` an out-of-process
//! store names, when the API server serves the kind (discovery of `external-secrets.io/v1alpha1`),
//! keeping only its address and Ready condition. A cluster without the kind is not an error: the
//! store stays "not probed: out-of-process provider".

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::Value;

use crate::model::eso::{ProviderClassLookup, ProviderClassRef};
use crate::sanitize;

const API_VERSION: &str = "external-secrets.io/v1alpha1";

/// What discovery says of `external-secrets.io/v1alpha1`: its resources, or the lookup every
/// ProviderClass reference gets when the group is not served or discovery failed. Asked once per
/// command, however many stores name a class.
pub type Served =
    Result<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>, ProviderClassLookup>;

pub async fn discover(client: &Client) -> Served {
    match client.list_api_group_resources(API_VERSION).await {
        Ok(list) => Ok(list.resources),
        Err(e) if super::list::status_code(&e) == Some(404) => Err(ProviderClassLookup::NotServed),
        Err(e) => Err(ProviderClassLookup::Unreadable(sanitize::line(
            &e.to_string(),
        ))),
    }
}

pub async fn lookup(client: &Client, r: &ProviderClassRef) -> ProviderClassLookup {
    lookup_in(client, &discover(client).await, r).await
}

/// [`lookup`] with discovery's answer already in hand.
pub async fn lookup_in(
    client: &Client,
    served: &Served,
    r: &ProviderClassRef,
) -> ProviderClassLookup {
    let resources = match served {
        Ok(list) => list,
        Err(lookup) => return lookup.clone(),
    };
    let Some(resource) = resources
        .iter()
        .find(|res| res.kind == r.kind && !res.name.contains('/'))
    else {
        return ProviderClassLookup::NotServed;
    };
    let ar = ApiResource {
        group: "external-secrets.io".into(),
        version: "v1alpha1".into(),
        api_version: API_VERSION.into(),
        kind: r.kind.clone(),
        plural: resource.name.clone(),
    };
    let api: Api<DynamicObject> = match (&r.namespace, resource.namespaced) {
        (Some(ns), true) => Api::namespaced_with(client.clone(), ns, &ar),
        (None, false) => Api::all_with(client.clone(), &ar),
        _ => return ProviderClassLookup::Missing,
    };
    match api.get_opt(&r.name).await {
        Ok(None) => ProviderClassLookup::Missing,
        Ok(Some(o)) => found(&o.data),
        Err(e) => ProviderClassLookup::Unreadable(sanitize::line(&e.to_string())),
    }
}

fn found(data: &Value) -> ProviderClassLookup {
    let address = data
        .pointer("/spec/address")
        .and_then(Value::as_str)
        .map(sanitize::line);
    let ready = data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            let status = c["status"].as_str().unwrap_or("Unknown");
            match (c["reason"].as_str(), c["message"].as_str()) {
                _ if status == "True" => "True".to_string(),
                (Some(r), Some(m)) => sanitize::line(&format!("{status} ({r}: {m})")),
                (Some(r), None) => sanitize::line(&format!("{status} ({r})")),
                _ => sanitize::line(status),
            }
        });
    ProviderClassLookup::Found { address, ready }
}
