//! `kubectl eso sandbox`: a simulated cluster with ESO, Vault, Azure Key Vault and a registry, loaded with an
//! incident scenario, so anyone can try every command without a cluster. Three modes: `--list`; serve
//! (`--kubeconfig-out PATH`, until Ctrl-C / SIGTERM); and run-once (`-- <subcommand>`), which starts the
//! sandbox, runs one kubectl-eso subcommand against it as a child process and exits with that subcommand's code.
//! This is the only product module that knows about the simulation.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use eso_sandbox::{Sandbox, SandboxOptions};

use crate::cli::SandboxArgs;
use crate::exit::Exit;

pub async fn run(
    args: &SandboxArgs,
    argv0: &std::ffi::OsStr,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Exit> {
    if args.list {
        // Into the command's buffer, which passes the output boundary: `sandbox --list | head -1`
        // closing the pipe is not an error.
        for (name, description) in eso_sandbox::scenario_names() {
            writeln!(out, "{name:<26} {description}")?;
        }
        return Ok(Exit::Healthy);
    }
    if args.scale.is_some() && args.scenario != "scale" {
        anyhow::bail!("--scale only applies to --scenario scale");
    }
    // Checked before anything starts, so a typo is a one-line error, not a half-started sandbox.
    let faults = args
        .fault
        .iter()
        .map(|spec| eso_sandbox::parse_fault(spec.as_str()))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(addr) = args.admin_addr
        && !addr.ip().is_loopback()
    {
        anyhow::bail!(
            "--admin-addr {addr}: the admin endpoint only listens on loopback (127.0.0.1 or [::1])"
        );
    }
    print_err(&format!("starting sandbox scenario {:?} …", args.scenario));
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: args.scenario.clone(),
        scale: args.scale,
        tls: true,
        // KUBECTL_ESO_SANDBOX_MOTO, else moto_server when on PATH, else the simulation.
        aws_backend: eso_sandbox::aws::AwsBackend::Auto,
    })
    .await?;
    // Which one answers an AWS scenario's region: moto behind the front, or the simulation.
    if let Some(aws) = sandbox.aws() {
        print_err(&format!("AWS region: served by {}", aws.served_by()));
    }
    // After the scenario is loaded (in process): only clients of the HTTP API see the faults.
    for (resource, fault) in faults {
        print_err(&format!("fault: {resource} answers {fault:?}"));
        sandbox.api().faults().set(&resource, fault);
    }
    // Faults switched at run time from outside the process (issue 18).
    let admin = match args.admin_addr {
        Some(addr) => {
            let admin =
                eso_sandbox::admin::AdminServer::start(addr, sandbox.api().faults()).await?;
            print_err(&format!(
                "admin: {} (POST /faults RESOURCE=FAULT, DELETE /faults[/RESOURCE], GET /faults)",
                admin.url()
            ));
            Some(admin)
        }
        None => None,
    };
    let outcome = if args.command.is_empty() {
        serve(&sandbox, args, argv0).await
    } else {
        run_once(&sandbox, args, argv0).await
    };
    drop(admin);
    sandbox.shutdown().await;
    outcome
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The kubeconfig carries the sandbox's admin token.
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

async fn run_once(
    sandbox: &Sandbox,
    args: &SandboxArgs,
    argv0: &std::ffi::OsStr,
) -> anyhow::Result<Exit> {
    let files = SandboxFiles::write(sandbox, args.kubeconfig_out.as_deref())?;
    // A child process, so the subcommand sees the sandbox exactly as a user's shell would (kubeconfig,
    // proxy and CA environment), and its output and exit code are its own.
    let exe = std::env::current_exe().context("cannot find the kubectl-eso executable")?;
    let mut child = tokio::process::Command::new(exe);
    // The child prints next steps under the name the user ran (issue 13).
    #[cfg(unix)]
    child.arg0(argv0);
    #[cfg(not(unix))]
    let _ = argv0;
    child
        .arg("--kubeconfig")
        .arg(&files.kubeconfig)
        .args(&args.command)
        .env_remove("KUBECONFIG");
    for (k, v) in files.environment(sandbox) {
        child.env(k, v);
    }
    // The shell the sandbox hands over is logged in to its Vault as an on-call operator would be:
    // a token that may read policies, roles and mounts (never a secret path), so a refusal is
    // explained as on a real cluster (issue 12). Minted per run; never printed.
    match sandbox.vault_operator_token().await {
        Ok(token) => {
            child
                .env("VAULT_ADDR", sandbox.vault().addr())
                .env("VAULT_TOKEN", token);
        }
        Err(e) => eprintln!("sandbox: no Vault operator login for the command: {e:#}"),
    }
    // With an AWS region, the shell is also logged in to it as an on-call operator (IAM user
    // sandbox-operator: reads IAM roles, describes secrets and parameters, never a value). The
    // keys are minted per run and never printed.
    if let Some(aws) = sandbox.aws() {
        let op = aws.operator_credentials();
        child
            .env("AWS_ACCESS_KEY_ID", op.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", op.secret_access_key)
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_REGION", aws.region_name());
    }
    let status = child.status().await.context("cannot run the subcommand")?;
    files.remove(args.kubeconfig_out.is_none());
    Ok(match status.code() {
        Some(0) => Exit::Healthy,
        Some(1) => Exit::Findings,
        _ => Exit::Error,
    })
}

/// The files a sandbox user needs: the kubeconfig and the CA bundle of the sandbox's providers.
struct SandboxFiles {
    kubeconfig: PathBuf,
    provider_ca: PathBuf,
}

impl SandboxFiles {
    fn write(sandbox: &Sandbox, kubeconfig: Option<&Path>) -> anyhow::Result<SandboxFiles> {
        let kubeconfig = kubeconfig
            .map(Path::to_path_buf)
            .unwrap_or_else(default_kubeconfig_path);
        write_private(&kubeconfig, &sandbox.api().kubeconfig(None))?;
        // The registry's and Key Vault's CAs, as a private cloud's CA bundle would be handed out.
        let mut bundle = sandbox.registry().ca_pem();
        if let Some(akv) = sandbox.akv() {
            bundle.push('\n');
            bundle.push_str(&akv.ca_pem());
        }
        let provider_ca = kubeconfig.with_extension("provider-ca.pem");
        write_private(&provider_ca, &bundle)?;
        Ok(SandboxFiles {
            kubeconfig,
            provider_ca,
        })
    }

    /// Environment that points kubectl-eso's provider probes at the sandbox: the providers' CA bundle and,
    /// for the Key Vault fake (a custom cloud), its https proxy — how real users reach private clouds too.
    fn environment(&self, sandbox: &Sandbox) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "KUBECTL_ESO_PROVIDER_CA_FILE",
            self.provider_ca.display().to_string(),
        )];
        // The sandbox's own Vault is the one its namespaced SecretStores name: whoever started the
        // sandbox vouches for it (docs/security.md); nothing else is trusted beyond the defaults.
        if let Some(e) = crate::analysis::trust::Endpoint::parse(&sandbox.vault().addr()) {
            env.push(("KUBECTL_ESO_TRUST_PROVIDER_HOST", e.host_port()));
        }
        if let Some(akv) = sandbox.akv() {
            env.push(("HTTPS_PROXY", akv.proxy_url()));
            env.push(("NO_PROXY", "127.0.0.1,localhost".to_string()));
        }
        // The sandbox's AWS region, named the way ESO's controller is told about custom
        // endpoints: endpoints the user sets in the tool's own environment are the ones the AWS
        // probe trusts (docs/security.md).
        if let Some(aws) = sandbox.aws() {
            for var in [
                "AWS_SECRETSMANAGER_ENDPOINT",
                "AWS_SSM_ENDPOINT",
                "AWS_STS_ENDPOINT",
                "AWS_ENDPOINT_URL_IAM",
            ] {
                env.push((var, aws.endpoint()));
            }
            if sandbox.akv().is_none() {
                env.push(("NO_PROXY", "127.0.0.1,localhost".to_string()));
            }
        }
        env
    }

    fn remove(&self, kubeconfig_too: bool) {
        if kubeconfig_too {
            let _ = std::fs::remove_file(&self.kubeconfig);
        }
        let _ = std::fs::remove_file(&self.provider_ca);
    }
}

async fn serve(
    sandbox: &Sandbox,
    args: &SandboxArgs,
    argv0: &std::ffi::OsStr,
) -> anyhow::Result<Exit> {
    let files = SandboxFiles::write(sandbox, args.kubeconfig_out.as_deref())?;
    let mut out = Vec::new();
    writeln!(out, "Sandbox {:?} is running.", args.scenario)?;
    writeln!(out, "  API server: {}", sandbox.api().url())?;
    writeln!(out, "  Vault:      {}", sandbox.vault().addr())?;
    writeln!(out, "  Registry:   {}", sandbox.registry().host())?;
    if let Some(aws) = sandbox.aws() {
        writeln!(
            out,
            "  AWS:        {} ({})",
            aws.endpoint(),
            aws.served_by()
        )?;
    }
    if args.scenario == "scale" {
        let stored = sandbox.stored();
        writeln!(
            out,
            "  Objects:    {} stored, {:.1} MiB of JSON",
            stored.objects,
            stored.bytes as f64 / f64::from(1 << 20)
        )?;
    }
    writeln!(out, "Use it from another shell:")?;
    writeln!(out, "  export KUBECONFIG={}", files.kubeconfig.display())?;
    for (k, v) in files.environment(sandbox) {
        writeln!(out, "  export {k}={v}")?;
    }
    writeln!(out, "  kubectl get externalsecrets -A")?;
    let invoked = crate::invoked::from_argv0(Some(argv0));
    writeln!(out, "  {invoked} scope -A")?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    print_out(&String::from_utf8_lossy(&out))?;
    wait_for_stop().await;
    print_err("stopping sandbox …");
    files.remove(true);
    Ok(Exit::Healthy)
}

/// What the sandbox itself prints goes through the same output boundary as every command's
/// output (`crate::redact`); it prints this directly because it keeps running.
fn print_out(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(crate::redact::output(text, false).as_bytes())?;
    out.flush()
}

fn print_err(line: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        crate::redact::output(line, false)
    );
}

fn default_kubeconfig_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "kubectl-eso-sandbox-{}.kubeconfig",
        std::process::id()
    ))
}

#[cfg(unix)]
async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop() {
    let _ = tokio::signal::ctrl_c().await;
}
