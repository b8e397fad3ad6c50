//! The simulated etcd + registry layer: one in-memory, thread-safe map of every object, a global
//! resourceVersion counter, a bounded history of changes (so watches can resume, and answer "too old
//! resource version" once it has been dropped), and the in-process API other crates use to load
//! scenarios and play controllers with the same semantics as the HTTP API.

use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
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
/// because every index and watch filter reads them. The strings many objects share (apiVersion,
/// kind, namespace) are interned, so an object's own allocations are its name and itself; its JSON
/// is packed with other objects' (see [`Packer`]).
#[derive(Debug)]
pub struct Stored {
    /// The serialised object without its `apiVersion` and `kind` keys: a JSON object, `{...}`.
    json: Bytes,
    pub rv: u64,
    api_version: Option<Arc<str>>,
    kind: Option<Arc<str>>,
    namespace: Arc<str>,
    name: Box<str>,
}

/// The strings that many stored objects share, each allocated once.
#[derive(Debug, Default)]
pub struct Interned(std::collections::HashSet<Arc<str>>);

impl Interned {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(known) = self.0.get(s) {
            return known.clone();
        }
        let new: Arc<str> = s.into();
        self.0.insert(new.clone());
        new
    }
}

/// Where stored objects' JSON is written: side by side in chunks of [`Packer::CHUNK`] bytes,
/// each freed when the last object in it is gone, instead of one small allocation per object.
/// Objects stored one by one among the many short-lived allocations of a scenario's start (the
/// parsed objects, the controllers' work) left the sandbox's memory three times the size of what
/// it held, in pages that kept a few live objects each (issue 16); packed, and packed again once
/// the start has settled ([`Store::repack`]), they sit in pages of their own.
#[derive(Debug, Default)]
pub struct Packer {
    /// The current chunk's room left (its written part was split off into objects).
    room: BytesMut,
}

impl Packer {
    /// The size of a chunk.
    pub const CHUNK: usize = 1 << 20;

    /// `bytes`, copied into the current chunk (a new one when it has no room left). An object
    /// bigger than a quarter of a chunk gets an allocation of its own.
    pub fn pack(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.len() > Self::CHUNK / 4 {
            return Bytes::copy_from_slice(bytes);
        }
        if self.room.capacity() < bytes.len() {
            self.room = BytesMut::with_capacity(Self::CHUNK);
        }
        self.room.extend_from_slice(bytes);
        self.room.split().freeze()
    }
}

/// What [`Store::repack`] packed: how many objects, how many bytes of JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    pub objects: usize,
    pub bytes: usize,
}

impl Stored {
    /// Serialise `value` (left as it was) into a stored object, to be indexed at `key`
    /// (namespace, name: what its metadata says, but a write decides).
    pub fn new(
        value: &mut Value,
        rv: u64,
        key: (&str, &str),
        interned: &mut Interned,
        packer: &mut Packer,
    ) -> Self {
        let mut json = Vec::new();
        let mut type_meta: [Option<Arc<str>>; 2] = [None, None];
        if let Some(map) = value.as_object_mut() {
            // Only string apiVersion/kind are kept apart (anything else stays in the bytes).
            let mut taken = [None, None];
            for (slot, key) in taken.iter_mut().zip(["apiVersion", "kind"]) {
                if map.get(key).is_some_and(Value::is_string) {
                    *slot = map.remove(key);
                }
            }
            json = serde_json::to_vec(map).unwrap_or_else(|_| b"{}".to_vec());
            for ((slot, key), v) in type_meta.iter_mut().zip(["apiVersion", "kind"]).zip(taken) {
                if let Some(Value::String(s)) = v {
                    *slot = Some(interned.get(&s));
                    map.insert(key.into(), Value::String(s));
                }
            }
        }
        if json.len() < 2 {
            json = b"{}".to_vec();
        }
        let [api_version, kind] = type_meta;
        Self {
            json: packer.pack(&json),
            rv,
            api_version,
            kind,
            namespace: interned.get(key.0),
            name: key.1.into(),
        }
    }

    /// The same object, its JSON copied into `packer`.
    fn repacked(&self, packer: &mut Packer) -> Self {
        Self {
            json: packer.pack(&self.json),
            rv: self.rv,
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
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
            if self.json.len() > 2 {
                out.push(b',');
            }
        }
        out.extend_from_slice(&self.json[1..]);
    }

    /// The size of the object's JSON without apiVersion and kind.
    pub fn json_len(&self) -> usize {
        self.json.len()
    }

    /// The whole object as it was stored (with its own apiVersion and kind), parsed from the bytes.
    pub fn value(&self) -> Value {
        let mut v: Value = serde_json::from_slice(&self.json)
            .unwrap_or_else(|_| Value::Object(Default::default()));
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

    /// Only the object's `metadata`, parsed without building the rest (a PartialObjectMetadata
    /// LIST reads 500 of them per page).
    pub fn metadata(&self) -> Option<Value> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            metadata: Option<Value>,
        }
        serde_json::from_slice::<Metadata>(&self.json)
            .ok()
            .and_then(|m| m.metadata)
    }

    /// Does the serialised object (its apiVersion and kind too) contain this text? A cheap
    /// pre-filter before parsing it.
    pub fn mentions(&self, needle: &str) -> bool {
        let type_meta = [&self.api_version, &self.kind];
        memchr::memmem::find(&self.json, needle.as_bytes()).is_some()
            || type_meta.into_iter().flatten().any(|s| s.contains(needle))
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// (namespace, name): where the object sorts in its type's index.
    pub fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// Something with an index key: a stored object, or a (namespace, name) looked up.
pub trait Keyed {
    fn key(&self) -> (&str, &str);
}

impl Keyed for (&str, &str) {
    fn key(&self) -> (&str, &str) {
        *self
    }
}

impl PartialEq for dyn Keyed + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for dyn Keyed + '_ {}
impl PartialOrd for dyn Keyed + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn Keyed + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// An index entry: a stored object, ordered by its own (namespace, name).
#[derive(Debug, Clone)]
pub struct Entry(pub Arc<Stored>);

impl Keyed for Entry {
    fn key(&self) -> (&str, &str) {
        self.0.key()
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl<'a> std::borrow::Borrow<dyn Keyed + 'a> for Entry {
    fn borrow(&self) -> &(dyn Keyed + 'a) {
        self
    }
}

/// One type's objects in key order, (namespace, name), as etcd's range reads its keys: a page
/// seeks to where the previous one ended and reads only its own items. Each object is held once
/// and its key read from it, so the index costs a pointer per object.
#[derive(Debug, Default)]
pub struct Objects {
    entries: std::collections::BTreeSet<Entry>,
    /// How many objects each namespace holds, so a LIST can say how many remain without
    /// counting them.
    per_namespace: HashMap<Arc<str>, usize>,
}

impl Objects {
    pub fn get(&self, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        self.entries.get(&(ns, name) as &dyn Keyed).map(|e| &e.0)
    }

    /// Insert or replace the object at its key; the one it replaced.
    pub fn insert(&mut self, stored: Arc<Stored>) -> Option<Arc<Stored>> {
        let ns = stored.namespace.clone();
        let old = self.entries.replace(Entry(stored)).map(|e| e.0);
        if old.is_none() {
            *self.per_namespace.entry(ns).or_default() += 1;
        }
        old
    }

    pub fn remove(&mut self, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let old = self.entries.take(&(ns, name) as &dyn Keyed).map(|e| e.0);
        if old.is_some()
            && let Some(n) = self.per_namespace.get_mut(ns)
        {
            *n -= 1;
            if *n == 0 {
                self.per_namespace.remove(ns);
            }
        }
        old
    }

    /// How many objects there are, in one namespace or in all.
    pub fn count(&self, ns: Option<&str>) -> usize {
        match ns {
            Some(ns) => self.per_namespace.get(ns).copied().unwrap_or(0),
            None => self.entries.len(),
        }
    }

    /// The objects from a key on (`after`: excluding it), in key order.
    pub fn from(
        &self,
        start: (&str, &str),
        after: bool,
    ) -> impl Iterator<Item = &Arc<Stored>> + '_ {
        let start = &start as &dyn Keyed;
        let lower = if after {
            Bound::Excluded(start)
        } else {
            Bound::Included(start)
        };
        self.entries
            .range::<dyn Keyed, _>((lower, Bound::Unbounded))
            .map(|e| &e.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Stored>> + '_ {
        self.entries.iter().map(|e| &e.0)
    }

    /// Replace objects in place, keys unchanged (`edit` answers `None` to keep one as it is).
    fn replace_all(&mut self, mut edit: impl FnMut(&Arc<Stored>) -> Option<Arc<Stored>>) {
        let entries = std::mem::take(&mut self.entries);
        self.entries = entries
            .into_iter()
            .map(|e| Entry(edit(&e.0).unwrap_or(e.0)))
            .collect();
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
    pub objects: HashMap<String, Objects>,
    /// apiVersions, kinds and namespaces of stored objects.
    pub interned: Interned,
    /// Where stored objects' JSON is written.
    pub packer: Packer,
    pub history: VecDeque<Arc<Change>>,
    /// The newest resourceVersion whose change was dropped from history (0 = nothing dropped).
    pub compacted: u64,
    pub changes: broadcast::Sender<Arc<Change>>,
    pub public: broadcast::Sender<WatchEvent>,
    pub authn: Authenticator,
}

/// Where paged LISTs stand: for the last item of a page served (type, namespace scope,
/// resourceVersion, its key), how many items the LIST had served up to it, so that the next
/// page can say how many remain without counting them (issue 16). A few thousand are kept.
#[derive(Default)]
struct ListPositions {
    at: HashMap<(String, Option<String>, u64, String, String), usize>,
    order: VecDeque<(String, Option<String>, u64, String, String)>,
}

const LIST_POSITIONS: usize = 4096;

struct Inner {
    /// See [`ListPositions`].
    list_positions: std::sync::Mutex<ListPositions>,
    state: RwLock<State>,
    logs: crate::logs::PodLogs,
    /// Whether every authenticated user may create TokenReviews (kube-sim's default, see
    /// `auth`), or only those bound to `system:auth-delegator`, as on a real cluster.
    strict_token_review: std::sync::atomic::AtomicBool,
}

/// An in-process write (see [`Store::submit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Apply,
    Replace,
    ReplaceStatus,
}

/// What an in-process write stored, and whether it was asked for as an events.k8s.io/v1 Event.
struct Written {
    outcome: crate::write::Outcome,
    alias: bool,
}

impl Written {
    fn into_value(self) -> Value {
        let v = self.outcome.value();
        if self.alias { event_to_new(&v) } else { v }
    }
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
            interned: Interned::default(),
            packer: Packer::default(),
            history: VecDeque::new(),
            compacted: 0,
            changes,
            public,
            authn: Authenticator::new(admin_token),
        };
        Self {
            inner: Arc::new(Inner {
                list_positions: Default::default(),
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

    /// How many items a paged LIST of `gr` (in `ns` or all) at `rv` had served up to and
    /// including the object (`item_ns`, `item_name`), if a page that ended there was served.
    pub(crate) fn list_position(
        &self,
        gr: &str,
        ns: Option<&str>,
        rv: u64,
        item_ns: &str,
        item_name: &str,
    ) -> Option<usize> {
        let key = (
            gr.to_string(),
            ns.map(str::to_string),
            rv,
            item_ns.to_string(),
            item_name.to_string(),
        );
        let positions = self.inner.list_positions.lock().ok()?;
        positions.at.get(&key).copied()
    }

    /// Remember where a page of a paged LIST ended (see [`Store::list_position`]).
    pub(crate) fn remember_list_position(
        &self,
        gr: &str,
        ns: Option<&str>,
        rv: u64,
        item_ns: &str,
        item_name: &str,
        served: usize,
    ) {
        let key = (
            gr.to_string(),
            ns.map(str::to_string),
            rv,
            item_ns.to_string(),
            item_name.to_string(),
        );
        let Ok(mut positions) = self.inner.list_positions.lock() else {
            return;
        };
        if positions.at.insert(key.clone(), served).is_none() {
            positions.order.push_back(key);
        }
        while positions.order.len() > LIST_POSITIONS {
            if let Some(old) = positions.order.pop_front() {
                positions.at.remove(&old);
            }
        }
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
        self.write_op(Write::Create, obj).map(Written::into_value)
    }

    /// Create, or replace spec/metadata of the existing object keeping its status (a given status is written too).
    pub fn apply(&self, obj: Value) -> Result<Value, StoreError> {
        self.write_op(Write::Apply, obj).map(Written::into_value)
    }

    /// [`Store::create`], [`Store::apply`], [`Store::replace`] or [`Store::replace_status`]
    /// without handing the object back, so that no copy of it is made: for the writers that do
    /// not read the answer (scenario loading, the simulated controllers; issue 16).
    pub fn submit(&self, how: Write, obj: Value) -> Result<(), StoreError> {
        self.write_op(how, obj).map(drop)
    }

    /// [`Store::submit`] for many objects under one lock (scenario loading: 300,000 objects
    /// written one lock at a time would hand the lock back and forth with the simulated
    /// controllers that react to them). Stops at the first failure: its index and error.
    pub fn submit_all(
        &self,
        how: Write,
        objects: impl IntoIterator<Item = Value>,
    ) -> Result<(), (usize, StoreError)> {
        let mut st = self.write();
        for (i, obj) in objects.into_iter().enumerate() {
            let obj = as_core_event(&obj).unwrap_or(obj);
            st.write_one(how, obj, None).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    fn write_op(&self, how: Write, obj: Value) -> Result<Written, StoreError> {
        if let Some(core) = as_core_event(&obj) {
            return self
                .write_op(how, core)
                .map(|w| Written { alias: true, ..w });
        }
        // An update reads the stored object: parse it before taking the lock, so that the
        // simulated controllers' writes (every pod's status, every ExternalSecret's) hold it
        // for less time (issue 16).
        let parsed = match how {
            Write::Replace | Write::ReplaceStatus => {
                let (av, kind, ns, name) = Self::identify(&obj)?;
                let stored = {
                    let st = self.read();
                    st.registry.by_kind(&av, &kind).and_then(|rt| {
                        let ns = Self::namespace_for(&rt, &ns);
                        st.get(&rt.gr(), &ns, &name).cloned()
                    })
                };
                stored.map(|s| {
                    let value = s.value();
                    (s, value)
                })
            }
            Write::Create | Write::Apply => None,
        };
        let outcome = self.write().write_one(how, obj, parsed)?;
        Ok(Written {
            outcome,
            alias: false,
        })
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
        let stored = {
            let st = self.read();
            let rt = st.registry.by_kind(api_version, kind)?;
            let ns = Self::namespace_for(&rt, namespace.unwrap_or(""));
            st.get(&rt.gr(), &ns, name)?.clone()
        };
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

    /// How many objects are stored, of every type, and the size of their JSON (without
    /// apiVersion and kind, which are kept apart): what memory per object is measured against.
    pub fn footprint(&self) -> (usize, usize) {
        let st = self.read();
        st.objects
            .values()
            .flat_map(Objects::iter)
            .fold((0, 0), |(n, bytes), s| (n + 1, bytes + s.json_len()))
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
        self.read()
            .objects
            .get(&rt.gr())
            .map_or(0, |objects| objects.count(namespace))
    }

    /// PUT: status ignored (for kinds with a status subresource); 409 Conflict on a stale resourceVersion.
    pub fn replace(&self, obj: Value) -> Result<Value, StoreError> {
        self.write_op(Write::Replace, obj).map(Written::into_value)
    }

    /// PUT /status: only the status is taken.
    pub fn replace_status(&self, obj: Value) -> Result<Value, StoreError> {
        self.write_op(Write::ReplaceStatus, obj)
            .map(Written::into_value)
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

    /// How many changes the slowest in-process subscriber (see [`Store::subscribe`]) has yet
    /// to receive. Each is held in memory until then, and past the channel's capacity the
    /// subscriber lags and must re-read everything.
    pub fn backlog(&self) -> usize {
        self.read().public.len()
    }

    /// Wait until in-process subscribers have received all but `max` changes, as long as they make
    /// progress: a bulk writer (scenario loading, a controller's first pass over 100,000 objects)
    /// calls it so the controllers that react to its writes keep up instead of lagging and
    /// re-reading the whole cluster, and unreceived changes do not pile up in memory (issue 16).
    /// A subscriber that stops receiving only delays this by [`STALL`].
    pub async fn keep_up(&self, max: usize) {
        const STALL: std::time::Duration = std::time::Duration::from_millis(250);
        let mut last = usize::MAX;
        let mut since = tokio::time::Instant::now();
        loop {
            let backlog = self.backlog();
            if backlog <= max {
                return;
            }
            if backlog < last {
                last = backlog;
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= STALL {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
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
        let st = &mut *st;
        let mut changed = 0;
        for map in st.objects.values_mut() {
            map.replace_all(|stored| {
                let mut v = stored.value();
                if !edit(&mut v) {
                    return None;
                }
                let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
                if (s("/metadata/namespace"), s("/metadata/name")) != stored.key() {
                    return None;
                }
                changed += 1;
                let next = Stored::new(
                    &mut v,
                    stored.rv,
                    stored.key(),
                    &mut st.interned,
                    &mut st.packer,
                );
                Some(Arc::new(next))
            });
        }
        st.history.clear();
        st.compacted = st.rv;
        changed
    }

    /// Packs every stored object's JSON again, type by type, into fresh chunks, forgets the change
    /// history (watches and pages from before answer 410, as after etcd's compaction) and gives
    /// the freed memory back to the system. For a sandbox whose start has settled, before any
    /// client has connected: the objects its controllers rewrote while it started are spread
    /// over chunks that each keep a few of them alive. No resourceVersion moves, no watcher hears
    /// of it, every object reads as before. Returns what it packed.
    pub fn repack(&self) -> Packed {
        let mut packed = Packed::default();
        {
            let mut st = self.write();
            let st = &mut *st;
            let mut packer = Packer::default();
            for map in st.objects.values_mut() {
                map.replace_all(|stored| {
                    packed.objects += 1;
                    packed.bytes += stored.json_len();
                    Some(Arc::new(stored.repacked(&mut packer)))
                });
            }
            st.packer = packer;
            st.history.clear();
            st.compacted = st.rv;
        }
        crate::trim::now();
        packed
    }

    /// Register a CRD's type directly from its object (used at start for the ESO bundle).
    pub(crate) fn load_crd(&self, crd: Value) -> Result<(), StoreError> {
        self.create(crd).map(|_| ())
    }
}

impl State {
    /// An in-process write (see [`Store::submit`]), with the store locked; `parsed`: the stored
    /// object as the writer read it before (see [`State::update_parsed`]).
    fn write_one(
        &mut self,
        how: Write,
        obj: Value,
        parsed: Option<(Arc<Stored>, Value)>,
    ) -> Result<crate::write::Outcome, StoreError> {
        let (av, kind, ns, name) = Store::identify(&obj)?;
        let (_, version) = split_api_version(&av);
        let rt = self
            .registry
            .by_kind(&av, &kind)
            .ok_or_else(|| StoreError::from(ApiStatus::not_found_kind(&av, &kind)))?;
        let ns = Store::namespace_for(&rt, &ns);
        let ctx = crate::write::Ctx::in_process();
        let outcome = match how {
            Write::Create => self.create(&rt, version, &ns, obj, &ctx)?,
            Write::Apply if self.get(&rt.gr(), &ns, &name).is_none() => {
                self.create(&rt, version, &ns, obj, &ctx)?
            }
            Write::Apply => {
                let status = obj.get("status").cloned();
                let mut obj = obj;
                if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                match (status, rt.has_status()) {
                    (Some(status), true) => {
                        self.update(&rt, version, &ns, &name, obj.clone(), false, &ctx)?;
                        obj["status"] = status;
                        self.update(&rt, version, &ns, &name, obj, true, &ctx)?
                    }
                    _ => self.update(&rt, version, &ns, &name, obj, false, &ctx)?,
                }
            }
            Write::Replace | Write::ReplaceStatus => {
                let status_only = how == Write::ReplaceStatus;
                self.update_parsed(&rt, version, &ns, &name, obj, status_only, &ctx, parsed)?
            }
        };
        Ok(outcome)
    }

    pub fn get(&self, gr: &str, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        self.objects.get(gr)?.get(ns, name)
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
                map.from((ns, ""), false)
                    .take_while(move |s| s.namespace() == ns),
            ),
            None => Box::new(map.iter()),
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
        let stored = Arc::new(Stored::new(
            &mut value,
            rv,
            (ns, name),
            &mut self.interned,
            &mut self.packer,
        ));
        let value = Arc::new(value);
        let map = match self.objects.get_mut(gr) {
            Some(map) => map,
            None => self.objects.entry(gr.to_string()).or_default(),
        };
        let prev = if kind == EventKind::Deleted {
            map.remove(ns, name)
        } else {
            map.insert(stored.clone())
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
        let s = Stored::new(
            &mut original,
            5,
            ("n", "a"),
            &mut Interned::default(),
            &mut Packer::default(),
        );
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
        assert!(s.mentions("Opaque") && s.mentions("Secret") && s.mentions("v1"));
        assert!(!s.mentions("ConfigMap") && !s.mentions("\"b\""));
        assert_eq!(s.metadata(), Some(json!({"name": "a", "namespace": "n"})));
        let mut bare = json!({"kind": "Thing"});
        let bare = Stored::new(
            &mut bare,
            1,
            ("", "x"),
            &mut Interned::default(),
            &mut Packer::default(),
        );
        assert_eq!(bare.metadata(), None);
        assert_eq!(bare.value(), json!({"kind": "Thing"}));
    }

    fn config_map(name: &str, data: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "n"}, "data": {"k": data}})
    }

    #[test]
    fn submitted_writes_are_the_writes_they_stand_for() {
        let store = Store::new("admin".into());
        let batch = vec![
            config_map("a", "1"),
            config_map("b", "1"),
            config_map("a", "2"),
        ];
        // Create: the third is a duplicate; the first two are written, the failure names its index.
        let (i, e) = store
            .submit_all(Write::Create, batch.clone())
            .expect_err("a duplicate create fails");
        assert_eq!((i, e.code()), (2, 409));
        assert_eq!(store.count("v1", "ConfigMap", Some("n")), 2);
        // Apply: creates or updates, in order.
        store.submit_all(Write::Apply, batch).expect("apply");
        let a = store.get("v1", "ConfigMap", Some("n"), "a").expect("a");
        assert_eq!(a["data"]["k"], "2");
        // Replace with a stale resourceVersion is a conflict, with the current one an update.
        let mut stale = a.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        stale["data"]["k"] = json!("3");
        let e = store.submit(Write::Replace, stale).expect_err("stale");
        assert!(e.is_conflict());
        let mut fresh = a.clone();
        fresh["data"]["k"] = json!("3");
        store.submit(Write::Replace, fresh).expect("replace");
        let now = store.get("v1", "ConfigMap", Some("n"), "a").expect("a");
        assert_eq!(now["data"]["k"], "3");
        assert_ne!(
            now["metadata"]["resourceVersion"],
            a["metadata"]["resourceVersion"]
        );
        // The same content again changes nothing, not even the resourceVersion.
        store.submit(Write::Replace, now.clone()).expect("no-op");
        assert_eq!(store.get("v1", "ConfigMap", Some("n"), "a"), Some(now));
    }

    #[test]
    fn packed_objects_sit_side_by_side_until_a_chunk_is_full() {
        let mut packer = Packer::default();
        let a = packer.pack(b"{\"a\":1}");
        let b = packer.pack(b"{\"b\":22}");
        assert_eq!((&a[..], &b[..]), (&b"{\"a\":1}"[..], &b"{\"b\":22}"[..]));
        let after = |x: &Bytes| x.as_ptr().wrapping_add(x.len());
        assert_eq!(
            b.as_ptr(),
            after(&a),
            "the second follows the first in one chunk"
        );
        // Filling the chunk's room: the next object starts a chunk of its own.
        let fill = vec![b'x'; Packer::CHUNK / 4];
        let mut last = b.clone();
        let mut moved = false;
        for _ in 0..5 {
            let next = packer.pack(&fill);
            moved |= next.as_ptr() != after(&last);
            assert_eq!(&next[..], &fill[..]);
            last = next;
        }
        assert!(moved, "five quarter-chunks do not fit in one chunk");
        // Bigger than a quarter of a chunk: an allocation of its own, the chunk's room kept.
        let big = packer.pack(&vec![b'y'; Packer::CHUNK / 4 + 1]);
        assert_eq!(big.len(), Packer::CHUNK / 4 + 1);
        let small = packer.pack(b"{}");
        assert_eq!(
            small.as_ptr(),
            after(&last),
            "the big one did not use the chunk"
        );
    }

    #[test]
    fn repacking_keeps_every_object_and_version_and_forgets_the_history() {
        let store = Store::new("admin".into());
        let secret = |name: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "n"}, "type": "Opaque"});
        // Interleaved types, and rewrites: what a scenario's start leaves behind.
        for i in 0..50 {
            store
                .submit_all(
                    Write::Apply,
                    [config_map(&format!("c{i}"), "1"), secret(&format!("s{i}"))],
                )
                .expect("create");
        }
        for i in (0..50).step_by(3) {
            store
                .submit(Write::Apply, config_map(&format!("c{i}"), "2"))
                .expect("update");
        }
        let before: Vec<Value> = ["ConfigMap", "Secret"]
            .iter()
            .flat_map(|k| store.list("v1", k, None))
            .collect();
        let rv = store.resource_version();
        assert!(!store.read().history.is_empty());

        let packed = store.repack();

        let after: Vec<Value> = ["ConfigMap", "Secret"]
            .iter()
            .flat_map(|k| store.list("v1", k, None))
            .collect();
        assert_eq!(
            after, before,
            "every object reads as before, resourceVersions included"
        );
        assert_eq!(store.resource_version(), rv);
        let st = store.read();
        assert!(st.history.is_empty());
        assert_eq!(st.compacted, rv, "watches from before answer 410");
        // Each type's objects now sit one after the other.
        for gr in ["/configmaps", "/secrets"] {
            let objects: Vec<&Arc<Stored>> = st.objects[gr].entries.iter().map(|e| &e.0).collect();
            assert_eq!(objects.len(), 50);
            for pair in objects.windows(2) {
                let end = pair[0].json.as_ptr().wrapping_add(pair[0].json.len());
                assert_eq!(
                    pair[1].json.as_ptr(),
                    end,
                    "{gr}: {} then {}",
                    pair[0].name,
                    pair[1].name
                );
            }
        }
        // Every object of the store (its namespaces too), each of its bytes.
        let all: Vec<&Arc<Stored>> = st
            .objects
            .values()
            .flat_map(|m| m.entries.iter().map(|e| &e.0))
            .collect();
        assert!(all.len() > 100, "{}", all.len());
        let bytes = all.iter().map(|s| s.json_len()).sum();
        assert_eq!(
            packed,
            Packed {
                objects: all.len(),
                bytes
            }
        );
    }

    #[tokio::test]
    async fn keep_up_waits_for_subscribers_only_while_they_progress() {
        let store = Store::new("admin".into());
        // Nobody subscribed: nothing to wait for.
        store
            .submit_all(
                Write::Create,
                (0..10).map(|i| config_map(&format!("c{i}"), "x")),
            )
            .expect("create");
        assert_eq!(store.backlog(), 0);
        let mut rx = store.subscribe();
        store
            .submit_all(
                Write::Create,
                (0..10).map(|i| config_map(&format!("d{i}"), "x")),
            )
            .expect("create");
        assert_eq!(store.backlog(), 10);
        // Within the limit: no wait. Over it, with a subscriber that never reads: a short stall.
        let started = tokio::time::Instant::now();
        store.keep_up(10).await;
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        store.keep_up(5).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        // A subscriber that reads: keep_up returns once it is within the limit.
        let reader = tokio::spawn(async move {
            for _ in 0..10 {
                rx.recv().await.expect("event");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        store.keep_up(2).await;
        assert!(store.backlog() <= 2);
        reader.await.expect("reader");
    }

    fn stored(ns: &str, name: &str, rv: u64, interned: &mut Interned) -> Arc<Stored> {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}});
        Arc::new(Stored::new(
            &mut v,
            rv,
            (ns, name),
            interned,
            &mut Packer::default(),
        ))
    }

    #[test]
    fn objects_are_one_ordered_index_with_counts_per_namespace() {
        let mut interned = Interned::default();
        let mut objects = Objects::default();
        for (ns, name) in [("b", "x"), ("a", "z"), ("a", "y"), ("c", "a"), ("b", "a")] {
            assert!(objects.insert(stored(ns, name, 1, &mut interned)).is_none());
        }
        let keys = |it: &mut dyn Iterator<Item = &Arc<Stored>>| -> Vec<String> {
            it.map(|s| format!("{}/{}", s.namespace(), s.name()))
                .collect()
        };
        assert_eq!(
            keys(&mut objects.iter()),
            ["a/y", "a/z", "b/a", "b/x", "c/a"]
        );
        assert_eq!(
            keys(&mut objects.from(("a", "z"), true)),
            ["b/a", "b/x", "c/a"]
        );
        assert_eq!(
            keys(&mut objects.from(("a", "z"), false)),
            ["a/z", "b/a", "b/x", "c/a"]
        );
        assert_eq!(
            keys(&mut objects.from(("b", ""), false)),
            ["b/a", "b/x", "c/a"]
        );
        assert_eq!((objects.count(None), objects.count(Some("a"))), (5, 2));
        // Replacing keeps the count and hands back the old object.
        let old = objects.insert(stored("a", "y", 2, &mut interned));
        assert_eq!(old.map(|o| o.rv), Some(1));
        assert_eq!(objects.get("a", "y").map(|o| o.rv), Some(2));
        assert_eq!((objects.count(None), objects.count(Some("a"))), (5, 2));
        // Removing: a near miss removes nothing.
        assert!(objects.remove("a", "q").is_none() && objects.remove("q", "y").is_none());
        assert_eq!(objects.count(None), 5);
        assert_eq!(objects.remove("c", "a").map(|o| o.rv), Some(1));
        assert_eq!((objects.count(None), objects.count(Some("c"))), (4, 0));
        assert!(objects.get("c", "a").is_none());
        // Shared strings are allocated once.
        let (a, b) = (
            stored("n", "1", 1, &mut interned),
            stored("n", "2", 1, &mut interned),
        );
        assert!(Arc::ptr_eq(&a.namespace, &b.namespace));
        assert!(Arc::ptr_eq(
            a.kind.as_ref().expect("kind"),
            b.kind.as_ref().expect("kind")
        ));
    }
}
