//! The sandbox's AWS region: Secrets Manager, Systems Manager Parameter Store, STS and the IAM
//! reads an on-call engineer makes (`GetRole`, `SimulatePrincipalPolicy`), on one loopback HTTP
//! endpoint that speaks AWS's wire protocols (JSON 1.1 with `X-Amz-Target`; the Query protocol
//! with XML).
//!
//! ## Who answers
//!
//! When `moto_server` (PyPI `moto[server]`) is installed — on PATH, or named by
//! `KUBECTL_ESO_SANDBOX_MOTO=/path/to/moto_server` (`=off` forces the simulation) — the sandbox
//! starts one on a free loopback port (killed with the sandbox), seeds it with the scenario's
//! IAM users (moto chooses their key ids; the front maps the scenario's keys to them), roles,
//! inline policies, secrets (versions and stages: a put moves AWSCURRENT; deletion with a 7-day
//! recovery window) and parameters, and applies every incident step to it. The in-process
//! server becomes a **front** (`moto.rs`, `Region::front`); `kubectl eso sandbox` says which
//! one serves the region. Without moto, the in-process **simulation** answers everything, as
//! `tests/aws_contract.rs` checks against a real moto where moto is faithful to AWS.
//!
//! With moto behind it, **the front answers**:
//! - every authentication refusal: SigV4 signature, unknown key, session token, region scope
//!   (moto runs with its IAM enforcement off — it would refuse in the wrong format, see below);
//! - `AssumeRoleWithWebIdentity` refusals: the token verified against the cluster's published
//!   keys, the IAM OIDC provider of its `iss`, the role's trust policy (`Federated` principal,
//!   `StringEquals` / `StringLike` on `<issuer>:sub` and `<issuer>:aud`) — moto accepts any
//!   token; AWS answers `AccessDenied` "Not authorized to perform sts:AssumeRoleWithWebIdentity";
//! - `AssumeRole` refusals (the role's trust policy, `sts:ExternalId`, the caller's own policy);
//! - identity-policy refusals on the exact ARN (`secretsmanager:GetSecretValue` /
//!   `DescribeSecret` on the secret's ARN as moto named it, `ssm:GetParameter` on the
//!   parameter's, `iam:GetRole` on the role's), as AWS words them: JSON `AccessDeniedException`,
//!   HTTP 400, "User: … is not authorized to perform: … on resource: … because no
//!   identity-based policy allows the … action";
//! - `kms:Decrypt` for `GetSecretValue` of a secret on a customer-managed key (`kmsKeyId:
//!   alias/NAME` in a scenario; the key and alias are created in moto too): moto's Secrets
//!   Manager never calls KMS. With the key's default key policy IAM decides, so the caller's
//!   identity policies are evaluated on the key's ARN, and a refusal is AWS's
//!   `AccessDeniedException` "Access to KMS is not allowed". A secret without a key id is on the
//!   AWS managed key, usable through Secrets Manager by every principal of the account;
//! - `iam:SimulatePrincipalPolicy` (moto does not implement it), from the policies it holds —
//!   the same ones it seeded into moto.
//!
//! **moto answers** everything the front accepts, forwarded as is and re-signed with the
//! caller's moto key: `GetSecretValue`, `DescribeSecret` (ARN, KMS key id, `DeletedDate`,
//! version stages), `ListSecrets`, `GetParameter`, `DescribeParameters`, `GetCallerIdentity`,
//! `GetRole` (the trust policy `--probe-as me` reads), and the temporary credentials of an
//! admitted `AssumeRole` / `AssumeRoleWithWebIdentity` (the front registers moto's keys, so later
//! requests signed with them are verified too). The front translates moto's known deviations
//! from AWS on the way back (`Region::answer_from_moto`):
//! - moto answers `ResourceNotFoundException` (and IAM refusals) on JSON services with HTTP
//!   404 / 403, some refusals as XML; AWS with JSON and HTTP 400;
//! - moto words a deleted secret's refusal "You tried to perform the operation on a secret that's
//!   currently marked deleted."; AWS (and the events ESO users see): "You can't perform this
//!   operation on the secret because it was marked for deletion.";
//! - moto answers a missing version stage or id with "Secrets Manager can't find the specified
//!   secret."; AWS with "… can't find the specified secret value for staging label: X".
//!
//! Passed through untranslated: `DeletedDate` (moto gives the end of the recovery window, which
//! is how AWS's reference words the field, "the date the secret is scheduled for deletion"; the
//! simulation gives the day of the deletion; no finding depends on which), and the extra
//! fields moto's success bodies may carry.
//!
//! Without moto, the simulation follows the same AWS behaviour on its own data. Not simulated
//! either way: key policies other than the default one, grants, resource policies,
//! replication, rotation, pagination. The moto process is stopped when the sandbox stops, is
//! dropped or dies, even by SIGKILL (a watchdog reads a pipe only the sandbox holds, see
//! `moto::watched`).

pub mod moto;
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

pub use moto::AwsBackend;
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

/// The server's state: the region (the simulation, or the front's identities and policies) and
/// moto when it serves the data.
#[derive(Clone)]
struct Front {
    shared: Shared,
    moto: Option<Arc<moto::Moto>>,
}

/// A running region on `http://127.0.0.1:<ephemeral>`.
pub struct AwsSim {
    addr: std::net::SocketAddr,
    shared: Shared,
    moto: Option<Arc<moto::Moto>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The operator an on-call engineer would be logged in as: may read IAM roles and describe
/// secrets and parameters, never read a value.
pub const OPERATOR_USER: &str = "sandbox-operator";

fn operator_policy() -> Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["iam:GetRole", "iam:SimulatePrincipalPolicy", "secretsmanager:DescribeSecret", "secretsmanager:ListSecrets",
            "ssm:DescribeParameters"], "Resource": "*"}]})
}

impl AwsSim {
    /// The simulation alone.
    pub async fn start(region: Region) -> anyhow::Result<AwsSim> {
        AwsSim::serve(region, None).await
    }

    /// The region served as `backend` says: moto behind the front when chosen (or found, for
    /// `Auto`), seeded with what `region` holds; else the simulation. A moto that was asked for
    /// explicitly and does not start is an error; one merely found on PATH falls back to the
    /// simulation with a warning on stderr.
    pub async fn start_with(mut region: Region, backend: &AwsBackend) -> anyhow::Result<AwsSim> {
        let (binary, forced) = backend.resolve();
        let Some(binary) = binary else {
            return AwsSim::serve(region, None).await;
        };
        let started = match moto::Moto::start(&binary, &region.region).await {
            Ok(m) => seed(&m, &mut region).await.map(|()| m),
            Err(e) => Err(e),
        };
        match started {
            Ok(m) => {
                region.forwarding = true;
                AwsSim::serve(region, Some(Arc::new(m))).await
            }
            Err(e) if forced => Err(e.context(format!(
                "serving the sandbox's AWS region with {}",
                binary.display()
            ))),
            Err(e) => {
                eprintln!(
                    "sandbox: {} did not start ({e:#}); the AWS region is the sandbox's own simulation",
                    binary.display()
                );
                let mut region = region;
                region.forwarding = false;
                AwsSim::serve(region, None).await
            }
        }
    }

    async fn serve(region: Region, moto: Option<Arc<moto::Moto>>) -> anyhow::Result<AwsSim> {
        let shared: Shared = Arc::new(Mutex::new(region));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(serve).with_state(Front {
            shared: shared.clone(),
            moto: moto.clone(),
        });
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
            moto,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Which one serves the region, for the sandbox's banner.
    pub fn served_by(&self) -> String {
        match &self.moto {
            Some(m) => format!(
                "moto_server on {} behind the sandbox's front (which checks signatures, trust and per-ARN policies)",
                m.url()
            ),
            None => "the sandbox's own simulation (moto_server not used)".into(),
        }
    }

    /// moto's URL when moto serves the region.
    pub fn moto_url(&self) -> Option<String> {
        self.moto.as_ref().map(|m| m.url().to_string())
    }

    /// How many requests moto answered (through the front).
    pub fn forwarded(&self) -> u64 {
        self.with(|r| r.forwarded)
    }

    /// An incident's `PutRole`: trust and inline policies replaced where given, in the front
    /// and in moto.
    pub async fn put_role(
        &self,
        name: &str,
        trust: Option<Value>,
        policies: Option<Vec<Value>>,
    ) -> anyhow::Result<()> {
        let (exists, old_count) = self.with(|r| {
            let old = r.roles.get(name).map(|x| x.policies.len());
            (old.is_some(), old.unwrap_or(0))
        });
        self.with(|r| r.put_role(name, trust.clone(), policies.clone()));
        if let Some(m) = &self.moto {
            m.put_role(
                name,
                exists,
                trust.as_ref(),
                policies.as_deref().map(|p| (p, old_count)),
            )
            .await?;
        }
        Ok(())
    }

    /// An incident's `PutSecretValue` (or `CreateSecret`), in the front and in moto.
    pub async fn put_secret(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let exists = self.with(|r| r.secrets.contains_key(name));
        self.with(|r| r.put_secret(name, value, None));
        if let Some(m) = &self.moto {
            let arn = m.put_secret(name, value, None, exists).await?;
            self.with(|r| {
                if let Some(s) = r.secrets.get_mut(name) {
                    s.arn = arn;
                }
            });
        }
        Ok(())
    }

    /// An incident's `DeleteSecret` with a recovery window, in the front and in moto.
    pub async fn schedule_deletion(&self, name: &str) -> anyhow::Result<()> {
        self.with(|r| r.schedule_deletion(name))?;
        if let Some(m) = &self.moto {
            m.schedule_deletion(name).await?;
        }
        Ok(())
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
        self.with(|r| {
            r.put_user(
                OPERATOR_USER,
                &creds.access_key_id,
                &creds.secret_access_key,
                vec![operator_policy()],
            );
            // With moto behind the front: the operator's requests are re-signed with the key
            // seeded for it there.
            if let Some(up) = r.operator_upstream.clone() {
                r.set_upstream(&creds.access_key_id, up);
            }
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
        if let Some(m) = &self.moto {
            m.kill();
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
        if let Some(m) = &self.moto {
            m.kill();
        }
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
        if let Some(alias) = s.kms_key_id.as_deref().filter(|k| k.starts_with("alias/")) {
            r.put_kms_alias(alias);
        }
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

/// Seeds moto with what the region holds (users and their keys, the operator, roles, secrets,
/// parameters) and records moto's key ids and secret ARNs in the front.
async fn seed(m: &moto::Moto, region: &mut Region) -> anyhow::Result<()> {
    let users: Vec<(String, Vec<Value>)> = region
        .users
        .values()
        .map(|u| (u.name.clone(), u.policies.clone()))
        .collect();
    for (name, policies) in users {
        let up = m.create_user(&name, &policies).await?;
        for key in region.user_keys(&name) {
            region.set_upstream(&key, up.clone());
        }
    }
    region.operator_upstream = Some(m.create_user(OPERATOR_USER, &[operator_policy()]).await?);
    let roles: Vec<state::Role> = region.roles.values().cloned().collect();
    for role in roles {
        m.put_role(
            &role.name,
            false,
            Some(&role.trust),
            Some((&role.policies, 0)),
        )
        .await?;
    }
    let aliases: Vec<String> = region.kms_keys.keys().cloned().collect();
    for alias in aliases {
        let arn = m.create_kms_key(&alias).await?;
        region.kms_keys.insert(alias, arn);
    }
    let secrets: Vec<state::Secret> = region.secrets.values().cloned().collect();
    for s in secrets {
        let mut arn = None;
        // Oldest first: moto moves AWSCURRENT to each in turn, as the region did.
        for (i, v) in s.versions.iter().rev().enumerate() {
            arn = Some(
                m.put_secret(&s.name, &v.value, s.kms_key_id.as_deref(), i > 0)
                    .await?,
            );
        }
        if s.deleted.is_some() {
            m.schedule_deletion(&s.name).await?;
        }
        if let (Some(arn), Some(x)) = (arn, region.secrets.get_mut(&s.name)) {
            x.arn = arn;
        }
    }
    let parameters: Vec<state::Parameter> = region.parameters.values().cloned().collect();
    for p in parameters {
        m.put_parameter(&p.name, &p.value, &p.kind).await?;
    }
    Ok(())
}

fn respond(reply: state::Reply) -> Response {
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

async fn serve(
    AxumState(front): AxumState<Front>,
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
    let target = lookup("x-amz-target").unwrap_or_default();
    // A secret moto holds that the front did not load (created in moto directly): the front
    // learns its ARN from moto first, to evaluate the caller's policy on it.
    let unknown_secret = front
        .moto
        .as_ref()
        .filter(|_| target.starts_with("secretsmanager."))
        .and_then(|_| serde_json::from_slice::<Value>(&body).ok())
        .and_then(|v| {
            v.get("SecretId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|id| {
            !front
                .shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .knows_secret(id)
        });
    if let (Some(m), Some(id)) = (&front.moto, unknown_secret) {
        let found = m.describe_secret(&id).await;
        if let Some((name, arn)) = found {
            front
                .shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .learn_secret(&name, &arn);
        }
    }
    let outcome = {
        let req = state::Request {
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &lookup,
            body: &body,
        };
        let mut region = front.shared.lock().unwrap_or_else(|e| e.into_inner());
        region.front(&req)
    };
    let forward = match outcome {
        state::Outcome::Reply(r) => return respond(r),
        state::Outcome::Forward(f) => f,
    };
    let Some(m) = &front.moto else {
        return respond(state::Reply {
            status: 500,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"InternalFailure","message":"no moto behind the front"}"#.into(),
        });
    };
    let content_type = lookup("content-type").unwrap_or_default();
    let mut protocol: Vec<(&str, &str)> = vec![("content-type", content_type.as_str())];
    if !target.is_empty() {
        protocol.push(("x-amz-target", target.as_str()));
    }
    let signing = forward.sign.as_ref();
    let answer = m
        .post(
            signing.map(|(c, _)| c),
            signing.map(|(_, r)| r.as_str()).unwrap_or("us-east-1"),
            &forward.service,
            &protocol,
            body.to_vec(),
        )
        .await;
    let reply = match answer {
        Ok(a) => front
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answer_from_moto(&forward, a.status, &a.body),
        Err(e) => state::Reply {
            status: 503,
            content_type: "application/x-amz-json-1.1",
            body: serde_json::json!({"__type": "ServiceUnavailable", "message": format!("{e:#}")})
                .to_string(),
        },
    };
    respond(reply)
}
