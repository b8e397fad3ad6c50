//! The `kubectl-eso` binary: install the one TLS crypto provider, then hand the arguments to the
//! library. Everything else, including the exit code mapping, lives in `run_args`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A bug must still end as one line and exit code 2, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        kubectl_eso::error_line(&format!("internal error: {msg}"));
        std::process::exit(2);
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    kubectl_eso::cmd::one_shot_process();
    runtime.block_on(kubectl_eso::run_args(std::env::args_os().collect()))
}
