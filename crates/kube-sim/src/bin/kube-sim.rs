//! `kube-sim`: run the simulated API server on its own, for poking at it with kubectl by hand.
//!
//! Tests and `kubectl eso sandbox` start the server in process; this binary is for the moments a
//! developer wants a throw-away "cluster" in another terminal: it writes a kubeconfig, prints how to
//! use it, and serves until Ctrl-C. It holds no scenario (that is eso-sandbox's job).

use std::path::PathBuf;
use std::process::ExitCode;

use kube_sim::{ApiServer, EsoCrds, SimConfig};

const USAGE: &str =
    "usage: kube-sim [--kubeconfig PATH] [--port N] [--plain-http] [--eso v1|v1beta1|none]

Starts a simulated kube-apiserver on 127.0.0.1, writes an admin kubeconfig to PATH
(default ./kube-sim.kubeconfig) and serves until interrupted.";

struct Args {
    kubeconfig: PathBuf,
    config: SimConfig,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        kubeconfig: PathBuf::from("kube-sim.kubeconfig"),
        config: SimConfig::default(),
    };
    while let Some(arg) = argv.next() {
        let mut value = |flag: &str| argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--kubeconfig" => args.kubeconfig = PathBuf::from(value("--kubeconfig")?),
            "--port" => {
                let v = value("--port")?;
                args.config.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--plain-http" => args.config.tls = false,
            "--eso" => {
                args.config.eso_crds = match value("--eso")?.as_str() {
                    "v1" => EsoCrds::V1,
                    "v1beta1" => EsoCrds::V1beta1Only,
                    "none" => EsoCrds::None,
                    other => {
                        return Err(format!("--eso: {other:?} is not one of v1, v1beta1, none"));
                    }
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

async fn serve(args: Args) -> Result<(), String> {
    let server = ApiServer::start(args.config)
        .await
        .map_err(|e| format!("cannot start: {e:#}"))?;
    std::fs::write(&args.kubeconfig, server.kubeconfig(None))
        .map_err(|e| format!("cannot write {}: {e}", args.kubeconfig.display()))?;
    println!("kube-sim serving at {}", server.url());
    println!(
        "  kubectl --kubeconfig {} get ns",
        args.kubeconfig.display()
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    server.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("kube-sim: a rustls crypto provider was already installed");
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kube-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kube-sim: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-sim: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Option<Args>, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_parse_and_bad_input_is_a_one_line_error() {
        let args = parsed(&[
            "--port",
            "6443",
            "--plain-http",
            "--eso",
            "v1beta1",
            "--kubeconfig",
            "/tmp/x",
        ]);
        let args = args.ok().flatten();
        assert_eq!(args.as_ref().map(|a| a.config.port), Some(6443));
        assert_eq!(args.as_ref().map(|a| a.config.tls), Some(false));
        assert_eq!(
            args.as_ref().map(|a| a.config.eso_crds),
            Some(EsoCrds::V1beta1Only)
        );
        assert!(parsed(&["--help"]).is_ok_and(|a| a.is_none()));
        assert_eq!(
            parsed(&["--port", "x"]).err().as_deref(),
            Some("--port: \"x\" is not a port number")
        );
        assert_eq!(
            parsed(&["--port"]).err().as_deref(),
            Some("--port needs a value")
        );
        assert_eq!(
            parsed(&["--bogus"]).err().as_deref(),
            Some("unknown argument \"--bogus\"")
        );
    }
}
