//! Fault injection that tests switch on per resource (by plural): added latency, 429 with Retry-After,
//! 500, and watches that drop after N events — the failure modes a real cluster produces under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Latency(Duration),
    TooManyRequests { retry_after_secs: u64 },
    InternalError,
    DropWatchAfter(usize),
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
