//! The evidence bundle's content as pure functions (issue 17): what each object keeps (ESO objects
//! without last-applied copies; Secrets' metadata only; pods' status only, never their spec, whose
//! env may hold literals; Events' text), every string passed through the log redaction, the
//! timeline (since when, what changed) and `summary.md`, the incident note a person would send.
//! `now` is a parameter.

use serde_json::{Map, Value, json};

use crate::analysis::eso_logs::managed_by;
use crate::analysis::eso_logs::redact::Redactor;
use crate::model::doctor::DoctorReport;
use crate::model::finding::Finding;
use crate::sanitize;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Every string of `v` redacted, keys included.
pub fn redact_value(v: Value, r: &Redactor) -> Value {
    match v {
        Value::String(s) => Value::String(r.redact(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| redact_value(x, r)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (r.redact(&k), redact_value(x, r)))
                .collect(),
        ),
        other => other,
    }
}

/// Metadata as the bundle keeps it: managedFields reduced to who wrote when, and no last-applied
/// copy (for a Secret applied by hand it holds the data).
fn metadata(meta: &Value) -> Value {
    let mut m = meta.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(a)) = m.get_mut("annotations") {
        a.remove(LAST_APPLIED);
        // ESO's data-hash (and Helm's checksum/*) are unkeyed hashes of the values: never printed.
        for (k, v) in a.iter_mut() {
            let k = k.to_ascii_lowercase();
            if k.contains("hash") || k.contains("checksum") {
                *v = Value::String(crate::analysis::eso_logs::redact::MARK.to_string());
            }
        }
    }
    let writes = managed_by::management(meta).writes;
    m.remove("managedFields");
    if !writes.is_empty() {
        m.insert(
            "writers".into(),
            serde_json::to_value(&writes).unwrap_or(Value::Null),
        );
    }
    Value::Object(m)
}

fn pick(obj: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// An ExternalSecret, store or ClusterExternalSecret: kind, metadata, spec, status.
pub fn eso_object(obj: &Value) -> Value {
    let mut o = pick(obj, &["apiVersion", "kind", "spec", "status"]);
    if let Some(spec) = o.get_mut("spec") {
        blank_fake_values(spec);
    }
    o.insert("metadata".into(), metadata(&obj["metadata"]));
    Value::Object(o)
}

/// ESO's `fake` provider holds the secret values themselves in the store's spec
/// (`spec.provider.fake.data[].value`, and the deprecated `valueMap`): the keys are kept, the
/// values never (the run has not read them elsewhere, so the redaction would not know them).
fn blank_fake_values(spec: &mut Value) {
    let Some(Value::Array(entries)) = spec.pointer_mut("/provider/fake/data") else {
        return;
    };
    let mark = || Value::String(crate::analysis::eso_logs::redact::MARK.to_string());
    for entry in entries.iter_mut() {
        if let Some(v) = entry.get_mut("value") {
            *v = mark();
        }
        if let Some(Value::Object(m)) = entry.get_mut("valueMap") {
            for v in m.values_mut() {
                *v = mark();
            }
        }
    }
}

/// A Secret: its metadata and nothing else (the LIST was metadata-only anyway).
pub fn secret_metadata(obj: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata(&obj["metadata"])})
}

/// A pod: who it is and its status; never its spec.
pub fn pod_status(obj: &Value) -> Value {
    let meta = pick(
        &obj["metadata"],
        &[
            "name",
            "namespace",
            "labels",
            "ownerReferences",
            "creationTimestamp",
        ],
    );
    let status = pick(
        &obj["status"],
        &[
            "phase",
            "conditions",
            "containerStatuses",
            "startTime",
            "reason",
            "message",
        ],
    );
    json!({"metadata": meta, "status": status})
}

pub fn event(obj: &Value) -> Value {
    Value::Object(pick(
        obj,
        &[
            "involvedObject",
            "reason",
            "message",
            "type",
            "count",
            "firstTimestamp",
            "lastTimestamp",
            "eventTime",
            "source",
        ],
    ))
}

/// One thing that happened, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Happening {
    /// RFC 3339, UTC.
    pub time: String,
    pub what: String,
}

fn s<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn name_of(obj: &Value) -> String {
    let name = s(obj, "/metadata/name").unwrap_or("?");
    match s(obj, "/metadata/namespace") {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// Condition changes, refreshes, spec writes (generation), Secret updates and warning Events.
pub fn timeline(
    eso_objects: &[Value],
    secrets: &[Value],
    events: &[Value],
    r: &Redactor,
) -> Vec<Happening> {
    let mut out = Vec::new();
    for o in eso_objects {
        let kind = s(o, "/kind").unwrap_or("object");
        let who = format!("{kind} {}", name_of(o));
        for c in o
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = s(c, "/lastTransitionTime") {
                out.push(Happening {
                    time: t.into(),
                    what: format!(
                        "{who}: {}={} ({}) {}",
                        s(c, "/type").unwrap_or("?"),
                        s(c, "/status").unwrap_or("?"),
                        s(c, "/reason").unwrap_or("-"),
                        s(c, "/message").unwrap_or("")
                    ),
                });
            }
        }
        if let Some(t) = s(o, "/status/refreshTime") {
            out.push(Happening {
                time: t.into(),
                what: format!("{who}: last successful refresh"),
            });
        }
        let generation = o
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let writes = managed_by::management(&o["metadata"]).writes;
        if let Some(w) = writes
            .iter()
            .find(|w| w.manager != "external-secrets" && w.time.is_some())
        {
            out.push(Happening {
                time: w.time.clone().unwrap_or_default(),
                what: format!(
                    "{who}: spec written by {} (generation {generation})",
                    w.manager
                ),
            });
        }
    }
    for sec in secrets {
        for w in managed_by::management(&sec["metadata"]).writes {
            if let Some(t) = w.time {
                out.push(Happening {
                    time: t,
                    what: format!(
                        "Secret {}: {} by {}",
                        name_of(sec),
                        w.operation.to_lowercase(),
                        w.manager
                    ),
                });
            }
        }
    }
    for e in events.iter().filter(|e| s(e, "/type") == Some("Warning")) {
        if let Some(t) = s(e, "/lastTimestamp").or_else(|| s(e, "/eventTime")) {
            out.push(Happening {
                time: t.into(),
                what: format!(
                    "Event {} on {} {}: {}",
                    s(e, "/reason").unwrap_or("?"),
                    s(e, "/involvedObject/kind").unwrap_or("?"),
                    s(e, "/involvedObject/name").unwrap_or("?"),
                    s(e, "/message").unwrap_or("")
                ),
            });
        }
    }
    for h in &mut out {
        h.what = sanitize::line(&r.redact(&h.what));
    }
    out.sort();
    out.dedup();
    out
}

/// Lines of the timeline shown in `summary.md` (the rest are in the YAML files).
const TIMELINE_LINES: usize = 30;

fn finding_md(out: &mut String, f: &Finding) {
    out.push_str(&format!(
        "**`{}`** — {}{}: {}\n\n",
        f.code,
        f.object,
        f.field
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        f.message
    ));
    for e in &f.evidence {
        out.push_str(&format!("- {e}\n"));
    }
    if !f.affects.is_empty() {
        out.push_str(&format!("- affects: {}\n", f.affects.join(", ")));
    }
    if !f.effects.is_empty() {
        out.push_str(&format!(
            "- explains {} other finding(s)\n",
            f.effects.len()
        ));
    }
    out.push('\n');
}

/// The incident note: root cause, other causes, affected workloads, timeline, next commands.
pub fn summary(
    report: &DoctorReport,
    timeline: &[Happening],
    app_lines: &[(String, Vec<String>)],
    now: jiff::Timestamp,
    r: &Redactor,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# ESO incident evidence — {}\n\n",
        now.strftime("%Y-%m-%d %H:%M UTC")
    ));
    let scope = match &report.scope.namespace {
        Some(ns) => format!("namespace `{ns}`"),
        None => "all namespaces".to_string(),
    };
    out.push_str(&format!(
        "Collected by `kubectl eso bundle` over {scope}: {} error and {} warning finding(s). \
         No secret value is in this folder: Secrets appear by metadata only, and every line was redacted.\n\n",
        report.totals.error_findings, report.totals.warning_findings
    ));
    out.push_str("## Root cause\n\n");
    match report.findings.first() {
        Some(root) => finding_md(&mut out, root),
        None => out.push_str("No finding: every check that ran is healthy.\n\n"),
    }
    if report.findings.len() > 1 {
        out.push_str("## Other causes\n\n");
        for f in report.findings.iter().skip(1) {
            finding_md(&mut out, f);
        }
    }
    let mut affected: Vec<&String> = report
        .findings
        .iter()
        .flat_map(|f| f.affects.iter())
        .filter(|a| !a.starts_with("ExternalSecret ") && !a.starts_with("Secret "))
        .collect();
    affected.sort();
    affected.dedup();
    out.push_str("## Affected workloads\n\n");
    if affected.is_empty() {
        out.push_str("None named by the findings.\n\n");
    } else {
        for a in affected {
            out.push_str(&format!("- {a}\n"));
        }
        out.push('\n');
    }
    if !app_lines.is_empty() {
        out.push_str("## What the applications log\n\n");
        for (who, lines) in app_lines {
            out.push_str(&format!("{}:\n\n```text\n", r.redact(who)));
            for l in lines {
                out.push_str(&r.redact(l));
                out.push('\n');
            }
            out.push_str("```\n\n");
        }
    }
    out.push_str("## Timeline (UTC, oldest first)\n\n");
    if timeline.is_empty() {
        out.push_str("Nothing recorded.\n\n");
    }
    let skip = timeline.len().saturating_sub(TIMELINE_LINES);
    for h in timeline.iter().skip(skip) {
        out.push_str(&format!("- {} — {}\n", h.time, h.what));
    }
    if skip > 0 {
        out.push_str(&format!("- ({skip} earlier entries in the YAML files)\n"));
    }
    out.push_str("\n## Next commands\n\n```sh\n");
    let mut next: Vec<&String> = report.findings.iter().flat_map(|f| f.next.iter()).collect();
    next.dedup();
    for n in next.iter().take(12) {
        out.push_str(&format!("{n}\n"));
    }
    out.push_str("```\n");
    if !report.incomplete.is_empty() {
        out.push_str("\n## Not checked\n\n");
        for i in &report.incomplete {
            out.push_str(&format!("- {i}\n"));
        }
    }
    r.redact(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_secrets_keep_metadata_only_and_no_last_applied_copy() {
        let secret = json!({"metadata": {"name": "netbox-db-credentials", "namespace": "netbox",
            "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"Y2FuYXJ5\"}}", "team": "a",
                "reconcile.external-secrets.io/data-hash": "3f2a9c0e"},
            "managedFields": [{"manager": "external-secrets", "operation": "Update", "time": "2026-12-05T06:00:00Z"}]},
            "data": {"password": "Y2FuYXJ5"}});
        let kept = secret_metadata(&secret);
        let text = kept.to_string();
        assert!(
            !text.contains("Y2FuYXJ5") && !text.contains("\"data\""),
            "{text}"
        );
        assert!(!text.contains("3f2a9c0e"), "{text}");
        assert_eq!(kept["metadata"]["annotations"]["team"], "a");
        assert_eq!(
            kept["metadata"]["writers"][0]["manager"],
            "external-secrets"
        );
    }

    #[test]
    fn issue17_a_fake_provider_store_keeps_its_keys_never_its_values() {
        let store = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": "fake"},
            "spec": {"provider": {"fake": {"data": [
                {"key": "/db/password", "value": "canary-fake-value-1", "version": "v1"},
                {"key": "/db/map", "valueMap": {"user": "canary-fake-value-2"}}]}}}});
        let kept = eso_object(&store);
        let text = kept.to_string();
        assert!(!text.contains("canary-fake-value"), "{text}");
        let data = &kept["spec"]["provider"]["fake"]["data"];
        assert_eq!(data[0]["key"], "/db/password");
        assert_eq!(data[0]["version"], "v1");
        assert_eq!(data[1]["valueMap"]["user"], MARK_TEXT);
        // Near miss: another provider's spec is kept as it is.
        let vault = json!({"kind": "SecretStore", "metadata": {"name": "v"},
            "spec": {"provider": {"vault": {"server": "https://vault:8200", "path": "secret"}}}});
        assert_eq!(eso_object(&vault)["spec"], vault["spec"]);
    }

    const MARK_TEXT: &str = crate::analysis::eso_logs::redact::MARK;

    #[test]
    fn issue17_pods_keep_status_never_spec() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"env": [{"name": "PW", "value": "literal-canary"}]}]},
            "status": {"phase": "Running"}});
        let kept = pod_status(&pod);
        assert!(!kept.to_string().contains("literal-canary"));
        assert_eq!(kept["status"]["phase"], "Running");
    }

    #[test]
    fn issue17_timeline_orders_condition_changes_secret_writes_and_warnings() {
        let es = json!({"kind": "ExternalSecret", "metadata": {"name": "x", "namespace": "n", "generation": 3,
            "managedFields": [{"manager": "argocd-controller", "operation": "Apply", "time": "2026-12-04T10:00:00Z"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError",
                "message": "could not get secret data from provider", "lastTransitionTime": "2026-12-05T06:00:00Z"}]}});
        let secret = json!({"metadata": {"name": "t", "namespace": "n",
            "managedFields": [{"manager": "external-secrets", "operation": "Update", "time": "2026-12-05T05:00:00Z"}]}});
        let ev = json!({"type": "Warning", "reason": "UpdateFailed", "lastTimestamp": "2026-12-05T06:01:00Z",
            "involvedObject": {"kind": "ExternalSecret", "name": "x"}, "message": "password=hunter2hunter2"});
        let t = timeline(&[es], &[secret], &[ev], &Redactor::default());
        let times: Vec<&str> = t.iter().map(|h| h.time.as_str()).collect();
        assert_eq!(
            times,
            [
                "2026-12-04T10:00:00Z",
                "2026-12-05T05:00:00Z",
                "2026-12-05T06:00:00Z",
                "2026-12-05T06:01:00Z"
            ]
        );
        assert!(
            t[0].what
                .contains("spec written by argocd-controller (generation 3)")
        );
        assert!(!t[3].what.contains("hunter2"), "{:?}", t[3]);
    }
}
