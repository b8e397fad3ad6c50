//! Each LIST page reduced as it arrives (issue 16): the objects `scope`, `doctor` and the chain
//! findings read over a whole cluster keep only the fields their diagnosis reads, so memory
//! follows what is diagnosed, not what the API server sends (managedFields, the last-applied
//! annotation, labels, unused spec). The facts snapshot stays the one input to diagnosis, in the
//! model's types (Secrets, one per ExternalSecret, in the compact `SecretMeta`); these functions
//! only decide what of each object stays in it.
//!
//! What is read, and therefore kept:
//! - ExternalSecrets, stores and ClusterExternalSecrets: name, namespace, uid, ownerReferences,
//!   creationTimestamp and annotations (force-sync's own, Argo CD's tracking id, Helm's release)
//!   besides their (already compact) spec and status; of the labels only those that name who
//!   manages the object, and of managedFields only each entry's manager, operation and time
//!   (`analysis::eso_logs::managed_by`, issue 17); never fieldsV1 or the last-applied annotation.
//! - Secrets (metadata only): namespace, name, each ownerReference's kind, name, uid and
//!   controller flag, when the data last changed (the newest managedFields time, else the
//!   creation, `analysis::consumers::last_changed`) and Stakater Reloader's annotations, in the
//!   compact `model::scope::SecretMeta`.
//! - Events: what `analysis::scope` and `analysis::since` read — involvedObject, reason, message,
//!   type, count, series, the three timestamps and the creation time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};
use kube::core::PartialObjectMeta;
use serde::Deserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::model::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};
use crate::model::scope::{Owner, SecretMeta, SharedStrings};

/// `kubectl apply`'s copy of the whole object: never read, often the biggest field.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Set only by `tests/issue16_reduction.rs`: every object is kept whole, as before issue 16.
static KEEP_WHOLE: AtomicBool = AtomicBool::new(false);

/// For the test that proves the reduction loses nothing users see (`tests/issue16_reduction.rs`
/// runs each command both ways in one process and compares the bytes); no command sets it.
#[doc(hidden)]
pub fn keep_whole_objects(on: bool) {
    KEEP_WHOLE.store(on, Ordering::Relaxed);
}

/// Whether objects are reduced (always, except in that test).
pub fn reducing() -> bool {
    !KEEP_WHOLE.load(Ordering::Relaxed)
}

/// The labels that say who manages an object (`analysis::eso_logs::managed_by`): Argo CD's
/// instance, Flux's Kustomization and HelmRelease, Helm's managed-by.
fn management_label(key: &str) -> bool {
    key == "argocd.argoproj.io/instance"
        || key == "app.kubernetes.io/managed-by"
        || key.starts_with("kustomize.toolkit.fluxcd.io/")
        || key.starts_with("helm.toolkit.fluxcd.io/")
}

/// The metadata every diagnosis reads: identity, owners, creation time, annotations (without
/// kubectl's last-applied copy), the management labels and who wrote the object when (each
/// managedFields entry without its field set).
pub fn meta(m: ObjectMeta) -> ObjectMeta {
    WireMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        owner_references: m.owner_references,
        creation_timestamp: m.creation_timestamp,
        annotations: m.annotations.map(|mut a| {
            a.remove(LAST_APPLIED);
            a
        }),
        labels: m.labels.map(|mut l| {
            l.retain(|k, _| management_label(k));
            l
        }),
        managed_fields: m.managed_fields.map(|entries| {
            entries
                .into_iter()
                .map(|e| WireManagedField {
                    manager: e.manager,
                    operation: e.operation,
                    time: e.time,
                })
                .collect()
        }),
    }
    .into_meta()
}

/// An object with a `metadata` field reduced by [`meta`], its lists cut to their length.
pub fn with_meta<K: HasMeta>(mut obj: K) -> Option<K> {
    if !reducing() {
        return Some(obj);
    }
    let m = std::mem::take(obj.meta_mut());
    *obj.meta_mut() = meta(m);
    obj.shrink();
    Some(obj)
}

/// An ExternalSecret of a LIST decoded straight into what [`with_meta`] keeps of it (issue 16): on
/// a real cluster most of an ExternalSecret's bytes are its metadata — managedFields with their
/// field sets, kubectl's last-applied copy — which a whole `ObjectMeta` builds only for
/// [`meta`] to drop. [`WireMeta`] keeps what [`meta`] keeps and skips the rest unread; the result
/// is what [`with_meta`] gives (tested against it).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct WireExternalSecret {
    metadata: WireMeta,
    spec: crate::model::eso::ExternalSecretSpec,
    status: crate::model::eso::ExternalSecretStatus,
}

impl WireExternalSecret {
    /// The ExternalSecret [`with_meta`] would give.
    pub fn into_reduced(self) -> Option<ExternalSecret> {
        let mut es = ExternalSecret {
            metadata: self.metadata.into_meta(),
            spec: self.spec,
            status: self.status,
        };
        es.shrink();
        Some(es)
    }
}

/// What [`meta`] keeps of an object's metadata, decoded without the rest.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    creation_timestamp: Option<Time>,
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "management_labels")]
    labels: Option<BTreeMap<String, String>>,
    managed_fields: Option<Vec<WireManagedField>>,
}

/// A managedFields entry without its field set.
#[derive(Debug, serde::Deserialize)]
struct WireManagedField {
    manager: Option<String>,
    operation: Option<String>,
    time: Option<Time>,
}

impl WireMeta {
    fn into_meta(self) -> ObjectMeta {
        let managed_fields = self.managed_fields.map(|entries| {
            entries
                .into_iter()
                .map(|e| ManagedFieldsEntry {
                    manager: e.manager,
                    operation: e.operation,
                    time: e.time,
                    ..ManagedFieldsEntry::default()
                })
                .collect::<Vec<_>>()
        });
        ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            owner_references: self.owner_references,
            creation_timestamp: self.creation_timestamp,
            annotations: self.annotations.filter(|a| !a.is_empty()),
            labels: self.labels.filter(|l| !l.is_empty()),
            managed_fields: managed_fields.filter(|m| !m.is_empty()),
            ..ObjectMeta::default()
        }
    }
}

/// A string-to-string map of which only the entries whose key `keep` accepts are built; the
/// others' values are skipped unread.
fn filtered_map<'de, D: Deserializer<'de>>(
    d: D,
    keep: fn(&str) -> bool,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Entries(fn(&str) -> bool);
    /// A key, copied only when kept.
    struct Key(Option<String>);
    struct KeySeed(fn(&str) -> bool);
    impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
        type Value = Key;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl Visitor<'_> for KeySeed {
        type Value = Key;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E>(self, key: &str) -> Result<Key, E> {
            Ok(Key((self.0)(key).then(|| key.to_string())))
        }
    }
    impl<'de> Visitor<'de> for Entries {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of strings")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(Key(key)) = map.next_key_seed(KeySeed(self.0))? {
                match key {
                    Some(key) => {
                        kept.insert(key, map.next_value::<String>()?);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Some(kept))
        }
    }
    d.deserialize_option(Entries(keep))
}

fn kept_annotations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    filtered_map(d, |key| key != LAST_APPLIED)
}

fn management_labels<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    filtered_map(d, management_label)
}

/// The model types listed cluster-wide.
pub trait HasMeta {
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Lists deserialized from JSON start at a capacity of four (serde_json gives no length):
    /// most hold one entry, so each is cut to its length.
    fn shrink(&mut self) {}
}

fn shrink_meta(m: &mut ObjectMeta) {
    if let Some(o) = m.owner_references.as_mut() {
        o.shrink_to_fit();
    }
}

impl HasMeta for ExternalSecret {
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn shrink(&mut self) {
        shrink_meta(&mut self.metadata);
        self.spec.data.shrink_to_fit();
        self.spec.data_from.shrink_to_fit();
        self.status.conditions.shrink_to_fit();
    }
}

impl HasMeta for SecretStore {
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn shrink(&mut self) {
        shrink_meta(&mut self.metadata);
        self.status.conditions.shrink_to_fit();
    }
}

impl HasMeta for ClusterExternalSecret {
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A Secret's metadata as scope and doctor read it: where it is, who owns it and when its data
/// last changed, in the compact [`SecretMeta`] (namespaces and owner kinds shared through
/// `shared`). Always compact, also when objects are kept whole: it holds everything read.
pub fn secret_meta(m: PartialObjectMeta<Secret>, shared: &mut SharedStrings) -> Option<SecretMeta> {
    SecretMeta::from_meta(&m.metadata, shared)
}

/// One item of a Secrets `PartialObjectMetadataList` decoded straight into what [`secret_meta`]
/// reads (issue 16): a whole `ObjectMeta` costs, per Secret, a map for its labels and annotations
/// and a JSON tree for each managedFields entry's field set — built only to be dropped, on the
/// stream the page-fetch limit waits for. The rest of each item is skipped unread. Decoding fails
/// where the whole `ObjectMeta` would on what is read (a time that is not one, a name that is not
/// a string), and [`WireSecret::into_meta`] gives what [`secret_meta`] gives for the same item
/// (tested against it).
#[derive(Debug, Default, serde::Deserialize)]
pub struct WireSecret {
    #[serde(default)]
    metadata: WireSecretMeta,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSecretMeta {
    name: Option<String>,
    namespace: Option<String>,
    creation_timestamp: Option<Time>,
    owner_references: Option<Vec<WireOwner>>,
    /// Only Stakater Reloader's (`SecretMeta::annotations`).
    #[serde(default, deserialize_with = "reloader_annotations")]
    annotations: BTreeMap<String, String>,
    /// Each entry's time only (`analysis::consumers::last_changed` reads the newest).
    managed_fields: Option<Vec<WireWrite>>,
}

/// As `OwnerReference` reads them: a missing or null kind, name or uid is empty.
#[derive(Debug, serde::Deserialize)]
struct WireOwner {
    kind: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    controller: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
struct WireWrite {
    time: Option<Time>,
}

fn reloader_annotations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let kept = filtered_map(d, |key| {
        key.starts_with(crate::model::scope::RELOADER_ANNOTATIONS)
    })?;
    Ok(kept.unwrap_or_default())
}

impl WireSecret {
    /// What [`secret_meta`] keeps of the same item.
    pub fn into_meta(self, shared: &mut SharedStrings) -> Option<SecretMeta> {
        let m = self.metadata;
        Some(SecretMeta {
            namespace: shared.get(m.namespace.as_deref()?),
            name: m.name?.into_boxed_str(),
            owners: m
                .owner_references
                .into_iter()
                .flatten()
                .map(|o| {
                    let kind = o.kind.as_deref().unwrap_or_default();
                    let (name, uid) = (o.name.unwrap_or_default(), o.uid.unwrap_or_default());
                    Owner::new(shared, kind, name, uid, o.controller)
                })
                .collect(),
            // As `analysis::consumers::last_changed`: the newest write, else the creation.
            last_changed: m
                .managed_fields
                .into_iter()
                .flatten()
                .filter_map(|w| w.time.map(|t| t.0))
                .max()
                .or(m.creation_timestamp.map(|t| t.0)),
            annotations: SecretMeta::reloader(m.annotations),
        })
    }
}

/// An Event as scope's analysis reads it (see the module comment).
pub fn event(ev: Event) -> Option<Event> {
    if !reducing() {
        return Some(ev);
    }
    Some(Event {
        metadata: ObjectMeta {
            name: ev.metadata.name,
            namespace: ev.metadata.namespace,
            creation_timestamp: ev.metadata.creation_timestamp,
            ..ObjectMeta::default()
        },
        involved_object: ev.involved_object,
        reason: ev.reason,
        message: ev.message,
        type_: ev.type_,
        count: ev.count,
        series: ev.series,
        first_timestamp: ev.first_timestamp,
        last_timestamp: ev.last_timestamp,
        event_time: ev.event_time,
        ..Event::default()
    })
}

/// An Event of a LIST decoded straight into what [`event`] keeps of it (issue 16): in an outage
/// there is an Event for each failing ExternalSecret, and a whole `Event` builds its metadata
/// (managedFields with their field sets), `source`, `related` and the reporting fields only for
/// [`event`] to drop. What is kept is decoded as the whole `Event` decodes it (a null
/// `involvedObject` or `metadata` is an empty one); the rest is skipped unread. An `apiVersion`
/// or `kind` that is not an Event's is refused, as the whole decoding refuses it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEvent {
    #[serde(rename = "apiVersion", default, deserialize_with = "event_api_version")]
    _api_version: (),
    #[serde(rename = "kind", default, deserialize_with = "event_kind")]
    _kind: (),
    metadata: Option<WireEventMeta>,
    involved_object: Option<k8s_openapi::api::core::v1::ObjectReference>,
    reason: Option<String>,
    message: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    count: Option<i32>,
    series: Option<k8s_openapi::api::core::v1::EventSeries>,
    first_timestamp: Option<Time>,
    last_timestamp: Option<Time>,
    event_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEventMeta {
    name: Option<String>,
    namespace: Option<String>,
    creation_timestamp: Option<Time>,
}

/// A string field that must be `expected`, as k8s-openapi checks an object's apiVersion and kind.
fn must_be<'de, D: Deserializer<'de>>(d: D, expected: &'static str) -> Result<(), D::Error> {
    let got = <String as serde::Deserialize>::deserialize(d)?;
    if got == expected {
        Ok(())
    } else {
        Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(&got),
            &expected,
        ))
    }
}

fn event_api_version<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    must_be(d, <Event as k8s_openapi::Resource>::API_VERSION)
}

fn event_kind<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    must_be(d, <Event as k8s_openapi::Resource>::KIND)
}

impl WireEvent {
    /// The Event [`event`] would give.
    pub fn into_event(self) -> Option<Event> {
        let m = self.metadata.unwrap_or_default();
        Some(Event {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                creation_timestamp: m.creation_timestamp,
                ..ObjectMeta::default()
            },
            involved_object: self.involved_object.unwrap_or_default(),
            reason: self.reason,
            message: self.message,
            type_: self.type_,
            count: self.count,
            series: self.series,
            first_timestamp: self.first_timestamp,
            last_timestamp: self.last_timestamp,
            event_time: self.event_time,
            ..Event::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::consumers::last_changed;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        match serde_json::from_value(v) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn issue16_secret_metadata_keeps_what_is_read_and_the_last_write() {
        let full: PartialObjectMeta<Secret> = from(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {
                "name": "db", "namespace": "prod", "uid": "u1", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"reconcile.external-secrets.io/managed": "true"},
                "annotations": {LAST_APPLIED: "{\"big\":true}", "reloader.stakater.com/match": "true"},
                "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                     "name": "db", "uid": "es1", "controller": true}],
                "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "time": "2026-01-02T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}},
                    {"manager": "external-secrets", "operation": "Update", "time": "2026-01-03T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:password": {}}}},
                    {"manager": "old", "operation": "Update", "time": "2026-01-01T12:00:00Z"},
                ],
            },
        }));
        let before = last_changed(&full.metadata);
        let mut shared = SharedStrings::default();
        let Some(slim) = secret_meta(full, &mut shared) else {
            panic!("a Secret is never dropped")
        };
        assert_eq!(slim.last_changed, before);
        assert_eq!(
            before.map(|t| t.to_string()).as_deref(),
            Some("2026-01-03T00:00:00Z")
        );
        assert_eq!((&*slim.namespace, &*slim.name), ("prod", "db"));
        assert_eq!(slim.owners.len(), 1);
        let owner = &slim.owners[0];
        assert_eq!(
            (&*owner.kind, &*owner.name, &*owner.uid),
            ("ExternalSecret", "db", "es1")
        );
        assert!(owner.controller);
        // Of the annotations only Stakater Reloader's are read (`consumers::reloader_restarts`).
        let annotations = slim.annotations.as_deref().cloned().unwrap_or_default();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["reloader.stakater.com/match"]
        );
    }

    #[test]
    fn issue16_secret_metadata_shares_namespaces_and_owner_kinds() {
        let mut shared = SharedStrings::default();
        let slim: Vec<SecretMeta> = ["a", "b"]
            .into_iter()
            .filter_map(|name| {
                let m: PartialObjectMeta<Secret> = from(json!({"metadata": {
                    "name": name, "namespace": "prod",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "ExternalSecret", "name": name, "uid": name}],
                }}));
                secret_meta(m, &mut shared)
            })
            .collect();
        assert_eq!(slim.len(), 2);
        assert!(std::sync::Arc::ptr_eq(
            &slim[0].namespace,
            &slim[1].namespace
        ));
        assert!(std::sync::Arc::ptr_eq(
            &slim[0].owners[0].kind,
            &slim[1].owners[0].kind
        ));
        assert!(slim[0].annotations.is_none());
    }

    /// The lean decoding gives what the whole metadata gives, item by item, and fails where it
    /// fails (on what is read).
    #[test]
    fn issue16_secret_metadata_decoded_lean_matches_the_whole_metadata() {
        let items = [
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {
                "name": "db", "namespace": "prod", "uid": "u1", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3,
                "labels": {"reconcile.external-secrets.io/managed": "true"},
                "annotations": {LAST_APPLIED: "{\"big\":true}", "reloader.stakater.com/match": "true",
                                "reloader.stakater.com/ignore": "x\\u0041", "reloader.stakater.co": "near",
                                "reconcile.external-secrets.io/data-hash": "abc"},
                "ownerReferences": [
                    {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db",
                     "uid": "es1", "controller": true, "blockOwnerDeletion": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "cé", "uid": "c1",
                     "controller": false},
                    {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "p1", "controller": null},
                    {"kind": "Job", "name": null}],
                "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "time": "2026-01-02T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:a": {}}}},
                    {"manager": "eso", "operation": "Update", "time": "2026-01-03T00:00:00.5Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:password": {}}}},
                    {"manager": "no-time", "operation": "Update"},
                    {"manager": "old", "operation": "Update", "time": "2026-01-01T12:00:00Z"}],
            }}),
            // Near misses: no managedFields time at all (creation counts), nulls, nothing but
            // the identity, an annotation key that only starts like Reloader's.
            json!({"metadata": {"name": "a", "namespace": "n", "creationTimestamp": "2026-02-01T00:00:00Z",
                                "managedFields": [{"manager": "x"}], "annotations": null,
                                "ownerReferences": null, "labels": null}}),
            json!({"metadata": {"name": "b", "namespace": "n", "managedFields": null,
                                "creationTimestamp": null,
                                "annotations": {"reloader.stakater.com": "bare prefix"}}}),
            json!({"metadata": {"name": "c", "namespace": "n", "managedFields": []}}),
            // Dropped by both: no namespace, no name, no metadata.
            json!({"metadata": {"name": "d"}}),
            json!({"metadata": {"namespace": "n"}}),
            json!({"kind": "PartialObjectMetadata"}),
        ];
        // Escapes in keys and values, as a server may send them.
        let escaped = r#"{"metadata":{"name":"e\u0073","namespace":"n\u002dx","annotations":
            {"reloader.stakater.com/m\u0061tch":"\u0074rue","\u0072eloader.stakater.com/x":"y"}}}"#;
        let texts = items
            .iter()
            .map(|i| i.to_string())
            .chain([escaped.to_string()]);
        for text in texts {
            let whole: PartialObjectMeta<Secret> = match serde_json::from_str(&text) {
                Ok(m) => m,
                Err(e) => panic!("{text}: {e}"),
            };
            let lean: WireSecret = match serde_json::from_str(&text) {
                Ok(m) => m,
                Err(e) => panic!("{text}: {e}"),
            };
            let expected = secret_meta(whole, &mut SharedStrings::default());
            assert_eq!(
                lean.into_meta(&mut SharedStrings::default()),
                expected,
                "{text}"
            );
        }
        // What the whole metadata refuses, the lean decoding refuses.
        for bad in [
            json!({"metadata": {"name": "x", "namespace": "n", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ExternalSecret", "name": "x", "uid": 1}]}}),
            json!({"metadata": {"name": "x", "namespace": "n", "annotations": {
                "reloader.stakater.com/match": true}}}),
            json!({"metadata": {"name": "x", "namespace": "n", "creationTimestamp": "yesterday"}}),
            json!({"metadata": {"name": "x", "namespace": "n", "managedFields": [{"time": "soon"}]}}),
            json!({"metadata": {"name": 7, "namespace": "n"}}),
        ] {
            let text = bad.to_string();
            assert!(
                serde_json::from_str::<PartialObjectMeta<Secret>>(&text).is_err(),
                "{text}"
            );
            assert!(serde_json::from_str::<WireSecret>(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn issue16_secret_without_managed_fields_falls_back_to_creation() {
        let full: PartialObjectMeta<Secret> = from(json!({
            "metadata": {"name": "db", "namespace": "prod", "creationTimestamp": "2026-01-01T00:00:00Z"},
        }));
        let Some(slim) = secret_meta(full, &mut SharedStrings::default()) else {
            panic!("a Secret is never dropped")
        };
        assert_eq!(
            slim.last_changed.map(|t| t.to_string()).as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn issue16_external_secret_keeps_who_manages_it_and_loses_the_rest() {
        let es: crate::model::eso::ExternalSecret = from(json!({
            "metadata": {
                "name": "x", "namespace": "prod", "uid": "u",
                "labels": {"app": "x", "argocd.argoproj.io/instance": "shop"},
                "annotations": {LAST_APPLIED: "{}", "force-sync": "1"},
                "managedFields": [{"manager": "argocd-controller", "operation": "Apply",
                                   "time": "2026-01-02T00:00:00Z", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:target": {}}}}],
                "ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                                     "kind": "ClusterExternalSecret", "name": "c", "uid": "c1"}],
            },
            "spec": {"secretStoreRef": {"name": "vault"}, "target": {"name": "t"}},
        }));
        let Some(slim) = with_meta(es) else {
            panic!("an ExternalSecret is never dropped")
        };
        // Who manages it (issue 17) survives: the management label and each write's manager,
        // operation and time, without its field set.
        let labels = slim.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            ["argocd.argoproj.io/instance"]
        );
        let writes = slim.metadata.managed_fields.clone().unwrap_or_default();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].manager.as_deref(), Some("argocd-controller"));
        assert_eq!(writes[0].operation.as_deref(), Some("Apply"));
        assert!(writes[0].time.is_some() && writes[0].fields_v1.is_none());
        let annotations = slim.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["force-sync"]);
        assert_eq!(slim.owner_cluster_external_secret(), Some("c"));
        assert_eq!(slim.target_name(), "t");
        assert_eq!(slim.metadata.uid.as_deref(), Some("u"));
        // Near miss: only unrelated labels, no writes: nothing is kept.
        let plain: crate::model::eso::ExternalSecret = from(json!({
            "metadata": {"name": "y", "namespace": "prod", "labels": {"app": "y"}},
            "spec": {"secretStoreRef": {"name": "vault"}},
        }));
        let slim = with_meta(plain).unwrap_or_else(|| panic!("kept"));
        assert!(slim.metadata.labels.is_none() && slim.metadata.managed_fields.is_none());
    }

    /// A listed ExternalSecret decoded lean is the one `with_meta` makes of the whole object.
    #[test]
    fn issue16_external_secrets_decoded_lean_match_the_reduced_whole_ones() {
        let texts = [
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {
                "name": "db", "namespace": "prod", "uid": "u", "resourceVersion": "5", "generation": 2,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "db", "argocd.argoproj.io/instance": "shop",
                           "helm.toolkit.fluxcd.io/name": "x", "app.kubernetes.io/managed-by": "Helm"},
                "annotations": {LAST_APPLIED: "{\"apiVersion\":\"external-secrets.io/v1\"}",
                                "force-sync": "1", "meta.helm.sh/release-name": "r"},
                "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
                                     "name": "c", "uid": "c1", "controller": true}],
                "finalizers": ["x"],
                "managedFields": [
                    {"manager": "argocd-controller", "operation": "Apply", "time": "2026-01-02T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:target": {}}}},
                    {"manager": "external-secrets", "operation": "Update", "subresource": "status",
                     "time": "2026-01-03T00:00:00Z", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:status": {"f:conditions": {}}}},
                    {"operation": "Update"}]},
                "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                         "target": {"name": "t", "creationPolicy": "Owner"}, "refreshInterval": "1h",
                         "data": [{"secretKey": "pw", "remoteRef": {"key": "db", "property": "pw"}}]},
                "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError",
                            "message": "could not get secret data from provider"}],
                           "refreshTime": "2026-01-03T00:00:00Z", "binding": {"name": "t"}}})
            .to_string(),
            // Near misses: only kubectl's copy and unrelated labels (nothing kept), nulls, no
            // metadata at all, an empty managedFields list.
            json!({"metadata": {"name": "y", "namespace": "prod", "labels": {"app": "y"},
                                "annotations": {LAST_APPLIED: "{}"}, "managedFields": []},
                   "spec": {"secretStoreRef": {"name": "vault"}}})
            .to_string(),
            json!({"metadata": {"name": "z", "namespace": "prod", "labels": null, "annotations": null,
                                "managedFields": null, "ownerReferences": null}})
            .to_string(),
            json!({"spec": {"target": {"name": "t"}}}).to_string(),
            r#"{"metadata":{"name":"e\u0073","namespace":"p","annotations":{"f\u006frce-sync":"\u0031",
                "kubectl.kubernetes.io/last-applied-configuration":"{\"a\":1}"}}}"#
                .to_string(),
        ];
        for text in texts {
            let whole: ExternalSecret =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            let lean: WireExternalSecret =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            let (Some(want), Some(got)) = (with_meta(whole), lean.into_reduced()) else {
                panic!("an ExternalSecret is never dropped")
            };
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{text}");
        }
        // Refused alike: a kept annotation that is not a string, a time that is not one.
        for bad in [
            json!({"metadata": {"name": "x", "annotations": {"force-sync": 1}}}),
            json!({"metadata": {"name": "x", "managedFields": [{"time": "soon"}]}}),
            json!({"metadata": {"name": "x"}, "status": null}),
        ] {
            let text = bad.to_string();
            assert!(
                serde_json::from_str::<ExternalSecret>(&text).is_err(),
                "{text}"
            );
            assert!(
                serde_json::from_str::<WireExternalSecret>(&text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn issue16_event_keeps_every_field_the_analysis_reads() {
        let ev: Event = from(json!({
            "metadata": {"name": "e", "namespace": "prod", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [{"manager": "x"}]},
            "involvedObject": {"kind": "ExternalSecret", "name": "x", "namespace": "prod", "uid": "u"},
            "reason": "UpdateFailed", "message": "boom", "type": "Warning", "count": 3,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T01:00:00Z",
            "source": {"component": "external-secrets"}, "reportingComponent": "external-secrets",
        }));
        let facts_before = crate::analysis::since::event_facts(&ev);
        let Some(slim) = event(ev) else {
            panic!("an Event is never dropped")
        };
        let facts_after = crate::analysis::since::event_facts(&slim);
        assert_eq!(facts_before, facts_after);
        assert_eq!(slim.message.as_deref(), Some("boom"));
        assert_eq!(slim.involved_object.uid.as_deref(), Some("u"));
        assert!(slim.metadata.managed_fields.is_none() && slim.source.is_none());
        assert!(slim.reporting_component.is_none());
    }

    #[test]
    fn issue16_events_decoded_lean_match_the_reduced_whole_ones() {
        let texts = [
            json!({"apiVersion": "v1", "kind": "Event",
                   "metadata": {"name": "db.1", "namespace": "prod", "uid": "u", "resourceVersion": "9",
                                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"a": "b"},
                                "managedFields": [{"manager": "external-secrets", "operation": "Update",
                                                   "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                                                   "fieldsV1": {"f:count": {}, "f:message": {}}}]},
                   "involvedObject": {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                      "name": "db", "namespace": "prod", "uid": "es1", "resourceVersion": "5"},
                   "reason": "UpdateFailed", "message": "error processing spec.data[0] (key: db), err: boom",
                   "type": "Warning", "count": 42,
                   "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T01:00:00Z",
                   "source": {"component": "external-secrets"}, "reportingComponent": "external-secrets",
                   "reportingInstance": "eso-0", "action": "x", "related": {"kind": "Pod", "name": "p"}})
            .to_string(),
            // events.k8s.io-style writers: eventTime and a series instead of the timestamps.
            json!({"metadata": {"name": "s.2", "namespace": "prod"},
                   "involvedObject": {"kind": "SecretStore", "name": "vault"},
                   "reason": "InvalidProviderConfig", "type": "Warning",
                   "eventTime": "2026-01-01T00:00:00.123456Z",
                   "series": {"count": 7, "lastObservedTime": "2026-01-01T02:00:00.000001Z"},
                   "firstTimestamp": null, "lastTimestamp": null, "count": null})
            .to_string(),
            // Near misses: nulls where objects are expected, no metadata, no involvedObject.
            json!({"metadata": null, "involvedObject": null, "message": "m"}).to_string(),
            json!({"reason": "UpdateFailed"}).to_string(),
            json!({"metadata": {"name": "e", "managedFields": null, "annotations": null}}).to_string(),
            // Escapes, as a server may send them.
            r#"{"metadata":{"name":"e\u0073"},"message":"\u0062oom \"quoted\"","reason":"Upd\u0061teFailed"}"#
                .to_string(),
        ];
        // And the Events a real kube-apiserver 1.32 listed.
        let recorded = [
            include_str!("../../crates/kube-sim/tests/k8s-recordings/45-events-core-v1-involvedobject-uid.json"),
            include_str!("../../crates/kube-sim/tests/k8s-recordings/47-events-core-v1-kubectl-describe-style.json"),
        ]
        .into_iter()
        .flat_map(|file| {
            let v: serde_json::Value = serde_json::from_str(file).unwrap_or_default();
            let items = v["response"]["body"]["items"].as_array().cloned();
            items.unwrap_or_default()
        })
        .map(|item| item.to_string())
        .collect::<Vec<_>>();
        assert!(recorded.len() >= 2, "the recordings hold Events");
        for text in texts.into_iter().chain(recorded) {
            let whole: Event =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let lean: WireEvent =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let (Some(want), Some(got)) = (event(whole), lean.into_event()) else {
                panic!("an Event is never dropped")
            };
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{text}");
            assert_eq!(
                crate::analysis::since::event_facts(&got),
                crate::analysis::since::event_facts(&want),
                "{text}"
            );
        }
        // Refused alike: another kind or version, a time that is not one, a count that is not a
        // number, a message that is not a string, an involvedObject that is not an object.
        for bad in [
            json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "e"}}),
            json!({"kind": "Secret", "metadata": {"name": "e"}}),
            json!({"apiVersion": null, "metadata": {"name": "e"}}),
            json!({"metadata": {"name": "e", "creationTimestamp": "yesterday"}}),
            json!({"lastTimestamp": "soon"}),
            json!({"eventTime": "2026-13-01T00:00:00Z"}),
            json!({"count": "3"}),
            json!({"message": 3}),
            json!({"involvedObject": "es/db"}),
            json!({"series": {"count": "x"}}),
        ] {
            let text = bad.to_string();
            assert!(serde_json::from_str::<Event>(&text).is_err(), "{text}");
            assert!(serde_json::from_str::<WireEvent>(&text).is_err(), "{text}");
        }
    }
}
