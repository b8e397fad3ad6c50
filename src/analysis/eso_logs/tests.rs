//! Tests of ESO log evidence (issue 17): parsing ESO's JSON lines, each pattern with a near miss,
//! evidence attached to the finding about the same object, two controllers, and the store already
//! explained by another finding.

use super::*;
use crate::model::logs::LogLine;

fn log(component: &str, workload: &str, lines: &[&str]) -> PodLog {
    PodLog {
        namespace: "external-secrets".into(),
        pod: format!("{component}-5d8f7c9b4-x2k4q"),
        workload: workload.into(),
        component: component.into(),
        container: component.into(),
        previous: false,
        lines: lines
            .iter()
            .map(|l| LogLine {
                text: l.to_string(),
                about: about_of(l),
            })
            .collect(),
    }
}

const ES_ERROR: &str = r#"{"level":"error","ts":1764900000.1,"logger":"controllers.ExternalSecret","msg":"could not get secret data from provider","ExternalSecret":{"name":"netbox-db-password","namespace":"netbox"},"error":"AADSTS7000222: the provided client secret keys are expired"}"#;
const STORE_ERROR: &str = r#"{"level":"error","ts":1764900000.2,"logger":"controllers.ClusterSecretStore","msg":"unable to validate store","ClusterSecretStore":{"name":"akv-hybridops"},"error":"AADSTS7000222"}"#;

fn akv() -> StoreRef {
    StoreRef {
        kind: StoreKind::ClusterSecretStore,
        namespace: None,
        name: "akv-hybridops".into(),
    }
}

#[test]
fn issue17_parses_eso_json_with_object_or_string_refs() {
    let p = parse(ES_ERROR);
    assert_eq!(
        p.as_ref().and_then(|p| p.subject.clone()),
        Some(Subject::ExternalSecret {
            namespace: "netbox".into(),
            name: "netbox-db-password".into()
        })
    );
    assert_eq!(
        p.map(|p| p.msg).as_deref(),
        Some("could not get secret data from provider")
    );
    let s = parse(r#"{"level":"info","msg":"x","ExternalSecret":"prod/order-service-regcred"}"#);
    assert_eq!(
        s.and_then(|p| p.subject),
        Some(Subject::ExternalSecret {
            namespace: "prod".into(),
            name: "order-service-regcred".into()
        })
    );
    assert_eq!(
        parse(STORE_ERROR).and_then(|p| p.subject),
        Some(Subject::Store(akv()))
    );
    assert!(parse("I1205 06:00:00 klog text").is_none());
}

#[test]
fn issue17_each_pattern_and_its_near_miss() {
    let c = "external-secrets";
    assert_eq!(
        pattern(r#"{"msg":"leaderelection lost"}"#, c),
        Some(Pattern::LeaderElectionLost)
    );
    assert_eq!(
        pattern(r#"{"error":"ThrottlingException: Rate exceeded"}"#, c),
        Some(Pattern::RateLimited)
    );
    assert_eq!(
        pattern(r#"{"error":"Too Many Requests"}"#, c),
        Some(Pattern::RateLimited)
    );
    assert_eq!(pattern(STORE_ERROR, c), Some(Pattern::StoreValidation));
    assert_eq!(
        pattern(
            r#"{"msg":"http: TLS handshake error from 10.0.0.1:4431: remote error: tls: bad certificate"}"#,
            "external-secrets-webhook"
        ),
        Some(Pattern::WebhookCertificate)
    );
    // near misses: a provider's TLS error from the controller is not the webhook's certificate,
    // and a line about leader election being acquired is healthy.
    assert_eq!(
        pattern(
            r#"{"error":"x509: certificate signed by unknown authority"}"#,
            c
        ),
        None
    );
    assert_eq!(pattern(r#"{"msg":"successfully acquired lease"}"#, c), None);
    assert_eq!(pattern(ES_ERROR, c), None);
}

#[test]
fn issue17_lines_attach_to_the_finding_about_the_same_object_only() {
    let logs = vec![log(
        "external-secrets",
        "external-secrets/external-secrets/external-secrets",
        &[ES_ERROR],
    )];
    let mut findings = vec![
        Finding::new(
            "external-secret-not-synced",
            Status::Error,
            "ExternalSecret netbox/netbox-db-password".into(),
            "x".into(),
            String::new(),
        )
        .about_es("netbox", "netbox-db-password"),
        Finding::new(
            "external-secret-not-synced",
            Status::Error,
            "ExternalSecret netbox/netbox-secret-key".into(),
            "x".into(),
            String::new(),
        )
        .about_es("netbox", "netbox-secret-key"),
    ];
    attach(&mut findings, &logs);
    assert_eq!(findings[0].evidence.len(), 1);
    assert!(findings[0].evidence[0].contains("could not get secret data from provider"));
    assert!(findings[1].evidence.is_empty());
}

#[test]
fn issue17_a_store_failing_only_in_the_log_is_a_finding_unless_explained() {
    let logs = vec![log("external-secrets", "a", &[STORE_ERROR])];
    let f = findings(&logs, &[]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, ESO_LOG_STORE_VALIDATION);
    assert_eq!(f[0].object, "ClusterSecretStore akv-hybridops");
    assert!(findings(&logs, &[akv()]).is_empty());
}

#[test]
fn issue17_two_installations_reconciling_one_external_secret() {
    let one = log(
        "external-secrets",
        "external-secrets/eso/external-secrets",
        &[ES_ERROR],
    );
    let mut two = log(
        "external-secrets",
        "eso-legacy/eso-legacy/external-secrets",
        &[ES_ERROR],
    );
    two.namespace = "eso-legacy".into();
    let f = findings(&[one.clone(), two], &[]);
    assert!(f.iter().any(|f| f.code == ESO_LOG_TWO_CONTROLLERS
        && f.object == "ExternalSecret netbox/netbox-db-password"));
    assert!(
        findings(&[one], &[])
            .iter()
            .all(|f| f.code != ESO_LOG_TWO_CONTROLLERS)
    );
}

#[test]
fn issue17_a_retried_line_is_evidence_once_the_newest() {
    let again = ES_ERROR.replace("1764900000.1", "1764900042.95");
    let other = ES_ERROR.replace("AADSTS7000222", "AADSTS7000215");
    let logs = vec![log(
        "external-secrets",
        "external-secrets/external-secrets/external-secrets",
        &[ES_ERROR, &again, &other],
    )];
    let mut findings = vec![
        Finding::new(
            "external-secret-not-synced",
            Status::Error,
            "ExternalSecret netbox/netbox-db-password".into(),
            "x".into(),
            String::new(),
        )
        .about_es("netbox", "netbox-db-password"),
    ];
    attach(&mut findings, &logs);
    let ev = &findings[0].evidence;
    // The same message at two times is one line (the newest); another message is its own.
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert!(ev[0].contains("1764900042.95"), "{ev:#?}");
    assert!(ev[1].contains("AADSTS7000215"), "{ev:#?}");
}
