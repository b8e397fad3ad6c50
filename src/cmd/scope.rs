//! `kubectl eso scope`: which ExternalSecrets fail, where, on which store, and whether it is one
//! app or a whole store.

use std::io::Write;

use crate::analysis::scope::{ScopeOptions, analyse};
use crate::cli::ScopeArgs;
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{client, eso};
use crate::model::refs::{StoreFilter, WorkloadRef};
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

    let now = jiff::Timestamp::now();
    let opts = ScopeOptions {
        selector: cfg.selector.clone(),
        store,
        failing_only: args.failing,
    };
    let report = analyse(&snapshot, &opts, now);
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
