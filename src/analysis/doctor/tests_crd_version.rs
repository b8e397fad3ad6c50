//! Issue 14: the controller's release against its CRDs' (`eso-crd-version-mismatch`): served
//! versions the controller cannot read are an error that explains everything; a release label
//! from another minor release a warning; the same release, a patch apart, or no label at all are
//! the near misses.

use super::tests::{now, opts, plain, snapshot, with_controller_image};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::diagnose::catalogue::ESO_CRD_VERSION_MISMATCH;

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
    r.findings
        .into_iter()
        .find(|f| f.code == ESO_CRD_VERSION_MISMATCH)
}

#[test]
fn issue14_a_v1_controller_over_v1beta1_only_crds_is_an_error_about_the_controller() {
    let f = mismatch(&install("v2.9.0", &["v1beta1"], None))
        .unwrap_or_else(|| panic!("no eso-crd-version-mismatch"));
    assert_eq!(f.severity, Status::Error);
    assert!(f.about.controller, "{f:?}");
    assert!(f.message.contains("reads external-secrets.io/v1"), "{f:?}");
    assert!(f.message.contains("older than the controller"), "{f:?}");
    let next = f.next.join(" ");
    assert!(
        next.contains("external-secrets/v2.9.0/deploy/crds/bundle.yaml")
            && next.contains("-n external-secrets --version 2.9.0"),
        "{next}"
    );
    // An old controller (v0.15) over CRDs that serve only v1: the other way round.
    let f = mismatch(&install("v0.15.1", &["v1"], None))
        .unwrap_or_else(|| panic!("no eso-crd-version-mismatch"));
    assert!(f.message.contains("newer than the controller"), "{f:?}");
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
    // A tag that is not a release says nothing.
    assert!(mismatch(&install("main", &["v1beta1"], None)).is_none());
}
