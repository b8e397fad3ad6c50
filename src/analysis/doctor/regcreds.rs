//! Check 6, registry credentials (`--regcred`): every dockerconfigjson Secret an ExternalSecret
//! writes must log in to each registry it names, judged by verify-regcred's own login outcomes.

use super::{finding, finish};
use crate::diagnose::catalogue::*;
use crate::model::doctor::*;
use crate::sanitize;

pub fn check(results: &[RegcredResult]) -> Check {
    let mut findings = Vec::new();
    for r in results {
        let object = sanitize::line(&format!("Secret {}/{}", r.namespace, r.secret));
        let next = sanitize::line(&format!(
            "kubectl eso verify-regcred {} -n {}",
            r.secret, r.namespace
        ));
        if let Some(e) = &r.payload_error {
            findings.push(finding(
                REGCRED_UNREADABLE,
                Status::Error,
                object.clone(),
                format!("payload cannot be read: {}", sanitize::line(e)),
                next.clone(),
            ));
        }
        if r.payload_error.is_none() && r.registries.is_empty() {
            findings.push(finding(
                REGCRED_NO_REGISTRY,
                Status::Error,
                object.clone(),
                "names no registry".into(),
                next.clone(),
            ));
        }
        for l in r.registries.iter().filter(|l| !l.ok) {
            findings.push(finding(
                REGCRED_LOGIN_FAILED,
                Status::Error,
                object.clone(),
                sanitize::line(&format!(
                    "login to {} failed ({}): {} — written by ExternalSecret {}",
                    l.host, l.outcome, l.message, r.external_secret
                )),
                next.clone(),
            ));
        }
    }
    finish(CheckId::Regcreds, results.len(), findings)
}
