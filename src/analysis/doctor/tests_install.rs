//! Issue 12, ESO itself: a controller that is not there, and more than one controller reconciling
//! the same objects, each with the near misses that must stay quiet (a parked second install,
//! controllers of distinct classes or namespaces).

use super::tests::{check, es, healthy_install, owned, plain, run, snapshot};
use super::*;
use crate::diagnose::rank::flatten;

fn controller(ns: &str, ready: i32, desired: i32, args: &[&str]) -> DeploymentFacts {
    DeploymentFacts {
        namespace: ns.into(),
        name: "external-secrets".into(),
        component: "external-secrets".into(),
        desired,
        ready,
        image: None,
        scope: ControllerScope::from_args(args),
        helm_release: None,
    }
}

fn with_second(second: DeploymentFacts) -> InstallSnapshot {
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d.push(second);
    }
    install
}

/// The installation check's codes (the fixtures' store has no credentials Secret: its own
/// finding is not under test here).
fn codes(r: &DoctorReport) -> Vec<&str> {
    check(r, CheckId::Installation)
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn issue12_controller_flags_are_read_in_both_forms() {
    let s = ControllerScope::from_args(&["--controller-class=team-a", "--namespace", "apps"]);
    assert_eq!(s.class.as_deref(), Some("team-a"));
    assert_eq!(s.namespace.as_deref(), Some("apps"));
    // ESO's defaults: class "default", every namespace; a flag without value is no value.
    let s = ControllerScope::from_args(&["--controller-class", "default", "--namespace="]);
    assert_eq!(s, ControllerScope::default());
    let s = ControllerScope::from_args(&["--namespace", "--concurrent=1"]);
    assert_eq!(s.namespace, None);
    // Near miss: a flag that only starts like one.
    let s = ControllerScope::from_args(&["--namespace-label=x", "--controller-classes=y"]);
    assert_eq!(s, ControllerScope::default());
}

#[test]
fn issue12_a_missing_controller_is_the_root_of_every_stale_externalsecret() {
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d.retain(|d| d.component != "external-secrets");
    }
    let stale = es("prod", "a", true, "2026-11-22T08:00:00Z");
    let secrets = vec![owned(&stale), plain("prod", "vault-token")];
    let r = run(
        &install,
        &snapshot(vec![stale.clone()], secrets.clone(), true),
        Status::Error,
    );
    let root = &r.findings[0];
    assert_eq!(root.code, "eso-controller-missing", "{:#?}", r.findings);
    assert_eq!(root.severity, Status::Error);
    assert!(
        root.effects.iter().any(|e| e.code == "es-stale"),
        "{root:#?}"
    );
    // Near miss: only the cert-controller is missing (cert-manager instead): a warning that
    // explains nothing, and the staleness stays its own root.
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d.retain(|d| d.component != "external-secrets-cert-controller");
    }
    let r = run(
        &install,
        &snapshot(vec![stale], secrets, true),
        Status::Error,
    );
    assert!(
        r.findings.iter().any(|f| f.code == "es-stale"),
        "{:#?}",
        r.findings
    );
    let missing: Vec<&Finding> = flatten(&r.findings)
        .filter(|f| f.code == "eso-component-missing")
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", r.findings);
    assert_eq!(missing[0].severity, Status::Warning);
    assert!(missing[0].effects.is_empty(), "{:#?}", missing[0]);
}

#[test]
fn issue12_two_running_controllers_of_one_class_are_an_error() {
    let r = run(
        &with_second(controller("platform-secrets", 1, 1, &["--concurrent=1"])),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    let root = &r.findings[0];
    assert_eq!(root.code, "eso-controller-duplicate", "{:#?}", r.findings);
    assert_eq!(root.severity, Status::Error);
    assert!(
        root.message.contains("external-secrets/external-secrets")
            && root.message.contains("platform-secrets/external-secrets"),
        "{}",
        root.message
    );
    assert!(root.next[0].contains("helm list -A"), "{:?}", root.next);
    // The same class spelt out is the same class.
    let r = run(
        &with_second(controller(
            "platform-secrets",
            1,
            1,
            &["--controller-class=default"],
        )),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    assert_eq!(codes(&r), ["eso-controller-duplicate"]);
}

#[test]
fn issue12_a_parked_second_install_or_another_namespace_is_no_duplicate() {
    // Near miss: the second installation is scaled to zero while the first runs: nothing is
    // reconciled twice, and nothing stopped reconciling either.
    let r = run(
        &with_second(controller("platform-secrets", 0, 0, &[])),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    assert!(codes(&r).is_empty(), "{:#?}", r.findings);
    // ...but the only controller of a class scaled to zero still is the cause.
    let r = run(
        &with_second(controller("team-a", 0, 0, &["--controller-class=team-a"])),
        &snapshot(vec![], vec![], true),
        Status::Error,
    );
    assert_eq!(codes(&r), ["eso-controller-not-ready"], "{:#?}", r.findings);
    // Near miss: two controllers each watching its own namespace.
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d[0].scope = ControllerScope::from_args(&["--namespace=apps"]);
        d.push(controller("billing", 1, 1, &["--namespace=billing"]));
    }
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    assert!(codes(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn issue12_distinct_classes_clash_only_over_stores_without_spec_controller() {
    let install = with_second(controller(
        "team-a",
        1,
        1,
        &["--controller-class", "team-a"],
    ));
    // The fixture's store names no controller: both classes reconcile its ExternalSecrets.
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    let root = &r.findings[0];
    assert_eq!(root.code, "eso-controller-duplicate", "{:#?}", r.findings);
    assert!(
        root.message
            .contains("team-a/external-secrets (class team-a)")
            && root
                .message
                .contains("SecretStore prod/vault sets no spec.controller"),
        "{}",
        root.message
    );
    assert!(
        root.next[0].starts_with("set spec.controller"),
        "{:?}",
        root.next
    );
    // Near miss: the store names its class, as ESO's multi-controller setup requires.
    let mut snap = snapshot(vec![], vec![], true);
    if let Ok(stores) = &mut snap.secret_stores {
        stores[0].spec.controller = Some("team-a".into());
    }
    let r = run(&install, &snap, Status::Error);
    assert!(codes(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn issue12_crds_still_storing_v1beta1_are_a_warning_and_v1_only_is_not() {
    let stored = |versions: &[&str], served: &[&str]| {
        let mut install = healthy_install();
        if let Ok(c) = &mut install.crds {
            c[0].stored = versions.iter().map(|v| v.to_string()).collect();
            c[0].served = served.iter().map(|v| v.to_string()).collect();
        }
        run(&install, &snapshot(vec![], vec![], true), Status::Error)
    };
    let r = stored(&["v1beta1", "v1"], &["v1beta1", "v1"]);
    let c = check(&r, CheckId::Installation);
    assert_eq!(codes(&r), ["eso-crd-stored-version"], "{:#?}", c.findings);
    assert_eq!(c.findings[0].severity, Status::Warning);
    assert_eq!(
        c.findings[0].object,
        "CustomResourceDefinition externalsecrets.external-secrets.io"
    );
    // Near misses: stored as v1 only; and a CRD that does not serve v1 yet (nothing to migrate
    // to: the old install's own warning says so).
    assert!(codes(&stored(&["v1"], &["v1beta1", "v1"])).is_empty());
    assert!(!codes(&stored(&["v1beta1"], &["v1beta1"])).contains(&"eso-crd-stored-version"));
}

#[test]
fn issue12_a_cert_controller_not_ready_is_named_on_its_deployment_only() {
    let mut install = healthy_install();
    if let Ok(d) = &mut install.deployments {
        d[2].ready = 0;
    }
    let r = run(&install, &snapshot(vec![], vec![], true), Status::Error);
    assert_eq!(codes(&r), ["eso-component-not-ready"], "{:#?}", r.findings);
    let f = &check(&r, CheckId::Installation).findings[0];
    assert_eq!(
        f.object,
        "Deployment external-secrets/external-secrets-cert-controller"
    );
    assert!(f.message.contains("0/1 replicas ready"), "{}", f.message);
    // Near miss: all replicas ready.
    assert!(
        codes(&run(
            &healthy_install(),
            &snapshot(vec![], vec![], true),
            Status::Error
        ))
        .is_empty()
    );
}
