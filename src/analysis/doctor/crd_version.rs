//! Issue 14: the ESO controller against the CRDs installed next to it. Helm does not upgrade CRDs
//! on `helm upgrade` unless the chart installs them itself, so a controller and its CRDs drift
//! apart:
//! - a controller that reads `external-secrets.io/v1` (ESO 0.16 and later) over CRDs that do not
//!   serve v1 cannot list a single ExternalSecret (the reverse, a controller before 0.16 over CRDs
//!   that no longer serve v1beta1, likewise): an error that explains every ExternalSecret's state;
//! - CRDs labelled with another release (`app.kubernetes.io/version`, or the chart version in
//!   `helm.sh/chart`) than the controller's image tag: a newer controller's new fields are pruned
//!   by the API server (the older schema does not know them), an older controller ignores what the
//!   newer CRDs accept. A warning: things may work, but not as the manifests say.
//!
//! Pure: over the installation snapshot doctor read.

use super::finding;
use super::install::{eso_version, release};
use crate::diagnose::catalogue::ESO_CRD_VERSION_MISMATCH;
use crate::model::doctor::{Finding, InstallSnapshot, Status};
use crate::sanitize;

/// The first ESO release whose controller reads `external-secrets.io/v1`.
const V1_SINCE: (u64, u64, u64) = (0, 16, 0);
const MAIN_CRD: &str = "externalsecrets.external-secrets.io";

pub fn check(s: &InstallSnapshot) -> Option<Finding> {
    let tag = eso_version(s)?;
    let controller = release(&tag)?;
    let crds = s.crds.as_ref().ok()?;
    let main = crds.iter().find(|c| c.name == MAIN_CRD)?;
    let namespace = s
        .deployments
        .as_ref()
        .ok()?
        .iter()
        .find(|d| d.component == "external-secrets")
        .map(|d| d.namespace.clone())?;
    let fix = sanitize::line(&format!(
        "install the CRDs of the controller's release: kubectl apply --server-side -f \
         https://raw.githubusercontent.com/external-secrets/external-secrets/{tag}/deploy/crds/bundle.yaml \
         (or helm upgrade external-secrets external-secrets/external-secrets -n {namespace} \
         --version {} --set installCRDs=true)",
        tag.trim_start_matches('v')
    ));
    let object = format!("CustomResourceDefinition {MAIN_CRD}");
    let serves = |v: &str| main.served.iter().any(|s| s == v);
    let wanted = if controller >= V1_SINCE {
        "v1"
    } else {
        "v1beta1"
    };
    if !main.served.is_empty() && !serves(wanted) {
        let older = if wanted == "v1" { "older" } else { "newer" };
        return Some(
            finding(
                ESO_CRD_VERSION_MISMATCH,
                Status::Error,
                object,
                sanitize::line(&format!(
                    "the ESO controller {tag} reads external-secrets.io/{wanted}, but the CRDs \
                     serve only {}: they are {older} than the controller, which cannot list \
                     ExternalSecrets or stores at all",
                    main.served.join(", ")
                )),
                fix,
            )
            .field("spec.versions")
            .about_controller(),
        );
    }
    let labelled: Vec<(&str, &str, (u64, u64, u64))> = crds
        .iter()
        .filter_map(|c| {
            let l = c.release_label.as_deref()?;
            Some((c.name.as_str(), l, release(l)?))
        })
        .collect();
    let (name, label, crd_release) = labelled
        .iter()
        .find(|(_, _, r)| (r.0, r.1) != (controller.0, controller.1))
        .copied()?;
    let effect = if crd_release < controller {
        "fields the controller's release added are pruned by the API server (the older CRD \
         schemas do not know them), so what the manifests say is not what ESO reads"
    } else {
        "the CRDs accept fields the older controller ignores, so what the manifests say is not \
         what ESO does"
    };
    let others = labelled
        .iter()
        .filter(|(n, _, r)| *n != name && (r.0, r.1) != (controller.0, controller.1))
        .count();
    let mut f = finding(
        ESO_CRD_VERSION_MISMATCH,
        Status::Warning,
        sanitize::line(&format!("CustomResourceDefinition {name}")),
        sanitize::line(&format!(
            "the CRDs were installed from ESO {label}, the controller runs {tag}: {effect}"
        )),
        fix,
    )
    .field("metadata.labels");
    if others > 0 {
        f = f.evidence(format!(
            "{others} more ESO CRDs carry another release's label"
        ));
    }
    Some(f)
}
