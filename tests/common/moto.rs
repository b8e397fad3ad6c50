//! A real AWS API implementation for the tests: `moto_server` (PyPI `moto[server]`) started on a
//! free loopback port and killed on drop. Fixtures are created through moto's own API (signed
//! with the product's SigV4 signer and throwaway keys while moto does not yet check them), then
//! `enforce_iam` turns on moto's IAM checks (signatures, policies, role trust) for what follows.
//! A missing `moto_server` fails the test; without it the tests are ignored at build time (`has_moto`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use kubectl_eso::provider::aws::sign::{AwsCreds, signed_headers};
use serde_json::Value;

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto. Tests that call it carry `#[cfg_attr(not(has_moto), ignore = …)]`, so cargo
/// reports them as ignored, with the reason, where moto is not installed (never as passed); a
/// missing `moto_server` here is a failure.
pub async fn moto_or_skip() -> Option<Moto> {
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(found, Ok(s) if s.success()) {
        panic!("moto_server is not on PATH (pip install 'moto[server]')");
    }
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
        .unwrap_or_else(|e| panic!("could not start moto_server: {e}"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        http,
    };
    for _ in 0..300 {
        if let Ok(r) = moto
            .http
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            && r.status().is_success()
        {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not answer on {}", moto.url);
}

fn setup_creds() -> AwsCreds {
    AwsCreds {
        access_key_id: "AKIASETUPSETUPSETUP0".into(),
        secret_access_key: "setup".into(),
        session_token: None,
    }
}

impl Moto {
    async fn post(&self, service: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let url = format!("{}/", self.url);
        let signed = signed_headers(
            &setup_creds(),
            REGION,
            service,
            &url,
            headers,
            &body,
            SystemTime::now(),
        )
        .unwrap_or_else(|e| panic!("sign: {e}"));
        let mut req = self.http.post(&url).body(body);
        for (k, v) in headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(signed)
        {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto {service}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A JSON-protocol action (`secretsmanager.CreateSecret`); panics unless it succeeds.
    pub async fn json(&self, service: &str, target: &str, body: Value) -> Value {
        let (status, text) = self
            .post(
                service,
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                body.to_string().into_bytes(),
            )
            .await;
        assert!(status < 300, "moto {target}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A Query-protocol action (IAM, STS); panics unless it succeeds. Returns the XML.
    pub async fn query(&self, service: &str, params: &[(&str, &str)]) -> String {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let (status, text) = self
            .post(
                service,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body.into_bytes(),
            )
            .await;
        assert!(status < 300, "moto {params:?}: {status} {text}");
        text
    }

    pub async fn create_secret(&self, name: &str, value: &str) -> Value {
        self.json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            serde_json::json!({"Name": name, "SecretString": value}),
        )
        .await
    }

    pub async fn put_parameter(&self, name: &str, value: &str) {
        self.json(
            "ssm",
            "AmazonSSM.PutParameter",
            serde_json::json!({"Name": name, "Value": value, "Type": "SecureString"}),
        )
        .await;
    }

    /// An IAM user with an inline policy allowing `actions` on `*`; returns its access key.
    pub async fn user(&self, name: &str, actions: &[&str]) -> AwsCreds {
        self.query(
            "iam",
            &[
                ("Action", "CreateUser"),
                ("Version", "2010-05-08"),
                ("UserName", name),
            ],
        )
        .await;
        let policy = allow(actions);
        self.query(
            "iam",
            &[
                ("Action", "PutUserPolicy"),
                ("Version", "2010-05-08"),
                ("UserName", name),
                ("PolicyName", "eso"),
                ("PolicyDocument", &policy),
            ],
        )
        .await;
        let xml = self
            .query(
                "iam",
                &[
                    ("Action", "CreateAccessKey"),
                    ("Version", "2010-05-08"),
                    ("UserName", name),
                ],
            )
            .await;
        AwsCreds {
            access_key_id: tag(&xml, "AccessKeyId"),
            secret_access_key: tag(&xml, "SecretAccessKey"),
            session_token: None,
        }
    }

    /// A role trusting `principal` (an IAM ARN) with an inline policy allowing `actions`.
    pub async fn role(&self, name: &str, principal: &str, actions: &[&str]) -> String {
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})
        .to_string();
        let xml = self
            .query(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("Version", "2010-05-08"),
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", &trust),
                ],
            )
            .await;
        let policy = allow(actions);
        self.query(
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", name),
                ("PolicyName", "eso"),
                ("PolicyDocument", &policy),
            ],
        )
        .await;
        tag(&xml, "Arn")
    }

    /// From now on moto checks every request's signature and IAM policies, as AWS does.
    pub async fn enforce_iam(&self) {
        let r = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.url))
            .body("0")
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto reset-auth: {e}"));
        assert!(r.status().is_success(), "moto reset-auth: {}", r.status());
    }
}

fn allow(actions: &[&str]) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions, "Resource": "*"}]})
    .to_string()
}

fn tag(xml: &str, name: &str) -> String {
    kubectl_eso::provider::aws::errors::xml_text(xml, name)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
}
