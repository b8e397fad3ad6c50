//! Issue 14, "the tool tolerates what newer ESO releases write": every command (scope,
//! describe-chain for an ExternalSecret and a PushSecret, doctor, force-sync --dry-run,
//! verify-regcred --from-es, bundle) is fed
//! objects with fields, condition reasons and provider blocks the tool has never seen, a store
//! served by an out-of-process provider (`spec.providerRef`, no `spec.provider`: ESO PR 6710), a
//! ClusterExternalSecret with failed namespaces and an ExternalSecret held back by a closed sync
//! window. Each must give sane output and exit 0 or 1 (never 2, never a panic), show what it
//! cannot judge as not healthy, and name the closed window and the failed namespaces.
//!
//! kube-sim validates against ESO v2.9.0's structural schemas and prunes unknown fields (as a real
//! apiserver does), and `spec.provider` is required there. So this test first replaces the ESO
//! CRDs with a variant whose `spec` and `status` carry `x-kubernetes-preserve-unknown-fields` and
//! no `required` list — what a newer ESO's CRDs look like to an older tool — and checks that the
//! extra fields really were stored.

mod common;

use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const CRDS: [&str; 6] = [
    "externalsecrets.external-secrets.io",
    "secretstores.external-secrets.io",
    "clustersecretstores.external-secrets.io",
    "clusterexternalsecrets.external-secrets.io",
    "pushsecrets.external-secrets.io",
    "clusterpushsecrets.external-secrets.io",
];

/// A 5-field cron schedule that fires twelve hours from now: its one-hour window is closed now.
fn closed_schedule() -> String {
    let hour = (jiff::Timestamp::now().as_second().rem_euclid(86_400) / 3600 + 12) % 24;
    format!("0 {hour} * * *")
}

const REGCRED_PW: &str = "canary-future-regcred-pw";

fn seed(c: &Cluster) {
    c.namespaces(&["prod", "staging"]);
    let css = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": "quantum"},
        "spec": {"provider": {"quantumvault": {"server": "https://qv.example", "mode": "entangled"}},
                 "retrySettings2": {"maxRetries": 3}}
    }));
    c.set_status(
        &css,
        json!({"conditions": [{"type": "Ready", "status": "True",
        "reason": "ValidatedByTheFuture", "message": "ok"}], "providerHealth": "green"}),
    );
    let oop = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "oop", "namespace": "prod"},
        "spec": {"providerRef": {"apiVersion": "external-secrets.io/v1alpha1",
                 "kind": "ProviderClass", "name": "bitwarden"}}
    }));
    c.set_status(&oop, store_status(true, "Valid"));
    let future = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "future-es", "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "oop"},
                 "target": {"name": "future", "somethingNew": {"deep": [1, 2]}},
                 "data": [{"secretKey": "k", "remoteRef": {"key": "k", "quantumState": "up"}}],
                 "somethingNew": true}
    }));
    let mut status = es_status(true, &ago(10));
    status["conditions"][0]["status"] = json!("Unknown");
    status["conditions"][0]["reason"] = json!("SomethingNewer");
    status["statusFromTheFuture"] = json!({"x": 1});
    c.set_status(&future, status);
    let held = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "window-es", "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "quantum"},
                 "target": {"name": "window"},
                 "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}],
                 "syncWindows": {"kind": "allow", "windows": [{"schedule": closed_schedule(), "duration": "1h"}]}}
    }));
    let held = c.set_status(&held, es_status(true, &ago(300)));
    c.create(owned_secret(
        &held,
        "window",
        "Opaque",
        "k",
        "canary-window-value",
    ));
    // A pull secret written by a newer ESO, for a registry that refuses connections.
    let regcred = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "future-regcred", "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "quantum"},
                 "target": {"name": "regcred", "template": {"type": "kubernetes.io/dockerconfigjson"},
                            "somethingNew": 1},
                 "data": [{"secretKey": ".dockerconfigjson", "remoteRef": {"key": "regcred"}}]}
    }));
    let mut status = es_status(true, &ago(60));
    status["conditions"][0]["reason"] = json!("SecretSyncedByTheFuture");
    let regcred = c.set_status(&regcred, status);
    c.create(owned_secret(
        &regcred,
        "regcred",
        "kubernetes.io/dockerconfigjson",
        ".dockerconfigjson",
        &format!(
            r#"{{"auths":{{"127.0.0.1:9":{{"username":"u","password":"{REGCRED_PW}","auth":"{}"}}}}}}"#,
            b64(&format!("u:{REGCRED_PW}"))
        ),
    ));
    let ces = c.create(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
        "metadata": {"name": "future-ces"},
        "spec": {"externalSecretName": "shared", "namespaceSelectors": [{"matchLabels": {"x": "y"}}],
                 "externalSecretSpec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "quantum"}},
                 "fanOutStrategy": "eventually"}
    }));
    c.set_status(&ces, json!({"provisionedNamespaces": ["prod"],
        "failedNamespaces": [{"namespace": "staging", "reason": "could not create or update ExternalSecret"}],
        "conditions": [{"type": "Ready", "status": "False", "reason": "SomeNewReason"}]}));
    let ps = c.create(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": "future-push", "namespace": "prod"},
        "spec": {"secretStoreRefs": [{"name": "oop", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "not-there"}},
                 "data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": "r"}}}],
                 "pushMode": "teleport"}
    }));
    c.set_status(
        &ps,
        json!({"conditions": [{"type": "Ready", "status": "Unknown",
        "reason": "Mystery", "message": "?"}], "newStatusField": 7}),
    );
    let cps = c.create(json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "ClusterPushSecret",
        "metadata": {"name": "future-cps"},
        "spec": {"pushSecretName": "pushed", "namespaceSelectors": [{"matchLabels": {"x": "y"}}],
                 "pushSecretSpec": {"secretStoreRefs": [{"name": "oop"}],
                                    "selector": {"secret": {"name": "s"}}},
                 "rolloutStrategy": "gradual"}
    }));
    c.set_status(
        &cps,
        json!({"provisionedNamespaces": ["prod"],
        "failedNamespaces": [{"namespace": "staging", "reason": "namespace is terminating"}],
        "conditions": [{"type": "Ready", "status": "False", "reason": "NewerReason"}]}),
    );
}

fn sane(c: &Cluster, args: &[&str]) -> (i32, String) {
    let o = c.run(args);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let code = o.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{args:?} exited {code}:\n{out}\n{err}"
    );
    assert!(!out.trim().is_empty(), "{args:?} printed nothing: {err}");
    assert!(!out.contains("canary-window-value") && !err.contains("canary-window-value"));
    // Human output is wrapped to the terminal's width (issue 13): phrases are looked for with
    // the wrapping undone. JSON has no newline inside a string, so it parses the same.
    let out = if out.trim_start().starts_with('{') {
        out
    } else {
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    (code, out)
}

fn codes_of(report: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        for f in v.as_array().into_iter().flatten() {
            out.push((
                f["code"].as_str().unwrap_or_default().to_string(),
                f["object"].as_str().unwrap_or_default().to_string(),
            ));
            walk(&f["effects"], out);
        }
    }
    let mut out = Vec::new();
    walk(&report["findings"], &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_every_command_tolerates_what_newer_eso_writes() {
    let c = Cluster::start(EsoCrds::V1).await;
    loosen_crds(&c, &CRDS, &["spec", "status"]);
    seed(&c);
    let stored = c
        .api
        .store()
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("prod"),
            "future-es",
        )
        .unwrap_or_else(|| panic!("no future-es"));
    assert_eq!(
        stored["spec"]["somethingNew"],
        json!(true),
        "extra field pruned: {stored}"
    );
    assert_eq!(
        stored["status"]["conditions"][0]["reason"],
        "SomethingNewer"
    );

    // scope: the out-of-process store is named as such; the unknown-reason ExternalSecret fails.
    let (code, out) = sane(&c, &["scope", "-A", "-o", "json"]);
    assert_eq!(code, 1, "{out}");
    let scope: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let stores = scope["stores"].as_array().cloned().unwrap_or_default();
    assert!(
        stores
            .iter()
            .any(|s| s["store"]["name"] == "oop" && s["provider"] == "out-of-process"),
        "{scope:#}"
    );
    let (_, table) = sane(&c, &["scope", "-A"]);
    assert!(
        table.contains("provisioned in prod; could not create in staging"),
        "{table}"
    );
    assert!(
        table.contains(
            "ClusterPushSecret future-cps: provisioned in prod; could not create in staging \
             (namespace is terminating)"
        ),
        "{table}"
    );
    assert!(
        table.contains("prod/future-push: Ready=Unknown (Mystery), Secret not-there -> SecretStore/oop; pushsecret-source-missing"),
        "{table}"
    );

    // doctor: nothing unknown is called healthy.
    let (code, out) = sane(&c, &["doctor", "-A", "-o", "json"]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let found = codes_of(&report);
    let has = |code: &str, object: &str| found.iter().any(|(c, o)| c == code && o == object);
    assert!(
        has("es-not-ready", "ExternalSecret prod/future-es"),
        "{found:?}"
    );
    assert!(
        has("es-sync-window-closed", "ExternalSecret prod/window-es"),
        "{found:?}"
    );
    assert!(
        !has("es-stale", "ExternalSecret prod/window-es"),
        "{found:?}"
    );
    assert!(
        has("ces-namespace-failed", "ClusterExternalSecret future-ces"),
        "{found:?}"
    );
    assert!(
        has("pushsecret-source-missing", "PushSecret prod/future-push"),
        "{found:?}"
    );
    assert!(
        has(
            "clusterpushsecret-namespace-failed",
            "ClusterPushSecret future-cps"
        ),
        "{found:?}"
    );
    let not_probed: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["code"] == "provider-not-probed")
        .map(|f| format!("{} {}", f["object"], f["cause"]))
        .collect();
    assert!(
        not_probed
            .iter()
            .any(|f| f.contains("SecretStore prod/oop") && f.contains("out-of-process provider")),
        "{not_probed:?}"
    );
    assert!(
        not_probed
            .iter()
            .any(|f| f.contains("ClusterSecretStore/quantum")
                || f.contains("ClusterSecretStore quantum")),
        "{not_probed:?}"
    );
    let (_, text) = sane(&c, &["doctor", "-A"]);
    assert!(text.contains("es-sync-window-closed"), "{text}");

    // describe-chain, both directions.
    let (code, out) = sane(&c, &["describe-chain", "future-es", "-n", "prod"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SomethingNewer"), "{out}");
    // A closed window is ESO working as configured: a warning that names it, not a failure.
    let (code, out) = sane(
        &c,
        &["describe-chain", "window-es", "-n", "prod", "--no-probe"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("spec.syncWindows holds periodic refreshes back"),
        "{out}"
    );
    assert!(out.contains("ESO is not failing"), "{out}");
    let (code, out) = sane(
        &c,
        &["describe-chain", "pushsecret/future-push", "-n", "prod"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pushsecret-source-missing"), "{out}");
    assert!(out.contains("Mystery"), "{out}");
    assert!(out.contains("out-of-process provider"), "{out}");

    // force-sync --dry-run: the closed window is named, and that a force-sync bypasses it.
    let (_, out) = sane(
        &c,
        &[
            "force-sync",
            "window-es",
            "future-es",
            "-n",
            "prod",
            "--dry-run",
        ],
    );
    assert!(out.contains("bypasses the window"), "{out}");

    // verify-regcred follows an ExternalSecret written by a newer ESO to the pull secret it writes.
    // A refused connection is a finding (exit 1), and the password is in no output.
    for format in ["json", "table"] {
        let args = [
            "verify-regcred",
            "--from-es",
            "future-regcred",
            "-n",
            "prod",
            "--timeout",
            "3s",
            "-o",
            format,
        ];
        let (code, out) = sane(&c, &args);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("127.0.0.1:9"), "{out}");
        let o = c.run(&args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for v in [REGCRED_PW.to_string(), b64(&format!("u:{REGCRED_PW}"))] {
            assert!(!all.contains(&v), "{format}: {all}");
        }
    }

    // bundle: the folder is written from the same objects, and no value reaches it.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out_path = dir.path().display().to_string();
    let (code, out) = sane(&c, &["bundle", "-A", "--out", &out_path]);
    assert_eq!(code, 1, "{out}");
    let doctor_json = std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("doctor.json"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no doctor.json under {out_path}"));
    let text = std::fs::read_to_string(&doctor_json).unwrap_or_default();
    assert!(text.contains("es-sync-window-closed"), "{text}");
    assert!(!text.contains("canary-window-value"));
}
