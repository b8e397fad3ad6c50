//! The simulated etcd + registry layer: one in-memory, thread-safe map of every object, a global
//! resourceVersion counter, a bounded history of changes (so watches can resume, and answer "too old
//! resource version" once it has been dropped), and the in-process API other crates use to load
//! scenarios and play controllers with the same semantics as the HTTP API.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::auth::Authenticator;
use crate::resources::{Registry, ResourceType, split_api_version};
use crate::status::ApiStatus;
use crate::view::{event_to_core, event_to_new};

/// How many changes are kept for watches to resume from; older resourceVersions are "compacted".
const HISTORY_LEN: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// A change to any object, as seen by in-process subscribers.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub api_version: String,
    pub object_kind: String,
    /// Shared by every subscriber: one copy per change, however many listen.
    pub object: Arc<Value>,
}

/// A failed store operation; `status` is what the HTTP API would answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}")]
pub struct StoreError {
    pub status: ApiStatus,
}

impl StoreError {
    pub fn code(&self) -> u16 {
        self.status.code
    }
    pub fn reason(&self) -> &str {
        &self.status.reason
    }
    pub fn is_not_found(&self) -> bool {
        self.status.code == 404
    }
    pub fn is_conflict(&self) -> bool {
        self.status.code == 409 && self.status.reason == "Conflict"
    }
    pub fn is_already_exists(&self) -> bool {
        self.status.reason == "AlreadyExists"
    }
}

impl From<ApiStatus> for StoreError {
    fn from(status: ApiStatus) -> Self {
        Self { status }
    }
}

/// One stored object, kept only as its serialised JSON (minus `apiVersion`/`kind`): a LIST of
/// thousands of objects is a byte copy rather than a re-serialisation, and an object costs about
/// its size on the wire instead of a `serde_json::Value` tree several times larger (issue 16).
/// Readers that need fields parse it with [`Stored::value`]; namespace and name are kept apart
/// because every index and watch filter reads them.
#[derive(Debug)]
pub struct Stored {
    /// The serialised object without its `apiVersion` and `kind` keys, starting after the opening `{`.
    pub tail: Bytes,
    pub rv: u64,
    api_version: Option<Box<str>>,
    kind: Option<Box<str>>,
    namespace: Box<str>,
    name: Box<str>,
}

impl Stored {
    /// Serialise `value` (left as it was) into a stored object.
    pub fn new(value: &mut Value, rv: u64) -> Self {
        let mut tail = Vec::new();
        let mut type_meta: [Option<Box<str>>; 2] = [None, None];
        if let Some(map) = value.as_object_mut() {
            // Only string apiVersion/kind are kept apart (anything else stays in the bytes).
            let mut taken = [None, None];
            for (slot, key) in taken.iter_mut().zip(["apiVersion", "kind"]) {
                if map.get(key).is_some_and(Value::is_string) {
                    *slot = map.remove(key);
                }
            }
            tail = serde_json::to_vec(map).unwrap_or_else(|_| b"{}".to_vec());
            for ((slot, key), v) in type_meta.iter_mut().zip(["apiVersion", "kind"]).zip(taken) {
                if let Some(Value::String(s)) = v {
                    *slot = Some(s.as_str().into());
                    map.insert(key.into(), Value::String(s));
                }
            }
        }
        let [api_version, kind] = type_meta;
        let s = |p: &str| -> Box<str> {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .into()
        };
        let (namespace, name) = (s("/metadata/namespace"), s("/metadata/name"));
        let tail = if tail.len() > 1 {
            // Kept for the object's life: no spare capacity from the serialiser's growth.
            tail.shrink_to_fit();
            Bytes::from(tail).slice(1..)
        } else {
            Bytes::from_static(b"}")
        };
        Self {
            tail,
            rv,
            api_version,
            kind,
            namespace,
            name,
        }
    }

    /// Append the object as JSON, with the given apiVersion/kind (or none, for built-in list items).
    pub fn write_json(&self, out: &mut Vec<u8>, type_meta: Option<(&str, &str)>) {
        out.push(b'{');
        if let Some((av, kind)) = type_meta {
            out.extend_from_slice(b"\"apiVersion\":");
            out.extend_from_slice(Value::from(av).to_string().as_bytes());
            out.extend_from_slice(b",\"kind\":");
            out.extend_from_slice(Value::from(kind).to_string().as_bytes());
            if self.tail.as_ref() != b"}" {
                out.push(b',');
            }
        }
        out.extend_from_slice(&self.tail);
    }

    /// The whole object as it was stored (with its own apiVersion and kind), parsed from the bytes.
    pub fn value(&self) -> Value {
        let mut bytes = Vec::with_capacity(self.tail.len() + 1);
        self.write_json(&mut bytes, None);
        let mut v: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::Object(Default::default()));
        if let Some(map) = v.as_object_mut() {
            if let Some(av) = &self.api_version {
                map.insert("apiVersion".into(), Value::from(av.as_ref()));
            }
            if let Some(kind) = &self.kind {
                map.insert("kind".into(), Value::from(kind.as_ref()));
            }
        }
        v
    }

    /// Does the serialised object contain this text? A cheap pre-filter before parsing it.
    pub fn mentions(&self, needle: &str) -> bool {
        memchr::memmem::find(&self.tail, needle.as_bytes()).is_some()
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One entry of the change history / internal watch channel.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gr: String,
    pub kind: EventKind,
    pub obj: Arc<Stored>,
    /// The object as it was before this change (None for ADDED), to rebuild older states.
    pub prev: Option<Arc<Stored>>,
}

/// Everything behind the lock.
pub struct State {
    pub rv: u64,
    pub registry: Registry,
    pub objects: HashMap<String, BTreeMap<(String, String), Arc<Stored>>>,
    pub history: VecDeque<Arc<Change>>,
    /// The newest resourceVersion whose change was dropped from history (0 = nothing dropped).
    pub compacted: u64,
    pub changes: broadcast::Sender<Arc<Change>>,
    pub public: broadcast::Sender<WatchEvent>,
    pub authn: Authenticator,
}

struct Inner {
    state: RwLock<State>,
    logs: crate::logs::PodLogs,
    /// Whether every authenticated user may create TokenReviews (kube-sim's default, see
    /// `auth`), or only those bound to `system:auth-delegator`, as on a real cluster.
    strict_token_review: std::sync::atomic::AtomicBool,
}

/// events.k8s.io/v1 Events are a view of core/v1 Events: in-process callers may use either.
fn is_new_event(api_version: &str, kind: &str) -> bool {
    api_version == "events.k8s.io/v1" && kind == "Event"
}

fn as_core_event(obj: &Value) -> Option<Value> {
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
    is_new_event(s("apiVersion"), s("kind")).then(|| event_to_core(obj))
}

/// Cheaply cloneable handle to the simulated cluster state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// An empty store with the built-in types registered; `ApiServer::start` then loads the ESO CRDs.
    pub fn new(admin_token: String) -> Self {
        let (changes, _) = broadcast::channel(65_536);
        let (public, _) = broadcast::channel(65_536);
        let state = State {
            rv: 1,
            registry: Registry::with_builtins(),
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            changes,
            public,
            authn: Authenticator::new(admin_token),
        };
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                logs: crate::logs::PodLogs::default(),
                strict_token_review: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `true`: TokenReviews and SubjectAccessReviews need a binding to a role that allows them
    /// (`system:auth-delegator` on a real cluster) instead of being open to every authenticated
    /// user; a Vault kubernetes auth that reviews with its clients' own tokens is then refused
    /// for a ServiceAccount without that binding.
    pub fn set_strict_token_review(&self, strict: bool) {
        self.inner
            .strict_token_review
            .store(strict, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn strict_token_review(&self) -> bool {
        self.inner
            .strict_token_review
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the simulated pods' containers printed: served by `pods/log`, written by whoever plays them.
    pub fn pod_logs(&self) -> crate::logs::PodLogs {
        self.inner.logs.clone()
    }

    /// The Authenticator shared by the HTTP path and `issue_token`, so both mint identical tokens.
    pub fn authenticator(&self) -> Authenticator {
        self.read().authn.clone()
    }

    /// The current (newest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// Drop the whole change history, like etcd compaction: watches and paged LISTs from older
    /// resourceVersions then get 410 Expired. For tests of client recovery.
    pub fn compact(&self) {
        let mut st = self.write();
        st.history.clear();
        st.compacted = st.rv;
    }

    fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(Arc<ResourceType>, String), StoreError> {
        let (_, version) = split_api_version(api_version);
        let rt = self
            .read()
            .registry
            .by_kind(api_version, kind)
            .ok_or_else(|| StoreError::from(ApiStatus::not_found_kind(api_version, kind)))?;
        Ok((rt, version.to_string()))
    }

    fn identify(obj: &Value) -> Result<(String, String, String, String), StoreError> {
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (av, kind) = (s("/apiVersion"), s("/kind"));
        if av.is_empty() || kind.is_empty() {
            return Err(ApiStatus::bad_request("Object 'Kind' is missing in the object").into());
        }
        Ok((av, kind, s("/metadata/namespace"), s("/metadata/name")))
    }

    fn namespace_for(rt: &ResourceType, ns: &str) -> String {
        match (rt.namespaced, ns.is_empty()) {
            (true, true) => "default".to_string(),
            (true, false) => ns.to_string(),
            (false, _) => String::new(),
        }
    }

    /// Create an object. Unlike an HTTP POST a given `status` is kept and a missing namespace is created,
    /// which is what scenario loading wants.
    pub fn create(&self, obj: Value) -> Result<Value, StoreError> {
        if let Some(core) = as_core_event(&obj) {
            return self.create(core).map(|v| event_to_new(&v));
        }
        let (av, kind, ns, _) = Self::identify(&obj)?;
        let (rt, version) = self.resolve(&av, &kind)?;
        let ns = Self::namespace_for(&rt, &ns);
        let mut st = self.write();
        let ctx = crate::write::Ctx::in_process();
        let out = st.create(&rt, &version, &ns, obj, &ctx)?;
        drop(st);
        Ok(out.value())
    }

    /// Create, or replace spec/metadata of the existing object keeping its status (a given status is written too).
    pub fn apply(&self, obj: Value) -> Result<Value, StoreError> {
        if let Some(core) = as_core_event(&obj) {
            return self.apply(core).map(|v| event_to_new(&v));
        }
        let (av, kind, ns, name) = Self::identify(&obj)?;
        let (rt, version) = self.resolve(&av, &kind)?;
        let ns = Self::namespace_for(&rt, &ns);
        let mut st = self.write();
        let ctx = crate::write::Ctx::in_process();
        if st.get(&rt.gr(), &ns, &name).is_none() {
            let out = st.create(&rt, &version, &ns, obj, &ctx)?;
            drop(st);
            return Ok(out.value());
        }
        let status = obj.get("status").cloned();
        let mut obj = obj;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        let mut out = st.update(&rt, &version, &ns, &name, obj.clone(), false, &ctx)?;
        if let (Some(status), true) = (status, rt.has_status()) {
            obj["status"] = status;
            out = st.update(&rt, &version, &ns, &name, obj, true, &ctx)?;
        }
        drop(st);
        Ok(out.value())
    }

    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        if is_new_event(api_version, kind) {
            return self
                .get("v1", kind, namespace, name)
                .map(|v| event_to_new(&v));
        }
        let (rt, _) = self.resolve(api_version, kind).ok()?;
        let ns = Self::namespace_for(&rt, namespace.unwrap_or(""));
        let st = self.read();
        let stored = st.get(&rt.gr(), &ns, name)?.clone();
        drop(st);
        let mut v = stored.value();
        v["apiVersion"] = Value::from(api_version);
        Some(v)
    }

    /// Every object of the type, in one namespace or (None) all of them, sorted by namespace/name.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        if is_new_event(api_version, kind) {
            return self
                .list("v1", kind, namespace)
                .iter()
                .map(event_to_new)
                .collect();
        }
        let Ok((rt, _)) = self.resolve(api_version, kind) else {
            return vec![];
        };
        let stored: Vec<Arc<Stored>> = self.read().iter(&rt.gr(), namespace).cloned().collect();
        stored
            .iter()
            .map(|s| {
                let mut v = s.value();
                v["apiVersion"] = Value::from(api_version);
                v
            })
            .collect()
    }

    /// Like [`Store::list`], but only objects whose serialised JSON contains `needle` (a cheap
    /// pre-filter: callers still check the fields they mean). Only those are parsed.
    pub fn list_mentioning(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        needle: &str,
    ) -> Vec<Value> {
        if is_new_event(api_version, kind) {
            return self
                .list_mentioning("v1", kind, namespace, needle)
                .iter()
                .map(event_to_new)
                .collect();
        }
        let Ok((rt, _)) = self.resolve(api_version, kind) else {
            return vec![];
        };
        let stored: Vec<Arc<Stored>> = self
            .read()
            .iter(&rt.gr(), namespace)
            .filter(|s| s.mentions(needle))
            .cloned()
            .collect();
        stored
            .iter()
            .map(|s| {
                let mut v = s.value();
                v["apiVersion"] = Value::from(api_version);
                v
            })
            .collect()
    }

    /// (namespace, name) of every object of the type, in one namespace or all, in key order, without
    /// reading the objects.
    pub fn keys(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<(String, String)> {
        let api_version = if is_new_event(api_version, kind) {
            "v1"
        } else {
            api_version
        };
        let Ok((rt, _)) = self.resolve(api_version, kind) else {
            return vec![];
        };
        self.read()
            .iter(&rt.gr(), namespace)
            .map(|s| (s.namespace().to_string(), s.name().to_string()))
            .collect()
    }

    /// How many objects of the type are stored (in one namespace or all).
    pub fn count(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> usize {
        let api_version = if is_new_event(api_version, kind) {
            "v1"
        } else {
            api_version
        };
        let Ok((rt, _)) = self.resolve(api_version, kind) else {
            return 0;
        };
        self.read().iter(&rt.gr(), namespace).count()
    }

    /// PUT: status ignored (for kinds with a status subresource); 409 Conflict on a stale resourceVersion.
    pub fn replace(&self, obj: Value) -> Result<Value, StoreError> {
        self.replace_inner(obj, false)
    }

    /// PUT /status: only the status is taken.
    pub fn replace_status(&self, obj: Value) -> Result<Value, StoreError> {
        self.replace_inner(obj, true)
    }

    fn replace_inner(&self, obj: Value, status: bool) -> Result<Value, StoreError> {
        if let Some(core) = as_core_event(&obj) {
            return self.replace_inner(core, status).map(|v| event_to_new(&v));
        }
        let (av, kind, ns, name) = Self::identify(&obj)?;
        let (rt, version) = self.resolve(&av, &kind)?;
        let ns = Self::namespace_for(&rt, &ns);
        let mut st = self.write();
        let ctx = crate::write::Ctx::in_process();
        let out = st.update(&rt, &version, &ns, &name, obj, status, &ctx)?;
        drop(st);
        Ok(out.value())
    }

    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), StoreError> {
        if is_new_event(api_version, kind) {
            return self.delete("v1", kind, namespace, name);
        }
        let (rt, _) = self.resolve(api_version, kind)?;
        let ns = Self::namespace_for(&rt, namespace.unwrap_or(""));
        self.write().delete(&rt, &ns, name)?;
        Ok(())
    }

    /// Every change to every resource, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.read().public.subscribe()
    }

    /// A ServiceAccount token, exactly as TokenRequest would mint it (404 if the ServiceAccount is missing).
    /// Empty `audiences` means the apiserver's own audience, as with TokenRequest.
    pub fn issue_token(
        &self,
        namespace: &str,
        service_account: &str,
        audiences: &[String],
        expiration_seconds: i64,
    ) -> Result<String, StoreError> {
        let (uid, authn) = {
            let st = self.read();
            let sa = st
                .get("/serviceaccounts", namespace, service_account)
                .ok_or_else(|| ApiStatus::not_found("", "serviceaccounts", service_account))?;
            let uid = sa
                .value()
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (uid, st.authn.clone())
        };
        // Like TokenRequest: no audiences means the apiserver's own.
        let default_audience = ["https://kubernetes.default.svc.cluster.local".to_string()];
        let audiences = if audiences.is_empty() {
            &default_audience[..]
        } else {
            audiences
        };
        Ok(authn
            .issue_token(
                namespace,
                service_account,
                &uid,
                audiences,
                expiration_seconds,
            )
            .0)
    }

    /// Rewrites stored objects in place, as if they had always been so: `edit` gets each object
    /// (with its apiVersion and kind) and says whether it changed it. No resourceVersion moves,
    /// no watcher hears of it and the change history is forgotten (watches from before answer
    /// 410). For scenario loading only: the sandbox back-dates a freshly loaded incident so it
    /// looks hours old (issue 13) before any client has connected. Identity (namespace, name)
    /// must not change; an edit that changes it is ignored.
    pub fn rewrite_in_place(&self, mut edit: impl FnMut(&mut Value) -> bool) -> usize {
        let mut st = self.write();
        let mut changed = 0;
        for map in st.objects.values_mut() {
            for stored in map.values_mut() {
                let mut v = stored.value();
                if !edit(&mut v) {
                    continue;
                }
                let next = Stored::new(&mut v, stored.rv);
                if next.namespace == stored.namespace && next.name == stored.name {
                    *stored = Arc::new(next);
                    changed += 1;
                }
            }
        }
        st.history.clear();
        st.compacted = st.rv;
        changed
    }

    /// Register a CRD's type directly from its object (used at start for the ESO bundle).
    pub(crate) fn load_crd(&self, crd: Value) -> Result<(), StoreError> {
        self.create(crd).map(|_| ())
    }
}

impl State {
    pub fn get(&self, gr: &str, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        self.objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a type in key order, optionally restricted to one namespace.
    pub fn iter<'a>(
        &'a self,
        gr: &str,
        ns: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<Stored>> + 'a> {
        let Some(map) = self.objects.get(gr) else {
            return Box::new(std::iter::empty());
        };
        match ns {
            Some(ns) => Box::new(
                map.range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
                    .map(|(_, v)| v),
            ),
            None => Box::new(map.values()),
        }
    }

    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.get("/namespaces", "", ns).is_some()
    }

    /// Store (or, for `Deleted`, remove) an object at a new resourceVersion and tell every watcher.
    /// Returns the stored form and the object as written (shared with in-process subscribers).
    pub fn commit(
        &mut self,
        gr: &str,
        ns: &str,
        name: &str,
        kind: EventKind,
        mut value: Value,
    ) -> (Arc<Stored>, Arc<Value>) {
        self.rv += 1;
        let rv = self.rv;
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::from(rv.to_string()));
        }
        let stored = Arc::new(Stored::new(&mut value, rv));
        let value = Arc::new(value);
        let key = (ns.to_string(), name.to_string());
        let map = self.objects.entry(gr.to_string()).or_default();
        let prev = if kind == EventKind::Deleted {
            map.remove(&key)
        } else {
            map.insert(key, stored.clone())
        };
        let change = Arc::new(Change {
            rv,
            gr: gr.to_string(),
            kind,
            obj: stored.clone(),
            prev,
        });
        if self.history.len() >= HISTORY_LEN
            && let Some(old) = self.history.pop_front()
        {
            self.compacted = old.rv;
        }
        self.history.push_back(change.clone());
        let _ = self.changes.send(change);
        if self.public.receiver_count() > 0 {
            let s = |k: &str| {
                value
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let _ = self.public.send(WatchEvent {
                kind,
                api_version: s("apiVersion"),
                object_kind: s("kind"),
                object: value.clone(),
            });
        }
        (stored, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_bytes_round_trip_with_and_without_type_meta() {
        let mut original = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "n"}, "type": "Opaque"});
        let s = Stored::new(&mut original, 5);
        assert_eq!(original["kind"], "Secret", "the value is left as it was");
        assert_eq!(s.value(), original);
        assert_eq!((s.namespace(), s.name()), ("n", "a"));
        let mut with = vec![];
        s.write_json(&mut with, Some(("v1", "Secret")));
        let parsed: Value = serde_json::from_slice(&with).expect("valid json");
        assert_eq!(parsed, original);
        let mut without = vec![];
        s.write_json(&mut without, None);
        let parsed: Value = serde_json::from_slice(&without).expect("valid json");
        assert_eq!(
            parsed,
            json!({"metadata": {"name": "a", "namespace": "n"}, "type": "Opaque"})
        );
        assert!(s.mentions("Opaque") && !s.mentions("Secret"));
    }
}
