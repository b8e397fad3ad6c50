//! The contract between the sandbox's AWS region and a real AWS API implementation: the same
//! Secrets Manager and Parameter Store calls against `moto_server` (PyPI `moto[server]==5.2.1`,
//! started on a free loopback port, killed on drop) and against `AwsSim`; status, error code and
//! answer shape must match. Where moto is known to differ from AWS, AWS's documented answer wins
//! and the difference is asserted explicitly (see the header of `src/aws/mod.rs`).
//! A missing `moto_server` fails the test; without it the test is ignored at build time
//! (`has_moto`, with CI=true never).

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eso_sandbox::aws::{self, AwsSim, sigv4::Creds};
use serde_json::{Value, json};

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Moto {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("moto_server is not on PATH (pip install 'moto[server]'): {e}"));
    let m = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/moto-api/", m.url)).send().await
            && r.status().is_success()
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not answer on {}", m.url);
}

fn creds() -> Creds {
    Creds {
        access_key_id: "AKIACONTRACT00000001".into(),
        secret_access_key: "contract-secret-key".into(),
        session_token: None,
    }
}

/// One signed JSON 1.1 call; returns (status, body).
async fn call(endpoint: &str, service: &str, target: &str, body: Value) -> (u16, Value) {
    let host = endpoint.trim_start_matches("http://").to_string();
    let body = body.to_string().into_bytes();
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let mut req = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .body(body.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in aws::sigv4::sign(
        &creds(),
        "eu-west-1",
        service,
        &host,
        &headers,
        &body,
        jiff::Timestamp::now(),
    ) {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{target}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn code(v: &Value) -> String {
    v["__type"]
        .as_str()
        .unwrap_or_default()
        .rsplit('#')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]==5.2.1'"
)]
async fn issue15_the_region_answers_like_moto_where_moto_is_aws() {
    let moto = moto().await;
    let mut region = aws::Region::new("eu-west-1");
    let c = creds();
    region.put_user(
        "contract",
        &c.access_key_id,
        &c.secret_access_key,
        vec![json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})],
    );
    region.put_secret("app/db", r#"{"password":"contract-canary-1"}"#, None);
    region.put_secret("app/old", "contract-canary-2", None);
    region.put_parameter("/app/key", "contract-canary-3", "SecureString");
    let sim = AwsSim::start(region)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sim_url = sim.endpoint();
    for (name, value) in [
        ("app/db", r#"{"password":"contract-canary-1"}"#),
        ("app/old", "contract-canary-2"),
    ] {
        let (s, v) = call(
            &moto.url,
            "secretsmanager",
            "secretsmanager.CreateSecret",
            json!({"Name": name, "SecretString": value}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = call(
        &moto.url,
        "ssm",
        "AmazonSSM.PutParameter",
        json!({"Name": "/app/key", "Value": "contract-canary-3", "Type": "SecureString"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        &moto.url,
        "secretsmanager",
        "secretsmanager.DeleteSecret",
        json!({"SecretId": "app/old", "RecoveryWindowInDays": 7}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    sim.with(|r| r.schedule_deletion("app/old"))
        .unwrap_or_else(|e| panic!("{e}"));

    let cases: [(&str, &str, Value); 8] = [
        (
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            json!({"SecretId": "app/db"}),
        ),
        (
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            json!({"SecretId": "app/missing"}),
        ),
        (
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            json!({"SecretId": "app/db", "VersionStage": "AWSPREVIOUS"}),
        ),
        (
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            json!({"SecretId": "app/old"}),
        ),
        (
            "secretsmanager",
            "secretsmanager.DescribeSecret",
            json!({"SecretId": "app/old"}),
        ),
        (
            "secretsmanager",
            "secretsmanager.DescribeSecret",
            json!({"SecretId": "app/missing"}),
        ),
        (
            "ssm",
            "AmazonSSM.GetParameter",
            json!({"Name": "/app/key", "WithDecryption": true}),
        ),
        (
            "ssm",
            "AmazonSSM.GetParameter",
            json!({"Name": "/app/missing", "WithDecryption": true}),
        ),
    ];
    for (service, target, body) in cases {
        let what = format!("{target} {body}");
        let (ms, mv) = call(&moto.url, service, target, body.clone()).await;
        let (ss, sv) = call(&sim_url, service, target, body).await;
        if ms < 300 {
            assert_eq!(ss, ms, "{what}: status; moto {mv}, sim {sv}");
        } else {
            // AWS answers every client error of the JSON protocol with HTTP 400 (the API
            // reference's "HTTP Status Code: 400" for ResourceNotFoundException too); moto sends
            // 404 for some of them. Only the error code is moto's to compare.
            assert_eq!(ss, 400, "{what}: status; moto {ms} {mv}, sim {sv}");
        }
        assert_eq!(
            code(&sv),
            code(&mv),
            "{what}: error code; moto {mv}, sim {sv}"
        );
        if ms == 200 {
            // Every field the region sends, moto sends too (moto may send more).
            let (mk, sk) = (keys(&mv), keys(&sv));
            assert!(sk.is_subset(&mk), "{what}: fields {sk:?} vs moto's {mk:?}");
            if let (Some(m), Some(s)) = (mv.get("Parameter"), sv.get("Parameter")) {
                assert!(keys(s).is_subset(&keys(m)), "{what}: {s} vs {m}");
                assert_eq!(s["Value"], m["Value"], "{what}");
            }
            assert_eq!(sv.get("SecretString"), mv.get("SecretString"), "{what}");
            assert_eq!(
                sv.get("DeletedDate").is_some(),
                mv.get("DeletedDate").is_some(),
                "{what}"
            );
        } else if code(&mv) == "InvalidRequestException" {
            // moto: "You tried to perform the operation on a secret that's currently marked
            // deleted."; AWS (and the region, and what ESO users see in their events): "You
            // can't perform this operation on the secret because it was marked for deletion."
            assert_eq!(
                sv["message"],
                "You can't perform this operation on the secret because it was marked for deletion.",
                "{sv}"
            );
        }
    }
    sim.shutdown().await;
}
