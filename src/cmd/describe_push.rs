//! `kubectl eso describe-chain pushsecret/NAME` (issue 14): gather one PushSecret's facts (source
//! Secret key names, stores, Events, the write permission asked without writing), run the
//! PushSecret rules, rank them, render. Exit 1 when a finding is an error or a check could not
//! run, as for an ExternalSecret's chain.

use std::io::Write;

use kube::Client;

use crate::analysis::push;
use crate::diag::Diag;
use crate::diagnose::rank::rank;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::eso::EsoApi;
use crate::kube::push as kube_push;
use crate::model::doctor::Status;
use crate::render::push::PushChainReport;
use crate::render::{self, RenderOptions};

/// `pushsecret/NAME` (any case, singular or plural, `.external-secrets.io` allowed) → `NAME`.
pub fn push_name(arg: &str) -> Option<&str> {
    let (kind, name) = arg.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let kind = kind.strip_suffix(".external-secrets.io").unwrap_or(&kind);
    matches!(kind, "pushsecret" | "pushsecrets").then_some(name)
}

pub struct PushArgs<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub probe: kube_push::PushProbe,
    pub render: RenderOptions,
}

pub async fn run(
    client: &Client,
    eso: &EsoApi,
    args: PushArgs<'_>,
    diag: &Diag,
    out: &mut impl Write,
) -> Result<Exit> {
    let ps = kube_push::get(client, args.namespace, args.name)
        .await
        .map_err(|detail| Error::Api {
            what: "describe-chain".into(),
            detail,
        })?
        .ok_or_else(|| {
            Error::Usage(format!(
                "pushsecret {} not found in namespace {}",
                crate::sanitize::line(args.name),
                crate::sanitize::line(args.namespace)
            ))
        })?;
    let (mut facts, read) = kube_push::gather(client, eso, &[ps], &args.probe, diag).await;
    let facts = facts.pop().unwrap_or_default();
    let findings = rank(push::one(&facts));
    let failing = findings.iter().any(|f| f.severity >= Status::Warning);
    let report = PushChainReport {
        api_version: crate::model::scope::REPORT_API_VERSION.to_string(),
        kind: "PushSecretChain".into(),
        push_secret: facts,
        findings,
    };
    // Provider errors may quote a credential: scrub every value read from the report.
    let known: Vec<&crate::model::chain::Sensitive> = read.iter().collect();
    let report = crate::analysis::chain::redact::redact_any(report, &known);
    drop(read);
    render::push::write(out, &report, &args.render).map_err(Error::Output)?;
    Ok(Exit::from_findings(failing))
}

#[cfg(test)]
mod tests {
    use super::push_name;

    #[test]
    fn issue14_pushsecret_prefix_selects_the_push_chain_and_plain_names_do_not() {
        assert_eq!(push_name("pushsecret/db"), Some("db"));
        assert_eq!(push_name("PushSecrets/db"), Some("db"));
        assert_eq!(push_name("pushsecret.external-secrets.io/db"), Some("db"));
        assert_eq!(push_name("db"), None);
        assert_eq!(push_name("externalsecret/db"), None);
    }
}
