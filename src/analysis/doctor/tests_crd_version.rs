//! Issue 14: the controller's release against its CRDs': served versions the controller cannot
//! read are one error that explains everything (`eso-crd-version-unserved`, shared with issue
//! 12's check); a release label (`eso-crd-version-mismatch`)
//! from another minor release a warning; the same release, a patch apart, or no label at all are
//! the near misses.

use super::tests::{now, opts, plain, snapshot, with_controller_image};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::diagnose::catalogue::{ESO_CRD_VERSION_MISMATCH, ESO_CRD_VERSION_UNSERVED};

const IMAGE: &str = "oci.external-secrets.io/external-secrets/external-secrets";

fn install(tag: &str, served: &[&str], label: Option<&str>) -> InstallSnapshot {
    let mut i = with_controller_image(Some(&format!("{IMAGE}:{tag}")));
    if let Ok(crds) = &mut i.crds {
        for c in crds.iter_mut() {
            c.served = served.iter().map(|s| s.to_string()).collect();
            c.release_label = label.map(str::to_string);
        }
    }
    i.served_versions = served.iter().map(|s| s.to_string()).collect();
    i
}

fn mismatch(i: &InstallSnapshot) -> Option<Finding> {
    first_of(i, ESO_CRD_VERSION_MISMATCH)
}

fn first_of(i: &InstallSnapshot, code: &str) -> Option<Finding> {
    let snap = snapshot(vec![], vec![plain("prod", "vault-token")], true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    let r = analyse(
        i,
        &snap,
        &scope,
        &DoctorExtras::default(),
        &opts(Status::Error),
        now(),
    );
    r.findings.into_iter().find(|f| f.code == code)
}

#[test]
fn issue14_a_v1_controller_over_v1beta1_only_crds_is_an_error_about_the_controller() {
    let mut i = install("v2.9.0", &["v1beta1"], None);
    let f = first_of(&i, ESO_CRD_VERSION_UNSERVED)
        .unwrap_or_else(|| panic!("no eso-crd-version-unserved"));
    assert_eq!(f.severity, Status::Error);
    assert!(f.about.controller, "{f:?}");
    assert!(f.message.contains("reads external-secrets.io/v1"), "{f:?}");
    assert!(f.message.contains("older than the controller"), "{f:?}");
    let next = f.next.join(" ");
    // Not installed by Helm: no helm command to guess a release name for.
    assert!(
        next.contains("external-secrets/v2.9.0/deploy/crds/bundle.yaml") && !next.contains("helm"),
        "{next}"
    );
    // Installed by Helm as release `eso-prod`: the helm line names that release.
    if let Ok(d) = &mut i.deployments {
        d.iter_mut()
            .for_each(|d| d.helm_release = Some("eso-prod".into()));
    }
    let next = first_of(&i, ESO_CRD_VERSION_UNSERVED)
        .unwrap()
        .next
        .join(" ");
    assert!(
        next.contains("helm upgrade eso-prod external-secrets/external-secrets")
            && next.contains("-n external-secrets --reuse-values --version 2.9.0"),
        "{next}"
    );
    // One cause, one finding: the release check does not repeat it.
    assert!(mismatch(&i).is_none());
    // An old controller (v0.15) over CRDs that serve only v1: the other way round.
    let f = first_of(&install("v0.15.1", &["v1"], None), ESO_CRD_VERSION_UNSERVED)
        .unwrap_or_else(|| panic!("no eso-crd-version-unserved"));
    assert!(f.message.contains("newer than the controller"), "{f:?}");
    // Without discovery's versions, the ExternalSecret CRD's own served list tells.
    let mut i = install("v2.9.0", &["v1beta1"], None);
    i.served_versions.clear();
    assert!(first_of(&i, ESO_CRD_VERSION_UNSERVED).is_some());
}

#[test]
fn issue14_crds_labelled_with_another_minor_release_are_a_warning() {
    let f = mismatch(&install("v2.11.0", &["v1"], Some("v2.9.0")))
        .unwrap_or_else(|| panic!("no eso-crd-version-mismatch"));
    assert_eq!(f.severity, Status::Warning);
    assert!(!f.about.controller);
    assert!(f.message.contains("installed from ESO v2.9.0"), "{f:?}");
    assert!(f.message.contains("pruned"), "{f:?}");
    // helm.sh/chart's version without a v, a controller older than its CRDs.
    let f = mismatch(&install("v2.8.0", &["v1"], Some("2.10.0")))
        .unwrap_or_else(|| panic!("no eso-crd-version-mismatch"));
    assert!(f.message.contains("ignores"), "{f:?}");
}

#[test]
fn issue14_near_miss_same_release_a_patch_apart_or_no_label_is_not_a_mismatch() {
    assert!(mismatch(&install("v2.9.0", &["v1"], Some("v2.9.0"))).is_none());
    assert!(mismatch(&install("v2.9.3", &["v1"], Some("2.9.0"))).is_none());
    assert!(mismatch(&install("v2.9.0", &["v1"], None)).is_none());
    // v1 served next to v1beta1 (an ESO 0.16 installation) is fine for a v1 controller.
    assert!(mismatch(&install("v0.16.2", &["v1", "v1beta1"], None)).is_none());
    assert!(
        first_of(
            &install("v0.16.2", &["v1", "v1beta1"], None),
            ESO_CRD_VERSION_UNSERVED
        )
        .is_none()
    );
    // A tag that is not a release says nothing.
    assert!(mismatch(&install("main", &["v1beta1"], None)).is_none());
    assert!(
        first_of(
            &install("main", &["v1beta1"], None),
            ESO_CRD_VERSION_UNSERVED
        )
        .is_none()
    );
}

#[test]
fn a_missing_crd_is_installed_through_the_controllers_own_helm_release() {
    let missing = |release: Option<&str>| {
        let mut i = install("v2.9.0", &["v1"], None);
        if let Ok(crds) = &mut i.crds {
            crds.retain(|c| !c.name.starts_with("clusterexternalsecrets"));
        }
        if let Ok(d) = &mut i.deployments {
            d.iter_mut()
                .for_each(|d| d.helm_release = release.map(str::to_string));
        }
        first_of(&i, crate::diagnose::catalogue::ESO_CRD_MISSING)
            .unwrap_or_else(|| panic!("no eso-crd-missing"))
            .next
            .join(" ")
    };
    let next = missing(Some("platform-eso"));
    assert!(
        next.contains(
            "helm upgrade platform-eso external-secrets/external-secrets -n external-secrets"
        ),
        "{next}"
    );
    // Near miss: not installed by Helm, the chart's usual install.
    let next = missing(None);
    assert!(
        next.contains("helm upgrade --install external-secrets"),
        "{next}"
    );
}
