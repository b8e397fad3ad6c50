//! Unit tests for `force_sync`'s pure decisions: selection, the "cannot resync" rules, what a
//! watched status or Event means, the restart rules and the rollout test.

use super::*;
use serde_json::{Value, json};

fn es(v: Value) -> ExternalSecret {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("bad fixture: {e}"))
}

fn synced_es(name: &str, spec: Value) -> ExternalSecret {
    es(json!({
        "metadata": {"name": name, "namespace": "prod", "uid": format!("uid-{name}")},
        "spec": spec,
        "status": {
            "syncedResourceVersion": "1-abc",
            "refreshTime": "2026-11-22T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced"}]
        }
    }))
}

fn store(name: &str, ns: Option<&str>, ready: &str) -> SecretStore {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "InvalidProviderConfig"}]}
    }))
    .unwrap_or_else(|e| panic!("bad fixture: {e}"))
}

fn ready_stores() -> Stores {
    Stores {
        secret_stores: Some(vec![store("vault", Some("prod"), "True")]),
        cluster_secret_stores: Some(vec![store("akv", None, "True")]),
    }
}

const VAULT: &str =
    r#"{"secretStoreRef": {"name": "vault", "kind": "SecretStore"}, "refreshInterval": "1h"}"#;

fn vault_spec() -> Value {
    serde_json::from_str(VAULT).unwrap_or_default()
}

#[test]
fn select_by_name_reports_missing_and_filters_by_store() {
    let all = vec![
        synced_es("b", vault_spec()),
        synced_es(
            "a",
            json!({"secretStoreRef": {"name": "akv", "kind": "ClusterSecretStore"}}),
        ),
    ];
    let (chosen, missing) = select(&all, &["a".into(), "zz".into()], None);
    assert_eq!(chosen.iter().map(|e| e.name()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(missing, ["zz"]);
    let (chosen, _) = select(&all, &[], None);
    assert_eq!(
        chosen.iter().map(|e| e.name()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let filter = StoreFilter::parse("css/akv").ok();
    let (chosen, _) = select(&all, &[], filter.as_ref());
    assert_eq!(chosen.iter().map(|e| e.name()).collect::<Vec<_>>(), ["a"]);
}

#[test]
fn a_periodic_external_secret_on_a_ready_store_can_resync() {
    assert_eq!(
        blocker(&synced_es("a", vault_spec()), &ready_stores()),
        None
    );
}

#[test]
fn created_once_blocks_only_after_the_first_sync() {
    let spec = json!({"secretStoreRef": {"name": "vault"}, "refreshPolicy": "CreatedOnce"});
    let o = blocker(&synced_es("a", spec.clone()), &ready_stores());
    let o = o.unwrap_or_else(|| panic!("CreatedOnce not blocked"));
    assert_eq!(o.kind, OutcomeKind::CannotResync);
    assert!(o.message.unwrap_or_default().contains("CreatedOnce"));
    let fresh = es(json!({"metadata": {"name": "a", "namespace": "prod"}, "spec": spec}));
    assert_eq!(blocker(&fresh, &ready_stores()), None);
}

#[test]
fn zero_refresh_interval_blocks_unless_on_change() {
    let spec = json!({"secretStoreRef": {"name": "vault"}, "refreshInterval": "0s"});
    let o = blocker(&synced_es("a", spec), &ready_stores());
    assert!(o.is_some_and(|o| o.message.unwrap_or_default().contains("refreshInterval 0")));
    let on_change = json!({"secretStoreRef": {"name": "vault"}, "refreshInterval": "0", "refreshPolicy": "OnChange"});
    assert_eq!(blocker(&synced_es("a", on_change), &ready_stores()), None);
}

#[test]
fn cluster_external_secret_child_points_at_the_parent() {
    let mut child = synced_es("platform-ca", vault_spec());
    child.metadata.owner_references = serde_json::from_value(json!([
        {"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "name": "platform-ca", "uid": "p"}
    ]))
    .ok();
    let o = blocker(&child, &ready_stores()).unwrap_or_else(|| panic!("not blocked"));
    assert!(
        o.message
            .unwrap_or_default()
            .contains("ClusterExternalSecret platform-ca")
    );
    let hint = o.hint.unwrap_or_default();
    assert!(
        hint.contains("kubectl eso force-sync clusterexternalsecret/platform-ca"),
        "{hint}"
    );
    assert_eq!(parent_of(&child), Some("platform-ca"));
    // Through the parent, the child's own rules still apply, and here none blocks.
    assert_eq!(own_blocker(&child, &ready_stores()), None);
}

#[test]
fn store_not_ready_or_missing_is_named() {
    let stores = Stores {
        secret_stores: Some(vec![store("vault", Some("prod"), "False")]),
        cluster_secret_stores: Some(vec![]),
    };
    let o =
        blocker(&synced_es("a", vault_spec()), &stores).unwrap_or_else(|| panic!("not blocked"));
    let m = o.message.unwrap_or_default();
    assert!(
        m.contains("SecretStore/vault is not ready (InvalidProviderConfig)"),
        "{m}"
    );
    let css = synced_es(
        "b",
        json!({"secretStoreRef": {"name": "akv", "kind": "ClusterSecretStore"}}),
    );
    let m = blocker(&css, &stores)
        .and_then(|o| o.message)
        .unwrap_or_default();
    assert!(m.contains("ClusterSecretStore/akv does not exist"), "{m}");
    // Stores that could not be listed are not guessed at.
    assert_eq!(blocker(&css, &Stores::default()), None);
}

#[test]
fn status_changes_mean_synced_failed_or_nothing_yet() {
    let before = synced_es("a", vault_spec());
    let base = baseline(&before);
    assert_eq!(judge_status(&base, &before), StatusSignal::Pending);
    let mut after = before.clone();
    after.status.synced_resource_version = Some("1-def".into());
    after.status.refresh_time = Some("2026-11-22T11:00:00Z".into());
    assert_eq!(
        judge_status(&base, &after),
        StatusSignal::Synced {
            refresh_time: Some("2026-11-22T11:00:00Z".into())
        }
    );
    let mut failed = before.clone();
    failed.status.conditions[0].status = "False".into();
    failed.status.conditions[0].message = Some("could not get secret data from provider".into());
    assert!(matches!(
        judge_status(&base, &failed),
        StatusSignal::Failed { .. }
    ));
    // Already failing with the same message: nothing new.
    let base_failed = baseline(&failed);
    assert_eq!(judge_status(&base_failed, &failed), StatusSignal::Pending);
}

fn event(uid: &str, last: &str, message: &str) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": "e", "namespace": "prod"},
        "involvedObject": {"kind": "ExternalSecret", "namespace": "prod", "name": "a", "uid": uid},
        "reason": "UpdateFailed", "type": "Warning", "message": message,
        "lastTimestamp": last, "firstTimestamp": "2026-11-22T09:00:00Z"
    }))
    .unwrap_or_else(|e| panic!("bad fixture: {e}"))
}

#[test]
fn only_update_failed_events_from_the_annotation_on_count() {
    let base = baseline(&synced_es("a", vault_spec()));
    let at: Timestamp = "2026-11-22T10:30:00.700Z".parse().unwrap_or_default();
    let text = "Code: 403. Errors: * permission denied";
    assert_eq!(
        failure_from_event(&base, &event("uid-a", "2026-11-22T10:30:00Z", text), at),
        Some(text.to_string()),
        "the same second counts"
    );
    assert_eq!(
        failure_from_event(&base, &event("uid-a", "2026-11-22T10:29:59Z", text), at),
        None
    );
    assert_eq!(
        failure_from_event(&base, &event("uid-b", "2026-11-22T10:31:00Z", text), at),
        None
    );
    let dirty = failure_from_event(
        &base,
        &event("uid-a", "2026-11-22T10:31:00Z", "x\u{1b}[2Jy"),
        at,
    );
    assert_eq!(dirty.as_deref(), Some("xy"));
}

#[test]
fn annotation_value_always_changes() {
    let now: Timestamp = "2026-11-22T10:30:00Z".parse().unwrap_or_default();
    let secs = now.as_second();
    assert_eq!(annotation_value(now, None), secs.to_string());
    assert_eq!(annotation_value(now, Some("12")), secs.to_string());
    assert_eq!(
        annotation_value(now, Some(&secs.to_string())),
        (secs + 1).to_string()
    );
    assert_eq!(
        annotation_value(now, Some("not a number")),
        secs.to_string()
    );
}

#[test]
fn timeout_says_what_was_last_seen() {
    let e = synced_es("a", vault_spec());
    let o = timed_out(&baseline(&e), None, 5);
    let m = o.message.unwrap_or_default();
    assert_eq!(o.kind, OutcomeKind::TimedOut);
    assert!(
        m.contains("within 5s") && m.contains("Ready=True (SecretSynced)"),
        "{m}"
    );
}

fn none() -> crate::model::eso_reloader::EsoReloaderConfigs {
    crate::model::eso_reloader::EsoReloaderConfigs::Listed(Vec::new())
}

fn workload(name: &str, spec: Value) -> WorkloadState {
    WorkloadState {
        namespace: "prod".into(),
        kind: Some(crate::model::refs::WorkloadKind::Deployment),
        name: name.into(),
        pod_spec: serde_json::from_value(spec).ok(),
        ..WorkloadState::default()
    }
}

#[test]
fn restart_rules_follow_how_the_secret_is_read() {
    let workloads = vec![
        workload(
            "env",
            json!({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]}),
        ),
        workload(
            "vol",
            json!({
                "containers": [{"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/s"}]}],
                "volumes": [{"name": "v", "secret": {"secretName": "s"}}]
            }),
        ),
        workload(
            "subpath",
            json!({
                "containers": [{"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/s/k", "subPath": "k"}]}],
                "volumes": [{"name": "v", "secret": {"secretName": "s"}}]
            }),
        ),
        workload(
            "pull",
            json!({"containers": [{"name": "c"}], "imagePullSecrets": [{"name": "s"}]}),
        ),
        workload(
            "other",
            json!({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "t"}}]}]}),
        ),
    ];
    let secrets = vec![("prod".to_string(), "s".to_string())];
    let plan = restart_plan(
        &workloads,
        &secrets,
        RestartMode::Needed,
        false,
        &none(),
        &BTreeMap::new(),
    );
    let actions: Vec<(&str, RestartAction)> = plan
        .iter()
        .map(|(_, r)| (r.workload.as_str(), r.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("deployment/env", RestartAction::Restarted),
            ("deployment/vol", RestartAction::SkippedRefreshesItself),
            ("deployment/subpath", RestartAction::Restarted),
            ("deployment/pull", RestartAction::Restarted),
        ]
    );
    let all = restart_plan(
        &workloads,
        &secrets,
        RestartMode::All,
        true,
        &none(),
        &BTreeMap::new(),
    );
    assert!(
        all.iter()
            .all(|(_, r)| r.action == RestartAction::WouldRestart)
    );
    assert_eq!(all.len(), 4);
    assert!(
        restart_plan(
            &workloads,
            &secrets,
            RestartMode::None,
            false,
            &none(),
            &BTreeMap::new()
        )
        .is_empty()
    );
    // Another namespace's Secret of the same name is not this one.
    let elsewhere = vec![("dev".to_string(), "s".to_string())];
    assert!(
        restart_plan(
            &workloads,
            &elsewhere,
            RestartMode::All,
            false,
            &none(),
            &BTreeMap::new()
        )
        .is_empty()
    );
}

#[test]
fn rollout_is_complete_like_kubectl_rollout_status() {
    let mut w = WorkloadState {
        generation: Some(2),
        observed_generation: Some(1),
        desired: 2,
        current: 3,
        updated: 1,
        available: 2,
        ..WorkloadState::default()
    };
    assert!(!rollout_complete(&w));
    w.observed_generation = Some(2);
    assert!(!rollout_complete(&w), "old pods still there");
    w.updated = 2;
    w.current = 2;
    w.available = 1;
    assert!(!rollout_complete(&w), "new pods not available");
    w.available = 2;
    assert!(rollout_complete(&w));
}

#[test]
fn exit_code_is_one_for_any_problem() {
    let ok = ExternalSecretResult {
        namespace: "prod".into(),
        name: "a".into(),
        store: None,
        target: "a".into(),
        annotation: Some("1".into()),
        outcome: Outcome::new(OutcomeKind::Synced, None),
    };
    let mut report = ForceSyncReport {
        api_version: "kubectl-eso/v1".into(),
        kind: FORCE_SYNC_REPORT_KIND.into(),
        dry_run: false,
        wait: true,
        timeout_seconds: 60,
        restart: RestartMode::None,
        external_secrets: vec![ok.clone()],
        restarts: vec![],
        summary: ForceSyncSummary::default(),
    };
    assert_eq!(exit_code(&report), Exit::Healthy);
    for kind in [
        OutcomeKind::Failed,
        OutcomeKind::TimedOut,
        OutcomeKind::CannotResync,
        OutcomeKind::NotFound,
    ] {
        let mut bad = ok.clone();
        bad.outcome.kind = kind;
        report.external_secrets = vec![ok.clone(), bad];
        assert_eq!(exit_code(&report), Exit::Findings, "{kind:?}");
    }
    report.external_secrets = vec![ok];
    report.restarts = vec![RestartResult {
        namespace: "prod".into(),
        workload: "deployment/x".into(),
        secrets: vec!["a".into()],
        uses: vec!["env".into()],
        action: RestartAction::RolloutTimedOut,
        message: None,
        log_check: None,
    }];
    assert_eq!(exit_code(&report), Exit::Findings);
    // Issue 17: rolled out, but the new pods still log the old error.
    report.restarts[0].action = RestartAction::Restarted;
    assert_eq!(exit_code(&report), Exit::Healthy);
    report.restarts[0].log_check = Some(LogCheck {
        verified: false,
        before: vec!["authentication failed".into()],
        still: vec!["authentication failed".into()],
        message: "not verified".into(),
    });
    assert_eq!(exit_code(&report), Exit::Findings);
    assert_eq!(
        summary(&report.external_secrets, &report.restarts).synced,
        1
    );
}

#[test]
fn issue_13_reloader_annotations_hand_the_restart_over() {
    let ann = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let s = vec!["regcred".to_string()];
    assert_eq!(
        reloader_manages(&ann(&[("reloader.stakater.com/auto", "true")]), &s),
        Some("reloader.stakater.com/auto")
    );
    assert_eq!(
        reloader_manages(
            &ann(&[("secret.reloader.stakater.com/reload", "other, regcred")]),
            &s
        ),
        Some("secret.reloader.stakater.com/reload")
    );
    // Near misses: off, or naming another Secret.
    assert_eq!(
        reloader_manages(&ann(&[("reloader.stakater.com/auto", "false")]), &s),
        None
    );
    assert_eq!(
        reloader_manages(
            &ann(&[("secret.reloader.stakater.com/reload", "other")]),
            &s
        ),
        None
    );

    let mut w = workload(
        "env",
        json!({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "regcred"}}]}]}),
    );
    w.reloader = ann(&[("reloader.stakater.com/auto", "true")]);
    let plan = restart_plan(
        &[w],
        &[("prod".into(), "regcred".into())],
        RestartMode::Needed,
        false,
        &none(),
        &BTreeMap::new(),
    );
    assert_eq!(plan[0].1.action, RestartAction::LeftToReloader);
    assert!(
        plan[0]
            .1
            .message
            .as_deref()
            .is_some_and(|m| m.contains("reloader.stakater.com/auto")),
        "{plan:?}"
    );
}

#[test]
fn issue_13_a_secret_counts_as_changed_only_when_its_data_may_have() {
    let v = |rv: Option<&str>, hash: Option<&str>| {
        Some(SecretVersion {
            resource_version: rv.map(String::from),
            data_hash: hash.map(String::from),
            written_at: None,
        })
    };
    let key = |n: &str| ("prod".to_string(), n.to_string());
    let before: BTreeMap<_, _> = [
        (key("same"), v(Some("1"), Some("h"))),
        (key("meta-only"), v(Some("1"), Some("h"))),
        (key("new-data"), v(Some("1"), Some("h"))),
        (key("no-hash"), v(Some("1"), None)),
        (key("unread"), None),
    ]
    .into();
    let after: BTreeMap<_, _> = [
        (key("same"), v(Some("1"), Some("h"))),
        (key("meta-only"), v(Some("2"), Some("h"))),
        (key("new-data"), v(Some("2"), Some("h2"))),
        (key("no-hash"), v(Some("2"), None)),
        (key("unread"), v(Some("5"), Some("h"))),
    ]
    .into();
    let changed = changed_secrets(&before, &after);
    let names: Vec<&str> = changed.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, vec!["new-data", "no-hash", "unread"]);
}

#[test]
fn issue14_force_sync_says_it_bypasses_a_closed_sync_window() {
    let with_windows = synced_es(
        "nightly",
        json!({"secretStoreRef": {"name": "vault"}, "refreshInterval": "1h",
            "syncWindows": {"kind": "allow", "windows": [{"schedule": "0 22 * * *", "duration": "2h"}]}}),
    );
    let closed: Timestamp = "2026-06-02T03:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let note = window_note(&with_windows, closed).unwrap_or_default();
    assert!(note.contains("bypasses the window"), "{note}");
    assert!(note.contains("until 2026-06-02T22:00:00Z"), "{note}");
    // Near misses: the window is open, or there are no windows.
    let open: Timestamp = "2026-06-01T23:59:59Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(window_note(&with_windows, open), None);
    let plain = synced_es("plain", json!({"secretStoreRef": {"name": "vault"}}));
    assert_eq!(window_note(&plain, closed), None);
}

#[test]
fn issue_13_pods_older_than_the_secrets_last_write_are_restarted_even_when_the_sync_changed_nothing()
 {
    let at = |s: &str| s.parse::<Timestamp>().unwrap_or_else(|e| panic!("{e}"));
    let mut w = workload("web", json!({"containers": [{"name": "c"}]}));
    w.namespace = "prod".into();
    w.selector = [("app".to_string(), "web".to_string())].into();
    let pods = vec![
        (
            [("app".to_string(), "web".to_string())].into(),
            at("2026-12-01T10:00:00Z"),
        ),
        (
            [("app".to_string(), "web".to_string())].into(),
            at("2026-12-01T09:00:00Z"),
        ),
        (
            [("app".to_string(), "other".to_string())].into(),
            at("2026-11-01T00:00:00Z"),
        ),
    ];
    w.oldest_pod_started = oldest_started(&w, &pods);
    assert_eq!(w.oldest_pod_started, Some(at("2026-12-01T09:00:00Z")));
    let versions = |written: &str| -> BTreeMap<(String, String), Option<SecretVersion>> {
        [(
            ("prod".to_string(), "db".to_string()),
            Some(SecretVersion {
                resource_version: Some("7".into()),
                data_hash: Some("h".into()),
                written_at: Some(at(written)),
            }),
        )]
        .into()
    };
    let secrets = vec!["db".to_string()];
    // Written after the oldest pod started: that pod runs with the older value.
    assert!(runs_older_than(
        &w,
        &secrets,
        &versions("2026-12-01T09:30:00Z")
    ));
    // Near miss: written before every pod started (the healthy case): nothing to restart for.
    assert!(!runs_older_than(
        &w,
        &secrets,
        &versions("2026-12-01T08:59:00Z")
    ));
    // Unknown start times say no; so does a selector matching nothing.
    w.oldest_pod_started = None;
    assert!(!runs_older_than(
        &w,
        &secrets,
        &versions("2026-12-01T09:30:00Z")
    ));
    w.selector = [("app".to_string(), "none".to_string())].into();
    assert_eq!(oldest_started(&w, &pods), None);
}

#[test]
fn restart_leaves_a_workload_an_eso_reloader_config_selects_to_it() {
    use crate::model::eso_reloader::*;
    let config = |kind: &str, names: &[&str]| {
        EsoReloaderConfigs::Listed(vec![EsoReloaderConfig {
            name: "to-deployments".into(),
            source_types: vec!["KubernetesSecret".into()],
            destinations: vec![EsoReloaderDestination {
                type_: kind.into(),
                selectors: Some(EsoReloaderSelectors {
                    names: names.iter().map(|n| n.to_string()).collect(),
                    ..Default::default()
                }),
            }],
        }])
    };
    let w = workload(
        "env",
        json!({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "regcred"}}]}]}),
    );
    let plan = |configs: &EsoReloaderConfigs| {
        restart_plan(
            std::slice::from_ref(&w),
            &[("prod".into(), "regcred".into())],
            RestartMode::Needed,
            false,
            configs,
            &BTreeMap::new(),
        )
    };
    let hit = plan(&config("deployment", &["env"]));
    assert_eq!(hit[0].1.action, RestartAction::LeftToReloader);
    assert!(
        hit[0]
            .1
            .message
            .as_deref()
            .is_some_and(|m| m.contains("ESO Reloader Config to-deployments")),
        "{hit:?}"
    );
    // Near misses: another name; a destination of another kind.
    assert_eq!(
        plan(&config("deployment", &["env-v2"]))[0].1.action,
        RestartAction::Restarted
    );
    assert_eq!(
        plan(&config("externalsecret", &["env"]))[0].1.action,
        RestartAction::Restarted
    );
}
