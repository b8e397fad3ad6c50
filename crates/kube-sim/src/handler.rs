//! HTTP entry point: parse the Kubernetes URL layout, authenticate and authorize every request, apply
//! injected faults, dispatch to discovery or the resource verbs, and put the apiserver's headers on
//! every answer (content-type, audit-id, cache-control, priority-and-fairness uids).

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use crate::auth::{self, AuthnError, RequestAttributes, UserInfo};
use crate::discovery;
use crate::faults::Fault;
use crate::status::ApiStatus;
use crate::view::View;
use crate::{Faults, Store};

pub type Body = BoxBody<Bytes, Infallible>;

/// Environment variable naming a file to which every request is appended as one JSON line (method,
/// path and query, Accept, status, body bytes, server time): what benchmarks read to know the
/// exact pages a client fetched and what each cost the server (tests/bench/scale.sh, issue 16).
pub const REQUEST_LOG_ENV: &str = "KUBE_SIM_REQUEST_LOG";

/// What every connection shares.
pub struct Shared {
    pub store: Store,
    pub faults: Faults,
    request_log: Option<std::sync::Mutex<std::fs::File>>,
}

impl Shared {
    pub fn new(store: Store, faults: Faults) -> Self {
        let request_log = std::env::var_os(REQUEST_LOG_ENV)
            .filter(|p| !p.is_empty())
            .and_then(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok()
            })
            .map(std::sync::Mutex::new);
        Self {
            store,
            faults,
            request_log,
        }
    }

    fn log_request(&self, line: &serde_json::Value) {
        use std::io::Write;
        if let Some(file) = &self.request_log {
            let mut text = line.to_string();
            text.push('\n');
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = file.write_all(text.as_bytes());
        }
    }
}

/// A streaming body fed by a watch task.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

pub fn stream(rx: mpsc::Receiver<Bytes>) -> Body {
    ChannelBody(rx).boxed()
}

/// A JSON answer with the given status code.
pub fn json_response(code: u16, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn status_response(s: &ApiStatus) -> Response<Body> {
    let mut resp = json_response(s.code, serde_json::to_vec(&s.to_json()).unwrap_or_default());
    if let Some(secs) = s.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn text_response(code: u16, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(text));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

const FLOWSCHEMA_UID: &str = "6f0a2c7e-0c1b-4b6e-9d3a-2b1f5e8c9a10";
const PRIORITY_LEVEL_UID: &str = "0d7e3f5a-8b2c-4e1d-a6f9-3c4b5d6e7f80";

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let logged = shared.request_log.is_some().then(|| {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        (
            (std::time::Instant::now(), since_epoch),
            req.method().to_string(),
            req.uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            accept,
        )
    });
    let mut resp = match route(&shared, req).await {
        Ok(r) => r,
        Err(status) => status_response(&status),
    }
    .map(crate::trim::when_big);
    if let Some(((started, start_us), method, path, accept)) = logged {
        use hyper::body::Body as _;
        shared.log_request(&serde_json::json!({
            "start_us": start_us, "method": method, "path": path, "accept": accept, "status": resp.status().as_u16(),
            "bytes": resp.body().size_hint().exact(),
            "micros": started.elapsed().as_micros() as u64,
        }));
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("audit-id", v);
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, private"),
        );
    }
    h.insert(
        "x-kubernetes-pf-flowschema-uid",
        HeaderValue::from_static(FLOWSCHEMA_UID),
    );
    h.insert(
        "x-kubernetes-pf-prioritylevel-uid",
        HeaderValue::from_static(PRIORITY_LEVEL_UID),
    );
    Ok(resp)
}

/// Everything a verb handler needs about the request.
pub struct Call {
    pub headers: http::HeaderMap,
    pub query: HashMap<String, String>,
    pub user: UserInfo,
}

impl Call {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `?fieldManager=`, else the User-Agent's product name (curl, kubectl), as the apiserver derives it.
    pub fn manager(&self) -> String {
        if let Some(m) = self.param("fieldManager") {
            return m.to_string();
        }
        self.header(header::USER_AGENT)
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }
}

/// Read a request body (JSON; YAML for apply patches; protobuf for the kinds kubectl's typed clients send).
pub async fn read_body(
    body: Incoming,
    content_type: Option<&str>,
) -> Result<serde_json::Value, ApiStatus> {
    let bytes = http_body_util::Limited::new(body, 32 << 20)
        .collect()
        .await
        .map_err(|e| ApiStatus::bad_request(format!("reading the request body: {e}")))?
        .to_bytes();
    let content_type = content_type.unwrap_or("");
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::decode(&bytes)
            .map_err(|_| ApiStatus::unsupported_media_type(content_type));
    }
    // Error texts name a position only: a YAML parser's snippet of the body could echo a Secret's value.
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(v),
        Err(json_err) if content_type.starts_with("application/apply-patch+yaml") => {
            serde_saphyr::from_slice::<serde_json::Value>(&bytes).map_err(|_| {
                ApiStatus::bad_request(format!(
                    "the body of the request could not be decoded as YAML (as JSON: line {}, column {})",
                    json_err.line(),
                    json_err.column()
                ))
            })
        }
        Err(e) => Err(ApiStatus::bad_request(format!(
            "the body of the request could not be decoded as JSON: line {}, column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn accepts_aggregated(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    accept.split(',').find_map(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList") {
            return None;
        }
        if params.contains(&"v=v2") {
            Some("v2")
        } else if params.contains(&"v=v2beta1") {
            Some("v2beta1")
        } else {
            None
        }
    })
}

fn aggregated_response(mut body: serde_json::Value, version: &str) -> Response<Body> {
    body["apiVersion"] = serde_json::json!(format!("apidiscovery.k8s.io/{version}"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let etag = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let etag: String = etag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mut resp = json_response(200, bytes);
    let h = resp.headers_mut();
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
    resp
}

fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>, ApiStatus> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let store = &shared.store;
    let user = match store.authenticator().authenticate_request(
        store,
        &parts.headers,
        parts.extensions.get::<crate::auth::PresentedCertificate>(),
    ) {
        Ok(u) => u,
        Err(AuthnError::Unauthorized(_)) => return Err(ApiStatus::unauthorized()),
        Err(AuthnError::Forbidden(m)) => return Err(ApiStatus::forbidden_message(m)),
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:6443")
        .to_string();

    let resource_call = matches!(
        segs.as_slice(),
        ["api", "v1", _, ..] | ["apis", _, _, _, ..]
    );
    if !resource_call {
        let attrs = RequestAttributes {
            verb: parts.method.as_str().to_ascii_lowercase(),
            name: Some(path.clone()),
            ..RequestAttributes::default()
        };
        if !auth::authorize(store, &user, &attrs).allowed {
            return Err(ApiStatus::forbidden(&user, &attrs));
        }
        if parts.method != http::Method::GET {
            return Err(ApiStatus::method_not_allowed());
        }
        let reg = store.read().registry.clone();
        let json = |v: serde_json::Value| {
            Ok(json_response(
                200,
                serde_json::to_vec(&v).unwrap_or_default(),
            ))
        };
        return match segs.as_slice() {
            [] => json(
                serde_json::json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
            ),
            ["version"] => json(discovery::version()),
            ["healthz" | "livez" | "readyz", ..] => Ok(text_response(200, "ok")),
            ["openapi", "v2"] if accept.is_some_and(|a| a.contains("protobuf")) => {
                let mut resp = Response::new(full(crate::openapi::v2_protobuf()));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    // What kube-openapi sends: Go's mime parser rejects the '@' of the Accept type.
                    HeaderValue::from_static("application/octet-stream"),
                );
                Ok(resp)
            }
            ["openapi", "v2"] => json(crate::openapi::v2_json()),
            ["openapi", "v3"] => json(crate::openapi::root(&reg)),
            ["openapi", "v3", rest @ ..] => crate::openapi::group_version(&reg, &rest.join("/"))
                .map_or_else(|| Ok(text_response(404, "404 page not found\n")), json),
            ["api"] => match accepts_aggregated(accept) {
                Some(v) => Ok(aggregated_response(discovery::aggregated(&reg, true), v)),
                None => json(discovery::api_versions(&host)),
            },
            ["apis"] => match accepts_aggregated(accept) {
                Some(v) => Ok(aggregated_response(discovery::aggregated(&reg, false), v)),
                None => json(discovery::api_group_list(&reg)),
            },
            ["api", "v1"] => discovery::api_resource_list(&reg, "", "v1")
                .map_or_else(|| Err(ApiStatus::path_not_found()), json),
            ["apis", g] => {
                discovery::api_group(&reg, g).map_or_else(|| Err(ApiStatus::path_not_found()), json)
            }
            ["apis", g, v] => discovery::api_resource_list(&reg, g, v)
                .map_or_else(|| Err(ApiStatus::path_not_found()), json),
            _ => Ok(text_response(404, "404 page not found\n")),
        };
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiStatus::path_not_found()),
    };
    let target = parse_target(rest).ok_or_else(ApiStatus::path_not_found)?;
    let view = resolve_view(store, group, version, &target.plural)
        .ok_or_else(ApiStatus::path_not_found)?;
    let namespace = match (view.rt.namespaced, target.namespace) {
        (true, ns) => ns,
        (false, None) => None,
        (false, Some(_)) => return Err(ApiStatus::path_not_found()),
    };
    if view.rt.namespaced && namespace.is_none() && target.name.is_some() {
        return Err(ApiStatus::path_not_found());
    }
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&parts.method, target.name.is_some()) {
        (&http::Method::GET, _) if watch => "watch",
        (&http::Method::GET, true) => "get",
        (&http::Method::GET, false) => "list",
        (&http::Method::POST, _) => "create",
        (&http::Method::PUT, true) => "update",
        (&http::Method::PATCH, true) => "patch",
        (&http::Method::DELETE, true) => "delete",
        (&http::Method::DELETE, false) => "deletecollection",
        _ => return Err(ApiStatus::method_not_allowed()),
    };
    let attrs = RequestAttributes {
        verb: verb.to_string(),
        api_group: group.to_string(),
        resource: target.plural.clone(),
        subresource: target.sub.clone(),
        namespace: namespace.clone(),
        name: target.name.clone(),
    };
    if !auth::authorize(store, &user, &attrs).allowed {
        return Err(ApiStatus::forbidden(&user, &attrs));
    }
    let mut drop_after = None;
    // A subresource's own faults (`pods/log`) come with its resource's.
    let mut faults = shared.faults.for_resource(&target.plural);
    if let Some(sub) = &target.sub {
        faults.extend(
            shared
                .faults
                .for_resource(&format!("{}/{sub}", target.plural)),
        );
    }
    for fault in faults {
        match fault {
            Fault::Latency(d) => tokio::time::sleep(d).await,
            Fault::TooManyRequests { retry_after_secs } => {
                return Err(ApiStatus::too_many_requests(retry_after_secs));
            }
            Fault::InternalError => return Err(ApiStatus::internal_error("injected fault")),
            Fault::DropWatchAfter(n) => drop_after = Some(n),
            Fault::Forbidden => {
                return Err(ApiStatus::forbidden_message(format!(
                    "{} is forbidden: injected fault",
                    target.plural
                )));
            }
        }
    }
    let call = Call {
        headers: parts.headers,
        query,
        user,
    };
    let req = crate::verbs::Req {
        view,
        namespace,
        name: target.name,
        sub: target.sub,
        verb,
        drop_after,
    };
    crate::verbs::dispatch(store, req, call, body).await
}

struct Target {
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// `[namespaces, ns,] plural [, name [, sub]]`; `namespaces/x/status` is the namespace's own subresource.
fn parse_target(rest: &[&str]) -> Option<Target> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, next, ..] if !matches!(*next, "status" | "finalize") => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let t = |plural: &str, name: Option<&str>, sub: Option<&str>| Target {
        plural: plural.to_string(),
        namespace: namespace.clone(),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
    };
    match rest {
        [plural] => Some(t(plural, None, None)),
        [plural, name] => Some(t(plural, Some(name), None)),
        [plural, name, sub] => Some(t(plural, Some(name), Some(sub))),
        _ => None,
    }
}

fn resolve_view(store: &Store, group: &str, version: &str, plural: &str) -> Option<View> {
    let st = store.read();
    let rt = st.registry.get(group, plural)?;
    rt.served_version(version)?;
    let storage = match &rt.storage_alias {
        Some((g, p)) => st.registry.get(g, p)?,
        None => rt.clone(),
    };
    Some(View {
        rt,
        storage,
        version: version.to_string(),
    })
}
