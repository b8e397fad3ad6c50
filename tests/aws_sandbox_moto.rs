//! Issue 15: the sandbox's AWS region served by a real AWS API implementation. When
//! `moto_server` is installed the region is moto behind the sandbox's front (which checks
//! signatures, trust policies and per-ARN identity policies, and answers those refusals itself);
//! without it, the in-process simulation. For every AWS scenario both give the same first root
//! cause in `doctor` and `describe-chain`, the moto-backed runs print no access key, session
//! token or secret value in any format, and the data really comes from moto.
//!
//! A missing `moto_server` fails these tests; without it they are ignored at build time
//! (`has_moto`; with CI=true never).

#![cfg(feature = "sandbox")]

mod common;

use std::process::Command;

use common::leak::{assert_none_leaked, every_format};
use common::{SandboxEnv, sandbox_run_time_secrets, stderr, stdout};
use eso_sandbox::aws::{AwsBackend, sigv4::Creds};
use serde_json::{Value, json};

fn moto() -> AwsBackend {
    AwsBackend::Moto("moto_server".into())
}

/// The ExternalSecret a finding concerns (as tests/same_root_cause.rs picks it): its object,
/// else the first failing effect, else the first ExternalSecret it affects.
fn external_secret_of(f: &Value) -> Option<(String, String)> {
    let mut candidates: Vec<&str> = vec![f["object"].as_str().unwrap_or_default()];
    for e in f["effects"].as_array().into_iter().flatten() {
        candidates.push(e["object"].as_str().unwrap_or_default());
    }
    for a in f["affects"].as_array().into_iter().flatten() {
        candidates.push(a.as_str().unwrap_or_default());
    }
    candidates.into_iter().find_map(|c| {
        let (ns, name) = c.strip_prefix("ExternalSecret ")?.split_once('/')?;
        Some((ns.to_string(), name.to_string()))
    })
}

/// What doctor and describe-chain say first about a scenario, logged in as `kubectl eso sandbox`
/// logs its shell in (the AWS operator's keys, the Vault operator's token).
#[derive(Debug, PartialEq, Eq)]
struct Roots {
    doctor_exit: Option<i32>,
    doctor: Option<String>,
    /// The ExternalSecret the root concerns (the first one listed when there is no root).
    external_secret: (String, String),
    chain: Option<String>,
}

fn roots(env: &SandboxEnv) -> Roots {
    let (doctor_exit, doctor) =
        tokio::task::block_in_place(|| env.json(&["doctor", "-A", "-o", "json"]));
    let root = doctor["findings"].get(0).cloned();
    let external_secret = root
        .as_ref()
        .and_then(external_secret_of)
        .or_else(|| {
            let (_, scope) =
                tokio::task::block_in_place(|| env.json(&["scope", "-A", "-o", "json"]));
            let row = scope["externalSecrets"].get(0)?.clone();
            Some((
                row["namespace"].as_str()?.to_string(),
                row["name"].as_str()?.to_string(),
            ))
        })
        .unwrap_or_else(|| panic!("no ExternalSecret to describe: {doctor:#}"));
    let (ns, name) = &external_secret;
    let (_, chain) =
        tokio::task::block_in_place(|| env.json(&["describe-chain", name, "-n", ns, "-o", "json"]));
    let chain_code = chain["verdict"]["code"].as_str().map(str::to_string);
    Roots {
        doctor_exit,
        doctor: root.and_then(|r| r["code"].as_str().map(str::to_string)),
        external_secret,
        // A healthy chain's verdict has no code, or "ok": compare what there is.
        chain: chain_code,
    }
}

async fn logged_in(scenario: &str, backend: AwsBackend) -> SandboxEnv {
    let mut env = SandboxEnv::start_aws(scenario, backend).await;
    env.login_vault_operator().await;
    env.login_aws_operator();
    env
}

/// Every run of `commands` in every output format, with and without -v: no access key id, secret
/// key, session token (the ones moto minted for the IRSA logins among them), secret or
/// parameter value, plain or encoded, and no JWT.
fn assert_moto_runs_leak_nothing(env: &SandboxEnv, scenario: &str, commands: &[Vec<String>]) {
    let commands: Vec<Vec<&str>> = commands
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    let outputs = every_format(env, &format!("{scenario} (moto)"), &commands);
    // Collected after the runs: the sessions moto minted for them are known then.
    let mut values = sandbox_run_time_secrets(&env.sandbox);
    let aws = env.sandbox.aws().map(|a| a.sensitive()).unwrap_or_default();
    assert!(
        aws.iter().any(|v| v.starts_with("AKIA"))
            && aws.iter().any(|v| v.starts_with("sandbox-operator-")),
        "{scenario}: the region's keys are missing from the leak check"
    );
    values.extend(aws);
    values.sort();
    values.dedup();
    assert_none_leaked(&outputs, &values);
}

/// The scenario against the simulation, then against moto: the same first root cause in doctor
/// and describe-chain (`expect` when the scenario was written for one; none on the healthy one),
/// moto really answered, and nothing sensitive printed by the moto-backed runs.
async fn same_as_simulation(scenario: &str, expect: Option<&str>) {
    let sim = logged_in(scenario, AwsBackend::Simulation).await;
    let simulated = roots(&sim);
    assert!(
        sim.sandbox
            .aws()
            .is_some_and(|a| a.moto_url().is_none() && a.forwarded() == 0),
        "{scenario}: the simulation forwarded"
    );
    sim.sandbox.shutdown().await;

    let env = logged_in(scenario, moto()).await;
    let aws = env
        .sandbox
        .aws()
        .unwrap_or_else(|| panic!("{scenario}: no AWS region"));
    assert!(
        aws.served_by()
            .starts_with("moto_server on http://127.0.0.1:"),
        "{}",
        aws.served_by()
    );
    let from_moto = roots(&env);
    assert_eq!(
        from_moto, simulated,
        "{scenario}: moto-backed (left) and simulated (right) disagree"
    );
    assert_eq!(
        from_moto.doctor.as_deref(),
        expect,
        "{scenario}: doctor's first finding"
    );
    match expect {
        Some(code) => {
            assert_eq!(from_moto.doctor_exit, Some(1), "{scenario}");
            assert_eq!(
                from_moto.chain.as_deref(),
                Some(code),
                "{scenario}: describe-chain"
            );
        }
        None => assert_eq!(from_moto.doctor_exit, Some(0), "{scenario}"),
    }
    // ESO's reads and the probe's went to moto: reads of secrets or parameters, and STS.
    let forwarded = env.sandbox.aws().map(|a| a.forwarded()).unwrap_or(0);
    assert!(forwarded > 0, "{scenario}: nothing was forwarded to moto");

    let (ns, name) = from_moto.external_secret.clone();
    let chain = vec!["describe-chain".to_string(), name, "-n".into(), ns];
    let mut probe_as_me = chain.clone();
    probe_as_me.extend(["--probe-as".to_string(), "me".to_string()]);
    assert_moto_runs_leak_nothing(
        &env,
        scenario,
        &[vec!["doctor".into(), "-A".into()], chain, probe_as_me],
    );
    env.sandbox.shutdown().await;
}

macro_rules! aws_scenario {
    ($test:ident, $name:literal, $expect:expr) => {
        #[cfg_attr(
            not(has_moto),
            ignore = "needs moto_server on PATH: pip install 'moto[server]==5.2.1'"
        )]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            same_as_simulation($name, $expect).await;
        }
    };
}

aws_scenario!(issue15_moto_aws_healthy, "aws-healthy", None);
aws_scenario!(
    issue15_moto_aws_irsa_trust_mismatch,
    "aws-irsa-trust-mismatch",
    Some("aws-irsa-trust-mismatch")
);
aws_scenario!(
    issue15_moto_aws_access_denied_one_secret,
    "aws-access-denied-one-secret",
    Some("provider-read-denied")
);
aws_scenario!(
    issue15_moto_aws_secret_scheduled_deletion,
    "aws-secret-scheduled-deletion",
    Some("provider-secret-deleted")
);
aws_scenario!(
    issue15_moto_aws_property_missing,
    "aws-property-missing",
    Some("provider-property-missing")
);
aws_scenario!(
    issue15_moto_aws_kms_decrypt_denied,
    "aws-kms-decrypt-denied",
    Some("aws-kms-decrypt-denied")
);

/// Every AWS scenario has a test above: a new one must be added there.
#[test]
fn issue15_every_aws_scenario_is_compared_with_moto() {
    let source = include_str!("aws_sandbox_moto.rs");
    let aws: Vec<&str> = eso_sandbox::scenario_names()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("aws-"))
        .collect();
    assert!(aws.len() >= 6, "{aws:?}");
    for name in aws {
        assert!(
            source.contains(&format!(
                "aws_scenario!(\n    issue15_moto_{}",
                name.replace('-', "_")
            )) || source.contains(&format!(
                "aws_scenario!(issue15_moto_{}",
                name.replace('-', "_")
            )),
            "AWS scenario {name} is not compared with moto here"
        );
    }
}

/// A signed JSON-protocol call to `endpoint` (the front, or moto itself).
async fn call(
    endpoint: &str,
    creds: &Creds,
    service: &str,
    target: &str,
    body: Value,
) -> (u16, Value) {
    let host = endpoint.trim_start_matches("http://").to_string();
    let body = body.to_string().into_bytes();
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let mut req = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
        .post(format!("{endpoint}/"))
        .body(body.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in eso_sandbox::aws::sigv4::sign(
        creds,
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

/// Data put into moto behind the sandbox's back is what the front answers with: a parameter and
/// a secret that exist only in moto (moto chose the secret's ARN suffix), read through the
/// front with the scenario's keys; the front still refuses by ARN what the caller's policy does
/// not allow, itself (moto is not asked), in AWS's format.
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]==5.2.1'"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_the_moto_backed_region_answers_with_moto_data() {
    let env = SandboxEnv::start_aws("aws-healthy", moto()).await;
    let aws = env.sandbox.aws().unwrap_or_else(|| panic!("no AWS region"));
    let moto_url = aws
        .moto_url()
        .unwrap_or_else(|| panic!("not served by moto"));
    let front = aws.endpoint();
    assert_ne!(moto_url, front);
    // Behind the sandbox's back: straight to moto (its IAM enforcement is off).
    let admin = Creds {
        access_key_id: "AKIATESTMOTODIRECT01".into(),
        secret_access_key: "direct".into(),
        session_token: None,
    };
    let value = format!("only-in-moto-{}", uuid_suffix());
    let (s, _) = call(
        &moto_url,
        &admin,
        "ssm",
        "AmazonSSM.PutParameter",
        json!({"Name": "/shop/only-in-moto", "Value": value, "Type": "SecureString"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, created) = call(
        &moto_url,
        &admin,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({"Name": "shop/only-in-moto", "SecretString": value}),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let moto_arn = created["ARN"].as_str().unwrap_or_default().to_string();
    assert!(
        moto_arn.contains(":secret:shop/only-in-moto-"),
        "{moto_arn}"
    );

    // Through the front, as the scenario's Parameter Store user (ssm:GetParameter on *).
    let user = Creds {
        access_key_id: "AKIASHOPPARAMS000001".into(),
        secret_access_key: "canary-shop-params-secret-access-key".into(),
        session_token: None,
    };
    let before = aws.forwarded();
    let (s, got) = call(
        &front,
        &user,
        "ssm",
        "AmazonSSM.GetParameter",
        json!({"Name": "/shop/only-in-moto", "WithDecryption": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        got["Parameter"]["Value"] == value.as_str(),
        "the parameter's value is not moto's"
    );
    assert!(aws.forwarded() > before, "the front answered without moto");
    // The near miss: a parameter moto does not have is moto's ParameterNotFound, with AWS's 400.
    let (s, missing) = call(
        &front,
        &user,
        "ssm",
        "AmazonSSM.GetParameter",
        json!({"Name": "/shop/not-anywhere", "WithDecryption": true}),
    )
    .await;
    assert_eq!(
        (s, missing["__type"].as_str()),
        (400, Some("ParameterNotFound"))
    );

    // The operator describes the moto-only secret: moto's ARN, moto's version stages.
    let op = aws.operator_credentials();
    let (s, described) = call(
        &front,
        &op,
        "secretsmanager",
        "secretsmanager.DescribeSecret",
        json!({"SecretId": "shop/only-in-moto"}),
    )
    .await;
    assert_eq!(s, 200, "{described}");
    assert_eq!(described["ARN"].as_str(), Some(moto_arn.as_str()));
    // The same user may not read Secrets Manager: the front refuses on the secret's exact
    // (moto-chosen) ARN, in AWS's JSON with HTTP 400, and moto is not asked.
    let before = aws.forwarded();
    let (s, refused) = call(
        &front,
        &user,
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        json!({"SecretId": "shop/only-in-moto"}),
    )
    .await;
    assert_eq!(s, 400, "{refused}");
    assert_eq!(refused["__type"], "AccessDeniedException");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "perform: secretsmanager:GetSecretValue on resource: {moto_arn} "
        )),
        "{message}"
    );
    assert!(!refused.to_string().contains(&value));
    assert_eq!(
        aws.forwarded(),
        before,
        "a refusal of the front reached moto"
    );
    // A key the account does not have is refused by the front too (moto's enforcement is off).
    let stranger = Creds {
        access_key_id: "AKIANOTINTHEACCOUNT1".into(),
        secret_access_key: "x".into(),
        session_token: None,
    };
    let (s, unknown) = call(
        &front,
        &stranger,
        "ssm",
        "AmazonSSM.GetParameter",
        json!({"Name": "/shop/only-in-moto", "WithDecryption": true}),
    )
    .await;
    assert_eq!(
        (s, unknown["__type"].as_str()),
        (400, Some("UnrecognizedClientException"))
    );
    env.sandbox.shutdown().await;
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// `kubectl eso sandbox` says who serves the region, and KUBECTL_ESO_SANDBOX_MOTO chooses: `off`
/// for the simulation, a path for that moto_server.
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]==5.2.1'"
)]
#[test]
fn issue15_the_sandbox_says_who_serves_the_aws_region() {
    let moto_path = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("moto_server"))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| panic!("moto_server is not on PATH (pip install 'moto[server]')"));
    for (setting, want, not) in [
        (
            "off",
            "served by the sandbox's own simulation",
            "moto_server on",
        ),
        (
            moto_path.to_str().unwrap_or_default(),
            "served by moto_server on http://127.0.0.1:",
            "own simulation",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_kubectl-eso"))
            .args([
                "sandbox",
                "--scenario",
                "aws-property-missing",
                "--",
                "scope",
                "-A",
            ])
            .env("KUBECTL_ESO_SANDBOX_MOTO", setting)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap_or_else(|e| panic!("sandbox: {e}"));
        let err = stderr(&o);
        assert!(err.contains(want), "{setting}: {err}");
        assert!(!err.contains(not), "{setting}: {err}");
        assert!(
            stdout(&o).contains("reports-warehouse"),
            "{setting}: {}{err}",
            stdout(&o)
        );
    }
}

/// Every process below `pid` (children, their children, …) whose command line mentions `what`.
#[cfg(target_os = "linux")]
fn descendants_running(pid: u32, what: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for task in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmd).contains(what) {
                    found.push(c);
                }
                queue.push(c);
            }
        }
    }
    found
}

/// A process that exists and is not a zombie.
#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
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

/// A sandbox killed with SIGKILL (nothing of it runs after) does not leave its moto_server
/// behind holding a loopback port: the watchdog it runs under reads a pipe only the sandbox held.
#[cfg(target_os = "linux")]
#[cfg_attr(
    not(has_moto),
    ignore = "needs moto_server on PATH: pip install 'moto[server]==5.2.1'"
)]
#[test]
fn issue15_a_sandbox_killed_with_sigkill_leaves_no_moto_running() {
    use std::time::{Duration, Instant};
    let (mut child, _dir, _) = common::serve_sandbox(
        "aws-property-missing",
        &[("KUBECTL_ESO_SANDBOX_MOTO", "moto_server")],
        false,
    );
    let motos = descendants_running(child.id(), "moto_server");
    assert!(!motos.is_empty(), "no moto_server under the sandbox");
    assert!(motos.iter().all(|&p| alive(p)));
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    let deadline = Instant::now() + Duration::from_secs(8);
    while motos.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "moto_server still running 8 s after its sandbox was killed: {motos:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
