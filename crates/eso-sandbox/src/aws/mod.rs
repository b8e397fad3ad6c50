//! The sandbox's AWS region: Secrets Manager, Systems Manager Parameter Store, STS and the IAM
//! reads an on-call engineer makes (`GetRole`, `SimulatePrincipalPolicy`), in one in-process HTTP server on loopback that
//! speaks AWS's wire protocols (JSON 1.1 with `X-Amz-Target`; the Query protocol with XML).
//!
//! Like the sandbox's Vault (which is always its in-process simulation, contract-tested against
//! a real OpenBao), the region is always this simulation, and `tests/aws_contract.rs` checks its
//! answers against a real `moto_server` where moto is faithful to AWS. Where moto is not, the
//! region follows AWS's documented behaviour instead, and says so here:
//!
//! - moto does not evaluate role trust policies for `AssumeRoleWithWebIdentity` (it accepts any
//!   token); the region verifies the token against the cluster's published keys, finds the IAM
//!   OIDC provider for its `iss`, and evaluates the role's trust policy (`Federated` principal,
//!   `StringEquals` / `StringLike` on `<issuer>:sub` and `<issuer>:aud`), refusing with AWS's
//!   `AccessDenied` "Not authorized to perform sts:AssumeRoleWithWebIdentity".
//! - moto's opt-in IAM enforcement evaluates Secrets Manager and SSM policies against resource
//!   `*` only; the region evaluates them on the exact ARN, so one secret can be denied while
//!   others are read.
//! - moto answers IAM refusals on JSON services in XML with HTTP 403; the region answers as AWS
//!   does, JSON `AccessDeniedException`, HTTP 400, with AWS's "User: … is not authorized to
//!   perform: … on resource: … because no identity-based policy allows the … action".
//! - moto answers `ResourceNotFoundException` with HTTP 404; AWS (and the region) with 400.
//! - moto does not implement `iam:SimulatePrincipalPolicy`; the region answers it from the
//!   principal's identity policies (no contract test: nothing to compare with), as AWS's
//!   reference describes the answer (`EvalDecision`, `MatchedStatements[].SourcePolicyId`).
//! - moto words a deleted secret's refusal "You tried to perform the operation on a secret that's
//!   currently marked deleted."; AWS (and the region, and the events ESO users see): "You can't
//!   perform this operation on the secret because it was marked for deletion."
//!
//! Every signed request is verified (SigV4, the key's secret, the session token of temporary
//! credentials). Not simulated: KMS, resource policies, replication, rotation, pagination.

pub mod policy;
pub mod sigv4;
pub mod state;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

pub use state::{ACCOUNT, Logged, Region};

/// The scenario's `aws:` section: what the account holds before the incident.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSetup {
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub secrets: Vec<AwsSecret>,
    #[serde(default)]
    pub parameters: Vec<AwsParameter>,
    #[serde(default)]
    pub users: Vec<AwsUser>,
    #[serde(default)]
    pub roles: Vec<AwsRole>,
}

fn default_region() -> String {
    "eu-west-1".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSecret {
    pub name: String,
    /// The `SecretString`; a YAML map is stored as its JSON.
    pub value: Value,
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsParameter {
    pub name: String,
    pub value: String,
    #[serde(default = "secure_string", rename = "type")]
    pub kind: String,
}

fn secure_string() -> String {
    "SecureString".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsUser {
    pub name: String,
    #[serde(rename = "accessKeyID")]
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub policies: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsRole {
    pub name: String,
    /// `${AWS_OIDC_PROVIDER}` (the cluster issuer's host, as IAM names the provider) and
    /// `${AWS_ACCOUNT}` are replaced when the region is loaded.
    pub trust_policy: Value,
    #[serde(default)]
    pub policies: Vec<Value>,
}

pub fn secret_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type Shared = Arc<Mutex<Region>>;

/// A running region on `http://127.0.0.1:<ephemeral>`.
pub struct AwsSim {
    addr: std::net::SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The operator an on-call engineer would be logged in as: may read IAM roles and describe
/// secrets and parameters, never read a value.
pub const OPERATOR_USER: &str = "sandbox-operator";

impl AwsSim {
    pub async fn start(region: Region) -> anyhow::Result<AwsSim> {
        let shared: Shared = Arc::new(Mutex::new(region));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("aws sim: server stopped: {e}");
            }
        });
        Ok(AwsSim {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint of every service (what ESO's
    /// `AWS_SECRETSMANAGER_ENDPOINT`, `AWS_SSM_ENDPOINT` and `AWS_STS_ENDPOINT` point at).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn region_name(&self) -> String {
        self.with(|r| r.region.clone())
    }

    /// Runs `f` on the region's state.
    pub fn with<T>(&self, f: impl FnOnce(&mut Region) -> T) -> T {
        let mut r = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut r)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.with(|r| r.log.clone())
    }

    /// An access key for an on-call operator (IAM user `sandbox-operator`): `iam:GetRole`,
    /// `iam:SimulatePrincipalPolicy`, describe and list on Secrets Manager and Parameter Store — no value. Handed to
    /// `kubectl eso sandbox`'s subcommand as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    pub fn operator_credentials(&self) -> sigv4::Creds {
        let creds = sigv4::Creds {
            access_key_id: "AKIASANDBOXOPERATOR1".into(),
            secret_access_key: format!("sandbox-operator-{}", uuid::Uuid::new_v4().simple()),
            session_token: None,
        };
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["iam:GetRole", "iam:SimulatePrincipalPolicy", "secretsmanager:DescribeSecret", "secretsmanager:ListSecrets",
                "ssm:DescribeParameters"], "Resource": "*"}]});
        self.with(|r| {
            r.put_user(
                OPERATOR_USER,
                &creds.access_key_id,
                &creds.secret_access_key,
                vec![policy],
            )
        });
        creds
    }

    /// Every key, secret key, session token and value the region holds or handed out.
    pub fn sensitive(&self) -> Vec<String> {
        self.with(|r| r.sensitive())
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for AwsSim {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Loads a scenario's account into a fresh region; `issuer` is the cluster's service-account
/// issuer and JWK Set, registered as the account's IAM OIDC provider.
pub fn region_from_setup(setup: &AwsSetup, issuer: Option<(String, Value)>) -> Region {
    let mut r = Region::new(&setup.region);
    r.issuer = issuer;
    let provider_host = r.issuer_host().unwrap_or_default();
    let fill = |v: &Value| -> Value {
        let text = v
            .to_string()
            .replace("${AWS_OIDC_PROVIDER}", &provider_host)
            .replace("${AWS_ACCOUNT}", ACCOUNT);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    for u in &setup.users {
        r.put_user(
            &u.name,
            &u.access_key_id,
            &u.secret_access_key,
            u.policies.iter().map(fill).collect(),
        );
    }
    for role in &setup.roles {
        r.put_role(
            &role.name,
            Some(fill(&role.trust_policy)),
            Some(role.policies.iter().map(fill).collect()),
        );
    }
    for s in &setup.secrets {
        r.put_secret(&s.name, &secret_string(&s.value), s.kms_key_id.clone());
    }
    for p in &setup.parameters {
        r.put_parameter(&p.name, &p.value, &p.kind);
    }
    r
}

/// Substitutes the region's placeholders in a policy given by an incident step.
pub fn fill_policy(region: &Region, v: &Value) -> Value {
    let host = region.issuer_host().unwrap_or_default();
    let text = v
        .to_string()
        .replace("${AWS_OIDC_PROVIDER}", &host)
        .replace("${AWS_ACCOUNT}", ACCOUNT);
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn serve(
    AxumState(shared): AxumState<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lookup = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let req = state::Request {
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &lookup,
        body: &body,
    };
    let reply = {
        let mut region = shared.lock().unwrap_or_else(|e| e.into_inner());
        region.handle(&req)
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, reply.body).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(reply.content_type) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}
