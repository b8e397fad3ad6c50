//! `kubectl eso doctor`: the whole-cluster checklist and CI gate of issue 8. It reuses scope's
//! fetch (one LIST per resource type, Secrets as metadata only) and scope's analysis, adds what
//! the other checks read (`kube::doctor_install`, `kube::doctor_stores`, `kube::doctor_targets`),
//! probes the stores with describe-chain's prober and logs in with the pull secrets (`regcreds`),
//! and turns it all into one `DoctorReport`.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use kube::Client;

use crate::analysis::doctor::{DoctorOptions, analyse, fails};
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::cli::{DoctorArgs, DoctorCommandArgs, FailOnArg};
use crate::config::Config;
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::chain::batch::{BatchOptions, TargetData, probe_stores};
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{client, doctor_install, doctor_stores, doctor_targets, eso, push};
use crate::model::doctor::{DoctorExtras, PodFacts, PodRefs, Status, TargetExtras};
use crate::model::scope::{Degraded, Fetched};
use crate::render::doctor::DoctorFormat;
use crate::render::{self, RenderOptions};

mod regcreds;

pub async fn run(cfg: &Config, cmd: &DoctorCommandArgs, out: &mut impl Write) -> Result<Exit> {
    let args = &cmd.doctor;
    // With --evidence the one run serves both the output and the folder (its redactor kept).
    let mut run = report(cfg, args, cmd.evidence.is_some()).await?;
    let now = run.now;
    let render_opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    };
    let format = DoctorFormat::from_render(&render_opts, cfg.junit);
    render::doctor::write_at(out, &run.report, format, render::wrap::width(), now)
        .map_err(Error::Output)?;
    if let Some(dir) = &cmd.evidence {
        super::bundle::evidence(cfg, &mut run, dir, &[]).await?;
    }
    let exit = Exit::from_findings(fails(&run.report));
    super::release(run.report);
    Ok(exit)
}

/// What one doctor run produced: what `run` prints and `bundle` saves.
pub(crate) struct DoctorRun {
    pub report: crate::model::doctor::DoctorReport,
    /// The time the report was judged at.
    pub now: jiff::Timestamp,
    /// ESO's log lines as read, already redacted.
    pub eso_logs: Vec<crate::model::logs::PodLog>,
    /// What the run learned to redact (every value it read), kept only when asked: `bundle`
    /// redacts the application lines it reads afterwards, and every file, with it.
    pub redactor: Option<crate::analysis::eso_logs::redact::Redactor>,
}

/// One doctor run; `keep_redactor` keeps the redaction of every value read past the run.
pub(crate) async fn report(
    cfg: &Config,
    args: &DoctorArgs,
    keep_redactor: bool,
) -> Result<DoctorRun> {
    let opts = options(cfg, args)?;
    let batch = batch_options(cfg, args)?;
    let diag = Diag::new(cfg.verbosity);
    crate::kube::list::read_from_watch_cache(args.cached);
    let started = std::time::Instant::now();

    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    let query = ScopeQuery {
        namespace: namespace.as_deref(),
        selector: cfg.selector.as_deref(),
        workload: None,
    };
    let wants_data = opts.probe || args.regcred;
    // The pods are listed beside the snapshot, each reduced to the Secrets it reads, and
    // restricted to the targets once these are known (issue 16: the LIST of every pod no longer
    // waits for the ExternalSecrets and the Secrets).
    let (snapshot, install, pods) = futures::join!(
        fetch(&client, &eso, &query, &diag),
        doctor_install::fetch(&client, &eso, &diag),
        doctor_targets::list_pods(
            &client,
            namespace.as_deref(),
            doctor_targets::Targets::Any,
            wants_data,
            &diag
        )
    );
    let snapshot = snapshot?;

    let now = jiff::Timestamp::now();
    let registry_client = match args.regcred {
        true => Some(regcreds::client(cfg)?),
        false => None,
    };
    let snapshot = std::sync::Arc::new(snapshot);
    let scope_options = ScopeOptions {
        selector: cfg.selector.clone(),
        store: None,
        failing_only: false,
    };
    let (rows_tx, rows_rx) = tokio::sync::oneshot::channel();
    {
        let (snapshot, scope_options) = (std::sync::Arc::clone(&snapshot), scope_options.clone());
        // No thread: `spawn` drops the sender, and the rows are built below.
        let _ = std::thread::Builder::new()
            .name("rows".into())
            .spawn(move || {
                let scope = super::publishing_while(&snapshot, || {
                    analyse_scope(&snapshot, &scope_options, now)
                });
                let _ = rows_tx.send(scope);
            });
    }
    // One read of the target Secrets ESO writes, with data, serves both the probe's comparison and
    // the registry logins. It starts now, while the rows are built on a thread of their own
    // (issue 16: the rows of 30,000 ExternalSecrets take ~100 ms of CPU; indexing the targets,
    // some 20 ms more, is done here meanwhile rather than before they start).
    let targets = crate::analysis::scope::existing_targets(&snapshot);
    let rows_then_stores = async {
        let scope = match rows_rx.await {
            Ok(scope) => scope,
            Err(_) => {
                super::publishing_while(&snapshot, || analyse_scope(&snapshot, &scope_options, now))
            }
        };
        let stores = doctor_stores::fetch(&client, &snapshot, &scope, &diag).await;
        (scope, stores)
    };
    let (read, (scope, stores)) = futures::join!(
        fetch_targets(
            &client,
            namespace.as_deref(),
            targets,
            wants_data,
            Listed::Pods(pods),
            &diag
        ),
        rows_then_stores
    );
    let (pods, managed) = read;
    // ESO's own reloader restarts the workloads its Configs select (after the pods: only when a
    // pod belongs to a workload).
    let (eso_reloader, namespace_labels) = match &pods {
        Some(Ok((facts, _))) => crate::kube::eso_reloader::for_pods(&client, facts, &diag).await,
        _ => Default::default(),
    };
    let (managed, values_unread) = match managed {
        Ok(read) => read,
        // A gate asked to log in with the pull secrets cannot pass without reading them.
        Err(why) if args.regcred => {
            return Err(Error::Api {
                what: "doctor --regcred".into(),
                detail: why.cause,
            });
        }
        Err(why) => (TargetData::default(), vec![why]),
    };
    let (pods, pod_refs) = split_pods(pods);
    let regcreds = match &registry_client {
        Some(rc) => Some(regcreds::check(rc, &managed, &scope).await),
        None => None,
    };
    let (probes, mut credentials) = if opts.probe {
        let (p, read) = probe_stores(&client, &snapshot, &managed, &batch, &diag).await;
        (Some(p), read)
    } else {
        (None, Vec::new())
    };
    // Issue 14: PushSecrets, their source Secrets' key names and their stores' write permission.
    let push = match push::list(&client, namespace.as_deref(), &diag).await {
        Ok(all) => {
            let probe = push::PushProbe {
                enabled: opts.probe,
                ca_pems: batch.ca_pems.clone(),
                timeout: batch.timeout,
                trust: batch.trust.clone(),
            };
            let (facts, read) = push::gather(&client, &eso, &all, &probe, &diag).await;
            credentials.extend(read);
            Ok(crate::model::push::PushSnapshot {
                push_secrets: facts,
                cluster_push_secrets: push::list_cluster(&client, namespace.as_deref(), &diag)
                    .await,
            })
        }
        Err(why) => Err(why),
    };
    // ESO's logs are read last, redacted by every value this run read (issue 17).
    let mut redactor = crate::analysis::eso_logs::redact::Redactor::default();
    for value in managed
        .values()
        .flat_map(|m| m.data.values())
        .chain(credentials.iter())
    {
        redactor.learn(value.bytes());
    }
    let eso_logs = match &install.deployments {
        Ok(deployments) => {
            let namespaces = deployments.iter().map(|d| d.namespace.clone()).collect();
            Some(crate::kube::pod_logs::eso_logs(&client, &namespaces, &redactor, &diag).await)
        }
        Err(_) => None,
    };
    let redactor = keep_redactor.then_some(redactor);
    // Only key names and pull-secret hosts go on to the analysis.
    let secrets = doctor_targets::secret_facts(&managed);
    // The managed Secrets' values are not needed past the probes and the logins.
    drop(managed);
    if let Some(probes) = &probes {
        for p in probes {
            // The benchmark and -v read this: requests grow with distinct keys, not ExternalSecrets.
            diag.log(
                1,
                format_args!(
                    "doctor: {} provider requests for {} ({} distinct remote keys, {} uses by ExternalSecrets)",
                    p.provider.calls.len(),
                    p.store,
                    p.provider.keys.len(),
                    p.users.len()
                ),
            );
        }
    }
    let extras = DoctorExtras {
        push: Some(push),
        probes,
        regcreds,
        stores,
        targets: TargetExtras {
            pods,
            values_unread,
            pod_refs,
            secrets,
            eso_reloader,
            namespace_labels,
        },
        eso_logs,
    };
    let mut report = analyse(&install, &snapshot, &scope, &extras, &opts, now);
    super::release(snapshot);
    report.scope.cached = args.cached;
    // ESO copies provider errors into Events, and Entra's quote the client id: every value the
    // probe read from a credentials Secret is scrubbed from the whole report (issue 18, defect 3).
    let known: Vec<&crate::model::chain::Sensitive> = credentials.iter().collect();
    let report = crate::analysis::chain::redact::redact_any(report, &known);
    drop(credentials);
    diag.log(
        1,
        format_args!(
            "doctor: {} ExternalSecrets, {} error and {} warning findings in {:?}",
            scope.summary.external_secrets,
            report.totals.error_findings,
            report.totals.warning_findings,
            started.elapsed()
        ),
    );

    let eso_logs = match extras.eso_logs {
        Some(Ok(logs)) => logs,
        _ => Vec::new(),
    };
    Ok(DoctorRun {
        report,
        now,
        eso_logs,
        redactor,
    })
}

/// The pods' two reductions apart, moved, not copied (issue 16: one entry per pod of the cluster).
pub(crate) fn split_pods(
    pods: Option<Fetched<(Vec<PodFacts>, Vec<PodRefs>)>>,
) -> (Option<Fetched<Vec<PodFacts>>>, Vec<PodRefs>) {
    match pods {
        Some(Ok((facts, refs))) => (Some(Ok(facts)), refs),
        Some(Err(why)) => (Some(Err(why)), Vec::new()),
        None => (None, Vec::new()),
    }
}

/// The pods for [`fetch_targets`]: listed already (for every Secret, `doctor_targets::Targets::Any`),
/// or to be listed for the targets, with or without the pods' references (`wants_refs`).
pub(crate) enum Listed {
    Pods(Fetched<(Vec<PodFacts>, Vec<PodRefs>)>),
    Later { wants_refs: bool },
}

/// Check 4's reads: the running pods that read a target Secret at start (and, from the same
/// LIST, when `wants_refs` — the caller holds the targets' key names — the pods of any phase
/// using one as pull secret or by key), and — only when asked for (probe or `--regcred`) — the
/// type and data of the target Secrets ESO writes.
pub(crate) async fn fetch_targets(
    client: &Client,
    namespace: Option<&str>,
    targets: HashSet<(String, String)>,
    wants_data: bool,
    pods: Listed,
    diag: &Diag,
) -> (
    Option<Fetched<(Vec<PodFacts>, Vec<PodRefs>)>>,
    Fetched<(TargetData, Vec<Degraded>)>,
) {
    let pods = async {
        match pods {
            Listed::Pods(listed) => {
                doctor_targets::restrict_pods(client, listed, &targets, diag).await
            }
            Listed::Later { .. } if targets.is_empty() => None,
            Listed::Later { wants_refs } => Some(
                doctor_targets::pods_reading_at_start(
                    client, namespace, &targets, wants_refs, diag,
                )
                .await,
            ),
        }
    };
    let data = async {
        if !wants_data || targets.is_empty() {
            return Ok(Default::default());
        }
        doctor_targets::managed_secret_data(client, namespace, &targets, diag).await
    };
    futures::join!(pods, data)
}

/// Each provider request, and each store's whole probe, gets `--provider-timeout` (issue 18: it
/// was a fixed 30 s that no flag changed).
fn batch_options(cfg: &Config, args: &DoctorArgs) -> Result<BatchOptions> {
    Ok(BatchOptions {
        ca_pems: cfg.provider_ca_pems()?,
        timeout: crate::cmd::describe_chain::provider_timeout(
            "--provider-timeout",
            &args.provider_timeout,
        )?,
        trust: cfg.trust.clone(),
    })
}

fn options(cfg: &Config, args: &DoctorArgs) -> Result<DoctorOptions> {
    Ok(DoctorOptions {
        selector: cfg.selector.clone(),
        stale_after: parse_stale_after(&args.stale_after)?,
        stale_after_text: args.stale_after.clone(),
        probe: !args.no_probe,
        allow_partial: args.allow_partial,
        fail_on: match args.fail_on {
            FailOnArg::Error => Status::Error,
            FailOnArg::Warning => Status::Warning,
        },
    })
}

pub fn parse_stale_after(input: &str) -> Result<Duration> {
    // Ten years: longer says "never stale", which --stale-after cannot mean.
    let max = Duration::from_secs(3650 * 24 * 3600);
    crate::config::parse_duration_flag("--stale-after", input, max, "2h, 90m or 1d")?.ok_or_else(
        || {
            Error::Usage(format!(
                "--stale-after {:?}: expected a duration such as 2h, 90m or 1d",
                crate::sanitize::line(input)
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_after_takes_humane_durations_and_rejects_the_rest() {
        assert_eq!(
            parse_stale_after("2h").ok(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_stale_after("90m").ok(),
            Some(Duration::from_secs(5400))
        );
        for bad in ["", "0s", "two hours", "-1h"] {
            assert!(parse_stale_after(bad).is_err(), "{bad}");
        }
    }
}
