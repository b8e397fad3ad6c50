//! `kubectl eso sandbox`: a simulated cluster with ESO, Vault, Azure Key Vault and a registry, loaded with an
//! incident scenario, so anyone can try every command without a cluster. Three modes: `--list`; serve
//! (`--kubeconfig-out PATH`, until Ctrl-C / SIGTERM); and run-once (`-- <subcommand>`), which starts the
//! sandbox, runs one kubectl-eso subcommand against it in-process and exits with that subcommand's code.
//! This is the only product module that knows about the simulation.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use eso_sandbox::{Sandbox, SandboxOptions};

use crate::cli::SandboxArgs;
use crate::exit::Exit;

pub async fn run(args: &SandboxArgs) -> anyhow::Result<Exit> {
    if args.list {
        let mut out = std::io::stdout().lock();
        for (name, description) in eso_sandbox::scenario_names() {
            writeln!(out, "{name:<26} {description}")?;
        }
        return Ok(Exit::Healthy);
    }
    if args.scale.is_some() && args.scenario != "scale" {
        anyhow::bail!("--scale only applies to --scenario scale");
    }
    eprintln!("starting sandbox scenario {:?} …", args.scenario);
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: args.scenario.clone(),
        scale: args.scale,
        tls: true,
    })
    .await?;
    let outcome = if args.command.is_empty() {
        serve(&sandbox, args).await
    } else {
        run_once(&sandbox, args).await
    };
    sandbox.shutdown().await;
    outcome
}

fn write_kubeconfig(sandbox: &Sandbox, path: &Path) -> anyhow::Result<()> {
    let text = sandbox.api().kubeconfig(None);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // It carries the sandbox's admin token.
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write kubeconfig {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write kubeconfig {}", path.display()))
}

async fn run_once(sandbox: &Sandbox, args: &SandboxArgs) -> anyhow::Result<Exit> {
    let path = match &args.kubeconfig_out {
        Some(p) => p.clone(),
        None => default_kubeconfig_path(),
    };
    write_kubeconfig(sandbox, &path)?;
    let mut argv: Vec<OsString> = vec![
        "kubectl-eso".into(),
        "--kubeconfig".into(),
        path.clone().into_os_string(),
    ];
    argv.extend(args.command.iter().map(OsString::from));
    let code = Box::pin(crate::run_args(argv)).await;
    if args.kubeconfig_out.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    Ok([Exit::Healthy, Exit::Findings]
        .into_iter()
        .find(|e| ExitCode::from(*e) == code)
        .unwrap_or(Exit::Error))
}

async fn serve(sandbox: &Sandbox, args: &SandboxArgs) -> anyhow::Result<Exit> {
    let path: PathBuf = match &args.kubeconfig_out {
        Some(p) => p.clone(),
        None => default_kubeconfig_path(),
    };
    write_kubeconfig(sandbox, &path)?;
    let shown = path.display();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Sandbox {:?} is running.", args.scenario)?;
    writeln!(out, "  API server: {}", sandbox.api().url())?;
    writeln!(out, "  Vault:      {}", sandbox.vault().addr())?;
    writeln!(out, "  Registry:   {}", sandbox.registry().host())?;
    writeln!(out, "Use it from another shell:")?;
    writeln!(out, "  export KUBECONFIG={shown}")?;
    writeln!(out, "  kubectl get externalsecrets -A")?;
    writeln!(out, "  kubectl eso scope -A")?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);
    wait_for_stop().await;
    eprintln!("stopping sandbox …");
    let _ = std::fs::remove_file(&path);
    Ok(Exit::Healthy)
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
