//! The region's state and its answers: IAM users, roles and their policies, STS sessions, Secrets
//! Manager secrets and Parameter Store parameters, with AWS's error codes and texts (JSON 1.1
//! `__type` / `message` for Secrets Manager and SSM, HTTP 400; the Query protocol's XML
//! `<ErrorResponse>` for STS and IAM). Every request is checked as AWS checks it: signature,
//! key, session token, identity policy on the exact ARN, trust policy on role assumption.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::policy::{self, Decision};
use super::sigv4;

pub const ACCOUNT: &str = "123456789012";

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub policies: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub trust: Value,
    pub policies: Vec<Value>,
}

#[derive(Debug, Clone)]
pub enum Principal {
    User(String),
    Session { role: String, session: String },
}

#[derive(Debug, Clone)]
struct Key {
    secret: String,
    session_token: Option<String>,
    principal: Principal,
    /// With moto behind the front: the key the front re-signs this caller's requests with (moto
    /// chooses IAM users' key ids itself; the sessions it mints are their own upstream key).
    upstream: Option<sigv4::Creds>,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub value: String,
    pub stages: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub name: String,
    pub arn: String,
    pub versions: Vec<Version>,
    pub deleted: Option<i64>,
    pub kms_key_id: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub kind: String,
    pub version: i64,
    pub modified: i64,
}

/// One request the region answered, for tests that count provider traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub service: String,
    pub action: String,
    pub target: String,
}

pub struct Region {
    pub region: String,
    /// The cluster's service-account issuer (`https://…`) and its JWK Set, registered as the
    /// account's IAM OIDC provider.
    pub issuer: Option<(String, Value)>,
    pub users: BTreeMap<String, User>,
    keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, Role>,
    pub secrets: BTreeMap<String, Secret>,
    pub parameters: BTreeMap<String, Parameter>,
    /// Customer-managed KMS keys: alias (`alias/NAME`) → key ARN. A secret without a key id is
    /// encrypted with the AWS managed key `aws/secretsmanager`, which every principal of the
    /// account may use through Secrets Manager.
    pub kms_keys: BTreeMap<String, String>,
    pub log: Vec<Logged>,
    counter: u64,
    /// Whether moto serves the data behind this front (see the module doc of `aws`).
    pub forwarding: bool,
    /// Requests forwarded to moto and answered by it.
    pub forwarded: u64,
    /// The operator's key in moto (the operator's front keys are minted per run).
    pub operator_upstream: Option<sigv4::Creds>,
    /// Values that came back from moto (secret strings, parameter values): for leak checks.
    seen: Vec<String>,
}

/// What the front does with a request: answer it itself, or forward it to moto.
pub enum Outcome {
    Reply(Reply),
    Forward(Forward),
}

/// A request the front accepted, to forward to moto as is (body and protocol headers), signed
/// with the caller's moto key.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The signing service (`secretsmanager`, `ssm`, `sts`, `iam`).
    pub service: String,
    pub action: String,
    pub json: bool,
    /// The caller's moto key and the region its request was signed for; none for
    /// `AssumeRoleWithWebIdentity` (unsigned, as in AWS).
    pub sign: Option<(sigv4::Creds, String)>,
    /// STS: the role and session name the minted credentials belong to.
    pub mint_for: Option<(String, String)>,
    /// Secrets Manager: the `SecretId` asked and the version asked for, if any (`staging
    /// label: X` / `VersionId: X`), to word moto's not-found answers as AWS does.
    pub secret: Option<String>,
    pub version: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn json(v: Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: v.to_string(),
        }
    }
    fn json_error(code: &str, message: &str) -> Reply {
        Reply {
            status: 400,
            content_type: "application/x-amz-json-1.1",
            body: json!({"__type": code, "message": message}).to_string(),
        }
    }
    fn xml(action: &str, service_ns: &str, result: &str, request_id: &str) -> Reply {
        Reply {
            status: 200,
            content_type: "text/xml",
            body: format!(
                "<{action}Response xmlns=\"{service_ns}\">\n  <{action}Result>{result}</{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
            ),
        }
    }
    fn xml_error(status: u16, code: &str, message: &str, request_id: &str) -> Reply {
        Reply {
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                escape(message)
            ),
        }
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A request as the server received it.
pub struct Request<'a> {
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A short stable suffix, as AWS appends six random characters to a secret's ARN.
fn suffix(name: &str) -> String {
    let digest = sigv4::sha256_hex(name.as_bytes());
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        .chars()
        .collect();
    digest
        .bytes()
        .take(6)
        .map(|b| alphabet[usize::from(b) % alphabet.len()])
        .collect()
}

impl Region {
    pub fn new(region: &str) -> Region {
        Region {
            region: region.to_string(),
            issuer: None,
            users: BTreeMap::new(),
            keys: BTreeMap::new(),
            roles: BTreeMap::new(),
            secrets: BTreeMap::new(),
            parameters: BTreeMap::new(),
            kms_keys: BTreeMap::new(),
            log: Vec::new(),
            counter: 0,
            forwarding: false,
            forwarded: 0,
            operator_upstream: None,
            seen: Vec::new(),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn request_id(&mut self) -> String {
        let n = self.next_id();
        format!("5a3c1f0e-0000-4000-8000-{n:012x}")
    }

    pub fn issuer_host(&self) -> Option<String> {
        self.issuer
            .as_ref()
            .map(|(i, _)| i.trim_start_matches("https://").to_string())
    }

    pub fn oidc_provider_arn(&self) -> Option<String> {
        self.issuer_host()
            .map(|h| format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{h}"))
    }

    pub fn put_user(
        &mut self,
        name: &str,
        access_key_id: &str,
        secret: &str,
        policies: Vec<Value>,
    ) {
        self.users.insert(
            name.to_string(),
            User {
                name: name.to_string(),
                policies,
            },
        );
        self.keys.insert(
            access_key_id.to_string(),
            Key {
                secret: secret.to_string(),
                session_token: None,
                principal: Principal::User(name.to_string()),
                upstream: None,
            },
        );
    }

    pub fn put_role(&mut self, name: &str, trust: Option<Value>, policies: Option<Vec<Value>>) {
        let role = self.roles.entry(name.to_string()).or_insert_with(|| Role {
            name: name.to_string(),
            trust: json!({"Version": "2012-10-17", "Statement": []}),
            policies: Vec::new(),
        });
        if let Some(t) = trust {
            role.trust = t;
        }
        if let Some(p) = policies {
            role.policies = p;
        }
    }

    pub fn put_secret(&mut self, name: &str, value: &str, kms_key_id: Option<String>) {
        let n = self.next_id();
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        let arn = format!(
            "arn:aws:secretsmanager:{}:{ACCOUNT}:secret:{name}-{}",
            self.region,
            suffix(name)
        );
        let secret = self
            .secrets
            .entry(name.to_string())
            .or_insert_with(|| Secret {
                name: name.to_string(),
                arn,
                versions: Vec::new(),
                deleted: None,
                kms_key_id,
                created: now(),
            });
        // AWSCURRENT moves to the new version, the old current becomes AWSPREVIOUS.
        for v in &mut secret.versions {
            v.stages.retain(|s| s != "AWSPREVIOUS");
            if let Some(i) = v.stages.iter().position(|s| s == "AWSCURRENT") {
                v.stages[i] = "AWSPREVIOUS".into();
            }
        }
        secret.versions.retain(|v| !v.stages.is_empty());
        secret.versions.push(Version {
            id,
            value: value.to_string(),
            stages: vec!["AWSCURRENT".into()],
        });
    }

    /// `DeleteSecret` with a recovery window: the secret stays, marked for deletion.
    pub fn schedule_deletion(&mut self, name: &str) -> anyhow::Result<()> {
        let s = self
            .secrets
            .get_mut(name)
            .ok_or_else(|| anyhow::anyhow!("no AWS secret {name:?} in the sandbox"))?;
        s.deleted = Some(now());
        Ok(())
    }

    pub fn put_parameter(&mut self, name: &str, value: &str, kind: &str) {
        let p = self
            .parameters
            .entry(name.to_string())
            .or_insert_with(|| Parameter {
                name: name.to_string(),
                value: String::new(),
                kind: kind.to_string(),
                version: 0,
                modified: now(),
            });
        p.value = value.to_string();
        p.kind = kind.to_string();
        p.version += 1;
        p.modified = now();
    }

    /// Every credential the region handed out or holds (keys, secret keys, session tokens), and
    /// every secret and parameter value: what no output may show.
    pub fn sensitive(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (id, k) in &self.keys {
            out.push(id.clone());
            out.push(k.secret.clone());
            out.extend(k.session_token.clone());
        }
        for s in self.secrets.values() {
            out.extend(s.versions.iter().map(|v| v.value.clone()));
        }
        out.extend(self.parameters.values().map(|p| p.value.clone()));
        for k in self.keys.values().filter_map(|k| k.upstream.as_ref()) {
            out.push(k.access_key_id.clone());
            out.push(k.secret_access_key.clone());
            out.extend(k.session_token.clone());
        }
        if let Some(k) = &self.operator_upstream {
            out.push(k.access_key_id.clone());
            out.push(k.secret_access_key.clone());
        }
        out.extend(self.seen.iter().cloned());
        out
    }

    /// The access key ids of an IAM user of the account.
    pub fn user_keys(&self, user: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(_, k)| matches!(&k.principal, Principal::User(u) if u == user))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The moto key the front re-signs `access_key_id`'s requests with.
    pub fn set_upstream(&mut self, access_key_id: &str, upstream: sigv4::Creds) {
        if let Some(k) = self.keys.get_mut(access_key_id) {
            k.upstream = Some(upstream);
        }
    }

    /// A secret moto holds that the front did not load (created in moto directly): its ARN, for
    /// the front's per-ARN policy evaluation. It has no versions here; moto answers its reads.
    pub fn learn_secret(&mut self, name: &str, arn: &str) {
        self.secrets
            .entry(name.to_string())
            .or_insert_with(|| Secret {
                name: name.to_string(),
                arn: arn.to_string(),
                versions: Vec::new(),
                deleted: None,
                kms_key_id: None,
                created: now(),
            });
    }

    /// Whether the front knows a secret by this name or ARN.
    pub fn knows_secret(&self, id: &str) -> bool {
        self.find_secret(id).is_some()
    }

    /// A customer-managed key named by alias: its ARN (stable, derived from the alias, until moto
    /// makes the key and the front records moto's ARN).
    pub fn put_kms_alias(&mut self, alias: &str) {
        let digest = sigv4::sha256_hex(alias.as_bytes());
        let id = format!(
            "{}-{}-4{}-8{}-{}",
            &digest[..8],
            &digest[8..12],
            &digest[13..16],
            &digest[17..20],
            &digest[20..32]
        );
        let arn = format!("arn:aws:kms:{}:{ACCOUNT}:key/{id}", self.region);
        self.kms_keys.entry(alias.to_string()).or_insert(arn);
    }

    /// The key ARN a secret's `KmsKeyId` (alias, alias ARN, key ARN) names.
    fn kms_key_arn(&self, key_id: &str) -> String {
        let alias = key_id
            .split_once(":alias/")
            .map(|(_, a)| format!("alias/{a}"))
            .unwrap_or_else(|| key_id.to_string());
        self.kms_keys
            .get(&alias)
            .cloned()
            .unwrap_or_else(|| key_id.to_string())
    }

    /// AWS's refusal when the caller may read the secret but not decrypt it with its
    /// customer-managed key (the key policy being the default one, which defers to IAM):
    /// Secrets Manager calls `kms:Decrypt` as the caller.
    fn kms_refusal(&self, caller: &Principal, secret_id: &str) -> Option<Reply> {
        let s = self.find_secret(secret_id)?;
        if s.deleted.is_some() {
            return None;
        }
        let key = self.kms_key_arn(s.kms_key_id.as_deref()?);
        (self.authorize(caller, "kms:Decrypt", &key) != Decision::Allowed)
            .then(|| Reply::json_error("AccessDeniedException", "Access to KMS is not allowed"))
    }

    fn principal_arn(&self, p: &Principal) -> String {
        match p {
            Principal::User(u) => format!("arn:aws:iam::{ACCOUNT}:user/{u}"),
            Principal::Session { role, session } => {
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")
            }
        }
    }

    fn policies_of(&self, p: &Principal) -> Vec<Value> {
        match p {
            Principal::User(u) => self.users.get(u).map(|u| u.policies.clone()),
            Principal::Session { role, .. } => self.roles.get(role).map(|r| r.policies.clone()),
        }
        .unwrap_or_default()
    }

    fn mint_session(&mut self, role: &str, session: &str) -> (sigv4::Creds, String) {
        let n = self.next_id();
        let creds = sigv4::Creds {
            access_key_id: format!("ASIASANDBOX{n:09}"),
            secret_access_key: format!("sandbox-session-secret-{}", uuid::Uuid::new_v4().simple()),
            session_token: Some(format!(
                "sandbox-session-token-{}",
                uuid::Uuid::new_v4().simple()
            )),
        };
        self.keys.insert(
            creds.access_key_id.clone(),
            Key {
                secret: creds.secret_access_key.clone(),
                session_token: creds.session_token.clone(),
                principal: Principal::Session {
                    role: role.to_string(),
                    session: session.to_string(),
                },
                upstream: None,
            },
        );
        let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}");
        (creds, arn)
    }

    /// Answers one request.
    pub fn handle(&mut self, req: &Request<'_>) -> Reply {
        match self.front(req) {
            Outcome::Reply(r) => r,
            // Only a front with moto behind it forwards; `handle` is the simulation's.
            Outcome::Forward(f) => Reply::json_error(
                "InternalFailure",
                &format!("{} needs moto behind the front", f.action),
            ),
        }
    }

    /// Answers a request, or accepts it for moto (when `forwarding`): the signature, key and
    /// session token are checked here, and so are the identity policy on the exact ARN and the
    /// role trust policies; what is accepted is forwarded.
    pub fn front(&mut self, req: &Request<'_>) -> Outcome {
        let target = (req.headers)("x-amz-target").unwrap_or_default();
        let form: BTreeMap<String, String> = if target.is_empty() {
            form_urlencoded::parse(req.body).into_owned().collect()
        } else {
            BTreeMap::new()
        };
        let (service, action) = match target.split_once('.') {
            Some(("secretsmanager", a)) => ("secretsmanager", a.to_string()),
            Some(("AmazonSSM", a)) => ("ssm", a.to_string()),
            Some(_) => {
                return Outcome::Reply(Reply::json_error("UnknownOperationException", ""));
            }
            None => {
                let action = form.get("Action").cloned().unwrap_or_default();
                let service = match action.as_str() {
                    "GetRole" | "SimulatePrincipalPolicy" => "iam",
                    _ => "sts",
                };
                (service, action)
            }
        };
        let json_protocol = !target.is_empty();
        let body: Value = if json_protocol {
            serde_json::from_slice(req.body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let logged_target = body
            .get("SecretId")
            .or_else(|| body.get("Name"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| form.get("RoleArn").cloned())
            .or_else(|| form.get("RoleName").cloned())
            .or_else(|| form.get("PolicySourceArn").cloned())
            .unwrap_or_default();
        self.log.push(Logged {
            service: service.to_string(),
            action: action.clone(),
            target: logged_target,
        });
        let rid = self.request_id();
        if action == "AssumeRoleWithWebIdentity" {
            return self.assume_role_with_web_identity(&form, &rid);
        }
        let caller = match self.authenticate(req, service, json_protocol) {
            Ok(p) => p,
            Err(reply) => return Outcome::Reply(reply),
        };
        if self.forwarding {
            return self.decide(req, &caller, service, &action, &body, &form, &rid);
        }
        Outcome::Reply(match (service, action.as_str()) {
            ("secretsmanager", "GetSecretValue") => self.get_secret_value(&caller, &body),
            ("secretsmanager", "DescribeSecret") => self.describe_secret(&caller, &body),
            ("secretsmanager", "ListSecrets") => self.list_secrets(&caller),
            ("ssm", "GetParameter") => self.get_parameter(&caller, &body),
            ("ssm", "DescribeParameters") => self.describe_parameters(&caller),
            ("sts", "GetCallerIdentity") => {
                let arn = self.principal_arn(&caller);
                Reply::xml(
                    "GetCallerIdentity",
                    STS_NS,
                    &format!(
                        "\n    <Arn>{}</Arn>\n    <UserId>AIDASANDBOX</UserId>\n    <Account>{ACCOUNT}</Account>\n  ",
                        escape(&arn)
                    ),
                    &rid,
                )
            }
            ("sts", "AssumeRole") => self.assume_role(&caller, &form, &rid),
            ("iam", "GetRole") => self.get_role(&caller, &form, &rid),
            ("iam", "SimulatePrincipalPolicy") => {
                self.simulate_principal_policy(&caller, &form, &rid)
            }
            (_, other) if json_protocol => Reply::json_error(
                "UnknownOperationException",
                &format!("the sandbox's region does not implement {other}"),
            ),
            (_, other) => Reply::xml_error(
                400,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2011-06-15"),
                &rid,
            ),
        })
    }

    /// The front's part when moto is behind it: refuse what AWS would refuse and moto would not
    /// (the identity policy on the exact ARN, the trust policy of `AssumeRole`), answer what moto
    /// does not implement (`SimulatePrincipalPolicy`), forward the rest.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        req: &Request<'_>,
        caller: &Principal,
        service: &str,
        action: &str,
        body: &Value,
        form: &BTreeMap<String, String>,
        rid: &str,
    ) -> Outcome {
        let auth = (req.headers)("authorization").and_then(|h| sigv4::parse_authorization(&h));
        let sign = auth.as_ref().and_then(|a| {
            let key = self.keys.get(&a.access_key_id)?;
            Some((key.upstream.clone()?, a.region.clone()))
        });
        let Some(sign) = sign else {
            // A key the front knows but moto does not (none is made that way): refuse as AWS.
            return Outcome::Reply(Reply::json_error(
                "UnrecognizedClientException",
                INVALID_TOKEN,
            ));
        };
        let mut forward = Forward {
            service: service.to_string(),
            action: action.to_string(),
            json: !body.is_null(),
            sign: Some(sign),
            mint_for: None,
            secret: None,
            version: None,
        };
        let check = |region: &Region, iam_action: &str, resource: &str| -> Option<Reply> {
            match region.authorize(caller, iam_action, resource) {
                Decision::Allowed => None,
                d => Some(region.denied_json(caller, iam_action, resource, d)),
            }
        };
        let refused = match (service, action) {
            ("secretsmanager", "GetSecretValue" | "DescribeSecret") => {
                let id = body
                    .get("SecretId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                forward.secret = Some(id.to_string());
                forward.version = match (
                    body.get("VersionId").and_then(Value::as_str),
                    body.get("VersionStage").and_then(Value::as_str),
                ) {
                    (Some(v), _) => Some(format!("VersionId: {v}")),
                    (None, Some(s)) => Some(format!("staging label: {s}")),
                    _ => None,
                };
                check(
                    self,
                    &format!("secretsmanager:{action}"),
                    &self.secret_resource(id),
                )
                .or_else(|| {
                    // moto does not call KMS: the front decides kms:Decrypt on the key.
                    (action == "GetSecretValue")
                        .then(|| self.kms_refusal(caller, id))
                        .flatten()
                })
            }
            ("secretsmanager", "ListSecrets") => check(self, "secretsmanager:ListSecrets", "*"),
            ("ssm", "GetParameter") => {
                let name = body.get("Name").and_then(Value::as_str).unwrap_or_default();
                check(self, "ssm:GetParameter", &self.parameter_arn(name))
            }
            ("ssm", "DescribeParameters") => check(self, "ssm:DescribeParameters", "*"),
            ("sts", "GetCallerIdentity") => None,
            ("sts", "AssumeRole") => match self.assume_role_refusal(caller, form, rid) {
                Some(r) => Some(r),
                None => {
                    let role = form
                        .get("RoleArn")
                        .and_then(|a| Self::role_name(a))
                        .unwrap_or_default()
                        .to_string();
                    let session = form
                        .get("RoleSessionName")
                        .cloned()
                        .unwrap_or_else(|| "session".into());
                    forward.mint_for = Some((role, session));
                    None
                }
            },
            ("iam", "GetRole") => {
                let name = form.get("RoleName").cloned().unwrap_or_default();
                let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
                let d = self.authorize(caller, "iam:GetRole", &arn);
                (d != Decision::Allowed).then(|| {
                    Reply::xml_error(
                        403,
                        "AccessDenied",
                        &self.denied_text(caller, "iam:GetRole", &arn, d),
                        rid,
                    )
                })
            }
            // moto does not implement it: the front answers from the policies it holds.
            ("iam", "SimulatePrincipalPolicy") => {
                Some(self.simulate_principal_policy(caller, form, rid))
            }
            (_, other) if forward.json => Some(Reply::json_error(
                "UnknownOperationException",
                &format!("the sandbox's region does not implement {other}"),
            )),
            (_, other) => Some(Reply::xml_error(
                400,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2011-06-15"),
                rid,
            )),
        };
        match refused {
            Some(r) => Outcome::Reply(r),
            None => Outcome::Forward(forward),
        }
    }

    /// moto's answer to a forwarded request, as AWS would give it: moto's known deviations
    /// translated (module doc of `aws`), the credentials STS minted registered with the front,
    /// the values read kept for leak checks.
    pub fn answer_from_moto(&mut self, f: &Forward, status: u16, body: &str) -> Reply {
        self.forwarded += 1;
        if f.json {
            let v: Option<Value> = serde_json::from_str(body).ok();
            if status < 300 {
                if let Some(v) = &v {
                    for p in ["/SecretString", "/Parameter/Value"] {
                        if let Some(s) = v.pointer(p).and_then(Value::as_str) {
                            self.seen.push(s.to_string());
                        }
                    }
                }
                return Reply {
                    status,
                    content_type: "application/x-amz-json-1.1",
                    body: body.to_string(),
                };
            }
            // An error: JSON `__type` / `message`, or (moto's IAM refusals) an XML document.
            let (code, message) = match &v {
                Some(v) => (
                    v.get("__type")
                        .and_then(Value::as_str)
                        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                        .unwrap_or_default(),
                    ["message", "Message"]
                        .iter()
                        .find_map(|k| v.get(*k).and_then(Value::as_str))
                        .unwrap_or_default()
                        .to_string(),
                ),
                None => (
                    super::moto::xml_text(body, "Code").unwrap_or_default(),
                    super::moto::xml_text(body, "Message").unwrap_or_default(),
                ),
            };
            let message = if message.contains("marked deleted") {
                // moto: "You tried to perform the operation on a secret that's currently marked deleted."
                "You can't perform this operation on the secret because it was marked for deletion."
                    .to_string()
            } else if code == "ResourceNotFoundException"
                && let Some(version) = &f.version
                && f.secret.as_deref().is_some_and(|id| self.knows_secret(id))
            {
                // moto says the secret is not there when only the version is not.
                format!("Secrets Manager can't find the specified secret value for {version}")
            } else {
                message
            };
            let code = if code == "AccessDenied" {
                "AccessDeniedException".to_string()
            } else {
                code
            };
            // AWS answers every modeled error of the JSON protocol with 400; moto sends 404
            // (not found) and 403 (refusals) for some.
            let status = if status < 500 { 400 } else { status };
            let mut r = Reply::json_error(&code, &message);
            r.status = status;
            return r;
        }
        if status < 300
            && let Some((role, session)) = &f.mint_for
            && let (Some(id), Some(secret), Some(token)) = (
                super::moto::xml_text(body, "AccessKeyId"),
                super::moto::xml_text(body, "SecretAccessKey"),
                super::moto::xml_text(body, "SessionToken"),
            )
        {
            let creds = sigv4::Creds {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: Some(token.clone()),
            };
            self.keys.insert(
                id,
                Key {
                    secret,
                    session_token: Some(token),
                    principal: Principal::Session {
                        role: role.clone(),
                        session: session.clone(),
                    },
                    upstream: Some(creds),
                },
            );
        }
        Reply {
            status,
            content_type: "text/xml",
            body: body.to_string(),
        }
    }

    fn authenticate(
        &self,
        req: &Request<'_>,
        service: &str,
        json_protocol: bool,
    ) -> Result<Principal, Reply> {
        let refuse = |code_json: &str, code_xml: &str, status_xml: u16, message: &str| {
            if json_protocol {
                Reply::json_error(code_json, message)
            } else {
                Reply::xml_error(
                    status_xml,
                    code_xml,
                    message,
                    "00000000-0000-4000-8000-000000000000",
                )
            }
        };
        let Some(auth) =
            (req.headers)("authorization").and_then(|h| sigv4::parse_authorization(&h))
        else {
            return Err(refuse(
                "MissingAuthenticationTokenException",
                "MissingAuthenticationToken",
                403,
                "Request is missing Authentication Token",
            ));
        };
        if auth.region != self.region && service != "iam" {
            return Err(refuse(
                "InvalidSignatureException",
                "SignatureDoesNotMatch",
                403,
                &format!(
                    "Credential should be scoped to a valid region. (the endpoint is in {}, the request was signed for {})",
                    self.region, auth.region
                ),
            ));
        }
        let Some(key) = self.keys.get(&auth.access_key_id) else {
            return Err(refuse(
                "UnrecognizedClientException",
                "InvalidClientTokenId",
                403,
                INVALID_TOKEN,
            ));
        };
        if key.session_token.is_some() && (req.headers)("x-amz-security-token") != key.session_token
        {
            return Err(refuse(
                "UnrecognizedClientException",
                "InvalidClientTokenId",
                403,
                INVALID_TOKEN,
            ));
        }
        if !sigv4::verify(
            &auth,
            &key.secret,
            "POST",
            req.path,
            req.query,
            req.headers,
            req.body,
        ) {
            return Err(refuse(
                "InvalidSignatureException",
                "SignatureDoesNotMatch",
                403,
                BAD_SIGNATURE,
            ));
        }
        Ok(key.principal.clone())
    }

    /// The JSON `AccessDeniedException` AWS answers for an identity-policy refusal.
    fn denied_json(&self, caller: &Principal, action: &str, resource: &str, d: Decision) -> Reply {
        Reply::json_error(
            "AccessDeniedException",
            &self.denied_text(caller, action, resource, d),
        )
    }

    fn denied_text(&self, caller: &Principal, action: &str, resource: &str, d: Decision) -> String {
        let why = match d {
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            _ => format!("because no identity-based policy allows the {action} action"),
        };
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            self.principal_arn(caller)
        )
    }

    fn authorize(&self, caller: &Principal, action: &str, resource: &str) -> Decision {
        policy::evaluate(&self.policies_of(caller), action, resource)
    }

    /// A secret by name or ARN (full, or without its six-character suffix).
    fn find_secret(&self, id: &str) -> Option<&Secret> {
        self.secrets.get(id).or_else(|| {
            self.secrets
                .values()
                .find(|s| s.arn == id || s.arn.rsplit_once('-').map(|(a, _)| a) == Some(id))
        })
    }

    fn secret_resource(&self, id: &str) -> String {
        self.find_secret(id)
            .map(|s| s.arn.clone())
            .unwrap_or_else(|| {
                if id.starts_with("arn:") {
                    id.to_string()
                } else {
                    format!(
                        "arn:aws:secretsmanager:{}:{ACCOUNT}:secret:{id}",
                        self.region
                    )
                }
            })
    }

    fn get_secret_value(&self, caller: &Principal, body: &Value) -> Reply {
        let id = body
            .get("SecretId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = self.secret_resource(id);
        let action = "secretsmanager:GetSecretValue";
        match self.authorize(caller, action, &resource) {
            Decision::Allowed => {}
            d => return self.denied_json(caller, action, &resource, d),
        }
        let Some(s) = self.find_secret(id) else {
            return Reply::json_error(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            );
        };
        if s.deleted.is_some() {
            return Reply::json_error(
                "InvalidRequestException",
                "You can't perform this operation on the secret because it was marked for deletion.",
            );
        }
        if let Some(refusal) = self.kms_refusal(caller, id) {
            return refusal;
        }
        let version = match (
            body.get("VersionId").and_then(Value::as_str),
            body.get("VersionStage").and_then(Value::as_str),
        ) {
            (Some(id), _) => s.versions.iter().find(|v| v.id == id).ok_or_else(|| {
                format!("Secrets Manager can't find the specified secret value for VersionId: {id}")
            }),
            (None, stage) => {
                let stage = stage.unwrap_or("AWSCURRENT");
                s.versions
                    .iter()
                    .find(|v| v.stages.iter().any(|x| x == stage))
                    .ok_or_else(|| {
                        format!("Secrets Manager can't find the specified secret value for staging label: {stage}")
                    })
            }
        };
        match version {
            Ok(v) => Reply::json(json!({
                "ARN": s.arn, "Name": s.name, "VersionId": v.id, "SecretString": v.value,
                "VersionStages": v.stages, "CreatedDate": s.created,
            })),
            Err(m) => Reply::json_error("ResourceNotFoundException", &m),
        }
    }

    fn describe_secret(&self, caller: &Principal, body: &Value) -> Reply {
        let id = body
            .get("SecretId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = self.secret_resource(id);
        let action = "secretsmanager:DescribeSecret";
        match self.authorize(caller, action, &resource) {
            Decision::Allowed => {}
            d => return self.denied_json(caller, action, &resource, d),
        }
        let Some(s) = self.find_secret(id) else {
            return Reply::json_error(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            );
        };
        let stages: serde_json::Map<String, Value> = s
            .versions
            .iter()
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect();
        let mut out = json!({
            "ARN": s.arn, "Name": s.name, "CreatedDate": s.created,
            "LastChangedDate": s.created, "VersionIdsToStages": stages,
        });
        if let Some(d) = s.deleted {
            out["DeletedDate"] = json!(d);
        }
        if let Some(k) = &s.kms_key_id {
            out["KmsKeyId"] = json!(k);
        }
        Reply::json(out)
    }

    fn list_secrets(&self, caller: &Principal) -> Reply {
        let action = "secretsmanager:ListSecrets";
        match self.authorize(caller, action, "*") {
            Decision::Allowed => {}
            d => return self.denied_json(caller, action, "*", d),
        }
        let list: Vec<Value> = self
            .secrets
            .values()
            .filter(|s| s.deleted.is_none())
            .map(|s| json!({"ARN": s.arn, "Name": s.name, "CreatedDate": s.created}))
            .collect();
        Reply::json(json!({ "SecretList": list }))
    }

    fn parameter_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ssm:{}:{ACCOUNT}:parameter/{}",
            self.region,
            name.trim_start_matches('/')
        )
    }

    fn get_parameter(&self, caller: &Principal, body: &Value) -> Reply {
        let name = body.get("Name").and_then(Value::as_str).unwrap_or_default();
        let resource = self.parameter_arn(name);
        let action = "ssm:GetParameter";
        match self.authorize(caller, action, &resource) {
            Decision::Allowed => {}
            d => return self.denied_json(caller, action, &resource, d),
        }
        let Some(p) = self.parameters.get(name) else {
            return Reply::json_error("ParameterNotFound", "");
        };
        Reply::json(json!({"Parameter": {
            "Name": p.name, "Type": p.kind, "Value": p.value, "Version": p.version,
            "LastModifiedDate": p.modified, "ARN": resource, "DataType": "text",
        }}))
    }

    fn describe_parameters(&self, caller: &Principal) -> Reply {
        let action = "ssm:DescribeParameters";
        match self.authorize(caller, action, "*") {
            Decision::Allowed => {}
            d => return self.denied_json(caller, action, "*", d),
        }
        let list: Vec<Value> = self
            .parameters
            .values()
            .map(|p| json!({"Name": p.name, "Type": p.kind, "Version": p.version, "LastModifiedDate": p.modified}))
            .collect();
        Reply::json(json!({ "Parameters": list }))
    }

    fn credentials_xml(creds: &sigv4::Creds, arn: &str) -> String {
        let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        format!(
            "\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{expires}</Expiration>\n    </Credentials>\n    <AssumedRoleUser>\n      <AssumedRoleId>AROASANDBOX:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
            creds.access_key_id,
            escape(&creds.secret_access_key),
            escape(creds.session_token.as_deref().unwrap_or_default()),
            escape(arn.rsplit('/').next().unwrap_or_default()),
            escape(arn)
        )
    }

    fn role_name(arn: &str) -> Option<&str> {
        arn.strip_prefix(&format!("arn:aws:iam::{ACCOUNT}:role/"))
            .map(|r| r.rsplit('/').next().unwrap_or(r))
    }

    /// AWS answers every refused web identity with the same `AccessDenied` (which role, which
    /// condition: it never says); bad tokens get `InvalidIdentityToken`.
    fn assume_role_with_web_identity(
        &mut self,
        form: &BTreeMap<String, String>,
        rid: &str,
    ) -> Outcome {
        let role_arn = form.get("RoleArn").cloned().unwrap_or_default();
        let session = form
            .get("RoleSessionName")
            .cloned()
            .unwrap_or_else(|| "session".into());
        let token = form.get("WebIdentityToken").cloned().unwrap_or_default();
        let Ok(jwt) = crate::akv::jwt::decode(&token) else {
            return Outcome::Reply(Reply::xml_error(
                400,
                "InvalidIdentityToken",
                "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
                rid,
            ));
        };
        let iss = jwt.claim_str("iss").unwrap_or_default().to_string();
        let Some((issuer, jwks)) = self.issuer.clone().filter(|(i, _)| *i == iss) else {
            return Outcome::Reply(Reply::xml_error(
                400,
                "InvalidIdentityToken",
                &format!("No OpenIDConnect provider found in your account for {iss}"),
                rid,
            ));
        };
        let kid = jwt.header_str("kid");
        let verified = jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
            .any(|k| jwt.verify_with_jwk(k).is_ok());
        if !verified {
            return Outcome::Reply(Reply::xml_error(
                400,
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
                rid,
            ));
        }
        if jwt.claim_i64("exp").is_some_and(|e| e < now()) {
            return Outcome::Reply(Reply::xml_error(
                400,
                "ExpiredTokenException",
                "Token expired: current date/time must be before the expiration date/time",
                rid,
            ));
        }
        let denied = || {
            Reply::xml_error(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                rid,
            )
        };
        let Some(role) = Self::role_name(&role_arn)
            .and_then(|r| self.roles.get(r))
            .cloned()
        else {
            return Outcome::Reply(denied());
        };
        let host = issuer.trim_start_matches("https://").to_string();
        let provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
        let sub = jwt.claim_str("sub").unwrap_or_default().to_string();
        let auds: Vec<String> = jwt.audiences().into_iter().map(str::to_string).collect();
        let aud_refs: Vec<&str> = auds.iter().map(String::as_str).collect();
        if !policy::trust_admits_web_identity(&role.trust, &provider, &host, &sub, &aud_refs) {
            return Outcome::Reply(denied());
        }
        if self.forwarding {
            // Admitted: moto mints the session (its AssumeRoleWithWebIdentity checks nothing).
            return Outcome::Forward(Forward {
                service: "sts".into(),
                action: "AssumeRoleWithWebIdentity".into(),
                json: false,
                sign: None,
                mint_for: Some((role.name.clone(), session)),
                secret: None,
                version: None,
            });
        }
        let (creds, arn) = self.mint_session(&role.name, &session);
        let mut result = Self::credentials_xml(&creds, &arn);
        result.push_str(&format!(
            "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{}</Audience>\n    <Provider>{}</Provider>\n  ",
            escape(&sub),
            escape(aud_refs.first().copied().unwrap_or_default()),
            escape(&provider)
        ));
        Outcome::Reply(Reply::xml(
            "AssumeRoleWithWebIdentity",
            STS_NS,
            &result,
            rid,
        ))
    }

    fn assume_role(
        &mut self,
        caller: &Principal,
        form: &BTreeMap<String, String>,
        rid: &str,
    ) -> Reply {
        if let Some(refusal) = self.assume_role_refusal(caller, form, rid) {
            return refusal;
        }
        let role_arn = form.get("RoleArn").cloned().unwrap_or_default();
        let session = form
            .get("RoleSessionName")
            .cloned()
            .unwrap_or_else(|| "session".into());
        let role = Self::role_name(&role_arn).unwrap_or_default().to_string();
        let (creds, arn) = self.mint_session(&role, &session);
        let result = format!("{}  ", Self::credentials_xml(&creds, &arn));
        Reply::xml("AssumeRole", STS_NS, &result, rid)
    }

    /// AWS's refusal of an `AssumeRole` (the caller's own policy and the role's trust policy,
    /// with `sts:ExternalId`), or none.
    fn assume_role_refusal(
        &self,
        caller: &Principal,
        form: &BTreeMap<String, String>,
        rid: &str,
    ) -> Option<Reply> {
        let role_arn = form.get("RoleArn").cloned().unwrap_or_default();
        let caller_arn = self.principal_arn(caller);
        let trusted_as = match caller {
            Principal::User(_) => caller_arn.clone(),
            Principal::Session { role, .. } => format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
        };
        let may = self.authorize(caller, "sts:AssumeRole", &role_arn) == Decision::Allowed;
        let admitted = Self::role_name(&role_arn)
            .and_then(|r| self.roles.get(r))
            .is_some_and(|r| {
                policy::trust_admits_principal(
                    &r.trust,
                    &trusted_as,
                    &format!("arn:aws:iam::{ACCOUNT}:root"),
                    may,
                    form.get("ExternalId").map(String::as_str),
                )
            });
        (!admitted).then(|| {
            Reply::xml_error(
                403,
                "AccessDenied",
                &format!(
                    "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
                ),
                rid,
            )
        })
    }

    fn get_role(&self, caller: &Principal, form: &BTreeMap<String, String>, rid: &str) -> Reply {
        let name = form.get("RoleName").cloned().unwrap_or_default();
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
        let d = self.authorize(caller, "iam:GetRole", &arn);
        if d != Decision::Allowed {
            return Reply::xml_error(
                403,
                "AccessDenied",
                &self.denied_text(caller, "iam:GetRole", &arn, d),
                rid,
            );
        }
        let Some(role) = self.roles.get(&name) else {
            return Reply::xml_error(
                404,
                "NoSuchEntity",
                &format!("The role with name {name} cannot be found."),
                rid,
            );
        };
        let doc: String =
            form_urlencoded::byte_serialize(role.trust.to_string().as_bytes()).collect();
        let result = format!(
            "\n    <Role>\n      <Path>/</Path>\n      <AssumeRolePolicyDocument>{doc}</AssumeRolePolicyDocument>\n      <RoleId>AROASANDBOX{}</RoleId>\n      <RoleName>{}</RoleName>\n      <Arn>{}</Arn>\n    </Role>\n  ",
            escape(&name.to_ascii_uppercase()),
            escape(&name),
            escape(&arn)
        );
        Reply::xml("GetRole", IAM_NS, &result, rid)
    }

    /// `iam:SimulatePrincipalPolicy` for a user or role of the account, on its identity-based
    /// policies, for the first of `ActionNames` and of `ResourceArns` (the probe asks one of
    /// each). Inline policies have no names here: the N-th is `<principal>-inline-<N>`.
    fn simulate_principal_policy(
        &self,
        caller: &Principal,
        form: &BTreeMap<String, String>,
        rid: &str,
    ) -> Reply {
        let source = form.get("PolicySourceArn").cloned().unwrap_or_default();
        let d = self.authorize(caller, "iam:SimulatePrincipalPolicy", &source);
        if d != Decision::Allowed {
            return Reply::xml_error(
                403,
                "AccessDenied",
                &self.denied_text(caller, "iam:SimulatePrincipalPolicy", &source, d),
                rid,
            );
        }
        let user = source.strip_prefix(&format!("arn:aws:iam::{ACCOUNT}:user/"));
        let role = source.strip_prefix(&format!("arn:aws:iam::{ACCOUNT}:role/"));
        let found = match (user, role) {
            (Some(u), _) => self.users.get(u).map(|x| (u, x.policies.clone())),
            (_, Some(r)) => self.roles.get(r).map(|x| (r, x.policies.clone())),
            _ => None,
        };
        let Some((name, policies)) = found else {
            return Reply::xml_error(
                400,
                "InvalidInput",
                &format!(
                    "Invalid Entity Arn: {source} does not clearly define entity type and name."
                ),
                rid,
            );
        };
        let action = form
            .get("ActionNames.member.1")
            .cloned()
            .unwrap_or_default();
        let resource = form
            .get("ResourceArns.member.1")
            .cloned()
            .unwrap_or_else(|| "*".into());
        let (decision, matched) = policy::evaluate_matched(&policies, &action, &resource);
        let decision = match decision {
            Decision::Allowed => "allowed",
            Decision::ImplicitDeny => "implicitDeny",
            Decision::ExplicitDeny => "explicitDeny",
        };
        let statements: String = matched
            .iter()
            .map(|i| {
                format!(
                    "<member><SourcePolicyId>{}-inline-{}</SourcePolicyId><SourcePolicyType>IAM Policy</SourcePolicyType></member>",
                    escape(name),
                    i + 1
                )
            })
            .collect();
        let result = format!(
            "\n    <IsTruncated>false</IsTruncated>\n    <EvaluationResults>\n      <member>\n        <EvalDecision>{decision}</EvalDecision>\n        <EvalActionName>{}</EvalActionName>\n        <EvalResourceName>{}</EvalResourceName>\n        <MatchedStatements>{statements}</MatchedStatements>\n        <MissingContextValues/>\n      </member>\n    </EvaluationResults>\n  ",
            escape(&action),
            escape(&resource)
        );
        Reply::xml("SimulatePrincipalPolicy", IAM_NS, &result, rid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(version: Option<&str>) -> Forward {
        Forward {
            service: "secretsmanager".into(),
            action: "GetSecretValue".into(),
            json: true,
            sign: None,
            mint_for: None,
            secret: Some("app/db".into()),
            version: version.map(str::to_string),
        }
    }

    /// moto 5.2.1's own answers (captured from `moto_server`), as AWS words them.
    #[test]
    fn moto_deviations_are_answered_as_aws_does() {
        let mut r = Region::new("eu-west-1");
        r.put_secret("app/db", "v1", None);
        let deleted = r#"{"__type": "InvalidRequestException", "message": "An error occurred (InvalidRequestException) when calling the GetSecretValue operation: You tried to                 perform the operation on a secret that's currently marked deleted."}"#;
        let a = r.answer_from_moto(&forward(None), 400, deleted);
        assert_eq!(a.status, 400);
        let v: Value = serde_json::from_str(&a.body).unwrap_or_default();
        assert_eq!(v["__type"], "InvalidRequestException");
        assert_eq!(
            v["message"],
            "You can't perform this operation on the secret because it was marked for deletion."
        );
        let not_found = r#"{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."}"#;
        // A missing stage of a secret that exists: AWS names the stage, with 400, not 404.
        let a = r.answer_from_moto(&forward(Some("staging label: AWSPENDING")), 404, not_found);
        assert_eq!(a.status, 400);
        assert!(
            a.body
                .contains("can't find the specified secret value for staging label: AWSPENDING"),
            "{}",
            a.body
        );
        // The near miss: the secret itself is missing — moto's words are AWS's.
        let mut other = forward(Some("staging label: AWSPENDING"));
        other.secret = Some("app/none".into());
        let a = r.answer_from_moto(&other, 404, not_found);
        assert_eq!(a.status, 400);
        assert!(
            a.body.contains("can't find the specified secret.\""),
            "{}",
            a.body
        );
        // moto's XML refusal on a JSON service becomes AWS's JSON.
        let xml = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error></ErrorResponse>";
        let a = r.answer_from_moto(&forward(None), 403, xml);
        let v: Value = serde_json::from_str(&a.body).unwrap_or_default();
        assert_eq!(
            (a.status, v["__type"].as_str()),
            (400, Some("AccessDeniedException"))
        );
        assert_eq!(r.forwarded, 4);
    }

    /// The credentials moto's STS mints are registered: requests signed with them are verified
    /// by the front and re-signed with the same key for moto.
    #[test]
    fn minted_sessions_are_registered_and_kept_for_leak_checks() {
        let mut r = Region::new("eu-west-1");
        r.forwarding = true;
        let f = Forward {
            service: "sts".into(),
            action: "AssumeRoleWithWebIdentity".into(),
            json: false,
            sign: None,
            mint_for: Some(("eso-shop".into(), "external-secrets-provider-aws".into())),
            secret: None,
            version: None,
        };
        let xml = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAMOTO000000000001</AccessKeyId><SecretAccessKey>moto-secret</SecretAccessKey><SessionToken>moto-token</SessionToken></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let a = r.answer_from_moto(&f, 200, xml);
        assert_eq!(a.status, 200);
        let key = r.keys.get("ASIAMOTO000000000001").cloned();
        let key = key.unwrap_or_else(|| panic!("not registered"));
        assert!(matches!(&key.principal, Principal::Session { role, .. } if role == "eso-shop"));
        assert_eq!(
            key.upstream.map(|c| c.secret_access_key),
            Some("moto-secret".into())
        );
        let sensitive = r.sensitive();
        assert!(sensitive.contains(&"moto-token".to_string()));
        // An STS refusal registers nothing.
        let before = r.keys.len();
        r.answer_from_moto(
            &f,
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>",
        );
        assert_eq!(r.keys.len(), before);
    }

    /// kms:Decrypt is decided on the key the secret's alias names, for customer-managed keys
    /// only: the AWS managed key is usable through Secrets Manager by every principal.
    #[test]
    fn kms_decrypt_is_decided_on_the_customer_managed_key() {
        let mut r = Region::new("eu-west-1");
        r.put_kms_alias("alias/ledger-signing");
        r.put_secret("ledger/db", "v", None);
        r.put_secret(
            "ledger/signing-key",
            "v",
            Some("alias/ledger-signing".into()),
        );
        let read = json!({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
        r.put_role("eso-ledger", None, Some(vec![read.clone()]));
        let caller = Principal::Session {
            role: "eso-ledger".into(),
            session: "s".into(),
        };
        assert!(r.kms_refusal(&caller, "ledger/db").is_none());
        let refused = r.kms_refusal(&caller, "ledger/signing-key");
        let refused = refused.map(|x| x.body).unwrap_or_default();
        assert!(
            refused.contains("Access to KMS is not allowed"),
            "{refused}"
        );
        // Granted on the key's ARN (not on the alias): decrypted.
        let key = r
            .kms_keys
            .get("alias/ledger-signing")
            .cloned()
            .unwrap_or_default();
        assert!(
            key.starts_with("arn:aws:kms:eu-west-1:123456789012:key/"),
            "{key}"
        );
        let decrypt =
            json!({"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]});
        r.put_role("eso-ledger", None, Some(vec![read, decrypt]));
        assert!(r.kms_refusal(&caller, "ledger/signing-key").is_none());
    }
}
