//! The waiting half of `force-sync`: one ExternalSecret watch and one Event watch until ESO has
//! answered for every annotated ExternalSecret (or the deadline passes), then the restarts of
//! their consumers and the wait for those rollouts, all within the same deadline.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::{Api, Client};
use tokio::sync::mpsc;

use super::progress::Progress;
use crate::analysis::app_logs;
use crate::analysis::eso_logs::redact::Redactor;
use crate::analysis::force_sync as analysis;
use crate::analysis::force_sync::StatusSignal;
use crate::diag::Diag;
use crate::kube::app_logs as app_log_reader;
use crate::kube::force_sync::{self as kf, Requests, WatchSpec, Watched};
use crate::model::eso::ExternalSecret;
use crate::model::force_sync::*;
use crate::render;

/// How long a Ready=False status waits for its UpdateFailed Event, which has the real text.
const EVENT_GRACE: Duration = Duration::from_secs(2);

pub struct Wait<'a> {
    pub client: &'a Client,
    pub es_api: &'a Api<ExternalSecret>,
    pub es_watch: WatchSpec,
    /// Where the Event watch starts; `None` when Events cannot be read.
    pub events_rv: Option<String>,
    pub ns: Option<&'a str>,
    pub annotated_at: Timestamp,
    pub deadline: Instant,
    pub timeout: Duration,
    pub requests: &'a Requests,
    pub diag: Diag,
    pub verbose_lines: bool,
}

struct Pending {
    index: usize,
    base: Baseline,
    last: Option<ExternalSecret>,
    failed_since: Option<(Instant, String)>,
}

/// One ExternalSecret watch and one Event watch for everything annotated, until each has an
/// answer or the deadline passes.
pub async fn wait_for_eso(
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
    let ev_task = w.events_rv.clone().map(|rv| {
        let (ev_api, ev_spec) = kf::event_watch(w.client, w.ns, rv);
        kf::spawn_watch(ev_api, ev_spec, ev_tx, w.requests.clone(), w.diag)
    });
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
    if let Some(t) = ev_task {
        t.abort();
    }
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

/// Each target Secret's version after the sync, by (namespace, name).
pub type SecretVersions =
    std::collections::BTreeMap<(String, String), Option<crate::model::force_sync::SecretVersion>>;

/// Restarts, as `kubectl rollout restart` does, every planned workload whose Secret synced, then
/// waits for the rollouts within what is left of the timeout.
pub async fn do_restarts(
    w: &Wait<'_>,
    workloads: &[WorkloadState],
    restarts: &mut [(usize, RestartResult)],
    (results, changed, versions): (
        &[ExternalSecretResult],
        &std::collections::BTreeSet<(String, String)>,
        &SecretVersions,
    ),
    progress: &mut Progress,
) {
    let synced: BTreeSet<(&str, &str)> = results
        .iter()
        .filter(|r| r.outcome.kind == OutcomeKind::Synced)
        .map(|r| (r.namespace.as_str(), r.target.as_str()))
        .collect();
    let at = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut rolling = Vec::new();
    let mut logged: HashMap<usize, Logged> = HashMap::new();
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
        // Only a Secret the sync changed brings the workload anything new (issue 13), unless its
        // pods started before the Secret's last write and so run with older values.
        if !r
            .secrets
            .iter()
            .any(|s| changed.contains(&(r.namespace.clone(), s.clone())))
            && !analysis::runs_older_than(&workloads[*i], &r.secrets, versions)
        {
            r.action = RestartAction::SkippedUnchanged;
            progress.line(&render::force_sync::restart_done(r));
            continue;
        }
        let before = logged_before(w, &workloads[*i], r).await;
        progress.line(&render::force_sync::restarting(r));
        match kf::restart(w.client, &workloads[*i], &at, w.requests).await {
            Ok(()) => {
                if let Some(b) = before {
                    logged.insert(*i, b);
                }
                rolling.push((*i, r))
            }
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
                    if let Some(b) = logged.remove(&i) {
                        verify(w, r, b).await;
                        if let Some(c) = &r.log_check {
                            progress.line(&render::force_sync::log_check(c));
                        }
                    }
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

/// What a workload's pods logged before its restart (issue 17).
struct Logged {
    pods: Vec<String>,
    phrases: Vec<String>,
    names: Vec<String>,
}

/// The secret-related phrases the pods about to be replaced print; `None` when they print none
/// (nothing to verify) or their logs cannot be read.
async fn logged_before(
    w: &Wait<'_>,
    workload: &WorkloadState,
    r: &RestartResult,
) -> Option<Logged> {
    let names = workload
        .pod_spec
        .as_ref()
        .map(|s| app_log_reader::env_names_in(s, &r.secrets))
        .unwrap_or_default();
    let redactor = Redactor::default();
    let read = app_log_reader::workload_lines(
        w.client,
        &r.namespace,
        &r.workload,
        &[],
        &names,
        &redactor,
        &w.diag,
    )
    .await;
    w.requests.add(1);
    match read {
        Ok((pods, lines)) => {
            let phrases = app_logs::phrases(&lines, &names);
            (!phrases.is_empty()).then_some(Logged {
                pods,
                phrases,
                names,
            })
        }
        Err(e) => {
            w.diag.log(1, format_args!("logs of {}: {e}", r.workload));
            None
        }
    }
}

/// Read the new pods' logs and record whether the old phrases are gone.
async fn verify(w: &Wait<'_>, r: &mut RestartResult, before: Logged) {
    let redactor = Redactor::default();
    let read = app_log_reader::workload_lines(
        w.client,
        &r.namespace,
        &r.workload,
        &before.pods,
        &before.names,
        &redactor,
        &w.diag,
    )
    .await;
    w.requests.add(1);
    let Ok((pods, lines)) = read else {
        return;
    };
    if pods.is_empty() {
        return;
    }
    let still = app_logs::still_logged(&before.phrases, &lines, &before.names);
    let name = r
        .workload
        .rsplit('/')
        .next()
        .unwrap_or(&r.workload)
        .to_string();
    r.log_check = Some(LogCheck {
        verified: still.is_empty(),
        message: app_logs::verification(&name, &before.phrases, &still),
        before: before.phrases,
        still,
    });
}
