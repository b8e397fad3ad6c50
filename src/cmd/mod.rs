//! One file per subcommand, each doing fetch -> analyse -> render with no business logic inline.
//! Adding a subcommand is a variant in `cli.rs`, a file here and one arm in `dispatch`.

pub mod bundle;
mod chain_findings;
pub mod complete;
pub mod completion;
pub mod describe_chain;
pub mod describe_push;
pub mod doctor;
pub mod force_sync;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod scope;
mod strings;
pub mod verify_regcred;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::config::{self, Terminal};
use crate::exit::Exit;

/// Runs the parsed command, writing its stdout into `out`. `argv0` is handed to the sandbox's
/// child so it shows the same invoked name (issue 13). With `-o jsonpath=TEMPLATE` the command
/// prints its JSON report and the template is applied to it here, once for every command.
pub async fn dispatch(
    cli: Cli,
    argv0: &std::ffi::OsStr,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Exit> {
    let Some(template) = cli.global.output.jsonpath.clone() else {
        return run(cli, argv0, out).await;
    };
    let mut json = Vec::new();
    let result = run(cli, argv0, &mut json).await;
    // A command that failed before its report printed nothing to apply the template to.
    let exit = result?;
    let doc: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| anyhow::anyhow!("-o jsonpath: the report is not JSON: {e}"))?;
    let text = crate::render::jsonpath::render(&template, &doc).map_err(anyhow::Error::msg)?;
    out.write_all(text.as_bytes())?;
    Ok(exit)
}

async fn run(
    cli: Cli,
    argv0: &std::ffi::OsStr,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Scope(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            if args.watch {
                let display = crate::invoked::from_argv0(Some(argv0));
                return Ok(scope::watch(&cfg, &args, &display).await?);
            }
            Ok(scope::run(&cfg, &args, out).await?)
        }
        Command::ForceSync(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(force_sync::run(&cfg, &args, out).await?)
        }
        Command::DescribeChain(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            let deadline = command_deadline(&args.deadline)?;
            within(
                deadline,
                "describe-chain",
                describe_chain::run(&cfg, &args, out),
            )
            .await
        }
        Command::VerifyRegcred(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(verify_regcred::run(&cfg, &args, out).await?)
        }
        Command::Doctor(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            let deadline = command_deadline(&args.doctor.deadline)?;
            within(deadline, "doctor", doctor::run(&cfg, &args, out)).await
        }
        Command::Bundle(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            let deadline = command_deadline(&args.doctor.deadline)?;
            within(deadline, "bundle", bundle::run(&cfg, &args, out)).await
        }
        Command::Completion(args) => Ok(completion::run(&args, argv0, out)?),
        // Boxed: the sandbox's future (a whole simulated cluster) is large.
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => Box::pin(sandbox::run(&args, argv0, out)).await,
    }
}

/// Names and spec strings of what the run read are identifiers it prints on purpose: learned
/// values inside them are not replaced at the output boundary (`redact::public`). Never status,
/// Events or Secret data: those are what the boundary guards.
///
/// One lock of the process-wide redactor for the whole snapshot (issue 16: 30,000 ExternalSecrets
/// and their Secrets are some 100,000 identifiers).
pub(crate) fn publish_identifiers(snapshot: &crate::model::scope::ScopeSnapshot) {
    crate::redact::public_all(|public| {
        for es in &snapshot.external_secrets {
            publish_meta(&es.metadata, public);
            strings::each_string(&es.spec, public);
        }
        let stores = snapshot.secret_stores.iter().flatten();
        for store in stores.chain(snapshot.cluster_secret_stores.iter().flatten()) {
            publish_meta(&store.metadata, public);
            strings::each_string(&store.spec, public);
        }
        for ces in snapshot.cluster_external_secrets.iter().flatten() {
            publish_meta(&ces.metadata, public);
            strings::each_string(&ces.spec, public);
        }
        for secret in snapshot.secrets.iter().flatten() {
            public(&secret.name);
            public(&secret.namespace);
        }
    });
}

/// Set by the binary: this process ends when its command does.
static ONE_SHOT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by `main` before the command runs: the process exits when the command is done, so
/// what a command is done with need not be freed ([`release`]). Library callers (the tests run
/// many commands in one process) never call it, and everything is freed as before.
pub fn one_shot_process() {
    ONE_SHOT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `value`, which the command will not read again, given back to the system with the process
/// when it is one-shot: freeing a snapshot of 30,000 ExternalSecrets, their Secrets and Events is
/// some 15 ms of CPU, and on another thread it made the thread rendering the output consolidate
/// glibc's arena (the freed chunks are that thread's) for some 30 ms more after the last page
/// (issue 16). Otherwise dropped on a thread of its own. Never for what a loop reads again
/// (`scope -w` re-reads its snapshot each time: it frees each).
pub(crate) fn release<T: Send + 'static>(value: T) {
    release_in(ONE_SHOT.load(std::sync::atomic::Ordering::Relaxed), value);
}

fn release_in<T: Send + 'static>(one_shot: bool, value: T) {
    if one_shot {
        std::mem::forget(value);
    } else {
        drop_aside(value);
    }
}

/// Drops `value` on a thread of its own: freeing a snapshot of 30,000 ExternalSecrets, their
/// Secrets and Events is some 15 ms of CPU the output need not wait for (issue 16).
pub(crate) fn drop_aside<T: Send + 'static>(value: T) {
    // When no thread can be had, `spawn` drops its closure, and the value with it, here.
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}

/// [`publish_identifiers`] on a thread of its own while `work` (the analysis) runs on this one:
/// both only read the snapshot, and at 30,000 ExternalSecrets each is some 50 ms of CPU (issue
/// 16). Every identifier is published when this returns, before anything is printed.
pub(crate) fn publishing_while<R>(
    snapshot: &crate::model::scope::ScopeSnapshot,
    work: impl FnOnce() -> R,
) -> R {
    std::thread::scope(|s| {
        let publishing = std::thread::Builder::new()
            .name("publish".into())
            .spawn_scoped(s, || publish_identifiers(snapshot));
        let out = work();
        match publishing {
            Ok(thread) => {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            // No thread: published here.
            Err(_) => publish_identifiers(snapshot),
        }
        out
    })
}

fn publish_meta(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    public: &mut dyn FnMut(&str),
) {
    for s in [&meta.name, &meta.namespace].into_iter().flatten() {
        public(s);
    }
}

pub(crate) fn publish_json(v: Option<&serde_json::Value>) {
    crate::redact::public_all(|public| each_string(v, public));
}

/// Every string of `v` (not the keys of its objects).
fn each_string(v: Option<&serde_json::Value>, public: &mut dyn FnMut(&str)) {
    match v {
        Some(serde_json::Value::String(s)) => public(s),
        Some(serde_json::Value::Array(a)) => a.iter().for_each(|x| each_string(Some(x), public)),
        Some(serde_json::Value::Object(o)) => o.values().for_each(|x| each_string(Some(x), public)),
        _ => {}
    }
}

/// `--deadline` of the commands that make many requests (doctor, describe-chain): the whole run,
/// API retries and provider probes included, ends by then (issue 18).
fn command_deadline(input: &str) -> crate::error::Result<std::time::Duration> {
    config::parse_duration_flag("--deadline", input, config::MAX_FLAG_DURATION, "10m or 1h")?
        .ok_or_else(|| crate::error::Error::Usage("--deadline must be greater than 0".into()))
}

async fn within(
    deadline: std::time::Duration,
    command: &str,
    run: impl std::future::Future<Output = crate::error::Result<Exit>>,
) -> anyhow::Result<Exit> {
    match tokio::time::timeout(deadline, run).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(crate::error::Error::Api {
            what: format!(
                "{command} did not finish within {}",
                humantime::format_duration(deadline)
            ),
            detail: "the cluster or a provider is too slow; raise --deadline or narrow the \
                     scope (-n, -l)"
                .into(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn dropped_within(flag: &AtomicBool, wait: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if flag.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        flag.load(Ordering::SeqCst)
    }

    #[test]
    fn issue16_released_values_are_freed_unless_the_process_ends_with_the_command() {
        // Not one-shot (a library caller, `scope -w`'s loop): freed, on a thread of its own.
        let freed = Arc::new(AtomicBool::new(false));
        super::release_in(false, Flag(freed.clone()));
        assert!(dropped_within(&freed, std::time::Duration::from_secs(10)));
        // One-shot: left to the process' end.
        let left = Arc::new(AtomicBool::new(false));
        super::release_in(true, Flag(left.clone()));
        assert!(!dropped_within(
            &left,
            std::time::Duration::from_millis(200)
        ));
        // The flag only the binary sets is not set in the library's tests.
        assert!(!super::ONE_SHOT.load(Ordering::Relaxed));
    }
}
