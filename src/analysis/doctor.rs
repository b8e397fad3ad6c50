//! `doctor`'s analysis: the whole-cluster checklist of issue 8 as pure functions. It does not read
//! ExternalSecrets or stores a second time: the stores, ExternalSecrets and leftovers checks are
//! built from the very `ScopeSnapshot` and `ScopeReport` that `scope` produces, so both commands
//! agree on what is failing. `now` is a parameter; so is every threshold.

mod ces_owned;
mod crd_version;
mod generators;
mod install;
mod manifest_targets;
mod objects;
mod provider_classes;
mod providers;
mod pull_secrets;
mod regcreds;
mod store_refs;
mod stores;
mod targets;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crd_version;
#[cfg(test)]
mod tests_install;
#[cfg(test)]
mod tests_kubernetes;
#[cfg(test)]
mod tests_manifest;
#[cfg(test)]
mod tests_provider_classes;
#[cfg(test)]
mod tests_pull_secrets;
#[cfg(test)]
mod tests_refs;
#[cfg(test)]
mod tests_stores;
#[cfg(test)]
mod tests_targets;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::doctor::*;
use crate::model::scope::{Degraded, REPORT_API_VERSION, ScopeReport, ScopeSnapshot};

/// The stores in scope that name no controller class: every ESO controller reconciles them.
fn unclassed_stores(snap: &ScopeSnapshot) -> Vec<String> {
    let unclassed = |s: &&crate::model::eso::SecretStore| {
        s.spec.controller.as_deref().is_none_or(str::is_empty)
    };
    let namespaced = snap
        .secret_stores
        .iter()
        .flatten()
        .filter(unclassed)
        .map(|s| {
            format!(
                "SecretStore {}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.metadata.name.as_deref().unwrap_or_default()
            )
        });
    let cluster = snap
        .cluster_secret_stores
        .iter()
        .flatten()
        .filter(unclassed)
        .map(|s| {
            format!(
                "ClusterSecretStore {}",
                s.metadata.name.as_deref().unwrap_or_default()
            )
        });
    namespaced.chain(cluster).collect()
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub selector: Option<String>,
    /// `--stale-after`, parsed, and as typed (for the report).
    pub stale_after: Duration,
    pub stale_after_text: String,
    pub probe: bool,
    /// `--allow-partial`.
    pub allow_partial: bool,
    /// `Status::Error` or `Status::Warning`.
    pub fail_on: Status,
}

impl DoctorOptions {
    /// doctor's defaults, for the commands that show its findings as a view (describe-chain,
    /// scope): no selector, `--stale-after 2h`, nothing incomplete fails them.
    pub fn view(probe: bool) -> DoctorOptions {
        DoctorOptions {
            selector: None,
            stale_after: Duration::from_secs(2 * 3600),
            stale_after_text: "2h".into(),
            probe,
            allow_partial: true,
            fail_on: Status::Error,
        }
    }
}

/// `extras.probes` is `None` when the providers were not probed; the providers check then says why.
pub fn analyse(
    install: &InstallSnapshot,
    snap: &ScopeSnapshot,
    scope: &ScopeReport,
    extras: &DoctorExtras,
    opts: &DoctorOptions,
    now: Timestamp,
) -> DoctorReport {
    // The two checks that walk every ExternalSecret and every Secret run side by side on a big
    // snapshot (issue 16: some 40 ms each at 30,000); the checks keep their order.
    let (objects, leftovers) = beside(
        snap.external_secrets.len() >= PARALLEL_FROM,
        || objects::external_secrets(snap, scope, extras, opts.stale_after, now),
        || objects::leftovers(snap, scope),
    );
    let mut checks = vec![
        install::check(install, &unclassed_stores(snap)),
        stores::check(snap, scope, &extras.stores),
        match &extras.probes {
            Some(p) => providers::check(p, now),
            None => providers_skipped(opts),
        },
        objects,
        leftovers,
        match &extras.regcreds {
            Some(r) => regcreds::check(r),
            None => skipped(CheckId::Regcreds, "not asked for: pass --regcred"),
        },
        match &extras.push {
            Some(Ok(all)) => finish(
                CheckId::PushSecrets,
                all.push_secrets.len() + all.cluster_push_secrets.len(),
                crate::analysis::push::findings(all),
            ),
            Some(Err(why)) => skipped(CheckId::PushSecrets, why),
            None => skipped(CheckId::PushSecrets, "not read"),
        },
    ];
    if let Some(logs) = &extras.eso_logs {
        checks.push(logs_check(logs, &checks));
    }
    let totals = totals(&checks);
    let degraded_parts = degraded(scope, extras);
    let incomplete = incomplete(&degraded_parts, &checks, extras, opts);
    if let Some(Ok(logs)) = &extras.eso_logs {
        for c in &mut checks {
            crate::analysis::eso_logs::attach(&mut c.findings, logs);
        }
    }
    let parents = ces_owned::parents(snap);
    for c in &mut checks {
        ces_owned::steer(&mut c.findings, &parents);
    }
    let metadata = ManagedMetadata::new(snap);
    let meta_of = |object: &str| metadata.of(object);
    for c in &mut checks {
        crate::analysis::eso_logs::managed_by::steer(&mut c.findings, &meta_of);
    }
    let findings = crate::diagnose::rank::rank(
        checks
            .iter()
            .flat_map(|c| c.findings.iter().cloned())
            .collect(),
    );
    DoctorReport {
        api_version: REPORT_API_VERSION.to_string(),
        kind: DOCTOR_REPORT_KIND.to_string(),
        eso_api_version: snap.eso_api_version.clone(),
        eso_version: install::eso_version(install),
        scope: DoctorScope {
            namespace: snap.namespace.clone(),
            all_namespaces: snap.namespace.is_none(),
            selector: opts.selector.clone(),
            probe: opts.probe,
            stale_after: opts.stale_after_text.clone(),
            fail_on: opts.fail_on,
            allow_partial: opts.allow_partial,
            cached: false,
        },
        findings,
        checks,
        totals,
        incomplete,
        degraded: degraded_parts,
    }
}

/// From this many ExternalSecrets on, [`beside`] runs its two halves on two threads.
const PARALLEL_FROM: usize = 2_000;

/// `a` and `b`, on two threads when `parallel` (and a thread can be had), else one after the
/// other: pure functions both, so the result is the same either way.
fn beside<A, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    // `b` runs once: on the thread, or here when no thread can be had.
    let b = std::sync::Mutex::new(Some(b));
    let run_b = || match b.lock() {
        Ok(mut f) => f.take().map(|f| f()),
        Err(_) => None,
    };
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("analyse".into())
            .spawn_scoped(s, run_b);
        let a = a();
        let b = match spawned {
            Ok(thread) => match thread.join() {
                Ok(b) => b,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => run_b(),
        };
        match b {
            Some(b) => (a, b),
            None => unreachable!("the second half runs exactly once"),
        }
    })
}

/// The metadata of a finding's object (`ExternalSecret ns/name`, `SecretStore ns/name`,
/// `ClusterSecretStore name`) as scope read it, for who manages it (issue 17): indexed once, as
/// every finding and effect asks (thousands in an outage at scale, each of which scanned every
/// ExternalSecret). The first object listed under a name answers, as a scan would.
struct ManagedMetadata<'a> {
    snap: &'a ScopeSnapshot,
    /// (kind, namespace, name) of the stores: a ClusterSecretStore's namespace is `None`.
    stores: foldhash::HashMap<(&'a str, Option<&'a str>, &'a str), &'a ObjectMeta>,
    /// (namespace, name) of the ExternalSecrets, indexed on the first finding about one: the
    /// findings of a big healthy cluster are about stores, if any (issue 16).
    external_secrets: std::cell::OnceCell<foldhash::HashMap<(&'a str, &'a str), &'a ObjectMeta>>,
}

impl<'a> ManagedMetadata<'a> {
    fn new(snap: &'a ScopeSnapshot) -> Self {
        let mut stores = foldhash::HashMap::default();
        let mut add = |kind: &'a str, meta: &'a ObjectMeta, namespaced: bool| {
            let Some(name) = meta.name.as_deref() else {
                return;
            };
            let ns = if namespaced {
                meta.namespace.as_deref()
            } else {
                None
            };
            stores.entry((kind, ns, name)).or_insert(meta);
        };
        for s in snap.secret_stores.iter().flatten() {
            add("SecretStore", &s.metadata, true);
        }
        for s in snap.cluster_secret_stores.iter().flatten() {
            add("ClusterSecretStore", &s.metadata, false);
        }
        ManagedMetadata {
            snap,
            stores,
            external_secrets: std::cell::OnceCell::new(),
        }
    }

    fn of(&self, object: &str) -> Option<serde_json::Value> {
        let (kind, rest) = object.split_once(' ')?;
        let (ns, name) = match rest.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, rest),
        };
        let meta = match kind {
            "ExternalSecret" => {
                let by_name = self.external_secrets.get_or_init(|| {
                    let mut by_name = foldhash::HashMap::default();
                    for es in &self.snap.external_secrets {
                        if let (Some(ns), Some(name)) = (
                            es.metadata.namespace.as_deref(),
                            es.metadata.name.as_deref(),
                        ) {
                            by_name.entry((ns, name)).or_insert(&es.metadata);
                        }
                    }
                    by_name
                });
                by_name.get(&(ns?, name))?
            }
            // A ClusterSecretStore is found by its name alone.
            "ClusterSecretStore" => self.stores.get(&(kind, None, name))?,
            _ => self.stores.get(&(kind, ns, name))?,
        };
        serde_json::to_value(meta).ok()
    }
}

/// Check 7 (issue 17): the causes only ESO's logs show, and its lines attached as evidence to the
/// findings of the other checks about the same objects. Unreadable logs are "not checked", never ok.
fn logs_check(
    logs: &crate::model::scope::Fetched<Vec<crate::model::logs::PodLog>>,
    checks: &[Check],
) -> Check {
    match logs {
        Ok(logs) => {
            let explained: Vec<crate::model::refs::StoreRef> = checks
                .iter()
                .flat_map(|c| &c.findings)
                .filter_map(|f| f.about.store.clone())
                .collect();
            let findings = crate::analysis::eso_logs::findings(logs, &explained);
            finish(CheckId::Logs, logs.len(), findings)
        }
        Err(d) => skipped(
            CheckId::Logs,
            &format!("not checked: could not read {}: {}", d.resource, d.cause),
        ),
    }
}

/// What was asked for and could not be checked: unreadable resources, stores whose provider
/// was not probed (not vouched for, credentials unusable), checks that were skipped.
fn incomplete(
    degraded: &[Degraded],
    checks: &[Check],
    extras: &DoctorExtras,
    opts: &DoctorOptions,
) -> Vec<String> {
    let mut out: Vec<String> = degraded
        .iter()
        .map(|d| format!("could not read {}", d.resource))
        .collect();
    out.dedup();
    if opts.probe {
        let unprobed = extras
            .probes
            .iter()
            .flatten()
            .filter(|p| !p.provider.probed || p.provider.error.is_some())
            .count();
        if unprobed > 0 {
            out.push(format!("{unprobed} store(s) could not be probed"));
        }
    }
    // Each part a check could not look at, with why (issue 18: the README's reader role lacks
    // `create serviceaccounts/token` and `list customresourcedefinitions`; say which).
    for f in checks.iter().flat_map(|c| c.findings.iter()) {
        if matches!(f.code.as_str(), "check-not-run" | "provider-not-probed") {
            out.push(format!("{}: {}", f.object, f.message));
        }
    }
    for c in checks {
        let asked = match c.id {
            CheckId::Providers => opts.probe,
            CheckId::Regcreds => extras.regcreds.is_some(),
            CheckId::PushSecrets => extras.push.is_some(),
            _ => true,
        };
        if asked && c.status == Status::Skipped {
            out.push(format!("the {} check did not run", c.id.as_str()));
        }
    }
    out
}

/// Scope's unreadable parts, and those of checks 2 and 4.
fn degraded(scope: &ScopeReport, extras: &DoctorExtras) -> Vec<Degraded> {
    let mut out = scope.degraded.clone();
    out.extend(extras.targets.values_unread.clone());
    if let Some(Err(pods)) = &extras.targets.pods {
        out.push(pods.clone());
    }
    if let Some(Err(logs)) = &extras.eso_logs {
        out.push(logs.clone());
    }
    if let Some(Err(namespaces)) = &extras.stores.namespace_labels {
        out.push(namespaces.clone());
    }
    let accounts = extras.stores.service_accounts.values();
    for unread in extras
        .stores
        .credential_keys
        .values()
        .filter_map(|k| k.as_ref().err())
        .chain(accounts.filter_map(|a| a.as_ref().err()))
    {
        if !out.contains(unread) {
            out.push(unread.clone());
        }
    }
    out
}

/// Whether the report should end with exit code 1: any finding at or above `--fail-on`.
pub fn fails(report: &DoctorReport) -> bool {
    let found = report
        .checks
        .iter()
        .flat_map(|c| &c.findings)
        .any(|f| f.severity >= report.scope.fail_on);
    found || (!report.scope.allow_partial && !report.incomplete.is_empty())
}

/// Without probes, say why rather than report a false "ok".
fn providers_skipped(opts: &DoctorOptions) -> Check {
    let why = if opts.probe {
        "the providers were not probed: run `kubectl eso describe-chain NAME -n NS` for a live probe \
         of one ExternalSecret"
    } else {
        "--no-probe"
    };
    skipped(CheckId::Providers, why)
}

fn skipped(id: CheckId, why: &str) -> Check {
    Check {
        id,
        title: id.title().to_string(),
        status: Status::Skipped,
        checked: 0,
        skipped_because: Some(why.to_string()),
        findings: Vec::new(),
    }
}

/// A check whose status is its worst finding (ok without findings), findings sorted worst first.
fn finish(id: CheckId, checked: usize, mut findings: Vec<Finding>) -> Check {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
    Check {
        id,
        title: id.title().to_string(),
        status: findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Status::Ok),
        checked,
        skipped_because: None,
        findings,
    }
}

fn finding(
    code: &'static str,
    severity: Status,
    object: String,
    message: String,
    next_step: String,
) -> Finding {
    debug_assert!(crate::diagnose::catalogue::known(code), "{code}");
    Finding::new(code, severity, object, message, next_step)
}

fn totals(checks: &[Check]) -> Totals {
    let mut t = Totals {
        checks: checks.len(),
        ..Totals::default()
    };
    for c in checks {
        match c.status {
            Status::Ok => t.ok += 1,
            Status::Skipped => t.skipped += 1,
            Status::Warning => t.warning += 1,
            Status::Error => t.error += 1,
        }
        for f in &c.findings {
            match f.severity {
                Status::Warning => t.warning_findings += 1,
                Status::Error => t.error_findings += 1,
                Status::Ok | Status::Skipped => {}
            }
        }
    }
    t
}
