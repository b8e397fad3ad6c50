//! ESO's resources as kube-rs sees them: which version the cluster serves, and `Resource` impls
//! so lists deserialize straight into the model's plain structs (no DynamicObject round trip,
//! which matters at 10,000 ExternalSecrets).

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicResourceScope};
use kube::{Client, Resource};

use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::model::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};

pub const GROUP: &str = "external-secrets.io";

/// The ESO API version this cluster serves: `v1` (ESO >= 0.17), else `v1beta1` (ESO 0.9–0.16).
#[derive(Debug, Clone)]
pub struct EsoApi {
    pub version: String,
}

impl EsoApi {
    pub fn api_version(&self) -> String {
        format!("{GROUP}/{}", self.version)
    }

    fn resource(&self, kind: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: GROUP.to_string(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }

    pub fn external_secrets(&self) -> ApiResource {
        self.resource("ExternalSecret", "externalsecrets")
    }

    pub fn secret_stores(&self) -> ApiResource {
        self.resource("SecretStore", "secretstores")
    }

    pub fn cluster_secret_stores(&self) -> ApiResource {
        self.resource("ClusterSecretStore", "clustersecretstores")
    }

    pub fn cluster_external_secrets(&self) -> ApiResource {
        self.resource("ClusterExternalSecret", "clusterexternalsecrets")
    }
}

/// One GET /apis: picks v1 when served, else v1beta1; no ESO group at all is its own error.
pub async fn discover(client: &Client, diag: &Diag) -> Result<EsoApi> {
    let started = std::time::Instant::now();
    let groups = client
        .list_api_groups()
        .await
        .map_err(|e| super::list::api_error("discover API groups", &e))?;
    diag.log(
        1,
        format_args!(
            "GET /apis: {} groups in {:?}",
            groups.groups.len(),
            started.elapsed()
        ),
    );
    let group = groups
        .groups
        .iter()
        .find(|g| g.name == GROUP)
        .ok_or(Error::EsoNotInstalled)?;
    let served: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
    let version = ["v1", "v1beta1"]
        .into_iter()
        .find(|v| served.contains(v))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{GROUP} serves only {}: kubectl-eso needs v1 or v1beta1",
                served.join(", ")
            ))
        })?;
    diag.log(
        1,
        format_args!("using {GROUP}/{version} (served: {})", served.join(", ")),
    );
    Ok(EsoApi {
        version: version.to_string(),
    })
}

macro_rules! dynamic_resource {
    ($t:ty) => {
        impl Resource for $t {
            type DynamicType = ApiResource;
            type Scope = DynamicResourceScope;

            fn kind(dt: &ApiResource) -> Cow<'_, str> {
                dt.kind.as_str().into()
            }
            fn group(dt: &ApiResource) -> Cow<'_, str> {
                dt.group.as_str().into()
            }
            fn version(dt: &ApiResource) -> Cow<'_, str> {
                dt.version.as_str().into()
            }
            fn api_version(dt: &ApiResource) -> Cow<'_, str> {
                dt.api_version.as_str().into()
            }
            fn plural(dt: &ApiResource) -> Cow<'_, str> {
                dt.plural.as_str().into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

dynamic_resource!(ExternalSecret);
dynamic_resource!(SecretStore);
dynamic_resource!(ClusterExternalSecret);
