//! The region's back end when `moto_server` (PyPI `moto[server]`) is installed: one moto process
//! per sandbox on a free loopback port, killed with the sandbox; seeded with the scenario's IAM
//! users, roles and inline policies, secrets and parameters through moto's own API; and the
//! client the front forwards accepted requests with, re-signed with the caller's moto key.
//!
//! moto runs with its IAM enforcement off (the front authenticates and authorizes every request;
//! moto's enforcement would answer in the wrong wire format and only on resource `*`), so what it
//! answers is data: secrets, versions and stages, deletion dates, parameters, roles, caller
//! identities and the temporary credentials STS mints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::sigv4::{self, Creds};

/// Who serves the region: the in-process simulation, or moto behind the in-process front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AwsBackend {
    /// `KUBECTL_ESO_SANDBOX_MOTO` decides (`off`, or a path to `moto_server`); unset, moto when
    /// `moto_server` is on PATH, else the simulation.
    #[default]
    Auto,
    Simulation,
    /// This `moto_server` binary; a failure to start it is an error.
    Moto(PathBuf),
}

pub const ENV: &str = "KUBECTL_ESO_SANDBOX_MOTO";

impl AwsBackend {
    /// `Auto` made concrete: (`Some(binary)` for moto, and whether the choice was forced).
    pub fn resolve(&self) -> (Option<PathBuf>, bool) {
        match self {
            AwsBackend::Simulation => (None, true),
            AwsBackend::Moto(p) => (Some(p.clone()), true),
            AwsBackend::Auto => match std::env::var(ENV) {
                Ok(v) if v.trim().eq_ignore_ascii_case("off") => (None, true),
                Ok(v) if !v.trim().is_empty() => (Some(PathBuf::from(v.trim())), true),
                _ => (on_path("moto_server"), false),
            },
        }
    }
}

fn on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|c| is_executable(c))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// `binary` started under a watchdog that stops it when the sandbox goes, however it goes: on
/// Unix, a `sh` that runs moto in the background and reads its own stdin, a pipe only the sandbox
/// holds. When the sandbox closes it ([`Moto::kill`]) or dies, even by SIGKILL (the kernel closes
/// its end), the read ends and the watchdog stops moto (TERM, then KILL after 3 s) and exits.
/// SIGINT/SIGTERM/SIGHUP to the watchdog (a Ctrl-C reaches the whole process group) stop moto too,
/// and when moto exits on its own the watchdog exits with its status, so a moto that cannot start
/// is still seen at once. Without this a killed sandbox left a Python process holding a port.
#[cfg(unix)]
fn watched(binary: &Path) -> Command {
    const WATCHDOG: &str = r#"exec 3<&0 0</dev/null
"$0" "$@" 3<&- & m=$!
{ read -r _ <&3; kill -TERM $$ 2>/dev/null; } & r=$!
exec 3<&-
stop() {
  trap - INT TERM HUP
  kill "$m" 2>/dev/null; i=0
  while kill -0 "$m" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i+1)); done
  kill -9 "$m" 2>/dev/null; kill "$r" 2>/dev/null; exit 0
}
trap stop INT TERM HUP
wait "$m"; s=$?
kill "$r" 2>/dev/null
exit "$s""#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(WATCHDOG).arg(binary);
    cmd
}

#[cfg(not(unix))]
fn watched(binary: &Path) -> Command {
    Command::new(binary)
}

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: std::sync::Mutex<Child>,
    url: String,
    http: reqwest::Client,
    /// What moto's own requests are signed with while it does not check keys.
    admin: Creds,
    region: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One answer from moto.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Moto {
    /// Starts `binary` on a free loopback port and waits until it answers (up to 30 s); tries
    /// three ports, as another process may take the one found free before moto binds it.
    pub async fn start(binary: &Path, region: &str) -> anyhow::Result<Moto> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut last = None;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .context("finding a free loopback port for moto_server")?;
            let child = watched(binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // moto's enforcement stays off: the front authorizes (see the module doc).
                .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let mut moto = Moto {
                child: std::sync::Mutex::new(child),
                url: format!("http://127.0.0.1:{port}"),
                http: http.clone(),
                admin: Creds {
                    access_key_id: "AKIASANDBOXMOTOADMIN".into(),
                    secret_access_key: "sandbox-moto-admin".into(),
                    session_token: None,
                },
                region: region.to_string(),
            };
            match moto.ready().await {
                Ok(()) => return Ok(moto),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("moto_server did not start")))
    }

    /// Stops the process (idempotent): with the sandbox, whoever still holds the server.
    /// Closing the watchdog's stdin stops moto and then the watchdog (see [`watched`]); a
    /// watchdog that has not gone after 5 s is killed.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        drop(child.stdin.take());
        for _ in 0..100 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    async fn ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..300 {
            let exited = self
                .child
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait();
            if let Ok(Some(status)) = exited {
                bail!(
                    "moto_server exited ({status}) before answering on {}",
                    self.url
                );
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/moto-api/", self.url))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill();
        bail!("moto_server did not answer on {} within 30 s", self.url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `POST /` to moto, signed with `creds` for (`region`, `service`) when given.
    pub async fn post(
        &self,
        creds: Option<&Creds>,
        region: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        let host = self.url.trim_start_matches("http://").to_string();
        let mut req = self.http.post(format!("{}/", self.url)).body(body.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(c) = creds {
            for (k, v) in sigv4::sign(
                c,
                region,
                service,
                &host,
                headers,
                &body,
                jiff::Timestamp::now(),
            ) {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await.context("forwarding to moto_server")?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Ok(Answer { status, body })
    }

    /// A JSON-protocol call as the sandbox's administrator; fails unless moto accepts it.
    pub async fn json(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let a = self
            .post(
                Some(&self.admin),
                &self.region,
                service,
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                body.to_string().into_bytes(),
            )
            .await?;
        if a.status >= 300 {
            bail!("moto {target}: HTTP {} {}", a.status, error_code(&a.body));
        }
        Ok(serde_json::from_str(&a.body).unwrap_or(Value::Null))
    }

    /// A Query-protocol call (IAM) as the sandbox's administrator; returns moto's XML.
    pub async fn iam(&self, params: &[(&str, &str)]) -> anyhow::Result<String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Version", "2010-05-08")
            .extend_pairs(params)
            .finish();
        let a = self
            .post(
                Some(&self.admin),
                "us-east-1",
                "iam",
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body.into_bytes(),
            )
            .await?;
        if a.status >= 300 {
            bail!(
                "moto iam {}: HTTP {} {}",
                params.first().map(|p| p.1).unwrap_or_default(),
                a.status,
                error_code(&a.body)
            );
        }
        Ok(a.body)
    }

    /// An IAM user with its inline policies (`<user>-inline-<N>`, as `SimulatePrincipalPolicy`
    /// names them); returns the access key moto made for it (moto chooses key ids itself).
    pub async fn create_user(&self, name: &str, policies: &[Value]) -> anyhow::Result<Creds> {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)])
            .await?;
        for (i, p) in policies.iter().enumerate() {
            let policy_name = format!("{name}-inline-{}", i + 1);
            let doc = p.to_string();
            self.iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", &policy_name),
                ("PolicyDocument", &doc),
            ])
            .await?;
        }
        let xml = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await?;
        Ok(Creds {
            access_key_id: xml_text(&xml, "AccessKeyId").context("moto CreateAccessKey")?,
            secret_access_key: xml_text(&xml, "SecretAccessKey").context("moto CreateAccessKey")?,
            session_token: None,
        })
    }

    /// Creates or updates a role: its trust policy and its inline policies (`old_count` of them
    /// exist from before; the ones beyond the new list are deleted).
    pub async fn put_role(
        &self,
        name: &str,
        exists: bool,
        trust: Option<&Value>,
        policies: Option<(&[Value], usize)>,
    ) -> anyhow::Result<()> {
        let empty = json!({"Version": "2012-10-17", "Statement": []});
        if !exists {
            let doc = trust.unwrap_or(&empty).to_string();
            self.iam(&[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", &doc),
            ])
            .await?;
        } else if let Some(t) = trust {
            let doc = t.to_string();
            self.iam(&[
                ("Action", "UpdateAssumeRolePolicy"),
                ("RoleName", name),
                ("PolicyDocument", &doc),
            ])
            .await?;
        }
        if let Some((policies, old_count)) = policies {
            for (i, p) in policies.iter().enumerate() {
                let policy_name = format!("{name}-inline-{}", i + 1);
                let doc = p.to_string();
                self.iam(&[
                    ("Action", "PutRolePolicy"),
                    ("RoleName", name),
                    ("PolicyName", &policy_name),
                    ("PolicyDocument", &doc),
                ])
                .await?;
            }
            for i in policies.len()..old_count {
                let policy_name = format!("{name}-inline-{}", i + 1);
                self.iam(&[
                    ("Action", "DeleteRolePolicy"),
                    ("RoleName", name),
                    ("PolicyName", &policy_name),
                ])
                .await?;
            }
        }
        Ok(())
    }

    /// `CreateSecret`, or `PutSecretValue` when it exists (AWSCURRENT moves, the old current
    /// becomes AWSPREVIOUS); returns the secret's ARN (moto chooses its six-character suffix).
    pub async fn put_secret(
        &self,
        name: &str,
        value: &str,
        kms_key_id: Option<&str>,
        exists: bool,
    ) -> anyhow::Result<String> {
        let v = if exists {
            self.json(
                "secretsmanager",
                "secretsmanager.PutSecretValue",
                json!({"SecretId": name, "SecretString": value}),
            )
            .await?
        } else {
            let mut body = json!({"Name": name, "SecretString": value});
            if let Some(k) = kms_key_id {
                body["KmsKeyId"] = json!(k);
            }
            self.json("secretsmanager", "secretsmanager.CreateSecret", body)
                .await?
        };
        v.get("ARN")
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("moto answered without the secret's ARN")
    }

    /// `DeleteSecret` with AWS's default recovery window (7 days: ESO users restore it).
    pub async fn schedule_deletion(&self, name: &str) -> anyhow::Result<()> {
        self.json(
            "secretsmanager",
            "secretsmanager.DeleteSecret",
            json!({"SecretId": name, "RecoveryWindowInDays": 7}),
        )
        .await
        .map(|_| ())
    }

    pub async fn put_parameter(&self, name: &str, value: &str, kind: &str) -> anyhow::Result<()> {
        self.json(
            "ssm",
            "AmazonSSM.PutParameter",
            json!({"Name": name, "Value": value, "Type": kind, "Overwrite": true}),
        )
        .await
        .map(|_| ())
    }

    /// A customer-managed KMS key with `alias` (`alias/NAME`); returns moto's key ARN.
    pub async fn create_kms_key(&self, alias: &str) -> anyhow::Result<String> {
        let v = self
            .json(
                "kms",
                "TrentService.CreateKey",
                json!({"Description": format!("sandbox key {alias}")}),
            )
            .await?;
        let id = v
            .pointer("/KeyMetadata/KeyId")
            .and_then(Value::as_str)
            .context("moto CreateKey answered without a key id")?
            .to_string();
        self.json(
            "kms",
            "TrentService.CreateAlias",
            json!({"AliasName": alias, "TargetKeyId": id}),
        )
        .await?;
        v.pointer("/KeyMetadata/Arn")
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("moto CreateKey answered without a key ARN")
    }

    /// A secret's name and ARN as moto knows it, by name or ARN.
    pub async fn describe_secret(&self, id: &str) -> Option<(String, String)> {
        let v = self
            .json(
                "secretsmanager",
                "secretsmanager.DescribeSecret",
                json!({"SecretId": id}),
            )
            .await
            .ok()?;
        Some((
            v.get("Name")?.as_str()?.to_string(),
            v.get("ARN")?.as_str()?.to_string(),
        ))
    }
}

/// The error code of a JSON (`__type`) or XML (`<Code>`) error body: never its message, which
/// may quote a value.
fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(Value::as_str).map(str::to_string))
        .or_else(|| xml_text(body, "Code"))
        .unwrap_or_default()
}

/// The text of the first `<tag>` of an XML document, unescaped.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{tag}>"))?;
    let (v, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        v.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(all(test, target_os = "linux"))]
mod watchdog_tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A zombie is gone for our purpose (its parent has not reaped it yet).
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    /// The watched program's pid: the watchdog's child whose command line is `binary`.
    fn watched_pid(watchdog: u32, binary: &str) -> u32 {
        for _ in 0..100 {
            for task in std::fs::read_dir(format!("/proc/{watchdog}/task"))
                .unwrap()
                .flatten()
            {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                for pid in children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    if cmd.starts_with(binary.as_bytes()) {
                        return pid;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{binary} was not started under the watchdog");
    }

    fn gone_within(pid: u32, secs: u64) -> bool {
        for _ in 0..secs * 20 {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    #[test]
    fn the_watched_program_stops_when_the_sandbox_end_of_the_pipe_closes() {
        // What the kernel does when the sandbox dies by SIGKILL: its end of the pipe closes.
        let mut child = watched(Path::new("/bin/sleep"))
            .arg("300")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let sleeper = watched_pid(child.id(), "/bin/sleep");
        assert!(alive(sleeper));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            alive(sleeper),
            "the watchdog must not stop it while the pipe is open"
        );
        drop(child.stdin.take());
        assert!(
            gone_within(sleeper, 5),
            "the watched program outlived the sandbox"
        );
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    #[test]
    fn a_program_ignoring_term_is_killed() {
        let mut child = watched(Path::new("/bin/sh"))
            .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stubborn = watched_pid(child.id(), "/bin/sh");
        drop(child.stdin.take());
        assert!(
            gone_within(stubborn, 6),
            "TERM ignored and no KILL followed"
        );
        child.wait().unwrap();
    }

    #[test]
    fn the_watchdog_exits_with_the_program_that_could_not_start() {
        let mut child = watched(Path::new("/bin/sh"))
            .args(["-c", "exit 3"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // The sandbox still holds the pipe: the watchdog must not wait on it.
        let mut status = None;
        for _ in 0..100 {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(status.and_then(|s| s.code()), Some(3));
    }

    #[test]
    fn a_term_to_the_watchdog_stops_the_program() {
        let mut child = watched(Path::new("/bin/sleep"))
            .arg("300")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let sleeper = watched_pid(child.id(), "/bin/sleep");
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(gone_within(sleeper, 5));
        child.wait().unwrap();
    }
}
