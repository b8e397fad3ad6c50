//! Fault injection that tests switch on per resource (by plural): added latency, 429 with Retry-After,
//! 500, and watches that drop after N events — the failure modes a real cluster produces under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Latency(Duration),
    TooManyRequests {
        retry_after_secs: u64,
    },
    InternalError,
    DropWatchAfter(usize),
    /// 403 for every request on the resource, whoever asks (RBAC says yes, this says no).
    Forbidden,
}

/// How long `hang` holds a request: longer than any client waits.
pub const HANG: Duration = Duration::from_secs(3600);

/// Reads a fault from the command line (`kubectl eso sandbox --fault RESOURCE=FAULT`), so the real
/// binary can be tried against a misbehaving apiserver from outside the process:
/// `externalsecrets=429` (Retry-After 1 s) or `=429:SECS`, `=403`, `=500`, `=hang`,
/// `=latency:DURATION` (`250ms`, `2s`), `=drop-watch:N` (end each watch after N events).
pub fn parse_fault(spec: &str) -> Result<(String, Fault), String> {
    let usage = || {
        format!(
            "fault {spec:?}: expected RESOURCE=FAULT with FAULT one of 403, 429, 429:SECS, 500, \
             hang, latency:DURATION, drop-watch:N (e.g. externalsecrets=429)"
        )
    };
    let (resource, fault) = spec.split_once('=').ok_or_else(usage)?;
    let resource = resource.trim();
    if resource.is_empty() || !resource.chars().all(|c| c.is_ascii_lowercase() || c == '.') {
        return Err(usage());
    }
    let (kind, arg) = match fault.trim().split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (fault.trim(), None),
    };
    let fault = match (kind, arg) {
        ("403", None) => Fault::Forbidden,
        ("500", None) => Fault::InternalError,
        ("429", None) => Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        ("429", Some(secs)) => Fault::TooManyRequests {
            retry_after_secs: secs.parse().map_err(|_| usage())?,
        },
        ("hang", None) => Fault::Latency(HANG),
        ("latency", Some(d)) => Fault::Latency(parse_short_duration(d).ok_or_else(usage)?),
        ("drop-watch", Some(n)) => Fault::DropWatchAfter(n.parse().map_err(|_| usage())?),
        _ => return Err(usage()),
    };
    Ok((resource.to_string(), fault))
}

/// `250ms`, `2s` or `1m`, at most an hour.
fn parse_short_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (d <= HANG).then_some(d)
}

/// Cheaply cloneable switchboard shared with the server. Several faults of different kinds can be
/// active on one resource; setting a fault replaces one of the same kind.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<HashMap<String, Vec<Fault>>>>,
}

impl Faults {
    pub fn set(&self, resource_plural: &str, fault: Fault) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(resource_plural.to_string()).or_default();
        list.retain(|f| std::mem::discriminant(f) != std::mem::discriminant(&fault));
        list.push(fault);
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Removes every fault on one resource.
    pub fn clear_resource(&self, resource_plural: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(resource_plural);
    }

    /// The active faults by resource, sorted, for the sandbox's admin endpoint.
    pub fn active(&self) -> Vec<(String, Vec<Fault>)> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, Vec<Fault>)> = map
            .iter()
            .filter(|(_, f)| !f.is_empty())
            .map(|(r, f)| (r.clone(), f.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn for_resource(&self, resource_plural: &str) -> Vec<Fault> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(resource_plural)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_18_faults_read_from_the_command_line() {
        let ok = |s: &str| parse_fault(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok("externalsecrets=403"),
            ("externalsecrets".into(), Fault::Forbidden)
        );
        assert_eq!(
            ok("events=429:7"),
            (
                "events".into(),
                Fault::TooManyRequests {
                    retry_after_secs: 7
                }
            )
        );
        assert_eq!(ok("secrets=500").1, Fault::InternalError);
        assert_eq!(ok("secrets=hang").1, Fault::Latency(HANG));
        assert_eq!(
            ok("secrets=latency:250ms").1,
            Fault::Latency(Duration::from_millis(250))
        );
        assert_eq!(
            ok("externalsecrets=drop-watch:3").1,
            Fault::DropWatchAfter(3)
        );
        for bad in [
            "",
            "=403",
            "secrets",
            "secrets=404",
            "secrets=latency:2h",
            "Secrets=403",
            "s=429:x",
        ] {
            assert!(parse_fault(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_replaces_same_kind_and_clear_empties() {
        let f = Faults::default();
        f.set("secrets", Fault::InternalError);
        f.set("secrets", Fault::Latency(Duration::from_millis(5)));
        f.set("secrets", Fault::Latency(Duration::from_millis(9)));
        assert_eq!(
            f.for_resource("secrets"),
            vec![
                Fault::InternalError,
                Fault::Latency(Duration::from_millis(9))
            ]
        );
        assert!(f.for_resource("pods").is_empty());
        f.clear();
        assert!(f.for_resource("secrets").is_empty());
    }
}
