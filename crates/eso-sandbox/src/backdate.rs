//! Makes a freshly loaded scenario look like an incident that has been going on for hours, not
//! seconds (issue 13): a sandbox loads its setup and plays its incident steps within a few
//! seconds, so every condition, Event and age said "3s". Once the sandbox has settled, every
//! time the cluster recorded is moved back, relative to when the incident steps began:
//!
//! - times recorded while the incident was played move back by [`INCIDENT_AGE`] (3h12m): the
//!   store broke, the ExternalSecret turned not Ready, the pods were replaced 3h12m ago;
//! - times recorded before it (the healthy setup) move back by [`SETUP_AGE`] (3h32m): the last
//!   successful sync of an ExternalSecret that fails now was before the incident;
//! - a Warning Event first seen during the incident keeps its real `lastTimestamp` (it is still
//!   happening) and counts at least [`OCCURRENCES`] (ESO has retried since);
//! - an ExternalSecret that is Ready last refreshed [`REFRESHED_AGO`] ago (at most half its
//!   `refreshInterval`, so it is never stale): ESO keeps refreshing it — unless ESO's controller
//!   is scaled to zero, when nothing refreshed since the setup. Minutes, not seconds,
//!   so the ages printed are the same for a minute (snapshot tests rely on it).
//!
//! Only `metadata.creationTimestamp`, `metadata.managedFields[].time`, times under `status` and
//! an Event's own times move; specs, labels and annotations are left alone, so no controller
//! sees a change. Deterministic relative to the moment the incident began.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// How long ago the incident began.
pub const INCIDENT_AGE: SignedDuration = SignedDuration::from_secs(3 * 3600 + 12 * 60);
/// How long ago the healthy setup was recorded (20 minutes before the incident).
pub const SETUP_AGE: SignedDuration = SignedDuration::from_secs(3 * 3600 + 32 * 60);
/// How long ago a Ready ExternalSecret last refreshed (see the module notes).
pub const REFRESHED_AGO: SignedDuration = SignedDuration::from_secs(25 * 60);
/// How many times a failure recorded during the incident has been seen.
pub const OCCURRENCES: i64 = 17;

/// When the incident steps began; `None` for a scenario without incident (all setup).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub incident_began: Option<Timestamp>,
    /// Objects not Ready once settled (`Kind/namespace/name`, see [`failing_key`]). In a scenario
    /// without incident steps (broken from the start, like a misspelt key) their Warning Events
    /// are the ongoing incident: otherwise they would count however many retries the controller
    /// happened to make while the sandbox settled (x2 or x3: snapshots would flicker).
    pub failing: std::collections::BTreeSet<String>,
    /// ESO's controller is scaled to zero: no ExternalSecret refreshed since the setup, so a Ready
    /// one's `refreshTime` moves back like every other time (it is stale).
    pub controller_down: bool,
}

/// `Kind/namespace/name` of an object whose Ready condition is False.
pub fn failing_key(obj: &Value) -> Option<String> {
    let not_ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "False");
    not_ready.then(|| {
        key(
            &obj["kind"],
            &obj["metadata"]["namespace"],
            &obj["metadata"]["name"],
        )
    })
}

fn key(kind: &Value, namespace: &Value, name: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    format!("{}/{}/{}", s(kind), s(namespace), s(name))
}

impl Plan {
    fn in_incident(&self, t: Timestamp) -> bool {
        self.incident_began.is_some_and(|b| t >= b)
    }

    fn shift(&self, t: Timestamp) -> Timestamp {
        let back = if self.in_incident(t) {
            INCIDENT_AGE
        } else {
            SETUP_AGE
        };
        t.checked_sub(back).unwrap_or(t)
    }
}

/// An RFC 3339 time as the API server writes them (`...Z`, optionally with fractions).
fn parse(s: &str) -> Option<Timestamp> {
    let looks = s.len() >= 20 && s.len() <= 35 && s.ends_with('Z') && s.as_bytes()[10] == b'T';
    if !looks {
        return None;
    }
    s.parse().ok()
}

fn format_like(original: &str, t: Timestamp) -> String {
    if original.contains('.') {
        t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// Moves one time field back; true when it changed.
fn shift_field(v: &mut Value, plan: &Plan) -> bool {
    let Some(s) = v.as_str() else {
        return false;
    };
    let Some(t) = parse(s) else {
        return false;
    };
    let moved = format_like(s, plan.shift(t));
    *v = Value::String(moved);
    true
}

/// Every time string under `v` (a status subtree), except the object keys named in `keep`.
fn shift_all(v: &mut Value, plan: &Plan, keep: &[&str]) -> bool {
    match v {
        Value::String(_) => shift_field(v, plan),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, i| shift_all(i, plan, keep) | c),
        Value::Object(map) => map
            .iter_mut()
            .filter(|(k, _)| !keep.contains(&k.as_str()))
            .fold(false, |c, (_, i)| shift_all(i, plan, keep) | c),
        _ => false,
    }
}

fn ready_true(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Back-dates one object as the module notes say; true when anything changed.
pub fn backdate(obj: &mut Value, plan: &Plan) -> bool {
    let mut changed = false;
    if let Some(c) = obj.pointer_mut("/metadata/creationTimestamp") {
        changed |= shift_field(c, plan);
    }
    if let Some(fields) = obj
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for f in fields {
            if let Some(t) = f.get_mut("time") {
                changed |= shift_field(t, plan);
            }
        }
    }
    if obj["kind"] == "Event" {
        return backdate_event(obj, plan) | changed;
    }
    // Held back by a closed sync window (issue 14), ESO does not keep refreshing it: its last
    // refresh moves back with the rest of the history.
    let refreshing = obj["kind"] == "ExternalSecret"
        && ready_true(obj)
        && !plan.controller_down
        && crate::eso::sync_window::periodic_refresh_allowed(obj, Timestamp::now());
    let interval = obj
        .pointer("/spec/refreshInterval")
        .and_then(Value::as_str)
        .map(simple_duration);
    let keep: &[&str] = if refreshing { &["refreshTime"] } else { &[] };
    if let Some(status) = obj.get_mut("status") {
        changed |= shift_all(status, plan, keep);
        if refreshing && let Some(t) = status.get_mut("refreshTime") {
            // The default refreshInterval is 1h; 0 (never refresh) leaves the time as it is.
            let half = interval.unwrap_or(Some(3600)).unwrap_or(0) / 2;
            let back = REFRESHED_AGO.min(SignedDuration::from_secs(half));
            if let Some(at) = t.as_str().and_then(parse) {
                let moved = at.checked_sub(back).unwrap_or(at);
                *t = Value::String(format_like(t.as_str().unwrap_or_default(), moved));
                changed = true;
            }
        }
    }
    changed
}

/// Seconds in a Go duration made of `h`, `m` and `s` parts (`1h`, `15m`, `1h0m0s`); `None`
/// otherwise.
fn simple_duration(s: &str) -> Option<i64> {
    let (mut total, mut n) = (0i64, String::new());
    for c in s.chars() {
        match c {
            '0'..='9' => n.push(c),
            'h' | 'm' | 's' => {
                let v: i64 = n.parse().ok()?;
                total += v * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                n.clear();
            }
            _ => return None,
        }
    }
    n.is_empty().then_some(total)
}

fn backdate_event(ev: &mut Value, plan: &Plan) -> bool {
    let first = ev
        .get("firstTimestamp")
        .and_then(Value::as_str)
        .or_else(|| ev.get("eventTime").and_then(Value::as_str))
        .and_then(parse);
    let involved = &ev["involvedObject"];
    let about_failing = plan.incident_began.is_none()
        && plan.failing.contains(&key(
            &involved["kind"],
            &involved["namespace"],
            &involved["name"],
        ));
    let ongoing =
        ev["type"] == "Warning" && (about_failing || first.is_some_and(|t| plan.in_incident(t)));
    let mut changed = false;
    for key in ["firstTimestamp", "eventTime"] {
        if let Some(t) = ev.get_mut(key) {
            changed |= shift_field(t, plan);
        }
    }
    if ongoing {
        let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
        ev["count"] = Value::from(count.max(OCCURRENCES));
        changed = true;
    } else if let Some(t) = ev.get_mut("lastTimestamp") {
        changed |= shift_field(t, plan);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn plan() -> Plan {
        Plan {
            incident_began: Some(at("2026-12-05T06:00:10Z")),
            ..Plan::default()
        }
    }

    #[test]
    fn issue_13_incident_times_move_back_three_hours_and_setup_further() {
        let mut es = json!({
            "kind": "ExternalSecret",
            "metadata": {"creationTimestamp": "2026-12-05T06:00:02Z",
                         "managedFields": [{"time": "2026-12-05T06:00:12Z"}],
                         "annotations": {"at": "2026-12-05T06:00:12Z"}},
            "spec": {"refreshInterval": "1h"},
            "status": {"refreshTime": "2026-12-05T06:00:03Z",
                       "conditions": [{"type": "Ready", "status": "False",
                                       "lastTransitionTime": "2026-12-05T06:00:12Z"}]},
        });
        assert!(backdate(&mut es, &plan()));
        assert_eq!(es["metadata"]["creationTimestamp"], "2026-12-05T02:28:02Z");
        assert_eq!(
            es["metadata"]["managedFields"][0]["time"],
            "2026-12-05T02:48:12Z"
        );
        assert_eq!(
            es["status"]["conditions"][0]["lastTransitionTime"],
            "2026-12-05T02:48:12Z"
        );
        assert_eq!(es["status"]["refreshTime"], "2026-12-05T02:28:03Z");
        // Near miss: annotations and specs are not times the cluster recorded.
        assert_eq!(es["metadata"]["annotations"]["at"], "2026-12-05T06:00:12Z");
    }

    #[test]
    fn issue_13_a_ready_external_secret_keeps_refreshing() {
        let mut es = json!({
            "kind": "ExternalSecret",
            "status": {"refreshTime": "2026-12-05T06:00:03Z",
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-12-05T06:00:03Z"}]},
        });
        backdate(&mut es, &plan());
        assert_eq!(es["status"]["refreshTime"], "2026-12-05T05:35:03Z");
        assert_eq!(
            es["status"]["conditions"][0]["lastTransitionTime"],
            "2026-12-05T02:28:03Z"
        );
        // Near miss: a short interval is never made stale.
        let mut short = json!({
            "kind": "ExternalSecret", "spec": {"refreshInterval": "10m"},
            "status": {"refreshTime": "2026-12-05T06:00:03Z",
                       "conditions": [{"type": "Ready", "status": "True"}]},
        });
        backdate(&mut short, &plan());
        assert_eq!(short["status"]["refreshTime"], "2026-12-05T05:55:03Z");
        // Issue 12: with ESO's controller scaled to zero nothing refreshed since the setup.
        let mut stopped = json!({
            "kind": "ExternalSecret",
            "status": {"refreshTime": "2026-12-05T06:00:03Z",
                       "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let down = Plan {
            controller_down: true,
            ..plan()
        };
        backdate(&mut stopped, &down);
        assert_eq!(stopped["status"]["refreshTime"], "2026-12-05T02:28:03Z");
    }

    #[test]
    fn issue_13_an_ongoing_warning_counts_seventeen_and_is_still_seen_now() {
        let mut ev = json!({
            "kind": "Event", "type": "Warning", "count": 2,
            "metadata": {"creationTimestamp": "2026-12-05T06:00:11Z"},
            "firstTimestamp": "2026-12-05T06:00:11Z",
            "lastTimestamp": "2026-12-05T06:00:14Z",
        });
        backdate(&mut ev, &plan());
        assert_eq!(ev["count"], 17);
        assert_eq!(ev["firstTimestamp"], "2026-12-05T02:48:11Z");
        assert_eq!(ev["lastTimestamp"], "2026-12-05T06:00:14Z");
        // Near misses: a Normal event and a setup-time Warning only move back.
        for (kind, first) in [
            ("Normal", "2026-12-05T06:00:11Z"),
            ("Warning", "2026-12-05T06:00:01Z"),
        ] {
            let mut ev = json!({"kind": "Event", "type": kind, "count": 1,
                                "firstTimestamp": first, "lastTimestamp": first});
            backdate(&mut ev, &plan());
            assert_eq!(ev["count"], 1, "{ev}");
            assert_ne!(ev["lastTimestamp"], first, "{ev}");
        }
    }

    #[test]
    fn issue_13_without_incident_everything_is_setup_and_fractions_are_kept() {
        let p = Plan::default();
        let mut pod = json!({"kind": "Pod", "status": {"startTime": "2026-12-05T06:00:11.123456Z",
                                                       "phase": "Running"}});
        backdate(&mut pod, &p);
        assert_eq!(pod["status"]["startTime"], "2026-12-05T02:28:11.123456Z");
        assert_eq!(pod["status"]["phase"], "Running");
    }

    #[test]
    fn issue_13_broken_from_the_start_its_warnings_are_ongoing() {
        let es = json!({"kind": "ExternalSecret",
                        "metadata": {"namespace": "netbox", "name": "db"},
                        "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let failing: std::collections::BTreeSet<String> = failing_key(&es).into_iter().collect();
        let p = Plan {
            incident_began: None,
            failing,
            controller_down: false,
        };
        let event = |name: &str| {
            json!({"kind": "Event", "type": "Warning", "count": 2,
                   "involvedObject": {"kind": "ExternalSecret", "namespace": "netbox", "name": name},
                   "firstTimestamp": "2026-12-05T06:00:11Z",
                   "lastTimestamp": "2026-12-05T06:00:14Z"})
        };
        let mut ev = event("db");
        backdate(&mut ev, &p);
        assert_eq!(ev["count"], 17);
        assert_eq!(ev["firstTimestamp"], "2026-12-05T02:28:11Z");
        assert_eq!(ev["lastTimestamp"], "2026-12-05T06:00:14Z");
        // Near misses: a Ready object's old Warning, and a scenario with incident steps, where
        // only what the incident recorded is ongoing.
        let mut other = event("ready-one");
        backdate(&mut other, &p);
        assert_eq!(other["count"], 2);
        let with_incident = Plan {
            incident_began: Some(at("2026-12-05T06:00:20Z")),
            failing: p.failing.clone(),
            controller_down: false,
        };
        let mut ev = event("db");
        backdate(&mut ev, &with_incident);
        assert_eq!(ev["count"], 2);
        // Near miss: a Ready object is not failing.
        let ok = json!({"kind": "ExternalSecret", "metadata": {"name": "x"},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(failing_key(&ok), None);
    }
}
