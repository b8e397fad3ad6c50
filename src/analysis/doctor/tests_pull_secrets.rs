//! Issue 12's pull-secret and consumer-key rules through `analyse` as doctor runs it: hits and
//! near misses of the kubelet's host matching (port missing, other port, public image), and a
//! `secretKeyRef` to a key the ESO-written Secret lacks. Facts only: no cluster, no values.

use std::collections::BTreeMap;

use super::tests::{check, es, healthy_install, now, opts, owned, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};

const CODE_MISMATCH: &str = "pull-secret-host-mismatch";
const CODE_KEY: &str = "consumer-key-missing";

fn pod(
    pull_secrets: &[&str],
    image: &str,
    waiting: Option<&str>,
    key_refs: &[(&str, &str)],
) -> PodRefs {
    PodRefs {
        namespace: "prod".into(),
        name: "order-service-abc".into(),
        workload: Some("deployment/order-service".into()),
        pull_secrets: pull_secrets.iter().map(|s| s.to_string()).collect(),
        containers: vec![ContainerRefs {
            name: "app".into(),
            image: image.into(),
            waiting: waiting.map(str::to_string),
            key_refs: key_refs
                .iter()
                .map(|(s, k)| (s.to_string(), k.to_string()))
                .collect(),
        }],
    }
}

/// `regcred` writes `regcred-secret` (a pull secret with `auths`), `db` writes `db-secret`.
fn run(auths: &[&str], db_keys: &[&str], pods: Vec<PodRefs>) -> DoctorReport {
    let ess = vec![
        es("prod", "regcred", true, "2026-11-22T11:50:00Z"),
        es("prod", "db", true, "2026-11-22T11:50:00Z"),
    ];
    let secrets = ess.iter().map(owned).collect();
    let snap = snapshot(ess, secrets, true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    let mut facts = BTreeMap::new();
    facts.insert(
        ("prod".to_string(), "regcred-secret".to_string()),
        TargetSecretFacts {
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            keys: vec![".dockerconfigjson".into()],
            auths_keys: Some(auths.iter().map(|s| s.to_string()).collect()),
        },
    );
    facts.insert(
        ("prod".to_string(), "db-secret".to_string()),
        TargetSecretFacts {
            type_: Some("Opaque".into()),
            keys: db_keys.iter().map(|s| s.to_string()).collect(),
            auths_keys: None,
        },
    );
    let extras = DoctorExtras {
        push: None,
        targets: TargetExtras {
            pod_refs: pods,
            secrets: facts,
            ..TargetExtras::default()
        },
        stores: StoreExtras {
            credential_keys: [(
                ("prod".to_string(), "vault-token".to_string()),
                Ok(Some(vec!["token".to_string()])),
            )]
            .into(),
            ..StoreExtras::default()
        },
        ..DoctorExtras::default()
    };
    analyse(
        &healthy_install(),
        &snap,
        &scope,
        &extras,
        &opts(Status::Error),
        now(),
    )
}

/// The finding with this code, ranked at the top level.
fn coded<'a>(r: &'a DoctorReport, code: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", r.findings))
}

fn codes(r: &DoctorReport) -> Vec<&str> {
    check(r, CheckId::ExternalSecrets)
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn issue12_an_auths_key_without_the_port_is_a_host_mismatch() {
    let image = "registry.internal:5000/order-service:1.4.2";
    let r = run(
        &["registry.internal"],
        &[],
        vec![pod(&["regcred-secret"], image, None, &[])],
    );
    let f = coded(&r, CODE_MISMATCH);
    assert_eq!(f.severity, Status::Error);
    assert_eq!(f.object, "ExternalSecret prod/regcred");
    assert_eq!(f.field.as_deref(), Some("spec.target.template"));
    assert!(f.message.contains("the key has no port"), "{}", f.message);
    assert!(
        f.evidence
            .contains(&"image host: registry.internal:5000".to_string()),
        "{f:#?}"
    );
    assert!(
        f.evidence
            .contains(&"auths keys: registry.internal".to_string()),
        "{f:#?}"
    );
    assert_eq!(f.affects, vec!["deployment/order-service".to_string()]);
    assert!(
        f.next[0].contains("kubectl eso verify-regcred --from-es regcred -n prod"),
        "{f:#?}"
    );
    assert_eq!(
        f.about.external_secret,
        Some(("prod".into(), "regcred".into()))
    );
    assert_eq!(
        f.about.target,
        Some(("prod".into(), "regcred-secret".into()))
    );
    assert!(fails(&r));

    // Another port is a miss too; the right port is not.
    let other = run(
        &["registry.internal:5001"],
        &[],
        vec![pod(&["regcred-secret"], image, None, &[])],
    );
    assert_eq!(codes(&other), vec![CODE_MISMATCH]);
    let right = run(
        &["registry.internal:5000"],
        &[],
        vec![pod(
            &["regcred-secret"],
            image,
            Some("ImagePullBackOff"),
            &[],
        )],
    );
    assert_eq!(codes(&right), Vec::<&str>::new());
}

#[test]
fn issue12_an_unmatched_image_is_an_error_only_when_stuck_pulling() {
    // A public image pulled anonymously next to a private registry's pull secret is fine...
    let public = run(
        &["ghcr.io"],
        &[],
        vec![pod(&["regcred-secret"], "nginx:1.27", None, &[])],
    );
    assert_eq!(codes(&public), Vec::<&str>::new());
    // ...until the kubelet cannot pull it.
    let stuck = run(
        &["ghcr.io"],
        &[],
        vec![pod(
            &["regcred-secret"],
            "quay.io/team/app:1",
            Some("ErrImagePull"),
            &[],
        )],
    );
    assert_eq!(codes(&stuck), vec![CODE_MISMATCH]);
    assert!(
        coded(&stuck, CODE_MISMATCH)
            .evidence
            .iter()
            .any(|e| e.contains("order-service-abc (ErrImagePull)"))
    );
    // A pull secret that is not ESO's (its keys unknown) may hold the key: no verdict.
    let unknown = run(
        &["ghcr.io"],
        &[],
        vec![pod(
            &["regcred-secret", "someone-elses"],
            "quay.io/team/app:1",
            Some("ErrImagePull"),
            &[],
        )],
    );
    assert_eq!(codes(&unknown), Vec::<&str>::new());
    // Docker Hub's legacy key serves `nginx`.
    let hub = run(
        &["index.docker.io"],
        &[],
        vec![pod(
            &["regcred-secret"],
            "nginx",
            Some("ImagePullBackOff"),
            &[],
        )],
    );
    assert_eq!(codes(&hub), Vec::<&str>::new());
}

#[test]
fn issue12_a_secret_key_ref_to_a_missing_key_is_named() {
    let r = run(
        &[],
        &["password", "username"],
        vec![pod(
            &[],
            "app:1",
            Some("CreateContainerConfigError"),
            &[("db-secret", "pasword")],
        )],
    );
    let f = coded(&r, CODE_KEY);
    assert_eq!(f.object, "ExternalSecret prod/db");
    assert!(
        f.evidence.contains(&"missing key: pasword".to_string()),
        "{f:#?}"
    );
    assert!(
        f.evidence
            .contains(&"keys in the Secret: password, username".to_string()),
        "{f:#?}"
    );
    assert_eq!(f.affects, vec!["deployment/order-service".to_string()]);
    let fine = run(
        &[],
        &["password"],
        vec![pod(&[], "app:1", None, &[("db-secret", "password")])],
    );
    assert_eq!(codes(&fine), Vec::<&str>::new());
}
