//! The names shell completion offers from the cluster and the kubeconfig (issue 13): contexts,
//! clusters and users from the kubeconfig; namespaces, ExternalSecrets, PushSecrets, stores and
//! workloads from the API server, metadata only. Every failure is an empty list: completion is
//! quiet, and a name it cannot offer is typed by hand.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject};
use kube::{Client, Resource};

use crate::config::KubeTarget;
use crate::diag::Diag;

/// What the word being completed names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Contexts,
    Clusters,
    Users,
    Namespaces,
    ExternalSecrets,
    /// describe-chain's argument: ExternalSecrets, and PushSecrets as `pushsecret/NAME`.
    ExternalOrPushSecrets,
    /// `SecretStore/NAME` in the namespace and `ClusterSecretStore/NAME`.
    Stores,
    /// verify-regcred's argument: Secrets of type dockerconfigjson or dockercfg (metadata only).
    PullSecrets,
    /// `KIND/NAME` of scope's workload argument; the kind as typed (`deployment`, `pod`, …).
    Workloads(String),
}

/// The cluster named by the flags already typed (`--kubeconfig`, `--context`, `-n`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub namespace: Option<String>,
}

/// The budget of one completion: a person is waiting on a TAB.
pub const BUDGET: Duration = Duration::from_secs(3);

/// The names `wanted` asks for, unfiltered; empty on any error or after [`BUDGET`].
pub async fn names(wanted: &Wanted, target: &Target) -> Vec<String> {
    match wanted {
        Wanted::Contexts | Wanted::Clusters | Wanted::Users => kubeconfig_names(wanted, target),
        _ => tokio::time::timeout(BUDGET, from_cluster(wanted, target))
            .await
            .unwrap_or_default(),
    }
}

fn kubeconfig_names(wanted: &Wanted, target: &Target) -> Vec<String> {
    let Ok(kc) = super::client::load_kubeconfig(target.kubeconfig.as_deref()) else {
        return Vec::new();
    };
    match wanted {
        Wanted::Contexts => kc.contexts.into_iter().map(|c| c.name).collect(),
        Wanted::Clusters => kc.clusters.into_iter().map(|c| c.name).collect(),
        Wanted::Users => kc.auth_infos.into_iter().map(|u| u.name).collect(),
        _ => Vec::new(),
    }
}

async fn from_cluster(wanted: &Wanted, target: &Target) -> Vec<String> {
    let kube = KubeTarget {
        kubeconfig: target.kubeconfig.clone(),
        context: target.context.clone(),
        cluster: target.cluster.clone(),
        user: target.user.clone(),
        request_timeout: Some(BUDGET),
        ..KubeTarget::default()
    };
    let Ok((client, default_ns)) = super::client::connect(&kube).await else {
        return Vec::new();
    };
    let ns = target.namespace.clone().unwrap_or(default_ns);
    match wanted {
        Wanted::Namespaces => names_of(Api::<Namespace>::all(client)).await,
        Wanted::ExternalSecrets => match eso(&client).await {
            Some(eso) => dynamic(&client, &ns, &eso.external_secrets()).await,
            None => Vec::new(),
        },
        Wanted::ExternalOrPushSecrets => {
            let mut out = match eso(&client).await {
                Some(eso) => dynamic(&client, &ns, &eso.external_secrets()).await,
                None => Vec::new(),
            };
            let push = dynamic(&client, &ns, &super::push::push_secrets_resource()).await;
            out.extend(push.into_iter().map(|n| format!("pushsecret/{n}")));
            out
        }
        Wanted::Stores => {
            let Some(eso) = eso(&client).await else {
                return Vec::new();
            };
            let mut out: Vec<String> = dynamic(&client, &ns, &eso.secret_stores())
                .await
                .into_iter()
                .map(|n| format!("SecretStore/{n}"))
                .collect();
            let cluster = Api::<DynamicObject>::all_with(client, &eso.cluster_secret_stores());
            out.extend(
                names_of(cluster)
                    .await
                    .into_iter()
                    .map(|n| format!("ClusterSecretStore/{n}")),
            );
            out
        }
        Wanted::PullSecrets => {
            let api = Api::<Secret>::namespaced(client, &ns);
            let mut out = Vec::new();
            for ty in ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"] {
                let params = ListParams::default()
                    .fields(&format!("type={ty}"))
                    .limit(500);
                if let Ok(list) = api.list_metadata(&params).await {
                    out.extend(list.items.into_iter().filter_map(|o| o.metadata.name));
                }
            }
            out.sort();
            out
        }
        Wanted::Workloads(kind) => {
            let names = match kind.as_str() {
                "deployment" | "deploy" | "deployments" => {
                    names_of(Api::<Deployment>::namespaced(client, &ns)).await
                }
                "statefulset" | "sts" | "statefulsets" => {
                    names_of(Api::<StatefulSet>::namespaced(client, &ns)).await
                }
                "daemonset" | "ds" | "daemonsets" => {
                    names_of(Api::<DaemonSet>::namespaced(client, &ns)).await
                }
                "pod" | "po" | "pods" => names_of(Api::<Pod>::namespaced(client, &ns)).await,
                _ => Vec::new(),
            };
            names.into_iter().map(|n| format!("{kind}/{n}")).collect()
        }
        Wanted::Contexts | Wanted::Clusters | Wanted::Users => Vec::new(),
    }
}

async fn eso(client: &Client) -> Option<super::eso::EsoApi> {
    super::eso::discover(client, &Diag::new(0)).await.ok()
}

async fn dynamic(client: &Client, ns: &str, resource: &ApiResource) -> Vec<String> {
    names_of(Api::<DynamicObject>::namespaced_with(
        client.clone(),
        ns,
        resource,
    ))
    .await
}

/// The names of one page of metadata (500): completion offers what a person can scroll through.
async fn names_of<K>(api: Api<K>) -> Vec<String>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.list_metadata(&ListParams::default().limit(500)).await {
        Ok(list) => {
            let mut names: Vec<String> = list
                .items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}
