//! Issue 14: doctor compares the ESO controller's release with the CRDs it runs over. On a cluster
//! whose CRDs serve only v1beta1 (an ESO <= 0.15 installation), a v2.9.0 controller cannot list
//! anything: doctor leads with `eso-crd-version-unserved` and gives the apply command for the
//! controller's tag. The same controller over CRDs serving v1 is the near miss.

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

fn controller(tag: &str) -> Value {
    let labels = json!({"app.kubernetes.io/name": "external-secrets"});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "external-secrets", "namespace": "external-secrets", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels,
                "annotations": {"sandbox.kubectl-eso.io/pod-state": "Running"}},
            "spec": {"containers": [{"name": "external-secrets",
                "image": format!("oci.external-secrets.io/external-secrets/external-secrets:{tag}")}]}}}
    })
}

fn doctor(c: &Cluster) -> (Option<i32>, Value) {
    let o = c.run(&["doctor", "-A", "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (o.status.code(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_a_v1_controller_over_v1beta1_crds_leads_doctor() {
    let c = Cluster::start(EsoCrds::V1beta1Only).await;
    // The ESO installation the harness seeds, its controller at a known tag.
    if let Err(e) = c.api.store().apply(controller("v2.9.0")) {
        panic!("controller: {e:?}");
    }
    let (code, v) = doctor(&c);
    assert_eq!(code, Some(1), "{v:#}");
    let first = &v["findings"][0];
    assert_eq!(first["code"], "eso-crd-version-unserved", "{v:#}");
    assert_eq!(first["severity"], "error");
    let next = first["next"].to_string();
    assert!(
        next.contains("external-secrets/v2.9.0/deploy/crds/bundle.yaml"),
        "{next}"
    );
    // Not installed by Helm: no helm command with a guessed release name.
    assert!(!next.contains("helm upgrade"), "{next}");
    // Installed by Helm under a release name of its own: the helm line names it.
    let mut helm = controller("v2.9.0");
    helm["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("Helm");
    helm["metadata"]["annotations"] = json!({"meta.helm.sh/release-name": "platform-eso"});
    if let Err(e) = c.api.store().apply(helm) {
        panic!("controller: {e:?}");
    }
    let (_, v) = doctor(&c);
    let next = v["findings"][0]["next"].to_string();
    assert!(
        next.contains(
            "helm upgrade platform-eso external-secrets/external-secrets -n external-secrets"
        ),
        "{next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_near_miss_the_same_controller_over_v1_crds_is_no_mismatch() {
    let c = Cluster::start(EsoCrds::V1).await;
    // The ESO installation the harness seeds, its controller at a known tag.
    if let Err(e) = c.api.store().apply(controller("v2.9.0")) {
        panic!("controller: {e:?}");
    }
    let (_, v) = doctor(&c);
    assert!(!v.to_string().contains("eso-crd-version-mismatch"), "{v:#}");
    assert!(!v.to_string().contains("eso-crd-version-unserved"), "{v:#}");
    assert_eq!(v["esoVersion"], "v2.9.0", "{v:#}");
}
