//! Generators (issue 14): an ExternalSecret whose values come from `dataFrom[].sourceRef.generatorRef`
//! fails where its generator fails, and ESO says so only in its Warning event ("error using
//! generator: ..."; a missing generator is the API server's `<kind>s.generators.external-secrets.io
//! "<name>" not found`). The event's text tells which of three it is: the generator does not exist,
//! a Secret its auth names does not exist, or its provider refused it. The field at fault is the
//! ExternalSecret's generatorRef, the generator's auth, or the provider's permissions.

use super::finding;
use crate::diagnose::catalogue::*;
use crate::model::doctor::{Finding, Status};
use crate::model::scope::ExternalSecretRow;
use crate::sanitize;

/// The finding for a not-Ready ExternalSecret that names generators, when its error is a
/// generator's; `None` otherwise (the ExternalSecret's other rules apply).
pub fn check(row: &ExternalSecretRow) -> Option<Finding> {
    if row.generators.is_empty() {
        return None;
    }
    let error = row.error.as_deref()?;
    let from_generator = error.starts_with("error using generator")
        || error.contains(".generators.external-secrets.io");
    if !from_generator {
        return None;
    }
    let why = sanitize::line(error);
    let object = sanitize::line(&format!("ExternalSecret {}/{}", row.namespace, row.name));
    let generators = sanitize::line(&row.generators.join(", "));
    let chain = sanitize::line(&format!(
        "kubectl eso describe-chain {} -n {}",
        row.name, row.namespace
    ));
    let missing = error.contains(".generators.external-secrets.io") && error.contains("not found");
    let f = if missing {
        finding(
            GENERATOR_MISSING,
            Status::Error,
            object,
            format!("its generatorRef names {generators}, which does not exist: {why}"),
            sanitize::line(&format!(
                "kubectl get {} -n {} ; fix spec.dataFrom[].sourceRef.generatorRef (name and kind) in Git",
                plural_of(&row.generators),
                row.namespace
            )),
        )
        .field("spec.dataFrom[].sourceRef.generatorRef")
    } else if error.contains("secrets \"") && error.contains("not found") {
        finding(
            GENERATOR_CREDENTIALS_MISSING,
            Status::Error,
            object,
            format!("generator {generators} cannot read the Secret its auth names: {why}"),
            format!(
                "create the Secret in namespace {} (generators read it in the ExternalSecret's namespace), then {chain}",
                sanitize::line(&row.namespace)
            ),
        )
    } else {
        finding(
            GENERATOR_FAILED,
            Status::Error,
            object,
            format!("generator {generators} failed: {why}"),
            format!("{chain}   # asks the generator's provider what it allows, without minting"),
        )
    };
    Some(f)
}

/// `passwords.generators.external-secrets.io` for the first generator named `Password/x`.
fn plural_of(generators: &[String]) -> String {
    let kind = generators
        .first()
        .and_then(|g| g.split('/').next())
        .unwrap_or("generator");
    format!(
        "{}s.generators.external-secrets.io",
        kind.to_ascii_lowercase()
    )
}
