//! The contract between the in-process Vault and the real thing: the same setup and queries run
//! against OpenBao 2.7.2 (`bao server -dev`) and against `VaultSim`, and every answer must match in
//! status, error text and JSON shape, field for field (ids, tokens, accessors and timestamps are
//! compared by type only). Covers reference incident B: the ESO role loses `eso-order-service`.

#[path = "vault_common.rs"]
mod common;

use common::{Bao, TokenReviewStub, call};
use eso_sandbox::vault::{VaultAdmin, VaultSim};
use serde_json::{Map, Value, json};

/// Keys whose values differ between any two servers (random ids, clocks); only their JSON type is compared.
const VOLATILE: &[&str] = &[
    "request_id",
    "client_token",
    "accessor",
    "entity_id",
    "id",
    "created_time",
    "deletion_time",
    "updated_time",
    "modified",
    "issue_time",
    "expire_time",
    "creation_time",
    "uuid",
    "server_time_utc",
    "cluster_name",
    "cluster_id",
    "role_id",
    "secret_id",
    "secret_id_accessor",
    "ttl",
    "service_account_uid",
];

const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
const ESO_POLICIES: [&str; 5] = [
    "eso-default",
    "eso-order-service",
    "eso-payment-service",
    "eso-inventory-service",
    "eso-user-service",
];
const ORDER_POLICY: &str = "path \"registry-creds/creds/order-service\" {\n  capabilities = [\"read\"]\n}\npath \"registry-creds/data/order-service\" {\n  capabilities = [\"read\"]\n}\n";
const WILD_POLICY: &str = "path \"registry-creds/data/team-*\" { capabilities = [\"read\", \"list\"] }\npath \"registry-creds/+/shared\" { capabilities = [\"read\"] }\npath \"registry-creds/data/team-secret\" { capabilities = [\"deny\"] }\n";

/// Service-account JWTs the scenario logs in with; the same tokens go to both servers.
struct Jwts {
    k8s_url: String,
    ca_pem: String,
    eso: String,
    other_name: String,
    other_namespace: String,
}

#[derive(Default)]
struct Transcript {
    steps: Vec<(String, u16, Value)>,
}

impl Transcript {
    async fn call(
        &mut self,
        label: &str,
        addr: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, json) = call(addr, method, path, token, body).await;
        self.steps.push((label.to_string(), status, json.clone()));
        json
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn secret(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

/// The whole sequence, identical for both servers.
async fn scenario(addr: &str, jwts: &Jwts) -> anyhow::Result<Transcript> {
    let mut t = Transcript::default();
    let root = Some("root");
    let admin = VaultAdmin::new(addr, "root")?;
    t.call("health", addr, "GET", "sys/health", None, None)
        .await;

    admin.enable_kv("registry-creds", 2).await?;
    admin.enable_kv("kv1", 1).await?;
    t.call(
        "enable mount twice",
        addr,
        "POST",
        "sys/mounts/kv1",
        root,
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    )
    .await;
    admin
        .kv_put(
            "registry-creds",
            "order-service",
            &secret(&[("username", "order"), ("password", "canary-v1")]),
        )
        .await?;
    t.call(
        "kv2 write",
        addr,
        "POST",
        "registry-creds/data/order-service",
        root,
        Some(json!({"data": {"username": "order", "password": "canary-v2"}})),
    )
    .await;
    t.call(
        "kv2 write without data",
        addr,
        "POST",
        "registry-creds/data/order-service",
        root,
        Some(json!({"username": "x"})),
    )
    .await;
    admin
        .kv_put("kv1", "app", &secret(&[("token", "canary-kv1")]))
        .await?;
    t.call(
        "kv1 write",
        addr,
        "PUT",
        "kv1/raw",
        root,
        Some(json!({"k": "canary-raw"})),
    )
    .await;
    t.call("kv1 list", addr, "LIST", "kv1/", root, None).await;
    t.call(
        "kv2 read latest",
        addr,
        "GET",
        "registry-creds/data/order-service",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 read version 1",
        addr,
        "GET",
        "registry-creds/data/order-service?version=1",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 read missing version",
        addr,
        "GET",
        "registry-creds/data/order-service?version=9",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 metadata",
        addr,
        "GET",
        "registry-creds/metadata/order-service",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 list",
        addr,
        "LIST",
        "registry-creds/metadata/",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 missing secret",
        addr,
        "GET",
        "registry-creds/data/missing",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 missing metadata",
        addr,
        "GET",
        "registry-creds/metadata/missing",
        root,
        None,
    )
    .await;
    t.call("kv1 read", addr, "GET", "kv1/app", root, None).await;
    t.call("kv1 missing", addr, "GET", "kv1/missing", root, None)
        .await;
    t.call("no such mount", addr, "GET", "nope/x", root, None)
        .await;

    t.call(
        "ui mount kv2",
        addr,
        "GET",
        "sys/internal/ui/mounts/registry-creds/data/order-service",
        root,
        None,
    )
    .await;
    t.call(
        "ui mount kv1",
        addr,
        "GET",
        "sys/internal/ui/mounts/kv1/app",
        root,
        None,
    )
    .await;
    t.call(
        "ui mount unknown",
        addr,
        "GET",
        "sys/internal/ui/mounts/nope/x",
        root,
        None,
    )
    .await;
    t.call(
        "ui mount no token",
        addr,
        "GET",
        "sys/internal/ui/mounts/kv1/app",
        None,
        None,
    )
    .await;
    t.call("mounts", addr, "GET", "sys/mounts", root, None)
        .await;
    t.call(
        "mount one",
        addr,
        "GET",
        "sys/mounts/registry-creds",
        root,
        None,
    )
    .await;

    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    admin.put_policy("eso-wild", WILD_POLICY).await?;
    t.call(
        "policy read",
        addr,
        "GET",
        "sys/policies/acl/eso-order-service",
        root,
        None,
    )
    .await;
    t.call(
        "policy read legacy",
        addr,
        "GET",
        "sys/policy/eso-order-service",
        root,
        None,
    )
    .await;
    t.call(
        "policy read root",
        addr,
        "GET",
        "sys/policies/acl/root",
        root,
        None,
    )
    .await;
    t.call(
        "policy read default",
        addr,
        "GET",
        "sys/policies/acl/default",
        root,
        None,
    )
    .await;
    t.call("policy list", addr, "LIST", "sys/policies/acl", root, None)
        .await;
    t.call("policy list legacy", addr, "GET", "sys/policy", root, None)
        .await;
    t.call(
        "policy missing",
        addr,
        "GET",
        "sys/policies/acl/nope",
        root,
        None,
    )
    .await;
    t.call(
        "policy bad capability",
        addr,
        "PUT",
        "sys/policies/acl/bad",
        root,
        Some(json!({"policy": "path \"x\" { capabilities = [\"reed\"] }"})),
    )
    .await;
    t.call(
        "policy empty",
        addr,
        "PUT",
        "sys/policies/acl/bad",
        root,
        Some(json!({"policy": ""})),
    )
    .await;
    t.call(
        "policy write legacy",
        addr,
        "PUT",
        "sys/policy/legacy",
        root,
        Some(json!({"rules": "path \"kv1/*\" { capabilities = [\"list\"] }"})),
    )
    .await;
    t.call(
        "policy delete legacy",
        addr,
        "DELETE",
        "sys/policy/legacy",
        root,
        None,
    )
    .await;
    t.call(
        "policy delete missing",
        addr,
        "DELETE",
        "sys/policies/acl/nope",
        root,
        None,
    )
    .await;
    t.call(
        "policy delete default",
        addr,
        "DELETE",
        "sys/policies/acl/default",
        root,
        None,
    )
    .await;

    let created = t
        .call(
            "token create",
            addr,
            "POST",
            "auth/token/create",
            root,
            Some(json!({"policies": ["eso-order-service", "eso-wild"], "ttl": "1h"})),
        )
        .await;
    t.call(
        "token create missing policies",
        addr,
        "POST",
        "auth/token/create",
        root,
        Some(json!({"policies": ["zeta", "alpha"], "ttl": "10m", "meta": {"team": "x"}})),
    )
    .await;
    t.call(
        "token create bad ttl",
        addr,
        "POST",
        "auth/token/create",
        root,
        Some(json!({"ttl": "bogus"})),
    )
    .await;
    let token = text(&created, "/auth/client_token");
    let tok = Some(token.as_str());
    t.call(
        "lookup-self root",
        addr,
        "GET",
        "auth/token/lookup-self",
        root,
        None,
    )
    .await;
    t.call(
        "lookup-self token",
        addr,
        "GET",
        "auth/token/lookup-self",
        tok,
        None,
    )
    .await;
    t.call(
        "lookup-self no token",
        addr,
        "GET",
        "auth/token/lookup-self",
        None,
        None,
    )
    .await;
    t.call(
        "lookup-self bad token",
        addr,
        "GET",
        "auth/token/lookup-self",
        Some("s.notarealtoken"),
        None,
    )
    .await;
    let paths = json!({"paths": [
        "registry-creds/data/order-service", "registry-creds/creds/order-service", "registry-creds/data/payment-service",
        "registry-creds/data/team-a", "registry-creds/data/team-secret", "registry-creds/metadata/shared",
        "registry-creds/data/team-a/nested", "sys/capabilities-self", "auth/token/lookup-self", "cubbyhole/x", "secret/data/x",
    ]});
    t.call(
        "capabilities many",
        addr,
        "POST",
        "sys/capabilities-self",
        tok,
        Some(paths),
    )
    .await;
    t.call(
        "capabilities one",
        addr,
        "POST",
        "sys/capabilities-self",
        tok,
        Some(json!({"paths": ["registry-creds/data/order-service"]})),
    )
    .await;
    t.call(
        "capabilities path",
        addr,
        "POST",
        "sys/capabilities-self",
        tok,
        Some(json!({"path": "registry-creds/data/other"})),
    )
    .await;
    t.call(
        "capabilities no paths",
        addr,
        "POST",
        "sys/capabilities-self",
        tok,
        Some(json!({})),
    )
    .await;
    t.call(
        "capabilities comma list",
        addr,
        "POST",
        "sys/capabilities-self",
        tok,
        Some(json!({"paths": "kv1/a,registry-creds/data/team-b"})),
    )
    .await;
    t.call(
        "capabilities root",
        addr,
        "POST",
        "sys/capabilities-self",
        root,
        Some(json!({"paths": ["a/b"]})),
    )
    .await;
    t.call(
        "token read allowed",
        addr,
        "GET",
        "registry-creds/data/order-service",
        tok,
        None,
    )
    .await;
    t.call(
        "token read denied",
        addr,
        "GET",
        "registry-creds/data/payment-service",
        tok,
        None,
    )
    .await;
    t.call(
        "token metadata denied",
        addr,
        "GET",
        "registry-creds/metadata/order-service",
        tok,
        None,
    )
    .await;
    t.call(
        "token write denied",
        addr,
        "POST",
        "registry-creds/data/order-service",
        tok,
        Some(json!({"data": {"a": "b"}})),
    )
    .await;
    t.call(
        "token ui mount allowed",
        addr,
        "GET",
        "sys/internal/ui/mounts/registry-creds/data/order-service",
        tok,
        None,
    )
    .await;
    t.call(
        "token ui mount denied",
        addr,
        "GET",
        "sys/internal/ui/mounts/kv1/app",
        tok,
        None,
    )
    .await;
    t.call("token unknown mount", addr, "GET", "nope/x", tok, None)
        .await;
    t.call(
        "read no token",
        addr,
        "GET",
        "registry-creds/data/order-service",
        None,
        None,
    )
    .await;
    t.call(
        "read bad token",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some("s.notarealtoken"),
        None,
    )
    .await;

    admin.enable_auth("approle", "approle").await?;
    let (role_id, secret_id) = admin
        .put_approle_role("approle", "eso", &["eso-order-service"])
        .await?;
    t.call(
        "approle role read",
        addr,
        "GET",
        "auth/approle/role/eso",
        root,
        None,
    )
    .await;
    t.call(
        "approle legacy role",
        addr,
        "POST",
        "auth/approle/role/legacy",
        root,
        Some(json!({"policies": ["b", "a"]})),
    )
    .await;
    t.call(
        "approle legacy role read",
        addr,
        "GET",
        "auth/approle/role/legacy",
        root,
        None,
    )
    .await;
    t.call(
        "approle role missing",
        addr,
        "GET",
        "auth/approle/role/nope/role-id",
        root,
        None,
    )
    .await;
    t.call(
        "approle secret-id",
        addr,
        "POST",
        "auth/approle/role/eso/secret-id",
        root,
        Some(json!({})),
    )
    .await;
    let login = t
        .call(
            "approle login",
            addr,
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await;
    t.call(
        "approle login wrong secret",
        addr,
        "POST",
        "auth/approle/login",
        None,
        Some(json!({"role_id": role_id, "secret_id": "wrong"})),
    )
    .await;
    t.call(
        "approle login no role_id",
        addr,
        "POST",
        "auth/approle/login",
        None,
        Some(json!({})),
    )
    .await;
    let approle_token = text(&login, "/auth/client_token");
    t.call(
        "approle token reads",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some(&approle_token),
        None,
    )
    .await;
    t.call(
        "approle lookup-self",
        addr,
        "GET",
        "auth/token/lookup-self",
        Some(&approle_token),
        None,
    )
    .await;

    kubernetes_auth(&mut t, addr, &admin, jwts).await?;

    t.call(
        "kv2 delete latest",
        addr,
        "DELETE",
        "registry-creds/data/order-service",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 read deleted",
        addr,
        "GET",
        "registry-creds/data/order-service",
        root,
        None,
    )
    .await;
    t.call(
        "kv2 delete versions",
        addr,
        "POST",
        "registry-creds/delete/order-service",
        root,
        Some(json!({"versions": [1]})),
    )
    .await;
    t.call(
        "kv2 metadata after delete",
        addr,
        "GET",
        "registry-creds/metadata/order-service",
        root,
        None,
    )
    .await;
    t.call("auth mounts", addr, "GET", "sys/auth", root, None)
        .await;
    Ok(t)
}

/// Kubernetes auth and reference incident B: the ESO role's policy `eso-order-service` is deleted,
/// login still works but the read is denied; recreating the policy fixes it.
async fn kubernetes_auth(
    t: &mut Transcript,
    addr: &str,
    admin: &VaultAdmin,
    jwts: &Jwts,
) -> anyhow::Result<()> {
    let root = Some("root");
    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &jwts.k8s_url, Some(&jwts.ca_pem))
        .await?;
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["external-secrets"],
            &["external-secrets"],
            &ESO_POLICIES,
            Some("vault"),
        )
        .await?;
    t.call(
        "k8s config read",
        addr,
        "GET",
        "auth/kubernetes/config",
        root,
        None,
    )
    .await;
    t.call(
        "k8s role read",
        addr,
        "GET",
        "auth/kubernetes/role/external-secrets-operator",
        root,
        None,
    )
    .await;
    let legacy_role = json!({"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"], "policies": ["z", "y"]});
    t.call(
        "k8s legacy role",
        addr,
        "POST",
        "auth/kubernetes/role/legacy",
        root,
        Some(legacy_role),
    )
    .await;
    t.call(
        "k8s legacy role read",
        addr,
        "GET",
        "auth/kubernetes/role/legacy",
        root,
        None,
    )
    .await;
    t.call(
        "k8s role without names",
        addr,
        "POST",
        "auth/kubernetes/role/bad",
        root,
        Some(json!({"policies": ["p"]})),
    )
    .await;
    let login_body = |jwt: &str| Some(json!({"role": "external-secrets-operator", "jwt": jwt}));
    let login = t
        .call(
            "k8s login",
            addr,
            "POST",
            "auth/kubernetes/login",
            None,
            login_body(&jwts.eso),
        )
        .await;
    let token = text(&login, "/auth/client_token");
    t.call(
        "k8s token lookup-self",
        addr,
        "GET",
        "auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    t.call(
        "k8s token reads",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some(&token),
        None,
    )
    .await;
    t.call(
        "k8s login sa not bound",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        login_body(&jwts.other_name),
    )
    .await;
    t.call(
        "k8s login namespace not bound",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        login_body(&jwts.other_namespace),
    )
    .await;
    t.call(
        "k8s login garbage jwt",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        login_body("not-a-jwt"),
    )
    .await;
    t.call(
        "k8s login unknown role",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        Some(json!({"role": "nope", "jwt": jwts.eso})),
    )
    .await;
    t.call(
        "k8s login missing jwt",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        Some(json!({"role": "external-secrets-operator"})),
    )
    .await;
    t.call(
        "k8s login missing role",
        addr,
        "POST",
        "auth/kubernetes/login",
        None,
        Some(json!({"jwt": jwts.eso})),
    )
    .await;

    admin.delete_policy("eso-order-service").await?;
    t.call(
        "incident B: old token read denied",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some(&token),
        None,
    )
    .await;
    let relogin = t
        .call(
            "incident B: login still works",
            addr,
            "POST",
            "auth/kubernetes/login",
            None,
            login_body(&jwts.eso),
        )
        .await;
    let token2 = text(&relogin, "/auth/client_token");
    t.call(
        "incident B: new token read denied",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some(&token2),
        None,
    )
    .await;
    t.call(
        "incident B: capabilities deny",
        addr,
        "POST",
        "sys/capabilities-self",
        Some(&token2),
        Some(json!({"paths": ["registry-creds/data/order-service"]})),
    )
    .await;
    t.call(
        "incident B: policy gone",
        addr,
        "GET",
        "sys/policies/acl/eso-order-service",
        root,
        None,
    )
    .await;
    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    t.call(
        "incident B: fixed",
        addr,
        "GET",
        "registry-creds/data/order-service",
        Some(&token2),
        None,
    )
    .await;
    Ok(())
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) {
                        type_only(v)
                    } else {
                        normalize(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn type_only(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Bool(_) => json!("<bool>"),
        Value::Number(_) => json!("<number>"),
        Value::String(_) => json!("<string>"),
        other => normalize(other),
    }
}

/// Every place two normalised bodies differ, as `pointer: real=... sim=...`.
fn differences(path: &str, real: &Value, sim: &Value, out: &mut Vec<String>) {
    match (real, sim) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let p = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(&p, x, y, out),
                    (x, y) => out.push(format!("{p}: real={} sim={}", show(x), show(y))),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}/{i}"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: real={a} sim={b}")),
        _ => {}
    }
}

fn show(v: Option<&Value>) -> String {
    v.map(Value::to_string).unwrap_or_else(|| "(absent)".into())
}

fn compare(real: &Transcript, sim: &Transcript) -> Vec<String> {
    let mut out = Vec::new();
    assert_eq!(
        real.steps.len(),
        sim.steps.len(),
        "both runs must make the same calls"
    );
    for ((label, rs, rb), (_, ss, sb)) in real.steps.iter().zip(&sim.steps) {
        if rs != ss {
            out.push(format!("[{label}] status: real={rs} sim={ss}"));
        }
        let mut diffs = Vec::new();
        differences("", &normalize(rb), &normalize(sb), &mut diffs);
        out.extend(diffs.into_iter().map(|d| format!("[{label}] {d}")));
    }
    out
}

async fn run_contract(jwts: &Jwts) -> anyhow::Result<()> {
    let Some(bao) = Bao::start().await else {
        return Ok(());
    };
    let sim = VaultSim::start("root").await?;
    let real = scenario(&bao.addr, jwts).await?;
    let simulated = scenario(&sim.addr(), jwts).await?;
    sim.shutdown().await;
    // Guard against a scenario that silently stopped exercising the servers.
    assert!(
        real.steps.iter().filter(|(_, s, _)| *s == 200).count() > 30,
        "too few successful calls against OpenBao"
    );
    let login = real.steps.iter().find(|(l, _, _)| l == "k8s login");
    assert!(
        matches!(login, Some((_, 200, _))),
        "kubernetes login failed against OpenBao: {:?}",
        login.map(|(_, s, b)| (s, b.get("errors")))
    );
    let diffs = compare(&real, &simulated);
    assert!(
        diffs.is_empty(),
        "VaultSim differs from OpenBao in {} places:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_matches_openbao_with_tokenreview_stub() -> anyhow::Result<()> {
    let stub = TokenReviewStub::start().await;
    let jwts = Jwts {
        k8s_url: stub.url.clone(),
        ca_pem: stub.ca_pem.clone(),
        eso: stub.mint("external-secrets", "external-secrets", &["vault"]),
        other_name: stub.mint("external-secrets", "other", &["vault"]),
        other_namespace: stub.mint("other", "external-secrets", &["vault"]),
    };
    run_contract(&jwts).await
}

#[test]
fn the_comparison_catches_a_shape_difference() {
    let mut real = Transcript::default();
    let mut sim = Transcript::default();
    real.steps.push((
        "x".into(),
        200,
        json!({"request_id": "a", "data": {"n": 1, "s": "x"}}),
    ));
    sim.steps.push((
        "x".into(),
        200,
        json!({"request_id": "b", "data": {"n": "1"}}),
    ));
    let diffs = compare(&real, &sim);
    assert_eq!(
        diffs,
        vec![
            "[x] /data/n: real=1 sim=\"1\"".to_string(),
            "[x] /data/s: real=\"x\" sim=(absent)".to_string()
        ]
    );
}

/// Service-account tokens from the simulated API server, whose TokenReview then vouches for them.
async fn kube_sim_jwts(api: &kube_sim::ApiServer) -> anyhow::Result<Jwts> {
    let store = api.store();
    for ns in ["external-secrets", "other"] {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        // Already present is fine: only the ServiceAccounts below matter.
        let _ = store.create(namespace);
    }
    let pairs = [
        ("external-secrets", "external-secrets"),
        ("external-secrets", "other"),
        ("other", "external-secrets"),
    ];
    let mut tokens = Vec::new();
    for (ns, name) in pairs {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}});
        let _ = store.create(sa);
        // The bearer of Vault's TokenReview is the client's own JWT, so (as in a real cluster) the token
        // must also be valid for the API server's audience, not only for Vault's.
        let audiences = ["vault".to_string(), API_AUDIENCE.to_string()];
        let token = store.issue_token(ns, name, &audiences, 3600);
        tokens.push(token.map_err(|e| anyhow::anyhow!("issue_token {ns}/{name}: {e:?}"))?);
    }
    let ca_pem = api
        .ca_pem()
        .ok_or_else(|| anyhow::anyhow!("kube-sim started without TLS"))?;
    let mut it = tokens.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(Jwts {
        k8s_url: api.url(),
        ca_pem,
        eso: next(),
        other_name: next(),
        other_namespace: next(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_matches_openbao_with_kube_sim_tokenreview() -> anyhow::Result<()> {
    let api = kube_sim::ApiServer::start(kube_sim::SimConfig::default()).await?;
    let jwts = kube_sim_jwts(&api).await?;
    let outcome = run_contract(&jwts).await;
    api.shutdown().await;
    outcome
}
