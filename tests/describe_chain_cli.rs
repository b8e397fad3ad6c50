//! Issue 5: a failed lookup on one link never aborts the walk. Against the simulated API server:
//! a missing store, a wrong store kind, a ClusterSecretStore whose conditions deny the namespace, a
//! missing credentials key, a user who may not read Secrets, and one who may not create tokens —
//! each reported on its link with the cause, the other links still walked, exit 1; only an
//! ExternalSecret that cannot be read is exit 2.

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

fn parse(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

fn link<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["links"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["link"] == name))
        .unwrap_or_else(|| panic!("no {name} link in {v:#}"))
}

fn chain_json(kc: &std::path::Path, args: &[&str]) -> (std::process::Output, Value) {
    let mut all = vec!["describe-chain"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let o = run_with(kc, &all, &[]);
    let v = parse(&o);
    (o, v)
}

/// An ExternalSecret in prod on `store`, with its target Secret and a consumer.
fn seed_es(c: &Cluster, kind: &str, store: &str) -> Vec<String> {
    c.namespaces(&["prod", "external-secrets", "other"]);
    let es = c.create(external_secret(V1, "prod", "app-db", kind, store, "app-db"));
    let es = c.set_status(&es, es_status(false, &ago(30)));
    let v = canary("app-db");
    c.create(owned_secret(&es, "app-db", "Opaque", "password", &v));
    vec![v]
}

fn azure_store(c: &Cluster, conditions: Option<Value>, key: &str) -> Vec<String> {
    let mut css = cluster_secret_store(V1, "akv-hybridops");
    if let Some(cond) = conditions {
        css["spec"]["conditions"] = cond;
    }
    css["spec"]["provider"]["azurekv"]["authSecretRef"]["clientSecret"]["key"] = json!(key);
    let css = c.create(css);
    c.set_status(&css, store_status(true, "Valid"));
    let sp = canary("sp");
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "akv-sp-credentials", "namespace": "external-secrets"},
        "type": "Opaque", "data": {"client-id": b64("app-id-0123"), "client-secret": b64(&sp)}}));
    vec![sp]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_external_secret_is_exit_2_with_one_line() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let o = c.run(&["describe-chain", "nope", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("\"nope\" not found in namespace prod"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_store_is_the_store_link_and_the_walk_goes_on() {
    let c = Cluster::start(EsoCrds::V1).await;
    let canaries = seed_es(&c, "SecretStore", "vault");
    let (o, v) = chain_json(&c.kubeconfig, &["app-db", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(link(&v, "store")["state"], "broken");
    assert!(
        link(&v, "store")["error"]
            .as_str()
            .is_some_and(|e| e.contains("SecretStore prod/vault does not exist")),
        "{v:#}"
    );
    // Later links were still walked.
    assert_eq!(v["target"]["exists"], true, "{v:#}");
    assert_eq!(v["verdict"]["link"], "store");
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_store_kind_is_named() {
    let c = Cluster::start(EsoCrds::V1).await;
    let mut canaries = seed_es(&c, "SecretStore", "akv-hybridops");
    canaries.extend(azure_store(&c, None, "client-secret"));
    let (o, v) = chain_json(&c.kubeconfig, &["app-db", "-n", "prod", "--no-probe"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        v["verdict"]["cause"].as_str().is_some_and(|c| c
            .contains("a ClusterSecretStore named akv-hybridops does")
            && c.contains("secretStoreRef.kind is wrong")),
        "{v:#}"
    );
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_denying_the_namespace_is_broken() {
    let c = Cluster::start(EsoCrds::V1).await;
    let mut canaries = seed_es(&c, "ClusterSecretStore", "akv-hybridops");
    canaries.extend(azure_store(
        &c,
        Some(json!([{"namespaces": ["other"]}])),
        "client-secret",
    ));
    let (o, v) = chain_json(&c.kubeconfig, &["app-db", "-n", "prod", "--no-probe"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(link(&v, "store")["state"], "broken");
    assert!(
        v["verdict"]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("does not admit this namespace")),
        "{v:#}"
    );
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_credentials_key_is_the_credentials_link() {
    let c = Cluster::start(EsoCrds::V1).await;
    let mut canaries = seed_es(&c, "ClusterSecretStore", "akv-hybridops");
    canaries.extend(azure_store(&c, None, "ClientSecret"));
    // The probe cannot log in without the key; it is skipped, not attempted.
    let (o, v) = chain_json(&c.kubeconfig, &["app-db", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(link(&v, "credentials")["state"], "broken", "{v:#}");
    assert_eq!(v["verdict"]["link"], "credentials");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("has no key \"ClientSecret\""), "{cause}");
    assert!(cause.contains("client-id, client-secret"), "{cause}");
    assert_eq!(v["provider"]["probed"], false);
    assert_no_canary(&o, &canaries);
}

/// A ServiceAccount token for `name` in prod bound to a Role with `rules`.
fn user_with(c: &Cluster, name: &str, rules: Value) -> std::path::PathBuf {
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "prod"}}));
    for ns in ["prod", "external-secrets"] {
        c.create(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": ns}, "rules": rules
        }));
        c.create(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "prod"}]
        }));
    }
    let audience = ["https://kubernetes.default.svc.cluster.local".to_string()];
    let token = c
        .api
        .store()
        .issue_token("prod", name, &audience, 3600)
        .unwrap_or_else(|e| panic!("token: {e:?}"));
    c.kubeconfig_for_token(&token, Some("prod"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_permission_on_secrets_is_reported_on_the_target_link() {
    let c = Cluster::start(EsoCrds::V1).await;
    let canaries = seed_incident_b(&c, V1);
    let kc = user_with(
        &c,
        "eso-reader",
        json!([
            {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets", "secretstores"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["events", "pods", "serviceaccounts"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}
        ]),
    );
    let (o, v) = chain_json(&kc, &["order-service-regcred", "--no-probe"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let target = link(&v, "target");
    assert_eq!(target["state"], "unknown", "{v:#}");
    assert!(
        target["error"].as_str().is_some_and(
            |e| e.contains("no permission to get secret regcred-order-service in prod")
        ),
        "{v:#}"
    );
    // The consumers were still listed.
    assert!(
        v["consumers"]["items"]
            .to_string()
            .contains("order-service"),
        "{v:#}"
    );
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_permission_to_create_tokens_is_reported_on_the_credentials_link() {
    let c = Cluster::start(EsoCrds::V1).await;
    let canaries = seed_incident_b(&c, V1);
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "external-secrets", "namespace": "prod"}}));
    let kc = user_with(
        &c,
        "no-tokens",
        json!([
            {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets", "secretstores"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["events", "pods", "serviceaccounts", "secrets"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}
        ]),
    );
    // The namespaced store's host must be vouched for before any token is minted (issue 18).
    let (o, v) = chain_json(
        &kc,
        &[
            "order-service-regcred",
            "--trust-provider-host",
            "vault.internal:8200",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let creds = link(&v, "credentials");
    assert!(
        creds["error"].as_str().is_some_and(|e| e.contains(
            "no permission to create tokens for serviceaccount external-secrets in prod"
        )),
        "{v:#}"
    );
    assert_eq!(v["provider"]["probed"], false, "{v:#}");
    assert_eq!(v["target"]["exists"], true);
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_one_line_usage_errors() {
    let c = Cluster::start(EsoCrds::V1).await;
    for args in [
        &["describe-chain", "x", "--timeout", "soon"][..],
        // 0 used to be taken as "no limit" and then silently replaced by 30s.
        &["describe-chain", "x", "--timeout", "0"][..],
        &["describe-chain", "x", "-A"][..],
        &[
            "describe-chain",
            "x",
            "--provider-ca-file",
            "/nonexistent/ca.pem",
        ][..],
        &["describe-chain", "x", "--probe-as", "someone"][..],
    ] {
        let o = c.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
