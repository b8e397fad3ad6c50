//! Shared helpers for binary-level tests: start the simulated apiserver, seed it with the objects
//! a case needs, write a kubeconfig, and run the built `kubectl-eso` binary against it. The
//! sandbox tests reuse these, so they avoid anything scope-specific.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use base64::Engine;
use kube_sim::{ApiServer, EsoCrds, SimConfig};
use serde_json::{Value, json};
use tempfile::TempDir;

pub mod bao;
#[cfg(feature = "sandbox")]
pub mod leak;
pub mod moto;
pub mod remote;
#[cfg(feature = "sandbox")]
mod sandbox;
#[cfg(feature = "sandbox")]
#[allow(unused_imports)]
pub use sandbox::SandboxEnv;

/// A running simulated cluster and a kubeconfig for it (admin, default namespace `prod`).
/// Dropping it drops the server's runtime tasks along with the test's runtime.
pub struct Cluster {
    pub api: ApiServer,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub async fn start(crds: EsoCrds) -> Cluster {
        let cfg = SimConfig {
            eso_crds: crds,
            ..SimConfig::default()
        };
        let api = match ApiServer::start(cfg).await {
            Ok(api) => api,
            Err(e) => panic!("kube-sim did not start: {e:#}"),
        };
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let kubeconfig = write_file(
            dir.path(),
            "admin.kubeconfig",
            &api.kubeconfig(Some("prod")),
        );
        let c = Cluster {
            api,
            dir,
            kubeconfig,
        };
        if crds != EsoCrds::None {
            c.install_eso().await;
        }
        c
    }

    /// What ESO's Helm chart installs besides the CRDs (the sandbox's own copy), with its
    /// Deployments ready: a cluster with ESO's CRDs but no controller is a different incident
    /// (doctor's and describe-chain's root cause would be "eso-controller-missing").
    #[cfg(feature = "sandbox")]
    async fn install_eso(&self) {
        let objects = eso_sandbox::scenario::objects(eso_sandbox::scenario::ESO_INSTALL)
            .unwrap_or_else(|e| panic!("ESO install objects: {e}"));
        for o in objects {
            let _ = self.api.store().apply(o);
        }
        for _ in 0..100 {
            let ready = self
                .api
                .store()
                .get(
                    "apps/v1",
                    "Deployment",
                    Some("external-secrets"),
                    "external-secrets",
                )
                .and_then(|d| d["status"]["readyReplicas"].as_i64())
                .unwrap_or(0);
            if ready >= 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the simulated ESO Deployment did not become ready");
    }

    #[cfg(not(feature = "sandbox"))]
    async fn install_eso(&self) {}

    /// Creates an object; returns it as stored (with uid etc.).
    pub fn create(&self, obj: Value) -> Value {
        match self.api.store().create(obj.clone()) {
            Ok(v) => v,
            Err(e) => panic!("seeding {}: {e:?}", obj["metadata"]["name"]),
        }
    }

    /// Creates the namespaces, ignoring ones that already exist.
    pub fn namespaces(&self, names: &[&str]) {
        for ns in names {
            let _ = self
                .api
                .store()
                .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
    }

    /// Writes `status` onto an existing object through the status subresource.
    pub fn set_status(&self, obj: &Value, status: Value) -> Value {
        let mut o = obj.clone();
        o["status"] = status;
        match self.api.store().replace_status(o) {
            Ok(v) => v,
            Err(e) => panic!("status of {}: {e:?}", obj["metadata"]["name"]),
        }
    }

    /// A kubeconfig for another identity (token from `issue_token`).
    pub fn kubeconfig_for_token(&self, token: &str, namespace: Option<&str>) -> PathBuf {
        let name = format!("token-{}.kubeconfig", uuid_like());
        write_file(
            self.dir.path(),
            &name,
            &self.api.kubeconfig_with_token(token, namespace),
        )
    }

    /// Runs `kubectl-eso --kubeconfig <admin> <args>` with a clean colour environment.
    pub fn run(&self, args: &[&str]) -> Output {
        run_with(&self.kubeconfig, args, &[])
    }
}

pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, contents) {
        panic!("writing {}: {e}", path.display());
    }
    path
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs the binary against `kubeconfig`; `env` adds variables (NO_COLOR is removed unless given).
pub fn run_with(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = match Command::cargo_bin("kubectl-eso") {
        Ok(c) => c,
        Err(e) => panic!("binary not built: {e}"),
    };
    cmd.env_remove("NO_COLOR")
        .env_remove("KUBECONFIG")
        .env("TERM", "xterm-256color");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .timeout(std::time::Duration::from_secs(60));
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("running kubectl-eso: {e}"),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A secret value that must never be printed: unique per call so a leak names its test.
pub fn canary(tag: &str) -> String {
    format!("CANARY-scope-{tag}-{}", uuid_like())
}

/// Asserts no canary appears in the output, as is or base64-encoded (standard and URL-safe).
pub fn assert_no_canary(o: &Output, canaries: &[String]) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for c in canaries {
        let forms = [
            c.clone(),
            base64::engine::general_purpose::STANDARD.encode(c),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c),
        ];
        for f in forms {
            assert!(!all.contains(&f), "secret value leaked ({f}) in:\n{all}");
        }
    }
}

/// An RFC 3339 time `minutes` before now: ages and staleness are judged against the real clock.
pub fn ago(minutes: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---- ESO objects -------------------------------------------------------------------------

pub fn cluster_secret_store(api_version: &str, name: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": "ClusterSecretStore", "metadata": {"name": name},
        "spec": {"provider": {"azurekv": {
            "vaultUrl": "https://hybridops.vault.azure.net", "tenantId": "t", "authType": "ServicePrincipal",
            "authSecretRef": {
                "clientId": {"name": "akv-sp-credentials", "namespace": "external-secrets", "key": "client-id"},
                "clientSecret": {"name": "akv-sp-credentials", "namespace": "external-secrets", "key": "client-secret"}
            }
        }}}
    })
}

pub fn vault_secret_store(api_version: &str, ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": "SecretStore", "metadata": {"name": name, "namespace": ns},
        "spec": {"provider": {"vault": {
            "server": "https://vault.internal:8200", "path": "registry-creds", "version": "v2",
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets-operator",
                "serviceAccountRef": {"name": "external-secrets"}}}
        }}}
    })
}

pub fn external_secret(
    api_version: &str,
    ns: &str,
    name: &str,
    store_kind: &str,
    store: &str,
    target: &str,
) -> Value {
    json!({
        "apiVersion": api_version, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": ns},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": store_kind, "name": store},
            "target": {"name": target},
            "data": [{"secretKey": "password", "remoteRef": {"key": name}}]
        }
    })
}

pub fn store_status(ready: bool, reason: &str) -> Value {
    json!({"conditions": [{
        "type": "Ready", "status": if ready {"True"} else {"False"}, "reason": reason,
        "message": if ready {"store validated"} else {"unable to validate store"},
        "lastTransitionTime": ago(300)
    }], "capabilities": "ReadWrite"})
}

pub fn es_status(ready: bool, refresh_time: &str) -> Value {
    let (status, reason, message) = if ready {
        ("True", "SecretSynced", "secret synced")
    } else {
        (
            "False",
            "SecretSyncedError",
            "could not get secret data from provider",
        )
    };
    json!({
        "refreshTime": refresh_time,
        "syncedResourceVersion": "1-abc",
        "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": refresh_time}]
    })
}

/// The target Secret ESO would write, owned by `es` (the stored ExternalSecret), holding `value`.
pub fn owned_secret(es: &Value, target: &str, secret_type: &str, key: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": target, "namespace": es["metadata"]["namespace"],
            "labels": {"reconcile.external-secrets.io/managed": "true"},
            "annotations": {"reconcile.external-secrets.io/data-hash": "0123abcd"},
            "ownerReferences": [{
                "apiVersion": es["apiVersion"], "kind": "ExternalSecret", "name": es["metadata"]["name"],
                "uid": es["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
            }]
        },
        "type": secret_type,
        "data": {key: b64(value)}
    })
}

/// A core/v1 Warning Event, reason UpdateFailed, about the stored ExternalSecret `es`.
pub fn update_failed_event(es: &Value, message: &str, at: &str) -> Value {
    let name = es["metadata"]["name"].as_str().unwrap_or("es");
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{}", uuid_like()), "namespace": es["metadata"]["namespace"]},
        "involvedObject": {
            "apiVersion": es["apiVersion"], "kind": "ExternalSecret", "name": name,
            "namespace": es["metadata"]["namespace"], "uid": es["metadata"]["uid"],
            "resourceVersion": es["metadata"]["resourceVersion"]
        },
        "reason": "UpdateFailed", "message": message, "type": "Warning",
        "source": {"component": "external-secrets"},
        "firstTimestamp": at, "lastTimestamp": at, "count": 1,
        "reportingComponent": "external-secrets", "reportingInstance": ""
    })
}

pub const AKV_EXPIRED: &str = "unable to create client: AADSTS7000222: The provided client secret keys \
    for app '00000000-1111-2222-3333-444444444444' are expired.";

/// A Warning Event about a store, where ESO records it (`default` for a ClusterSecretStore).
pub fn store_event(store: &Value, message: &str, at: &str) -> Value {
    let ns = store["metadata"]["namespace"].as_str().unwrap_or("default");
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{}.{}", store["metadata"]["name"].as_str().unwrap_or("store"), uuid_like()), "namespace": ns},
        "involvedObject": {"apiVersion": store["apiVersion"], "kind": store["kind"], "name": store["metadata"]["name"],
            "namespace": store["metadata"]["namespace"], "uid": store["metadata"]["uid"]},
        "reason": "InvalidProviderConfig", "message": message, "type": "Warning",
        "source": {"component": "external-secrets"}, "firstTimestamp": at, "lastTimestamp": at, "count": 1
    })
}

/// One ExternalSecret with its status and (optionally) its owned target Secret; returns it.
pub fn seed_es(
    c: &Cluster,
    api_version: &str,
    (ns, name): (&str, &str),
    store: (&str, &str),
    target: &str,
    ready: bool,
    secret_value: Option<&str>,
) -> Value {
    let es = c.create(external_secret(
        api_version,
        ns,
        name,
        store.0,
        store.1,
        target,
    ));
    let es = c.set_status(&es, es_status(ready, &ago(30)));
    if let Some(v) = secret_value {
        c.create(owned_secret(&es, target, "Opaque", "password", v));
    }
    es
}

pub const VAULT_403: &str = "error processing spec.data[0] (key: registry-creds/order-service), err: \
    Error making API request.\n\nURL: GET https://vault.internal:8200/v1/registry-creds/data/order-service\n\
    Code: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n\n";

/// Incident A: ClusterSecretStore akv-hybridops not ready; its ExternalSecrets fail in netbox,
/// grafana and awx. A healthy Vault store in prod for contrast. Returns the canaries.
pub fn seed_incident_a(c: &Cluster, api_version: &str) -> Vec<String> {
    c.namespaces(&["netbox", "grafana", "awx", "prod", "external-secrets"]);
    let mut canaries = Vec::new();
    c.namespaces(&["default"]);
    let css = c.create(cluster_secret_store(api_version, "akv-hybridops"));
    let css = c.set_status(&css, store_status(false, "InvalidProviderConfig"));
    c.create(store_event(&css, AKV_EXPIRED, &ago(3)));
    let ss = c.create(vault_secret_store(api_version, "prod", "vault"));
    c.set_status(&ss, store_status(true, "Valid"));
    let sp = canary("sp");
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "akv-sp-credentials", "namespace": "external-secrets"},
        "type": "Opaque", "data": {"client-id": b64("app-id"), "client-secret": b64(&sp)}}));
    canaries.push(sp);
    for (ns, name) in [
        ("netbox", "netbox-db-password"),
        ("grafana", "grafana-admin"),
        ("awx", "awx-db"),
    ] {
        let v = canary(name);
        let target = format!("{name}-secret");
        let es = seed_es(
            c,
            api_version,
            (ns, name),
            ("ClusterSecretStore", "akv-hybridops"),
            &target,
            false,
            Some(&v),
        );
        c.create(update_failed_event(
            &es,
            "ClusterSecretStore \"akv-hybridops\" is not ready",
            &ago(10),
        ));
        canaries.push(v);
    }
    let v = canary("prod-ok");
    seed_es(
        c,
        api_version,
        ("prod", "payment-db"),
        ("SecretStore", "vault"),
        "payment-db",
        true,
        Some(&v),
    );
    canaries.push(v);
    canaries
}

/// Incident B: prod/order-service-regcred fails with Vault's 403 on a ready store whose other
/// ExternalSecrets are fine; deployment/order-service pulls with regcred-order-service.
pub fn seed_incident_b(c: &Cluster, api_version: &str) -> Vec<String> {
    c.namespaces(&["prod", "external-secrets"]);
    let mut canaries = Vec::new();
    let ss = c.create(vault_secret_store(api_version, "prod", "vault"));
    c.set_status(&ss, store_status(true, "Valid"));
    for name in ["payment-db", "inventory-db", "user-db"] {
        let v = canary(name);
        seed_es(
            c,
            api_version,
            ("prod", name),
            ("SecretStore", "vault"),
            name,
            true,
            Some(&v),
        );
        canaries.push(v);
    }
    let es = c.create(external_secret(
        api_version,
        "prod",
        "order-service-regcred",
        "SecretStore",
        "vault",
        "regcred-order-service",
    ));
    // Last good sync four hours ago, refresh 1h: the pull secret is stale.
    let es = c.set_status(&es, es_status(false, &ago(240)));
    let password = canary("regcred");
    let auth = b64(&format!("order-service:{password}"));
    let dockerconfig = format!(
        r#"{{"auths":{{"registry.internal:5000":{{"username":"order-service","password":"{password}","auth":"{auth}"}}}}}}"#
    );
    c.create(owned_secret(
        &es,
        "regcred-order-service",
        "kubernetes.io/dockerconfigjson",
        ".dockerconfigjson",
        &dockerconfig,
    ));
    c.create(update_failed_event(
        &es,
        "older: connection refused",
        &ago(200),
    ));
    c.create(update_failed_event(&es, VAULT_403, &ago(5)));
    canaries.push(password);
    c.create(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "order-service", "namespace": "prod", "labels": {"app": "order-service"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "order-service"}},
            "template": {
                "metadata": {"labels": {"app": "order-service"},
                    "annotations": {"sandbox.kubectl-eso.io/pod-state": "ImagePullBackOff"}},
                "spec": {
                    "imagePullSecrets": [{"name": "regcred-order-service"}],
                    "containers": [{"name": "app", "image": "registry.internal:5000/order-service:1.4.2",
                        "envFrom": [{"secretRef": {"name": "payment-db"}}]}]
                }
            }
        }
    }));
    canaries
}

/// Every secret value a sandbox holds, for leak tests: the scenario's canaries, every Secret data value (as
/// stored in base64, and decoded), and the `auth` / `password` inside dockerconfigjson payloads. Identifiers
/// are not secrets (Entra's own errors name the client id; usernames are shown on purpose).
#[cfg(feature = "sandbox")]
pub fn sandbox_secret_values(sandbox: &eso_sandbox::Sandbox) -> Vec<String> {
    use base64::engine::general_purpose::STANDARD;
    let mut out = sandbox.canaries();
    for secret in sandbox.api().store().list("v1", "Secret", None) {
        // ESO's data-hash annotation is an unkeyed hash of the values: it must not be printed either.
        if let Some(h) =
            secret["metadata"]["annotations"]["reconcile.external-secrets.io/data-hash"].as_str()
        {
            out.push(h.to_string());
        }
        for (key, v) in secret["data"].as_object().into_iter().flatten() {
            let k = key.to_ascii_lowercase().replace(['-', '_'], "");
            if ["clientid", "tenantid", "username", "user"].contains(&k.as_str()) {
                continue;
            }
            let Some(b64) = v.as_str() else { continue };
            if b64.len() >= 8 {
                out.push(b64.to_string());
            }
            let Ok(plain) = STANDARD.decode(b64) else {
                continue;
            };
            let plain = String::from_utf8_lossy(&plain).into_owned();
            if let Ok(cfg) = serde_json::from_str::<Value>(&plain) {
                for (_, entry) in cfg["auths"].as_object().into_iter().flatten() {
                    for field in ["auth", "password"] {
                        if let Some(s) = entry[field].as_str() {
                            out.push(s.to_string());
                        }
                    }
                }
            }
            if plain.len() >= 8 {
                out.push(plain);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asserts none of `values` appears in the output, as is or base64-encoded (standard and URL-safe).
pub fn assert_no_leak(o: &Output, values: &[String], what: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for v in values {
        let forms = [
            v.clone(),
            base64::engine::general_purpose::STANDARD.encode(v),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v),
        ];
        for form in forms {
            assert!(
                !all.contains(&form),
                "{what}: a secret value leaked ({} chars) in:\n{all}",
                form.len()
            );
        }
    }
}

/// Every printable form of a secret value the leak tests of issue 18 search for: as is, base64
/// (standard and URL-safe), hex, SHA-256 hex, URL-encoded, and — for token-like values of 12+
/// characters — the first 8 characters (a value cut for display is still a leak).
pub fn secret_forms(v: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut forms = vec![
        v.to_string(),
        STANDARD.encode(v),
        URL_SAFE_NO_PAD.encode(v),
        hex(v.as_bytes()),
        hex(ring::digest::digest(&ring::digest::SHA256, v.as_bytes()).as_ref()),
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string(),
    ];
    // A prefix is only a leak signal for values that look random: a prefix of "postgres://…"
    // is an ordinary word.
    let head: String = v.chars().take(8).collect();
    let token_like = v.chars().count() >= 12
        && head.chars().any(|c| c.is_ascii_digit())
        && head.chars().any(|c| c.is_ascii_alphabetic());
    if token_like {
        forms.push(head);
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Asserts none of `values` appears in stdout or stderr in any of its [`secret_forms`].
pub fn assert_no_secret_form(o: &Output, values: &[String], what: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for v in values {
        for form in secret_forms(v) {
            if let Some(at) = all.find(&form) {
                let from = all[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
                let to = (at + form.len() + 80).min(all.len());
                let to = (to..=all.len())
                    .find(|&i| all.is_char_boundary(i))
                    .unwrap_or(all.len());
                panic!(
                    "{what}: a secret value leaked (a {}-char form of a {}-char value) here:\n…{}…",
                    form.len(),
                    v.len(),
                    &all[from..to]
                );
            }
        }
    }
}

/// Everything secret a sandbox holds or handed out at run time (issue 18): every Secret data
/// value of 6+ characters, decoded (client ids and usernames included), the fields inside
/// dockerconfigjson payloads, the scenario's canaries, every ServiceAccount token the simulated
/// apiserver minted (TokenRequest JWTs), every Vault token and accessor, and the kubeconfig's
/// bearer token. Call it after the runs: tokens minted during them are only known then.
#[cfg(feature = "sandbox")]
pub fn sandbox_run_time_secrets(sandbox: &eso_sandbox::Sandbox) -> Vec<String> {
    use base64::engine::general_purpose::STANDARD;
    let mut out = sandbox.canaries();
    out.push(sandbox.api().admin_token());
    out.extend(sandbox.api().issued_tokens());
    out.extend(sandbox.vault().issued_tokens());
    // The AWS region's access keys, session tokens and values (issue 15).
    out.extend(sandbox.aws().map(|a| a.sensitive()).unwrap_or_default());
    for secret in sandbox.api().store().list("v1", "Secret", None) {
        for (_, v) in secret["data"].as_object().into_iter().flatten() {
            let Some(plain) = v.as_str().and_then(|b| STANDARD.decode(b).ok()) else {
                continue;
            };
            let Ok(plain) = String::from_utf8(plain) else {
                continue;
            };
            if let Ok(cfg) = serde_json::from_str::<Value>(&plain) {
                for (_, entry) in cfg["auths"].as_object().into_iter().flatten() {
                    for field in ["auth", "password", "username"] {
                        if let Some(s) = entry[field].as_str() {
                            out.push(s.to_string());
                        }
                    }
                }
            }
            out.push(plain.trim().to_string());
        }
    }
    // The tool's documented exception (docs/security.md): a value inside an object's name or
    // spec — a registry username equal to the app's name — is an identifier it prints on purpose.
    let mut public: Vec<String> = Vec::new();
    let store = sandbox.api().store();
    for (api, kind) in [
        ("external-secrets.io/v1", "ExternalSecret"),
        ("external-secrets.io/v1", "SecretStore"),
        ("external-secrets.io/v1", "ClusterSecretStore"),
        ("external-secrets.io/v1", "ClusterExternalSecret"),
        ("v1", "Secret"),
    ] {
        for o in store.list(api, kind, None) {
            let meta = &o["metadata"];
            public.extend(
                [&meta["name"], &meta["namespace"]]
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
            if kind != "Secret" {
                json_strings(&o["spec"], &mut public);
            }
        }
    }
    out.retain(|v| v.len() >= 6 && !public.iter().any(|p| p.contains(v.as_str())));
    out.sort();
    out.dedup();
    out
}

fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// kube-sim validates against ESO v2.9.0's schemas: fields a newer ESO has (`runtimeRef`, new
/// generator or status fields) are pruned or refused. Loosens the named CRDs' `parts` (`spec`,
/// `status`) as a newer ESO's schemas would accept them.
pub fn loosen_crds(c: &Cluster, names: &[&str], parts: &[&str]) {
    let store = c.api.store();
    for name in names {
        let mut crd = store
            .get(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                name,
            )
            .unwrap_or_else(|| panic!("no CRD {name}"));
        for v in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
            let props = &mut v["schema"]["openAPIV3Schema"]["properties"];
            for part in parts {
                if let Some(o) = props[*part].as_object_mut() {
                    o.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                    o.remove("required");
                }
            }
        }
        store
            .replace(crd)
            .unwrap_or_else(|e| panic!("replace CRD {name}: {e:?}"));
    }
}

/// The SecretStore CRD's spec loosened: ESO v2.9.0's schema does not know `runtimeRef`.
pub fn loosen_secret_store_crd(c: &Cluster) {
    loosen_crds(c, &["secretstores.external-secrets.io"], &["spec"]);
}

/// The ProviderClass CRD as ESO's design describes it: namespaced, `spec.address`, a status.
pub fn provider_class_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "providerclasses.external-secrets.io"},
        "spec": {"group": "external-secrets.io", "scope": "Namespaced",
            "names": {"kind": "ProviderClass", "plural": "providerclasses",
                "singular": "providerclass", "listKind": "ProviderClassList"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

/// Runs `job` on every item, two at a time (the machines have two cores), each on its own
/// runtime; every panic is caught and returned as `item: message`, so one failure does not hide
/// the others.
pub fn two_at_a_time<T, F, Fut>(items: Vec<T>, job: F) -> Vec<String>
where
    T: std::fmt::Display + Send + Copy,
    F: Fn(T) -> Fut + Sync,
    Fut: std::future::Future<Output = ()>,
{
    let queue = std::sync::Mutex::new(items);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|threads| {
        for _ in 0..2 {
            threads.spawn(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("runtime: {e}"));
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or_default();
                    let Some(item) = next else { break };
                    let run = std::panic::AssertUnwindSafe(|| runtime.block_on(job(item)));
                    if let Err(e) = std::panic::catch_unwind(run) {
                        let why = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        if let Ok(mut f) = failures.lock() {
                            f.push(format!("{item}: {why}"));
                        }
                    }
                }
            });
        }
    });
    failures.into_inner().unwrap_or_default()
}

/// A sandbox serving SCENARIO in the background (`kubectl-eso sandbox --scenario SCENARIO
/// --kubeconfig-out F`), returned once F exists — the API answers — within 90 s; its stdout and
/// stderr piped (`piped`) or dropped. The TempDir holds F.
pub fn serve_sandbox(
    scenario: &str,
    env: &[(&str, &str)],
    piped: bool,
) -> (std::process::Child, TempDir, PathBuf) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let kubeconfig = dir.path().join("sandbox.kubeconfig");
    let stdio = || if piped { Stdio::piped() } else { Stdio::null() };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-eso"))
        .args(["sandbox", "--scenario", scenario, "--kubeconfig-out"])
        .arg(&kubeconfig)
        .envs(env.iter().copied())
        .env_remove("KUBECONFIG")
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    // The kubeconfig appears only once the API answers.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig after 90 s");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sandbox exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, dir, kubeconfig)
}
