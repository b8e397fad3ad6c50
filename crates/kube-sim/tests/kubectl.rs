//! Real kubectl against the simulated API server: the commands an ESO user runs every day must work
//! exactly as on a real cluster, or the simulation cannot be trusted for anything else.
//!
//! kubectl is found on PATH (the machine's 1.32, or Debian's kubernetes-client 1.20 on a fresh CI
//! machine: `create token` only exists from 1.24, so older clients send the TokenRequest with
//! `create --raw`). When the build found no kubectl (see `build.rs`) cargo reports the tests as
//! ignored with the reason; with CI=true they run and a missing kubectl fails them.
//! Every test starts its own server and kubectl gets its own HOME (discovery cache) and an explicit
//! `--kubeconfig`, with KUBECONFIG cleared.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube_sim::{ApiServer, SimConfig, Store};
use serde_json::{Value, json};

struct Cluster {
    server: ApiServer,
    dir: tempfile::TempDir,
    kubectl: PathBuf,
    minor: u32,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

fn must(result: Result<Value, kube_sim::StoreError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) => panic!("seeding the simulated cluster failed: {e}"),
    }
}

/// Starts a seeded cluster; a missing kubectl fails the test.
async fn cluster() -> Cluster {
    let Some(kubectl) = find_on_path("kubectl") else {
        panic!("kubectl is not on PATH: apt-get install kubernetes-client");
    };
    let server = match ApiServer::start(SimConfig::default()).await {
        Ok(s) => s,
        Err(e) => panic!("kube-sim did not start: {e:#}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("no temp dir: {e}"),
    };
    seed(&server.store());
    let mut c = Cluster {
        server,
        dir,
        kubectl,
        minor: 0,
    };
    let version = c.kubectl(&["version", "--client", "-o", "json"]).await;
    let parsed: Value = serde_json::from_str(&version.stdout).unwrap_or_default();
    c.minor = parsed["clientVersion"]["minor"]
        .as_str()
        .map(|m| m.trim_end_matches('+').parse().unwrap_or(0))
        .unwrap_or(0);
    c
}

impl Cluster {
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Err(e) = std::fs::write(&path, content) {
            panic!("cannot write {}: {e}", path.display());
        }
        path
    }

    /// Runs kubectl with the admin kubeconfig.
    async fn kubectl(&self, args: &[&str]) -> Output {
        let config = self.write("admin.kubeconfig", &self.server.kubeconfig(None));
        self.kubectl_with(&config, args).await
    }

    async fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "20s"])
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot run kubectl: {e}"),
        };
        let output =
            match tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => panic!("kubectl {args:?} failed to run: {e}"),
                Err(_) => panic!("kubectl {args:?} did not finish within 60 s"),
            };
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs kubectl and insists on exit code 0.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_eq!(
            out.code, 0,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    fn store(&self) -> Store {
        self.server.store()
    }

    /// A ServiceAccount token, through kubectl itself (`create token`, or the raw TokenRequest before 1.24).
    async fn create_token(&self, namespace: &str, sa: &str, extra: &[&str]) -> String {
        if self.minor >= 24 {
            let mut args = vec!["create", "token", sa, "-n", namespace];
            args.extend_from_slice(extra);
            return self.ok(&args).await.trim().to_string();
        }
        self.create_token_raw(namespace, sa).await
    }

    /// The TokenRequest as kubectl < 1.24 can send it: `create --raw`.
    async fn create_token_raw(&self, namespace: &str, sa: &str) -> String {
        let body = self.write(
            "token-request.json",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#,
        );
        let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token");
        let body = body.to_string_lossy().into_owned();
        let out = self.ok(&["create", "--raw", &path, "-f", &body]).await;
        let answer: Value = serde_json::from_str(&out).unwrap_or_default();
        answer["status"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn seed(store: &Store) {
    for ns in ["prod", "netbox", "external-secrets"] {
        must(
            store
                .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
        );
    }
    must(store.create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "external-secrets", "namespace": "external-secrets"}})));
    must(store.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "akv-sp-credentials", "namespace": "external-secrets"},
        "type": "Opaque", "data": {"ClientID": "cGxhY2Vob2xkZXI=", "ClientSecret": "cGxhY2Vob2xkZXI="}})));
    let ready = |reason: &str, message: &str, status: &str| json!({"conditions": [{"lastTransitionTime": "2026-11-22T10:28:26Z", "message": message, "reason": reason, "status": status, "type": "Ready"}]});
    let mut css = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "akv-hybridops"},
        "spec": {"provider": {"azurekv": {"authSecretRef": {
            "clientId": {"key": "ClientID", "name": "akv-sp-credentials", "namespace": "external-secrets"},
            "clientSecret": {"key": "ClientSecret", "name": "akv-sp-credentials", "namespace": "external-secrets"}},
            "authType": "ServicePrincipal", "tenantId": "11111111-1111-1111-1111-111111111111", "vaultUrl": "https://hybridops-kv.vault.azure.net"}}}});
    css["status"] = ready("Valid", "store validated", "True");
    css["status"]["capabilities"] = json!("ReadWrite");
    must(store.create(css));
    let mut ss = json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault", "namespace": "prod"},
        "spec": {"provider": {"vault": {"auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets-operator",
            "serviceAccountRef": {"name": "external-secrets"}}}, "path": "registry-creds", "server": "http://127.0.0.1:8200", "version": "v2"}}}});
    ss["status"] = ready("Valid", "store validated", "True");
    must(store.create(ss));
    let mut netbox = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "netbox-db-password", "namespace": "netbox", "labels": {"app.kubernetes.io/part-of": "netbox"}},
        "spec": {"data": [{"remoteRef": {"key": "netbox-db-password"}, "secretKey": "password"}], "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "akv-hybridops"}, "target": {"name": "netbox-db-credentials"}}});
    netbox["status"] = ready("SecretSynced", "secret synced", "True");
    netbox["status"]["refreshTime"] = json!("2026-11-22T11:08:26Z");
    let netbox = must(store.create(netbox));
    let mut regcred = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "order-service-regcred", "namespace": "prod", "labels": {"app.kubernetes.io/part-of": "shop"}},
        "spec": {"dataFrom": [{"extract": {"key": "order-service"}}], "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
            "target": {"name": "regcred-order-service", "template": {"type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": "{{ .dockerconfigjson | toString }}"}}}}});
    regcred["status"] = ready(
        "SecretSyncedError",
        "could not get secret data from provider",
        "False",
    );
    regcred["status"]["refreshTime"] = json!("2026-11-22T10:28:26Z");
    let regcred = must(store.create(regcred));
    let uid = |v: &Value| v["metadata"]["uid"].clone();
    must(store.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "netbox-db-credentials", "namespace": "netbox", "labels": {"reconcile.external-secrets.io/managed": "true"},
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "netbox-db-password",
                "uid": uid(&netbox), "controller": true, "blockOwnerDeletion": true}]},
        "type": "Opaque", "data": {"password": "Y2FuYXJ5LW5vdC1hLXJlYWwtcGFzc3dvcmQ="}})));
    must(store.create(json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "order-service-regcred.18a2b7c9d4e5f601", "namespace": "prod"},
        "involvedObject": {"kind": "ExternalSecret", "namespace": "prod", "name": "order-service-regcred", "uid": uid(&regcred),
            "apiVersion": "external-secrets.io/v1"},
        "reason": "UpdateFailed", "message": "error processing spec.dataFrom[0].extract, err: permission denied",
        "source": {"component": "external-secrets"}, "firstTimestamp": "2026-11-22T10:33:33Z", "lastTimestamp": "2026-11-22T11:08:33Z",
        "count": 7, "type": "Warning", "eventTime": null, "reportingComponent": "external-secrets", "reportingInstance": ""})));
    must(store.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "order-service", "namespace": "prod", "labels": {"app": "order-service"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "order-service"}},
            "template": {"metadata": {"labels": {"app": "order-service"}, "annotations": {"sandbox.kubectl-eso.io/pod-state": "ImagePullBackOff"}},
                "spec": {"imagePullSecrets": [{"name": "regcred-order-service"}],
                    "containers": [{"name": "order-service", "image": "registry.internal:5000/order-service:1.4.2"}]}}}})));
    must(store.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "netbox", "namespace": "netbox", "labels": {"app": "netbox"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "netbox"}},
            "template": {"metadata": {"labels": {"app": "netbox"}, "annotations": {"sandbox.kubectl-eso.io/pod-state": "Running"}},
                "spec": {"containers": [{"name": "netbox", "image": "netboxcommunity/netbox:v4.1",
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "netbox-db-credentials", "key": "password"}}}]}]}}}})));
    must(store.create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "readonly", "namespace": "prod"}})));
    must(store.create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "externalsecrets-reader", "namespace": "prod"},
        "rules": [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list"]}]})));
    must(store.create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "readonly-externalsecrets-reader", "namespace": "prod"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "externalsecrets-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "readonly", "namespace": "prod"}]})));
}

/// Polls the Store until `check` holds (controllers run asynchronously).
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..250 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_external_secrets_across_namespaces_and_as_json() {
    let c = cluster().await;
    let table = c.ok(&["get", "es", "-A"]).await;
    let header = table.lines().next().unwrap_or_default();
    for column in [
        "NAMESPACE",
        "NAME",
        "STORETYPE",
        "STORE",
        "REFRESH INTERVAL",
        "STATUS",
        "READY",
    ] {
        assert!(
            header.contains(column),
            "missing column {column} in {header:?}"
        );
    }
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("netbox")
            && rows[0].contains("netbox-db-password")
            && rows[0].contains("SecretSynced"),
        "{table}"
    );
    assert!(
        rows[1].starts_with("prod")
            && rows[1].contains("order-service-regcred")
            && rows[1].contains("SecretSyncedError"),
        "{table}"
    );
    assert!(
        rows[1].contains("False") && rows[1].contains("vault"),
        "{table}"
    );

    let out = c.ok(&["get", "es", "-n", "prod", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&out).unwrap_or_default();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{out}");
    assert_eq!(items[0]["metadata"]["name"], "order-service-regcred");
    assert_eq!(items[0]["kind"], "ExternalSecret");
    assert_eq!(
        items[0]["status"]["conditions"][0]["reason"],
        "SecretSyncedError"
    );
    assert_eq!(
        items[0]["spec"]["target"]["creationPolicy"], "Owner",
        "CRD defaults are materialised"
    );
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_external_secret_shows_its_events() {
    let c = cluster().await;
    let out = c
        .ok(&[
            "describe",
            "externalsecret",
            "order-service-regcred",
            "-n",
            "prod",
        ])
        .await;
    assert!(
        out.contains("Name:") && out.contains("order-service-regcred"),
        "{out}"
    );
    let events = out.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Warning"), "{out}");
    assert!(events.contains("UpdateFailed"), "{out}");
    assert!(events.contains("permission denied"), "{out}");
    let other = c
        .ok(&[
            "describe",
            "externalsecret",
            "netbox-db-password",
            "-n",
            "netbox",
        ])
        .await;
    assert!(
        !other.contains("UpdateFailed"),
        "events of another object leaked in:\n{other}"
    );
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotate_force_sync_is_written_to_the_store() {
    let c = cluster().await;
    let out = c
        .ok(&[
            "annotate",
            "es",
            "order-service-regcred",
            "-n",
            "prod",
            "force-sync=1795000000",
            "--overwrite",
        ])
        .await;
    assert!(out.contains("order-service-regcred annotated"), "{out}");
    let es = c
        .store()
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("prod"),
            "order-service-regcred",
        )
        .unwrap_or_default();
    assert_eq!(es["metadata"]["annotations"]["force-sync"], "1795000000");
    assert_eq!(
        es["metadata"]["generation"], 1,
        "an annotation is not a spec change"
    );
    assert_eq!(
        es["status"]["conditions"][0]["reason"], "SecretSyncedError",
        "status survives"
    );
    c.ok(&[
        "annotate",
        "es",
        "order-service-regcred",
        "-n",
        "prod",
        "force-sync=1795000001",
        "--overwrite",
    ])
    .await;
    let es = c
        .store()
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("prod"),
            "order-service-regcred",
        )
        .unwrap_or_default();
    assert_eq!(es["metadata"]["annotations"]["force-sync"], "1795000001");
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_secret_as_yaml() {
    let c = cluster().await;
    let out = c
        .ok(&[
            "get",
            "secret",
            "netbox-db-credentials",
            "-n",
            "netbox",
            "-o",
            "yaml",
        ])
        .await;
    assert!(out.contains("kind: Secret"), "{out}");
    assert!(out.contains("name: netbox-db-credentials"), "{out}");
    assert!(
        out.contains("password: Y2FuYXJ5LW5vdC1hLXJlYWwtcGFzc3dvcmQ="),
        "{out}"
    );
    assert!(
        out.contains("reconcile.external-secrets.io/managed: \"true\""),
        "{out}"
    );
    assert!(
        out.contains("kind: ExternalSecret"),
        "ownerReference shown: {out}"
    );
    let missing = c.kubectl(&["get", "secret", "nope", "-n", "netbox"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("secrets \"nope\" not found"),
        "{}",
        missing.stderr
    );
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_creates_a_new_replica_set() {
    let c = cluster().await;
    let store = c.store();
    eventually("first ReplicaSet", || {
        (store.list("apps/v1", "ReplicaSet", Some("prod")).len() == 1).then_some(())
    })
    .await;
    let out = c
        .ok(&["rollout", "restart", "deploy/order-service", "-n", "prod"])
        .await;
    assert!(
        out.contains("deployment.apps/order-service restarted"),
        "{out}"
    );
    let d = store
        .get("apps/v1", "Deployment", Some("prod"), "order-service")
        .unwrap_or_default();
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "{d}"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    eventually("second ReplicaSet", || {
        (store.list("apps/v1", "ReplicaSet", Some("prod")).len() == 2).then_some(())
    })
    .await;
    let rs = c.ok(&["get", "rs", "-n", "prod"]).await;
    assert_eq!(
        rs.lines()
            .filter(|l| l.starts_with("order-service-"))
            .count(),
        2,
        "{rs}"
    );
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pods_and_events() {
    let c = cluster().await;
    let store = c.store();
    eventually("pod", || {
        store.list("v1", "Pod", Some("prod")).into_iter().next()
    })
    .await;
    let pods = c.ok(&["get", "pods", "-n", "prod"]).await;
    let row = pods
        .lines()
        .find(|l| l.starts_with("order-service-"))
        .unwrap_or_default();
    assert!(
        row.contains("ImagePullBackOff") && row.contains("0/1"),
        "{pods}"
    );
    let events = c.ok(&["get", "events", "-n", "prod"]).await;
    assert!(
        events.contains("UpdateFailed") && events.contains("externalsecret/order-service-regcred"),
        "{events}"
    );
    assert!(events.contains("Warning"), "{events}");
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_token_gives_a_reviewable_service_account_token() {
    let c = cluster().await;
    let token = c
        .create_token("external-secrets", "external-secrets", &[])
        .await;
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token:?}");
    let authn = c.store().authenticator();
    let review =
        kube_sim::auth::token_review(&authn, &c.store(), json!({"spec": {"token": token}}));
    assert_eq!(review["status"]["authenticated"], true, "{review}");
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:external-secrets:external-secrets"
    );
    if c.minor >= 24 {
        let vault = c
            .create_token(
                "external-secrets",
                "external-secrets",
                &["--audience", "vault", "--duration", "10m"],
            )
            .await;
        let review = kube_sim::auth::token_review(
            &authn,
            &c.store(),
            json!({"spec": {"token": vault, "audiences": ["vault"]}}),
        );
        assert_eq!(review["status"]["audiences"], json!(["vault"]), "{review}");
    }
    let raw = c
        .create_token_raw("external-secrets", "external-secrets")
        .await;
    let review = kube_sim::auth::token_review(&authn, &c.store(), json!({"spec": {"token": raw}}));
    assert_eq!(
        review["status"]["authenticated"], true,
        "create --raw path: {review}"
    );
    let missing = c
        .kubectl(&["create", "token", "nobody", "-n", "prod"])
        .await;
    assert_ne!(missing.code, 0);
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_with_impersonation_and_with_a_service_account_token() {
    let c = cluster().await;
    let as_readonly = ["--as", "system:serviceaccount:prod:readonly"];
    let mut args = vec!["auth", "can-i", "list", "secrets", "-n", "prod"];
    args.extend_from_slice(&as_readonly);
    let no = c.kubectl(&args).await;
    assert_eq!((no.code, no.stdout.trim()), (1, "no"), "{}", no.stderr);
    let mut args = vec![
        "auth",
        "can-i",
        "list",
        "externalsecrets.external-secrets.io",
        "-n",
        "prod",
    ];
    args.extend_from_slice(&as_readonly);
    let yes = c.kubectl(&args).await;
    assert_eq!((yes.code, yes.stdout.trim()), (0, "yes"), "{}", yes.stderr);
    let admin = c
        .kubectl(&["auth", "can-i", "list", "secrets", "-n", "prod"])
        .await;
    assert_eq!(
        (admin.code, admin.stdout.trim()),
        (0, "yes"),
        "{}",
        admin.stderr
    );

    let token = c.create_token("prod", "readonly", &[]).await;
    let config = c.write(
        "readonly.kubeconfig",
        &c.server.kubeconfig_with_token(&token, Some("prod")),
    );
    let no = c
        .kubectl_with(&config, &["auth", "can-i", "list", "secrets"])
        .await;
    assert_eq!((no.code, no.stdout.trim()), (1, "no"), "{}", no.stderr);
    let es = c.kubectl_with(&config, &["get", "es"]).await;
    assert_eq!(es.code, 0, "{}", es.stderr);
    assert!(es.stdout.contains("order-service-regcred"), "{}", es.stdout);
    let secrets = c.kubectl_with(&config, &["get", "secrets"]).await;
    assert_eq!(secrets.code, 1);
    assert!(
        secrets.stderr.contains(
            "secrets is forbidden: User \"system:serviceaccount:prod:readonly\" cannot list resource \"secrets\" in API group \"\" in the namespace \"prod\""
        ),
        "{}",
        secrets.stderr
    );
    let netbox = c
        .kubectl_with(&config, &["get", "es", "-n", "netbox"])
        .await;
    assert_eq!(netbox.code, 1, "{}", netbox.stdout);
}

#[cfg_attr(
    not(has_kubectl),
    ignore = "needs kubectl on PATH: apt-get install kubernetes-client"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_and_get_deployments_read_the_controller_status() {
    let c = cluster().await;
    let out = c
        .ok(&[
            "rollout",
            "status",
            "deploy/netbox",
            "-n",
            "netbox",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let deployments = c.ok(&["get", "deploy", "-A"]).await;
    let netbox = deployments
        .lines()
        .find(|l| l.starts_with("netbox "))
        .unwrap_or_default();
    assert!(netbox.contains("2/2"), "{deployments}");
    let stuck = deployments
        .lines()
        .find(|l| l.starts_with("prod "))
        .unwrap_or_default();
    assert!(stuck.contains("0/1"), "{deployments}");
    c.ok(&["rollout", "restart", "deploy/netbox", "-n", "netbox"])
        .await;
    let out = c
        .ok(&[
            "rollout",
            "status",
            "deploy/netbox",
            "-n",
            "netbox",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let pods = c.ok(&["get", "pods", "-n", "netbox"]).await;
    let running: Vec<&str> = pods.lines().filter(|l| l.contains("Running")).collect();
    assert_eq!(
        running.len(),
        2,
        "old pods are replaced, not added to:\n{pods}"
    );
}
