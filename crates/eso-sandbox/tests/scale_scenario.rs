//! The `scale` scenario serves the same objects however the sandbox loads and reconciles them
//! (issue 16 made both faster): at a small size, every Namespace, ServiceAccount,
//! ClusterSecretStore, ExternalSecret, Secret, Pod, Event, Deployment and ReplicaSet, read with
//! the real `kubectl` in
//! small pages, is compared with `golden/scale-6.jsonl`, recorded from the sandbox before that
//! work. Only what differs from run to run is normalised: uids (named after their object),
//! resourceVersions, times, the random part of generated names (and a running pod's IP and
//! container ids, derived from its uid), the Vault address.
//!
//! After an intended change to what the scenario contains:
//! `UPDATE_GOLDEN=1 cargo test -p eso-sandbox --test scale_scenario`, then review the diff.

use eso_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SCALE: usize = 6;
const TYPES: &[&str] = &[
    "namespaces",
    "serviceaccounts",
    "clustersecretstores.external-secrets.io",
    "externalsecrets.external-secrets.io",
    "secrets",
    "pods",
    "events",
    "deployments.apps",
    "replicasets.apps",
];

fn kubectl_binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("kubectl"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("kubectl is not on PATH: apt-get install kubernetes-client"))
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/scale-{SCALE}.jsonl"))
}

/// A name with its random part replaced: an Event's `<object>.<id>`, a generated `<prefix><id>`.
fn stable_name(obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(prefix) = obj["metadata"]["generateName"].as_str() {
        return format!("{prefix}*");
    }
    match (obj["kind"].as_str(), name.rsplit_once('.')) {
        (Some("Event"), Some((object, _))) => format!("{object}.*"),
        _ => name.to_string(),
    }
}

/// Strings that differ from run to run, replaced by what they stand for.
fn normalise(value: &mut Value, uids: &HashMap<String, String>, vault: &str, key: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                normalise(v, uids, vault, k);
            }
        }
        Value::Array(items) => {
            for v in items {
                normalise(v, uids, vault, key);
            }
        }
        Value::String(s) => {
            if key == "resourceVersion" {
                *s = "<rv>".into();
            } else if let Some(label) = uids.get(s.as_str()) {
                *s = label.clone();
            } else if !vault.is_empty() && s.contains(vault) {
                *s = s.replace(vault, "<vault>");
            } else if s.len() == 20 && s.parse::<jiff::Timestamp>().is_ok() {
                *s = "<time>".into();
            }
        }
        _ => {}
    }
}

/// Every object of `TYPES`, normalised, one compact JSON line each, sorted.
fn normalised_lines(objects: Vec<Value>, vault: &str) -> Vec<String> {
    let uids: HashMap<String, String> = objects
        .iter()
        .filter_map(|o| {
            let uid = o["metadata"]["uid"].as_str()?.to_string();
            let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
            let kind = o["kind"].as_str().unwrap_or_default();
            Some((uid, format!("<uid of {kind} {ns}/{}>", stable_name(o))))
        })
        .collect();
    let mut lines: Vec<String> = objects
        .into_iter()
        .map(|mut o| {
            let name = stable_name(&o);
            normalise(&mut o, &uids, vault, "");
            o["metadata"]["name"] = Value::String(name);
            // A running pod's IP and container ids are derived from its (random) uid.
            if let Some(status) = o.get_mut("status").and_then(Value::as_object_mut) {
                if status.contains_key("podIP") {
                    status.insert("podIP".into(), "<pod ip>".into());
                }
                for ip in status
                    .get_mut("podIPs")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    ip["ip"] = "<pod ip>".into();
                }
                for c in status
                    .get_mut("containerStatuses")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if c.get("containerID").is_some() {
                        c["containerID"] = "<container id>".into();
                    }
                }
            }
            o.to_string()
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_scenario_serves_the_same_objects_as_before() {
    let kubectl = kubectl_binary();
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: "scale".into(),
        scale: Some(SCALE),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the scale sandbox did not start: {e:#}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.api().kubeconfig(None)).expect("write kubeconfig");
    let vault = sandbox.vault().addr();
    let mut objects = vec![];
    for ty in TYPES {
        // Small pages: every LIST goes through several continue tokens.
        let out = tokio::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", ty, "-A", "-o", "json", "--chunk-size=7"])
            .output()
            .await
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl get {ty}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout).expect("kubectl printed JSON");
        let items = list["items"].as_array().cloned().unwrap_or_default();
        assert!(!items.is_empty(), "no {ty}");
        objects.extend(items);
    }
    sandbox.shutdown().await;
    let got = normalised_lines(objects, &vault);
    let path = golden_path();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("tests/golden")).expect("mkdir");
        std::fs::write(&path, got.join("\n") + "\n").expect("write the golden file");
        return;
    }
    let want_text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 records it)", path.display()));
    let want: Vec<&str> = want_text.lines().collect();
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|l| !got.iter().any(|g| g == l))
        .collect();
    let extra: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|g| !want.contains(g))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && want.len() == got.len(),
        "the scale scenario serves different objects ({} expected, {} served):\n{}",
        want.len(),
        got.len(),
        differences(&missing, &extra).join("\n")
    );
}

/// kind namespace/name of a normalised line.
fn identity(v: &Value) -> String {
    let m = &v["metadata"];
    format!(
        "{} {}/{}",
        v["kind"].as_str().unwrap_or_default(),
        m["namespace"].as_str().unwrap_or_default(),
        m["name"].as_str().unwrap_or_default()
    )
}

/// The fields where two versions of a value differ, as `path: expected -> served`.
fn field_differences(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for k in keys {
                let (wv, gv) = (
                    w.get(k).unwrap_or(&Value::Null),
                    g.get(k).unwrap_or(&Value::Null),
                );
                field_differences(&format!("{path}.{k}"), wv, gv, out);
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                field_differences(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want != got => out.push(format!("    {path}: {want} -> {got}")),
        _ => {}
    }
}

/// Objects expected and not served, served and not expected, and for those with the same
/// identity on both sides, the fields that differ.
fn differences(missing: &[&str], extra: &[&str]) -> Vec<String> {
    let parse = |l: &&str| serde_json::from_str::<Value>(l).unwrap_or(Value::Null);
    let (missing, extra): (Vec<Value>, Vec<Value>) = (
        missing.iter().map(parse).collect(),
        extra.iter().map(parse).collect(),
    );
    let mut out = vec![];
    for w in &missing {
        match extra.iter().find(|g| identity(g) == identity(w)) {
            Some(g) => {
                out.push(format!("  {} differs:", identity(w)));
                field_differences("", w, g, &mut out);
            }
            None => out.push(format!("  expected, not served: {w}")),
        }
    }
    for g in &extra {
        if !missing.iter().any(|w| identity(w) == identity(g)) {
            out.push(format!("  served, not expected: {g}"));
        }
    }
    out
}

#[test]
fn normalising_names_what_varies_and_keeps_the_rest() {
    let objects = vec![
        serde_json::json!({"kind": "ExternalSecret", "metadata": {"name": "a", "namespace": "n", "uid": "u-1",
            "resourceVersion": "41", "creationTimestamp": "2026-01-02T03:04:05Z"}, "spec": {"x": "http://127.0.0.1:9/v1"}}),
        serde_json::json!({"kind": "Event", "metadata": {"name": "a.1f2e", "namespace": "n"},
            "involvedObject": {"uid": "u-1", "resourceVersion": "40"}, "message": "Created Secret"}),
    ];
    let lines = normalised_lines(objects, "http://127.0.0.1:9");
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let es = parsed
        .iter()
        .find(|o| o["kind"] == "ExternalSecret")
        .unwrap();
    let ev = parsed.iter().find(|o| o["kind"] == "Event").unwrap();
    assert_eq!(es["metadata"]["uid"], "<uid of ExternalSecret n/a>");
    assert_eq!(es["metadata"]["resourceVersion"], "<rv>");
    assert_eq!(es["metadata"]["creationTimestamp"], "<time>");
    assert_eq!(es["spec"]["x"], "<vault>/v1");
    assert_eq!(ev["metadata"]["name"], "a.*");
    assert_eq!(ev["involvedObject"]["uid"], "<uid of ExternalSecret n/a>");
    assert_eq!(ev["message"], "Created Secret");
}
