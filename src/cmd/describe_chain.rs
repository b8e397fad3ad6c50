//! `kubectl eso describe-chain NAME`: gather the chain from the cluster, probe the provider as ESO
//! would (or as the user, or not at all), compare the target Secret with the provider's current
//! value in memory and drop that value, then judge every link, print, and exit 1 when a link is
//! broken or could not be checked.

use std::io::Write;

use crate::analysis::chain::{analyse, compare::compare};
use crate::cli::{DescribeChainArgs, ProbeAsArg};
use crate::config::{Config, NamespaceChoice};
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::chain::probe::{self, ProbeAs};
use crate::kube::chain::{ChainQuery, gather};
use crate::kube::{client, eso};
use crate::model::chain::{LinkState, ProviderFacts, RemoteValue};
use crate::provider::vault::http::ProbeHttp;
use crate::render::{self, RenderOptions};

/// The provider probe's time limit (`describe-chain --timeout`, `doctor --provider-timeout`): at
/// most [`crate::config::MAX_FLAG_DURATION`], and never zero (the walk needs a time limit).
pub fn provider_timeout(flag: &str, input: &str) -> Result<std::time::Duration> {
    crate::config::parse_duration_flag(flag, input, crate::config::MAX_FLAG_DURATION, "30s or 1m")?
        .ok_or_else(|| {
            Error::Usage(format!(
                "{flag} must be greater than 0 (the provider probe needs a time limit)"
            ))
        })
}

pub async fn run(cfg: &Config, args: &DescribeChainArgs, out: &mut impl Write) -> Result<Exit> {
    let timeout = provider_timeout("--timeout", &args.timeout)?;
    if cfg.namespace == NamespaceChoice::All {
        return Err(Error::Usage(
            "an ExternalSecret lives in one namespace: use -n NAMESPACE instead of -A".into(),
        ));
    }
    let cas = cfg.provider_ca_pems()?;
    let diag = Diag::new(cfg.verbosity);
    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg
        .namespace
        .resolve(&default_ns)
        .unwrap_or(default_ns.clone());
    // Issue 14: `pushsecret/NAME` walks a PushSecret; a plain NAME is still an ExternalSecret.
    if let Some(name) = super::describe_push::push_name(&args.name) {
        let push_args = super::describe_push::PushArgs {
            namespace: &namespace,
            name,
            probe: crate::kube::push::PushProbe {
                enabled: !args.no_probe && args.probe_as == ProbeAsArg::Eso,
                ca_pems: cas,
                timeout,
                trust: cfg.trust.clone(),
            },
            render: RenderOptions {
                format: cfg.format,
                color: cfg.color,
                now: jiff::Timestamp::now(),
            },
        };
        let exit = super::describe_push::run(&client, &eso, push_args, &diag, out).await?;
        if let Some(dir) = &args.evidence {
            evidence(cfg, args, &namespace, dir, &[]).await?;
        }
        return Ok(exit);
    }
    let probe_as_eso = args.probe_as == ProbeAsArg::Eso;
    // Probing as yourself sends your VAULT_TOKEN: your own VAULT_ADDR is vouched for by you.
    let mut trust = cfg.trust.clone();
    if !probe_as_eso {
        let own = std::env::var("VAULT_ADDR").ok();
        if let Some(e) = own
            .as_deref()
            .and_then(crate::analysis::trust::Endpoint::parse)
        {
            trust.flagged.push(e.host_port());
        }
    }
    let query = ChainQuery {
        namespace: &namespace,
        name: &args.name,
        resolve_auth: !args.no_probe && probe_as_eso,
        trust: (!args.no_probe).then_some(&trust),
    };
    let mut g = gather(&client, &eso, &query, &diag).await?;
    {
        // Identifiers printed on purpose (see `publish_identifiers`).
        let es = &g.facts.external_secret;
        let names = [&es.namespace, &es.name, &es.target_name];
        names.into_iter().for_each(|s| crate::redact::public(s));
        for s in [&es.store_name, &es.owner_cluster_external_secret]
            .into_iter()
            .flatten()
        {
            crate::redact::public(s);
        }
        for r in &es.remote_refs {
            crate::redact::public(&r.key);
            r.property.iter().for_each(|p| crate::redact::public(p));
        }
        super::publish_json(g.store.as_ref().and_then(|s| s.get("spec")));
        super::publish_json(g.store.as_ref().and_then(|s| s.pointer("/metadata/name")));
    }

    let mut values: Vec<Option<RemoteValue>> = Vec::new();
    g.facts.provider = if args.no_probe {
        skipped(args, "--no-probe")
    } else if let Some(why) = &g.probe_refused {
        skipped(args, why)
    } else {
        let http = {
            let mut all = cas.clone();
            all.extend(g.store_ca_pem.clone());
            ProbeHttp::new(&all, timeout, diag)
        };
        match http {
            Err(e) => ProviderFacts {
                error: Some(e.clone()),
                ..skipped(args, &e)
            },
            Ok(http) => {
                let probed = tokio::time::timeout(
                    timeout,
                    probe::probe_store(
                        &http,
                        g.store.as_ref(),
                        g.auth.as_ref(),
                        &g.facts.external_secret.remote_refs,
                        probe_as(args),
                    ),
                )
                .await;
                match probed {
                    Ok((facts, v)) => {
                        values = v;
                        ProviderFacts {
                            calls: http.calls(),
                            ..facts
                        }
                    }
                    Err(_) => ProviderFacts {
                        probed: true,
                        probe_as: probe_as(args).as_str().into(),
                        error: Some(format!(
                            "the provider did not answer within {}",
                            args.timeout
                        )),
                        calls: http.calls(),
                        ..ProviderFacts::default()
                    },
                }
            }
        }
    };
    // Issue 14: an out-of-process store's runtime (ProviderClass / ClusterProviderClass) is read
    // and shown; the runtime itself is never called.
    if let Some(class) = g
        .store
        .as_ref()
        .and_then(crate::kube::chain::extract::provider_class_ref)
        && !g.facts.provider.probed
    {
        let found = crate::kube::provider_class::lookup(&client, &class).await;
        let line = found.describe(&class);
        g.facts.provider.skipped = Some(match g.facts.provider.skipped.take() {
            Some(why) => format!("{why}; {line}"),
            None => line,
        });
    }
    crate::kube::chain::reviewer::check(&client, &mut g.facts.provider).await;
    let read: Vec<Option<&RemoteValue>> = values.iter().map(Option::as_ref).collect();
    compare(
        &g.facts.external_secret,
        &mut g.facts.target,
        &g.target_data,
        &read,
    );
    // The provider's copy is not needed past the comparison.
    drop(values);
    // Entra ID and ESO's events quote credentials (the client id); nothing here quotes values,
    // and scrubbing values would also blank names that happen to equal one (a username).
    let known: Vec<&crate::model::chain::Sensitive> = g.credential_values.iter().collect();
    // Key names and pull-secret hosts of the target, for the shared rules; its values go here.
    let target_secret = {
        let mut one = crate::kube::chain::batch::TargetData::default();
        // A ConfigMap target (issue 14) is not a Secret for the shared rules.
        if !g.target_data.is_empty() && g.facts.target.kind.is_none() {
            one.insert(
                (namespace.clone(), g.facts.target.name.clone()),
                crate::kube::chain::batch::ManagedSecret {
                    type_: g.facts.target.type_.clone(),
                    data: std::mem::take(&mut g.target_data),
                },
            );
        }
        crate::kube::doctor_targets::secret_facts(&one)
    };
    let facts = crate::analysis::chain::redact::redact(g.facts, &known);

    let now = jiff::Timestamp::now();
    let mut report = analyse(facts, now);
    let probed = !args.no_probe && probe_as_eso;
    // ESO's Events and Entra's errors quote credentials (the client id): the shared findings
    // come from the raw snapshot, so they are scrubbed like the chain's facts.
    let findings = super::chain_findings::findings(
        &client,
        &eso,
        &report.facts,
        probed,
        target_secret,
        &diag,
        now,
    )
    .await;
    // What a finding is about is not serialised, so it does not survive the scrubbing below.
    let sharper = findings
        .first()
        .is_some_and(|f| f.about.from_provider_config);
    report.findings = crate::analysis::chain::redact::redact_any(findings, &known);
    apply_root_cause(&mut report, sharper);
    let opts = RenderOptions {
        format: cfg.format,
        color: cfg.color,
        now,
    };
    render::chain::write(out, &report, &opts).map_err(Error::Output)?;
    if let Some(dir) = &args.evidence {
        // The report as `-o json` prints it, beside the namespace's bundle.
        let mut json = Vec::new();
        let as_json = RenderOptions {
            format: render::Format::Json,
            color: false,
            now,
        };
        render::chain::write(&mut json, &report, &as_json).map_err(Error::Output)?;
        let json = String::from_utf8_lossy(&json).into_owned();
        evidence(cfg, args, &namespace, dir, &[("describe-chain.json", json)]).await?;
    }
    Ok(Exit::from_findings(
        report.any_broken()
            || report.verdict.state == LinkState::Unknown
            || report
                .findings
                .iter()
                .any(|f| f.severity == crate::model::doctor::Status::Error),
    ))
}

/// `--evidence DIR`: the bundle of the ExternalSecret's namespace (doctor's checks there, its
/// objects, Events, pods and logs), with `reports` added. The stores are probed again only when
/// this walk probed as ESO.
async fn evidence(
    cfg: &Config,
    args: &DescribeChainArgs,
    namespace: &str,
    dir: &std::path::Path,
    reports: &[(&str, String)],
) -> Result<()> {
    let cfg = Config {
        namespace: NamespaceChoice::Named(namespace.to_string()),
        ..cfg.clone()
    };
    let doctor = crate::cli::DoctorArgs {
        no_probe: args.no_probe || args.probe_as != ProbeAsArg::Eso,
        stale_after: "2h".into(),
        provider_timeout: args.timeout.clone(),
        deadline: args.deadline.clone(),
        fail_on: crate::cli::FailOnArg::Error,
        regcred: false,
        allow_partial: false,
        cached: false,
    };
    let mut run = super::doctor::report(&cfg, &doctor, true).await?;
    super::bundle::evidence(&cfg, &mut run, dir, reports).await
}

/// The verdict names the root cause doctor and scope name for the same facts (issue 12): always
/// its code; and its cause, next commands and link wherever the link walk alone named another
/// link or nothing (a symptom: the ExternalSecret's state, a refresh that is due). Where both sit
/// on the same link, the walk's own sentence (which quotes the role, policies and path it saw)
/// is kept.
fn apply_root_cause(report: &mut crate::model::chain::ChainReport, sharper: bool) {
    use crate::diagnose::catalogue::{Layer, layer};
    use crate::model::chain::LinkName;
    let Some(root) = report.findings.first() else {
        return;
    };
    let root_link = match layer(&root.code) {
        Layer::Controller | Layer::ExternalSecret => LinkName::ExternalSecret,
        Layer::StoreRef | Layer::Store => LinkName::Store,
        Layer::Credentials => LinkName::Credentials,
        Layer::Provider => LinkName::Provider,
        Layer::Ownership | Layer::Target | Layer::Leftovers => LinkName::Target,
        Layer::Consumers => LinkName::Consumers,
    };
    let severe = root.severity == crate::model::doctor::Status::Error;
    // A ClusterExternalSecret's copy is fixed on the parent: the finding's steps say so, the
    // walk's would edit the copy (issue 12).
    let parent_fix = report
        .facts
        .external_secret
        .owner_cluster_external_secret
        .as_deref()
        .is_some_and(|ces| {
            root.next
                .iter()
                .any(|n| n.contains(&format!("clusterexternalsecret {ces}")))
        });
    // Causes the link walk cannot see (a store in another namespace, a missing or referent
    // ServiceAccount, the Secret's other owner or controller): it names only the symptom on
    // that link ("does not exist", "a refresh is due"), and its steps would not fix it.
    let rule_sees_more = layer(&root.code) == Layer::Ownership
        || [
            crate::diagnose::catalogue::STORE_OTHER_NAMESPACE,
            crate::diagnose::catalogue::CREDENTIALS_SERVICE_ACCOUNT_MISSING,
            crate::diagnose::catalogue::CREDENTIALS_REFERENT_MISSING,
        ]
        .contains(&root.code.as_str());
    let v = &mut report.verdict;
    v.code = Some(root.code.clone());
    let walk_found_it = v.state == LinkState::Broken && v.link == Some(root_link);
    if walk_found_it {
        // The provider's own configuration (policy, role, mount) names the cause more sharply
        // than the refusal the walk saw.
        if sharper || parent_fix || rule_sees_more {
            v.cause = root.message.clone();
            if !root.next.is_empty() {
                v.next = root.next.clone();
            }
        } else if v.next.is_empty() {
            // The walk saw the link fail but has no command for it (an Entra refusal it does
            // not classify): the root's are the ones doctor prints.
            v.next = root.next.clone();
        }
        // Where the fix goes when a GitOps tool or Helm applies the object (issue 17).
        crate::analysis::eso_logs::managed_by::steer_walk_steps(&mut v.next, root);
        return;
    }
    if v.state == LinkState::Broken && !severe {
        // A warning does not replace a broken link's verdict.
        v.code = None;
        return;
    }
    v.cause = root.message.clone();
    if !root.next.is_empty() {
        v.next = root.next.clone();
    }
    v.link = Some(root_link);
    v.state = if severe {
        LinkState::Broken
    } else {
        LinkState::Warning
    };
    // Named by its object when the finding is about another one than the link's own (the
    // controller's Deployment, a per-entry store).
    let message = if root.message.contains(&root.object)
        || root.object.ends_with(&format!(
            "{}/{}",
            report.facts.external_secret.namespace, report.facts.external_secret.name
        )) {
        root.message.clone()
    } else {
        format!("{}: {}", root.object, root.message)
    };
    let state = v.state;
    // The link the verdict names shows it too: a client certificate refused with 401 left the
    // Credentials link "ok" under a verdict that named it broken.
    if let Some(l) = report.links.iter_mut().find(|l| l.link == root_link) {
        let raise = match state {
            LinkState::Broken => l.state != LinkState::Broken,
            _ => l.state == LinkState::Ok,
        };
        if raise {
            l.state = state;
            l.error.get_or_insert(message);
        }
    }
}

fn probe_as(args: &DescribeChainArgs) -> ProbeAs {
    match args.probe_as {
        ProbeAsArg::Eso => ProbeAs::Eso,
        ProbeAsArg::Me => ProbeAs::Me,
    }
}

fn skipped(args: &DescribeChainArgs, why: &str) -> ProviderFacts {
    probe::skipped(probe_as(args), why)
}
