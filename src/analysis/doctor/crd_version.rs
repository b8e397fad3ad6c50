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

const MAIN_CRD: &str = "externalsecrets.external-secrets.io";

pub fn check(s: &InstallSnapshot) -> Option<Finding> {
    let tag = eso_version(s)?;
    let controller = release(&tag)?;
    let crds = s.crds.as_ref().ok()?;
    let main = crds.iter().find(|c| c.name == MAIN_CRD)?;
    let fix = crd_fix(s, &tag);
    // Served versions the controller cannot read are `eso-crd-version-unserved` (install.rs),
    // one error for the one cause; this check adds the release-label drift.
    if !main.served.is_empty() && unserved(controller, &main.served).is_some() {
        return None;
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

/// The version a controller of `release` reads that `served` lacks: v1 from ESO 0.17 on (when
/// v1beta1 stopped being served), v1beta1 before 0.16 (which added v1); 0.16 reads either.
pub(super) fn unserved(release: (u64, u64, u64), served: &[String]) -> Option<&'static str> {
    let needs = if release >= (0, 17, 0) {
        "v1"
    } else if release < (0, 16, 0) {
        "v1beta1"
    } else {
        return None;
    };
    (!served.is_empty() && !served.iter().any(|s| s == needs)).then_some(needs)
}

/// Installs the CRDs of the controller's release: the bundle of its tag, or the chart with its
/// CRDs in the controller's namespace.
/// The next step for a CRD that is not installed: through the controller's own Helm release when
/// Helm installed it, else the chart's usual install.
pub(super) fn missing_crds_fix(s: &InstallSnapshot) -> String {
    let controller = s
        .deployments
        .as_ref()
        .ok()
        .and_then(|d| d.iter().find(|d| d.component == "external-secrets"));
    let line = match controller.and_then(|c| c.helm_release.as_ref().map(|r| (r, &c.namespace))) {
        Some((release, ns)) => format!(
            "install ESO's CRDs (helm upgrade {release} external-secrets/external-secrets -n {ns} \
             --reuse-values --set installCRDs=true)"
        ),
        None => "install ESO's CRDs (helm upgrade --install external-secrets \
                 external-secrets/external-secrets --set installCRDs=true)"
            .into(),
    };
    sanitize::line(&line)
}

pub(super) fn crd_fix(s: &InstallSnapshot, tag: &str) -> String {
    let controller = s
        .deployments
        .as_ref()
        .ok()
        .and_then(|d| d.iter().find(|d| d.component == "external-secrets"));
    let apply = format!(
        "install the CRDs of the controller's release: kubectl apply --server-side -f \
         https://raw.githubusercontent.com/external-secrets/external-secrets/{tag}/deploy/crds/bundle.yaml"
    );
    // The helm alternative only when Helm installed the controller, with its own release name and
    // namespace: `helm upgrade external-secrets …` on a release named otherwise fails (or, with
    // --install habits, installs a second controller).
    let helm = controller.and_then(|c| {
        c.helm_release.as_ref().map(|release| {
            format!(
                " (or helm upgrade {release} external-secrets/external-secrets -n {} \
                 --reuse-values --version {} --set installCRDs=true)",
                c.namespace,
                tag.trim_start_matches('v')
            )
        })
    });
    sanitize::line(&format!("{apply}{}", helm.unwrap_or_default()))
}
