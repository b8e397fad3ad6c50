//! Check 4's value and consumer findings (issue 8: "not matching the provider's current value",
//! "pods started before their Secret last changed", CreatedOnce), through `analyse` as doctor
//! runs it, with fixed times.

use jiff::Timestamp;
use serde_json::json;

use super::tests::{check, es, from, healthy_install, now, objects, opts, owned, snapshot};
use super::*;
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::model::chain::ProviderFacts;
use crate::model::eso::ExternalSecret;
use crate::model::refs::{StoreKind, StoreRef};

fn with_policy(mut e: ExternalSecret, policy: Option<&str>, interval: &str) -> ExternalSecret {
    e.spec.refresh_policy = policy.map(str::to_string);
    e.spec.refresh_interval = Some(interval.to_string());
    e
}

fn compared(name: &str, differs: &[&str]) -> TargetValues {
    TargetValues {
        namespace: "prod".into(),
        name: name.into(),
        differs: differs.iter().map(|d| d.to_string()).collect(),
    }
}

fn run(
    ess: Vec<ExternalSecret>,
    targets: Vec<TargetValues>,
    pods: Option<Vec<PodFacts>>,
) -> DoctorReport {
    let secrets = ess.iter().map(owned).collect();
    run_with_secrets(ess, secrets, targets, pods)
}

fn run_with_secrets(
    ess: Vec<ExternalSecret>,
    secrets: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    targets: Vec<TargetValues>,
    pods: Option<Vec<PodFacts>>,
) -> DoctorReport {
    run_with_eso_reloader(ess, secrets, targets, pods, Default::default())
}

fn run_with_eso_reloader(
    ess: Vec<ExternalSecret>,
    secrets: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    targets: Vec<TargetValues>,
    pods: Option<Vec<PodFacts>>,
    eso_reloader: crate::model::eso_reloader::EsoReloaderConfigs,
) -> DoctorReport {
    let snap = snapshot(ess, secrets, true);
    let scope = analyse_scope(&snap, &ScopeOptions::default(), now());
    let probe = StoreProbe {
        store: StoreRef {
            kind: StoreKind::SecretStore,
            namespace: Some("prod".into()),
            name: "vault".into(),
        },
        provider_kind: "vault".into(),
        settings: Default::default(),
        kube_cluster: None,
        provider: ProviderFacts {
            probed: true,
            ..ProviderFacts::default()
        },
        users: vec![],
        targets,
    };
    let extras = DoctorExtras {
        push: None,
        eso_logs: None,
        probes: Some(vec![probe]),
        targets: TargetExtras {
            pods: pods.map(Ok),
            values_unread: vec![],
            eso_reloader,
            ..TargetExtras::default()
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

const FRESH: &str = "2026-11-22T11:50:00Z";

#[test]
fn issue8_a_target_behind_the_provider_is_judged_by_whether_eso_will_bring_the_value() {
    let ess = vec![
        es("prod", "periodic", true, FRESH),
        with_policy(es("prod", "on-change", true, FRESH), Some("OnChange"), "1h"),
        with_policy(es("prod", "interval-zero", true, FRESH), None, "0"),
        with_policy(
            es("prod", "created-once", true, FRESH),
            Some("CreatedOnce"),
            "1h",
        ),
        es("prod", "failing", false, FRESH),
        es("prod", "same", true, FRESH),
    ];
    let targets = vec![
        compared("periodic", &["password"]),
        compared("on-change", &["password"]),
        compared("interval-zero", &["token"]),
        compared("created-once", &["password"]),
        compared("failing", &["password"]),
        compared("same", &[]),
    ];
    let r = run(ess, targets, None);
    let c = check(&r, CheckId::ExternalSecrets);
    let got: Vec<(Status, &str, &str)> = c
        .findings
        .iter()
        .map(|f| (f.severity, f.object.as_str(), f.message.as_str()))
        .collect();
    let find = |name: &str| {
        got.iter()
            .filter(|(_, o, _)| *o == format!("ExternalSecret prod/{name}"))
            .map(|(s, _, m)| (*s, *m))
            .collect::<Vec<_>>()
    };
    let periodic = find("periodic");
    assert_eq!(periodic.len(), 1, "{got:?}");
    assert_eq!(periodic[0].0, Status::Warning);
    assert!(periodic[0].1.contains("password differs"), "{got:?}");
    assert!(periodic[0].1.contains("every 1h"), "{got:?}");
    assert_eq!(find("on-change")[0].0, Status::Error);
    assert!(find("on-change")[0].1.contains("refreshPolicy OnChange"));
    assert!(find("interval-zero")[0].1.contains("refreshInterval 0"));
    assert!(find("created-once")[0].1.contains("CreatedOnce"));
    // Not Ready is one error; the old value in its Secret is another.
    let failing = find("failing");
    assert_eq!(failing.len(), 2, "{got:?}");
    assert!(failing.iter().any(|(_, m)| m.contains("older value")));
    assert!(find("same").is_empty(), "{got:?}");
    let next: Vec<&str> = c
        .findings
        .iter()
        .flat_map(|f| &f.next)
        .map(String::as_str)
        .collect();
    assert!(
        next.contains(&"to bring it now: kubectl eso force-sync periodic -n prod"),
        "{next:?}"
    );
}

fn pod(name: &str, ns: &str, workload: Option<&str>, started: &str, reads: &[&str]) -> PodFacts {
    PodFacts {
        namespace: ns.into(),
        name: name.into(),
        reloader: Default::default(),
        workload_labels: Default::default(),
        workload: workload.map(str::to_string),
        started: started.parse().unwrap_or(Timestamp::UNIX_EPOCH),
        reads_at_start: reads.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn issue8_pods_that_started_before_their_secret_changed_are_named_with_their_restart() {
    let e = es("prod", "db", true, FRESH);
    let changed_at = "2026-11-22T11:30:00Z";
    let mut secret = owned(&e);
    secret.creation_timestamp = Some(from(json!("2026-11-01T00:00:00Z")));
    secret.managed_fields = Some(vec![from(json!({
        "manager": "externalsecrets.external-secrets.io/db", "operation": "Update",
        "time": changed_at
    }))]);
    let before = "2026-11-22T11:00:00Z";
    let after = "2026-11-22T11:45:00Z";
    let pods = vec![
        pod(
            "api-1",
            "prod",
            Some("deployment/api"),
            before,
            &["db-secret"],
        ),
        pod(
            "api-2",
            "prod",
            Some("deployment/api"),
            before,
            &["db-secret"],
        ),
        pod(
            "api-3",
            "prod",
            Some("deployment/api"),
            after,
            &["db-secret"],
        ),
        pod("debug", "prod", None, before, &["db-secret"]),
        pod("job-x", "prod", Some("job/x"), before, &["db-secret"]),
        pod(
            "other",
            "prod",
            Some("deployment/other"),
            before,
            &["unrelated"],
        ),
        pod(
            "elsewhere",
            "dev",
            Some("deployment/api"),
            before,
            &["db-secret"],
        ),
    ];
    let r = run_with_secrets(vec![e], vec![secret], vec![], Some(pods));
    let c = check(&r, CheckId::ExternalSecrets);
    assert_eq!(objects(c), vec!["ExternalSecret prod/db"], "{c:?}");
    let f = &c.findings[0];
    // Issue 12: pods running a value from before the change are an error, not a warning.
    assert_eq!(f.severity, Status::Error);
    assert_eq!(f.code, "consumer-old-value");
    assert!(
        f.message
            .starts_with("deployment/api (2 pods), pod/debug, pod/job-x started before Secret db-secret last changed (2026-11-22T11:30:00Z)"),
        "{}",
        f.message
    );
    assert_eq!(
        f.next.join("; "),
        "kubectl rollout restart deployment/api -n prod; kubectl delete pod debug -n prod \
         (recreate it); kubectl delete pod job-x -n prod (recreate it)"
    );
}

#[test]
fn pods_started_after_the_change_or_unlisted_give_no_finding() {
    let e = es("prod", "db", true, FRESH);
    let pods = vec![pod(
        "api-1",
        "prod",
        Some("deployment/api"),
        "2026-11-22T11:59:00Z",
        &["db-secret"],
    )];
    // Without managedFields or a creation time the Secret's change time is unknown: no verdict.
    let r = run(vec![e.clone()], vec![], Some(pods));
    assert!(check(&r, CheckId::ExternalSecrets).findings.is_empty());
    let r = run(vec![e], vec![], None);
    assert!(check(&r, CheckId::ExternalSecrets).findings.is_empty());
}

#[test]
fn issue12_reloader_turns_old_value_pods_into_a_warning_and_a_near_miss_stays_an_error() {
    let e = es("prod", "db", true, FRESH);
    let mut secret = owned(&e);
    secret.creation_timestamp = Some(from(json!("2026-11-01T00:00:00Z")));
    secret.managed_fields = Some(vec![from(json!({
        "manager": "externalsecrets.external-secrets.io/db", "operation": "Update",
        "time": "2026-11-22T11:30:00Z"
    }))]);
    let with = |k: &str, v: &str| {
        let mut p = pod(
            "api-1",
            "prod",
            Some("deployment/api"),
            "2026-11-22T11:00:00Z",
            &["db-secret"],
        );
        p.reloader.insert(k.to_string(), v.to_string());
        p
    };
    let one = |pods: Vec<PodFacts>,
               secret: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        let r = run_with_secrets(vec![e.clone()], vec![secret.clone()], vec![], Some(pods));
        check(&r, CheckId::ExternalSecrets).findings[0].clone()
    };
    let f = one(
        vec![with("secret.reloader.stakater.com/reload", "db-secret")],
        &secret,
    );
    assert_eq!(
        (f.code.as_str(), f.severity),
        ("consumer-old-value", Status::Warning)
    );
    assert!(
        f.message.contains("Reloader restarts them"),
        "{}",
        f.message
    );
    assert!(
        !f.next.iter().any(|n| n.contains("rollout restart")),
        "{:?}",
        f.next
    );
    // Near miss: Reloader watches another Secret: the pods run the old value, an error.
    let f = one(
        vec![with("secret.reloader.stakater.com/reload", "db-secret-old")],
        &secret,
    );
    assert_eq!(f.severity, Status::Error);
    // search mode counts only with the Secret's own match annotation.
    let f = one(vec![with("reloader.stakater.com/search", "true")], &secret);
    assert_eq!(f.severity, Status::Error);
    let mut matched = secret.clone();
    matched.annotations = Some(
        [(
            "reloader.stakater.com/match".to_string(),
            "true".to_string(),
        )]
        .into(),
    );
    let f = one(vec![with("reloader.stakater.com/search", "true")], &matched);
    assert_eq!(f.severity, Status::Warning);
}

#[test]
fn an_eso_reloader_config_selecting_the_workload_turns_old_value_pods_into_a_warning() {
    use crate::model::eso_reloader::*;
    let e = es("prod", "db", true, FRESH);
    let mut secret = owned(&e);
    secret.creation_timestamp = Some(from(json!("2026-11-01T00:00:00Z")));
    secret.managed_fields = Some(vec![from(json!({
        "manager": "externalsecrets.external-secrets.io/db", "operation": "Update",
        "time": "2026-11-22T11:30:00Z"
    }))]);
    let mut p = pod(
        "api-1",
        "prod",
        Some("deployment/api"),
        "2026-11-22T11:00:00Z",
        &["db-secret"],
    );
    p.workload_labels.insert("app".into(), "api".into());
    let config = |source: &str, app: &str| {
        EsoReloaderConfigs::Listed(vec![EsoReloaderConfig {
            name: "secrets-to-deployments".into(),
            source_types: vec![source.into()],
            destinations: vec![EsoReloaderDestination {
                type_: "deployment".into(),
                selectors: Some(EsoReloaderSelectors {
                    label_selector: Some(
                        serde_json::from_value(json!({"matchLabels": {"app": app}}))
                            .unwrap_or_default(),
                    ),
                    ..Default::default()
                }),
            }],
        }])
    };
    let one = |configs: EsoReloaderConfigs| {
        let r = run_with_eso_reloader(
            vec![e.clone()],
            vec![secret.clone()],
            vec![],
            Some(vec![p.clone()]),
            configs,
        );
        check(&r, CheckId::ExternalSecrets).findings[0].clone()
    };
    let f = one(config("KubernetesSecret", "api"));
    assert_eq!(
        (f.code.as_str(), f.severity),
        ("consumer-old-value", Status::Warning)
    );
    assert!(
        f.message
            .contains("ESO Reloader Config secrets-to-deployments restarts them"),
        "{}",
        f.message
    );
    // Near misses: the selector names another app; the Config listens to a webhook only; the
    // Configs could not be read.
    assert_eq!(
        one(config("KubernetesSecret", "web")).severity,
        Status::Error
    );
    assert_eq!(one(config("Webhook", "api")).severity, Status::Error);
    let refused = EsoReloaderConfigs::Unreadable("no permission".into());
    assert_eq!(one(refused).severity, Status::Error);
}
