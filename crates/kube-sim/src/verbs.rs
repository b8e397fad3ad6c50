//! The resource verbs behind the router: get, list, watch, create, update, patch, delete,
//! deletecollection, the `status` and `token` subresources, and the "virtual" creates (TokenReview,
//! access reviews) that answer 201 without storing anything.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use hyper::Response;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::auth;
use crate::handler::{Body, Call, json_response, read_body, stream};
use crate::list::{self, Format, Page};
use crate::patch;
use crate::selectors::FieldSelector;
use crate::status::{self, ApiStatus};
use crate::store::{Store, Stored};
use crate::view::View;
use crate::watch::{self, WatchQuery};
use crate::write::{Ctx, Outcome};

pub struct Req {
    pub view: View,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    pub verb: &'static str,
    pub drop_after: Option<usize>,
}

impl Req {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The version objects are written in: the storage type's for the events.k8s.io view.
    fn storage_version(&self) -> String {
        if self.view.is_alias() {
            self.view.storage.storage_version().to_string()
        } else {
            self.view.version.clone()
        }
    }

    fn not_found(&self) -> ApiStatus {
        ApiStatus::not_found(&self.view.rt.group, &self.view.rt.plural, self.name())
    }
}

fn format_of(call: &Call) -> Format {
    list::negotiate(call.header(header::ACCEPT), call.param("includeObject"))
}

pub async fn dispatch(
    store: &Store,
    req: Req,
    call: Call,
    body: Incoming,
) -> Result<Response<Body>, ApiStatus> {
    if call.param("dryRun").is_some() {
        return Err(ApiStatus::bad_request(
            "dryRun is not supported by this simulated apiserver",
        ));
    }
    if req.view.rt.create_only {
        return virtual_create(store, &req, &call, body).await;
    }
    match req.sub.as_deref() {
        None | Some("status") => {}
        Some("token") if req.view.rt.plural == "serviceaccounts" && req.verb == "create" => {
            let authn = store.authenticator();
            let answer = auth::token_request(
                store,
                &authn,
                req.ns(),
                req.name(),
                read_body(body, call.header(header::CONTENT_TYPE)).await?,
            )?;
            return Ok(json_response(
                201,
                serde_json::to_vec(&answer).unwrap_or_default(),
            ));
        }
        Some("log") if req.view.rt.plural == "pods" && req.verb == "get" => {
            return pod_log(store, &req, &call);
        }
        Some(_) => return Err(ApiStatus::path_not_found()),
    }
    if req.sub.is_some() && !req.view.rt.has_status() {
        return Err(ApiStatus::path_not_found());
    }
    if req.view.rt.namespaced
        && req.namespace.is_none()
        && matches!(req.verb, "create" | "deletecollection")
    {
        return Err(ApiStatus::path_not_found());
    }
    match req.verb {
        "get" => get(store, &req, &call),
        "list" => list_objects(store, &req, &call).await,
        "watch" => watch_objects(store, &req, &call),
        "create" => create(
            store,
            &req,
            &call,
            read_body(body, call.header(header::CONTENT_TYPE)).await?,
        ),
        "update" => update(
            store,
            &req,
            &call,
            read_body(body, call.header(header::CONTENT_TYPE)).await?,
        ),
        "patch" => patch_object(store, &req, &call, body).await,
        "delete" => delete(store, &req),
        "deletecollection" => delete_collection(store, &req, &call).await,
        _ => Err(ApiStatus::method_not_allowed()),
    }
}

/// `GET pods/NAME/log`: the container's lines as text, or the apiserver's 400/404.
fn pod_log(store: &Store, req: &Req, call: &Call) -> Result<Response<Body>, ApiStatus> {
    let pod = store
        .get("v1", "Pod", Some(req.ns()), req.name())
        .ok_or_else(|| req.not_found())?;
    let query = crate::logs::LogQuery::parse(|k| call.param(k).map(str::to_string))?;
    let text = crate::logs::render(&store.pod_logs(), &pod, &query, jiff::Timestamp::now())?;
    let mut resp = Response::new(crate::handler::full(text));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

fn object_response(code: u16, req: &Req, call: &Call, out: &Outcome) -> Response<Body> {
    let mut resp = json_response(
        code,
        list::render_one(&req.view, &out.stored, &format_of(call)),
    );
    for w in &out.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", Value::from(w.as_str()))) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn get(store: &Store, req: &Req, call: &Call) -> Result<Response<Body>, ApiStatus> {
    let stored = store
        .read()
        .get(&req.view.storage_gr(), req.ns(), req.name())
        .cloned();
    let stored = stored.ok_or_else(|| req.not_found())?;
    Ok(json_response(
        200,
        list::render_one(&req.view, &stored, &format_of(call)),
    ))
}

async fn list_objects(store: &Store, req: &Req, call: &Call) -> Result<Response<Body>, ApiStatus> {
    let q = list::parse_query(&call.query, &req.view)?;
    let page = list::page(store, &req.view, req.namespace.as_deref(), &q).await?;
    Ok(json_response(
        200,
        list::render(&req.view, &page, &format_of(call)),
    ))
}

fn watch_objects(store: &Store, req: &Req, call: &Call) -> Result<Response<Body>, ApiStatus> {
    let mut q = list::parse_query(&call.query, &req.view)?;
    if let Some(name) = &req.name {
        q.fields = FieldSelector::parse(&format!("metadata.name={name}"), &[])?;
    }
    let timeout = match call.param("timeoutSeconds") {
        // Capped at a day: an absurd value must not overflow the deadline arithmetic.
        Some(t) => Some(Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiStatus::bad_request(format!("invalid timeoutSeconds {t:?}")))?
                .min(86_400),
        )),
        None => None,
    };
    let flag = |k: &str| call.param(k).map(|v| v == "true" || v == "1");
    let wq = WatchQuery {
        list: q,
        allow_bookmarks: flag("allowWatchBookmarks").unwrap_or(false),
        timeout,
        send_initial_events: flag("sendInitialEvents"),
        format: format_of(call),
        drop_after: req.drop_after,
    };
    let rx = watch::start(store.clone(), req.view.clone(), req.namespace.clone(), wq);
    let mut resp = Response::new(stream(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn ctx_for(call: &Call, fields: &Value) -> Ctx {
    let mut ctx = Ctx::http(call.manager());
    ctx.fields = Some(fields.clone());
    ctx.strict = call.param("fieldValidation") == Some("Strict");
    ctx
}

fn create(store: &Store, req: &Req, call: &Call, body: Value) -> Result<Response<Body>, ApiStatus> {
    let obj = req.view.to_storage(body);
    let ctx = ctx_for(call, &obj);
    let out = store.write().create(
        &req.view.storage,
        &req.storage_version(),
        req.ns(),
        obj,
        &ctx,
    )?;
    Ok(object_response(201, req, call, &out))
}

fn update(store: &Store, req: &Req, call: &Call, body: Value) -> Result<Response<Body>, ApiStatus> {
    let obj = req.view.to_storage(body);
    let ctx = ctx_for(call, &obj);
    let status_only = req.sub.as_deref() == Some("status");
    let out = store.write().update(
        &req.view.storage,
        &req.storage_version(),
        req.ns(),
        req.name(),
        obj,
        status_only,
        &ctx,
    )?;
    Ok(object_response(200, req, call, &out))
}

async fn patch_object(
    store: &Store,
    req: &Req,
    call: &Call,
    body: Incoming,
) -> Result<Response<Body>, ApiStatus> {
    let content_type = call
        .header(header::CONTENT_TYPE)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let patch_body = read_body(body, call.header(header::CONTENT_TYPE)).await?;
    let mut ctx = ctx_for(call, &patch_body);
    let status_only = req.sub.as_deref() == Some("status");
    let mut st = store.write();
    let existing: Option<Arc<Stored>> = st
        .get(&req.view.storage_gr(), req.ns(), req.name())
        .cloned();
    if content_type == "application/apply-patch+yaml" {
        if call.param("fieldManager").is_none() {
            return Err(ApiStatus::bad_request(
                "PATCH request must have fieldManager for apply",
            ));
        }
        ctx.operation = "Apply";
        if existing.is_none() && !status_only {
            let mut obj = req.view.to_storage(patch_body);
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("name".into(), json!(req.name()));
            }
            let out = st.create(
                &req.view.storage,
                &req.storage_version(),
                req.ns(),
                obj,
                &ctx,
            )?;
            return Ok(object_response(201, req, call, &out));
        }
    }
    let existing = existing.ok_or_else(|| req.not_found())?;
    let mut obj = req.view.object(&existing);
    match content_type.as_str() {
        "application/merge-patch+json" | "application/apply-patch+yaml" => {
            patch::merge_patch(&mut obj, &patch_body)
        }
        "application/json-patch+json" => patch::json_patch(&mut obj, &patch_body).map_err(|e| {
            ApiStatus::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {e}"),
            )
        })?,
        "application/strategic-merge-patch+json" if !req.view.rt.custom => {
            patch::strategic_merge(&mut obj, &patch_body)
        }
        other => return Err(ApiStatus::unsupported_media_type(other)),
    }
    let obj = req.view.to_storage(obj);
    let out = st.update(
        &req.view.storage,
        &req.storage_version(),
        req.ns(),
        req.name(),
        obj,
        status_only,
        &ctx,
    )?;
    Ok(object_response(200, req, call, &out))
}

fn delete(store: &Store, req: &Req) -> Result<Response<Body>, ApiStatus> {
    let deleted = store
        .write()
        .delete(&req.view.storage, req.ns(), req.name())?;
    let rt = &req.view.rt;
    let body = if rt.custom
        || matches!(
            (rt.group.as_str(), rt.plural.as_str()),
            ("", "pods" | "namespaces")
        ) {
        let mut out = vec![];
        req.view.write_object(&deleted, &mut out, true);
        out
    } else {
        let deleted = deleted.value();
        let uid = deleted
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        serde_json::to_vec(&status::success(&rt.group, &rt.plural, req.name(), uid))
            .unwrap_or_default()
    };
    Ok(json_response(200, body))
}

async fn delete_collection(
    store: &Store,
    req: &Req,
    call: &Call,
) -> Result<Response<Body>, ApiStatus> {
    let mut q = list::parse_query(&call.query, &req.view)?;
    q.limit = None;
    q.cont = None;
    q.rv = None;
    let page = list::page(store, &req.view, req.namespace.as_deref(), &q).await?;
    let mut st = store.write();
    let mut deleted = vec![];
    for s in &page.items {
        if let Ok(d) = st.delete(&req.view.storage, s.namespace(), s.name()) {
            deleted.push(d);
        }
    }
    let page = Page {
        items: deleted,
        rv: st.rv,
        next: None,
        remaining: None,
    };
    drop(st);
    Ok(json_response(
        200,
        list::render(&req.view, &page, &Format::Json),
    ))
}

async fn virtual_create(
    store: &Store,
    req: &Req,
    call: &Call,
    body: Incoming,
) -> Result<Response<Body>, ApiStatus> {
    if req.verb != "create" || req.name.is_some() {
        return Err(ApiStatus::method_not_allowed());
    }
    let body = read_body(body, call.header(header::CONTENT_TYPE)).await?;
    let answer = match (req.view.rt.group.as_str(), req.view.rt.plural.as_str()) {
        ("authentication.k8s.io", "tokenreviews") => {
            auth::token_review(&store.authenticator(), store, body)
        }
        ("authorization.k8s.io", "selfsubjectaccessreviews") => {
            auth::self_subject_access_review(store, &call.user, body)
        }
        ("authorization.k8s.io", "selfsubjectrulesreviews") => {
            auth::self_subject_rules_review(store, &call.user, body)
        }
        ("authorization.k8s.io", "subjectaccessreviews") => {
            auth::subject_access_review(store, body)
        }
        _ => return Err(ApiStatus::method_not_allowed()),
    };
    Ok(json_response(
        201,
        serde_json::to_vec(&answer).unwrap_or_default(),
    ))
}
