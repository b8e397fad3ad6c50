//! `kubectl eso force-sync`: select ExternalSecrets, say up front which ones ESO cannot resync,
//! annotate the rest, wait on one watch for ESO's answer (synced / failed / timed out), then
//! optionally restart the workloads that read the synced Secrets and wait for their rollout.
//! Progress goes to stderr line by line as `flux reconcile` prints it; the report to stdout.

mod progress;
mod wait;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use kube::Client;
use kube::api::ListParams;

use crate::analysis::force_sync as analysis;
use crate::cli::{ForceSyncArgs, RestartArg};
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::force_sync::{self as kf, Requests, WatchSpec};
use crate::kube::list::Listing;
use crate::kube::{client, eso};
use crate::model::force_sync::*;
use crate::model::refs::StoreFilter;
use crate::render::{self, RenderOptions};
use progress::Progress;
use wait::{Wait, do_restarts, wait_for_eso};

/// Above this many ExternalSecrets, per-object progress lines are folded into totals.
const PER_OBJECT_LINES: usize = 20;
const ANNOTATE_CONCURRENCY: usize = 16;

struct Plan {
    names: Vec<String>,
    /// `clusterexternalsecret/NAME`: annotate the parent, wait for its children.
    parent: Option<String>,
    store: Option<StoreFilter>,
    timeout: Duration,
    restart: RestartMode,
}

fn validate(cfg: &Config, args: &ForceSyncArgs) -> Result<Plan> {
    let usage = |m: &str| Err(Error::Usage(m.to_string()));
    let parent = parent_name(&args.names)?;
    if parent.is_some() && (args.all || cfg.selector.is_some() || args.store.is_some()) {
        return usage(
            "clusterexternalsecret/NAME selects its own ExternalSecrets: it cannot be combined with --all, -l or --store",
        );
    }
    let named = !args.names.is_empty() && parent.is_none();
    if named && args.all {
        return usage("NAME and --all are mutually exclusive: name ExternalSecrets or use --all");
    }
    if named && (cfg.selector.is_some() || args.store.is_some()) {
        return usage(
            "NAME cannot be combined with -l or --store: name ExternalSecrets or select them",
        );
    }
    if named && cfg.namespace == NamespaceChoice::All {
        return usage("a NAME lives in one namespace: use -n NAMESPACE instead of -A");
    }
    if !named && parent.is_none() && !args.all && cfg.selector.is_none() && args.store.is_none() {
        return usage(
            "nothing selected: name ExternalSecrets, or use --all, -l SELECTOR or --store KIND/NAME",
        );
    }
    if args.no_wait && args.restart.is_some() {
        return usage("--restart waits for the sync first: it cannot be combined with --no-wait");
    }
    let timeout = crate::config::parse_duration_flag(
        "--timeout",
        &args.timeout,
        crate::config::MAX_FLAG_DURATION,
        "60s or 2m",
    )?
    .ok_or_else(|| Error::Usage("--timeout must be greater than 0".into()))?;
    let store = args
        .store
        .as_deref()
        .map(StoreFilter::parse)
        .transpose()
        .map_err(Error::Usage)?;
    Ok(Plan {
        names: if parent.is_some() {
            Vec::new()
        } else {
            args.names.clone()
        },
        parent,
        store,
        timeout,
        restart: match args.restart {
            None => RestartMode::None,
            Some(RestartArg::Needed) => RestartMode::Needed,
            Some(RestartArg::All) => RestartMode::All,
        },
    })
}

/// `clusterexternalsecret/NAME` (or `ces/NAME`) as the only NAME; any other KIND/ is an error.
fn parent_name(names: &[String]) -> Result<Option<String>> {
    let parents: Vec<&str> = names
        .iter()
        .filter_map(|n| {
            let (kind, name) = n.split_once('/')?;
            match kind.to_ascii_lowercase().as_str() {
                "clusterexternalsecret" | "clusterexternalsecrets" | "ces" => Some(name),
                _ => Some(""),
            }
        })
        .collect();
    match (parents.as_slice(), names.len()) {
        ([], _) => Ok(None),
        ([name], 1) if !name.is_empty() && !name.contains('/') => Ok(Some(name.to_string())),
        _ => Err(Error::Usage(
            "NAME is an ExternalSecret's name, or a single clusterexternalsecret/NAME".into(),
        )),
    }
}

pub async fn run(cfg: &Config, args: &ForceSyncArgs, out: &mut impl Write) -> Result<Exit> {
    let plan = validate(cfg, args)?;
    let diag = Diag::new(cfg.verbosity);
    let started = Instant::now();
    let requests = Requests::default();
    let mut progress = Progress::new();

    let (client, default_ns) = client::connect(&cfg.kube).await?;
    requests.add(1);
    let eso = eso::discover(&client, &diag).await?;
    // A ClusterExternalSecret's children live in many namespaces.
    let ns = match plan.parent {
        Some(_) => None,
        None => cfg.namespace.resolve(&default_ns),
    };
    let es_api = kf::external_secrets(&client, &eso, ns.as_deref());
    let mut list_params = ListParams::default();
    if let Some(sel) = &cfg.selector {
        list_params = list_params.labels(sel);
    }
    if let [only] = plan.names.as_slice() {
        list_params = list_params.fields(&format!("metadata.name={only}"));
    }
    let listing = Listing::new("externalsecrets", ns.as_deref());
    let waits = !args.dry_run && !args.no_wait;
    let (listed, stores, events_rv) = futures::join!(
        kf::list_with_version(&es_api, &list_params, &listing, &requests, &diag),
        kf::stores(&client, &eso, ns.as_deref(), &requests, &diag),
        async {
            match waits {
                true => kf::events_version(&client, ns.as_deref(), &requests).await,
                false => Ok(String::new()),
            }
        },
    );
    let (all, list_rv) = listed.map_err(|e| listing.fatal(&e))?;
    // Without Events the Ready condition still tells a failure, only without the provider's text.
    let events_rv = events_rv
        .inspect_err(|e| diag.log(1, format_args!("no UpdateFailed Events: {e}")))
        .ok();
    let (mut chosen, mut missing) = analysis::select(&all, &plan.names, plan.store.as_ref());
    if let Some(parent) = &plan.parent {
        chosen.retain(|es| analysis::parent_of(es) == Some(parent.as_str()));
        if chosen.is_empty() {
            missing.push(format!("clusterexternalsecret/{parent}"));
        }
    }

    let mut results = Vec::new();
    let mut baselines = Vec::new();
    for es in &chosen {
        let blocked = match plan.parent {
            Some(_) => analysis::own_blocker(es, &stores),
            None => analysis::blocker(es, &stores),
        };
        if blocked.is_none() {
            baselines.push((results.len(), analysis::baseline(es)));
        }
        results.push(ExternalSecretResult {
            namespace: es.namespace().to_string(),
            name: es.name().to_string(),
            store: analysis::store_of(es).map(|s| s.short()),
            target: es.target_name().to_string(),
            annotation: None,
            outcome: blocked.unwrap_or_else(|| Outcome::new(OutcomeKind::WouldAnnotate, None)),
        });
    }
    for name in missing {
        results.push(ExternalSecretResult {
            namespace: ns.clone().unwrap_or_default(),
            name: name.clone(),
            store: None,
            target: name,
            annotation: None,
            outcome: Outcome::new(OutcomeKind::NotFound, None),
        });
    }
    let verbose_lines = results.len() <= PER_OBJECT_LINES;
    progress.per_object = verbose_lines;
    // Said once per cause: five ExternalSecrets on one broken store are one line (issue 13).
    let problems = results.iter().filter(|r| r.outcome.kind.is_problem());
    for group in render::force_sync::group_outcomes(problems) {
        progress.line(&render::force_sync::outcome_group(&group));
    }

    let workloads = match plan.restart {
        RestartMode::None => Vec::new(),
        _ => {
            let namespaces: BTreeSet<String> =
                baselines.iter().map(|(_, b)| b.namespace.clone()).collect();
            let namespaces: Vec<String> = namespaces.into_iter().collect();
            kf::workloads(&client, &namespaces, &requests, &diag).await?
        }
    };
    let secrets: Vec<(String, String)> = baselines
        .iter()
        .map(|(_, b)| (b.namespace.clone(), b.target.clone()))
        .collect();
    // ESO's own reloader: its Configs (and, when one selects namespaces, their labels).
    let (eso_reloader, namespace_labels) = if workloads.is_empty() {
        Default::default()
    } else {
        requests.add(1);
        let configs = crate::kube::eso_reloader::configs(&client, &diag).await;
        let namespaces = workloads.iter().map(|w| w.namespace.clone()).collect();
        let labels =
            crate::kube::eso_reloader::namespace_labels(&client, &configs, namespaces, &diag).await;
        (configs, labels)
    };
    let mut restarts = analysis::restart_plan(
        &workloads,
        &secrets,
        plan.restart,
        args.dry_run,
        &eso_reloader,
        &namespace_labels,
    );

    if args.dry_run {
        // Above PER_OBJECT_LINES, totals instead of a line each, as the README promises.
        let would: Vec<&ExternalSecretResult> = results
            .iter()
            .filter(|r| r.outcome.kind == OutcomeKind::WouldAnnotate)
            .collect();
        match verbose_lines {
            true => would
                .iter()
                .for_each(|r| progress.line(&render::force_sync::outcome(r))),
            false if !would.is_empty() => progress.line(&render::force_sync::outcome_group(&would)),
            false => {}
        }
        match verbose_lines {
            true => restarts
                .iter()
                .for_each(|(_, r)| progress.line(&render::force_sync::restart_done(r))),
            false => {
                let actions: Vec<RestartAction> = restarts.iter().map(|(_, r)| r.action).collect();
                for line in render::force_sync::restart_totals(&actions) {
                    progress.line(&line);
                }
            }
        }
    } else {
        // Taken before the annotation, from metadata only: whether the sync changed each Secret
        // decides its restarts (issue 13).
        let versions_before = if restarts.is_empty() {
            Default::default()
        } else {
            kf::secret_versions(&client, &secrets, &requests).await
        };
        let annotated_at = Timestamp::now();
        let value = annotated_at.as_second().to_string();
        if !verbose_lines && !baselines.is_empty() {
            progress.line(&render::force_sync::annotating_many(
                baselines.len(),
                &value,
            ));
        }
        match &plan.parent {
            Some(parent) => {
                annotate_parent(
                    (&client, &eso, &requests),
                    parent,
                    &mut results,
                    &baselines,
                    annotated_at,
                    &mut progress,
                )
                .await
            }
            None => {
                annotate_all(
                    &client,
                    &eso,
                    &mut results,
                    &baselines,
                    annotated_at,
                    &requests,
                    &mut progress,
                )
                .await
            }
        }
        let annotated: Vec<(usize, Baseline)> = baselines
            .into_iter()
            .filter(|(i, _)| results[*i].outcome.kind == OutcomeKind::Annotated)
            .collect();
        if waits {
            let wait = Wait {
                client: &client,
                es_api: &es_api,
                es_watch: WatchSpec {
                    what: "externalsecrets",
                    list: list_params.clone(),
                    resource_version: list_rv,
                },
                events_rv,
                ns: ns.as_deref(),
                annotated_at,
                deadline: Instant::now()
                    .checked_add(plan.timeout)
                    .unwrap_or_else(Instant::now),
                timeout: plan.timeout,
                requests: &requests,
                diag,
                verbose_lines,
            };
            wait_for_eso(&wait, &annotated, &mut results, &mut progress).await;
            let (changed, after) = if restarts.is_empty() {
                Default::default()
            } else {
                let after = kf::secret_versions(&client, &secrets, &requests).await;
                (analysis::changed_secrets(&versions_before, &after), after)
            };
            do_restarts(
                &wait,
                &workloads,
                &mut restarts,
                (&results, &changed, &after),
                &mut progress,
            )
            .await;
        }
    }
    progress.clear();
    // Issue 14: say when this force-sync goes through a closed sync window.
    let now = Timestamp::now();
    for r in results.iter_mut().filter(|r| r.outcome.hint.is_none()) {
        if matches!(
            r.outcome.kind,
            OutcomeKind::CannotResync | OutcomeKind::NotFound
        ) {
            continue;
        }
        let es = all
            .iter()
            .find(|e| e.namespace() == r.namespace && e.name() == r.name);
        r.outcome.hint = es.and_then(|es| analysis::window_note(es, now));
    }

    let restarts: Vec<RestartResult> = restarts.into_iter().map(|(_, r)| r).collect();
    let summary = analysis::summary(&results, &restarts);
    let report = ForceSyncReport {
        api_version: crate::model::scope::REPORT_API_VERSION.to_string(),
        kind: FORCE_SYNC_REPORT_KIND.to_string(),
        dry_run: args.dry_run,
        wait: waits,
        timeout_seconds: plan.timeout.as_secs(),
        restart: plan.restart,
        external_secrets: results,
        restarts,
        summary,
    };
    diag.log(
        1,
        format_args!(
            "force-sync: {} API requests, {:.3}s in total",
            requests.get(),
            started.elapsed().as_secs_f64()
        ),
    );
    let render_opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now: Timestamp::now(),
    };
    render::force_sync::write(out, &report, &render_opts).map_err(Error::Output)?;
    Ok(analysis::exit_code(&report))
}

/// One patch on the parent; its children count as annotated once it is accepted.
async fn annotate_parent(
    (client, eso, requests): (&Client, &eso::EsoApi, &Requests),
    parent: &str,
    results: &mut [ExternalSecretResult],
    baselines: &[(usize, Baseline)],
    now: Timestamp,
    progress: &mut Progress,
) {
    if baselines.is_empty() {
        return;
    }
    // Every child carries the parent's value; the newest one decides what "changed" means.
    let newest = baselines
        .iter()
        .filter_map(|(_, b)| b.force_sync.as_deref()?.trim().parse::<i64>().ok())
        .max()
        .map(|v| v.to_string());
    let value = analysis::annotation_value(now, newest.as_deref());
    progress.line(&render::force_sync::annotating_parent(
        parent,
        baselines.len(),
        &value,
    ));
    let res = kf::annotate_parent(client, eso, parent, &value, requests).await;
    for (i, _) in baselines {
        let r = &mut results[*i];
        match &res {
            Ok(()) => {
                r.annotation = Some(value.clone());
                r.outcome = Outcome::new(OutcomeKind::Annotated, None);
            }
            Err(e) => {
                r.outcome = Outcome::new(
                    OutcomeKind::Failed,
                    Some(format!(
                        "cannot annotate ClusterExternalSecret {parent}: {e}"
                    )),
                );
                progress.line(&render::force_sync::outcome(r));
            }
        }
    }
}

async fn annotate_all(
    client: &Client,
    eso: &eso::EsoApi,
    results: &mut [ExternalSecretResult],
    baselines: &[(usize, Baseline)],
    now: Timestamp,
    requests: &Requests,
    progress: &mut Progress,
) {
    let outcomes: Vec<(usize, String, std::result::Result<(), String>)> =
        futures::stream::iter(baselines.iter().map(|(i, b)| async move {
            let ns_api = kf::external_secrets(client, eso, Some(&b.namespace));
            let value = analysis::annotation_value(now, b.force_sync.as_deref());
            let res = kf::annotate(&ns_api, &b.name, &value, requests).await;
            (*i, value, res)
        }))
        .buffer_unordered(ANNOTATE_CONCURRENCY)
        .collect()
        .await;
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|(i, _, _)| *i);
    for (i, value, res) in outcomes {
        let r = &mut results[i];
        match res {
            Ok(()) => {
                r.annotation = Some(value.clone());
                r.outcome = Outcome::new(OutcomeKind::Annotated, None);
                if progress.per_object {
                    progress.line(&render::force_sync::annotating(r, &value));
                }
            }
            Err(e) => {
                r.outcome =
                    Outcome::new(OutcomeKind::Failed, Some(format!("cannot annotate: {e}")));
                progress.line(&render::force_sync::outcome(r));
            }
        }
    }
}
