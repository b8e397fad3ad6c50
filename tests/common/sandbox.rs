//! One harness for the tests that run the built binary against a sandbox: the simulated cluster
//! with a scenario loaded, a kubeconfig for it, and the provider CA bundle and proxy that
//! `kubectl eso sandbox` hands its subcommands, so a test runs the binary exactly as a user of the
//! sandbox would.

use std::path::PathBuf;
use std::process::Output;

use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

use super::{run_with, sandbox_secret_values, stderr, stdout, write_file};

pub struct SandboxEnv {
    pub sandbox: Sandbox,
    _dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// The registry's and Key Vault's CAs in one PEM file.
    pub provider_ca: PathBuf,
    /// The Key Vault fake's proxy: its custom cloud's vault hosts are reached through it.
    pub proxy: Option<String>,
    /// More environment for every run (e.g. an operator's VAULT_ADDR and VAULT_TOKEN).
    pub extra_env: Vec<(String, String)>,
}

impl SandboxEnv {
    pub async fn start(scenario: &str) -> SandboxEnv {
        SandboxEnv::start_scaled(scenario, None).await
    }

    pub async fn start_scaled(scenario: &str, scale: Option<usize>) -> SandboxEnv {
        SandboxEnv::start_with(scenario, scale, eso_sandbox::aws::AwsBackend::Auto).await
    }

    /// An AWS scenario's region served as `aws` says (moto behind the front, or the simulation).
    pub async fn start_aws(scenario: &str, aws: eso_sandbox::aws::AwsBackend) -> SandboxEnv {
        SandboxEnv::start_with(scenario, None, aws).await
    }

    async fn start_with(
        scenario: &str,
        scale: Option<usize>,
        aws_backend: eso_sandbox::aws::AwsBackend,
    ) -> SandboxEnv {
        let sandbox = Sandbox::start(SandboxOptions {
            scenario: scenario.into(),
            scale,
            aws_backend,
            ..SandboxOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox {scenario}: {e:#}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = write_file(dir.path(), "kubeconfig", &sandbox.api().kubeconfig(None));
        let mut bundle = sandbox.registry().ca_pem();
        let mut proxy = None;
        if let Some(akv) = sandbox.akv() {
            bundle.push('\n');
            bundle.push_str(&akv.ca_pem());
            proxy = Some(akv.proxy_url());
        }
        let provider_ca = write_file(dir.path(), "provider-ca.pem", &bundle);
        SandboxEnv {
            sandbox,
            _dir: dir,
            kubeconfig,
            provider_ca,
            proxy,
            extra_env: Vec::new(),
        }
    }

    /// Runs every later command logged in to the sandbox's Vault as an on-call operator, as
    /// `kubectl eso sandbox` does: VAULT_ADDR and a token that may read policies, roles and mounts.
    pub async fn login_vault_operator(&mut self) {
        let token = self
            .sandbox
            .vault_operator_token()
            .await
            .unwrap_or_else(|e| panic!("operator token: {e:#}"));
        self.extra_env
            .push(("VAULT_ADDR".into(), self.sandbox.vault().addr()));
        self.extra_env.push(("VAULT_TOKEN".into(), token));
    }

    /// Runs every later command logged in to the sandbox's AWS region as an on-call operator, as
    /// `kubectl eso sandbox` does: an IAM user that may read roles and describe secrets.
    pub fn login_aws_operator(&mut self) {
        let Some(aws) = self.sandbox.aws() else {
            return;
        };
        let op = aws.operator_credentials();
        self.extra_env
            .push(("AWS_ACCESS_KEY_ID".into(), op.access_key_id));
        self.extra_env
            .push(("AWS_SECRET_ACCESS_KEY".into(), op.secret_access_key));
    }

    /// Runs the binary with the provider CA file and proxy in its environment.
    pub fn run(&self, args: &[&str]) -> Output {
        let ca = self.provider_ca.display().to_string();
        // As `kubectl eso sandbox` does: whoever started the sandbox vouches for its Vault, which
        // its namespaced SecretStores name (docs/security.md).
        let vault = self.sandbox.vault().addr();
        let vault_host = vault.trim_start_matches("http://").trim_end_matches('/');
        let mut env = vec![
            ("KUBECTL_ESO_PROVIDER_CA_FILE", ca.as_str()),
            ("KUBECTL_ESO_TRUST_PROVIDER_HOST", vault_host),
        ];
        if let Some(p) = &self.proxy {
            env.push(("HTTPS_PROXY", p.as_str()));
            env.push(("NO_PROXY", "127.0.0.1,localhost"));
        }
        // As `kubectl eso sandbox` does: the AWS region's endpoints in ESO's own variables.
        let aws = self.sandbox.aws().map(|a| a.endpoint());
        if let Some(a) = &aws {
            for var in [
                "AWS_SECRETSMANAGER_ENDPOINT",
                "AWS_SSM_ENDPOINT",
                "AWS_STS_ENDPOINT",
                "AWS_ENDPOINT_URL_IAM",
            ] {
                env.push((var, a.as_str()));
            }
            if self.proxy.is_none() {
                env.push(("NO_PROXY", "127.0.0.1,localhost"));
            }
        }
        env.extend(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        run_with(&self.kubeconfig, args, &env)
    }

    /// `run`, parsing stdout as JSON; returns the exit code with it.
    pub fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let o = self.run(args);
        let v = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o)));
        (o.status.code(), v)
    }

    pub fn secret_values(&self) -> Vec<String> {
        sandbox_secret_values(&self.sandbox)
    }
}
