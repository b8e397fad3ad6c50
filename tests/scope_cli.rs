//! Issue 4, `kubectl eso scope`, end to end: the built binary against the simulated apiserver,
//! seeded with the objects each case needs (mirroring the two reference incidents).

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

fn parse_json(out: &str) -> Value {
    match serde_json::from_str(out) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not JSON ({e}):\n{out}"),
    }
}

fn row<'a>(report: &'a Value, ns: &str, name: &str) -> &'a Value {
    let rows = report["externalSecrets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    match rows
        .iter()
        .find(|r| r["namespace"] == ns && r["name"] == name)
    {
        Some(r) => r,
        None => panic!("no row {ns}/{name} in {report:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_store_level_verdict_names_the_store_and_its_three_namespaces() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_a(&c, V1);
    let o = c.run(&["scope", "-A"]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "findings exit 1\n{out}{}",
        stderr(&o)
    );
    assert!(
        out.contains(
            "store-level: ClusterSecretStore akv-hybridops is not ready (InvalidProviderConfig); \
             3 of 3 ExternalSecrets using it fail across 3 namespaces"
        ),
        "{out}"
    );
    assert!(
        out.contains("AADSTS7000222"),
        "the store's Warning Event is shown:\n{out}"
    );
    let v = parse_json(&stdout(&c.run(&["scope", "-A", "-o", "json"])));
    assert_eq!(v["verdicts"][0]["level"], "store");
    let stores = v["stores"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let css = stores
        .iter()
        .find(|s| s["store"]["name"] == "akv-hybridops");
    assert_eq!(css.map(|s| &s["error"]), Some(&json!(AKV_EXPIRED)));
    assert_eq!(
        v["verdicts"][0]["namespaces"],
        json!(["awx", "grafana", "netbox"])
    );
    assert_eq!(row(&v, "prod", "payment-db")["failing"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_app_level_verdict_carries_vaults_permission_denied() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_b(&c, V1);
    let o = c.run(&["scope"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains(
            "app-level: 1 of 4 ExternalSecrets on SecretStore prod/vault fails (prod/order-service-regcred); \
             the store and its 3 other ExternalSecrets are healthy"
        ),
        "{out}"
    );
    assert!(
        out.contains("permission denied"),
        "the Event's text is shown:\n{out}"
    );
    let v = parse_json(&stdout(&c.run(&["scope", "-n", "prod", "-o", "json"])));
    let r = row(&v, "prod", "order-service-regcred");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("* permission denied"),
        "{r:#}"
    );
    assert_eq!(r["ready"]["reason"], "SecretSyncedError");
    assert_eq!(
        r["target"]["state"], "stale",
        "last sync 4h ago with a 1h interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_workload_leads_to_the_external_secret() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_b(&c, V1);
    let o = c.run(&["scope", "deployment/order-service", "-n", "prod"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("Secret regcred-order-service (imagePullSecrets) from ExternalSecret order-service-regcred"), "{out}");
    let v = parse_json(&stdout(&c.run(&[
        "scope",
        "deploy/order-service",
        "-o",
        "json",
    ])));
    let names: Vec<&str> = v["externalSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["order-service-regcred", "payment-db"],
        "only what the deployment consumes"
    );

    let missing = c.run(&["scope", "deployment/nope", "-n", "prod"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("deployment/nope not found in namespace prod"),
        "{}",
        stderr(&missing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_healthy_scope_exits_zero() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let ss = c.create(vault_secret_store(V1, "prod", "vault"));
    c.set_status(&ss, store_status(true, "Valid"));
    let v = canary("healthy");
    seed_es(
        &c,
        V1,
        ("prod", "payment-db"),
        ("SecretStore", "vault"),
        "payment-db",
        true,
        Some(&v),
    );
    let o = c.run(&["scope"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("healthy: 1 ExternalSecret synced"),
        "{}",
        stdout(&o)
    );
    assert_no_canary(&o, &[v]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_json_and_yaml_parse_and_carry_the_same_data() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_a(&c, V1);
    let json_out = c.run(&["scope", "-A", "-o", "json"]);
    let yaml_out = c.run(&["scope", "-A", "-o", "yaml"]);
    assert_eq!(json_out.status.code(), Some(1));
    assert_eq!(yaml_out.status.code(), Some(1));
    let from_json = parse_json(&stdout(&json_out));
    let from_yaml: Value = match serde_saphyr::from_str(&stdout(&yaml_out)) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not YAML ({e}):\n{}", stdout(&yaml_out)),
    };
    assert_eq!(from_json, from_yaml);
    assert_eq!(from_json["apiVersion"], "kubectl-eso/v1");
    assert_eq!(from_json["kind"], "ScopeReport");
    assert_eq!(from_json["summary"]["failing"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_no_escape_codes_with_no_color_or_a_pipe() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_a(&c, V1);
    // Output goes to a pipe here, so auto must not colour.
    let piped = c.run(&["scope", "-A"]);
    assert!(
        !piped.stdout.contains(&0x1b),
        "pipe got escape codes:\n{}",
        stdout(&piped)
    );
    let no_color = run_with(
        &c.kubeconfig,
        &["scope", "-A", "--color", "auto"],
        &[("NO_COLOR", "1")],
    );
    assert!(!no_color.stdout.contains(&0x1b));
    let never = c.run(&["scope", "-A", "--color", "never"]);
    assert!(!never.stdout.contains(&0x1b));
    // The control: forcing colour does produce escape codes, so the checks above can fail.
    let always = c.run(&["scope", "-A", "--color", "always"]);
    assert!(
        always.stdout.contains(&0x1b),
        "--color always should colour:\n{}",
        stdout(&always)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_user_without_secret_permission_still_gets_rows_with_the_cause() {
    let c = Cluster::start(EsoCrds::V1).await;
    let canaries = seed_incident_b(&c, V1);
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "readonly", "namespace": "prod"}}));
    c.create(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "eso-reader", "namespace": "prod"},
        "rules": [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets", "secretstores"], "verbs": ["get", "list"]}]
    }));
    c.create(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "eso-reader", "namespace": "prod"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "eso-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "readonly", "namespace": "prod"}]
    }));
    // The apiserver's own audience, which a TokenRequest without audiences would get.
    let audience = ["https://kubernetes.default.svc.cluster.local".to_string()];
    let token = match c
        .api
        .store()
        .issue_token("prod", "readonly", &audience, 3600)
    {
        Ok(t) => t,
        Err(e) => panic!("token: {e:?}"),
    };
    let kc = c.kubeconfig_for_token(&token, Some("prod"));
    let o = run_with(&kc, &["scope"], &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("order-service-regcred"), "{out}");
    assert!(
        out.contains("Not checked: no permission to list secrets in prod"),
        "{out}"
    );
    let v = parse_json(&stdout(&run_with(&kc, &["scope", "-o", "json"], &[])));
    assert_eq!(
        row(&v, "prod", "order-service-regcred")["target"]["state"],
        "unknown"
    );
    let causes: Vec<&str> = v["degraded"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["cause"].as_str())
        .collect();
    assert!(
        causes.contains(&"no permission to list secrets in prod"),
        "{causes:?}"
    );
    assert_no_canary(&o, &canaries);

    // The same identity through impersonation (--as) from the admin kubeconfig.
    let as_sa = c.run(&[
        "scope",
        "--as",
        "system:serviceaccount:prod:readonly",
        "-o",
        "json",
    ]);
    assert_eq!(as_sa.status.code(), Some(1), "{}", stderr(&as_sa));
    let v = parse_json(&stdout(&as_sa));
    assert_eq!(
        row(&v, "prod", "order-service-regcred")["target"]["state"],
        "unknown"
    );

    // Without permission on the ExternalSecrets themselves the tool cannot do its job.
    let other_ns = run_with(&kc, &["scope", "-n", "netbox"], &[]);
    assert_eq!(other_ns.status.code(), Some(2), "{}", stderr(&other_ns));
    assert_eq!(
        stderr(&other_ns).lines().count(),
        1,
        "one line: {}",
        stderr(&other_ns)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_v1beta1_only_cluster_works() {
    let c = Cluster::start(EsoCrds::V1beta1Only).await;
    seed_incident_b(&c, "external-secrets.io/v1beta1");
    let v = parse_json(&stdout(&c.run(&["scope", "-o", "json"])));
    assert_eq!(v["esoApiVersion"], "external-secrets.io/v1beta1");
    assert_eq!(v["verdicts"][0]["level"], "app");
    assert_eq!(row(&v, "prod", "order-service-regcred")["failing"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_no_eso_crds_is_exit_2_with_the_message() {
    let c = Cluster::start(EsoCrds::None).await;
    let o = c.run(&["scope", "-A"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "error: External Secrets Operator CRDs not found in this cluster: is ESO installed?"
    );
    assert!(o.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_secret_values_never_reach_any_output() {
    let a = Cluster::start(EsoCrds::V1).await;
    let b = Cluster::start(EsoCrds::V1).await;
    let canaries_a = seed_incident_a(&a, V1);
    let canaries_b = seed_incident_b(&b, V1);
    for (c, canaries) in [(&a, &canaries_a), (&b, &canaries_b)] {
        for format in ["table", "wide", "json", "yaml"] {
            for extra in [&[][..], &["-vv"][..]] {
                let mut args = vec!["scope", "-A", "-o", format];
                args.extend_from_slice(extra);
                let o = c.run(&args);
                assert!(
                    o.status.code() == Some(1),
                    "{format} {extra:?}: {}",
                    stderr(&o)
                );
                assert_no_canary(&o, canaries);
            }
        }
    }
    let c = &b;
    let canaries = canaries_b;
    let o = c.run(&[
        "scope",
        "deployment/order-service",
        "-n",
        "prod",
        "-o",
        "wide",
        "-vv",
    ]);
    assert!(
        stderr(&o).contains("LIST secrets"),
        "-v shows requests:\n{}",
        stderr(&o)
    );
    assert_no_canary(&o, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_store_filter_and_failing_only() {
    let c = Cluster::start(EsoCrds::V1).await;
    seed_incident_a(&c, V1);
    let v = parse_json(&stdout(&c.run(&[
        "scope",
        "-A",
        "--store",
        "SecretStore/vault",
        "-o",
        "json",
    ])));
    assert_eq!(v["summary"]["externalSecrets"], 1);
    let o = c.run(&["scope", "-A", "--store", "SecretStore/vault"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the vault store is healthy: {}",
        stdout(&o)
    );
    let v = parse_json(&stdout(&c.run(&["scope", "-A", "--failing", "-o", "json"])));
    assert_eq!(v["externalSecrets"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["summary"]["externalSecrets"], 4);
    let bad = c.run(&["scope", "--store", "vault"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("expected KIND/NAME"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_broken_pipe_is_quiet() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    for i in 0..150 {
        seed_es(
            &c,
            V1,
            ("prod", &format!("app-{i:03}")),
            ("SecretStore", "vault"),
            &format!("app-{i:03}"),
            true,
            None,
        );
    }
    let bin = assert_cmd::cargo::cargo_bin("kubectl-eso");
    let script = format!(
        "'{}' --kubeconfig '{}' scope -o json | head -c 10 >/dev/null",
        bin.display(),
        c.kubeconfig.display()
    );
    let o = match std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("sh: {e}"),
    };
    assert!(
        o.stderr.is_empty(),
        "broken pipe must be quiet: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_label_selector_and_cluster_external_secrets() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["netbox", "grafana"]);
    let css = c.create(cluster_secret_store(V1, "akv-hybridops"));
    c.set_status(&css, store_status(true, "Valid"));
    let ces = c.create(json!({
        "apiVersion": V1, "kind": "ClusterExternalSecret", "metadata": {"name": "platform-ca"},
        "spec": {"namespaceSelectors": [{"matchLabels": {"ca": "yes"}}],
                 "externalSecretSpec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "akv-hybridops"},
                                        "target": {"name": "platform-ca"}}}
    }));
    for (ns, ready) in [("netbox", true), ("grafana", false)] {
        let mut es = external_secret(
            V1,
            ns,
            "platform-ca",
            "ClusterSecretStore",
            "akv-hybridops",
            "platform-ca",
        );
        es["metadata"]["labels"] = json!({"app.kubernetes.io/part-of": "platform"});
        es["metadata"]["ownerReferences"] = json!([{
            "apiVersion": V1, "kind": "ClusterExternalSecret", "name": "platform-ca",
            "uid": ces["metadata"]["uid"], "controller": true
        }]);
        let es = c.create(es);
        let es = c.set_status(&es, es_status(ready, &ago(10)));
        c.create(owned_secret(
            &es,
            "platform-ca",
            "Opaque",
            "ca.crt",
            "not-a-secret-ca",
        ));
    }
    seed_es(
        &c,
        V1,
        ("netbox", "netbox-db"),
        ("ClusterSecretStore", "akv-hybridops"),
        "netbox-db",
        true,
        None,
    );

    let v = parse_json(&stdout(&c.run(&["scope", "-A", "-o", "json"])));
    let ces_rows = v["clusterExternalSecrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ces_rows.len(), 1, "{v:#}");
    assert_eq!(
        ces_rows[0]["externalSecrets"],
        json!(["grafana/platform-ca", "netbox/platform-ca"])
    );
    assert_eq!(ces_rows[0]["failing"], 1);
    assert_eq!(row(&v, "grafana", "platform-ca")["ownedBy"], "platform-ca");
    let table = stdout(&c.run(&["scope", "-A"]));
    assert!(
        table.contains("platform-ca: 2 ExternalSecrets, 1 failing"),
        "{table}"
    );

    let v = parse_json(&stdout(&c.run(&[
        "scope",
        "-A",
        "-l",
        "app.kubernetes.io/part-of=platform",
        "-o",
        "json",
    ])));
    assert_eq!(
        v["summary"]["externalSecrets"], 2,
        "netbox-db has no such label"
    );
    let bad = c.run(&["scope", "-A", "-l", "=nonsense="]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue4_lists_are_paginated() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let ss = c.create(vault_secret_store(V1, "prod", "vault"));
    c.set_status(&ss, store_status(true, "Valid"));
    for i in 0..1100 {
        let name = format!("app-{i:04}");
        seed_es(
            &c,
            V1,
            ("prod", &name),
            ("SecretStore", "vault"),
            &name,
            true,
            Some("x"),
        );
    }
    let o = c.run(&["scope", "-o", "json", "-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = parse_json(&stdout(&o));
    assert_eq!(v["summary"]["externalSecrets"], 1100);
    assert_eq!(
        v["summary"]["failing"], 0,
        "every target Secret was found across pages"
    );
    let log = stderr(&o);
    assert!(
        log.contains("LIST externalsecrets -n prod page 3: 100 items"),
        "{log}"
    );
    assert!(
        log.contains("LIST secrets -n prod page 3: 100 items"),
        "{log}"
    );
    assert!(!log.contains("page 4"), "{log}");
}
