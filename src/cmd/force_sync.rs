//! `kubectl eso force-sync`: select ExternalSecrets, say up front which ones ESO cannot resync,
//! annotate the rest, wait on one watch for ESO's answer (synced / failed / timed out), then
//! optionally restart the workloads that read the synced Secrets and wait for their rollout.
//! Progress goes to stderr line by line as `flux reconcile` prints it; the report to stdout.

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::sync::mpsc;

use crate::analysis::force_sync as analysis;
use crate::analysis::force_sync::StatusSignal;
use crate::cli::{ForceSyncArgs, RestartArg};
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::force_sync::{self as kf, Requests, WatchSpec, Watched};
use crate::kube::list::Listing;
use crate::kube::{client, eso};
use crate::model::eso::ExternalSecret;
use crate::model::force_sync::*;
use crate::model::refs::StoreFilter;
use crate::render::{self, RenderOptions};

/// Above this many ExternalSecrets, per-object progress lines are folded into totals.
const PER_OBJECT_LINES: usize = 20;
/// How long a Ready=False status waits for its UpdateFailed Event, which has the real text.
const EVENT_GRACE: Duration = Duration::from_secs(2);
const ANNOTATE_CONCURRENCY: usize = 16;

struct Plan {
    names: Vec<String>,
    store: Option<StoreFilter>,
    timeout: Duration,
    restart: RestartMode,
}

fn validate(cfg: &Config, args: &ForceSyncArgs) -> Result<Plan> {
    let usage = |m: &str| Err(Error::Usage(m.to_string()));
    let named = !args.names.is_empty();
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
    if !named && !args.all && cfg.selector.is_none() && args.store.is_none() {
        return usage(
            "nothing selected: name ExternalSecrets, or use --all, -l SELECTOR or --store KIND/NAME",
        );
    }
    if args.no_wait && args.restart.is_some() {
        return usage("--restart waits for the sync first: it cannot be combined with --no-wait");
    }
    let timeout = humantime::parse_duration(&args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::Usage(format!(
                "--timeout {:?}: expected a duration such as 60s or 2m",
                args.timeout
            ))
        })?;
    let store = args
        .store
        .as_deref()
        .map(StoreFilter::parse)
        .transpose()
        .map_err(Error::Usage)?;
    Ok(Plan {
        names: args.names.clone(),
        store,
        timeout,
        restart: match args.restart {
            None => RestartMode::None,
            Some(RestartArg::Needed) => RestartMode::Needed,
            Some(RestartArg::All) => RestartMode::All,
        },
    })
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
    let ns = cfg.namespace.resolve(&default_ns);
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
                true => kf::events_version(&client, ns.as_deref(), &requests)
                    .await
                    .map(Some),
                false => Ok(None),
            }
        },
    );
    let (all, list_rv) = listed.map_err(|e| listing.fatal(&e))?;
    let events_rv = events_rv?;
    let (chosen, missing) = analysis::select(&all, &plan.names, plan.store.as_ref());

    let mut results = Vec::new();
    let mut baselines = Vec::new();
    for es in &chosen {
        let blocked = analysis::blocker(es, &stores);
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
    for r in results.iter().filter(|r| r.outcome.kind.is_problem()) {
        progress.line(&render::force_sync::outcome(r));
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
    let mut restarts = analysis::restart_plan(&workloads, &secrets, plan.restart, args.dry_run);

    if args.dry_run {
        for r in &results {
            if r.outcome.kind == OutcomeKind::WouldAnnotate {
                progress.line(&render::force_sync::outcome(r));
            }
        }
        for (_, r) in &restarts {
            progress.line(&render::force_sync::restart_done(r));
        }
    } else {
        let annotated_at = Timestamp::now();
        let value = annotated_at.as_second().to_string();
        if !verbose_lines && !baselines.is_empty() {
            progress.line(&render::force_sync::annotating_many(
                baselines.len(),
                &value,
            ));
        }
        annotate_all(
            &client,
            &eso,
            &mut results,
            &baselines,
            annotated_at,
            &requests,
            &mut progress,
        )
        .await;
        let annotated: Vec<(usize, Baseline)> = baselines
            .into_iter()
            .filter(|(i, _)| results[*i].outcome.kind == OutcomeKind::Annotated)
            .collect();
        if let Some(events_rv) = events_rv {
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
                deadline: Instant::now() + plan.timeout,
                timeout: plan.timeout,
                requests: &requests,
                diag,
                verbose_lines,
            };
            wait_for_eso(&wait, &annotated, &mut results, &mut progress).await;
            do_restarts(&wait, &workloads, &mut restarts, &results, &mut progress).await;
        }
    }
    progress.clear();

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

struct Wait<'a> {
    client: &'a Client,
    es_api: &'a Api<ExternalSecret>,
    es_watch: WatchSpec,
    events_rv: String,
    ns: Option<&'a str>,
    annotated_at: Timestamp,
    deadline: Instant,
    timeout: Duration,
    requests: &'a Requests,
    diag: Diag,
    verbose_lines: bool,
}

struct Pending {
    index: usize,
    base: Baseline,
    last: Option<ExternalSecret>,
    failed_since: Option<(Instant, String)>,
}

/// One ExternalSecret watch and one Event watch for everything annotated, until each has an
/// answer or the deadline passes.
async fn wait_for_eso(
    w: &Wait<'_>,
    annotated: &[(usize, Baseline)],
    results: &mut [ExternalSecretResult],
    progress: &mut Progress,
) {
    if annotated.is_empty() {
        return;
    }
    let mut pending: HashMap<(String, String), Pending> = annotated
        .iter()
        .map(|(i, b)| {
            let p = Pending {
                index: *i,
                base: b.clone(),
                last: None,
                failed_since: None,
            };
            ((b.namespace.clone(), b.name.clone()), p)
        })
        .collect();
    let by_uid: HashMap<String, (String, String)> = annotated
        .iter()
        .filter_map(|(_, b)| Some((b.uid.clone()?, (b.namespace.clone(), b.name.clone()))))
        .collect();
    progress.line(&render::force_sync::waiting(
        pending.len(),
        w.timeout.as_secs(),
    ));

    let (es_tx, mut es_rx) = mpsc::channel(1024);
    let (ev_tx, mut ev_rx) = mpsc::channel(1024);
    let es_task = kf::spawn_watch(
        w.es_api.clone(),
        WatchSpec {
            what: w.es_watch.what,
            list: w.es_watch.list.clone(),
            resource_version: w.es_watch.resource_version.clone(),
        },
        es_tx,
        w.requests.clone(),
        w.diag,
    );
    let (ev_api, ev_spec) = kf::event_watch(w.client, w.ns, w.events_rv.clone());
    let ev_task = kf::spawn_watch(ev_api, ev_spec, ev_tx, w.requests.clone(), w.diag);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_answer = Instant::now();
    let total = pending.len();
    let mut synced = 0usize;

    while !pending.is_empty() {
        let decided: Vec<((String, String), Outcome)> = tokio::select! {
            Some(item) = es_rx.recv() => on_external_secret(&mut pending, item),
            Some(item) = ev_rx.recv() => match item {
                Watched::Applied(ev) => on_event(&pending, &by_uid, &ev, w.annotated_at),
                Watched::Deleted(_) => Vec::new(),
            },
            _ = tokio::time::sleep_until(w.deadline.into()) => break,
            _ = tick.tick() => {
                progress.spin(&format!("waiting for {} of {total} ExternalSecret(s)", pending.len()));
                expired_failures(&mut pending)
            }
        };
        for (key, outcome) in decided {
            let Some(p) = pending.remove(&key) else {
                continue;
            };
            last_answer = Instant::now();
            let r = &mut results[p.index];
            r.outcome = outcome;
            if r.outcome.kind == OutcomeKind::Synced {
                synced += 1;
            }
            if w.verbose_lines || r.outcome.kind != OutcomeKind::Synced {
                progress.line(&render::force_sync::outcome(r));
            }
        }
    }
    es_task.abort();
    ev_task.abort();
    for p in pending.into_values() {
        let r = &mut results[p.index];
        r.outcome = match p.failed_since {
            Some((_, message)) => Outcome::new(OutcomeKind::Failed, Some(message)),
            None => analysis::timed_out(&p.base, p.last.as_ref(), w.timeout.as_secs()),
        };
        progress.line(&render::force_sync::outcome(r));
    }
    if !w.verbose_lines && synced > 0 {
        progress.line(&format!("✔ {synced} of {total} ExternalSecrets synced"));
    }
    w.diag.log(
        1,
        format_args!(
            "last answer from ESO {:.3}s before the wait ended",
            last_answer.elapsed().as_secs_f64()
        ),
    );
}

fn on_external_secret(
    pending: &mut HashMap<(String, String), Pending>,
    item: Watched<ExternalSecret>,
) -> Vec<((String, String), Outcome)> {
    let (es, deleted) = match item {
        Watched::Applied(es) => (es, false),
        Watched::Deleted(es) => (es, true),
    };
    let key = (es.namespace().to_string(), es.name().to_string());
    let Some(p) = pending.get_mut(&key) else {
        return Vec::new();
    };
    if deleted {
        let msg = "deleted while waiting".to_string();
        return vec![(key, Outcome::new(OutcomeKind::Failed, Some(msg)))];
    }
    let signal = analysis::judge_status(&p.base, &es);
    p.last = Some(es);
    match signal {
        StatusSignal::Synced { refresh_time } => {
            let mut o = Outcome::new(OutcomeKind::Synced, None);
            o.refresh_time = refresh_time;
            vec![(key, o)]
        }
        StatusSignal::Failed { message } => {
            if p.failed_since.is_none() {
                p.failed_since = Some((Instant::now(), message));
            }
            Vec::new()
        }
        StatusSignal::Pending => Vec::new(),
    }
}

fn on_event(
    pending: &HashMap<(String, String), Pending>,
    by_uid: &HashMap<String, (String, String)>,
    ev: &k8s_openapi::api::core::v1::Event,
    annotated_at: Timestamp,
) -> Vec<((String, String), Outcome)> {
    let obj = &ev.involved_object;
    let key = obj
        .uid
        .as_ref()
        .and_then(|u| by_uid.get(u).cloned())
        .or_else(|| Some((obj.namespace.clone()?, obj.name.clone()?)));
    let Some(key) = key else { return Vec::new() };
    let Some(p) = pending.get(&key) else {
        return Vec::new();
    };
    match analysis::failure_from_event(&p.base, ev, annotated_at) {
        Some(message) => vec![(key, Outcome::new(OutcomeKind::Failed, Some(message)))],
        None => Vec::new(),
    }
}

fn expired_failures(
    pending: &mut HashMap<(String, String), Pending>,
) -> Vec<((String, String), Outcome)> {
    pending
        .iter()
        .filter_map(|(k, p)| {
            let (since, message) = p.failed_since.as_ref()?;
            (since.elapsed() >= EVENT_GRACE).then(|| {
                (
                    k.clone(),
                    Outcome::new(OutcomeKind::Failed, Some(message.clone())),
                )
            })
        })
        .collect()
}

/// Restarts, as `kubectl rollout restart` does, every planned workload whose Secret synced, then
/// waits for the rollouts within what is left of the timeout.
async fn do_restarts(
    w: &Wait<'_>,
    workloads: &[WorkloadState],
    restarts: &mut [(usize, RestartResult)],
    results: &[ExternalSecretResult],
    progress: &mut Progress,
) {
    let synced: BTreeSet<(&str, &str)> = results
        .iter()
        .filter(|r| r.outcome.kind == OutcomeKind::Synced)
        .map(|r| (r.namespace.as_str(), r.target.as_str()))
        .collect();
    let at = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut rolling = Vec::new();
    for (i, r) in restarts.iter_mut() {
        if r.action != RestartAction::Restarted {
            progress.line(&render::force_sync::restart_done(r));
            continue;
        }
        r.secrets
            .retain(|s| synced.contains(&(r.namespace.as_str(), s.as_str())));
        if r.secrets.is_empty() {
            r.action = RestartAction::SkippedNotSynced;
            progress.line(&render::force_sync::restart_done(r));
            continue;
        }
        progress.line(&render::force_sync::restarting(r));
        match kf::restart(w.client, &workloads[*i], &at, w.requests).await {
            Ok(()) => rolling.push((*i, r)),
            Err(e) => {
                r.action = RestartAction::Failed;
                r.message = Some(e);
                progress.line(&render::force_sync::restart_done(r));
            }
        }
    }
    while !rolling.is_empty() {
        let mut still = Vec::new();
        for (i, r) in rolling {
            match kf::workload_state(w.client, &workloads[i], w.requests).await {
                Ok(state) if analysis::rollout_complete(&state) => {
                    progress.line(&render::force_sync::restart_done(r));
                }
                Ok(state) => still.push((i, r, Some(state))),
                Err(e) => {
                    r.message = Some(e);
                    still.push((i, r, None));
                }
            }
        }
        if Instant::now() >= w.deadline {
            for (_, r, state) in still {
                r.action = RestartAction::RolloutTimedOut;
                if let Some(s) = state {
                    r.message = Some(format!(
                        "{} of {} pods updated, {} available",
                        s.updated, s.desired, s.available
                    ));
                }
                progress.line(&render::force_sync::restart_done(r));
            }
            return;
        }
        rolling = still.into_iter().map(|(i, r, _)| (i, r)).collect();
        if !rolling.is_empty() {
            progress.spin(&format!("waiting for {} rollout(s)", rolling.len()));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Progress on stderr: plain lines always, a spinner only on a terminal.
struct Progress {
    /// One line per ExternalSecret, or totals when there are many.
    per_object: bool,
    tty: bool,
    spinning: bool,
    frame: usize,
}

impl Progress {
    fn new() -> Self {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Progress {
            per_object: true,
            tty: std::io::stderr().is_terminal() && !dumb,
            spinning: false,
            frame: 0,
        }
    }

    fn line(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.spinning {
            let _ = write!(err, "\r\x1b[2K");
            self.spinning = false;
        }
        let _ = writeln!(err, "{text}");
    }

    fn spin(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        self.frame = (self.frame + 1) % FRAMES.len();
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[2K{} {text}",
            FRAMES[self.frame]
        );
        self.spinning = true;
    }

    fn clear(&mut self) {
        if self.spinning {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.spinning = false;
        }
    }
}
