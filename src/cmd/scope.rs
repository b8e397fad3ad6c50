//! `kubectl eso scope`: which ExternalSecrets fail, where, on which store, and whether it is one
//! app or a whole store.

use std::io::Write;

use crate::analysis::doctor::{DoctorOptions, analyse as analyse_doctor};
use crate::analysis::scope::{ScopeOptions, analyse};
use crate::cli::ScopeArgs;
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::force_sync as kf;
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{client, eso};
use crate::model::doctor::{DoctorExtras, InstallSnapshot};
use crate::model::refs::{StoreFilter, WorkloadRef};
use crate::model::scope::{Degraded, RootCause, ScopeReport, ScopeSnapshot};
use crate::render::{self, Format, RenderOptions};
use kube::api::ListParams;

/// What one scope run needs besides the config: checked arguments and a connection.
struct Prepared {
    client: kube::Client,
    eso: eso::EsoApi,
    namespace: Option<String>,
    store: Option<StoreFilter>,
    workload: Option<WorkloadRef>,
}

async fn prepare(cfg: &Config, args: &ScopeArgs, diag: &Diag) -> Result<Prepared> {
    let store = args
        .store
        .as_deref()
        .map(StoreFilter::parse)
        .transpose()
        .map_err(Error::Usage)?;
    let workload = args
        .workload
        .as_deref()
        .map(WorkloadRef::parse)
        .transpose()
        .map_err(Error::Usage)?;
    if workload.is_some() && cfg.namespace == NamespaceChoice::All {
        return Err(Error::Usage(
            "a WORKLOAD lives in one namespace: use -n NAMESPACE instead of -A".into(),
        ));
    }
    if args.watch && !matches!(cfg.format, Format::Table | Format::Wide) {
        return Err(Error::Usage(
            "--watch prints the table, then each row that changes: use it with -o table or wide"
                .into(),
        ));
    }
    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    // An error, as kubectl's `get namespace nosuchns`: a namespace that does not exist is a
    // wrong argument, not a healthy place (issue 13).
    if let Some(ns) = &namespace
        && crate::kube::scope::namespace_exists(&client, ns).await == Some(false)
    {
        let cluster = client::cluster_label()
            .map(|c| format!(" ({})", crate::sanitize::line(c)))
            .unwrap_or_default();
        return Err(Error::NotFound(format!(
            "namespace \"{}\" does not exist{cluster}; list them with: kubectl get namespaces",
            crate::sanitize::line(ns)
        )));
    }
    Ok(Prepared {
        client,
        eso,
        namespace,
        store,
        workload,
    })
}

/// One snapshot, analysed: what `scope` prints, and what `--watch` compares.
async fn report(
    p: &Prepared,
    cfg: &Config,
    args: &ScopeArgs,
    diag: &Diag,
    once: bool,
) -> Result<(ScopeReport, jiff::Timestamp)> {
    let started = std::time::Instant::now();
    let query = ScopeQuery {
        namespace: p.namespace.as_deref(),
        selector: cfg.selector.as_deref(),
        workload: p.workload.as_ref(),
    };
    // Issue 14: PushSecrets, without provider calls (scope never probes), read beside the
    // ExternalSecrets rather than after their analysis (issue 16: off the path after the last page).
    let with_push = p.workload.is_none() && p.store.is_none();
    let (snapshot, push) = futures::join!(fetch(&p.client, &p.eso, &query, diag), async {
        if !with_push {
            return None;
        }
        push_rows(cfg, &p.client, &p.eso, p.namespace.as_deref(), diag).await
    });
    let snapshot = snapshot?;

    let now = jiff::Timestamp::now();
    let opts = ScopeOptions {
        selector: cfg.selector.clone(),
        store: p.store.clone(),
        failing_only: args.failing,
    };
    // The analysis reads the snapshot only; the identifiers are published meanwhile.
    let mut report = super::publishing_while(&snapshot, || {
        let mut report = analyse(&snapshot, &opts, now);
        report.scope.cached = args.cached;
        root_causes(&snapshot, &mut report, now);
        report
    });
    // Only so the output boundary can replace credentials quoted in Event text (issue 18).
    let unredacted =
        crate::kube::doctor_stores::learn_credentials(&p.client, &snapshot, diag).await;
    if let Some((push_secrets, cluster_push_secrets)) = push {
        report.push_secrets = push_secrets;
        report.cluster_push_secrets = cluster_push_secrets;
        if args.failing {
            report.push_secrets.retain(|r| r.failing);
            report
                .cluster_push_secrets
                .retain(|c| !c.failed_namespaces.is_empty());
        }
    }
    report.degraded.extend(unredacted);
    if once {
        super::release(snapshot);
    } else {
        super::drop_aside(snapshot);
    }
    diag.log(
        1,
        format_args!(
            "{} ExternalSecrets in scope, {} failing; {:?} in total",
            report.summary.external_secrets,
            report.summary.failing,
            started.elapsed()
        ),
    );
    Ok((report, now))
}

fn listing(cfg: &Config) -> render::scope::Listing {
    render::scope::Listing {
        names_only: cfg.names_only,
        no_headers: cfg.no_headers,
    }
}

fn render_options(cfg: &Config, now: jiff::Timestamp) -> RenderOptions {
    RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    }
}

pub async fn run(cfg: &Config, args: &ScopeArgs, out: &mut impl Write) -> Result<Exit> {
    let diag = Diag::new(cfg.verbosity);
    crate::kube::list::read_from_watch_cache(args.cached);
    let prepared = prepare(cfg, args, &diag).await?;
    let (report, now) = report(&prepared, cfg, args, &diag, true).await?;
    render::scope::write_listing(out, &report, &render_options(cfg, now), listing(cfg))
        .map_err(Error::Output)?;
    let exit = Exit::from_findings(failing(&report));
    super::release(report);
    Ok(exit)
}

/// Anything in the report that fails: an ExternalSecret, a PushSecret or a ClusterPushSecret's
/// namespace.
fn failing(report: &ScopeReport) -> bool {
    report.summary.failing > 0
        || report.push_secrets.iter().any(|p| p.failing)
        || report
            .cluster_push_secrets
            .iter()
            .any(|c| !c.failed_namespaces.is_empty())
}

/// The PushSecrets and ClusterPushSecrets in scope, judged without asking any provider. Not
/// readable PushSecrets (no CRD, RBAC) leave the section out (`None`).
async fn push_rows(
    cfg: &Config,
    client: &kube::Client,
    eso: &eso::EsoApi,
    namespace: Option<&str>,
    diag: &Diag,
) -> Option<(
    Vec<crate::model::scope::PushSecretRow>,
    Vec<crate::model::push::ClusterPushFacts>,
)> {
    use crate::kube::push;
    let all = push::list(client, namespace, diag).await.ok()?;
    let probe = push::PushProbe {
        enabled: false,
        ca_pems: Vec::new(),
        timeout: std::time::Duration::from_secs(1),
        trust: cfg.trust.clone(),
    };
    let (facts, _) = push::gather(client, eso, &all, &probe, diag).await;
    let rows = facts.iter().map(crate::analysis::push::scope_row).collect();
    Some((rows, push::list_cluster(client, namespace, diag).await))
}

/// `scope -w` (issue 13), as `kubectl get -w`: the report once, then one watch on the
/// ExternalSecrets in scope; after each burst of changes the rows whose content changed are
/// printed again (no header), until the watch is interrupted. Writes to stdout as it goes, under
/// the invoked name (`display`), since a buffer would print nothing until the end.
pub async fn watch(cfg: &Config, args: &ScopeArgs, display: &str) -> Result<Exit> {
    let diag = Diag::new(cfg.verbosity);
    crate::kube::list::read_from_watch_cache(args.cached);
    let prepared = prepare(cfg, args, &diag).await?;
    // The watch starts where this LIST's snapshot ends; the report read after it may already
    // show some of the changes the watch then replays, which compare equal and print nothing.
    let es_api = kf::external_secrets(
        &prepared.client,
        &prepared.eso,
        prepared.namespace.as_deref(),
    );
    let mut list = ListParams::default();
    if let Some(sel) = &cfg.selector {
        list = list.labels(sel);
    }
    let first_page = es_api
        .list_metadata(&list.clone().limit(1))
        .await
        .map_err(|e| {
            crate::kube::list::Listing::new("externalsecrets", prepared.namespace.as_deref())
                .fatal(&e)
        })?;
    let version = first_page.metadata.resource_version.unwrap_or_default();

    let (mut report, now) = report(&prepared, cfg, args, &diag, false).await?;
    let mut text = Vec::new();
    render::scope::write_listing(&mut text, &report, &render_options(cfg, now), listing(cfg))
        .map_err(Error::Output)?;
    if !emit(&crate::invoked::rewrite_bytes(&text, display), cfg.color) {
        return Ok(Exit::from_findings(failing(&report)));
    }
    let mut seen = rows_by_key(&report);

    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let requests = kf::Requests::default();
    let task = kf::spawn_watch(
        es_api,
        kf::WatchSpec {
            what: "externalsecrets",
            list,
            resource_version: version,
        },
        tx,
        requests,
        diag,
    );
    // A store or a target Secret that changes can change a row too (its root cause, its
    // target's state) while the ExternalSecret itself stays as it was (issue 13).
    let (changes, mut changed_rx) = tokio::sync::mpsc::channel::<()>(64);
    let mut tasks = crate::kube::scope::spawn_related_watches(
        &prepared.client,
        &prepared.eso,
        prepared.namespace.as_deref(),
        changes.clone(),
        &diag,
    );
    tasks.push(tokio::spawn(async move {
        while rx.recv().await.is_some() {
            if changes.send(()).await.is_err() {
                return;
            }
        }
    }));
    while changed_rx.recv().await.is_some() {
        // A burst (ESO updating many ExternalSecrets at once) is one re-read.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        while changed_rx.try_recv().is_ok() {}
        let (next, now) = match report_again(&prepared, cfg, args, &diag).await {
            Some(r) => r,
            None => continue,
        };
        let now_rows = rows_by_key(&next);
        let mut changed = next.clone();
        changed
            .external_secrets
            .retain(|r| seen.get(&key(r)) != now_rows.get(&key(r)));
        if !changed.external_secrets.is_empty() {
            let mut text = Vec::new();
            let rows = render::scope::Listing {
                no_headers: true,
                ..listing(cfg)
            };
            render::scope::write_listing(&mut text, &changed, &render_options(cfg, now), rows)
                .map_err(Error::Output)?;
            if !emit(&text, cfg.color) {
                break;
            }
        }
        seen = now_rows;
        report = next;
    }
    task.abort();
    for t in tasks {
        t.abort();
    }
    Ok(Exit::from_findings(failing(&report)))
}

/// A re-read that fails (the API briefly away) skips one redraw instead of ending the watch.
async fn report_again(
    p: &Prepared,
    cfg: &Config,
    args: &ScopeArgs,
    diag: &Diag,
) -> Option<(ScopeReport, jiff::Timestamp)> {
    report(p, cfg, args, diag, false)
        .await
        .inspect_err(|e| diag.log(1, format_args!("watch: re-reading scope: {e}")))
        .ok()
}

fn key(r: &crate::model::scope::ExternalSecretRow) -> (String, String) {
    (r.namespace.clone(), r.name.clone())
}

/// Each row as JSON, to tell a changed row from one that only aged.
fn rows_by_key(report: &ScopeReport) -> std::collections::BTreeMap<(String, String), String> {
    report
        .external_secrets
        .iter()
        .map(|r| (key(r), serde_json::to_string(r).unwrap_or_default()))
        .collect()
}

/// Writes and flushes stdout through the output boundary (redaction, as every command's
/// output); false once the reader is gone (`scope -w | head`).
fn emit(bytes: &[u8], colour: bool) -> bool {
    let text = crate::redact::output(&String::from_utf8_lossy(bytes), colour);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// Each row's root cause from the one diagnosis doctor runs (issue 12), over what scope read:
/// no probe and no installation check here, so a row's root is the first finding those facts
/// support — the same doctor gives for the same facts.
fn root_causes(snapshot: &ScopeSnapshot, report: &mut ScopeReport, now: jiff::Timestamp) {
    fn not_read<T>() -> Result<T, Degraded> {
        Err(Degraded {
            resource: "installation".into(),
            namespace: None,
            cause: "not read by scope".into(),
        })
    }
    let install = InstallSnapshot {
        served_versions: vec!["v1".into()],
        crds: not_read(),
        deployments: not_read(),
        webhook_configurations: not_read(),
    };
    let opts = DoctorOptions::view(false);
    let diagnosis = analyse_doctor(
        &install,
        snapshot,
        report,
        &DoctorExtras::default(),
        &opts,
        now,
    );
    let roots = roots_by_external_secret(&diagnosis.findings);
    for row in &mut report.external_secrets {
        let root = roots.get(&(row.namespace.as_str(), row.name.as_str()));
        row.root_cause = root.map(|r| RootCause {
            code: r.code.clone(),
            object: r.object.clone(),
            cause: r.message.clone(),
        });
    }
}

/// For each ExternalSecret that a finding or one of its effects is about, the first such finding
/// (in the diagnosis' order): the root cause its scope row names. One pass over the findings
/// instead of one per row (30,000 rows with thousands of findings at scale, issue 16).
fn roots_by_external_secret(
    findings: &[crate::model::finding::Finding],
) -> std::collections::HashMap<(&str, &str), &crate::model::finding::Finding> {
    let mut roots = std::collections::HashMap::new();
    for root in findings {
        for f in std::iter::once(root).chain(root.effects.iter()) {
            if let Some((ns, name)) = &f.about.external_secret {
                roots.entry((ns.as_str(), name.as_str())).or_insert(root);
            }
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::Finding;

    fn finding(code: &str, about: Option<(&str, &str)>, effects: Vec<Finding>) -> Finding {
        let status = crate::model::doctor::Status::Error;
        let mut f = Finding::new(code, status, String::new(), String::new(), String::new());
        f.effects = effects;
        match about {
            Some((ns, name)) => f.about_es(ns, name),
            None => f,
        }
    }

    #[test]
    fn a_row_gets_the_first_finding_about_it_or_about_one_of_its_effects() {
        let findings = vec![
            finding(
                "store-down",
                None,
                vec![finding("e", Some(("a", "x")), vec![])],
            ),
            finding("direct", Some(("a", "x")), vec![]),
            finding("direct", Some(("a", "y")), vec![]),
            finding(
                "later",
                Some(("a", "y")),
                vec![finding("e", Some(("b", "z")), vec![])],
            ),
        ];
        let roots = roots_by_external_secret(&findings);
        let code = |ns, n| roots.get(&(ns, n)).map(|f| f.code.as_str());
        // Through an effect, before a finding about it directly.
        assert_eq!(code("a", "x"), Some("store-down"));
        assert_eq!(code("a", "y"), Some("direct"));
        assert_eq!(code("b", "z"), Some("later"));
        // Near misses: the same name in another namespace, a finding about no ExternalSecret.
        assert_eq!(code("b", "x"), None);
        assert_eq!(code("a", "z"), None);
        assert_eq!(roots.len(), 3);
    }
}
