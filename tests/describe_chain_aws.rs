//! Issue 15 end to end: the built binary's describe-chain and doctor against the simulated API
//! server with AWS SecretStores whose static keys (a Secret in the cluster) belong to IAM users of
//! a real moto server, reached through ESO's own endpoint variables (AWS_SECRETSMANAGER_ENDPOINT,
//! AWS_STS_ENDPOINT) on loopback. Incidents: healthy, AccessDenied on one secret (a store whose
//! user may describe but not read: moto scopes refusals by action, not ARN), a secret scheduled
//! for deletion, a missing JSON property, a version stage the secret does not have, a key ARN in
//! another region than the store's. The leak test covers access keys, the secret key and
//! every secret value across -o table / json / yaml and -v.

mod common;

use common::moto::{Moto, moto_or_skip};
use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

fn aws_store(name: &str, creds_secret: &str) -> Value {
    json!({
        "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"provider": {"aws": {
            "service": "SecretsManager", "region": "eu-west-1",
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": creds_secret, "key": "access-key"},
                "secretAccessKeySecretRef": {"name": creds_secret, "key": "secret-access-key"}
            }}
        }}}
    })
}

fn es(name: &str, store: &str, key: &str, property: Option<&str>) -> Value {
    let mut remote = json!({"key": key});
    if let Some(p) = property {
        remote["property"] = json!(p);
    }
    json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
            "target": {"name": name},
            "data": [{"secretKey": "password", "remoteRef": remote}]}
    })
}

fn creds_secret(name: &str, id: &str, secret: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "prod"},
        "type": "Opaque", "data": {"access-key": b64(id), "secret-access-key": b64(secret)}})
}

struct Bed {
    c: Cluster,
    moto: Moto,
    canaries: Vec<String>,
}

async fn bed() -> Option<Bed> {
    let moto = moto_or_skip().await?;
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let password = canary("aws-db");
    let api = canary("aws-api");
    moto.create_secret(
        "prod/db",
        &json!({"username": "app", "password": password}).to_string(),
    )
    .await;
    moto.create_secret("prod/api", &api).await;
    moto.create_secret("prod/gone", &canary("aws-gone")).await;
    moto.json(
        "secretsmanager",
        "secretsmanager.DeleteSecret",
        json!({"SecretId": "prod/gone", "RecoveryWindowInDays": 7}),
    )
    .await;
    let eso = moto
        .user(
            "eso",
            &[
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecrets",
            ],
        )
        .await;
    let limited = moto
        .user("eso-limited", &["secretsmanager:DescribeSecret"])
        .await;
    moto.enforce_iam().await;
    c.create(creds_secret(
        "aws-credentials",
        &eso.access_key_id,
        &eso.secret_access_key,
    ));
    c.create(creds_secret(
        "aws-limited-credentials",
        &limited.access_key_id,
        &limited.secret_access_key,
    ));
    for (name, secret) in [
        ("aws", "aws-credentials"),
        ("aws-limited", "aws-limited-credentials"),
    ] {
        let s = c.create(aws_store(name, secret));
        c.set_status(&s, store_status(true, "Valid"));
    }
    let seeded = [
        (
            "db",
            "aws",
            "prod/db",
            Some("password"),
            Some(password.as_str()),
            true,
        ),
        (
            "api",
            "aws-limited",
            "prod/api",
            None,
            Some("stale-api"),
            false,
        ),
        ("gone", "aws", "prod/gone", None, None, false),
        ("db-typo", "aws", "prod/db", Some("pasword"), None, false),
    ];
    for (name, store, key, property, value, ready) in seeded {
        let e = c.create(es(name, store, key, property));
        let e = c.set_status(&e, es_status(ready, &ago(30)));
        if let Some(v) = value {
            c.create(owned_secret(&e, name, "Opaque", "password", v));
        }
    }
    let canaries = vec![
        password,
        api,
        "stale-api".to_string(),
        eso.access_key_id,
        eso.secret_access_key,
        limited.access_key_id,
        limited.secret_access_key,
    ];
    Some(Bed { c, moto, canaries })
}

impl Bed {
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let mut env = vec![
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("AWS_SECRETSMANAGER_ENDPOINT", self.moto.url.as_str()),
            ("AWS_STS_ENDPOINT", self.moto.url.as_str()),
            ("AWS_SSM_ENDPOINT", self.moto.url.as_str()),
        ];
        env.extend_from_slice(extra);
        run_with(&self.c.kubeconfig, args, &env)
    }

    fn chain(&self, name: &str) -> (Option<i32>, Value) {
        let o = self.run(&["describe-chain", name, "-n", "prod", "-o", "json"]);
        assert_no_leak(&o, &self.canaries, name);
        let v = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{name}: {e}: {}{}", stdout(&o), stderr(&o)));
        (o.status.code(), v)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_describe_chain_names_the_aws_cause() {
    let Some(b) = bed().await else {
        return;
    };
    let (code, v) = b.chain("db");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["verdict"]["state"], "ok", "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
    assert_eq!(
        v["provider"]["identity"],
        "arn:aws:iam::123456789012:user/eso (the access key from the store's secretRef)",
        "{v:#}"
    );
    let calls = v["provider"]["calls"].to_string();
    assert!(
        calls.contains("secretsmanager GetSecretValue prod/db -> 200"),
        "{calls}"
    );

    let (code, v) = b.chain("api");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["link"], "provider", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("secretsmanager:GetSecretValue"), "{cause}");
    assert!(
        cause.contains("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-"),
        "{cause}"
    );

    let (code, v) = b.chain("gone");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["link"], "provider", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("scheduled for deletion"), "{cause}");
    assert!(
        v["verdict"]["next"].to_string().contains("restore-secret"),
        "{v:#}"
    );

    let (code, v) = b.chain("db-typo");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["link"], "provider", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("no property \"pasword\""), "{cause}");
    assert!(cause.contains("password, username"), "{cause}");

    // --probe-as me with the user's own keys (here a user who may read): the secret is fine, so
    // the refusal above is the store identity's.
    let (id, secret) = (b.canaries[3].as_str(), b.canaries[4].as_str());
    let o = b.run_env(
        &[
            "describe-chain",
            "api",
            "-n",
            "prod",
            "--probe-as",
            "me",
            "-o",
            "json",
        ],
        &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
    );
    assert_no_leak(&o, &b.canaries, "--probe-as me");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    assert_eq!(v["provider"]["probeAs"], "me", "{v:#}");
    assert_eq!(v["provider"]["keys"][0]["readable"], true, "{v:#}");
    assert_eq!(
        v["provider"]["identity"],
        "arn:aws:iam::123456789012:user/eso (your AWS access key (environment))",
        "{v:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_doctor_probes_aws_stores_once_per_key() {
    let Some(b) = bed().await else {
        return;
    };
    let o = b.run(&["doctor", "-n", "prod", "-o", "json"]);
    assert_no_leak(&o, &b.canaries, "doctor");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    let providers = v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "providers"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(providers["checked"], 2, "{providers:#}");
    let findings = providers["findings"].to_string();
    for needle in [
        "ExternalSecret prod/api",
        "secretsmanager:GetSecretValue",
        "ExternalSecret prod/gone",
        "scheduled for deletion",
        "ExternalSecret prod/db-typo",
        "pasword",
    ] {
        assert!(findings.contains(needle), "{needle} missing: {providers:#}");
    }
    assert!(
        !findings.contains("ExternalSecret prod/db\""),
        "db is healthy: {providers:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_aws_outputs_never_leak_keys_or_values() {
    let Some(b) = bed().await else {
        return;
    };
    for name in ["db", "api", "gone", "db-typo"] {
        for format in ["table", "wide", "json", "yaml"] {
            for verbosity in ["-v", "-vv"] {
                let o = b.run(&[
                    "describe-chain",
                    name,
                    "-n",
                    "prod",
                    "-o",
                    format,
                    verbosity,
                ]);
                assert_no_leak(&o, &b.canaries, &format!("{name} {format} {verbosity}"));
            }
        }
    }
    for format in ["table", "json", "yaml"] {
        let o = b.run(&["doctor", "-n", "prod", "-o", format, "-v"]);
        assert_no_leak(&o, &b.canaries, &format!("doctor {format}"));
    }
}

/// IRSA as ESO does it: the store's `auth.jwt.serviceAccountRef`, the ServiceAccount's
/// `eks.amazonaws.com/role-arn`, a TokenRequest for audience `sts.amazonaws.com`, then one
/// `AssumeRoleWithWebIdentity` per store however many keys. moto cannot check the web identity
/// with IAM enforcement on (see tests/aws_moto.rs), so this moto runs without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_irsa_store_exchanges_a_service_account_token_once() {
    let Some(moto) = moto_or_skip().await else {
        return;
    };
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let password = canary("irsa-db");
    let api = canary("irsa-api");
    moto.create_secret("prod/db", &json!({"password": password}).to_string())
        .await;
    moto.create_secret("prod/api", &api).await;
    let role = moto
        .role(
            "eso-irsa",
            "arn:aws:iam::123456789012:root",
            &["secretsmanager:*"],
        )
        .await;
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "eso-irsa", "namespace": "prod",
            "annotations": {"eks.amazonaws.com/role-arn": role}}}));
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "no-role", "namespace": "prod"}}));
    for (name, sa) in [("aws-irsa", "eso-irsa"), ("aws-no-role", "no-role")] {
        let s = c.create(json!({
            "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": name, "namespace": "prod"},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1",
                "auth": {"jwt": {"serviceAccountRef": {"name": sa}}}}}}
        }));
        c.set_status(&s, store_status(true, "Valid"));
    }
    let mut two = es("both", "aws-irsa", "prod/db", Some("password"));
    if let Some(d) = two["spec"]["data"].as_array_mut() {
        d.push(json!({"secretKey": "api", "remoteRef": {"key": "prod/api"}}));
    }
    let e = c.create(two);
    let e = c.set_status(&e, es_status(true, &ago(30)));
    c.create(owned_secret(&e, "both", "Opaque", "password", &password));
    let e = c.create(es("orphan", "aws-no-role", "prod/db", None));
    c.set_status(&e, es_status(false, &ago(30)));
    let b = Bed {
        c,
        moto,
        canaries: vec![password, api],
    };

    let o = b.run(&["describe-chain", "both", "-n", "prod", "-o", "json", "-vv"]);
    assert_no_leak(&o, &b.canaries, "irsa");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    let calls = v["provider"]["calls"].to_string();
    assert_eq!(
        calls.matches("sts AssumeRoleWithWebIdentity").count(),
        1,
        "{calls}"
    );
    assert_eq!(calls.matches("GetSecretValue").count(), 2, "{calls}");
    let identity = v["provider"]["identity"].as_str().unwrap_or_default();
    assert!(
        identity.contains(
            "IRSA role arn:aws:iam::123456789012:role/eso-irsa with ServiceAccount prod/eso-irsa"
        ),
        "{v:#}"
    );
    assert_eq!(v["provider"]["keys"][0]["propertyExists"], true, "{v:#}");
    let creds = v["credentials"].to_string();
    assert!(creds.contains("eks.amazonaws.com/role-arn="), "{creds}");
    // The TokenRequest asked for AWS's audience (the token itself never appears).
    let err = stderr(&o);
    assert!(err.contains("TokenRequest"), "{err}");
    assert!(
        !err.contains("eyJ") && !stdout(&o).contains("eyJ"),
        "no JWT printed"
    );

    let (code, v) = {
        let o = b.run(&["describe-chain", "orphan", "-n", "prod", "-o", "json"]);
        (
            o.status.code(),
            serde_json::from_str::<Value>(&stdout(&o)).unwrap_or(Value::Null),
        )
    };
    assert_eq!(code, Some(1), "{v:#}");
    let text = v.to_string();
    assert!(
        text.contains("ServiceAccount prod/no-role has no eks.amazonaws.com/role-arn annotation"),
        "{v:#}"
    );
    assert_eq!(v["provider"]["probed"], false, "{v:#}");
}

/// Static keys AWS does not accept: the login is the broken link, named with AWS's code, and
/// neither key is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_rejected_static_keys_are_a_login_failure() {
    let Some(mut b) = bed().await else {
        return;
    };
    let bad_id = "AKIABADBADBADBADBAD0".to_string();
    let bad_secret = canary("bad-secret-key");
    b.c.create(creds_secret("aws-bad-credentials", &bad_id, &bad_secret));
    let s = b.c.create(aws_store("aws-bad", "aws-bad-credentials"));
    b.c.set_status(&s, store_status(false, "InvalidProviderConfig"));
    let e = b.c.create(es("bad", "aws-bad", "prod/db", None));
    b.c.set_status(&e, es_status(false, &ago(30)));
    b.canaries.extend([bad_id, bad_secret]);
    let (code, v) = b.chain("bad");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["provider"]["loginCode"], "InvalidClientTokenId", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("AWS does not know the access key"),
        "{cause}"
    );
    assert!(
        v["verdict"]["next"]
            .to_string()
            .contains("aws iam get-access-key-last-used --access-key-id \\\"$(kubectl get secret aws-bad-credentials"),
        "{v:#}"
    );
    let calls = v["provider"]["calls"].to_string();
    assert!(
        !calls.contains("secretsmanager"),
        "no key read after a failed login: {calls}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]'"
)]
async fn issue15_missing_version_stage_and_region_mismatch_have_their_own_root_cause() {
    let Some(b) = bed().await else {
        return;
    };
    // A stage prod/db does not have (moto keeps AWSCURRENT only), and a key given as the ARN of a
    // secret in another region than the store's.
    let mut stage = es("stage", "aws", "prod/db", Some("password"));
    stage["spec"]["data"][0]["remoteRef"]["version"] = json!("AWSPENDING");
    let elsewhere = es(
        "elsewhere",
        "aws",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        None,
    );
    for e in [stage, elsewhere] {
        let e = b.c.create(e);
        b.c.set_status(&e, es_status(false, &ago(30)));
    }
    let o = b.run(&["doctor", "-n", "prod", "-o", "json"]);
    assert_no_leak(&o, &b.canaries, "doctor");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    let code_of = |es: &str| {
        v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["object"] == format!("ExternalSecret prod/{es}"))
            .map(|f| f["code"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        code_of("stage").as_deref(),
        Some("aws-version-missing"),
        "{v:#}"
    );
    assert_eq!(
        code_of("elsewhere").as_deref(),
        Some("aws-region-mismatch"),
        "{v:#}"
    );
    // The near miss on the same secret: the healthy `db` has no finding at all.
    assert_eq!(code_of("db"), None, "{v:#}");

    let (code, v) = b.chain("stage");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "aws-version-missing", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("AWSPENDING") && cause.contains("AWSCURRENT"),
        "{cause}"
    );
    let (code, v) = b.chain("elsewhere");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "aws-region-mismatch", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("us-east-1") && cause.contains("eu-west-1"),
        "{cause}"
    );
}
