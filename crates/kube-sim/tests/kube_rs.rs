//! The product talks to clusters through kube-rs, so kube-rs must work against the simulation exactly as
//! against a real apiserver: kubeconfig + TLS, typed and dynamic APIs, patches, discovery, error
//! statuses, and the runtime `watcher` (LIST, then WATCH from the list's resourceVersion).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config};
use kube_sim::{ApiServer, SimConfig};
use serde_json::json;

async fn client_for(server: &ApiServer) -> Client {
    let kubeconfig =
        Kubeconfig::from_yaml(&server.kubeconfig(Some("prod"))).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

async fn started() -> (ApiServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(SimConfig::default())
        .await
        .expect("server starts");
    server
        .store()
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}))
        .expect("namespace");
    let client = client_for(&server).await;
    (server, client)
}

fn es_api(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret");
    Api::namespaced_with(
        client.clone(),
        "prod",
        &ApiResource::from_gvk_with_plural(&gvk, "externalsecrets"),
    )
}

fn es(name: &str) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"secretStoreRef": {"kind": "SecretStore", "name": "vault"}, "target": {"name": name},
                 "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}}))
    .expect("valid object")
}

#[tokio::test]
async fn typed_and_dynamic_apis_work_over_tls() {
    let (_server, client) = started().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()) && names.contains(&"prod".to_string()));

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "prod");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}),
    )
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("created");
    let got = secrets.get("s").await.expect("get");
    assert_eq!(got.type_.as_deref(), Some("Opaque"));
    match secrets.get("missing").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("expected a 404, got {other:?}"),
    }

    let api = es_api(&client);
    let created = api
        .create(&PostParams::default(), &es("a"))
        .await
        .expect("es created");
    assert_eq!(
        created.data["spec"]["refreshInterval"], "1h0m0s",
        "CRD default"
    );
    let patched = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"force-sync": "1"}}})),
        )
        .await
        .expect("patched");
    assert_eq!(
        patched
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("force-sync"))
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(patched.metadata.generation, Some(1));
    let applied = api
        .patch("a", &PatchParams::apply("kubectl-eso").force(), &Patch::Apply(json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "a", "annotations": {"force-sync": "2"}}})))
        .await
        .expect("applied");
    assert_eq!(
        applied
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("force-sync"))
            .map(String::as_str),
        Some("2")
    );
    let mut invalid = es("b");
    invalid.data["spec"]["refreshPolicy"] = json!("Sometimes");
    match api.create(&PostParams::default(), &invalid).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"))
        }
        other => panic!("expected a 422, got {other:?}"),
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "prod");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "d", "namespace": "prod"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("deployment created");
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}});
    let restarted = deployments
        .patch("d", &PatchParams::default(), &Patch::Strategic(restart))
        .await
        .expect("strategic merge patch");
    assert_eq!(restarted.metadata.generation, Some(2));
}

#[tokio::test]
async fn discovery_finds_the_eso_kinds() {
    let (_server, client) = started().await;
    let discovery = kube::Discovery::new(client)
        .run()
        .await
        .expect("discovery runs");
    let es = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "ExternalSecret");
    let (ar, caps) = es.expect("ExternalSecret discovered");
    assert_eq!(
        (ar.group.as_str(), ar.version.as_str(), ar.plural.as_str()),
        ("external-secrets.io", "v1", "externalsecrets")
    );
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
}

#[tokio::test]
async fn runtime_watcher_sees_existing_and_new_objects() {
    let (server, client) = started().await;
    let store = server.store();
    store
        .create(serde_json::to_value(es("first")).expect("json"))
        .expect("first");
    let api = es_api(&client);
    let mut stream = watcher(api, watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("in time")
        .expect("no error");
    assert_eq!(
        first.and_then(|o| o.metadata.name).as_deref(),
        Some("first")
    );
    store
        .create(serde_json::to_value(es("second")).expect("json"))
        .expect("second");
    let second = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("in time")
        .expect("no error");
    assert_eq!(
        second.and_then(|o| o.metadata.name).as_deref(),
        Some("second")
    );
}
