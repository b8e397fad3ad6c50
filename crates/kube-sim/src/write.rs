//! The write path shared by HTTP requests and in-process callers: create, update (main resource or
//! `/status`), delete. It is where the apiserver's bookkeeping rules live — uid, creationTimestamp,
//! resourceVersion, generation on spec changes only, status-subresource rules, optimistic concurrency,
//! CRD pruning/defaulting/validation, managedFields, and CRDs becoming served types.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::{self, ResourceType};
use crate::schema;
use crate::status::{ApiStatus, Cause};
use crate::store::{EventKind, State, Stored};

/// Who is writing and how; decides the HTTP-only rules and the managedFields entry.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `None` for in-process writes: they keep whatever managedFields the caller put in the object.
    pub manager: Option<String>,
    /// `Update` or `Apply`.
    pub operation: &'static str,
    /// HTTP semantics: status dropped on create, namespace must exist.
    pub http: bool,
    /// What the client sent (a patch body or the whole object), for the managedFields entry.
    pub fields: Option<Value>,
    /// `fieldValidation=Strict`: unknown fields are a 400 instead of a warning.
    pub strict: bool,
}

impl Ctx {
    pub fn in_process() -> Self {
        Self {
            manager: None,
            operation: "Update",
            http: false,
            fields: None,
            strict: false,
        }
    }

    pub fn http(manager: String) -> Self {
        Self {
            manager: Some(manager),
            operation: "Update",
            http: true,
            fields: None,
            strict: false,
        }
    }
}

/// The result of a write: the stored object (and as a value, for in-process callers) and any
/// `warning: 299` texts.
pub struct Outcome {
    pub stored: Arc<Stored>,
    pub object: Arc<Value>,
    pub warnings: Vec<String>,
}

impl Outcome {
    /// The object as written.
    pub fn value(self) -> Value {
        Arc::unwrap_or_clone(self.object)
    }
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

const CRD_GR: &str = "apiextensions.k8s.io/customresourcedefinitions";

fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiStatus> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiStatus::bad_request("the body of the request must be a JSON object"))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiStatus::bad_request("metadata must be an object"))
}

fn str_of<'a>(meta: &'a Map<String, Value>, key: &str) -> &'a str {
    meta.get(key).and_then(Value::as_str).unwrap_or("")
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Prune, default and validate a custom resource against the served version's schema.
fn apply_schema(
    rt: &ResourceType,
    version: &str,
    obj: &mut Value,
    name: &str,
    strict: bool,
) -> Result<Vec<String>, ApiStatus> {
    let Some(schema) = rt.version(version).and_then(|v| v.schema.clone()) else {
        return Ok(vec![]);
    };
    let mut unknown = vec![];
    schema::prune(&schema, obj, "", &mut unknown);
    schema::apply_defaults(&schema, obj);
    let mut causes: Vec<Cause> = vec![];
    schema::validate(&schema, obj, "", &mut causes);
    if !causes.is_empty() {
        return Err(ApiStatus::invalid(&rt.kind, &rt.group, name, causes));
    }
    if strict && !unknown.is_empty() {
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiStatus::bad_request(format!(
            "strict decoding error: {}",
            fields.join(", ")
        )));
    }
    Ok(unknown
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect())
}

/// A managedFields `fieldsV1` set for what the client sent; plausible rather than exact.
fn fields_v1(value: &Value, top: bool, in_metadata: bool) -> Value {
    let Some(map) = value.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    if !top {
        out.insert(".".into(), json!({}));
    }
    for (k, v) in map {
        if top && matches!(k.as_str(), "apiVersion" | "kind") {
            continue;
        }
        if in_metadata
            && matches!(
                k.as_str(),
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "creationTimestamp"
                    | "generation"
                    | "managedFields"
            )
        {
            continue;
        }
        let child = if v.is_object() {
            fields_v1(v, false, top && k == "metadata")
        } else {
            json!({})
        };
        out.insert(format!("f:{k}"), child);
    }
    if top
        && out
            .get("f:metadata")
            .is_some_and(|m| m.as_object().is_some_and(|m| m.len() <= 1))
    {
        out.remove("f:metadata");
    }
    Value::Object(out)
}

fn record_manager(obj: &mut Value, ctx: &Ctx, subresource: Option<&str>) {
    let Some(manager) = &ctx.manager else {
        return;
    };
    let api_version = obj.get("apiVersion").cloned().unwrap_or(Value::Null);
    let source = ctx.fields.clone().unwrap_or_else(|| obj.clone());
    let fields = fields_v1(&source, true, false);
    let Ok(meta) = meta_mut(obj) else {
        return;
    };
    let entries = meta.entry("managedFields").or_insert_with(|| json!([]));
    if !entries.is_array() {
        *entries = json!([]);
    }
    let Some(list) = entries.as_array_mut() else {
        return;
    };
    let same = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager.as_str())
            && e.get("operation").and_then(Value::as_str) == Some(ctx.operation)
            && e.get("subresource").and_then(Value::as_str) == subresource
    };
    let mut entry = json!({
        "apiVersion": api_version, "fieldsType": "FieldsV1", "fieldsV1": fields,
        "manager": manager, "operation": ctx.operation, "time": now_rfc3339(),
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    match list.iter_mut().find(|e| same(e)) {
        Some(existing) => {
            if let Some(mut merged) = existing.get("fieldsV1").cloned() {
                crate::patch::merge_patch(&mut merged, &entry["fieldsV1"]);
                entry["fieldsV1"] = merged;
            }
            *existing = entry;
        }
        None => list.push(entry),
    }
}

/// Do two maps hold the same entries, leaving out the keys `skip` names?
fn same_entries(a: &Map<String, Value>, b: &Map<String, Value>, skip: fn(&str) -> bool) -> bool {
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip(k)).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip(k))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Is everything but metadata and status (what bumps `generation` when it changes) the same?
fn same_spec(a: &Value, b: &Value) -> bool {
    let empty = Map::new();
    same_entries(
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
        |k| matches!(k, "metadata" | "status" | "apiVersion" | "kind"),
    )
}

/// Are two objects the same but for apiVersion, resourceVersion and managedFields (a write that
/// changes nothing else is a no-op)?
fn same_but_bookkeeping(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    same_entries(a, b, |k| matches!(k, "apiVersion" | "metadata"))
        && match (a.get("metadata"), b.get("metadata")) {
            (Some(Value::Object(ma)), Some(Value::Object(mb))) => {
                same_entries(ma, mb, |k| matches!(k, "resourceVersion" | "managedFields"))
            }
            (ma, mb) => ma == mb,
        }
}

/// What the apiserver does to every Secret written: `stringData` is merged into `data` (base64) and
/// dropped, and a missing `type` is `Opaque`. Readers only ever see `data`.
fn normalise_secret(obj: &mut Value) {
    use base64::Engine;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
    map.entry("type").or_insert(json!("Opaque"));
}

/// A served CRD gets the status a real apiextensions controller would give it at once.
fn establish_crd(obj: &mut Value) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = now_rfc3339();
    obj["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            {"lastTransitionTime": now, "message": "no conflicts found", "reason": "NoConflicts", "status": "True", "type": "NamesAccepted"},
            {"lastTransitionTime": now, "message": "the initial names have been accepted", "reason": "InitialNamesAccepted", "status": "True", "type": "Established"}
        ],
        "storedVersions": stored,
    });
}

impl State {
    pub fn create(
        &mut self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        mut obj: Value,
        ctx: &Ctx,
    ) -> Result<Outcome, ApiStatus> {
        if rt.create_only {
            return Err(ApiStatus::method_not_allowed());
        }
        let api_version = rt.api_version(version);
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), json!(api_version));
            map.insert("kind".into(), json!(rt.kind));
        }
        let meta = meta_mut(&mut obj)?;
        if rt.namespaced {
            let given = str_of(meta, "namespace");
            if !given.is_empty() && given != ns {
                return Err(ApiStatus::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        if ctx.http && !str_of(meta, "resourceVersion").is_empty() {
            return Err(ApiStatus::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut name = str_of(meta, "name").to_string();
        if name.is_empty() && !str_of(meta, "generateName").is_empty() {
            name = format!("{}{}", str_of(meta, "generateName"), random_suffix());
            meta.insert("name".into(), json!(name));
        }
        if name.is_empty() {
            let cause = Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            };
            return Err(ApiStatus::invalid(&rt.kind, &rt.group, "", vec![cause]));
        }
        if rt.namespaced && !self.namespace_exists(ns) {
            if ctx.http {
                return Err(ApiStatus::not_found("", "namespaces", ns));
            }
            let ns_rt = self
                .registry
                .get("", "namespaces")
                .ok_or_else(|| ApiStatus::internal_error("no namespaces"))?;
            self.create(&ns_rt, "v1", "", json!({"metadata": {"name": ns}}), ctx)?;
        }
        let gr = rt.gr();
        if self.get(&gr, ns, &name).is_some() {
            return Err(ApiStatus::already_exists(&rt.group, &rt.plural, &name));
        }
        let warnings = if rt.custom {
            apply_schema(rt, version, &mut obj, &name, ctx.strict)?
        } else {
            vec![]
        };
        if ctx.http
            && rt.has_status()
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
            if gr == "/pods" {
                map.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": "BestEffort"}),
                );
            }
        }
        if gr == "/secrets" {
            normalise_secret(&mut obj);
        }
        if gr == "/events"
            && let Some(map) = obj.as_object_mut()
        {
            // Go's core/v1 Event has these without omitempty: real answers always carry them.
            map.entry("eventTime").or_insert(Value::Null);
            map.entry("reportingComponent").or_insert(json!(""));
            map.entry("reportingInstance").or_insert(json!(""));
        }
        if gr == "/namespaces" && obj.get("status").is_none() {
            obj["status"] = json!({"phase": "Active"});
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        let meta = meta_mut(&mut obj)?;
        // In-process callers (scenarios, fixtures) may pin uid and creationTimestamp; HTTP clients may not.
        if ctx.http || str_of(meta, "uid").is_empty() {
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        if ctx.http || str_of(meta, "creationTimestamp").is_empty() {
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        }
        meta.remove("deletionTimestamp");
        if rt.tracks_generation() {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        if gr == "/namespaces" {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        if ctx.manager.is_some() {
            meta.remove("managedFields");
        }
        record_manager(&mut obj, ctx, None);
        if gr == CRD_GR {
            establish_crd(&mut obj);
            let crd_rt = resources::from_crd(&obj).ok_or_else(|| {
                ApiStatus::invalid(
                    &rt.kind,
                    &rt.group,
                    &name,
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value".into(),
                        field: "spec".into(),
                    }],
                )
            })?;
            self.registry.insert(crd_rt);
        }
        let (stored, object) = self.commit(&gr, ns, &name, EventKind::Added, obj);
        Ok(Outcome {
            stored,
            object,
            warnings,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        obj: Value,
        status_only: bool,
        ctx: &Ctx,
    ) -> Result<Outcome, ApiStatus> {
        self.update_parsed(rt, version, ns, name, obj, status_only, ctx, None)
    }

    /// [`State::update`], given the stored object as the writer read and parsed it before it
    /// took the lock (used if it is still the stored one): the parse is not made with the
    /// store locked.
    #[allow(clippy::too_many_arguments)]
    pub fn update_parsed(
        &mut self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        obj: Value,
        status_only: bool,
        ctx: &Ctx,
        parsed: Option<(Arc<Stored>, Value)>,
    ) -> Result<Outcome, ApiStatus> {
        if rt.create_only {
            return Err(ApiStatus::method_not_allowed());
        }
        let gr = rt.gr();
        let old = self
            .get(&gr, ns, name)
            .cloned()
            .ok_or_else(|| ApiStatus::not_found(&rt.group, &rt.plural, name))?;
        let mut obj = obj;
        let meta = meta_mut(&mut obj)?;
        let given_name = str_of(meta, "name");
        if !given_name.is_empty() && given_name != name {
            return Err(ApiStatus::bad_request(format!(
                "the name of the object ({given_name}) does not match the name on the URL ({name})"
            )));
        }
        let given_rv = str_of(meta, "resourceVersion");
        if !given_rv.is_empty() && given_rv != old.rv.to_string() {
            return Err(ApiStatus::conflict(&rt.group, &rt.plural, name));
        }
        let incoming_managed = meta.get("managedFields").filter(|m| !m.is_null()).cloned();
        let old_value = match parsed {
            Some((stored, value)) if Arc::ptr_eq(&stored, &old) => value,
            _ => old.value(),
        };
        let mut new = if status_only {
            let mut n = old_value.clone();
            match obj.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        } else {
            let mut n = obj;
            if let Some(map) = n.as_object_mut() {
                map.insert("kind".into(), json!(rt.kind));
                if rt.has_status() {
                    map.remove("status");
                    if let Some(s) = old_value.get("status") {
                        map.insert("status".into(), s.clone());
                    }
                }
            }
            n
        };
        new["apiVersion"] = json!(rt.api_version(version));
        if gr == "/secrets" {
            normalise_secret(&mut new);
        }
        let warnings = if rt.custom && !status_only {
            apply_schema(rt, version, &mut new, name, ctx.strict)?
        } else {
            vec![]
        };
        let empty = Map::new();
        let old_meta = old_value
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let spec_changed = !same_spec(&old_value, &new);
        let meta = meta_mut(&mut new)?;
        for key in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            match old_meta.get(key) {
                Some(v) => meta.insert(key.into(), v.clone()),
                None => meta.remove(key),
            };
        }
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        }
        match incoming_managed.or_else(|| old_meta.get("managedFields").cloned()) {
            Some(m) => meta.insert("managedFields".into(), m),
            None => meta.remove("managedFields"),
        };
        if rt.tracks_generation() && spec_changed && !status_only {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta.insert("generation".into(), json!(generation + 1));
        }
        if gr == CRD_GR && !status_only {
            establish_crd(&mut new);
        }
        if same_but_bookkeeping(&new, &old_value) {
            return Ok(Outcome {
                stored: old,
                object: Arc::new(old_value),
                warnings,
            });
        }
        record_manager(&mut new, ctx, status_only.then_some("status"));
        if gr == CRD_GR
            && let Some(crd_rt) = resources::from_crd(&new)
        {
            self.registry.insert(crd_rt);
        }
        let (stored, object) = self.commit(&gr, ns, name, EventKind::Modified, new);
        Ok(Outcome {
            stored,
            object,
            warnings,
        })
    }

    /// Delete an object; a Namespace takes its contents with it, a CRD its type and custom resources.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Stored>, ApiStatus> {
        if rt.create_only {
            return Err(ApiStatus::method_not_allowed());
        }
        let gr = rt.gr();
        let old = self
            .get(&gr, ns, name)
            .cloned()
            .ok_or_else(|| ApiStatus::not_found(&rt.group, &rt.plural, name))?;
        if gr == "/namespaces" {
            let namespaced: Vec<String> = self
                .registry
                .all()
                .filter(|t| t.namespaced)
                .map(|t| t.gr())
                .collect();
            for inner_gr in namespaced {
                let victims: Vec<(String, Value)> = self
                    .iter(&inner_gr, Some(name))
                    .map(|s| (s.name().to_string(), s.value()))
                    .collect();
                for (victim, value) in victims {
                    self.commit(&inner_gr, name, &victim, EventKind::Deleted, value);
                }
            }
        }
        let old_value = old.value();
        if gr == CRD_GR
            && let Some(crd_rt) = resources::from_crd(&old_value)
        {
            let victims: Vec<(String, String, Value)> = self
                .iter(&crd_rt.gr(), None)
                .map(|s| (s.namespace().to_string(), s.name().to_string(), s.value()))
                .collect();
            for (vns, vname, value) in victims {
                self.commit(&crd_rt.gr(), &vns, &vname, EventKind::Deleted, value);
            }
            self.registry.remove(&crd_rt.group, &crd_rt.plural);
        }
        Ok(self.commit(&gr, ns, name, EventKind::Deleted, old_value).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_get_string_data_folded_into_data() {
        let mut s = json!({"data": {"a": "YQ=="}, "stringData": {"b": "bee", "a": "x"}});
        normalise_secret(&mut s);
        assert_eq!(
            s,
            json!({"data": {"a": "eA==", "b": "YmVl"}, "type": "Opaque"})
        );
    }

    /// What `same_spec` and `same_but_bookkeeping` replaced (copies of the objects compared).
    fn old_spec_part(v: &Value) -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn old_without_bookkeeping(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        if let Some(map) = v.as_object_mut() {
            map.remove("apiVersion");
        }
        v
    }

    #[test]
    fn comparisons_without_copies_agree_with_the_copies_they_replaced() {
        let base = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "5", "managedFields": [{"manager": "m"}], "labels": {"x": "1"}},
            "data": {"k": "v"}, "status": {"s": 1}});
        let edits: Vec<fn(&mut Value)> = vec![
            |_| {},
            |v| v["apiVersion"] = json!("v2"),
            |v| v["kind"] = json!("Secret"),
            |v| v["metadata"]["resourceVersion"] = json!("6"),
            |v| v["metadata"]["managedFields"] = json!([]),
            |v| v["metadata"]["labels"]["x"] = json!("2"),
            |v| {
                v["metadata"].as_object_mut().map(|m| m.remove("labels"));
            },
            |v| v["metadata"]["generation"] = json!(2),
            |v| v["metadata"] = json!("not an object"),
            |v| {
                v.as_object_mut().map(|m| m.remove("metadata"));
            },
            |v| v["data"]["k"] = json!("w"),
            |v| v["spec"] = json!(null),
            |v| {
                v.as_object_mut().map(|m| m.remove("data"));
            },
            |v| v["status"]["s"] = json!(2),
            |v| *v = json!([1]),
            |v| *v = json!(null),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut other = base.clone();
            edit(&mut other);
            for (a, b) in [(&base, &other), (&other, &base), (&other, &other)] {
                assert_eq!(
                    same_spec(a, b),
                    old_spec_part(a) == old_spec_part(b),
                    "spec, edit {i}"
                );
                assert_eq!(
                    same_but_bookkeeping(a, b),
                    old_without_bookkeeping(a) == old_without_bookkeeping(b),
                    "bookkeeping, edit {i}"
                );
            }
        }
        // The near misses really differ.
        let mut label = base.clone();
        label["metadata"]["labels"]["x"] = json!("2");
        assert!(same_spec(&base, &label) && !same_but_bookkeeping(&base, &label));
        let mut rv = base.clone();
        rv["metadata"]["resourceVersion"] = json!("6");
        assert!(same_but_bookkeeping(&base, &rv));
    }

    #[test]
    fn fields_v1_marks_nested_objects() {
        let f = fields_v1(
            &json!({"apiVersion": "v1", "metadata": {"name": "a", "annotations": {"x": "1"}}, "spec": {"a": {"b": 1}}}),
            true,
            false,
        );
        assert_eq!(
            f,
            json!({"f:metadata": {".": {}, "f:annotations": {".": {}, "f:x": {}}}, "f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}}})
        );
    }
}
