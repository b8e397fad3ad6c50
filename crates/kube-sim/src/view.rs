//! How a stored object is shown to a client: in the API version the client asked for, and for
//! events.k8s.io/v1 as a renamed view of the core/v1 Event it really is (README table of renames).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use crate::store::Stored;

/// core/v1 Event field -> events.k8s.io/v1 Event field.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(v: &Value, forward: bool, api_version: &str) -> Value {
    let Some(map) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in map {
        let renamed = EVENT_RENAMES
            .iter()
            .find(|(core, new)| if forward { core == k } else { new == k })
            .map(|(core, new)| if forward { *new } else { *core })
            .unwrap_or(k.as_str());
        if forward
            && (renamed == "reportingInstance" || renamed == "reportingController")
            && val == &json!("")
        {
            continue;
        }
        out.insert(renamed.to_string(), val.clone());
    }
    out.insert("apiVersion".into(), json!(api_version));
    Value::Object(out)
}

/// A core/v1 Event as events.k8s.io/v1 shows it.
pub fn event_to_new(core: &Value) -> Value {
    rename(core, true, "events.k8s.io/v1")
}

/// An events.k8s.io/v1 Event as core/v1 stores it.
pub fn event_to_core(new: &Value) -> Value {
    rename(new, false, "v1")
}

/// The type as the client addressed it, and where its objects really live.
#[derive(Clone)]
pub struct View {
    pub rt: Arc<ResourceType>,
    pub storage: Arc<ResourceType>,
    pub version: String,
}

impl View {
    pub fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }

    pub fn is_alias(&self) -> bool {
        self.rt.storage_alias.is_some()
    }

    pub fn storage_gr(&self) -> String {
        self.storage.gr()
    }

    /// The object as this client sees it.
    pub fn object(&self, s: &Stored) -> Value {
        if self.is_alias() {
            return event_to_new(&s.value());
        }
        let mut v = s.value();
        v["apiVersion"] = json!(self.api_version());
        v
    }

    /// Append the object's JSON; `with_type` false gives the built-in list item form (no kind/apiVersion).
    pub fn write_object(&self, s: &Stored, out: &mut Vec<u8>, with_type: bool) {
        if self.is_alias() {
            let mut v = event_to_new(&s.value());
            if !with_type && let Some(m) = v.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
            return;
        }
        let av = self.api_version();
        s.write_json(
            out,
            with_type.then_some((av.as_str(), self.rt.kind.as_str())),
        );
    }

    /// A request body in this view, turned into what the storage type holds.
    pub fn to_storage(&self, v: Value) -> Value {
        if self.is_alias() {
            event_to_core(&v)
        } else {
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_fields_are_renamed_both_ways() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "involvedObject": {"uid": "u"}, "message": "m",
            "count": 7, "reportingComponent": "external-secrets", "reportingInstance": "", "eventTime": null});
        let new = event_to_new(&core);
        assert_eq!(new["regarding"]["uid"], "u");
        assert_eq!(new["note"], "m");
        assert_eq!(new["deprecatedCount"], 7);
        assert_eq!(new["reportingController"], "external-secrets");
        assert!(new.get("reportingInstance").is_none());
        assert!(new.get("eventTime").is_some());
        let back = event_to_core(&new);
        assert_eq!(back["involvedObject"]["uid"], "u");
        assert_eq!(back["apiVersion"], "v1");
    }
}
