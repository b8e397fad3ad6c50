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
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{client, eso};
use crate::model::doctor::{DoctorExtras, InstallSnapshot};
use crate::model::refs::{StoreFilter, WorkloadRef};
use crate::model::scope::{Degraded, RootCause, ScopeReport, ScopeSnapshot};
use crate::render::{self, RenderOptions};

pub async fn run(cfg: &Config, args: &ScopeArgs, out: &mut impl Write) -> Result<Exit> {
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
    let diag = Diag::new(cfg.verbosity);
    let started = std::time::Instant::now();

    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    let query = ScopeQuery {
        namespace: namespace.as_deref(),
        selector: cfg.selector.as_deref(),
        workload: workload.as_ref(),
    };
    let snapshot = fetch(&client, &eso, &query, &diag).await?;
    super::publish_identifiers(&snapshot);
    // Only so the output boundary can replace credentials quoted in Event text (issue 18).
    let unredacted = crate::kube::doctor_stores::learn_credentials(&client, &snapshot, &diag).await;

    let now = jiff::Timestamp::now();
    let opts = ScopeOptions {
        selector: cfg.selector.clone(),
        store,
        failing_only: args.failing,
    };
    let mut report = analyse(&snapshot, &opts, now);
    root_causes(&snapshot, &mut report, now);
    report.degraded.extend(unredacted);
    diag.log(
        1,
        format_args!(
            "{} ExternalSecrets in scope, {} failing; {:?} in total",
            report.summary.external_secrets,
            report.summary.failing,
            started.elapsed()
        ),
    );

    let render_opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    };
    render::scope::write(out, &report, &render_opts).map_err(Error::Output)?;
    Ok(Exit::from_findings(report.summary.failing > 0))
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
    for row in &mut report.external_secrets {
        let me = Some((row.namespace.clone(), row.name.clone()));
        let root = diagnosis.findings.iter().find(|r| {
            std::iter::once(*r)
                .chain(r.effects.iter())
                .any(|f| f.about.external_secret == me)
        });
        row.root_cause = root.map(|r| RootCause {
            code: r.code.clone(),
            object: r.object.clone(),
            cause: r.message.clone(),
        });
    }
}
